# machine.ADC for the virtual board: 12-bit ESP32 ADC over the pins that have
# one. The level comes from machine._sim_analog(gpio, u16), else mid-scale.
from micropython import const
import machine

_MID_SCALE = const(32768)
_FULL_SCALE_UV = const(3300000)


class ADC:
    ATTN_0DB = const(0)
    ATTN_2_5DB = const(1)
    ATTN_6DB = const(2)
    ATTN_11DB = const(3)
    WIDTH_9BIT = const(9)
    WIDTH_10BIT = const(10)
    WIDTH_11BIT = const(11)
    WIDTH_12BIT = const(12)
    _levels = {}  # gpio -> u16, shared by every ADC on that pin

    def __init__(self, pin, *, atten=None):
        gpio = pin if isinstance(pin, int) else pin._id
        if machine._profile == "esp32":
            allowed = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
        else:
            allowed = tuple(range(1, 21))
        if gpio not in allowed:
            raise ValueError("invalid pin")
        self._gpio = gpio
        self._bits = 12
        self._atten = ADC.ATTN_0DB if atten is None else atten

    def __repr__(self):
        return "ADC(Pin(%d))" % self._gpio

    def init(self, *, atten=None):
        if atten is not None:
            self._atten = atten

    def atten(self, atten):
        self._atten = atten

    def width(self, bits):
        self._bits = bits

    def read_u16(self):
        return ADC._levels.get(self._gpio, _MID_SCALE)

    def read(self):
        return self.read_u16() >> (16 - self._bits)

    def read_uv(self):
        return self.read_u16() * (_FULL_SCALE_UV // 1000) // 65535 * 1000
