# DEPTHWISE_CONV_2D, bit-exact with TFLM's reference DepthwiseConvPerChannel
# (int8, int32 bias, any stride, padding, dilation and depth multiplier).
#
# Output channel o = c * multiplier + m reads input channel c only. For each
# output row we copy the input rows its taps read into a strip, as
# x' = x + 128 (an unsigned byte), with x' = in_zp + 128 where a tap falls
# outside the image. TFLM skips those taps; here they add (x - in_zp) * w = 0,
# and the offset folds into the bias once, at prepare:
#   sum((x - in_zp) * w) = sum(x' * w) - (in_zp + 128) * sum(w)
# so every output is a plain dot product over the same tap offsets, with no
# bounds checks, four output channels at a time in registers.
import micropython
from micropython import const
from .. import errors
from .. import quant
from .conv import window, folded_bias, check_bias, channel_scales, set_clamp, addressable, in_place_bias

# DepthwiseConv2DOptions slots (tensorflow/lite/schema/schema.fbs)
_DW_PADDING = const(0)
_DW_STRIDE_W = const(1)
_DW_STRIDE_H = const(2)
_DW_MULTIPLIER = const(3)
_DW_ACTIVATION = const(4)
_DW_DILATION_W = const(5)
_DW_DILATION_H = const(6)

# The words of an op's data (one array('i')): the clamp words that
# quant.requantize_rows reads, the geometry the kernels read, what eval alone
# needs, and last each tap's byte offset in the strip.
_IN_H = const(4)
_IN_W = const(5)
_IN_C = const(6)
_OUT_W = const(7)
_STRIDE_H = const(8)
_STRIDE_W = const(9)
_PAD_H = const(10)
_PAD_W = const(11)
_MULT = const(12)  # depth multiplier
_ZQ = const(13)  # x' of padding: in_zp + 128
_OUT_C = const(14)
_STRIP_H = const(15)  # input rows one output row reads: (k_h - 1) * dil_h + 1
_STRIP_W = const(16)  # input columns it reads, padding included
_TAPS = const(17)  # k_h * k_w
_OUT_H = const(18)
_BATCHES = const(19)
_IN_BATCH = const(20)  # bytes of one input image
_OUT_BATCH = const(21)  # bytes of one output image
# The op's scratch: [accumulators of one output row][folded bias][strip].
_ACC_BYTES = const(22)
_FOLD_BYTES = const(23)  # the bias folded at each invoke, or 0 (kept folded in the data)
_BIAS_AT = const(24)  # where the kernel finds the bias: in scratch, or 0 in the folded bias
_STRIP_AT = const(25)
_TAP0 = const(26)

_SLOTS = (_DW_PADDING, _DW_STRIDE_W, _DW_STRIDE_H, _DW_ACTIVATION, _DW_DILATION_W, _DW_DILATION_H)


