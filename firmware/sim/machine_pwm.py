# machine.PWM for the virtual board: keeps frequency and duty, and logs every
# duty change to the event log as "pwm <gpio> <duty_u16> <t_us>".
from micropython import const
import events

_DEFAULT_FREQ = const(5000)
_FULL = const(65535)


class PWM:
    def __init__(self, dest, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        import machine

        self._pin = machine.Pin(dest) if isinstance(dest, int) else dest
        self._freq = _DEFAULT_FREQ
        self._duty = 0
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self.freq(freq)
        if duty is not None:
            self.duty(duty)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        if duty_ns is not None:
            self.duty_ns(duty_ns)

    def __repr__(self):
        return "PWM(%s, freq=%d, duty_u16=%d)" % (self._pin, self._freq, self._duty)

    def deinit(self):
        self.duty_u16(0)

    def freq(self, value=None):
        if value is None:
            return self._freq
        if not 0 < value <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        value = min(max(int(value), 0), _FULL)
        if value != self._duty:
            self._duty = value
            events.emit("pwm", "%d %d" % (self._pin._id, value))

    def duty(self, value=None):
        if value is None:
            return self._duty >> 6
        self.duty_u16(value << 6 if value < 1023 else _FULL)

    def duty_ns(self, value=None):
        period_ns = 1000000000 // self._freq
        if value is None:
            return self._duty * period_ns // _FULL
        self.duty_u16(value * _FULL // period_ns)
