# SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH on int8.
# Every one of them maps each int8 input value to one int8 output value
# (softmax does so per row, after subtracting the row's max), so prepare runs
# TFLM's exact integer arithmetic once for all 256 inputs and eval is a table
# lookup: bit-exact by construction and fast.
import micropython
from .. import schema as S
from .. import errors
from .. import quant


def _unary(op):
    if len(op.inputs) < 1 or not op.outputs or op.inputs[0] is None:
        raise errors.bad_shape(op, "needs one input and one output")
    inp, out = op.inputs[0], op.outputs[0]
    for t in (inp, out):
        if t.type != S.INT8:
            raise errors.bad_type(op, t)
    if inp.size != out.size:
        raise errors.bad_shape(op, "input and output sizes differ")
    return inp, out


def _table(fn):
    # 256-byte table indexed by the input's raw byte (x & 0xFF).
    lut = bytearray(256)
    for x in range(-128, 128):
        y = fn(x)
        lut[x & 0xFF] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
    return lut


@micropython.viper
def _lookup(src: ptr8, dst: ptr8, n: int, lut: ptr8):
    i = 0
    n4 = n - 3
    while i < n4:
        dst[i] = lut[src[i]]
        dst[i + 1] = lut[src[i + 1]]
        dst[i + 2] = lut[src[i + 2]]
        dst[i + 3] = lut[src[i + 3]]
        i += 4
    while i < n:
        dst[i] = lut[src[i]]
        i += 1


def eval_lut(ctx, op, lut):
    inp = op.inputs[0]
    _lookup(ctx.buffer(inp), ctx.buffer(op.outputs[0]), inp.size, lut)


def _ratio(a, b, bits=53):
    return quant.divide(quant.exact(a), quant.exact(b), bits)


def prepare_relu(ctx, op):
    inp, out = _unary(op)
    return _relu_table(inp, out)


def prepare_relu6(ctx, op):
    # TFLM's Relu6 on int8 clamps in the input's scale, without rescaling.
    inp, out = _unary(op)
    zero = inp.zero_point
    six = _round_f32(quant.divide(quant.exact(6.0), quant.exact(inp.scale), 24)) + zero
    six = -128 if six < -128 else 127 if six > 127 else six
    return _table(lambda x: zero if x < zero else six if x > six else x)


def _round_f32(v):
    # std::round of an exact (mantissa, exponent) value.
    m, e = v
    if e >= 0:
        return m << e
    mag = (abs(m) + (1 << (-e - 1))) >> -e
    return -mag if m < 0 else mag


def _relu_table(inp, out):
    m, shift = quant.quantize_multiplier(_ratio(inp.scale, out.scale))
    lo, hi = quant.activation_range(S.ACT_RELU, out.scale, out.zero_point)
    zi, zo = inp.zero_point, out.zero_point
    return _table(lambda x: min(hi, max(lo, zo + quant.mbqm(x - zi, m, shift))))


def prepare_leaky_relu(ctx, op):
    inp, out = _unary(op)
    alpha = op.options.float32(S.LEAKY_ALPHA) if op.options else 0.0
    # TFLM multiplies and divides these scales in float32.
    a = quant.divide(quant.multiply(quant.exact(inp.scale), quant.exact(alpha), 24), quant.exact(out.scale), 24)
    ma, sa = quant.quantize_multiplier(a)
    mi, si = quant.quantize_multiplier(_ratio(inp.scale, out.scale, 24))
    zi, zo = inp.zero_point, out.zero_point

    def leaky(x):
        v = x - zi
        return zo + (quant.mbqm(v, mi, si) if v >= 0 else quant.mbqm(v, ma, sa))
    return _table(leaky)


def _radius(integer_bits, left_shift):
    # CalculateInputRadius: floor(((1 << bits) - 1) * 2**(31 - bits) / 2**shift).
    v = ((1 << integer_bits) - 1) << (31 - integer_bits)
    return v >> left_shift if left_shift >= 0 else v << -left_shift


def _sigmoid_params(op, inp, out, zero_point, scale):
    if out.zero_point != zero_point or out.scale != scale:
        raise errors.unsupported(op, "output quantization (needs scale %g, zero point %d)" % (scale, zero_point))
    m, shift = quant.quantize_multiplier(quant.multiply(quant.exact(inp.scale), (1, 27)))
    return m, shift, _radius(4, shift)


def prepare_logistic(ctx, op):
    from .fixedpoint import logistic, rdbpot
    inp, out = _unary(op)
    m, shift, radius = _sigmoid_params(op, inp, out, -128, 1.0 / 256)
    zi = inp.zero_point

    def f(x):
        v = x - zi
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return rdbpot(logistic(quant.mbqm(v, m, shift), 4), 23) - 128
    return _table(f)


def prepare_tanh(ctx, op):
    from .fixedpoint import tanh, rdbpot
    inp, out = _unary(op)
    m, shift, radius = _sigmoid_params(op, inp, out, 0, 1.0 / 128)
    zi = inp.zero_point

    def f(x):
        v = x - zi
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return rdbpot(tanh(quant.mbqm(v, m, shift), 4), 24)
    return _table(f)


def prepare_hard_swish(ctx, op):
    from .hard_swish import table
    inp, out = _unary(op)
    return _table(table(inp, out))


def prepare_softmax(ctx, op):
    from .softmax import prepare
    inp, out = _unary(op)
    return prepare(op, inp, out)


def eval_softmax(ctx, op, data):
    from .softmax import run
    run(ctx.buffer(op.inputs[0]), ctx.buffer(op.outputs[0]), data)
