# esp32 stand-in for the virtual board: partitions over the flash file, NVS,
# the die temperature and heap info, as ports/esp32 provides them.
import os
import struct
from micropython import const
import flashdev

_TABLE = const(0x8000)
_TABLE_LENGTH = const(0xC00)
_ENTRY = const(32)
_ENOENT = const(2)
# partitions-4MiBplus.csv, used if the flash holds no table (a board would not boot).
_STANDARD = ((1, 2, 0x9000, 0x6000, "nvs"), (1, 1, 0xF000, 0x1000, "phy_init"), (0, 0, 0x10000, 0x1F0000, "factory"))

HEAP_DATA = const(4)
HEAP_EXEC = const(1)
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_parts = None


def _partitions():
    # Read the table once, then add the implicit `vfs` partition the way
    # ports/esp32/main.c does: end of the last partition to the end of flash.
    global _parts
    if _parts is None:
        parts = []
        entry = bytearray(_ENTRY)
        for at in range(_TABLE, _TABLE + _TABLE_LENGTH, _ENTRY):
            flashdev.read(at, entry)
            if entry[0] != 0xAA or entry[1] != 0x50:
                break
            ptype, subtype, offset, size = struct.unpack_from("<BBII", entry, 2)
            label = bytes(entry[12:28]).split(b"\0")[0].decode()
            parts.append((ptype, subtype, offset, size, label))
        parts = parts or list(_STANDARD)
        if not [p for p in parts if p[0] == 1 and p[4] in ("vfs", "ffat")]:
            end = max(p[2] + p[3] for p in parts)
            if flashdev.flash_size() > end:
                parts.append((1, 0x81, end, flashdev.flash_size() - end, "vfs"))
        _parts = tuple(parts)
    return _parts


class Partition(flashdev.FlashArea):
    BOOT = const(0)
    RUNNING = const(1)
    TYPE_APP = const(0)
    TYPE_DATA = const(1)

    def __init__(self, id, block_size=flashdev.SECTOR):
        if isinstance(id, int):
            found = [p for p in _partitions() if p[0] == 0]  # the one app: factory
        else:
            found = [p for p in _partitions() if p[4] == id]
        if not found:
            raise OSError(_ENOENT)
        self._entry = found[0]
        super().__init__(found[0][2], found[0][3], block_size)

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=flashdev.SECTOR):
        return [
            Partition(p[4], block_size)
            for p in _partitions()
            if p[0] == type and subtype in (0xFF, p[1]) and label in (None, p[4])
        ]

    def info(self):
        return self._entry + (False,)

    def __repr__(self):
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % self._entry

    def set_boot(self):
        if self._entry[0] != 0:
            raise OSError(_ENOENT)

    def get_next_update(self):
        raise OSError(_ENOENT)  # the stock table has no OTA slots

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        pass


def _profile():
    return os.getenv("JAZARI_PROFILE") or "esp32"


# Only the chips that have them: raw_temperature on the ESP32, mcu_temperature on the S3.
if _profile() == "esp32":

    def raw_temperature():
        return 128  # Fahrenheit, roughly what an idle ESP32 reports

else:

    def mcu_temperature():
        return 41


def idf_heap_info(capabilities):
    # (total, free, largest free block, minimum free) per region, like an idle board.
    regions = [(113840, 80336, 65536, 79836), (15072, 14936, 14336, 14936)]
    if _profile() == "esp32s3":
        regions = [(286636, 248300, 196608, 247000)]
    elif _profile() == "esp32s3-psram":
        regions = [(286636, 248300, 196608, 247000), (8386279, 8384271, 8257536, 8383935)]
    return regions if capabilities & HEAP_DATA else []


def wake_on_ext0(pin, level):
    pass


def wake_on_ext1(pins, level):
    pass


def wake_on_touch(wake):
    pass


def gpio_deep_sleep_hold(enable):
    pass


def __getattr__(name):
    # NVS is rarely used: its code loads from firmware/sim on first use.
    if name != "NVS":
        raise AttributeError(name)
    from machine import _hostfs as hostfs

    global NVS
    NVS = hostfs.load("esp32_nvs").NVS
    return NVS
