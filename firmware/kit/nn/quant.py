# The shared quantization arithmetic of kit.nn, bit-exact with TFLite Micro.
#
# Prepare time (plain Python, runs once per op):
#   quantize_multiplier(real)      TFLM's QuantizeMultiplier (frexp, round half
#                                  away from zero) -> (multiplier, shift)
#   conv_multiplier(...)           a channel's multiplier and shift exactly as
#                                  TFLM computes them in double precision, with
#                                  integer arithmetic so a board whose floats are
#                                  single precision (ESP32) gets the same bits;
#                                  conv_params(...) for every channel
#   activation_range(...)          TFLM's CalculateActivationRangeQuantized
# Invoke time:
#   mbqm(x, multiplier, shift)     MultiplyByQuantizedMultiplier, plain Python
#   requantize_rows(...)           viper: int32 accumulators -> clamped int8,
#                                  per channel, the same bits on 32- and 64-bit
#                                  viper words (requantize: the same, plainer)
#
# The requantization is TFLM's default double rounding:
#   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m), right)
# SaturatingRoundingDoublingHighMul(a, m) with m >= 0 is exactly
# floor((a*m + 2**30) / 2**31): gemmlowp's nudge (2**30 or 1 - 2**30 by sign)
# followed by C's truncating division lands on the same integer for both signs.
# Its saturation case (a == m == INT32_MIN) cannot happen since m >= 0.
import math
import sys
import micropython
from micropython import const

_Q31 = const(0x80000000)
_DOUBLE = const(53)
_SINGLE = const(24)

# Fused activation codes of the TFLite schema.
ACT_NONE = const(0)
ACT_RELU = const(1)
ACT_RELU_N1_TO_1 = const(2)
ACT_RELU6 = const(3)

# True where viper integers are 64-bit machine words (the Unix port on x64).
WIDE = sys.maxsize > 0x7FFFFFFF


# ---- exact floating point at prepare time ---------------------------------
# A binary float is held as a pair (mantissa, exponent): value = m * 2**e.
# TFLM multiplies and divides scales in double precision; a board with
# single-precision floats cannot, so we round the exact rational result the
# way IEEE 754 does (to nearest, ties to even) with Python's big integers.

def exact(value):
    """The exact (mantissa, exponent) of a float (float32 or float64)."""
    fraction, exponent = math.frexp(value)
    # Scaling by a power of two is exact in any float format.
    return int(fraction * 9007199254740992.0), exponent - _DOUBLE


def _bit_length(n):
    return len(bin(n)) - 2 if n > 0 else 0


def _rounded(num, den, exponent, bits):
    """num/den * 2**exponent rounded to `bits` significant bits."""
    negative = (num < 0) != (den < 0)
    num, den = abs(num), abs(den)
    if num == 0:
        return 0, 0
    # Enough quotient bits to round from, plus a sticky remainder.
    extra = bits + 2 + _bit_length(den) - _bit_length(num)
    if extra > 0:
        num <<= extra
    else:
        den <<= -extra
    quotient, remainder = divmod(num, den)
    drop = _bit_length(quotient) - bits
    half = 1 << (drop - 1)
    low = quotient & ((half << 1) - 1)
    quotient >>= drop
    if low > half or (low == half and (remainder or quotient & 1)):
        quotient += 1
        if quotient >> bits:
            quotient >>= 1
            drop += 1
    return (-quotient if negative else quotient), exponent - extra + drop


def multiply(a, b, bits=_DOUBLE):
    """a*b rounded like IEEE double (bits=53) or float (bits=24)."""
    return _rounded(a[0] * b[0], 1, a[1] + b[1], bits)


def divide(a, b, bits=_DOUBLE):
    """a/b rounded like IEEE double (bits=53) or float (bits=24)."""
    return _rounded(a[0], b[0], a[1] - b[1], bits)


def quantize_exact(value):
    """QuantizeMultiplier of an exact (mantissa, exponent) double."""
    mantissa, exponent = value
    if mantissa == 0:
        return 0, 0
    negative = mantissa < 0
    mantissa = abs(mantissa)
    size = _bit_length(mantissa)
    shift = exponent + size  # frexp: value = (mantissa / 2**size) * 2**shift
    # q * 2**31 rounded half away from zero (std::round).
    if size > 31:
        fixed = (mantissa + (1 << (size - 32))) >> (size - 31)
    else:
        fixed = mantissa << (31 - size)
    if fixed == _Q31:
        fixed >>= 1
        shift += 1
    if shift < -31:
        return 0, 0
    return (-fixed if negative else fixed), shift


