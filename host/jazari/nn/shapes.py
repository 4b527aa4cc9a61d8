"""An operator's tensor shapes, checked as the engine's kernels need them
(firmware/kit/nn/ops/*.py, each op's prepare): windows, channels, element
counts, broadcasting, axes, paddings, slices, joined blocks. tflite-micro
trusts most of these relations and reads or writes outside its tensors when
they do not hold; the host refuses them first (limits.py asks, per op).
"""

import math
import struct

from jazari.i18n import _

ELEMENTWISE_OPS = ("ADD", "SUB", "MUL")
FAR = 1 << 40  # a slice bound past any dimension (ops/shape.py, for STRIDED_SLICE's masks)
SHOWN_VALUES = 16  # the most values of a constant a message lists
WINDOWED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
MAX_STEP = 0xFFFF  # the engine's kernels take strides, dilations and windows up to this


def window_problem(op, x, weights, y):
    """The engine's checks of a sliding window (kit/nn/ops/conv.py window(),
    pooling.py): 4-D tensors, steps in range, the output shape its padding
    gives. tflite-micro trusts the output shape and writes past it."""
    pooling = op.name.endswith("_POOL_2D")
    if len(x.shape) != 4 or len(y.shape) != 4:
        return _("it needs 4-D input and output")
    options = op.options
    if pooling:
        k_h, k_w, out_c, dilation_h, dilation_w = options.get("filter_h", 0), options.get("filter_w", 0), x.shape[3], 1, 1
    else:
        out_c = weights.shape[3 if op.name == "DEPTHWISE_CONV_2D" else 0]
        k_h, k_w = weights.shape[1], weights.shape[2]
        dilation_h, dilation_w = options.get("dilation_h", 1), options.get("dilation_w", 1)
    stride_h, stride_w = options.get("stride_h", 0), options.get("stride_w", 0)
    # A convolution's kernel size is its weights' shape, which the engine does not bound; a pooling's is an option.
    for step in (stride_h, stride_w, dilation_h, dilation_w) + ((k_h, k_w) if pooling else ()):
        if not 1 <= step <= MAX_STEP:
            return _("its stride, dilation or window size {size} is out of range").format(size=step)
    same = options.get("padding") == "SAME"
    expected = (x.shape[0], _out_size(same, x.shape[1], stride_h, dilation_h, k_h),
                _out_size(same, x.shape[2], stride_w, dilation_w, k_w), out_c)
    return _output_shape_problem(y, expected)


def _output_shape_problem(y, expected):
    """The output's shape against the one the op gives (tflite-micro trusts the output's)."""
    if tuple(y.shape) != tuple(expected):
        return _("its output shape {shape} should be {expected}").format(shape=list(y.shape), expected=list(expected))
    return None


def _out_size(same, size, stride, dilation, kernel):
    """tflite-micro's ComputeOutSize."""
    if same:
        return (size + stride - 1) // stride
    return (size + stride - ((kernel - 1) * dilation + 1)) // stride


def fully_connected_shapes_match(x, weights, y):
    """Weights [units, depth]; as many rows of depth inputs as of units outputs
    (the engine's prepare; tflite-micro reads past its tensors otherwise)."""
    if len(weights.shape) != 2 or min(weights.shape) <= 0:
        return False
    units, depth = weights.shape
    batches, rest = divmod(y.elements, units)
    return not rest and x.elements == batches * depth


def channels_problem(op, x, weights, bias):
    """The output channels of a convolution or fully connected layer against its input
    channels, weight scales and bias (ops/conv.py, depthwise.py): the kernels loop over
    them and read past the weights' scales or the bias otherwise."""
    channels = weights.shape[3 if op.name == "DEPTHWISE_CONV_2D" else 0]
    if op.name == "CONV_2D" and not _groups_match(x.shape[3], weights.shape[3], channels):
        return _("its filter depth {depth}, input depth {input} and {channels} output channels do not match").format(
            depth=weights.shape[3], input=x.shape[3], channels=channels)
    if op.name == "DEPTHWISE_CONV_2D" and (x.shape[3] <= 0 or channels % x.shape[3]):
        return _("its {output} output channels are not a multiple of its {input} input channels").format(
            output=channels, input=x.shape[3])
    if weights.per_channel and len(weights.scales) != channels:
        return _("its weights have {count} scales for {channels} output channels").format(
            count=len(weights.scales), channels=channels)
    if bias is not None and bias.elements < channels:
        return _("its bias has {count} values, fewer than its {channels} output channels").format(
            count=bias.elements, channels=channels)
    return None


def _groups_match(in_c, depth, out_c):
    """CONV_2D's filter depth splits the input depth into groups, each with as many
    output channels (grouped convolution; ops/conv.py prepare)."""
    groups = in_c // depth if depth > 0 else 0
    return groups > 0 and not in_c % depth and not out_c % groups


def _int32s(tensor):
    """A constant int32 tensor's values, as many as its shape holds (as the engine reads them)."""
    return struct.unpack_from(f"<{tensor.elements}i", tensor.data)


