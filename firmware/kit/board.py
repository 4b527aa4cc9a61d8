"""Board profiles: which pins do what on the boards the kit supports.

    import kit.board
    kit.board.profile()["led_pin"]   # this board's LED
    kit.board.info()                 # what the host's Device.info() shows

A profile is a plain dict built only for the board in use, so the others cost
no RAM. Pin numbers come from each board's public documentation (see
docs/boards.md, "Board profiles").

Which board this is, in order:
1. /kit.json {"board": "<name>"} (written by `jazari flash --board`); other
   keys of that file replace single profile fields, e.g. {"led_pin": 4};
2. the virtual board: its supervisor sets JAZARI_PROFILE (esp32, esp32s3,
   esp32s3-psram);
3. the firmware's name, sys.implementation._machine;
4. otherwise the "generic" profile, which has no pins: set /kit.json.

/kit.json also holds the board's identity, written by `jazari flash`:
{"name": "jazari-07", "owner": "Amina", "team": "Falcons"}; info() reports it.
"""

from micropython import const

_MB = const(1048576)
_KB = const(1024)
CONFIG = "/kit.json"
# Keys of /kit.json that say whose the board is, not how it is wired.
IDENTITY = ("name", "owner", "team")
# Keys jazari flash writes to check its own work (jazari/flash/sealing.py): neither identity nor wiring.
FLASH_KEYS = ("flashing", "kit_sha256")


def _defaults():
    # Every profile has every field; a board states what differs from these.
    return {
        "psram": 0,
        "led_pin": None, "led_active_low": False, "led_kind": "gpio",
        "button_pin": None,
        "i2c_sda": None, "i2c_scl": None, "imu_addr": 0x68,
        "camera": None, "mic": None,
    }


def _esp32_devkitc():
    # Espressif's DevKitC has no user LED; GPIO2 lights the blue LED of the
    # common "DevKit V1" clones and is where the kit wires its own LED.
    return {
        "title": "ESP32-DevKitC", "chip": "ESP32",
        "flash": 4 * _MB, "heap": 110 * _KB,
        "led_pin": 2, "button_pin": 0,
        "i2c_sda": 21, "i2c_scl": 22,
        "mic": {"kind": "i2s", "part": "INMP441", "sck": 32, "ws": 25, "sd": 33},
    }


def _esp32s3_devkitc():
    # The N8R8 variant; its RGB LED is a WS2812 on GPIO38 (GPIO48 on v1.0).
    # I2C on GPIO8/9 as in MicroPython's ESP32-S3 defaults; the INMP441 pins
    # are the kit's own wiring choice (free pins next to each other).
    return {
        "title": "ESP32-S3-DevKitC-1 (N8R8)", "chip": "ESP32-S3",
        "flash": 8 * _MB, "psram": 8 * _MB, "heap": 8000 * _KB,
        "led_pin": 38, "led_kind": "ws2812", "button_pin": 0,
        "i2c_sda": 8, "i2c_scl": 9,
        "mic": {"kind": "i2s", "part": "INMP441", "sck": 4, "ws": 5, "sd": 6},
    }


def _esp32_cam():
    # AI-Thinker: the red LED on GPIO33 is active-low (GPIO4 is the bright
    # flash LED). GPIO0 clocks the camera, so there is no user button.
    # The IMU shares GPIO14/15 with the SD card slot, which the kit leaves unused.
    # Camera data lines d7..d0 are Y9..Y2 in esp32-camera's pin maps; -1: not wired.
    return {
        "title": "ESP32-CAM (AI-Thinker)", "chip": "ESP32",
        "flash": 4 * _MB, "psram": 4 * _MB, "heap": 4000 * _KB,
        "led_pin": 33, "led_active_low": True,
        "i2c_sda": 14, "i2c_scl": 15,
        "camera": {
            "sensor": "OV2640", "pwdn": 32, "reset": -1, "xclk": 0,
            "sda": 26, "scl": 27, "d7": 35, "d6": 34, "d5": 39, "d4": 36,
            "d3": 21, "d2": 19, "d1": 18, "d0": 5,
            "vsync": 25, "href": 23, "pclk": 22,
        },
    }


def _xiao_esp32s3_sense():
    return {
        "title": "XIAO ESP32S3 Sense", "chip": "ESP32-S3",
        "flash": 8 * _MB, "psram": 8 * _MB, "heap": 8000 * _KB,
        "led_pin": 21, "led_active_low": True, "button_pin": 0,
        "i2c_sda": 5, "i2c_scl": 6,  # D4, D5
        "camera": {  # the Sense expansion board's OV2640, as in Seeed's pin table
            "sensor": "OV2640", "pwdn": -1, "reset": -1, "xclk": 10,
            "sda": 40, "scl": 39, "d7": 48, "d6": 11, "d5": 12, "d4": 14,
            "d3": 16, "d2": 18, "d1": 17, "d0": 15,
            "vsync": 38, "href": 47, "pclk": 13,
        },
        "mic": {"kind": "pdm", "part": "MSM261D3526H1CPM", "clk": 42, "data": 41},
    }


def _generic():
    # No pins at all: better a clear error than driving a wrong pin.
    return {"title": "unknown board: name it in /kit.json", "chip": "unknown", "flash": 0, "heap": 0}


def _virtual(like, title, chip, psram, heap):
    # The virtual board is wired like a real board of its chip, so lesson code
    # and drivers take the same paths; its flash file uses the 4 MB layout.
    p = like()
    p.update(title=title, chip=chip, flash=4 * _MB, psram=psram, heap=heap)
    return p


