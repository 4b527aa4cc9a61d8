# FULLY_CONNECTED, bit-exact with TFLM's reference FullyConnected and
# FullyConnectedPerChannel (int8, optional int32 bias).
#
# A fully connected layer over `batches` rows of `depth` values is a 1x1
# convolution of a 1 x batches image with `depth` channels, so it runs on
# conv.py's kernel. Only the multiplier differs: per-tensor weights take
# TFLM's float32 product of the input and filter scales
# (GetQuantizedConvolutionMultipler), per-channel ones the conv formula.
from array import array
from .. import schema as S
from .. import errors
from .. import quant
from . import conv


def _elements(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def prepare(ctx, op):
    x, filt = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    y = op.outputs[0]
    if filt.type != S.INT8 or (bias is not None and bias.type != S.INT32):
        raise errors.unsupported(op, "weights type (int8 weights and int32 bias only)")
    if len(filt.shape) != 2:
        raise errors.bad_shape(op, "weights shape %s is not 2-D" % list(filt.shape))
    o = op.options
    activation = o.uint8(S.FC_ACTIVATION) if o else 0
    if o and o.uint8(S.FC_WEIGHTS_FORMAT):
        raise errors.unsupported(op, "shuffled weights format")
    out_c, depth = filt.shape
    batches = _elements(y.shape) // out_c if out_c else 0
    if out_c <= 0 or depth <= 0 or batches * out_c != _elements(y.shape) or _elements(x.shape) != batches * depth:
        raise errors.bad_shape(op, "input %s, weights %s and output %s do not match" % (
            list(x.shape), list(filt.shape), list(y.shape)))
    if filt.scales is not None:
        if len(filt.scales) != out_c:
            raise errors.bad_shape(op, "%d weight scales for %d outputs" % (len(filt.scales), out_c))
        multipliers, shifts = quant.conv_multipliers(x.scale, filt.scales, y.scale)
    else:
        if filt.zero_point:
            raise errors.unsupported(op, "weights zero point %d (int8 weights are symmetric)" % filt.zero_point)
        m, s = quant.fc_multiplier(x.scale, filt.scale, y.scale)
        multipliers, shifts = [m] * out_c, [s] * out_c
    d = conv.ConvData()
    # in_h in_w in_c out_w k_h k_w strides dilations pads group_c per_group pad_x
    d.geom = array("i", (1, batches, depth, batches, 1, 1, 1, 1, 1, 1, 0, 0, depth, out_c, x.zero_point + 128))
    d.out_h, d.out_c, d.batches = 1, out_c, 1
    d.row_len = depth
    return conv.finish(ctx, op, d, filt, bias, y, multipliers, shifts, activation, x.zero_point)


eval = conv.run
