# CONV_2D, bit-exact with TFLM's reference ConvPerChannel (int8, int32 bias).
#
# TFLM accumulates sum((x - in_zp) * w) + bias. We keep the input as
# x' = x + 128 (0..255, an unsigned byte: no sign fix in the inner loop) and
# fold the constant part into the bias once, at prepare:
#   sum((x - in_zp) * w) = sum(x' * w) - (in_zp + 128) * sum(w)
# which is the same integer. Taps outside the image, which TFLM skips, read
# x' = in_zp + 128, whose term (x - in_zp) * w is 0, so every output is one
# plain dot product between an im2col patch and a filter row (contiguous in
# both: the filter is [out_c][k_h][k_w][in_c]). The weights are read as
# w' = w ^ 128 = w + 128 (one xor, no sign extension), which the patch's sum
# corrects once per output: sum(x' * w) = sum(x' * w') - 128 * sum(x').
# FULLY_CONNECTED is the same computation on a 1 x batches "image" and
# shares this module's prepare and eval.
import micropython
from micropython import const
from .. import schema as S
from .. import errors
from .. import quant

# Conv2DOptions slots (tensorflow/lite/schema/schema.fbs)
_CONV_PADDING = const(0)
_CONV_STRIDE_W = const(1)
_CONV_STRIDE_H = const(2)
_CONV_ACTIVATION = const(3)
_CONV_DILATION_W = const(4)
_CONV_DILATION_H = const(5)

# The words of an op's data (one array('i')): first the clamp words that
# quant.requantize_rows reads, then the geometry the row kernel reads, then
# what eval alone needs.
_IN_H = const(4)
_IN_W = const(5)
_IN_C = const(6)  # fully_connected.fc_row reads depth here
_OUT_W = const(7)  # ... and batches here
_K_H = const(8)
_K_W = const(9)
_STRIDE_H = const(10)
_STRIDE_W = const(11)
_DIL_H = const(12)
_DIL_W = const(13)
_PAD_H = const(14)
_PAD_W = const(15)
_GROUP_C = const(16)  # filter input depth: in_c / groups
_PER_GROUP = const(17)  # filters per group
_PAD_X = const(18)  # x' of padding: in_zp + 128
_OUT_H = const(19)
_OUT_C = const(20)
_BATCHES = const(21)
_IN_BATCH = const(22)  # bytes of one input image
_OUT_BATCH = const(23)  # bytes of one output image
_ROW_LEN = const(24)  # bytes of one filter: k_h * k_w * group_c
_GROUP = const(25)  # filters per weights slice (all of them when addressable)
_ACC_BYTES = const(26)  # int32 accumulators for one output row of one group
_FOLD_BYTES = const(27)  # scratch for the bias folded at each invoke (0: folded at prepare)
# Where the row kernel finds the bias (in scratch, or 0 in the folded bias) and the
# patch in the op's scratch: [accumulators][folded bias][patch].
_BIAS_AT = const(28)
_PATCH_AT = const(29)

# Streaming: weights slices of at most this many bytes (a group of filters).
_SLICE = const(4096)


def conv_words(geometry):
    """The op's words, one array('i') (like TFLM's OpDataConv, computed once
    at prepare): `geometry` holds the words from _IN_H to _ROW_LEN, in order;
    set_clamp() and finish() fill the others."""
    from array import array
    return array("i", [0] * _IN_H + list(geometry) + [0, 0, 0, 0, 0])