def prepare(ctx, op):
    x, filt, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias, activation, stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_h, pad_w = window(op, _SLOTS, 3)
    batches, in_h, in_w, in_c = x.shape
    _, k_h, k_w, out_c = filt.shape
    if in_c <= 0 or out_c % in_c:
        raise errors.bad_shape(op, "%d output channels from %d input channels" % (out_c, in_c))
    # tflite-micro computes with the option (0 refused); the engine with the shapes: they must agree.
    mult = op.options.int32(_DW_MULTIPLIER) if op.options is not None else 0
    if mult != out_c // in_c:
        raise errors.bad_shape(op, "depth multiplier %d for %d output channels from %d" % (mult, out_c, in_c))
    from array import array
    strip_h = (k_h - 1) * dil_h + 1
    strip_w = (out_w - 1) * stride_w + (k_w - 1) * dil_w + 1
    taps = [(ky * dil_h * strip_w + kx * dil_w) * in_c for ky in range(k_h) for kx in range(k_w)]
    words = array("i", [0] * _IN_H + [
        in_h, in_w, in_c, out_w, stride_h, stride_w, pad_h, pad_w, out_c // in_c, x.zero_point + 128, out_c,
        strip_h, strip_w, k_h * k_w, out_h, batches, in_h * in_w * in_c, out_h * out_w * out_c,
        4 * out_w * out_c, 0, 0, 0] + taps)
    # The op's data, one tuple: (words, the folded bias as int32 words or
    # None when folded at each invoke into the scratch, params).
    # The filter is [1][k_h][k_w][out_c]: per-channel sums are column sums.
    folded = None
    if addressable(ctx):
        check_bias(bias, out_c)
        words[_FOLD_BYTES] = 4 * out_c
        words[_BIAS_AT] = words[_ACC_BYTES]
    else:
        folded = folded_bias(ctx, bias, filt, out_c, 0, x.zero_point + 128,
                             lambda w, out: _column_sums(w, k_h * k_w, out_c, out))
    words[_STRIP_AT] = words[_ACC_BYTES] + words[_FOLD_BYTES]
    params = quant.conv_params(x.scale, channel_scales(op, filt, out_c), y.scale, out_c, ctx.keep)
    set_clamp(words, activation, y)
    ctx.scratch(words[_STRIP_AT] + strip_h * strip_w * in_c)
    return words, folded, params


@micropython.viper
def fold_columns(w: ptr8, rows: int, n: int, b: ptr8, has_bias: int, offset: int, out: ptr32, at: int):
    # out[j] = bias[j] - offset * sum over rows of the signed byte w[r * n + j]
    # (low 32 bits), from byte `at` of out: conv.fold_rows() for a [rows][n]
    # filter's columns.
    out = ptr32(uint(out) + at)
    end = rows * n
    j = 0
    while j < n:
        s = 0
        i = j
        while i < end:
            s += w[i] ^ 128
            i += n
        v = 0
        if has_bias:
            k = j << 2
            v = b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)
        out[j] = v - offset * (s - (rows << 7))
        j += 1


@micropython.viper
def _column_sums(w: ptr8, rows: int, n: int, out: ptr32):
    # out[j] = sum over rows of the signed byte w[r * n + j].
    i = 0
    end = rows * n
    while i < end:
        j = i % n
        out[j] = out[j] + ((w[i] ^ 128) - 128)
        i += 1


@micropython.viper
def fill_strip(sp: ptr8, x: ptr8, g: ptr32, oy: int):
    # The input rows output row oy reads, as x' = x + 128, padded with x' of
    # the zero point where they fall outside the image; sp: the op's scratch.
    sp = ptr8(uint(sp) + g[_STRIP_AT])
    in_h = g[_IN_H]
    in_w = g[_IN_W]
    in_c = g[_IN_C]
    zq = g[_ZQ]
    strip_w = g[_STRIP_W]
    x0 = 0 - g[_PAD_W]
    # Columns [left, right) of the strip hold image columns.
    left = 0 - x0
    if left < 0:
        left = 0
    if left > strip_w:
        left = strip_w
    right = in_w - x0
    if right > strip_w:
        right = strip_w
    if right < left:
        right = left
    row_bytes = strip_w * in_c
    iy = oy * g[_STRIDE_H] - g[_PAD_H]
    end_row = iy + g[_STRIP_H]
    q = 0
    while iy < end_row:
        if uint(iy) < uint(in_h):
            end = q + left * in_c
            while q < end:
                sp[q] = zq
                q += 1
            end = q + (right - left) * in_c
            src = (iy * in_w + x0 + left) * in_c - q
            while q < end:
                sp[q] = x[src + q] ^ 128
                q += 1
            end = q + (strip_w - right) * in_c
            while q < end:
                sp[q] = zq
                q += 1
        else:
            end = q + row_bytes
            while q < end:
                sp[q] = zq
                q += 1
        iy += 1


