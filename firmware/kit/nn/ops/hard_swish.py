# Int8 HARD_SWISH as TFLM's reference_ops::HardSwish: 16-bit fixed point,
# x * relu6(x + 3) / 6 with TFLM's exact rounding and saturation steps.
# Tabulated for the 256 inputs, as the other activations (activations.py).
from .. import quant
from .activations import unary, tabulate, eval_lut  # eval_lut: the registry finds it here
from .fixedpoint import rdbpot

_I16_MIN = -32768
_I16_MAX = 32767


def _sat16(x):
    return _I16_MIN if x < _I16_MIN else _I16_MAX if x > _I16_MAX else x


def _srdhm16(a, b):
    if a == b == _I16_MIN:
        return _I16_MAX
    ab = a * b
    if ab >= 0:
        return (ab + (1 << 14)) >> 15
    return -((-ab + (1 << 14) - 1) >> 15)


def _dhm16(a, b):
    # SaturatingDoublingHighMul: truncating, no rounding nudge.
    if a == b == _I16_MIN:
        return _I16_MAX
    ab = a * b
    return ab >> 15 if ab >= 0 else -((-ab) >> 15)


def _to16(multiplier):
    # DownScaleInt32ToInt16Multiplier.
    if multiplier >= 0x7FFFFFFF - (1 << 15):
        return _I16_MAX
    return (multiplier + (1 << 15)) >> 16


def table(inp, out):
    hires = quant.multiply(quant.exact(inp.scale), (1, -7))  # input_scale / 128, exact
    out_m, out_shift = quant.quantize_multiplier(quant.divide(hires, quant.exact(out.scale), 24))
    relu_m, relu_shift = quant.quantize_multiplier(quant.divide(hires, (3, -15), 24))
    out_m16, relu_m16 = _to16(out_m), _to16(relu_m)
    zi, zo = inp.zero_point, out.zero_point

    def f(x):
        hi_res = (x - zi) * 128
        pre_out = _srdhm16(hi_res, out_m16)
        reluish = hi_res
        if relu_shift > 0:
            reluish = _sat16(reluish << (relu_shift - 1))
        reluish = _srdhm16(reluish, relu_m16)
        if relu_shift > 0:
            reluish = _sat16(reluish << 1)
        elif relu_shift < 0:
            reluish = rdbpot(reluish, -relu_shift)
        reluish = (reluish + (1 << 15)) >> 1
        y = rdbpot(_dhm16(reluish, pre_out), -out_shift) + zo
        return y
    return f


def prepare_hard_swish(ctx, op):
    inp, out = unary(op)
    return tabulate(table(inp, out))
