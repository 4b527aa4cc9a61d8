# The event log the host reads to see what the board did (LED and pin changes,
# resets). One line per event, appended with a single write so lines never
# interleave: "<kind> <fields...> <t_us>", where t_us is time.ticks_us()
# (CLOCK_MONOTONIC in microseconds, wrapping at 2**30, the same clock for every
# board on the computer). The "boot" line also gives the wall clock (epoch_us)
# so a reader can place later events in time and unwrap t_us:
#   boot <reset_cause> <profile> <epoch_us> <t_us>
#   pin <gpio> <0|1> <t_us>
#   pwm <gpio> <duty_u16> <t_us>
#   sleep <light|deep> <t_us>
#   reset <soft|hard|wdt|deepsleep|bootloader> <t_us>
from time import ticks_us

_log = None


def open_log(path):
    global _log
    _log = open(path, "a")


def _write(line):
    global _log
    try:
        _log.write(line)
    except OSError:
        # Full (the launcher's RLIMIT_FSIZE is the flash file's size): the
        # board goes on without its log, as a program must not fail for it.
        _log = None


def emit(kind, fields):
    if _log is not None:
        _write("%s %s %d\n" % (kind, fields, ticks_us()))


def pin(gpio, value):
    if _log is not None:
        _write("pin %d %d %d\n" % (gpio, value, ticks_us()))
