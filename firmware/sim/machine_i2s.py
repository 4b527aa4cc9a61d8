# machine.I2S for the virtual board: receive only, as from the kit's INMP441
# microphone. Sound comes from JAZARI_MIC, or from machine.I2S._sim_source(spec)
# (sim-only, for tests and lessons driven from the host):
#   "tone:440"       a sine at 440 Hz, a quarter of full scale (the default)
#   "/path/a.wav"    16-bit PCM, its first channel, looped (played at the I2S rate)
#
# Frames follow the I2S clock: frame k belongs to time start + k / rate, and
# its value depends on k alone, so what a program receives is exact however
# late its callbacks run. Blocking readinto() waits for the clock; with irq()
# set, readinto() returns at once and a machine.Timer calls the handler once
# the block's last frame is due (checked every few ms). As ESP-IDF's DMA,
# frames not read within `ibuf` bytes of the clock are overwritten (lost).
import os
import time
from math import pi, sin
from micropython import const
import machine

_RX = const(0)
_TX = const(1)
_MONO = const(0)
_STEREO = const(1)
_POLL_MS = const(4)  # how often a pending non-blocking read is checked
_TONE_LEVEL = 8192  # a quarter of full scale
_spec = None  # set by _sim_source; else JAZARI_MIC; else a 440 Hz tone


class _Tone:
    def __init__(self, hz):
        self.hz = hz

    def fill(self, out, first, count, rate):
        # out: an array of int16, count values from frame `first` on.
        w = 2 * pi * self.hz / rate
        for i in range(count):
            out[i] = int(round(_TONE_LEVEL * sin(w * (first + i))))


class _Wav:
    def __init__(self, path):
        from machine import _hostfs as hostfs

        self._file = hostfs.with_host_path(lambda p: open(p, "rb"), path)
        f = self._file
        if f.read(4) != b"RIFF" or f.read(8)[4:] != b"WAVE":
            raise ValueError("%s is not a WAV file" % path)
        self._channels = 0
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("%s has no data chunk" % path)
            size = int.from_bytes(head[4:], "little")
            if head[:4] == b"fmt ":
                fmt = f.read(size)
                if int.from_bytes(fmt[0:2], "little") != 1 or int.from_bytes(fmt[14:16], "little") != 16:
                    raise ValueError("%s: only 16-bit PCM WAV files are played" % path)
                self._channels = int.from_bytes(fmt[2:4], "little")
            elif head[:4] == b"data":
                break
            else:
                f.seek(size + (size & 1), 1)
        self._start = f.tell()
        self._frames = size // (2 * self._channels)
        if not self._frames:
            raise ValueError("%s holds no sound" % path)

    def fill(self, out, first, count, rate):
        from struct import unpack_from

        f = self._file
        step = 2 * self._channels
        done = 0
        while done < count:
            at = (first + done) % self._frames
            n = min(count - done, self._frames - at)
            f.seek(self._start + at * step)
            data = f.read(n * step)
            for j in range(n):
                out[done + j] = unpack_from("<h", data, j * step)[0]
            done += n


def _source():
    spec = _spec or os.getenv("JAZARI_MIC") or "tone:440"
    if spec.startswith("tone:"):
        return _Tone(float(spec[5:]))
    return _Wav(spec)


class I2S:
    RX = _RX
    TX = _TX
    MONO = _MONO
    STEREO = _STEREO

    @staticmethod
    def _sim_source(spec):
        global _spec
        _spec = spec

    def __init__(self, id, *, sck, ws, sd, mck=None, mode, bits, format, rate, ibuf):
        if mode != _RX:
            raise ValueError("the virtual board's I2S only receives (a microphone)")
        if bits not in (16, 32) or format not in (_MONO, _STEREO):
            raise ValueError("bits must be 16 or 32, format MONO or STEREO")
        self._bytes = bits // 8
        self._channels = 2 if format == _STEREO else 1
        self._rate = rate
        self._ibuf_frames = ibuf // (self._bytes * self._channels)
        self._sound = _source()
        self._start = time.ticks_us()
        self._pos = 0  # frames handed out so far
        self._handler = None
        self._pending = None
        self._timer = None

    def irq(self, handler):
        self._handler = handler

    def _clock(self):
        # Frames the microphone has produced by now.
        return time.ticks_diff(time.ticks_us(), self._start) * self._rate // 1000000

    def _fill(self, buf):
        frames = len(buf) // (self._bytes * self._channels)
        late = self._clock() - self._pos - frames
        if late > self._ibuf_frames:
            self._pos += late - self._ibuf_frames  # DMA overrun: those frames are gone
        values = [0] * frames
        self._sound.fill(values, self._pos, frames, self._rate)
        self._pos += frames
        width = self._bytes
        at = 0
        for value in values:
            for _ in range(self._channels):
                for k in range(width):  # little-endian; 32-bit frames carry the sample high
                    buf[at + k] = ((value << (8 * (width - 2))) >> (8 * k)) & 0xFF
                at += width
        return frames

    def _wait_ms(self, frames):
        due = (self._pos + frames) * 1000000 // self._rate
        return max(0, (due - time.ticks_diff(time.ticks_us(), self._start) + 999) // 1000)

    def readinto(self, buf):
        frames = len(buf) // (self._bytes * self._channels)
        if self._handler is None:
            time.sleep_ms(self._wait_ms(frames))
            return self._fill(buf) * self._bytes * self._channels
        self._pending = buf
        if self._timer is None:
            # Periodic, not one-shot: a one-shot timer re-armed from its own
            # callback can be dropped by machine_timer's thread as it retires it.
            self._timer = machine.Timer(-1)
            self._timer.init(mode=machine.Timer.PERIODIC, period=_POLL_MS, callback=self._complete)
        return 0

    def _complete(self, _timer):
        buf = self._pending
        if buf is None or self._wait_ms(len(buf) // (self._bytes * self._channels)):
            return
        self._pending = None
        self._fill(buf)
        if self._handler is not None:
            self._handler(self)

    def deinit(self):
        self._pending = None
        if self._timer is not None:
            self._timer.deinit()
            self._timer = None

    def __repr__(self):
        return "I2S(rate=%d)" % self._rate