def _axis_problem(axis, rank):
    return _("its axis {axis} is out of range for {rank} dimensions").format(axis=axis, rank=rank)


def _count_problem(op, inputs, y):
    """One output value per input value: the activations' tables (ops/activations.py unary),
    QUANTIZE and DEQUANTIZE (quantize.py), RESHAPE, SQUEEZE and EXPAND_DIMS (reshape.py: input
    and output of one type, so the same bytes). tflite-micro copies as many values as the
    input holds into the output."""
    x = inputs[0]
    if x.elements != y.elements:
        return _("its input has {input} values and its output {output}").format(input=x.elements, output=y.elements)
    return None


def _expand_dims_problem(op, inputs, y):
    """EXPAND_DIMS: the output is the input's shape with a 1 at the axis, one of the output's
    dimensions (reshape.py _check_axis; it reads the axis tensor's first value)."""
    shape, axis = inputs[0].shape, _int32s(inputs[1])[:1]
    rank = len(shape) + 1
    if not axis or not -rank <= axis[0] < rank:
        return _axis_problem(axis[0] if axis else "[]", rank)
    at = axis[0] % rank
    return _output_shape_problem(y, shape[:at] + (1,) + shape[at:])


def _squeeze_problem(op, inputs, y):
    """SQUEEZE (ops/reshape.py _check_squeeze, as tflite-micro): squeeze_dims (every dimension of
    size 1 when there are none) within the rank and of size 1; the output, the input without them."""
    shape, rank = inputs[0].shape, len(inputs[0].shape)
    dims = [dim + rank if dim < 0 else dim for dim in op.options.get("squeeze_dims", ())]
    for dim in dims:
        if not 0 <= dim < rank or shape[dim] != 1:
            return _("its squeeze dimension {dim} does not fit its input shape {shape}").format(dim=dim, shape=list(shape))
    squeezed = dims or [k for k in range(rank) if shape[k] == 1]
    return _output_shape_problem(y, tuple(size for k, size in enumerate(shape) if k not in squeezed))


def _softmax_problem(op, inputs, y):
    """SOFTMAX normalizes along the input's last dimension: one it must have, not empty (ops/softmax.py)."""
    shape = inputs[0].shape
    if not shape or not shape[-1]:
        return _("its input shape {shape} has no values along a last dimension").format(shape=list(shape))
    return None


def _broadcast_problem(op, inputs, y):
    """ADD, SUB, MUL: each input dimension, from the right, is 1 or the output's
    (ops/elementwise.py _broadcast); tflite-micro walks the inputs by the output's shape."""
    a, b = inputs[0].shape, inputs[1].shape
    rank = max(len(a), len(b), len(y.shape))
    for da, db, dy in zip(*(_padded(shape, rank) for shape in (a, b, y.shape))):
        widest = max(da, db)
        if da not in (1, widest) or db not in (1, widest) or dy != widest:
            return _("its input shapes {a} and {b} do not broadcast to its output shape {output}").format(
                a=list(a), b=list(b), output=list(y.shape))
    return None


def _padded(shape, rank):
    """`shape` with leading 1s up to `rank` dimensions (broadcasting aligns shapes on the right)."""
    return (1,) * (rank - len(shape)) + tuple(shape)


def _output_count_problem(y, expected):
    """The output's number of values against the one the op gives."""
    if y.elements != expected:
        return _("its output has {count} values, it should have {expected}").format(count=y.elements, expected=expected)
    return None


def _mean_problem(op, inputs, y):
    """MEAN (ops/reduce.py): every axis within the input's dimensions; the output, one value
    per position along the dimensions kept."""
    shape = inputs[0].shape
    rank = len(shape)
    reduced = set()
    for axis in _int32s(inputs[1]):
        if not -rank <= axis < rank:
            return _axis_problem(axis, rank)
        reduced.add(axis % rank)
    return _output_count_problem(y, math.prod(size for k, size in enumerate(shape) if k not in reduced))


def _listed(values):
    """Values for a message: the first SHOWN_VALUES of them (a broken file may hold millions)."""
    shown = [str(value) for value in values[:SHOWN_VALUES]] + (["..."] if len(values) > SHOWN_VALUES else [])
    return "[" + ", ".join(shown) + "]"


def _requantize_problem(x, y):
    """The shape ops move bytes, not values: an int8 input needs its output's scale and zero
    point (ops/shape.py _same_quant)."""
    if x.dtype == "int8" and (x.scale != y.scale or x.zero_point != y.zero_point):
        return _("its input tensor {index} needs its output's scale and zero point").format(index=x.index)
    return None


def _shape_op_problem(op, inputs, y):
    """SHAPE writes its input's dimensions, one int32 each (ops/shape.py prepare_shape)."""
    rank = len(inputs[0].shape)
    if y.dtype != "int32" or y.elements != rank:
        return _("its output should hold {rank} int32 values, one per input dimension").format(rank=rank)
    return None


