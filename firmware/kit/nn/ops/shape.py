# Shape ops: SHAPE, PACK, CONCATENATION, PAD, STRIDED_SLICE (RESHAPE,
# SQUEEZE and EXPAND_DIMS, which most models have, are reshape.py's: a
# model does not pay for this module's code to flatten a tensor). Data
# moves as byte slices, so int8 and int32 tensors are handled alike;
# quantization must match where TFLM requires it (the bytes are not
# rescaled).
import struct
from micropython import const
from .. import schema as S
from .. import errors

# ConcatenationOptions slots (tensorflow/lite/schema/schema.fbs)
_CONCAT_AXIS = const(0)
_CONCAT_ACTIVATION = const(1)
# StridedSliceOptions slots (tensorflow/lite/schema/schema.fbs)
_SLICE_BEGIN_MASK = const(0)
_SLICE_END_MASK = const(1)
_SLICE_SHRINK_AXIS_MASK = const(4)
# PackOptions slots (tensorflow/lite/schema/schema.fbs)
_PACK_VALUES_COUNT = const(0)
_PACK_AXIS = const(1)

_TYPES = (S.INT8, S.INT32)


def _elem(op, t):
    if t.type not in _TYPES:
        raise errors.bad_type(op, t)
    return S.TYPE_SIZES[t.type]