@micropython.viper
def depthwise_row(xp: ptr8, wp: ptr8, a: int, sp: ptr8, w: ptr8, acc: ptr32,
                  bias: ptr32, g: ptr32):
    # acc[ox * out_c + o] for one output row from its strip. xp, wp, a: the
    # hot loop's variables, first so that viper keeps them in registers.
    # sp and bias: at their offsets in g from what is passed.
    sp = ptr8(uint(sp) + g[_STRIP_AT])
    bias = ptr32(uint(bias) + g[_BIAS_AT])
    out_w = g[_OUT_W]
    out_c = g[_OUT_C]
    mult = g[_MULT]
    n_taps = g[_TAPS]
    step = g[_STRIDE_W] * g[_IN_C]
    by4 = out_c - (out_c & 3)
    if mult != 1 and mult & 3:
        by4 = 0  # four outputs read one input channel only when 4 | mult
    i = 0
    base = uint(sp)
    ox = 0
    while ox < out_w:
        o = 0
        while o < by4:
            a = bias[o]
            a1 = bias[o + 1]
            a2 = bias[o + 2]
            a3 = bias[o + 3]
            wp = ptr8(uint(w) + o)
            t = 0
            if mult == 1:
                while t < n_taps:
                    xp = ptr8(base + g[_TAP0 + t] + o)
                    a += xp[0] * ((wp[0] ^ 128) - 128)
                    a1 += xp[1] * ((wp[1] ^ 128) - 128)
                    a2 += xp[2] * ((wp[2] ^ 128) - 128)
                    a3 += xp[3] * ((wp[3] ^ 128) - 128)
                    wp = ptr8(uint(wp) + out_c)
                    t += 1
            else:
                c = o // mult
                while t < n_taps:
                    xp = ptr8(base + g[_TAP0 + t] + c)
                    v = xp[0]
                    a += v * ((wp[0] ^ 128) - 128)
                    a1 += v * ((wp[1] ^ 128) - 128)
                    a2 += v * ((wp[2] ^ 128) - 128)
                    a3 += v * ((wp[3] ^ 128) - 128)
                    wp = ptr8(uint(wp) + out_c)
                    t += 1
            acc[i] = a
            acc[i + 1] = a1
            acc[i + 2] = a2
            acc[i + 3] = a3
            i += 4
            o += 4
        while o < out_c:
            c = o // mult
            a = bias[o]
            wp = ptr8(uint(w) + o)
            t = 0
            while t < n_taps:
                xp = ptr8(base + g[_TAP0 + t] + c)
                a += xp[0] * ((wp[0] ^ 128) - 128)
                wp = ptr8(uint(wp) + out_c)
                t += 1
            acc[i] = a
            i += 1
            o += 1
        base += step
        ox += 1


def eval(ctx, op, d):
    x = ctx.buffer(op.inputs[0])
    y = ctx.buffer(op.outputs[0])
    words, bias, params = d
    s = ctx.scratch_buf  # [accumulators][folded bias][strip]
    filt = op.inputs[1]
    # In place, or streamed: read whole (depthwise filters are small).
    w = ctx.buffer(filt) if addressable(ctx) else ctx.weights(filt, 0, filt.size)
    if words[_FOLD_BYTES]:
        bias_bytes = in_place_bias(ctx, op)
        fold_columns(w, words[_TAPS], words[_OUT_C], bias_bytes if bias_bytes is not None else w,
                     bias_bytes is not None, words[_ZQ], s, words[_BIAS_AT])
        bias = s
    out_w = words[_OUT_W]
    out_c = words[_OUT_C]
    batches = words[_BATCHES]
    in_batch = words[_IN_BATCH]
    out_batch = words[_OUT_BATCH]
    row_bytes = out_w * out_c
    requantize = quant.requantize_rows
    for b in range(batches):
        xb = x[b * in_batch:(b + 1) * in_batch] if batches > 1 else x
        at = b * out_batch
        for oy in range(words[_OUT_H]):
            fill_strip(s, xb, words, oy)
            depthwise_row(s, w, 0, s, w, s, bias, words)
            requantize(0, 0, s, s, y, at + oy * row_bytes, out_w, out_c, out_c, params, 0, words)
