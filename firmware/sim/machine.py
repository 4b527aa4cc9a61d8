# machine for the virtual board: the Unix port's own machine (Signal, PinBase,
# mem8/16/32, time_pulse_us) extended with what an ESP32 has. Pin lives here
# because every program uses it; the rest is loaded from firmware/sim on first
# use (see __getattr__) so a program that never touches I2C pays no heap for it.
#
# Sim-only hooks (not on a real board), for tests and lessons driven from the
# host through the REPL:
#   machine._sim_input(gpio, level)   drive an input, e.g. press BOOT: (0, 0)
#   machine._sim_analog(gpio, u16)    set the voltage an ADC reads (0..65535)
import os
import time
from micropython import const
from umachine import *  # noqa: F401,F403  (Signal, PinBase, mem8, time_pulse_us)
from umachine import PinBase
import events


def _host_calls(hostfs):
    # What the stand-ins call, as closures: a program can call them too, but
    # neither they nor their __globals__ (this module's) lead to hostfs itself,
    # whose builtin_modules holds the Unix port's os and vfs and whose
    # with_host_path opens any host path once that is emptied.
    class Host:
        pass

    host = Host()
    host.load = lambda name: hostfs.load(name)
    host.with_host_path = lambda fn, path: hostfs.with_host_path(fn, path)
    host.off_heap = lambda fn, *args: hostfs.off_heap(fn, *args)
    host.reserve = lambda free: hostfs.reserve(free)
    return host


import hostfs  # noqa: E402  (only here: confine.py makes `import hostfs` fail for programs)

_hostfs = _host_calls(hostfs)
del hostfs

PWRON_RESET = const(1)
HARD_RESET = const(2)
WDT_RESET = const(3)
DEEPSLEEP_RESET = const(4)
SOFT_RESET = const(5)
SLEEP = const(2)
DEEPSLEEP = const(4)
PIN_WAKE = const(2)
EXT0_WAKE = const(2)
EXT1_WAKE = const(3)
TIMER_WAKE = const(4)
TOUCHPAD_WAKE = const(5)
ULP_WAKE = const(6)

# Process exit codes the supervisor turns into resets (documented in start.py).
_EXIT_SOFT = const(0)
_EXIT_BOOTLOADER = const(7)

_MODE_IN = const(1)
_MODE_OUT = const(3)
_MODE_OPEN_DRAIN = const(7)
_PULL_DOWN = const(1)
_PULL_UP = const(2)
_IRQ_RISING = const(1)
_IRQ_FALLING = const(2)
_FLOATING = const(0xFF)

_profile = os.getenv("JAZARI_PROFILE") or "esp32"
if _profile == "esp32":
    _GPIOS = tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40))
    _first_input_only = 34
else:
    _GPIOS = tuple(range(0, 22)) + tuple(range(26, 49))
    _first_input_only = 49
# GPIO0 is the BOOT button: the DevKit boards pull it up with a resistor.
_BOARD_PULL_UP = (0,)

_freq = 240000000
_pins = {}  # gpio -> [mode, pull, output level, driven-from-outside level, irq]


_in_irq = 0  # > 0 while a Timer or Pin callback runs (from the scheduler)


def _exit(code, why):
    # SystemExit is the only way out of the Unix port; start.py made the REPL
    # conditional on MICROPYINSPECT, so clearing it makes the process end here.
    # The scheduler prints and swallows what a callback raises, so from a
    # callback the process ends by SIGTERM instead (the event says why).
    events.emit("reset", why)
    os.unsetenv("MICROPYINSPECT")
    if _in_irq:
        # SIGTERM from the launcher's helper (host/jazari/sim/launcher.py): a
        # board has no shell to run `kill`, and nor has its sandbox. Started
        # without the launcher (tests of the port itself), the shell's kill.
        helper = os.getenv("JAZARI_KILL_FD")
        if helper:
            open(int(helper), "wb").write(b"k")
        else:
            os.system("kill -TERM $PPID")
        time.sleep_ms(1000)
    raise SystemExit(code)


def _call_irq(handler, arg):
    global _in_irq
    _in_irq += 1
    try:
        handler(arg)
    finally:
        _in_irq -= 1