def quantize_multiplier(real):
    """TFLM's QuantizeMultiplier: real ~= multiplier * 2**(shift - 31).

    `real` is a float or an exact (mantissa, exponent) pair."""
    if not isinstance(real, tuple):
        real = exact(real)
    return quantize_exact(real)


def conv_multiplier(input_scale, filter_scale, output_scale):
    """One channel's (multiplier, shift) as PopulateConvolutionQuantizationParams:
    double(input_scale) * double(filter_scale) / double(output_scale).
    Per-channel FULLY_CONNECTED computes the same."""
    return quantize_exact(divide(multiply(exact(input_scale), exact(filter_scale)), exact(output_scale)))


def conv_params(input_scale, filter_scales, output_scale, channels, keep=bytearray):
    """channel_params() for conv_multiplier() of every channel; one filter
    scale is broadcast to all channels, as TFLM does. Built channel by
    channel into one buffer: no list of pairs (a board's heap is fragmented
    by the time the last layers load). `keep(n)`: where to put the n bytes
    (ctx.keep: a block taken with the arena)."""
    first = filter_scales[0]
    for s in filter_scales:
        if s != first:
            break
    else:
        m, shift = conv_multiplier(input_scale, first, output_scale)
        return channel_params((m,), (shift,), keep)
    words = keep(1 + 5 * channels)
    words[0] = 1
    for c in range(channels):
        m, shift = conv_multiplier(input_scale, filter_scales[c], output_scale)
        _put_channel(words, c, m, shift)
    return words


def fc_multiplier(input_scale, filter_scale, output_scale):
    """Per-tensor FULLY_CONNECTED (GetQuantizedConvolutionMultipler): the
    scales' product is taken in float32 before the double division."""
    product = multiply(exact(input_scale), exact(filter_scale), _SINGLE)
    return quantize_exact(divide(product, exact(output_scale)))


def _quantize_float32(value, scale, zero_point):
    # TFLM: zero_point + int(round(f / scale)), the division in float32.
    m, e = divide(exact(value), exact(scale), _SINGLE)
    if m == 0:
        return zero_point
    magnitude = abs(m)
    if e >= 0:
        rounded = magnitude << e
    else:
        rounded = (magnitude + (1 << (-e - 1))) >> -e
    if rounded > _Q31:  # TFLM's no_integer_overflow_from_quantization: refused there too
        raise ValueError("model file is corrupt: output scale %r is too small for its fused activation" % scale)
    return zero_point + (-rounded if m < 0 else rounded)


def activation_range(fused_activation, scale, zero_point, qmin=-128, qmax=127):
    """(lo, hi) clamp of an int8 output for a fused activation code."""
    if fused_activation == ACT_RELU:
        return max(qmin, _quantize_float32(0.0, scale, zero_point)), qmax
    if fused_activation == ACT_RELU6:
        return (max(qmin, _quantize_float32(0.0, scale, zero_point)),
                min(qmax, _quantize_float32(6.0, scale, zero_point)))
    if fused_activation == ACT_RELU_N1_TO_1:
        return (max(qmin, _quantize_float32(-1.0, scale, zero_point)),
                min(qmax, _quantize_float32(1.0, scale, zero_point)))
    return qmin, qmax


# ---- requantization at invoke time ----------------------------------------