def _joined_problem(op, inputs, y):
    """CONCATENATION and PACK (ops/shape.py _blocks): no fused activation; every input of the
    output's type and quantization, filling its block along the axis; the blocks filling the output;
    PACK's values_count, its inputs' count (tflite-micro packs that many)."""
    if op.name == "PACK" and op.options.get("values_count") != len(inputs):
        return _("its values_count {count} is not its {inputs} inputs").format(
            count=op.options.get("values_count"), inputs=len(inputs))
    activation = op.options.get("activation", "NONE")
    if activation != "NONE":
        return _("its fused activation {activation} is not supported").format(activation=activation)
    rank, axis = len(y.shape), op.options.get("axis", 0)
    at = axis + rank if axis < 0 else axis
    if not 0 <= at < rank:
        return _axis_problem(axis, rank)
    outer, inner = math.prod(y.shape[:at]), math.prod(y.shape[at + 1:])
    along = 0
    for x in inputs:
        if x.dtype != y.dtype:
            return _("its input tensor {index} is {dtype}, its output {output}").format(
                index=x.index, dtype=x.dtype, output=y.dtype)
        problem = _requantize_problem(x, y)
        if problem:
            return problem
        size = 1 if op.name == "PACK" else x.shape[at] if at < len(x.shape) else 0
        if outer * size * inner != x.elements:
            return _("its input tensor {index} does not fit its output shape {shape}").format(
                index=x.index, shape=list(y.shape))
        along += size
    return _output_count_problem(y, outer * along * inner)


def _pad_problem(op, inputs, y):
    """PAD (ops/shape.py prepare_pad): two paddings, neither negative, per input dimension (one at
    least); the output, the input grown by them."""
    x, paddings = inputs[0], _int32s(inputs[1])
    rank = len(x.shape)
    if not rank or len(paddings) != 2 * rank or min(paddings) < 0:
        return _("its paddings {paddings} do not fit its input shape {shape}").format(
            paddings=_listed(paddings), shape=list(x.shape))
    return _requantize_problem(x, y) or _output_shape_problem(
        y, [size + paddings[2 * k] + paddings[2 * k + 1] for k, size in enumerate(x.shape)])


def _slice_problem(op, inputs, y):
    """STRIDED_SLICE (ops/shape.py prepare_strided_slice): a begin, end and nonzero stride per
    input dimension; the output, as many values as the slice takes."""
    x = inputs[0]
    begin, end, strides = (_int32s(tensor) for tensor in inputs[1:4])
    if not len(begin) == len(end) == len(strides) == len(x.shape) or 0 in strides:
        return _("its begin {begin}, end {end} and strides {strides} do not fit its input shape {shape}").format(
            begin=_listed(begin), end=_listed(end), strides=_listed(strides), shape=list(x.shape))
    masks = [op.options.get(name, 0) for name in ("begin_mask", "end_mask", "shrink_axis_mask")]
    lengths = [_slice_length(size, begin[k], end[k], strides[k], *(mask >> k & 1 for mask in masks))
               for k, size in enumerate(x.shape)]
    # tflite-micro checks the shape itself: the slice's lengths, shrunk axes left out.
    shape = tuple(length for k, length in enumerate(lengths) if not masks[2] >> k & 1)
    return (_requantize_problem(x, y) or _output_count_problem(y, math.prod(lengths))
            or _output_shape_problem(y, shape))


def _slice_length(size, begin, end, stride, begin_all, end_all, shrink):
    """How many values a slice takes along one dimension: tflite-micro's StartForAxis and
    StopForAxis (masks, negative indices, clamping), as ops/shape.py."""
    forward = stride > 0
    start = _slice_bound((-FAR if forward else FAR) if begin_all else begin, size, forward)
    stop = start + 1 if shrink else _slice_bound((FAR if forward else -FAR) if end_all else end, size, forward)
    return len(range(start, stop, stride))


def _slice_bound(at, size, forward):
    """A slice's start or stop within a dimension of `size`: from the end when negative, clamped."""
    at = 0 if size == 0 else at + size if at < 0 else at
    return min(max(at, 0), size) if forward else min(max(at, -1), size - 1)


# The engine's checks of shapes, by op, after the checks every op gets (each returns a problem or None).
SHAPE_CHECKS = {
    **{name: (_count_problem,) for name in ("RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH",
                                            "QUANTIZE", "DEQUANTIZE", "RESHAPE")},
    **{name: (_broadcast_problem,) for name in ELEMENTWISE_OPS},
    "SOFTMAX": (_count_problem, _softmax_problem),
    "EXPAND_DIMS": (_count_problem, _expand_dims_problem),
    "SQUEEZE": (_count_problem, _squeeze_problem),
    "MEAN": (_mean_problem,),
    "SHAPE": (_shape_op_problem,),
    "CONCATENATION": (_joined_problem,),
    "PACK": (_joined_problem,),
    "PAD": (_pad_problem,),
    "STRIDED_SLICE": (_slice_problem,),
}
