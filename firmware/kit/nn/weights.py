# Access to constant tensors. `InPlace` when the model's bytes are addressable
# (a buffer in RAM, or a memoryview of a file on memory-mapped ROMFS): every
# read is a memoryview slice, nothing is copied. `Streamed` when the model is
# a plain file (LittleFS on stock ESP32 builds): slices are read with
# readinto through one reused buffer.


class InPlace:
    addressable = True

    def __init__(self, mv):
        self.mv = mv

    def tensor(self, t):
        return self.mv[t.data_at:t.data_at + t.size]

    def read(self, t, start, nbytes):
        at = t.data_at + start
        return self.mv[at:at + nbytes]


class Streamed:
    addressable = False

    def __init__(self, f):
        self.f = f
        self.buf = bytearray(0)
        self.small = {}  # small constants read once (shapes, biases, paddings)

    def tensor(self, t):
        # The whole tensor as its own bytes; ops call this in prepare for
        # small constants and use `read` for large weights.
        got = self.small.get(t.index)
        if got is None:
            got = self._read_new(t.data_at, t.size)
            self.small[t.index] = got
        return got

    def _read_new(self, at, n):
        b = bytearray(n)
        self._fill(at, memoryview(b))
        return memoryview(b)

    def _fill(self, at, mv):
        self.f.seek(at)
        n = len(mv)
        got = self.f.readinto(mv)
        if got != n:
            raise ValueError("model file is truncated: wanted %d bytes at byte %d, got %s" % (n, at, got))

    def read(self, t, start, nbytes):
        # Grows only while the first invoke meets ever larger requests.
        if len(self.buf) < nbytes:
            self.buf = bytearray(nbytes)
        mv = memoryview(self.buf)[:nbytes]
        self._fill(t.data_at + start, mv)
        return mv
