# gemmlowp's fixed-point functions (fixedpoint.h) on int32 raw values, in
# plain Python: exp on negative values, logistic, tanh and 1/(1+x), exactly as
# TFLM's softmax, LOGISTIC and TANH compute them. Ops call these only at
# prepare time to fill 256-entry tables, so speed does not matter here.
from micropython import const

_MIN = const(-0x80000000)
_MAX = const(0x7FFFFFFF)


def wrap(x):
    # int32 wrap-around, as C's fixed-width arithmetic.
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def srdhm(a, b):
    # SaturatingRoundingDoublingHighMul: the nudge then C's truncating division.
    if a == b == _MIN:
        return _MAX
    ab = a * b
    if ab >= 0:
        return (ab + (1 << 30)) >> 31
    return -((-ab + (1 << 30) - 1) >> 31)


def rdbpot(x, exponent):
    # RoundingDivideByPOT: round half away from zero.
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def srmbpot(x, exponent):
    # SaturatingRoundingMultiplyByPOT<exponent>.
    if exponent < 0:
        return rdbpot(x, -exponent)
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return _MAX
    if x < -threshold:
        return _MIN
    return x << exponent


def _exp_quarter(a):
    # exp(a) for a in [-1/4, 0), 0 integer bits: Taylor series around -1/8.
    const_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(wrap(srdhm(wrap(x4_over_4 + x3), one_third) + x2), 1)
    return wrap(const_term + srdhm(const_term, wrap(x + poly)))


# exp(-2**k) in Q0.31 for the barrel shifter, k = -2 .. 4.
_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
           (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits):
    # exp(a) for a <= 0 given with `integer_bits` integer bits; Q0.31 result.
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = wrap((a & (quarter - 1)) - quarter)
    result = _exp_quarter(srmbpot(a_mod, integer_bits))
    remainder = wrap(a_mod - a)
    for e, m in _BARREL:
        if integer_bits > e and remainder & (1 << (frac + e)):
            result = srdhm(result, m)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return _MAX if a == 0 else result


def _newton(a):
    # 1/(1+a) for a in [0, 1) as Q2.29, by three Newton-Raphson steps.
    half_den = a + _MAX
    half_den = (half_den + (1 if half_den >= 0 else -1))
    half_den = half_den // 2 if half_den >= 0 else -((-half_den) // 2)
    x = wrap(1515870810 + srdhm(half_den, -1010580540))
    for _ in range(3):
        one_minus = wrap((1 << 29) - srdhm(half_den, x))
        x = wrap(x + srmbpot(srdhm(x, one_minus), 2))
    return x


def one_over_one_plus_x(a):
    return srmbpot(_newton(a), 1)


def one_minus_x_over_one_plus_x(a):
    return srmbpot(wrap(_newton(a) - (1 << 29)), 2)


def logistic(a, integer_bits):
    if a == 0:
        return 1 << 30
    pos = one_over_one_plus_x(exp_on_negative_values(-a if a > 0 else a, integer_bits))
    return pos if a > 0 else wrap(_MAX - pos)


def tanh(a, integer_bits):
    if a == 0:
        return 0
    n = a if a < 0 else -a
    t = one_minus_x_over_one_plus_x(exp_on_negative_values(n, integer_bits + 1))
    return -t if a < 0 else t
