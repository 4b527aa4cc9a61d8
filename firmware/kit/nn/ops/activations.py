# RELU, RELU6 and LEAKY_RELU on int8, and the table kernel every int8
# activation shares (SOFTMAX: softmax.py; LOGISTIC, TANH: sigmoid.py;
# HARD_SWISH: hard_swish.py). Each maps one int8 input value to one int8
# output value, so prepare runs TFLM's exact integer arithmetic once for all
# 256 inputs and eval is a table lookup: bit-exact by construction, and fast.
import micropython
from micropython import const
from .. import schema as S
from .. import errors
from .. import quant

# LeakyReluOptions slots (tensorflow/lite/schema/schema.fbs)
_LEAKY_ALPHA = const(0)


def unary(op):
    if len(op.inputs) < 1 or not op.outputs or op.inputs[0] is None:
        raise errors.bad_shape(op, "needs one input and one output")
    inp, out = op.inputs[0], op.outputs[0]
    for t in (inp, out):
        if t.type != S.INT8:
            raise errors.bad_type(op, t)
    if inp.size != out.size:
        raise errors.bad_shape(op, "input and output sizes differ")
    return inp, out


def tabulate(fn):
    # 256-byte table indexed by the input's raw byte (x & 0xFF).
    lut = bytearray(256)
    for x in range(-128, 128):
        y = fn(x)
        lut[x & 0xFF] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
    return lut


@micropython.viper
def lookup(src: ptr8, dst: ptr8, n: int, lut: ptr8):
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
    x = ctx.buffer(op.inputs[0])
    lookup(x, ctx.buffer(op.outputs[0]), len(x), lut)


def _ratio(a, b, bits=53):
    return quant.divide(quant.exact(a), quant.exact(b), bits)


def prepare_relu(ctx, op):
    inp, out = unary(op)
    return _relu_table(inp, out)


def prepare_relu6(ctx, op):
    # TFLM's Relu6 on int8 clamps in the input's scale, without rescaling.
    inp, out = unary(op)
    zero = inp.zero_point
    six = _round_f32(quant.divide(quant.exact(6.0), quant.exact(inp.scale), 24)) + zero
    six = -128 if six < -128 else 127 if six > 127 else six
    return tabulate(lambda x: zero if x < zero else six if x > six else x)


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
    return tabulate(lambda x: min(hi, max(lo, zo + quant.mbqm(x - zi, m, shift))))


def prepare_leaky_relu(ctx, op):
    inp, out = unary(op)
    alpha = op.options.float32(_LEAKY_ALPHA) if op.options else 0.0
    # TFLM multiplies and divides these scales in float32.
    a = quant.divide(quant.multiply(quant.exact(inp.scale), quant.exact(alpha), 24), quant.exact(out.scale), 24)
    ma, sa = quant.quantize_multiplier(a)
    mi, si = quant.quantize_multiplier(_ratio(inp.scale, out.scale, 24))
    zi, zo = inp.zero_point, out.zero_point

    def leaky(x):
        v = x - zi
        return zo + (quant.mbqm(v, mi, si) if v >= 0 else quant.mbqm(v, ma, sa))
    return tabulate(leaky)
