# LOGISTIC and TANH on int8, as TFLM's reference_integer_ops: the input
# rescaled to Q4.27, gemmlowp's fixed-point logistic or tanh, rounded to the
# fixed output scale. Tabulated for the 256 inputs (see activations.py).
from .. import errors
from .. import quant
from .activations import unary, tabulate, eval_lut  # eval_lut: the registry finds it here
from .fixedpoint import logistic, tanh, rdbpot


def _radius(integer_bits, left_shift):
    # CalculateInputRadius: floor(((1 << bits) - 1) * 2**(31 - bits) / 2**shift).
    v = ((1 << integer_bits) - 1) << (31 - integer_bits)
    return v >> left_shift if left_shift >= 0 else v << -left_shift


def _prepare(op, fn, zero_point, scale, out_shift, out_offset):
    # TFLM's int8 LOGISTIC/TANH: inputs beyond the radius saturate; the rest
    # go to Q4.27, through fn, and back by a rounding shift.
    inp, out = unary(op)
    if out.zero_point != zero_point or out.scale != scale:
        raise errors.unsupported(op, "output quantization (needs scale %g, zero point %d)" % (scale, zero_point))
    m, shift = quant.quantize_multiplier(quant.multiply(quant.exact(inp.scale), (1, 27)))
    radius = _radius(4, shift)
    zi = inp.zero_point

    def f(x):
        v = x - zi
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return rdbpot(fn(quant.mbqm(v, m, shift), 4), out_shift) + out_offset
    return tabulate(f)


def prepare_logistic(ctx, op):
    return _prepare(op, logistic, -128, 1.0 / 256, 23, -128)


def prepare_tanh(ctx, op):
    return _prepare(op, tanh, 0, 1.0 / 128, 24, 0)
