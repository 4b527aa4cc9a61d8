# FULLY_CONNECTED, bit-exact with TFLM's reference FullyConnected and
# FullyConnectedPerChannel (int8, optional int32 bias).
#
# A fully connected layer over `batches` rows of `depth` values is a 1x1
# convolution of a 1 x batches image with `depth` channels, so it shares
# conv.py's prepare and eval (the same folded bias and w ^ 128: see there).
# Its row kernel reads the input in place, as x' = x ^ 128 on the fly,
# instead of copying it: an input row can be large, and is read in order. The
# multiplier differs too: per-tensor weights take TFLM's float32 product of
# the input and filter scales (GetQuantizedConvolutionMultipler),
# per-channel ones the conv formula.
from array import array
import micropython
from micropython import const
from .. import errors
from .. import quant
from . import conv

# FullyConnectedOptions slots (tensorflow/lite/schema/schema.fbs)
_FC_ACTIVATION = const(0)
_FC_WEIGHTS_FORMAT = const(1)

# conv.py's data words that fc_row reads (conv._IN_C and conv._OUT_W).
_DEPTH = const(6)
_BATCHES = const(7)


def _elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def prepare(ctx, op):
    x, filt = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    y = op.outputs[0]
    conv.check_weights(op, filt, bias)
    if len(filt.shape) != 2:
        raise errors.bad_shape(op, "weights shape %s is not 2-D" % list(filt.shape))
    o = op.options
    activation = o.uint8(_FC_ACTIVATION) if o else 0
    if o and o.uint8(_FC_WEIGHTS_FORMAT):
        raise errors.unsupported(op, "shuffled weights format")
    out_c, depth = filt.shape
    batches = _elements(y.shape) // out_c if out_c else 0
    if out_c <= 0 or depth <= 0 or batches * out_c != _elements(y.shape) or _elements(x.shape) != batches * depth:
        raise errors.bad_shape(op, "input %s, weights %s and output %s do not match" % (
            list(x.shape), list(filt.shape), list(y.shape)))
    if filt.scales is not None:
        params = quant.conv_params(x.scale, conv.channel_scales(op, filt, out_c), y.scale, out_c, ctx.keep)
    else:
        if filt.zero_point:
            raise errors.unsupported(op, "weights zero point %d (int8 weights are symmetric)" % filt.zero_point)
        m, shift = quant.fc_multiplier(x.scale, filt.scale, y.scale)
        params = quant.channel_params((m,), (shift,))
    # A 1 x batches image of depth channels, a 1x1 kernel, no padding.
    words = conv.conv_words((1, batches, depth, batches, 1, 1, 1, 1, 1, 1, 0, 0, depth, out_c, x.zero_point + 128,
                             1, out_c, 1, batches * depth, batches * out_c, depth))
    return conv.finish(ctx, op, words, filt, bias, y, params, activation, x.zero_point, fc_row, 0, False)


@micropython.viper
def fc_row(px: ptr8, pw: ptr8, a: int, x: ptr8, w: ptr8, acc: ptr32, patch: ptr8,
           bias: ptr32, g: ptr32, oy: int, k0: int, kn: int):
    # acc[b * kn + j] for every batch row b and outputs k0..k0+kn (w holds just
    # their rows); conv_row's arguments, without the patch and output row.
    depth = g[_DEPTH]
    batches = g[_BATCHES]
    n8 = depth - (depth & 7)
    i = 0
    b = 0
    while b < batches:
        row = uint(x) + b * depth
        # The weights read as w ^ 128 = w + 128: 128 * sum(x') corrects it.
        px = ptr8(row)
        a = 0
        end = row + depth
        while uint(px) < end:
            a += px[0] ^ 128
            px = ptr8(uint(px) + 1)
        correction = a << 7
        k = k0
        while k < k0 + kn:
            px = ptr8(row)
            pw = ptr8(uint(w) + (k - k0) * depth)
            a = bias[k] - correction
            end = row + n8
            while uint(px) < end:
                a += ((px[0] ^ 128) * (pw[0] ^ 128) + (px[1] ^ 128) * (pw[1] ^ 128)
                      + (px[2] ^ 128) * (pw[2] ^ 128) + (px[3] ^ 128) * (pw[3] ^ 128)
                      + (px[4] ^ 128) * (pw[4] ^ 128) + (px[5] ^ 128) * (pw[5] ^ 128)
                      + (px[6] ^ 128) * (pw[6] ^ 128) + (px[7] ^ 128) * (pw[7] ^ 128))
                px = ptr8(uint(px) + 8)
                pw = ptr8(uint(pw) + 8)
            end = row + depth
            while uint(px) < end:
                a += (px[0] ^ 128) * (pw[0] ^ 128)
                px = ptr8(uint(px) + 1)
                pw = ptr8(uint(pw) + 1)
            acc[i] = a
            i += 1
            k += 1
        b += 1


eval = conv.run
