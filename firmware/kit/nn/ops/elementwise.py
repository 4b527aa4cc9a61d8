# ADD, SUB, MUL on int8 with broadcasting, as TFLM's reference integer kernels.
# ADD/SUB: each input is offset, shifted left by 20 and rescaled by its own
# multiplier; that depends on one int8 value only, so prepare tabulates it
# (256 int32 per input; SUB stores the second table negated). MUL tabulates
# the zero-point offsets. Eval sums (or multiplies) the two tables' entries
# into a small block of int32 accumulators, and quant.requantize
# applies the output multiplier, zero point and fused-activation clamp.
from micropython import const
import micropython
from array import array
from .. import schema as S
from .. import errors
from .. import quant

# AddOptions, SubOptions, MulOptions slots (tensorflow/lite/schema/schema.fbs)
_ARITH_ACTIVATION = const(0)

_CHUNK = const(128)  # accumulators per requantize call
_LEFT_SHIFT = const(20)  # TFLM's int8 ADD/SUB headroom


class _Data:
    def __init__(self, lut1, lut2, params, clamp, runs, multiply):
        self.lut1 = lut1
        self.lut2 = lut2
        self.params = params  # quant.channel_params of the output multiplier
        self.clamp = clamp
        self.runs = runs  # (outer dims, strides1, strides2, inner, step1, step2)
        self.multiply = multiply
        # Kept with the op (as TFLM keeps op data outside the planned arena)
        # so an ADD costs the arena nothing beyond its tensors.
        self.acc = array("i", bytes(4 * _CHUNK))


def _table(fn):
    t = array("i", bytes(4 * 256))
    for x in range(-128, 128):
        t[x & 0xFF] = fn(x)
    return t


def _check(op):
    if len(op.inputs) < 2 or None in op.inputs[:2] or not op.outputs:
        raise errors.bad_shape(op, "needs two inputs and one output")
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    for t in (a, b, out):
        if t.type != S.INT8:
            raise errors.bad_type(op, t)
    return a, b, out


def _broadcast(op, a, b, out):
    # Collapse the broadcast to (outer dims, outer strides per input, inner
    # run length, inner step per input), merging dims where nothing changes.
    rank = max(len(a.shape), len(b.shape), len(out.shape))
    sa = (1,) * (rank - len(a.shape)) + tuple(a.shape)
    sb = (1,) * (rank - len(b.shape)) + tuple(b.shape)
    so = (1,) * (rank - len(out.shape)) + tuple(out.shape)
    dims = []  # [size, a varies, b varies]
    for k in range(rank):
        d = max(sa[k], sb[k])
        if sa[k] not in (1, d) or sb[k] not in (1, d) or so[k] != d:
            raise errors.bad_shape(op, "shapes %s and %s do not broadcast to %s" % (a.shape, b.shape, out.shape))
        if d == 1:
            continue
        va, vb = sa[k] == d, sb[k] == d
        if dims and dims[-1][1] == va and dims[-1][2] == vb:
            dims[-1][0] *= d
        else:
            dims.append([d, va, vb])
    if not dims:
        dims = [[1, True, True]]
    inner, ia, ib = dims.pop()
    outer, stride_a, stride_b = [], [], []
    run_a, run_b = (inner if ia else 1), (inner if ib else 1)
    for d, va, vb in reversed(dims):
        outer.insert(0, d)
        stride_a.insert(0, run_a if va else 0)
        stride_b.insert(0, run_b if vb else 0)
        run_a *= d if va else 1
        run_b *= d if vb else 1
    return outer, stride_a, stride_b, inner, (1 if ia else 0), (1 if ib else 0)


def _finish(ctx, op, out, lut1, lut2, m, shift, activation, multiply):
    lo, hi = quant.activation_range(activation, out.scale, out.zero_point)
    params = quant.channel_params([m], [shift])
    clamp = quant.clamp_words(out.zero_point, lo, hi)
    a, b = op.inputs[0], op.inputs[1]
    return _Data(lut1, lut2, params, clamp, _broadcast(op, a, b, out), multiply)