def _virtual_esp32():
    return _virtual(_esp32_devkitc, "virtual board (ESP32)", "ESP32", 0, 110 * _KB)


def _virtual_esp32s3():
    return _virtual(_xiao_esp32s3_sense, "virtual board (ESP32-S3)", "ESP32-S3", 0, 260 * _KB)


def _virtual_esp32s3_psram():
    return _virtual(_xiao_esp32s3_sense, "virtual board (ESP32-S3, 8 MB PSRAM)", "ESP32-S3", 8 * _MB, 8 * _MB)


_PROFILES = {
    "esp32-devkitc": _esp32_devkitc,
    "esp32s3-devkitc": _esp32s3_devkitc,
    "esp32-cam": _esp32_cam,
    "xiao-esp32s3-sense": _xiao_esp32s3_sense,
    "virtual-esp32": _virtual_esp32,
    "virtual-esp32s3": _virtual_esp32s3,
    "virtual-esp32s3-psram": _virtual_esp32s3_psram,
    "generic": _generic,
}

# Substrings of sys.implementation._machine, most specific first. Boards that
# share a generic firmware (ESP32-CAM runs the ESP32 SPIRAM build) are told
# apart by /kit.json.
_MACHINES = (
    ("XIAO", "xiao-esp32s3-sense"),
    ("ESP32-CAM", "esp32-cam"),
    ("ESP32S3", "esp32s3-devkitc"),
    ("ESP32 module", "esp32-devkitc"),
)


def names():
    """The profile names /kit.json and JAZARI_PROFILE may use."""
    return sorted(_PROFILES)


def get(name):
    """The profile called `name`, a fresh dict; ValueError if there is none."""
    build = _PROFILES.get(name)
    if build is None:
        raise ValueError("unknown board %r: use one of %s" % (name, ", ".join(names())))
    p = _defaults()
    p.update(build())
    p["name"] = name
    return p


def _read_config(path):
    try:
        f = open(path)
    except OSError:
        return {}
    import json

    with f:
        try:
            config = json.load(f)
        except ValueError:
            raise ValueError("%s is not valid JSON: fix or delete it" % path)
    if not isinstance(config, dict):
        raise ValueError('%s must hold an object like {"board": "esp32-devkitc"}' % path)
    return config


def _env_profile():
    import os

    getenv = getattr(os, "getenv", None)  # absent on the ESP32 port
    flavour = getenv and getenv("JAZARI_PROFILE")
    if not flavour:
        return None
    return flavour if flavour.startswith("virtual-") else "virtual-" + flavour


def _machine_profile(machine):
    for part, name in _MACHINES:
        if part in machine:
            return name
    return "generic"


def detect(machine=None, config=None):
    """Work out which board this is and return its profile (a fresh dict).

    `machine` defaults to sys.implementation._machine; `config` (default
    CONFIG) is the JSON file whose "board" key, if present, wins.
    """
    if machine is None:
        import sys

        machine = sys.implementation._machine
    config = config or CONFIG
    overrides = _read_config(config)
    name = overrides.pop("board", None) or _env_profile() or _machine_profile(machine)
    p = get(name)
    for key in overrides:
        if key in IDENTITY or key in FLASH_KEYS:
            continue
        if key not in p or key == "name":
            raise ValueError("%s: %r is not a board field; fields: %s" % (config, key, ", ".join(sorted(p))))
        p[key] = overrides[key]
    return p


_profile = None


def profile():
    """This board's profile, detected once and then kept."""
    global _profile
    if _profile is None:
        _profile = detect()
    return _profile


def i2c():
    """The I2C bus the profile wires the IMU to (hardware I2C 0, 400 kHz)."""
    import machine

    p = profile()
    if p["i2c_sda"] is None:
        raise ValueError("board %s has no I2C pins: set i2c_sda and i2c_scl in %s" % (p["name"], CONFIG))
    return machine.I2C(0, scl=machine.Pin(p["i2c_scl"]), sda=machine.Pin(p["i2c_sda"]), freq=400000)


def _flash_size(p):
    try:
        import esp

        return esp.flash_size() or p["flash"]
    except (ImportError, AttributeError):
        return p["flash"]


def _micropython_version():
    import sys

    v = sys.implementation.version
    text = "%d.%d.%d" % v[:3]
    return text + "-" + v[3] if len(v) > 3 and v[3] else text


def identity(config=None):
    """name, owner and team from /kit.json (those it has), or {"config_error": why} if it is broken."""
    try:
        c = _read_config(config or CONFIG)
    except ValueError as e:
        return {"config_error": str(e)}
    return {k: str(c[k]) for k in IDENTITY if c.get(k)}


def info():
    """What the host shows about this board: one dict of str and int values."""
    import gc
    import machine
    from binascii import hexlify
    from kit import __version__

    found = identity()
    try:
        p = profile()
    except ValueError as e:  # a broken /kit.json: report it, with the profile it would have had
        found["config_error"] = str(e)
        p = get(_env_profile() or _machine_profile(__import__("sys").implementation._machine))
    gc.collect()
    found.update(
        board=p["name"],
        title=p["title"],
        chip=p["chip"],
        micropython=_micropython_version(),
        kit=__version__,
        unique_id=hexlify(machine.unique_id()).decode(),
        free_heap=gc.mem_free(),
        flash_size=_flash_size(p),
    )
    return found
