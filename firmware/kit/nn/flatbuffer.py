# Zero-copy FlatBuffers reading for .tflite files.
#
# A model is read through a `Source`: `MemorySource` over any buffer (bytes,
# bytearray, memoryview of a ROMFS file) or `FileSource` over an open file,
# which keeps only a small window in RAM. Every offset is checked against the
# file size before it is followed, so a truncated or hostile file raises
# ValueError instead of reading outside the buffer; every vector length is
# bounded by the bytes that remain, so nothing loops past the end. The reader
# only walks the fixed TFLite schema (never a generic graph), so cycles cannot
# recurse.
from micropython import const
import struct

_WINDOW = const(256)  # FileSource read-ahead: metadata reads are small


def corrupt(what, at):
    return ValueError("model file is truncated or corrupt: %s at byte %d points outside the file" % (what, at))


class MemorySource:
    # Reads straight out of the caller's buffer; nothing is copied.
    def __init__(self, buf):
        self.mv = memoryview(buf)
        self.size = len(self.mv)

    def unpack(self, fmt, off):
        return struct.unpack_from(fmt, self.mv, off)

    def view(self, off, n):
        return self.mv[off:off + n]


class FileSource:
    # Reads metadata from a file through one small window; `view` copies, so
    # it is only used for short fields (names, small vectors).
    def __init__(self, f, size):
        self.f = f
        self.size = size
        self.win = bytearray(_WINDOW)
        self.start = -_WINDOW
        self.end = -_WINDOW

    def _load(self, off, n):
        if off < self.start or off + n > self.end:
            if n > _WINDOW:
                self.f.seek(off)
                return self.f.read(n), 0
            self.f.seek(off)
            got = self.f.readinto(self.win)
            self.start = off
            self.end = off + (got or 0)
        return self.win, off - self.start

    def unpack(self, fmt, off):
        buf, at = self._load(off, struct.calcsize(fmt))
        return struct.unpack_from(fmt, buf, at)

    def view(self, off, n):
        buf, at = self._load(off, n)
        return memoryview(buf)[at:at + n]


class Table:
    # One FlatBuffers table: `pos` is where it starts, `vt` its vtable.
    def __init__(self, src, pos):
        size = src.size
        if pos < 0 or pos + 4 > size:
            raise corrupt("table", pos)
        vt = pos - src.unpack("<i", pos)[0]
        if vt < 0 or vt + 4 > size:
            raise corrupt("table at byte %d has a vtable that" % pos, vt)
        vsize, tsize = src.unpack("<HH", vt)
        if vsize < 4 or vsize & 1 or vt + vsize > size or pos + tsize > size:
            raise corrupt("vtable", vt)
        self.src = src
        self.pos = pos
        self.vt = vt  # sizes are read again when needed: fewer attributes, less RAM

    def _field(self, slot, nbytes):
        # Absolute position of field `slot` (0-based), or 0 when absent.
        at = 4 + 2 * slot
        vsize, tsize = self.src.unpack("<HH", self.vt)
        if at + 2 > vsize:
            return 0
        off = self.src.unpack("<H", self.vt + at)[0]
        if off == 0:
            return 0
        if off + nbytes > tsize:
            raise corrupt("field %d of the table at byte %d" % (slot, self.pos), self.pos + off)
        return self.pos + off

    def scalar(self, slot, fmt, nbytes, default):
        at = self._field(slot, nbytes)
        return self.src.unpack(fmt, at)[0] if at else default

    def int8(self, slot, default=0):
        return self.scalar(slot, "<b", 1, default)

    def uint8(self, slot, default=0):
        return self.scalar(slot, "<B", 1, default)

    def int32(self, slot, default=0):
        return self.scalar(slot, "<i", 4, default)

    def uint32(self, slot, default=0):
        return self.scalar(slot, "<I", 4, default)

    def float32(self, slot, default=0.0):
        return self.scalar(slot, "<f", 4, default)

    def _target(self, slot):
        # Follow the uoffset stored in field `slot`; 0 when absent.
        at = self._field(slot, 4)
        if not at:
            return 0
        to = at + self.src.unpack("<I", at)[0]
        if to + 4 > self.src.size:
            raise corrupt("field %d of the table at byte %d" % (slot, self.pos), to)
        return to

    def table(self, slot):
        to = self._target(slot)
        return Table(self.src, to) if to else None

    def vector(self, slot, elem, limit):
        # (start, count) of a vector of `elem`-byte items, or None when absent.
        # `limit` caps the count where a huge one could only be hostile.
        to = self._target(slot)
        if not to:
            return None
        n = self.src.unpack("<I", to)[0]
        start = to + 4
        if n * elem > self.src.size - start:
            raise corrupt("vector of %d items" % n, to)
        if n > limit:
            raise ValueError("model file is corrupt or unsupported: vector at byte %d has %d items (at most %d)" % (to, n, limit))
        return start, n

    def ints(self, slot, fmt, limit):
        # A short numeric vector as a tuple (shapes, tensor lists, options).
        v = self.vector(slot, struct.calcsize(fmt), limit)
        if v is None:
            return None
        start, n = v
        return self.src.unpack("<%d%s" % (n, fmt), start) if n else ()

    def count(self, slot, limit):
        # Length of a vector of tables (0 when absent).
        v = self.vector(slot, 4, limit)
        return v[1] if v else 0

    def tables(self, slot, limit):
        # Each table of a vector, one at a time (no list of them all in RAM).
        v = self.vector(slot, 4, limit)
        if v is None:
            return
        start, n = v
        src = self.src
        for i in range(n):
            at = start + 4 * i
            yield Table(src, at + src.unpack("<I", at)[0])

    def item(self, slot, i, limit):
        # Table i of a vector of tables that tables() has walked before.
        start, n = self.vector(slot, 4, limit)
        if not 0 <= i < n:
            raise corrupt("table %d of %d" % (i, n), start)
        at = start + 4 * i
        return Table(self.src, at + self.src.unpack("<I", at)[0])

    def data(self, slot):
        # (start, length) of a byte vector, not read.
        v = self.vector(slot, 1, self.src.size)
        return v if v else (0, 0)

    def string(self, slot, limit=64):
        v = self.vector(slot, 1, self.src.size)
        if not v:
            return ""
        start, n = v
        raw = bytes(self.src.view(start, min(n, limit)))
        try:
            return str(raw, "utf-8")
        except ValueError:  # names are only for messages: keep a bad one readable
            return repr(raw)


def root(src):
    if src.size < 8:
        raise ValueError("model file is truncated or corrupt: only %d bytes" % src.size)
    if bytes(src.view(4, 4)) != b"TFL3":
        raise ValueError("not a TFLite model: the file does not carry the TFL3 identifier")
    return Table(src, src.unpack("<I", 0)[0])


class Numbers:
    # A numeric vector left in the model file (per-channel scales and zero
    # points): indexed and iterated like a list, read on demand.
    fmt = "<f"
    size = 4

    def __init__(self, src, start, n):
        self.src = src
        self.start = start
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError
        return self.src.unpack(self.fmt, self.start + self.size * i)[0]

    def __iter__(self):
        for i in range(self.n):
            yield self.src.unpack(self.fmt, self.start + self.size * i)[0]


class Int64s(Numbers):
    fmt = "<q"
    size = 8