def _ints(ctx, op, t):
    # A small constant int32 tensor as a tuple.
    if t is None or not t.is_const or t.type != S.INT32:
        raise errors.unsupported(op, "non-constant or non-int32 parameter tensor")
    raw = bytes(ctx.buffer(t))
    return struct.unpack("<%di" % (len(raw) // 4), raw)


def _same_quant(op, a, b):
    if a.type == S.INT8 and (a.scale != b.scale or a.zero_point != b.zero_point):
        raise errors.unsupported(op, "different input and output quantization")


def prepare_shape(ctx, op):
    inp, out = op.inputs[0], op.outputs[0]
    if out.type != S.INT32:
        raise errors.unsupported(op, "output type (int32 only)")
    if out.size != 4 * len(inp.shape):
        raise errors.bad_shape(op, "output size")
    return struct.pack("<%di" % len(inp.shape), *inp.shape)


def eval_shape(ctx, op, data):
    ctx.buffer(op.outputs[0])[:] = data


def _blocks(op, ins, out, axis, dims):
    # Concatenation along `axis` as (outer count, [bytes per input block]);
    # dims(t) gives each input's size along the axis (1 for PACK).
    rank = len(out.shape)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise errors.bad_shape(op, "axis out of range")
    esize = _elem(op, out)
    outer = 1
    for d in out.shape[:axis]:
        outer *= d
    inner = esize
    for d in out.shape[axis + 1:]:
        inner *= d
    sizes = []
    total = 0
    for t in ins:
        if t is None or t.type != out.type:
            raise errors.bad_shape(op, "inputs must all have the output's type")
        _same_quant(op, t, out)
        n = dims(t, axis) * inner
        if n * outer != t.size:
            raise errors.bad_shape(op, "input %d does not fit the output shape" % t.index)
        sizes.append(n)
        total += n
    if total * outer != out.size:
        raise errors.bad_shape(op, "inputs do not add up to the output")
    return outer, sizes


def prepare_concat(ctx, op):
    axis = op.options.int32(_CONCAT_AXIS) if op.options else 0
    if op.options and op.options.int8(_CONCAT_ACTIVATION):
        raise errors.unsupported(op, "fused activation")
    out = op.outputs[0]
    return _blocks(op, op.inputs, out, axis, lambda t, a: t.shape[a] if a < len(t.shape) else 0)


def prepare_pack(ctx, op):
    # tflite-micro packs values_count inputs, whatever the operator lists.
    if op.options and op.options.int32(_PACK_VALUES_COUNT) != len(op.inputs):
        raise errors.bad_shape(op, "values_count %d for %d inputs" % (op.options.int32(_PACK_VALUES_COUNT), len(op.inputs)))
    axis = op.options.int32(_PACK_AXIS) if op.options else 0
    return _blocks(op, op.inputs, op.outputs[0], axis, lambda t, a: 1)


def eval_concat(ctx, op, data):
    outer, sizes = data
    dst = ctx.buffer(op.outputs[0])
    srcs = [ctx.buffer(t) for t in op.inputs]
    o = 0
    for i in range(outer):
        for k in range(len(sizes)):
            n = sizes[k]
            dst[o:o + n] = srcs[k][i * n:i * n + n]
            o += n


def _odometer(dims):
    # Every index tuple over dims, last dim fastest (as a list of lists).
    idx = [[]]
    for d in dims:
        idx = [i + [k] for i in idx for k in range(d)]
    return idx


def prepare_pad(ctx, op):
    inp, out = op.inputs[0], op.outputs[0]
    esize = _elem(op, inp)
    _same_quant(op, inp, out)
    pads = _ints(ctx, op, op.inputs[1])
    rank = len(inp.shape)
    if len(pads) != 2 * rank or min(pads) < 0:
        raise errors.bad_shape(op, "paddings")
    oshape = tuple(inp.shape[k] + pads[2 * k] + pads[2 * k + 1] for k in range(rank))
    if oshape != tuple(out.shape) or rank == 0:
        raise errors.bad_shape(op, "output shape %s, expected %s" % (out.shape, oshape))
    # Each input row (last dim) lands at one output offset.
    ostr = [esize] * rank
    for k in range(rank - 2, -1, -1):
        ostr[k] = ostr[k + 1] * oshape[k + 1]
    from array import array
    dest = array("i", [sum((i[k] + pads[2 * k]) * ostr[k] for k in range(rank - 1)) + pads[2 * rank - 2] * esize
                       for i in _odometer(inp.shape[:-1])])
    fill = out.zero_point & 0xFF if inp.type == S.INT8 else 0
    if len(op.inputs) > 2 and op.inputs[2] is not None:  # PADV2-style constant_values
        fill = bytes(ctx.buffer(op.inputs[2]))[0] if inp.type == S.INT8 else 0
    return dest, inp.shape[-1] * esize, fill


def eval_pad(ctx, op, data):
    dest, row, fill = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    for i in range(len(dst)):
        dst[i] = fill
    s = 0
    for d in dest:
        dst[d:d + row] = src[s:s + row]
        s += row


def _clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def prepare_strided_slice(ctx, op):
    inp, out = op.inputs[0], op.outputs[0]
    esize = _elem(op, inp)
    _same_quant(op, inp, out)
    begin, end, strides = (_ints(ctx, op, t) for t in op.inputs[1:4])
    o = op.options
    bm, em = (o.int32(_SLICE_BEGIN_MASK), o.int32(_SLICE_END_MASK)) if o else (0, 0)
    shrink = o.int32(_SLICE_SHRINK_AXIS_MASK) if o else 0
    # TFLM ignores the ellipsis and new-axis masks and the offset mode (the
    # converter resolves them); so does this, and the output size check below
    # catches a model that relied on them.
    rank = len(inp.shape)
    if not (len(begin) == len(end) == len(strides) == rank) or 0 in strides:
        raise errors.bad_shape(op, "begin/end/strides")
    ranges = []
    for k in range(rank):
        n, st = inp.shape[k], strides[k]
        # StartForAxis / StopForAxis: masks, negative indices, clamping.
        s = begin[k]
        if bm & (1 << k):
            s = -(1 << 40) if st > 0 else (1 << 40)
        if n == 0:
            s = 0
        elif s < 0:
            s += n
        s = _clamp(s, 0, n) if st > 0 else _clamp(s, -1, n - 1)
        if shrink & (1 << k):
            e = s + 1
        else:
            e = end[k]
            if em & (1 << k):
                e = (1 << 40) if st > 0 else -(1 << 40)
            if n == 0:
                e = 0
            elif e < 0:
                e += n
            e = _clamp(e, 0, n) if st > 0 else _clamp(e, -1, n - 1)
        ranges.append(list(range(s, e, st)))
    count = esize
    for r in ranges:
        count *= len(r)
    if count != out.size:
        raise errors.bad_shape(op, "output has %d bytes, the slice %d" % (out.size, count))
    # tflite-micro checks the shape itself: the slice's lengths, shrunk axes left out.
    shape = tuple(len(ranges[k]) for k in range(rank) if not shrink & (1 << k))
    if shape != out.shape:
        raise errors.bad_shape(op, "output shape %s, expected %s" % (list(out.shape), list(shape)))
    istr = [esize] * rank
    for k in range(rank - 2, -1, -1):
        istr[k] = istr[k + 1] * inp.shape[k + 1]
    from array import array
    srcs = array("i", [0])
    for k in range(rank):
        srcs = array("i", [p + i * istr[k] for p in srcs for i in ranges[k]])
    return srcs, esize


def eval_strided_slice(ctx, op, data):
    srcs, esize = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    o = 0
    for s in srcs:
        dst[o:o + esize] = src[s:s + esize]
        o += esize