def padding(kind, size, stride, dilation, k):
    """(output size, padding before) as TFLM's ComputeOutSize and
    ComputePaddingHeightWidth."""
    span = (k - 1) * dilation + 1
    if stride <= 0:
        return 0, 0
    if kind == S.PADDING_SAME:
        out = (size + stride - 1) // stride
    else:
        out = (size + stride - span) // stride
    total = (out - 1) * stride + span - size
    return out, (total // 2 if total > 0 else 0)


@micropython.viper
def fold_rows(w: ptr8, rows: int, n: int, b: ptr8, has_bias: int, offset: int, out: ptr32, at: int):
    # out[k] = bias[k] - offset * sum(signed bytes of row k of w), the low 32
    # bits (C's int32 wrap), from byte `at` of out: folded_bias() at invoke
    # time. b: the bias's little-endian int32 bytes (read bytewise: a file
    # need not align them).
    out = ptr32(uint(out) + at)
    k = 0
    i = 0
    n4 = n - (n & 3)
    while k < rows:
        s = 0
        end = i + n4
        while i < end:
            s += (w[i] ^ 128) + (w[i + 1] ^ 128) + (w[i + 2] ^ 128) + (w[i + 3] ^ 128)
            i += 4
        end += n & 3
        while i < end:
            s += w[i] ^ 128
            i += 1
        v = 0
        if has_bias:
            j = k << 2
            v = b[j] | (b[j + 1] << 8) | (b[j + 2] << 16) | (b[j + 3] << 24)
        out[k] = v - offset * (s - (n << 7))
        k += 1


@micropython.viper
def _row_sums(w: ptr8, rows: int, n: int, out: ptr32, k0: int):
    # out[k0 + r] = sum of the signed bytes of row r of w (rows x n).
    r = 0
    i = 0
    while r < rows:
        s = 0
        end = i + n
        while i < end:
            s += (w[i] ^ 128) - 128
            i += 1
        out[k0 + r] = s
        r += 1


def folded_bias(ctx, bias, filt, rows, n, offset, sums=None):
    """bias[k] - offset * sum(filter row k) for rows filters of n bytes, as
    int32 words (wrapping like TFLM's int32 accumulators) in one buffer that
    the sums fill first. `sums(w, buffer)`: how to sum the weights when they
    are not rows (depthwise); the default reads the rows in slices."""
    from struct import pack_into, unpack_from
    out = bytearray(4 * rows)
    if sums is None:
        step = max(1, _SLICE // n)
        for k0 in range(0, rows, step):
            count = min(step, rows - k0)
            _row_sums(ctx.weights(filt, k0 * n, count * n), count, n, out, k0)
    else:
        sums(ctx.weights(filt, 0, filt.size), out)
    b = None
    check_bias(bias, rows)
    if bias is not None:
        # Through ctx.weights, after the sums (a streamed model reads both
        # through one buffer) and without keeping a copy of the bias.
        b = ctx.weights(bias, 0, 4 * rows)
    for k in range(rows):
        v = (unpack_from("<i", b, 4 * k)[0] if b else 0) - offset * unpack_from("<i", out, 4 * k)[0]
        pack_into("<i", out, 4 * k, (v + 0x80000000) % 0x100000000 - 0x80000000)
    return out


def channel_scales(op, filt, channels):
    """The filter's scales: one per output channel, or a single one."""
    if filt.scales is None:
        return (filt.scale,)
    if len(filt.scales) != channels:
        raise errors.bad_shape(op, "%d filter scales for %d output channels" % (len(filt.scales), channels))
    return filt.scales


def set_clamp(words, activation, out):
    """Put quant.clamp_words() for the output and its fused activation at
    the start of an op's words, where quant.requantize_rows reads them."""
    lo, hi = quant.activation_range(activation, out.scale, out.zero_point)
    clamp = quant.clamp_words(out.zero_point, lo, hi)
    for i in range(len(clamp)):
        words[i] = clamp[i]


def addressable(ctx):
    """True when constant tensors are read in place (model in RAM or on
    ROMFS), False when streamed from a file through one shared buffer."""
    return getattr(ctx.weights_src, "addressable", True)


def finish(ctx, op, words, filt, bias, out, params, activation, in_zp, row, patch_bytes, fold_at_invoke):
    """Shared end of prepare for CONV_2D and FULLY_CONNECTED: `row` is the
    viper kernel that fills one output row's accumulators (conv_row's
    arguments), `patch_bytes` the scratch it needs besides them, `params`
    its quant.channel_params(); `fold_at_invoke`: fold the bias at each
    invoke (in-place weights only) rather than keep it.
    Returns the op's data, one tuple (a board has little heap and a model
    many layers): (words, the folded bias as int32 words or None when folded
    at each invoke, params, row). Eval reads the weights and bias through
    the op's own tensors, so the data holds no second view of them."""
    n, out_c = words[_ROW_LEN], words[_OUT_C]
    in_place = addressable(ctx)
    folded = None
    if in_place and fold_at_invoke:
        # folded_bias() would keep 4 bytes per channel in the heap; fold_rows()
        # writes them into the op's scratch at each invoke instead (a pass
        # over weights that the MACs read many times).
        check_bias(bias, out_c)
        words[_FOLD_BYTES] = 4 * out_c
    else:
        folded = folded_bias(ctx, bias, filt, out_c, n, in_zp + 128)
    set_clamp(words, activation, out)
    group = out_c if in_place else max(1, min(out_c, _SLICE // n))
    words[_GROUP] = group
    acc = words[_ACC_BYTES] = 4 * words[_OUT_W] * group
    words[_BIAS_AT] = acc if words[_FOLD_BYTES] else 0
    words[_PATCH_AT] = acc + words[_FOLD_BYTES]
    ctx.scratch(words[_PATCH_AT] + patch_bytes)
    return words, folded, params, row


def in_place_bias(ctx, op):
    """At eval, for an op that folds its bias at each invoke (its weights
    are in place): the bias's bytes, or None for a layer without bias."""
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    return ctx.buffer(bias) if bias is not None else None


def check_bias(bias, rows):
    if bias is not None and bias.size < 4 * rows:
        raise ValueError("bias tensor %d has %d bytes, wanted %d" % (bias.index, bias.size, 4 * rows))


def check_weights(op, filt, bias):
    """Int8 constant weights and an int32 constant bias, or none."""
    if filt.type != S.INT8 or (bias is not None and bias.type != S.INT32):
        raise errors.unsupported(op, "weights type (int8 weights and int32 bias only)")
    if not filt.is_const or (bias is not None and not bias.is_const):
        raise errors.unsupported(op, "weights computed while the model runs")


def check_steps(op, *steps):
    # The kernels cannot be stopped once running: a stride, dilation or
    # window out of range would send them outside their buffers.
    for n in steps:
        if not 1 <= n <= 0xFFFF:
            raise errors.bad_shape(op, "stride, dilation or window size %d is out of range" % n)


def window(op, slots, out_axis):
    """The checked tensors, options and output geometry of a CONV_2D or
    DEPTHWISE_CONV_2D: (bias or None, activation, stride_h, stride_w, dil_h,
    dil_w, out_h, out_w, pad_h, pad_w). `slots`: the options table's slots of
    padding, stride w, stride h, activation, dilation w, dilation h;
    `out_axis`: the filter's output-channel axis (0, or 3 for depthwise)."""
    x, filt, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    if len(x.shape) != 4 or len(filt.shape) != 4 or len(y.shape) != 4:
        raise errors.bad_shape(op, "it needs 4-D input, filter and output")
    check_weights(op, filt, bias)
    o = op.options
    if o is None:  # tflite-micro's strides would be 0
        raise errors.bad_shape(op, "it has no options")
    kind = o.uint8(slots[0]) if o else S.PADDING_SAME
    stride_w, stride_h = (o.int32(slots[1]), o.int32(slots[2])) if o else (1, 1)
    activation = o.uint8(slots[3]) if o else 0
    dil_w, dil_h = (o.int32(slots[4], 1), o.int32(slots[5], 1)) if o else (1, 1)
    check_steps(op, stride_h, stride_w, dil_h, dil_w)
    batches, in_h, in_w, _ = x.shape
    k_h, k_w, out_c = filt.shape[1], filt.shape[2], filt.shape[out_axis]
    out_h, pad_h = padding(kind, in_h, stride_h, dil_h, k_h)
    out_w, pad_w = padding(kind, in_w, stride_w, dil_w, k_w)
    if y.shape != (batches, out_h, out_w, out_c):
        raise errors.bad_shape(op, "output shape %s, expected %s" % (list(y.shape), [batches, out_h, out_w, out_c]))
    return bias, activation, stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_h, pad_w


_SLOTS = (_CONV_PADDING, _CONV_STRIDE_W, _CONV_STRIDE_H, _CONV_ACTIVATION, _CONV_DILATION_W, _CONV_DILATION_H)


def prepare(ctx, op):
    x, filt, y = op.inputs[0], op.inputs[1], op.outputs[0]
    bias, activation, stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_h, pad_w = window(op, _SLOTS, 0)
    batches, in_h, in_w, in_c = x.shape
    out_c, k_h, k_w, group_c = filt.shape
    if group_c <= 0 or in_c % group_c or out_c % (in_c // group_c):
        raise errors.bad_shape(op, "filter depth %d does not divide input depth %d" % (group_c, in_c))
    words = conv_words((in_h, in_w, in_c, out_w, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w,
                        group_c, out_c // (in_c // group_c), x.zero_point + 128, out_h, out_c, batches,
                        in_h * in_w * in_c, out_h * out_w * out_c, k_h * k_w * group_c))
    params = quant.conv_params(x.scale, channel_scales(op, filt, out_c), y.scale, out_c, ctx.keep)
    return finish(ctx, op, words, filt, bias, y, params, activation, x.zero_point, conv_row, words[_ROW_LEN], True)


@micropython.viper
def conv_row(px: ptr8, pw: ptr8, a: int, x: ptr8, w: ptr8, acc: ptr32, patch: ptr8,
             bias: ptr32, g: ptr32, oy: int, k0: int, kn: int):
    # Accumulators of output row oy, filters k0..k0+kn (w holds just those
    # rows): acc[ox * kn + j]. The first three arguments are the hot loop's
    # variables (callers pass anything): viper keeps its first locals in
    # registers. patch and bias: at their offsets in g from what is passed.
    patch = ptr8(uint(patch) + g[_PATCH_AT])
    bias = ptr32(uint(bias) + g[_BIAS_AT])
    in_h = g[_IN_H]
    in_w = g[_IN_W]
    in_c = g[_IN_C]
    k_h = g[_K_H]
    k_w = g[_K_W]
    dil_h = g[_DIL_H]
    dil_w = g[_DIL_W]
    group_c = g[_GROUP_C]
    per_group = g[_PER_GROUP]
    pad_x = g[_PAD_X]
    n = k_h * k_w * group_c
    n8 = n - (n & 7)
    y0 = oy * g[_STRIDE_H] - g[_PAD_H]
    k1 = k0 + kn
    out_w = g[_OUT_W]
    ox = 0
    while ox < out_w:
        x0 = ox * g[_STRIDE_W] - g[_PAD_W]
        grp = k0 // per_group
        first = grp * per_group
        while first < k1:
            # im2col: this group's patch as x' = x + 128, in filter order.
            q = 0
            sum_x = 0
            ky = 0
            while ky < k_h:
                iy = y0 + ky * dil_h
                kx = 0
                while kx < k_w:
                    ix = x0 + kx * dil_w
                    c = q + group_c
                    if uint(iy) < uint(in_h) and uint(ix) < uint(in_w):
                        src = (iy * in_w + ix) * in_c + grp * group_c - q
                        while q < c:
                            v = x[src + q] ^ 128
                            patch[q] = v
                            sum_x += v
                            q += 1
                    else:
                        sum_x += pad_x * (c - q)
                        while q < c:
                            patch[q] = pad_x
                            q += 1
                    kx += 1
                ky += 1
            k = first
            if k < k0:
                k = k0
            kend = first + per_group
            if kend > k1:
                kend = k1
            while k < kend:
                pw = ptr8(uint(w) + (k - k0) * n)
                px = patch
                a = bias[k] - (sum_x << 7)
                end = uint(patch) + n8
                while uint(px) < end:
                    a += (px[0] * (pw[0] ^ 128) + px[1] * (pw[1] ^ 128) + px[2] * (pw[2] ^ 128)
                          + px[3] * (pw[3] ^ 128) + px[4] * (pw[4] ^ 128) + px[5] * (pw[5] ^ 128)
                          + px[6] * (pw[6] ^ 128) + px[7] * (pw[7] ^ 128))
                    px = ptr8(uint(px) + 8)
                    pw = ptr8(uint(pw) + 8)
                end = uint(patch) + n
                while uint(px) < end:
                    a += px[0] * (pw[0] ^ 128)
                    px = ptr8(uint(px) + 1)
                    pw = ptr8(uint(pw) + 1)
                acc[ox * kn + k - k0] = a
                k += 1
            grp += 1
            first += per_group
        ox += 1


def run(ctx, op, d):
    """Shared eval of CONV_2D and FULLY_CONNECTED."""
    x = ctx.buffer(op.inputs[0])
    y = ctx.buffer(op.outputs[0])
    acc = ctx.scratch_buf  # [accumulators][folded bias][patch]: see finish()
    words, bias, params, row = d
    w = ctx.buffer(op.inputs[1]) if addressable(ctx) else None  # None: streamed in slices below
    out_c = words[_OUT_C]
    n = words[_ROW_LEN]
    if words[_FOLD_BYTES]:
        bias_bytes = in_place_bias(ctx, op)
        fold_rows(w, out_c, n, bias_bytes if bias_bytes is not None else w, bias_bytes is not None, words[_PAD_X],
                  acc, words[_BIAS_AT])
        bias = acc
    out_w = words[_OUT_W]
    group = words[_GROUP]
    batches = words[_BATCHES]
    in_batch = words[_IN_BATCH]
    out_batch = words[_OUT_BATCH]
    out_h = words[_OUT_H]
    row_bytes = out_w * out_c
    requantize = quant.requantize_rows
    for b in range(batches):
        xb = x[b * in_batch:(b + 1) * in_batch] if batches > 1 else x
        at = b * out_batch
        k0 = 0
        while k0 < out_c:
            kn = min(group, out_c - k0)
            if w is None or kn < out_c:
                # Streamed: the slice sits in a buffer that every op reuses.
                w = ctx.weights(op.inputs[1], k0 * n, kn * n)
            for oy in range(out_h):
                row(xb, w, 0, xb, w, acc, acc, bias, words, oy, k0, kn)
                requantize(0, 0, acc, acc, y, at + oy * row_bytes + k0, out_w, kn, out_c, params, k0, words)
            k0 += kn


eval = run
