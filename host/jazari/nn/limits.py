"""A model's declared sizes and numbers, checked before anything is allocated or planned.

The file first (a regular file, no bigger than any board holds), then what
it declares: ranks, element counts, constant bytes against the file, each
activation against the largest board's heap (the planner and `model info`'s
estimates loop over shapes: a lying shape must stop here). Then, per
operator (quant_problem), what the engine refuses when it loads a model
(firmware/kit/nn/survey.py, and each op's prepare in ops/*.py): int8 scales
that are 0, negative, NaN or inf, zero points outside int8, ops whose input
and output types differ, convolutions without int8 weights and int32 bias,
a depth_multiplier that does not match the shapes, and every relation
between an op's shapes its kernel trusts (windows, channels, element counts,
broadcasting, axes, paddings, slices: shapes.py). tflite-micro refuses
some of these itself, runs others and reads or writes outside its tensors:
the host refuses them all first, with one line, and never a model the
engine runs.
"""

import math
import stat

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.nn.shapes import (ELEMENTWISE_OPS, SHAPE_CHECKS, WINDOWED_OPS, channels_problem,
                              fully_connected_shapes_match, window_problem)

MAX_FILE_BYTES = 16 * 1024 * 1024  # more than any board's flash holds for a model
MAX_RANK = 8  # the engine's reader (firmware/kit/nn/reader.py _MAX_RANK)
MAX_ELEMENTS = 2**31 - 1
CONVERTING_OPS = ("QUANTIZE", "DEQUANTIZE", "SHAPE")  # ops whose output type may differ from their input's
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# Inputs tflite-micro reads at prepare, so constant int32 (firmware/kit/nn/survey.py's _CONSTANT).
CONSTANT_INPUTS = {"EXPAND_DIMS": (1,), "PAD": (1,), "MEAN": (1,), "STRIDED_SLICE": (1, 2, 3)}
ACTIVATION_BOUNDS = {"RELU6": 6.0, "RELU_N1_TO_1": 1.0}  # the largest bound each quantizes
# Ops whose kernels read every input they list: none may be omitted (-1) (ops/elementwise.py, shape.py).
NO_OMITTED_INPUT = ELEMENTWISE_OPS + ("CONCATENATION", "PACK")
# How many inputs tflite-micro's kernel takes, (fewest, most), where fixed
# (as firmware/kit/nn/survey.py's _ARITY); every op the engine runs has one output.
ARITY = {"ADD": (2, 2), "SUB": (2, 2), "MUL": (2, 2), "CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3),
         "FULLY_CONNECTED": (2, 3), "AVERAGE_POOL_2D": (1, 1), "MAX_POOL_2D": (1, 1), "MEAN": (2, 2),
         "SOFTMAX": (1, 1), "LOGISTIC": (1, 1), "TANH": (1, 1), "RELU": (1, 1), "RELU6": (1, 1),
         "LEAKY_RELU": (1, 1), "HARD_SWISH": (1, 1), "RESHAPE": (1, 2), "SQUEEZE": (1, 1),
         "EXPAND_DIMS": (2, 2), "SHAPE": (1, 1), "PAD": (2, 2), "STRIDED_SLICE": (4, 4),
         "QUANTIZE": (1, 1), "DEQUANTIZE": (1, 1)}


def check_file(path):
    """Refuse what is not a regular file of a model's size, before reading it (/dev/zero never ends)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise JazariError(_("There is no model file {path}.").format(path=path)) from None
    except OSError as failure:
        raise JazariError(_("Cannot read {path}: {reason}").format(path=path, reason=failure.strerror)) from None
    if not stat.S_ISREG(info.st_mode):
        raise JazariError(_("{path} is not a file: give a .tflite model file.").format(path=path))
    if info.st_size > MAX_FILE_BYTES:
        raise JazariError(_("{path} is {size} bytes, more than any board holds ({limit}): it is not a model "
                            "the kit can run.").format(path=path, size=info.st_size, limit=MAX_FILE_BYTES))


def size_problem(model, heap):
    """The first declared size that cannot be, as a translated reason (or None); `heap`: the largest board's."""
    for tensor in model.tensors:
        where = {"index": tensor.index, "shape": list(tensor.shape)}
        if len(tensor.shape) > MAX_RANK or any(dim < 0 for dim in tensor.shape):
            return _("tensor {index} has shape {shape}").format(**where)
        if tensor.elements > MAX_ELEMENTS:
            return _("tensor {index} declares {count} values").format(count=tensor.elements, **where)
        if tensor.is_const and len(tensor.data) < tensor.size:
            return _("tensor {index} holds {have} bytes, its shape {shape} needs {need}").format(
                have=len(tensor.data), need=tensor.size, **where)
        if not tensor.is_const and tensor.size > heap:
            return _("tensor {index} needs {need} bytes, more than any board's memory").format(
                need=tensor.size, **where)
        if not -2**31 <= tensor.zero_point < 2**31:  # the engine's reader refuses it whatever the type
            return _("tensor {index} has zero point {zero_point}").format(zero_point=tensor.zero_point, **where)
    return None


