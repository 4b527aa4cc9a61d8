# DEPTHWISE_CONV_2D, bit-exact with TFLM's reference DepthwiseConvPerChannel
# (int8, int32 bias, any stride, padding, dilation and depth multiplier).
#
# Output channel o = c * multiplier + m reads input channel c only. For each
# output pixel the taps inside the image form one rectangle (found once per
# pixel, so the inner loop has no bounds checks); taps outside are skipped,
# as TFLM does. The inner term is TFLM's (x - in_zp) * w, with x kept as
# x + 128 so one xor replaces the sign extension.
import micropython
from micropython import const
from .. import schema as S
from .. import errors
from .. import quant
from .conv import padding

_IN_H = const(0)
_IN_W = const(1)
_IN_C = const(2)
_OUT_W = const(3)
_K_H = const(4)
_K_W = const(5)
_STRIDE_H = const(6)
_STRIDE_W = const(7)
_DIL_H = const(8)
_DIL_W = const(9)
_PAD_H = const(10)
_PAD_W = const(11)
_MULT = const(12)  # depth multiplier
_ZQ = const(13)  # in_zp + 128
_OUT_C = const(14)


class DepthwiseData:
    def __init__(self):
        self.geom = None  # array('i') of the words above
        self.out_h = 0
        self.batches = 1
        self.in_batch = 0
        self.out_batch = 0
        self.bias = None  # array('i'), zeros when the op has no bias
        self.params = None  # quant.channel_params()
        self.clamp = None  # quant.clamp_words()
        self.acc_bytes = 0


def prepare(ctx, op):
    x, filt = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    y = op.outputs[0]
    if len(x.shape) != 4 or len(filt.shape) != 4 or len(y.shape) != 4:
        raise errors.bad_shape(op, "DEPTHWISE_CONV_2D needs 4-D input, filter and output")
    if filt.type != S.INT8 or (bias is not None and bias.type != S.INT32):
        raise errors.unsupported(op, "weights type (int8 filter and int32 bias only)")
    o = op.options
    kind = o.uint8(S.DW_PADDING) if o else S.PADDING_SAME
    stride_w = o.int32(S.DW_STRIDE_W) if o else 1
    stride_h = o.int32(S.DW_STRIDE_H) if o else 1
    activation = o.uint8(S.DW_ACTIVATION) if o else 0
    dil_w = o.int32(S.DW_DILATION_W, 1) if o else 1
    dil_h = o.int32(S.DW_DILATION_H, 1) if o else 1
    batches, in_h, in_w, in_c = x.shape
    _, k_h, k_w, out_c = filt.shape
    if in_c <= 0 or out_c % in_c:
        raise errors.bad_shape(op, "%d output channels from %d input channels" % (out_c, in_c))
    out_h, pad_h = padding(kind, in_h, stride_h, dil_h, k_h)
    out_w, pad_w = padding(kind, in_w, stride_w, dil_w, k_w)
    if y.shape != (batches, out_h, out_w, out_c):
        raise errors.bad_shape(op, "output shape %s, expected %s" % (list(y.shape), [batches, out_h, out_w, out_c]))
    from array import array
    d = DepthwiseData()
    d.geom = array("i", (in_h, in_w, in_c, out_w, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                         pad_h, pad_w, out_c // in_c, x.zero_point + 128, out_c))
    d.out_h, d.batches = out_h, batches
    d.in_batch, d.out_batch = in_h * in_w * in_c, out_h * out_w * out_c
    if bias is not None:
        import struct
        b = ctx.buffer(bias)
        d.bias = array("i", struct.unpack("<%di" % out_c, b[:4 * out_c]))
    else:
        d.bias = array("i", bytes(4 * out_c))
    scales = filt.scales if filt.scales is not None else [filt.scale] * out_c
    if len(scales) != out_c:
        raise errors.bad_shape(op, "%d filter scales for %d output channels" % (len(scales), out_c))
    multipliers, shifts = quant.conv_multipliers(x.scale, scales, y.scale)
    d.params = quant.channel_params(multipliers, shifts)
    lo, hi = quant.activation_range(activation, y.scale, y.zero_point)
    d.clamp = quant.clamp_words(y.zero_point, lo, hi)
    d.acc_bytes = 4 * out_w * out_c
    ctx.scratch(d.acc_bytes)
    return d


@micropython.viper
def depthwise_row(xp: ptr8, wp: ptr8, a: int, x: ptr8, w: ptr8, acc: ptr32,
                  bias: ptr32, g: ptr32, oy: int):
    # acc[ox * out_c + o] for output row oy. xp, wp, a: the hot loop's
    # variables, first so that viper keeps them in registers.
    in_h = g[_IN_H]
    in_w = g[_IN_W]
    in_c = g[_IN_C]
    k_h = g[_K_H]
    k_w = g[_K_W]
    dil_h = g[_DIL_H]
    dil_w = g[_DIL_W]
    mult = g[_MULT]
    zq = g[_ZQ]
    out_c = g[_OUT_C]
    out_w = g[_OUT_W]
    y0 = oy * g[_STRIDE_H] - g[_PAD_H]
    ky0 = 0
    while ky0 < k_h and y0 + ky0 * dil_h < 0:
        ky0 += 1
    ky1 = k_h
    while ky1 > ky0 and y0 + (ky1 - 1) * dil_h >= in_h:
        ky1 -= 1
    x_step = dil_w * in_c
    i = 0
    ox = 0
    while ox < out_w:
        x0 = ox * g[_STRIDE_W] - g[_PAD_W]
        kx0 = 0
        while kx0 < k_w and x0 + kx0 * dil_w < 0:
            kx0 += 1
        kx1 = k_w
        while kx1 > kx0 and x0 + (kx1 - 1) * dil_w >= in_w:
            kx1 -= 1
        taps = kx1 - kx0
        o = 0
        c = 0
        m = 0
        while o < out_c:
            a = bias[o]
            ky = ky0
            while ky < ky1:
                xp = ptr8(uint(x) + ((y0 + ky * dil_h) * in_w + x0 + kx0 * dil_w) * in_c + c)
                wp = ptr8(uint(w) + (ky * k_w + kx0) * out_c + o)
                end = uint(wp) + taps * out_c
                while uint(wp) < end:
                    a += ((xp[0] ^ 128) - zq) * ((wp[0] ^ 128) - 128)
                    xp = ptr8(uint(xp) + x_step)
                    wp = ptr8(uint(wp) + out_c)
                ky += 1
            acc[i] = a
            i += 1
            o += 1
            m += 1
            if m == mult:
                m = 0
                c += 1
        ox += 1


def eval(ctx, op, d):
    x = ctx.buffer(op.inputs[0])
    y = ctx.buffer(op.outputs[0])
    filt = op.inputs[1]
    acc = memoryview(ctx.scratch_buf)[:d.acc_bytes]
    w = ctx.weights(filt, 0, filt.size)
    geom, bias, params, clamp = d.geom, d.bias, d.params, d.clamp
    out_w, out_c = geom[_OUT_W], geom[_OUT_C]
    row_bytes = out_w * out_c
    requantize = quant.requantize
    for b in range(d.batches):
        xb = x[b * d.in_batch:(b + 1) * d.in_batch] if d.batches > 1 else x
        at = b * d.out_batch
        for oy in range(d.out_h):
            depthwise_row(xb, w, 0, xb, w, acc, bias, geom, oy)
            requantize(acc, y, at + oy * row_bytes, out_w, out_c, out_c, params, 0, clamp)
