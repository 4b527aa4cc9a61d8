# kit.Model: the student API, in the style of OpenMV's ml.Model.
#   m = kit.Model("/models/gesture.tflite")
#   m.predict([0.1, 0.5, ...]) -> [floats]     m.classify(values) -> (label, score)
#   m.invoke(raw_bytes) -> raw output bytes     m.inputs, m.outputs, m.arena_bytes, m.last_us
from micropython import const
import gc
import struct
import time
from . import schema as S

_READ_WHOLE = const(65536)  # files up to this size are read into RAM when it fits


class TensorInfo:
    # What a student needs to feed or read one model input or output.
    def __init__(self, t):
        self.shape = t.shape
        self.dtype = S.TYPE_NAMES.get(t.type, str(t.type))
        self.scale = t.scale
        self.zero_point = t.zero_point
        self.size = t.size

    def __repr__(self):
        return "<%s %s scale=%g zero_point=%d>" % (self.dtype, list(self.shape), self.scale, self.zero_point)


def _open(path_or_buffer):
    # (flatbuffer source, weights access) for a path or a buffer.
    from .flatbuffer import MemorySource, FileSource
    from .weights import InPlace, Streamed
    if not isinstance(path_or_buffer, str):
        mv = memoryview(path_or_buffer)
        return MemorySource(mv), InPlace(mv)
    f = open(path_or_buffer, "rb")
    try:
        mv = memoryview(f)  # a file on ROMFS: memory-mapped, read in place
        return MemorySource(mv), InPlace(mv)
    except TypeError:
        pass
    size = f.seek(0, 2)
    f.seek(0)
    gc.collect()
    if size <= _READ_WHOLE and size * 4 < gc.mem_free():
        data = f.read()
        f.close()
        mv = memoryview(data)
        return MemorySource(mv), InPlace(mv)
    return FileSource(f, size), Streamed(f)


class Model:
    def __init__(self, path_or_buffer, labels=None):
        from .interpreter import Interpreter
        src, weights = _open(path_or_buffer)
        self._interp = Interpreter(src, weights)
        info = self._interp.info
        self.inputs = [TensorInfo(t) for t in info.inputs]
        self.outputs = [TensorInfo(t) for t in info.outputs]
        self.arena_bytes = self._interp.arena_bytes
        self.last_us = 0
        self.labels = labels
        if labels is None and isinstance(path_or_buffer, str):
            self.labels = _read_labels(path_or_buffer)

    def input(self, index=0):
        # The arena bytes of input `index`, writable: fill them (a camera frame,
        # a file's readinto) then call invoke() without arguments, and no copy
        # of the input takes heap. Write them again before every invoke: while
        # the model runs, later layers reuse those bytes.
        return self._interp.views[self._interp.info.inputs[index].index]

    def invoke(self, *buffers):
        # Raw bytes of each input in, raw bytes of the outputs out (one, or a
        # tuple). Without arguments: the inputs already written through input().
        interp = self._interp
        t0 = time.ticks_us()
        interp.invoke(buffers)
        self.last_us = time.ticks_diff(time.ticks_us(), t0)
        views = interp.views
        outs = tuple(bytes(views[t.index]) for t in interp.info.outputs)
        return outs[0] if len(outs) == 1 else outs

    def predict(self, *values):
        # Floats in (one flat sequence per input), floats out (a list per output).
        interp = self._interp
        if len(values) != len(interp.info.inputs):
            from .errors import wrong_count
            raise wrong_count("inputs", len(interp.info.inputs), len(values))
        bufs = [_to_bytes(i, t, v) for i, (t, v) in enumerate(zip(interp.info.inputs, values))]
        outs = self.invoke(*bufs)
        if len(interp.info.outputs) == 1:
            return _to_floats(interp.info.outputs[0], outs)
        return [_to_floats(t, b) for t, b in zip(interp.info.outputs, outs)]

    def classify(self, *values):
        scores = self.predict(*values)
        if scores and isinstance(scores[0], list):
            scores = scores[0]
        best = 0
        for i in range(1, len(scores)):
            if scores[i] > scores[best]:
                best = i
        labels = self.labels
        label = labels[best] if labels and best < len(labels) else best
        return label, scores[best]


def _to_bytes(index, t, values):
    n = t.size // S.TYPE_SIZES.get(t.type, 1)
    if len(values) != n:
        raise ValueError("input %d needs %d values (%s), got %d" % (index, n, list(t.shape), len(values)))
    if t.type == S.FLOAT32:
        return struct.pack("<%df" % n, *values)
    if t.type != S.INT8:
        raise ValueError("predict() takes floats for int8 or float32 inputs; use invoke() with raw bytes")
    from .ops.quantize import round_away
    out = bytearray(n)
    scale, zp = t.scale, t.zero_point
    for i in range(n):
        q = round_away(values[i] / scale) + zp
        out[i] = (-128 if q < -128 else 127 if q > 127 else q) & 0xFF
    return out


def _to_floats(t, raw):
    if t.type == S.FLOAT32:
        return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    fmt = "<%d%s" % (len(raw) // S.TYPE_SIZES.get(t.type, 1), {S.INT8: "b", S.INT32: "i", S.UINT8: "B"}.get(t.type, "b"))
    scale, zp = t.scale, t.zero_point
    if not scale:
        return [float(v) for v in struct.unpack(fmt, raw)]
    return [(v - zp) * scale for v in struct.unpack(fmt, raw)]


def _read_labels(path):
    dot = path.rfind(".")
    txt = (path[:dot] if dot > path.rfind("/") else path) + ".txt"
    try:
        with open(txt) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError:
        return None
