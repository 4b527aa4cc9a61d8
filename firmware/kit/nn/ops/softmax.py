# Int8 SOFTMAX as TFLM's reference kernel (reference_ops::Softmax): inputs
# minus the row max, rescaled to Q5.26, exp in gemmlowp fixed point, summed in
# Q12.19, one reciprocal per row. exp depends only on (x - max), which takes
# at most 256 values, so prepare tabulates it.
from micropython import const
from .. import errors
from .. import quant
from .fixedpoint import exp_on_negative_values, srdhm, rdbpot, one_over_one_plus_x, wrap
from .activations import unary

# SoftmaxOptions slots (tensorflow/lite/schema/schema.fbs)
_SOFTMAX_BETA = const(0)

_SCALED_DIFF_BITS = 5  # Q5.26 input to exp
_ACCUM_BITS = 12  # Q12.19 sum of exps


def prepare(op, inp, out):
    from array import array
    if out.zero_point != -128 or out.scale != 1.0 / 256:
        raise errors.unsupported(op, "output quantization (needs scale 1/256, zero point -128)")
    if not inp.shape:
        raise errors.bad_shape(op, "input has no dimensions")
    # No options or no beta: 0, as tflite-micro's parser leaves it (and then refuses).
    beta = op.options.float32(_SOFTMAX_BETA, 0.0) if op.options else 0.0
    # PreprocessSoftmaxScaling: beta * scale * 2**26 in double, capped below 2**31.
    if not beta > 0.0:  # NaN too
        raise errors.bad_shape(op, "beta %r" % beta)
    real = quant.multiply(quant.multiply(quant.exact(beta), quant.exact(inp.scale)), (1, 31 - _SCALED_DIFF_BITS))
    top = 0x7FFFFFFF  # TFLM caps the multiplier below 2**31, in integers here
    m, e = real
    # TFLM's QuantizeMultiplierGreaterThanOne aborts on 1 or less: refused here.
    if (m << e if e >= 0 else m) <= (1 if e >= 0 else 1 << -e):
        raise errors.bad_shape(op, "beta %r x input scale %r is too small" % (beta, inp.scale))
    if (m << e if e >= 0 else m) > (top if e >= 0 else top << -e):
        real = (top, 0)
    m, shift = quant.quantize_multiplier(real)
    v = ((1 << _SCALED_DIFF_BITS) - 1) << (31 - _SCALED_DIFF_BITS)
    diff_min = -(v >> shift if shift >= 0 else v << -shift)
    exps = array("i", range(256))  # exps[d] = exp(-d rescaled), Q0.31 (one block, no zeros copied in)
    for d in range(256):
        if -d >= diff_min:
            exps[d] = exp_on_negative_values(srdhm(-d << shift if shift >= 0 else -d, m), _SCALED_DIFF_BITS)
        else:
            exps[d] = -1  # below diff_min: contributes nothing, outputs -128
    depth = inp.shape[-1]
    if depth == 0:
        raise errors.bad_shape(op, "empty last dimension")
    return exps, depth, inp.size // depth


def run(src, dst, data):
    exps, depth, rows = data
    base = 0
    for _ in range(rows):
        top = -128
        for c in range(base, base + depth):
            x = src[c]
            x = x - 256 if x > 127 else x
            if x > top:
                top = x
        total = 0
        for c in range(base, base + depth):
            x = src[c]
            e = exps[top - (x - 256 if x > 127 else x)]
            if e >= 0:
                total += rdbpot(e, _ACCUM_BITS)  # Rescale<12> from Q0.31
        total = wrap(total)
        # GetReciprocal: normalise the sum to [1, 2), take 1/x in Q0.31.
        clz = 32 - len(bin(total & 0xFFFFFFFF)) + 2 if total else 32
        over_unit = _ACCUM_BITS - clz
        scale = one_over_one_plus_x(wrap(((total << clz) & 0xFFFFFFFF) - 0x80000000))
        exponent = over_unit + 31 - 8
        for c in range(base, base + depth):
            x = src[c]
            e = exps[top - (x - 256 if x > 127 else x)]
            if e < 0:
                dst[c] = 0x80
                continue
            y = rdbpot(srdhm(scale, e), exponent) - 128
            dst[c] = (-128 if y < -128 else 127 if y > 127 else y) & 0xFF
        base += depth


def prepare_softmax(ctx, op):
    inp, out = unary(op)
    return prepare(op, inp, out)


def eval_softmax(ctx, op, data):
    run(ctx.buffer(op.inputs[0]), ctx.buffer(op.outputs[0]), data)
