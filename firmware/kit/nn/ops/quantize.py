# QUANTIZE (float32 -> int8, int8 -> int8 requantize) and DEQUANTIZE
# (int8 -> float32), as TFLM's quantize_common.cc and dequantize_common.cc.
# These sit at a model's edges, so they run once per invoke on small tensors.
import struct
from .. import schema as S
from .. import errors
from .. import quant
from .activations import lookup


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def round_away(v):
    # std::round: half away from zero. int() truncates exactly; adding 0.5
    # first could round up in float32 (the ESP32's floats) just below 0.5.
    q = int(v)
    r = v - q  # exact for |v| < 2**23; beyond, v is already whole
    if r >= 0.5:
        q += 1
    elif r <= -0.5:
        q -= 1
    return q


def _io(op):
    if not op.inputs or op.inputs[0] is None or not op.outputs:
        raise errors.bad_shape(op, "needs an input and an output")
    inp, out = op.inputs[0], op.outputs[0]
    n_in = inp.size // S.TYPE_SIZES.get(inp.type, 1)
    n_out = out.size // S.TYPE_SIZES.get(out.type, 1)
    if n_in != n_out:
        raise errors.bad_shape(op, "input and output element counts differ")
    return inp, out, n_in


def prepare_quantize(ctx, op):
    inp, out, n = _io(op)
    if out.type != S.INT8 or out.scales is not None:
        raise errors.bad_type(op, out)
    if inp.type == S.FLOAT32:
        return None, n, _f32(out.scale), out.zero_point
    if inp.type != S.INT8:
        raise errors.bad_type(op, inp)
    m, shift = quant.quantize_multiplier(quant.divide(quant.exact(inp.scale), quant.exact(out.scale)))
    zi, zo = inp.zero_point, out.zero_point
    lut = bytearray(256)
    for x in range(-128, 128):
        y = quant.mbqm(x - zi, m, shift) + zo
        lut[x & 0xFF] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
    return lut, n, 0, 0


def eval_quantize(ctx, op, data):
    lut, n, scale, zp = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    if lut is not None:
        lookup(src, dst, n, lut)
        return
    for i in range(n):
        # AffineQuantize: round(value / scale) in float32, half away from zero.
        v = _f32(struct.unpack_from("<f", src, 4 * i)[0] / scale)
        q = round_away(v) + zp
        dst[i] = (-128 if q < -128 else 127 if q > 127 else q) & 0xFF


def prepare_dequantize(ctx, op):
    inp, out, n = _io(op)
    if inp.type != S.INT8 or inp.scales is not None:
        raise errors.bad_type(op, inp)
    if out.type != S.FLOAT32:
        raise errors.bad_type(op, out)
    return n, inp.scale, inp.zero_point


def eval_dequantize(ctx, op, data):
    n, scale, zp = data
    src = ctx.buffer(op.inputs[0])
    dst = ctx.buffer(op.outputs[0])
    for i in range(n):
        x = src[i]
        struct.pack_into("<f", dst, 4 * i, scale * ((x - 256 if x > 127 else x) - zp))