def mbqm(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier(int32 x, multiplier >= 0, shift), plain
    Python (any MicroPython build: uses big integers where it must)."""
    if shift > 0:
        # C's x * (1 << shift) on int32 wraps.
        x = ((x << shift) + _Q31) % (1 << 32) - _Q31
    high = (x * multiplier + (1 << 30)) >> 31
    right = -shift if shift < 0 else 0
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def channel_params(multipliers, shifts, keep=bytearray):
    """The bytes the viper requantizer reads: a flag (1 when channels differ),
    then 5 bytes per channel: the multiplier (int32, little-endian, >= 0) and
    shift + 32. Per-tensor quantization (every channel alike) keeps a single
    channel. TFLM keeps 8 bytes per channel."""
    n = len(multipliers)
    per_channel = any(multipliers[c] != multipliers[0] or shifts[c] != shifts[0] for c in range(n))
    if not per_channel:
        n = min(n, 1)
    words = keep(1 + 5 * n)
    words[0] = 1 if per_channel else 0
    for c in range(n):
        _put_channel(words, c, multipliers[c], shifts[c])
    return words


def _put_channel(words, c, multiplier, shift):
    at = 1 + 5 * c
    words[at:at + 4] = multiplier.to_bytes(4, "little")
    words[at + 4] = shift + 32


def clamp_words(zero_point, lo, hi, wide=WIDE):
    """The words the requantizer reads: output zero point and clamp range,
    offset by 128 so that they are never negative, and whether to multiply
    in one 64-bit machine word (wide) or in 15-bit limbs (any word size;
    tests force it on x64)."""
    from array import array
    return array("i", [zero_point + 128, lo + 128, hi + 128, 1 if wide else 0])


@micropython.viper
def requantize_rows(x: int, h: int, pa: ptr32, acc: ptr32, out: ptr8, at: int, rows: int,
                    cols: int, stride: int, params: ptr8, k0: int, clamp: ptr32):
    # rows x cols int32 accumulators (output channels k0..k0+cols, channel
    # fastest) -> clamped int8, row r at out[at + r * stride ...]. params:
    # channel_params() of all channels; clamp: clamp_words(). The first three
    # arguments are the inner loop's variables (pass 0, 0, acc): viper keeps a
    # function's first three locals in registers. Channel by channel, so that
    # a channel's constants stay in locals while the loop walks down the rows.
    #
    # SaturatingRoundingDoublingHighMul(x, m), m >= 0, is floor((x*m + 2**30)
    # / 2**31). Wide: x*m fits a 64-bit word. Otherwise |x|*m < 2**62 is built
    # from 15-bit limbs (three each) so that no partial sum reaches 2**31:
    # q = floor((|x|*m + 2**30) / 2**31) for x >= 0, and
    # -floor((|x|*m + 2**30 - 1) / 2**31) for x < 0.
    # RoundingDivideByPOT(h, e): gemmlowp's remainder against a threshold;
    # wide, the equal floor((h + 2**(e-1) - (h < 0)) / 2**e) for e >= 1.
    zp = clamp[0] - 128
    lo = clamp[1] - 128
    hi = clamp[2] - 128
    wide = clamp[3]
    # Built at run time: as literals they would not be 32-bit small ints.
    half30 = 0x3FFFFFFF
    half30 += 1
    sign = half30 << 1
    limb = 0x7FFF
    word = (sign << 1) - 1  # the low 32 bits: all ones on a 32-bit word
    row_bytes = cols * 4
    j = 0
    while j < cols:
        k = 1
        if params[0]:
            k += (k0 + j) * 5
        m = params[k] | (params[k + 1] << 8) | (params[k + 2] << 16) | (params[k + 3] << 24)
        right = 32 - params[k + 4]
        left = 0
        if right < 0:
            left = 0 - right
            right = 0
        # 2**(right - 1), and the mask of the bits shifted out (2**31 - 1 at
        # most: it wraps right on a 32-bit word).
        half = 0
        mask = 0
        half_neg = 0
        if right:
            half = 1 << (right - 1)
            mask = (half << 1) - 1
            half_neg = half - 1
        m0 = m & limb
        m1 = (m >> 15) & limb
        m2 = (m >> 30) & 1
        pa = ptr32(uint(acc) + j * 4)
        po = ptr8(uint(out) + at + j)
        r = 0
        while r < rows:
            x = (pa[0] ^ sign) - sign
            if left:
                x = x << left
                if wide:
                    x = (x << 32) >> 32  # C's int32 x * (1 << left) wraps
            if wide:
                h = (x * m + half30) >> 31
                if h < 0:
                    h += half_neg
                else:
                    h += half
                # C adds the zero point in int32, wrapping (as 32-bit words do).
                h = ((((h >> right) + zp) << 32) >> 32)
            else:
                nudge = half30
                p = x
                if x < 0:
                    p = 0 - x
                    nudge = half30 - 1
                p0 = p & limb
                p1 = (p >> 15) & limb
                p2 = (p >> 30) & 3  # 2 only for |INT32_MIN|
                col = p0 * m0 + nudge
                col = p0 * m1 + p1 * m0 + (col >> 15)
                col = p0 * m2 + p1 * m1 + p2 * m0 + (col >> 15)
                top = p1 * m2 + p2 * m1 + ((p2 * m2) << 15) + (col >> 15)
                h = ((col & limb) >> 1) + (top << 14)
                threshold = half_neg
                if x < 0:
                    h = 0 - h
                if h < 0:
                    threshold = half
                rem = h & mask
                h = (h >> right) + zp
                if rem > threshold:
                    h += 1
                # int32 wrap, as C's (a no-op on 32-bit words; tests run this
                # path on 64-bit ones too).
                h = ((h & word) ^ sign) - sign
            if h < lo:
                h = lo
            elif h > hi:
                h = hi
            po[0] = h
            pa = ptr32(uint(pa) + row_bytes)
            po = ptr8(uint(po) + stride)
            r += 1
        j += 1


def requantize(acc, out, at, rows, cols, stride, params, k0, clamp):
    """requantize_rows() without the register arguments."""
    requantize_rows(0, 0, acc, acc, out, at, rows, cols, stride, params, k0, clamp)
