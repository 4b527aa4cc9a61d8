# Where the ops' per-channel constants (ctx.keep: multipliers and shifts,
# 5 bytes a channel) live between invokes.
#
# InRam: one block taken beside the arena; the default.
# OnFlash: for a model whose block does not fit beside its arena (person_detect
# keeps 14 KB on a 110 KB ESP32): one window the size of the largest op's
# constants. Each op's constants are written to a file on the board's
# filesystem when it is prepared, and read back into the window before it
# runs: a few KB read per invoke, against millions of MACs.
import binascii

_NAME = ".kit-%08x.params"  # in the current folder ("/" on a board)
_ID_BYTES = 1024  # of the model, with its size, name its file


class InRam:
    def __init__(self, nbytes):
        self.block = memoryview(bytearray(nbytes))
        self.used = 0

    def take(self, nbytes):
        # `nbytes` zeros for the op being prepared, or None when spent.
        at = self.used
        if at + nbytes > len(self.block):
            return None
        self.used = at + nbytes
        return self.block[at:at + nbytes]

    def op_done(self):
        # What eval must reload before this op runs: nothing.
        return None


class OnFlash(InRam):
    def __init__(self, nbytes, src):
        super().__init__(nbytes)
        # One file per model (the same model loaded again writes the same
        # bytes over it), so a program that loads models in a loop does
        # not fill the filesystem.
        ident = binascii.crc32(src.view(0, min(src.size, _ID_BYTES)), src.size)
        self.file = open(_NAME % ident, "w+b")
        self.end = 0
        from array import array
        self.spans = array("i")  # each saved op's (offset in the file, bytes)

    def op_done(self):
        # The op's constants go to the file; returns what reload() takes
        # (the count of ops saved before this one), or None when the op
        # kept nothing.
        n = self.used
        if not n:
            return None
        f = self.file
        f.seek(self.end)
        if f.write(self.block[:n]) != n:
            raise OSError(28)  # ENOSPC: the filesystem is full
        self.used = 0
        self.spans.append(self.end)
        self.spans.append(n)
        self.end += n
        return len(self.spans) // 2 - 1

    def finish(self):
        self.file.flush()

    def reload(self, saved):
        # Read back into the window (where the op's views point) without
        # allocating: this runs at every invoke.
        spans = self.spans
        f = self.file
        f.seek(spans[2 * saved])
        f.readinto(self.block, spans[2 * saved + 1])