def _add_sub(ctx, op, sign):
    a, b, out = _check(op)
    # twice_max_input_scale = 2 * max(s1, s2): exact; ADD divides in double,
    # SUB in float32 (as each TFLM kernel does).
    bits = 53 if sign > 0 else 24
    twice = quant.multiply(quant.exact(max(a.scale, b.scale)), (1, 1))
    m1, s1 = quant.quantize_multiplier(quant.divide(quant.exact(a.scale), twice, bits))
    m2, s2 = quant.quantize_multiplier(quant.divide(quant.exact(b.scale), twice, bits))
    mo, so = quant.quantize_multiplier(quant.divide(twice, quant.multiply(quant.exact(out.scale), (1, _LEFT_SHIFT)), bits))
    if so > 0:  # TFLM's QuantizeMultiplierSmallerThanOneExp aborts on 1 or more
        raise errors.bad_shape(op, "input scale %r is too large for output scale %r" % (max(a.scale, b.scale), out.scale))
    za, zb = a.zero_point, b.zero_point
    lut1 = _table(lambda x: quant.mbqm((x - za) << _LEFT_SHIFT, m1, s1))
    lut2 = _table(lambda x: sign * quant.mbqm((x - zb) << _LEFT_SHIFT, m2, s2))
    act = op.options.int8(_ARITH_ACTIVATION) if op.options else 0
    return _finish(ctx, op, out, lut1, lut2, mo, so, act, False)


def prepare_add(ctx, op):
    return _add_sub(ctx, op, 1)


def prepare_sub(ctx, op):
    return _add_sub(ctx, op, -1)


def prepare_mul(ctx, op):
    a, b, out = _check(op)
    real = quant.divide(quant.multiply(quant.exact(a.scale), quant.exact(b.scale)), quant.exact(out.scale))
    m, shift = quant.quantize_multiplier(real)
    za, zb = a.zero_point, b.zero_point
    lut1 = _table(lambda x: x - za)
    lut2 = _table(lambda x: x - zb)
    act = op.options.int8(_ARITH_ACTIVATION) if op.options else 0
    return _finish(ctx, op, out, lut1, lut2, m, shift, act, True)


@micropython.viper
def _combine(a: ptr8, ia: int, sa: int, b: ptr8, ib: int, sb: int, lut1: ptr32, lut2: ptr32, acc: ptr32, n: int,
             mul: int):
    # n values from a[ia::sa] and b[ib::sb] (offsets, not slices: no
    # memoryview made per chunk at each invoke).
    i = 0
    if mul:
        while i < n:
            acc[i] = lut1[a[ia]] * lut2[b[ib]]
            ia += sa
            ib += sb
            i += 1
    else:
        while i < n:
            acc[i] = lut1[a[ia]] + lut2[b[ib]]
            ia += sa
            ib += sb
            i += 1


def _run(d, acc, a, oa, sa, b, ob, sb, out, oo, n):
    # One inner run of n outputs from a[oa::sa] and b[ob::sb] to out[oo:].
    requantize = quant.requantize
    while n > 0:
        k = n if n < _CHUNK else _CHUNK
        _combine(a, oa, sa, b, ob, sb, d.lut1, d.lut2, acc, k, d.multiply)
        requantize(acc, out, oo, k, 1, 1, d.params, 0, d.clamp)  # k rows of one channel
        oa += k * sa
        ob += k * sb
        oo += k
        n -= k


def eval_add(ctx, op, d):
    # Also SUB and MUL: the tables and the `multiply` flag tell them apart.
    a = ctx.buffer(op.inputs[0])
    b = ctx.buffer(op.inputs[1])
    out = ctx.buffer(op.outputs[0])
    acc = d.acc
    outer, st_a, st_b, inner, step_a, step_b = d.runs
    if not outer:
        _run(d, acc, a, 0, step_a, b, 0, step_b, out, 0, inner)
        return
    idx = [0] * len(outer)
    oo = 0
    last = len(outer) - 1
    while True:
        oa = ob = 0
        for k in range(len(outer)):
            oa += idx[k] * st_a[k]
            ob += idx[k] * st_b[k]
        _run(d, acc, a, oa, step_a, b, ob, step_b, out, oo, inner)
        oo += inner
        k = last
        while k >= 0:
            idx[k] += 1
            if idx[k] < outer[k]:
                break
            idx[k] = 0
            k -= 1
        if k < 0:
            return


eval_mul = eval_add
