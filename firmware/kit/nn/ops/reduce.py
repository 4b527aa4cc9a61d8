# MEAN on int8, following TFLM's EvalIntegerMean: three paths chosen at
# prepare exactly as TFLM chooses them at eval.
#   4-D over axes (1, 2) with keep_dims: integer sum, requantize, divide with
#     rounding (reference_integer_ops::Mean);
#   same input and output quantization: integer sum, truncating division
#     (reference_ops::Mean);
#   otherwise: TFLM's float32 formula (reference_ops::QuantizedMeanOrSum),
#     with every float32 rounding reproduced.
import struct
from .. import schema as S
from .. import errors
from .. import quant

_SPECIAL = 0
_SAME = 1
_FLOAT = 2


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _round(x):
    # TfLiteRound: half away from zero.
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def prepare_mean(ctx, op):
    if len(op.inputs) < 2 or op.inputs[1] is None or not op.inputs[1].is_const:
        raise errors.unsupported(op, "axis (must be a constant tensor)")
    inp, axis_t, out = op.inputs[0], op.inputs[1], op.outputs[0]
    for t in (inp, out):
        if t.type != S.INT8:
            raise errors.bad_type(op, t)
    if axis_t.type != S.INT32:
        raise errors.bad_type(op, axis_t)
    raw = bytes(ctx.buffer(axis_t))
    rank = len(inp.shape)
    axes = []
    for a in struct.unpack("<%di" % (len(raw) // 4), raw):
        if a < -rank or a >= rank:
            raise errors.bad_shape(op, "axis %d out of range" % a)
        a = a + rank if a < 0 else a
        if a not in axes:
            axes.append(a)
    keep = op.options.uint8(S.REDUCER_KEEP_DIMS) if op.options else 0
    # Output layout: every kept dim in order; reduced dims iterate inside.
    kept = [d for d in range(rank) if d not in axes]
    count = 1
    for a in axes:
        count *= inp.shape[a]
    n_out = 1
    for d in kept:
        n_out *= inp.shape[d]
    if n_out != out.size:
        raise errors.bad_shape(op, "output size %d, expected %d" % (out.size, n_out))
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * inp.shape[d + 1]
    # Offsets of every input element reduced into one output, and of the
    # first element of each output (both as flat int8 indices).
    red = _offsets([inp.shape[a] for a in axes], [strides[a] for a in axes])
    base = _offsets([inp.shape[d] for d in kept], [strides[d] for d in kept])
    m, shift = quant.quantize_multiplier(quant.divide(quant.exact(inp.scale), quant.exact(out.scale)))
    special = keep and rank == 4 and len(raw) == 8 and sorted(axes) == [1, 2]
    if special:
        return _SPECIAL, red, base, count, (m, shift, inp.zero_point, out.zero_point)
    if inp.zero_point == out.zero_point and inp.scale == out.scale:
        return _SAME, red, base, count, None
    scale = _f32(inp.scale / out.scale)
    bias = _f32(-inp.zero_point * scale)
    return _FLOAT, red, base, count, (scale, bias, out.zero_point)


def _offsets(dims, strides):
    from array import array
    offs = array("i", [0])
    for k in range(len(dims)):
        offs = array("i", [o + i * strides[k] for o in offs for i in range(dims[k])])
    return offs


def eval_mean(ctx, op, data):
    path, red, base, count, p = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    for j in range(len(base)):
        b = base[j]
        acc = 0
        for o in red:
            x = src[b + o]
            acc += x - 256 if x > 127 else x
        if path == _SPECIAL:
            m, shift, zi, zo = p
            acc = quant.mbqm(acc - zi * count, m, shift)
            half = count // 2
            # C's truncating division after the rounding offset.
            acc = (acc + half) // count if acc > 0 else -((-acc + half) // count)
            y = acc + zo
        elif path == _SAME:
            y = acc // count if acc >= 0 else -((-acc) // count)  # C's truncation
        else:
            scale, bias, zo = p
            mean = _f32(_f32(acc) / count)
            y = _round(_f32(_f32(mean * scale) + bias)) + zo
        dst[j] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
