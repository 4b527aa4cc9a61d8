# MAX_POOL_2D and AVERAGE_POOL_2D on int8, bit-exact with TFLM's reference
# integer_ops AveragePool and MaxPool. The output shares the input's scale
# and zero point, so there is no requantization: the average is rounded
# half away from zero (C's truncating division after adding half the count),
# then clamped to the fused activation's range.
import micropython
from micropython import const
from .. import errors
from .. import quant
from .conv import padding, check_steps

# Pool2DOptions slots (tensorflow/lite/schema/schema.fbs)
_POOL_PADDING = const(0)
_POOL_STRIDE_W = const(1)
_POOL_STRIDE_H = const(2)
_POOL_FILTER_W = const(3)
_POOL_FILTER_H = const(4)
_POOL_ACTIVATION = const(5)

_IN_H = const(0)
_IN_W = const(1)
_C = const(2)
_OUT_W = const(3)
_K_H = const(4)
_K_W = const(5)
_STRIDE_H = const(6)
_STRIDE_W = const(7)
_PAD_H = const(8)
_PAD_W = const(9)
_LO = const(10)  # activation range, offset by 128
_HI = const(11)
_MAX = const(12)  # 1: max pool, 0: average pool


class PoolData:
    def __init__(self, geom, out_h, batches, in_batch, out_batch):
        self.geom = geom  # array('i') of the words above
        self.out_h = out_h
        self.batches = batches
        self.in_batch = in_batch  # bytes of one input image
        self.out_batch = out_batch


def _prepare(ctx, op, is_max):
    x, y = op.inputs[0], op.outputs[0]
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise errors.bad_shape(op, "pooling needs 4-D input and output")
    if x.zero_point != y.zero_point or abs(x.scale - y.scale) > 1e-6:
        raise errors.unsupported(op, "output scale or zero point different from the input's")
    o = op.options
    if o is None:
        raise errors.bad_shape(op, "no pooling options")
    kind = o.uint8(_POOL_PADDING)
    stride_w, stride_h = o.int32(_POOL_STRIDE_W), o.int32(_POOL_STRIDE_H)
    k_w, k_h = o.int32(_POOL_FILTER_W), o.int32(_POOL_FILTER_H)
    activation = o.uint8(_POOL_ACTIVATION)
    check_steps(op, stride_h, stride_w, k_h, k_w)
    batches, in_h, in_w, c = x.shape
    out_h, pad_h = padding(kind, in_h, stride_h, 1, k_h)
    out_w, pad_w = padding(kind, in_w, stride_w, 1, k_w)
    if y.shape != (batches, out_h, out_w, c):
        raise errors.bad_shape(op, "output shape %s, expected %s" % (list(y.shape), [batches, out_h, out_w, c]))
    lo, hi = quant.activation_range(activation, y.scale, y.zero_point)
    from array import array
    geom = array("i", (in_h, in_w, c, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w,
                       lo + 128, hi + 128, 1 if is_max else 0))
    return PoolData(geom, out_h, batches, in_h * in_w * c, out_h * out_w * c)


def prepare_max(ctx, op):
    return _prepare(ctx, op, True)


def prepare_average(ctx, op):
    return _prepare(ctx, op, False)


@micropython.viper
def pool_row(xp: ptr8, v: int, a: int, x: ptr8, out: ptr8, g: ptr32, oy: int, at: int):
    # Output row oy into out[at...]. xp, v, a: the hot loop's variables.
    in_h = g[_IN_H]
    in_w = g[_IN_W]
    c_n = g[_C]
    k_h = g[_K_H]
    k_w = g[_K_W]
    lo = g[_LO] - 128
    hi = g[_HI] - 128
    is_max = g[_MAX]
    y0 = oy * g[_STRIDE_H] - g[_PAD_H]
    ky0 = 0 - y0
    if ky0 < 0:
        ky0 = 0
    ky1 = in_h - y0
    if ky1 > k_h:
        ky1 = k_h
    out_w = g[_OUT_W]
    ox = 0
    while ox < out_w:
        x0 = ox * g[_STRIDE_W] - g[_PAD_W]
        kx0 = 0 - x0
        if kx0 < 0:
            kx0 = 0
        kx1 = in_w - x0
        if kx1 > k_w:
            kx1 = k_w
        count = (ky1 - ky0) * (kx1 - kx0)
        row_step = (in_w - (kx1 - kx0)) * c_n
        c = 0
        while c < c_n:
            xp = ptr8(uint(x) + ((y0 + ky0) * in_w + x0 + kx0) * c_n + c)
            a = 0 - 128 if is_max else 0
            ky = ky0
            while ky < ky1:
                end = uint(xp) + (kx1 - kx0) * c_n
                while uint(xp) < end:
                    v = (xp[0] ^ 128) - 128
                    if is_max:
                        if v > a:
                            a = v
                    else:
                        a += v
                    xp = ptr8(uint(xp) + c_n)
                xp = ptr8(uint(xp) + row_step)
                ky += 1
            if not is_max and count > 0:
                if a > 0:
                    a = (a + (count >> 1)) // count
                else:
                    a = 0 - ((0 - a + (count >> 1)) // count)
            if a < lo:
                a = lo
            elif a > hi:
                a = hi
            out[at] = a
            at += 1
            c += 1
        ox += 1


def eval(ctx, op, d):
    x = ctx.buffer(op.inputs[0])
    y = ctx.buffer(op.outputs[0])
    geom = d.geom
    row_bytes = geom[_OUT_W] * geom[_C]
    for b in range(d.batches):
        xb = x[b * d.in_batch:(b + 1) * d.in_batch] if d.batches > 1 else x
        at = b * d.out_batch
        for oy in range(d.out_h):
            pool_row(xb, 0, 0, xb, y, geom, oy, at + oy * row_bytes)


eval_max = eval
eval_average = eval
