"""The board's LED.

    from kit import led
    led.on(); led.off(); led.toggle()
    led.blink(3, 200)      # three blinks, 200 ms on and 200 ms off

The board profile says which pin drives it and whether it lights when that
pin is low (active-low), so lesson code never has to know.
"""

import machine
import time
from micropython import const

_WS2812_LEVEL = const(24)  # an RGB LED at full power is blinding on a desk
_WS2812_TIMING = (400, 850, 800, 450)  # ns high/low for a 0 bit, then a 1 bit (800 kHz)

_pin = None
_active_low = False
_rgb = None  # bytearray(3) for a WS2812 RGB LED, None for a plain LED
_lit = False


def _setup():
    global _pin, _active_low, _rgb
    from kit.board import CONFIG, profile

    p = profile()
    if p["led_pin"] is None:
        raise ValueError("board %s has no LED: set led_pin in %s" % (p["name"], CONFIG))
    _active_low = bool(p["led_active_low"])
    if p["led_kind"] == "ws2812":
        _rgb = bytearray(3)
        _pin = machine.Pin(p["led_pin"], machine.Pin.OUT)
    else:
        # Start dark: a plain Pin.OUT drives low, which lights an active-low LED.
        _pin = machine.Pin(p["led_pin"], machine.Pin.OUT, value=int(_active_low))


def _show(lit):
    global _lit
    if _pin is None:
        _setup()
    _lit = lit
    if _rgb is None:
        _pin.value(int(lit != _active_low))
    else:
        _rgb[0] = _rgb[1] = _rgb[2] = _WS2812_LEVEL if lit else 0
        machine.bitstream(_pin, 0, _WS2812_TIMING, _rgb)


def on():
    _show(True)


def off():
    _show(False)


def toggle():
    _show(not _lit)


def is_on():
    """True while the LED is lit (whatever level that takes on the pin)."""
    return _lit


def blink(times=3, ms=200):
    for _ in range(times):
        _show(True)
        time.sleep_ms(ms)
        _show(False)
        time.sleep_ms(ms)
