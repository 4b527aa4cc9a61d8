"""Sampling at a fixed rate into a bounded ring, for the link's telemetry.

    s = Sampler(0, source, 1000)     # a source of kit.sources, 1000 samples a second
    s.start()
    size = s.take(buf, at, room)     # a STREAM_BATCH payload in buf[at:], or 0
    s.stop()

Sample k of a stream belongs to the tick t0 + floor(k * 1000000 / rate)
(ticks_us; t0 is when it started): the host rebuilds every sample's time from
the first one's in each batch. A timer reads every sample owed at each of its
ticks, so a tick that comes late (soft IRQs wait for the interpreter) loses
nothing and the rate stays exact; a block source (the microphone) is clocked
by its own hardware and only counts the blocks it fills.

The ring is taken once. Its writer (the timer's or the I2S block's callback)
allocates nothing and never waits: it overwrites the oldest samples. The
reader (the link's loop) finds them overwritten, skips them and counts them
as dropped; every batch carries the running total, so no drop goes unseen.
"""

from micropython import const
from struct import pack_into
from time import ticks_add, ticks_diff, ticks_us

import kit.wire as wire

_MASK = const(0x3FFFFFFF)  # sample numbers, times and drop counts on the wire (wire.WRAP_BITS)
_US = const(1000000)
_MAX_TICK_HZ = const(1000)  # a timer this fast at most: each tick reads what is owed


class Sampler:
    def __init__(self, stream_id, source, rate, buffer=8192, latency_ms=100):
        self.id = stream_id
        self.source = source
        self.rate = rate
        self.size = size = source.size  # bytes per sample, all channels
        self.block = block = source.block  # samples a source writes at once
        cap = block
        while cap * 2 * size <= buffer or cap < 4 * block:
            cap *= 2  # a power of two, so slot = number % cap across the wrap at 2**30
        self.cap = cap
        self.ring = bytearray(cap * size)
        self.ring_view = memoryview(self.ring)
        self.margin = max(2 * block, cap // 8)  # room the writer may fill while a batch is copied
        self.latency_us = latency_ms * 1000
        self._period = _US // rate
        self._rem = _US % rate
        self.written = 0  # samples written so far (the writer's only state)
        self.taken = 0  # samples sent or dropped
        self.dropped = 0
        self._due = self._frac = 0  # the writer's next sample: tick and fraction (in 1/rate us)
        self._t_taken = self._frac_taken = 0  # the same for the oldest sample not yet taken
        self._timer = None
        self._tick_ref = self._tick  # bound methods made here, not at each tick
        self._read = source.read_into if block == 1 else None

    def declaration(self):
        src = self.source
        return {
            "source": src.name, "channels": src.channels, "units": src.units,
            "dtype": src.dtype, "scales": src.scales, "rate": self.rate,
            "block": self.block, "ring": self.cap,
        }

    def start(self):
        self._due = self._t_taken = ticks_us()
        if self.block > 1:
            self.source.start(self)
            return
        import machine

        self._timer = machine.Timer(self.id)
        self._timer.init(mode=machine.Timer.PERIODIC, freq=min(self.rate, _MAX_TICK_HZ), callback=self._tick_ref)

    def stop(self):
        """Stop sampling; what the ring holds can still be taken."""
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None
        else:
            self.source.stop()
        self._read = self.source = None  # a stopped timer may still hold _tick_ref

    def free(self):
        """Give the ring back (a stopped timer may keep this object a while)."""
        self.ring = self.ring_view = None

    def filled(self):
        """A block source has written the next block: returns where the one after goes."""
        w = (self.written + self.block) & _MASK
        self.written = w
        return (w & (self.cap - 1)) * self.size

    def _tick(self, _timer):
        # Runs as a soft IRQ: copies and counts, allocates nothing.
        read = self._read
        if read is None:
            return  # stopped; a tick already scheduled still comes
        now = ticks_us()
        late = ticks_diff(now, self._due)
        if late < 0:
            return
        w = self.written
        owed = late // self._period + 1
        if owed > self.cap:  # a long stall: all but the last cap samples would be overwritten
            skip = owed - self.cap
            frac = self._frac + skip * self._rem
            self._due = ticks_add(self._due, skip * self._period + frac // self.rate)
            self._frac = frac % self.rate
            w = (w + skip) & _MASK
        ring = self.ring
        size = self.size
        mask = self.cap - 1
        while ticks_diff(now, self._due) >= 0:
            read(ring, (w & mask) * size)
            w = (w + 1) & _MASK
            frac = self._frac + self._rem
            due = ticks_add(self._due, self._period)
            if frac >= self.rate:
                frac -= self.rate
                due = ticks_add(due, 1)
            self._due = due
            self._frac = frac
        self.written = w

    def take(self, buf, at, room, flush=False):
        """Put the oldest samples in buf[at:] as a STREAM_BATCH payload of at
        most `room` bytes; its size, or 0 when a batch is not due yet (neither
        full, nor half the ring, nor `latency_ms` old, unless `flush`)."""
        size = self.size
        cap = self.cap
        full = (room - wire.BATCH_HEADER) // size // self.block * self.block
        due = min(full, (cap - self.margin) // 2)  # this many make a batch before latency_ms
        for _ in range(4):  # a copy the writer lapped meanwhile is dropped and taken again
            waiting = (self.written - self.taken) & _MASK
            if waiting > cap - self.margin:
                self._drop(waiting - (cap - self.margin))
                waiting = cap - self.margin
            n = min(waiting, full) // self.block * self.block
            if n == 0:
                return 0
            if n < due and not flush and ticks_diff(ticks_us(), self._t_taken) < self.latency_us:
                return 0
            first = self.taken
            _copy(self.ring_view, (first & (cap - 1)) * size, buf, at + wire.BATCH_HEADER, n * size)
            if (self.written - first) & _MASK > cap - self.block:
                continue
            pack_into("<BIII", buf, at, self.id, first, self._t_taken & _MASK, self.dropped)
            self._took(n)
            return wire.BATCH_HEADER + n * size
        return 0

    def _drop(self, n):
        self.dropped = (self.dropped + n) & _MASK
        self._took(n)

    def _took(self, n):
        self.taken = (self.taken + n) & _MASK
        while n > 0:  # in steps of a second at most: small integers all the way
            step = min(n, self.rate)
            frac = self._frac_taken + step * self._rem  # < rate**2: a small integer
            self._t_taken = ticks_add(self._t_taken, step * self._period + frac // self.rate)
            self._frac_taken = frac % self.rate
            n -= step


def _copy(ring, start, buf, at, n):
    # ring[start:start + n] into buf[at:], across the ring's end.
    end = start + n
    if end <= len(ring):
        buf[at:at + n] = ring[start:end]
    else:
        first = len(ring) - start
        buf[at:at + first] = ring[start:]
        buf[at + first:at + n] = ring[:end - len(ring)]