class Pin(PinBase):
    IN = _MODE_IN
    OUT = _MODE_OUT
    OPEN_DRAIN = _MODE_OPEN_DRAIN
    PULL_DOWN = _PULL_DOWN
    PULL_UP = _PULL_UP
    IRQ_RISING = _IRQ_RISING
    IRQ_FALLING = _IRQ_FALLING
    WAKE_LOW = const(4)
    WAKE_HIGH = const(5)
    DRIVE_0 = const(0)
    DRIVE_1 = const(1)
    DRIVE_2 = const(2)
    DRIVE_3 = const(3)

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if id not in _GPIOS:
            raise ValueError("invalid pin")
        self._id = id
        self._s = _pins.get(id)
        if self._s is None:
            self._s = _pins[id] = [_MODE_IN, 0, 0, _FLOATING, None]
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        s = self._s
        if value is not None:
            s[2] = 1 if value else 0
        if mode not in (-1, None):
            if mode & 2 and self._id >= _first_input_only:
                raise ValueError("pin can only be input")
            s[0] = mode
            if mode & 2:
                events.pin(self._id, s[2])
        if pull != -1:
            s[1] = pull or 0

    def __repr__(self):
        return "Pin(%d)" % self._id

    def _level(self):
        s = self._s
        if s[0] == _MODE_OUT or (s[0] == _MODE_OPEN_DRAIN and not s[2]):
            return s[2]
        if s[3] != _FLOATING:
            return s[3]
        return 1 if s[1] == _PULL_UP or self._id in _BOARD_PULL_UP else 0

    def value(self, x=None):
        if x is None:
            return self._level()
        s = self._s
        x = 1 if x else 0
        if s[2] != x:
            before = self._level()
            s[2] = x
            if s[0] & 2:
                events.pin(self._id, x)
                _edge(self, before)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(not self._s[2])

    def mode(self, mode=None):
        if mode is None:
            return self._s[0]
        self.init(mode)

    def pull(self, pull=None):
        if pull is None:
            return self._s[1] or None
        self.init(pull=pull)

    def drive(self, drive=None):
        return Pin.DRIVE_2 if drive is None else None

    def irq(self, handler=None, trigger=_IRQ_FALLING | _IRQ_RISING, *, wake=None, hard=False):
        # Soft IRQs, as on the ESP32: the handler runs from the scheduler,
        # between two bytecodes of the main program.
        self._s[4] = (handler, trigger) if handler else None
        return _Irq(trigger)


class _Irq:
    def __init__(self, trigger):
        self._trigger = trigger

    def trigger(self, trigger=None):
        return self._trigger

    def flags(self):
        return self._trigger


def _edge(pin, before):
    irq = pin._s[4]
    after = pin._level()
    if irq is None or after == before:
        return
    if irq[1] & (_IRQ_RISING if after else _IRQ_FALLING):
        import micropython

        micropython.schedule(_pin_irq, (irq[0], pin))


def _pin_irq(handler_and_pin):
    _call_irq(*handler_and_pin)


def _sim_input(gpio, level):
    pin = Pin(gpio)
    before = pin._level()
    pin._s[3] = _FLOATING if level is None else (1 if level else 0)
    _edge(pin, before)


def _sim_analog(gpio, u16):
    ADC._levels[gpio] = u16


_LAZY = {
    "ADC": "machine_adc",
    "PWM": "machine_pwm",
    "I2C": "machine_i2c",
    "I2S": "machine_i2s",
    "SoftI2C": "machine_i2c",
    "RTC": "machine_rtc",
    "Timer": "machine_timer",
    "WDT": "machine_timer",
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(name)
    module = _hostfs.load(_LAZY[name])
    for lazy, source in _LAZY.items():
        if source == _LAZY[name]:
            globals()[lazy] = getattr(module, lazy)
    return globals()[name]


def unique_id():
    return bytes.fromhex(os.getenv("JAZARI_UID") or "240ac4000001")


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    if hz // 1000000 not in (20, 40, 80, 160, 240):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _freq = hz


def reset_cause():
    return int(os.getenv("JAZARI_RESET_CAUSE") or PWRON_RESET)


def wake_reason():
    return TIMER_WAKE if reset_cause() == DEEPSLEEP_RESET else 0


def reset():
    _exit(HARD_RESET, "hard")


def soft_reset():
    _exit(_EXIT_SOFT, "soft")


def bootloader():
    _exit(_EXIT_BOOTLOADER, "bootloader")


def idle():
    # A real core waits for the next interrupt; sleeping 1 ms keeps a
    # `while True: idle()` loop from spinning the host's CPU.
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def lightsleep(time_ms=None):
    events.emit("sleep", "light")
    _sleep(time_ms)


def deepsleep(time_ms=None):
    events.emit("sleep", "deep")
    _sleep(time_ms)
    _exit(DEEPSLEEP_RESET, "deepsleep")


def _sleep(time_ms):
    if time_ms is None:
        while True:  # no wake source: asleep until the host resets the board
            time.sleep_ms(1000)
    time.sleep_ms(time_ms)