def _bad_scale(value):
    return not (value > 0 and math.isfinite(value))


def _tensor_problem(tensor):
    if tensor.dtype != "int8":
        return None
    if _bad_scale(tensor.scale) or any(_bad_scale(scale) for scale in tensor.scales):
        return _("tensor {index} has scale {scale}").format(index=tensor.index, scale=tensor.scale)
    if not -128 <= tensor.zero_point <= 127:
        return _("tensor {index} has zero point {zero_point}").format(index=tensor.index, zero_point=tensor.zero_point)
    return None


# Output quantization tflite-micro's int8 kernels require, (scale, zero point)
# (firmware/kit/nn/ops/sigmoid.py, softmax.py).
FIXED_OUTPUT_QUANTIZATION = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0), "SOFTMAX": (1.0 / 256, -128)}


def _quantization_problem(op, inputs, output):
    """The quantization the engine's kernels require and tflite-micro refuses
    otherwise: fixed output steps, pooling that keeps its input's, symmetric
    plain fully connected weights (ops/sigmoid.py, softmax.py, pooling.py,
    fully_connected.py)."""
    fixed = FIXED_OUTPUT_QUANTIZATION.get(op.name)
    if fixed and output.dtype == "int8" and (output.scale, output.zero_point) != fixed:
        return _("its output needs scale {scale} and zero point {zero_point}").format(
            scale=fixed[0], zero_point=fixed[1])
    x = inputs[0]
    if op.name.endswith("_POOL_2D") and (x.zero_point != output.zero_point or abs(x.scale - output.scale) > 1e-6):
        return _("its output scale or zero point differs from its input's")
    if op.name == "FULLY_CONNECTED":
        if op.options.get("weights_format"):
            return _("its weights are in a shuffled format, which the kit does not run")
        weights = inputs[1]
        if not weights.per_channel and weights.zero_point:
            return _("its weights have zero point {zero_point} (int8 weights are symmetric)").format(
                zero_point=weights.zero_point)
    return None


def _op_problem(model, op):
    inputs, outputs = model.op_inputs(op), model.op_outputs(op)
    fewest, most = ARITY.get(op.name, (1, 255))
    if len(outputs) != 1 or not fewest <= len(inputs) <= most or inputs[0] is None:
        return _("it has {inputs} inputs and {outputs} outputs").format(inputs=len(inputs), outputs=len(outputs))
    if op.name in NO_OMITTED_INPUT and None in inputs:
        return _("its input {index} is missing").format(index=inputs.index(None))
    for tensor in inputs + outputs:
        problem = tensor is not None and _tensor_problem(tensor)
        if problem:
            return problem
    if outputs[0].is_const:  # the engine's planner gives a constant no arena bytes to write (survey.py)
        return _("its output, tensor {index}, is a constant").format(index=outputs[0].index)
    if inputs[0].dtype != outputs[0].dtype and op.name not in CONVERTING_OPS:
        return _("its input is {input} and its output {output}").format(
            input=inputs[0].dtype, output=outputs[0].dtype)
    if op.name in WEIGHTED_OPS:
        weights = inputs[1] if len(inputs) > 1 else None
        bias = inputs[2] if len(inputs) > 2 else None
        if weights is None or weights.dtype != "int8" or not weights.size or (bias is not None and bias.dtype != "int32"):
            return _("it needs int8 weights and an int32 bias")
        if len(inputs) > 2 and bias is None and op.name != "FULLY_CONNECTED":  # tflite-micro crashes on it
            return _("it needs int8 weights and an int32 bias")
        if inputs[0].dtype != "int8":  # the engine's kernels compute in int8 only (survey.py)
            return _("it needs an int8 input")
        if not weights.is_const or (bias is not None and not bias.is_const):  # ops/conv.py check_weights
            return _("its weights and bias must be constant")
        if weights.per_channel and weights.quantized_dimension != (3 if op.name == "DEPTHWISE_CONV_2D" else 0):
            return _("its weights have per-channel scales along dimension {dimension}").format(
                dimension=weights.quantized_dimension)
        if op.name != "FULLY_CONNECTED" and not len(inputs[0].shape) == len(weights.shape) == len(outputs[0].shape) == 4:
            return _("it needs 4-D input, filter and output")
        if op.name == "FULLY_CONNECTED" and not fully_connected_shapes_match(inputs[0], weights, outputs[0]):
            return _("its input {input}, weights {weights} and output {output} do not match").format(
                input=list(inputs[0].shape), weights=list(weights.shape), output=list(outputs[0].shape))
        # tflite-micro's fully connected: the bias scale within 2% of an output step of input x weights scale.
        product = inputs[0].scale * weights.scale
        if op.name == "FULLY_CONNECTED" and bias is not None and not abs(product - bias.scale) <= 0.02 * outputs[0].scale:
            return _("its bias scale {bias} is not input scale x weights scale {product}").format(
                bias=bias.scale, product=product)
    for index in CONSTANT_INPUTS.get(op.name, ()):
        if inputs[index] is None or not inputs[index].is_const or inputs[index].dtype != "int32":
            return _("its input {index} must be a constant int32 tensor").format(index=index)
    for check in SHAPE_CHECKS.get(op.name, ()):
        problem = check(op, inputs, outputs[0])
        if problem:
            return problem
    problem = _quantization_problem(op, inputs, outputs[0])
    if problem:
        return problem
    if op.name in WINDOWED_OPS and not op.options:
        return _("it has no options (strides)")
    if op.name in WINDOWED_OPS:
        problem = window_problem(op, inputs[0], inputs[1] if len(inputs) > 1 else None, outputs[0])
        if problem:
            return problem
    if op.name in WEIGHTED_OPS:
        problem = channels_problem(op, inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None)
        if problem:
            return problem
    if op.name in ("ADD", "SUB") and outputs[0].dtype == "int8":  # two inputs, neither omitted (above)
        largest = max(inputs[0].scale, inputs[1].scale)
        if 2 * largest / (2**20 * outputs[0].scale) >= 1:  # tflite-micro aborts on it
            return _("its input scale {scale} is too large for its output scale").format(scale=largest)
    if op.name == "SOFTMAX" and not op.options.get("beta", 0.0) * inputs[0].scale * 2**26 > 1:
        return _("its beta {beta} is too small for its input scale").format(beta=op.options.get("beta", 0.0))
    # tflite-micro quantizes the fused activation's bounds into int32: a tiny output scale overflows.
    bound = ACTIVATION_BOUNDS.get(op.options.get("activation"))
    if bound and outputs[0].dtype == "int8" and round(bound / outputs[0].scale) > 2**31:
        return _("its output scale {scale} is too small for its fused activation").format(scale=outputs[0].scale)
    if op.name == "DEPTHWISE_CONV_2D":
        in_c, out_c = inputs[0].shape[-1:] or (0,), outputs[0].shape[-1:] or (0,)
        if not in_c[0] or op.options.get("depth_multiplier") != out_c[0] // in_c[0]:
            return _("its depth_multiplier {multiplier} does not match its channels").format(
                multiplier=op.options.get("depth_multiplier"))
    return None


