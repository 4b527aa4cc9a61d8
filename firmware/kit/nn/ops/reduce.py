# MEAN on int8, as TFLM's QuantizedMeanOrSum (reference/reduce.h), the path
# TFLM takes for every int8 MEAN: integer sums over the reduced axes, minus
# the input zero point, then one MultiplyByQuantizedMultiplier whose
# multiplier has the division by the element count folded in.
import struct
from .. import schema as S
from .. import errors
from .. import quant


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
    if count:
        # Fold 1/count into the multiplier, keeping the shift in range.
        k = min(len(bin(count)) - 3, 32, 31 + shift)
        m = (m << k) // count if k >= 0 else (m >> -k) // count
        shift -= k
    return red, base, count, m, shift, inp.zero_point, out.zero_point


def _offsets(dims, strides):
    from array import array
    offs = array("i", [0])
    for k in range(len(dims)):
        offs = array("i", [o + i * strides[k] for o in offs for i in range(dims[k])])
    return offs


def eval_mean(ctx, op, data):
    red, base, count, m, shift, zi, zo = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    for j in range(len(base)):
        b = base[j]
        acc = 0
        for o in red:
            x = src[b + o]
            acc += x - 256 if x > 127 else x
        y = quant.mbqm(acc - zi * count, m, shift) + zo if count else 0
        dst[j] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
