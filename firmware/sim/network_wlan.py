# The body of the virtual board's network module (see network.py), which has
# no radio: WLAN objects exist and answer like a board out of range of any
# access point, with MAC addresses derived from the board's unique id as on an
# ESP32 (AP = STA + 1).
import os
from micropython import const

STA_IF = const(0)
AP_IF = const(1)
STAT_IDLE = const(1000)
STAT_CONNECTING = const(1001)
STAT_GOT_IP = const(1010)
STAT_NO_AP_FOUND = const(201)
STAT_WRONG_PASSWORD = const(202)
STAT_BEACON_TIMEOUT = const(200)
STAT_ASSOC_FAIL = const(203)
STAT_HANDSHAKE_TIMEOUT = const(204)
AUTH_OPEN = const(0)
AUTH_WPA2_PSK = const(3)

_NO_WIFI = "virtual board: no Wi-Fi here; use a real board for network lessons"
_hostname = "mpy-esp32"


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


def country(code=None):
    return "01" if code is None else None


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF

    def __init__(self, interface_id=STA_IF):
        self._if = interface_id
        self._active = False
        self._status = STAT_IDLE

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        print(_NO_WIFI)
        self._status = STAT_NO_AP_FOUND

    def disconnect(self):
        self._status = STAT_IDLE

    def isconnected(self):
        return False

    def status(self, param=None):
        return 0 if param == "rssi" else self._status

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        return []

    def ifconfig(self, config=None):
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0") if config is None else None

    def ipconfig(self, name, *args):
        return "0.0.0.0" if name == "addr4" else None

    def config(self, *args, **kwargs):
        if kwargs:
            return None
        if args[0] != "mac":
            return {"ssid": "", "channel": 1, "hostname": _hostname, "txpower": 20}.get(args[0])
        mac = bytearray.fromhex(os.getenv("JAZARI_UID") or "240ac4000001")
        mac[5] = (mac[5] + self._if) & 0xFF
        return bytes(mac)