def _broken_at(model_name, op, problem):
    """The one line for a model whose operator `op` has `problem`."""
    return _("{model} is broken at operator {index}, {op}: {problem}. Export the model again.").format(
        model=model_name, index=op.index, op=op.name, problem=problem)


def quant_problem(model, model_name, supported):
    """The first operator, among the `supported` ones, with numbers that cannot be right, as a message (or None)."""
    for op in model.operators:
        if op.name not in supported:
            continue
        problem = _op_problem(model, op)
        if problem:
            return _broken_at(model_name, op, problem)
    return None


def flow_problem(model, model_name):
    """An operator reading a tensor nothing has written yet, or a model output no
    operator computes, as a message (or None): either would hold whatever the
    arena held (the engine refuses both: survey.py _check_flow)."""
    written = {tensor.index for tensor in model.input_tensors()}
    for op in model.operators:
        for tensor in model.op_inputs(op):
            # A tensor of no values has nothing to read (a RESHAPE to a scalar: its shape input is empty).
            if tensor is not None and tensor.elements and not tensor.is_const and tensor.index not in written:
                return _broken_at(model_name, op, _("it reads tensor {tensor} before any operator writes it").format(
                    tensor=tensor.index))
        written.update(tensor.index for tensor in model.op_outputs(op))
    for position, tensor in enumerate(model.output_tensors()):
        if tensor.index not in written:
            return _("{model}'s output {position} is computed by no operator. Export the model again.").format(
                model=model_name, position=position)
    return None


IO_TYPES = ("int8", "int32", "float32")  # what the engine takes in and gives out (numpy has no int4)


def io_problem(model, model_name):
    """A model input or output of a type the kit cannot exchange, or a constant (which the
    engine refuses: survey.py), as a message (or None)."""
    for kind, tensors in (("input", model.input_tensors()), ("output", model.output_tensors())):
        for position, tensor in enumerate(tensors):
            where = {"model": model_name, "kind": _(kind), "position": position}
            if tensor.dtype not in IO_TYPES:
                return _("{model}'s {kind} {position} is {dtype}: the kit exchanges int8, int32 or float32 "
                         "values. Export the model again.").format(dtype=tensor.dtype, **where)
            if tensor.is_const:
                return _("{model}'s {kind} {position} is a constant tensor, not one the model takes or "
                         "computes. Export the model again.").format(**where)
    return None
