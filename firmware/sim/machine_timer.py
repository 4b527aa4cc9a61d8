# machine.Timer and machine.WDT for the virtual board.
#
# The Unix port has no hardware timers. One background thread (started by the
# first timer) sleeps until the next deadline and hands the callback to
# micropython.schedule, so it runs in the main thread between two bytecodes:
# the soft-IRQ behaviour of ESP32 timers. When the main thread is blocked in C
# (time.sleep, or the REPL waiting for a key), a scheduled callback would wait
# for it; gc.collect() from this thread signals the main thread, whose system
# call then returns EINTR and runs the pending callbacks straight away.
# Limits: periods are in whole milliseconds and a callback still pending at
# its next deadline is skipped (as a board drops a timer IRQ it cannot serve).
import _thread
import gc
import micropython
import time
from micropython import const
from machine import _call_irq

_ONE_SHOT = const(0)
_PERIODIC = const(1)
_POLL_MS = const(10)
_lock = _thread.allocate_lock()
_active = ()  # running timers; replaced whole, under _lock
_thread_started = False


def _loop():
    while True:
        wait, timers = _due_timers(time.ticks_ms())
        fired = False
        for t in timers:
            if t._due_now:
                t._due_now = False
                t._fire()
                fired = True
        if fired:
            time.sleep_ms(1)
            for t in _active:
                if t._pending:
                    gc.collect()  # wake a main thread blocked in a system call
                    break
        time.sleep_ms(max(wait - 1 if fired else wait, 1))


def _due_timers(now):
    # Marks the timers due now and retires the one-shots among them, under
    # _lock: a callback re-arming its own one-shot (init() in the main thread,
    # once _fire has scheduled it) then always comes after the retirement,
    # which cannot undo it. Returns (ms to the next deadline, the timers
    # looked at); they are fired after the lock is let go, so a callback that
    # re-arms never waits on it. Allocates nothing but a retirement's tuple.
    global _active
    wait = _POLL_MS
    with _lock:
        timers = _active
        for t in timers:
            due = time.ticks_diff(t._due, now)
            if due <= 0:
                t._due_now = True
                if not t._periodic:
                    _active = tuple(x for x in _active if x is not t)
                    continue
                t._due = time.ticks_add(t._due, t._period)
                due = time.ticks_diff(t._due, now)
            wait = min(wait, due)
    return wait, timers


def _add(t, periodic, period, callback):
    global _active, _thread_started
    with _lock:
        t._periodic = periodic
        t._period = period
        t._callback = callback
        t._start = time.ticks_ms()
        t._due = time.ticks_add(t._start, period)
        if t not in _active:
            _active = _active + (t,)
        if not _thread_started:
            _thread.start_new_thread(_loop, ())
            _thread_started = True


def _remove(t):
    global _active
    with _lock:
        _active = tuple(x for x in _active if x is not t)


class Timer:
    ONE_SHOT = _ONE_SHOT
    PERIODIC = _PERIODIC

    def __init__(self, id=0, *args, **kwargs):
        self._id = id
        self._callback = None
        self._start = time.ticks_ms()
        self._due_now = False  # set by the timer thread, under _lock, for its next _fire
        self._pending = False
        self._run_ref = self._run  # one bound method, not one per tick
        if args or kwargs:
            self.init(*args, **kwargs)

    def __repr__(self):
        return "Timer(%d)" % self._id

    def init(self, mode=_PERIODIC, period=-1, callback=None, freq=-1):
        if freq > 0:
            period = max(1000 // freq, 1)
        if period < 0:
            raise ValueError("period must be given")
        _add(self, mode == _PERIODIC, max(period, 1), callback)

    def deinit(self):
        _remove(self)

    def value(self):
        return time.ticks_diff(time.ticks_ms(), self._start)

    def _fire(self):
        if self._pending:
            return
        self._pending = True
        try:
            micropython.schedule(self._run_ref, None)
        except RuntimeError:  # schedule queue full: drop this tick
            self._pending = False

    def _run(self, _):
        self._pending = False
        if self._callback is not None:
            _call_irq(self._callback, self)


class WDT:
    # Reset unless fed within `timeout` ms: the event log gets "reset wdt" and
    # the process ends by SIGTERM (from a callback, SystemExit would be swallowed).
    def __init__(self, id=0, timeout=5000):
        self._timeout = max(timeout, 1)
        self._timer = Timer(-1)
        self.feed()

    def feed(self):
        self._timer.init(mode=_ONE_SHOT, period=self._timeout, callback=_expired)


def _expired(_timer):
    import machine

    machine._exit(machine.WDT_RESET, "wdt")
