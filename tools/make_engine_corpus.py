"""Generate the engine's own test corpus (tests/nn/corpus/).

Small Keras models, converted by TensorFlow with full-integer quantization,
that together exercise every op and option `kit.nn` supports. For each model
the tool stores the `.tflite` file, seeded input samples and the outputs that
tflite-micro (the pinned oracle) gives for them, so the tests need no
TensorFlow. `manifest.json` lists each model with the ops and options it
really contains, read back from the converted flatbuffer.

Run it from the repository root in the tools venv (tools/requirements-corpus.txt):

    python3 -m venv /tmp/tfv && /tmp/tfv/bin/pip install -r tools/requirements-corpus.txt
    /tmp/tfv/bin/python tools/make_engine_corpus.py

Everything is seeded, so a rerun with the pinned versions gives the same files.
`describe_model` needs only `tflite-micro` (for its schema), so the tests
import it to check the manifest against the committed files.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "nn" / "corpus"
SAMPLES = 6  # per model: all-minimum, all-maximum, then random
REPRESENTATIVE = 48  # calibration samples per model
SEED = 20261127

# Op/option features the engine issue asks the corpus to cover (see
# describe_model for how each is read from a converted model).
REQUIRED_FEATURES = [
    "CONV_2D stride=1", "CONV_2D stride=2", "CONV_2D padding=SAME", "CONV_2D padding=VALID",
    "CONV_2D dilation=2", "CONV_2D activation=NONE", "CONV_2D activation=RELU",
    "CONV_2D activation=RELU6", "CONV_2D weights=per-channel", "CONV_2D kernel=1x1",
    "CONV_2D kernel=3x3", "CONV_2D kernel=non-square",
    "DEPTHWISE_CONV_2D stride=1", "DEPTHWISE_CONV_2D stride=2",
    "DEPTHWISE_CONV_2D padding=SAME", "DEPTHWISE_CONV_2D padding=VALID",
    "DEPTHWISE_CONV_2D dilation=2", "DEPTHWISE_CONV_2D depth_multiplier=1",
    "DEPTHWISE_CONV_2D depth_multiplier=2", "DEPTHWISE_CONV_2D activation=RELU6",
    "FULLY_CONNECTED bias", "FULLY_CONNECTED no-bias", "FULLY_CONNECTED keep_num_dims",
    "MAX_POOL_2D padding=SAME", "MAX_POOL_2D padding=VALID",
    "AVERAGE_POOL_2D padding=SAME", "AVERAGE_POOL_2D padding=VALID",
    "AVERAGE_POOL_2D stride!=filter",
    "MEAN keep_dims=true", "MEAN keep_dims=false",
    "ADD broadcast", "SUB broadcast", "MUL broadcast",
    "ADD same-shape", "SUB same-shape", "MUL same-shape",
    "CONCATENATION axis=last", "CONCATENATION axis=other",
    "PAD", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "SHAPE", "PACK", "STRIDED_SLICE",
    "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH",
    "QUANTIZE float32->int8", "DEQUANTIZE int8->float32",
    # what current TensorFlow also emits, beyond the list
    "DEPTHWISE_CONV_2D weights=per-channel", "FULLY_CONNECTED weights=per-channel",
    "CONV_2D weights=per-tensor", "DEPTHWISE_CONV_2D weights=per-tensor",
    "FULLY_CONNECTED weights=per-tensor",
    "DEPTHWISE_CONV_2D kernel=non-square", "FULLY_CONNECTED activation=RELU",
    "ADD activation=RELU", "SUB activation=RELU6", "ADD const-operand",
    "QUANTIZE int8->int8", "SHAPE int8->int32", "STRIDED_SLICE int32->int32",
    "STRIDED_SLICE stride!=1", "PACK int8->int8", "PACK int32->int32", "MEAN axes=1",
]


# ---------------------------------------------------------------------------
# Reading a converted model (tflite-micro's schema; no TensorFlow needed)

def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    return schema_py_generated


def _enum_names(enum_class):
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64",
               7: "int16", 9: "int8"}


_FUSED = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH"}
_PADDING = {0: "SAME", 1: "VALID"}


def _activation(options):
    return _FUSED.get(options.fusedActivationFunction, "other")


def _hw(h, w):
    return str(h) if h == w else "%dx%d" % (h, w)


class _Graph:
    """Subgraph 0 of a parsed model, with the tensor facts features need."""

    def __init__(self, model):
        self.model = model
        self.tensors = model.subgraphs[0].tensors

    def type(self, i):
        return _TYPE_NAMES.get(self.tensors[i].type, "type%d" % self.tensors[i].type)

    def shape(self, i):
        shape = self.tensors[i].shape
        return [] if shape is None else [int(d) for d in shape]

    def scales(self, i):
        q = self.tensors[i].quantization
        return None if q is None or q.scale is None else [float(v) for v in q.scale]

    def is_const(self, i):
        return self.model.buffers[self.tensors[i].buffer].data is not None

    def int32_values(self, i):
        if not self.is_const(i):
            return None
        data = bytes(bytearray(self.model.buffers[self.tensors[i].buffer].data))
        return np.frombuffer(data, "<i4").tolist()

    def io(self, i):
        scales = self.scales(i)
        quantized = bool(scales)
        return {"shape": self.shape(i), "dtype": self.type(i),
                "scale": scales[0] if quantized else None,
                "zero_point": int(self.tensors[i].quantization.zeroPoint[0]) if quantized else None}


def _conv_features(options, ins, outs, g):
    kh, kw = g.shape(ins[1])[1:3]
    tags = ["stride=" + _hw(options.strideH, options.strideW),
            "padding=" + _PADDING[options.padding],
            "dilation=" + _hw(options.dilationHFactor, options.dilationWFactor),
            "activation=" + _activation(options),
            "kernel=%dx%d" % (kh, kw)]
    if kh != kw:
        tags.append("kernel=non-square")
    return tags + _weight_features(ins, g)


def _depthwise_features(options, ins, outs, g):
    multiplier = g.shape(outs[0])[3] // g.shape(ins[0])[3]
    return _conv_features(options, ins, outs, g) + ["depth_multiplier=%d" % multiplier]


def _weight_features(ins, g):
    scales = g.scales(ins[1]) or []
    return ["weights=per-channel" if len(scales) > 1 else
            "weights=per-tensor" if scales else "weights=float",
            "bias" if len(ins) > 2 and ins[2] >= 0 else "no-bias"]


def _fully_connected_features(options, ins, outs, g):
    tags = _weight_features(ins, g) + ["activation=" + _activation(options),
                                       "input-rank=%d" % len(g.shape(ins[0]))]
    if options.keepNumDims:
        tags.append("keep_num_dims")
    return tags


def _pool_features(options, ins, outs, g):
    tags = ["padding=" + _PADDING[options.padding],
            "filter=" + _hw(options.filterHeight, options.filterWidth),
            "stride=" + _hw(options.strideH, options.strideW),
            "activation=" + _activation(options)]
    if (options.filterHeight, options.filterWidth) != (options.strideH, options.strideW):
        tags.append("stride!=filter")
    return tags


def _mean_features(options, ins, outs, g):
    return ["keep_dims=" + ("true" if options.keepDims else "false"),
            "axes=" + ",".join(str(a) for a in g.int32_values(ins[1]) or [])]


def _elementwise_features(options, ins, outs, g):
    tags = ["broadcast" if g.shape(ins[0]) != g.shape(ins[1]) else "same-shape",
            "activation=" + _activation(options)]
    if any(g.is_const(i) for i in ins):
        tags.append("const-operand")
    return tags


def _concat_features(options, ins, outs, g):
    rank = len(g.shape(outs[0]))
    return ["axis=last" if options.axis % rank == rank - 1 else "axis=other",
            "inputs=%d" % len(ins)] + _types(options, ins, outs, g)


def _strided_slice_features(options, ins, outs, g):
    tags = _types(options, ins, outs, g)
    if any(v != 1 for v in g.int32_values(ins[3]) or []):
        tags.append("stride!=1")
    return tags


def _types(options, ins, outs, g):
    return ["%s->%s" % (g.type(ins[0]), g.type(outs[0]))]


_FEATURES = {
    "CONV_2D": _conv_features,
    "DEPTHWISE_CONV_2D": _depthwise_features,
    "FULLY_CONNECTED": _fully_connected_features,
    "MAX_POOL_2D": _pool_features,
    "AVERAGE_POOL_2D": _pool_features,
    "MEAN": _mean_features,
    "ADD": _elementwise_features,
    "SUB": _elementwise_features,
    "MUL": _elementwise_features,
    "CONCATENATION": _concat_features,
    "STRIDED_SLICE": _strided_slice_features,
    "LEAKY_RELU": lambda options, *_: ["alpha=%g" % options.alpha],
    "SOFTMAX": lambda options, *_: ["beta=%g" % options.beta],
}
for _name in ("QUANTIZE", "DEQUANTIZE", "SHAPE", "PACK", "RESHAPE", "EXPAND_DIMS",
              "SQUEEZE", "PAD"):
    _FEATURES[_name] = _types


def describe_model(data):
    """What a .tflite file really contains: its inputs, outputs and operators.

    Returns a dict with "inputs"/"outputs" (shape, dtype, scale, zero_point),
    "ops" (sorted op names), "operators" (name and features, in graph order)
    and "features" (sorted union: each op name and "OP feature" strings).
    """
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(data), 0))
    op_names = _enum_names(schema.BuiltinOperator)
    g = _Graph(model)
    graph = model.subgraphs[0]
    operators = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        ins = [int(i) for i in op.inputs]
        outs = [int(i) for i in op.outputs]
        describe_op = _FEATURES.get(name)
        operators.append({"op": name, "features": describe_op(op.builtinOptions, ins, outs, g)
                          if describe_op else []})
    features = {o["op"] for o in operators}
    features.update("%s %s" % (o["op"], f) for o in operators for f in o["features"])
    return {
        "inputs": [g.io(int(i)) for i in graph.inputs],
        "outputs": [g.io(int(i)) for i in graph.outputs],
        "ops": sorted({o["op"] for o in operators}),
        "operators": operators,
        "features": sorted(features),
    }


# ---------------------------------------------------------------------------
# Oracle

def reference_outputs(model_path, inputs, n_outputs):
    """tflite-micro's outputs for each sample (set every input, one invoke per sample)."""
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_file(str(model_path))
    outputs = [[] for _ in range(n_outputs)]
    for s in range(len(inputs[0])):
        for i, x in enumerate(inputs):
            interp.set_input(x[s], i)
        interp.invoke()
        for k in range(n_outputs):
            outputs[k].append(np.array(interp.get_output(k)))
    return [np.stack(o) for o in outputs]


# ---------------------------------------------------------------------------
# The models. Each builder gets `L` (keras.layers) and `tf` and returns the
# model's (inputs, outputs); weights are then overwritten with seeded random values so that
# biases are non-zero (the converter drops an all-zero dense bias).

def _lam(fn):
    import keras
    return keras.layers.Lambda(fn)


def conv_kernels(L, tf):
    x = i = L.Input((9, 9, 3), batch_size=1)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(4, 1, activation="relu6")(x)
    x = L.Conv2D(3, (2, 3), padding="valid")(x)
    return [i], [x]


def conv_strides(L, tf):
    x = i = L.Input((9, 9, 2), batch_size=1)
    x = L.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.Conv2D(3, 3, strides=(2, 1), padding="valid", activation="relu")(x)
    return [i], [x]


def conv_stride2_even(L, tf):
    x = i = L.Input((10, 8, 3), batch_size=1)
    x = L.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(2, 2, strides=2, padding="same")(x)
    return [i], [x]


def conv_dilation(L, tf):
    x = i = L.Input((10, 9, 2), batch_size=1)
    x = L.Conv2D(3, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.Conv2D(2, (3, 2), dilation_rate=(2, 1), padding="valid")(x)
    return [i], [x]


def conv1d(L, tf):
    x = i = L.Input((20, 3))  # dynamic batch: Conv1D becomes EXPAND_DIMS + CONV_2D
    x = L.Conv1D(4, 3, padding="same", activation="relu")(x)
    x = L.Conv1D(4, 3, strides=2, padding="valid")(x)
    x = L.Conv1D(2, 3, padding="causal", activation="relu6")(x)
    return [i], [x]


def depthwise(L, tf):
    x = i = L.Input((8, 8, 4), batch_size=1)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2)(x)
    return [i], [x]


def depthwise_dilation(L, tf):
    x = i = L.Input((9, 10, 3), batch_size=1)
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D((2, 3), strides=(1, 2), padding="same", depth_multiplier=2)(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    return [i], [x]


def fully_connected(L, tf):
    x = i = L.Input((12,), batch_size=1)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dense(6, activation="relu6", use_bias=False)(x)
    x = L.Dense(4)(x)
    return [i], [x]


def fully_connected_3d(L, tf):
    x = i = L.Input((3, 5), batch_size=1)
    x = L.Dense(4)(x)
    x = L.Dense(3, use_bias=False)(x)
    return [i], [x]


def max_pool(L, tf):
    x = i = L.Input((10, 9, 3), batch_size=1)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.MaxPooling2D((2, 3), strides=(1, 2), padding="valid")(x)
    return [i], [x]


def average_pool(L, tf):
    x = i = L.Input((10, 9, 3), batch_size=1)
    x = L.AveragePooling2D(3, strides=2, padding="same")(x)
    x = L.AveragePooling2D(2, strides=1, padding="valid")(x)
    x = L.AveragePooling2D((1, 3), strides=(1, 2), padding="same")(x)
    return [i], [x]


def mean(L, tf):
    i = L.Input((6, 5, 4), batch_size=1)
    a = L.GlobalAveragePooling2D()(i)
    b = L.GlobalAveragePooling2D(keepdims=True)(i)
    c = _lam(lambda t: tf.reduce_mean(t, axis=1))(i)
    return [i], [a, b, c]


def elementwise(L, tf):
    a = L.Input(name="a", shape=(4, 4, 3), batch_size=1)
    b = L.Input(name="b", shape=(4, 4, 3), batch_size=1)
    # An op whose result is also a model output keeps its activation apart,
    # so each fused-activation op here feeds only its activation.
    return [a, b], [L.Subtract()([a, b]), L.Multiply()([a, b]), L.ReLU()(L.Add()([a, b])),
                    L.ReLU(max_value=6.0)(L.Subtract()([b, a]))]


def broadcast(L, tf):
    a = L.Input(name="a", shape=(4, 5, 3), batch_size=1)
    b = L.Input(name="b", shape=(1, 1, 3), batch_size=1)
    c = L.Input(name="c", shape=(4, 1, 3), batch_size=1)
    return [a, b, c], [_lam(lambda t: t[0] + t[1])([a, b]),
                       _lam(lambda t: t[0] - t[1])([a, c]),
                       _lam(lambda t: t[0] * t[1])([c, a])]


def squeeze_excite(L, tf):
    x = i = L.Input((5, 5, 4), batch_size=1)
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="sigmoid")(s)
    x = L.Multiply()([x, s])
    x = _lam(lambda t: t + 0.25)(x)
    x = _lam(lambda t: t - tf.constant([0.5, -0.25, 0.0, 1.0]))(x)
    return [i], [x]


def concatenation(L, tf):
    a = L.Input(name="a", shape=(4, 4, 2), batch_size=1)
    b = L.Input(name="b", shape=(4, 4, 3), batch_size=1)
    c = L.Input(name="c", shape=(2, 4, 2), batch_size=1)
    return [a, b, c], [L.Concatenate(axis=-1)([a, b]),
                       L.Concatenate(axis=1)([a, c]),
                       L.Concatenate(axis=2)([a, a, a])]


def pad(L, tf):
    x = i = L.Input((5, 6, 2), batch_size=1)
    x = L.ZeroPadding2D(((1, 2), (0, 1)))(x)
    x = L.Conv2D(3, 3, padding="valid")(x)
    x = L.ZeroPadding2D(1)(x)
    return [i], [x]


def shape_dynamic(L, tf):
    x = i = L.Input((4, 4, 2))  # dynamic batch: Reshape needs SHAPE/STRIDED_SLICE/PACK
    x = L.Reshape((8, 4))(x)
    x = L.Conv1D(3, 1)(x)
    return [i], [x]


def shape_static(L, tf):
    import keras
    i = L.Input((4, 6, 2))
    a = _lam(lambda t: t[:, 1:4, ::2, :])(i)
    b = _lam(lambda t: keras.ops.stack([t[:, 0], t[:, 3]], axis=1))(i)
    # EXPAND_DIMS straight on the input stays float32 after conversion (a
    # converter quirk); after an op it is int8.
    c = _lam(lambda t: keras.ops.expand_dims(t, 2))(L.ReLU()(i))
    d = L.Reshape((9, 2))(a)
    return [i], [a, b, c, d]


def squeeze(L, tf):
    import keras
    # Two open dimensions keep the converter from turning SQUEEZE into RESHAPE;
    # the file then stores them as 1, so this tensor is small.
    i = L.Input((None, 1, 12))
    x = _lam(lambda t: keras.ops.squeeze(t, 2))(i)
    return [i], [L.ReLU(max_value=6.0)(x)]


def activations(L, tf):
    i = L.Input((3, 4, 5), batch_size=1)
    return [i], [L.ReLU()(i), L.ReLU(max_value=6.0)(i), L.Activation("sigmoid")(i),
                 L.Activation("tanh")(i), L.LeakyReLU(negative_slope=0.2)(i),
                 _lam(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(i), L.Softmax()(i)]


def per_tensor(L, tf):
    x = i = L.Input((6, 6, 2), batch_size=1)
    x = L.Conv2D(4, 3, activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.Flatten()(x)
    x = L.Dense(5)(x)
    return [i], [x]


def float_io(L, tf):
    x = i = L.Input((8, 8, 1), batch_size=1)
    x = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(3, activation="softmax")(x)
    return [i], [x]


def mobilenet_tiny(L, tf):
    x = i = L.Input((16, 16, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(8, 1)(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    y = L.Conv2D(8, 1)(y)
    x = L.Add()([x, y])
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1)(x)
    x = _lam(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(4)(x)
    x = L.Softmax()(x)
    return [i], [x]


def gesture_1d(L, tf):
    x = i = L.Input((32, 3))
    x = L.Conv1D(8, 5, activation="relu")(x)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(8, 3, activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(16, activation="relu")(x)
    x = L.Dense(4, activation="softmax")(x)
    return [i], [x]


# name: (builder, quantization, input ranges for calibration and floats, purpose)
# quantization: "int8" (int8 in/out), "int8-per-tensor" (the same with one
# weight scale per tensor), "float-io" (float32 in/out), "float-in"
# (float32 in, int8 out), "none" (float model) or "16x8" (int16 activations).
MODELS = {
    "conv_kernels": (conv_kernels, "int8", "CONV_2D 3x3 SAME RELU, 1x1 RELU6, 2x3 VALID no activation"),
    "conv_strides": (conv_strides, "int8", "CONV_2D stride 2 SAME on odd size without Keras bias, stride 2x1 VALID"),
    "conv_stride2_even": (conv_stride2_even, "int8", "CONV_2D stride 2 SAME on even sizes (asymmetric padding), non-square kernel"),
    "conv_dilation": (conv_dilation, "int8", "CONV_2D dilation 2 SAME, dilation 2x1 VALID"),
    "conv1d": (conv1d, "int8", "Conv1D: EXPAND_DIMS + CONV_2D + RESHAPE, stride 2, causal padding (PAD)"),
    "depthwise": (depthwise, "int8", "DEPTHWISE_CONV_2D stride 1 SAME RELU6 multiplier 1, stride 2 VALID multiplier 2"),
    "depthwise_dilation": (depthwise_dilation, "int8", "DEPTHWISE_CONV_2D dilation 2, non-square kernel, stride 1x2, stride 2 SAME"),
    "fully_connected": (fully_connected, "int8", "FULLY_CONNECTED with bias RELU, no bias RELU6, plain"),
    "fully_connected_3d": (fully_connected_3d, "int8", "FULLY_CONNECTED on a rank-3 input (keep_num_dims)"),
    "max_pool": (max_pool, "int8", "MAX_POOL_2D 3x3/2 SAME, 2x3/1x2 VALID"),
    "average_pool": (average_pool, "int8", "AVERAGE_POOL_2D 3x3/2 SAME, 2x2/1 VALID, 1x3/1x2 SAME"),
    "mean": (mean, "int8", "MEAN over H,W without and with keep_dims, over one axis"),
    "elementwise": (elementwise, "int8", "SUB, MUL of two inputs of the same shape, ADD with fused RELU, SUB with fused RELU6"),
    "broadcast": (broadcast, "int8", "ADD, SUB, MUL with broadcasting shapes"),
    "squeeze_excite": (squeeze_excite, "int8", "squeeze-excite block: MEAN, 1x1 CONV_2D, LOGISTIC, broadcast MUL, ADD/SUB of constants"),
    "concatenation": (concatenation, "int8", "CONCATENATION on channels, height and width, 2 and 3 inputs"),
    "pad": (pad, "int8", "PAD (ZeroPadding2D) asymmetric and symmetric"),
    "shape_dynamic": (shape_dynamic, "int8", "Reshape with an open batch: SHAPE, STRIDED_SLICE, PACK on int32, RESHAPE; then a 1x1 Conv1D"),
    "shape_static": (shape_static, "int8", "STRIDED_SLICE with stride 2, PACK of int8, EXPAND_DIMS, RESHAPE, with SHAPE for the open batch"),
    "squeeze": (squeeze, "int8", "SQUEEZE (kept only when two dimensions are open), RELU6"),
    "activations": (activations, "int8", "RELU, RELU6, LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH, SOFTMAX applied to the input"),
    "per_tensor": (per_tensor, "int8-per-tensor", "per-tensor weight scales (converter's _experimental_disable_per_channel) in CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED"),
    "float_io": (float_io, "float-io", "float32 input and output: QUANTIZE, DEQUANTIZE"),
    "float_in_int8_out": (float_io, "float-in", "float32 input, int8 output: QUANTIZE"),
    "mobilenet_tiny": (mobilenet_tiny, "int8", "realistic: small MobileNet-style CNN with a residual ADD and hard swish"),
    "gesture_1d": (gesture_1d, "float-io", "realistic: 1-D conv gesture classifier on 32x3 accelerometer samples"),
    "bad/float_model": (float_io, "none", "bad: float32 model without quantization (engine must refuse)"),
    "bad/int16x8_model": (float_io, "16x8", "bad: int16 activations with int8 weights (engine must refuse)"),
}

# Calibration ranges per input position (different scales make ADD/SUB/MUL
# and CONCATENATION requantize instead of copying).
INPUT_RANGES = [(-1.0, 1.0), (-2.0, 3.0), (-0.5, 0.25)]
DYNAMIC_SIZE = 5  # calibration size of an input dimension left open (None)


def _build(name, builder):
    import keras
    import tensorflow as tf
    keras.backend.clear_session()  # layer names (kept in the file) restart per model
    keras.utils.set_random_seed(SEED)
    inputs, outputs = builder(keras.layers, tf)
    model = keras.Model(inputs, outputs, name=name.replace("/", "_"))
    rng = np.random.default_rng([SEED, sum(map(ord, name))])
    for w in model.weights:
        shape = tuple(w.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 0
        if len(shape) == 4 and "depthwise" in w.path:
            fan_in = shape[0] * shape[1]
        std = 1.0 / np.sqrt(fan_in) if fan_in else 0.3
        w.assign(rng.normal(0.0, std, shape).astype(np.float32))
    return model


def _float_samples(model, rng, count):
    samples = []
    for k, spec in enumerate(model.inputs):
        lo, hi = INPUT_RANGES[k % len(INPUT_RANGES)]
        shape = (count, 1) + tuple(DYNAMIC_SIZE if d is None else d for d in spec.shape[1:])
        samples.append(rng.uniform(lo, hi, shape).astype(np.float32))
    return samples


def _convert(model, mode, rng):
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "none":
        calibration = _float_samples(model, rng, REPRESENTATIVE)

        def representative():
            for s in range(REPRESENTATIVE):
                yield {t.name: x[s] for t, x in zip(model.inputs, calibration)}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if mode == "16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter._experimental_disable_per_channel = mode == "int8-per-tensor"
            if mode in ("int8", "int8-per-tensor"):
                converter.inference_input_type = tf.int8
            if mode in ("int8", "int8-per-tensor", "float-in"):
                converter.inference_output_type = tf.int8
    return converter.convert()


def _test_samples(described, rng):
    """SAMPLES inputs per model input: all-minimum, all-maximum, then random."""
    samples = []
    for k, spec in enumerate(described["inputs"]):
        shape = (SAMPLES,) + tuple(spec["shape"])
        if spec["dtype"] == "float32":
            lo, hi = INPUT_RANGES[k % len(INPUT_RANGES)]
            lo, hi = lo * 1.25, hi * 1.25  # also a little outside the calibrated range
            x = rng.uniform(lo, hi, shape).astype(np.float32)
        else:
            info = np.iinfo(spec["dtype"])
            lo, hi = info.min, info.max
            x = rng.integers(lo, hi, shape, endpoint=True).astype(spec["dtype"])
        x[0], x[1] = lo, hi
        samples.append(x)
    return samples


def _versions():
    from importlib.metadata import version
    return {p: version(p) for p in ("tensorflow-cpu", "keras", "numpy", "tflite-micro")}


def coverage_map(entries):
    """Each required feature -> the names of the (good) models that have it."""
    return {f: [e["name"] for e in entries if not e["bad"] and f in e["features"]]
            for f in REQUIRED_FEATURES}


def make_corpus(out=CORPUS):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    entries = []
    for name, (builder, mode, purpose) in MODELS.items():
        rng = np.random.default_rng([SEED, sum(map(ord, name)), 1])
        flatbuffer = _convert(_build(name, builder), mode, rng)
        path = out / (name + ".tflite")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(flatbuffer)
        described = describe_model(flatbuffer)
        entry = {"name": name, "file": name + ".tflite", "purpose": purpose,
                 "quantization": mode, "bad": name.startswith("bad/")}
        if not entry["bad"]:
            inputs = _test_samples(described, rng)
            outputs = reference_outputs(path, inputs, len(described["outputs"]))
            arrays = {"input_%d" % k: x for k, x in enumerate(inputs)}
            arrays.update({"output_%d" % k: y for k, y in enumerate(outputs)})
            np.savez_compressed(out / (name + ".npz"), **arrays)
            entry["data"] = name + ".npz"
            entry["samples"] = SAMPLES
        entry.update(described)
        entries.append(entry)
        print("%-22s %6d bytes  %s" % (name, len(flatbuffer), " ".join(described["ops"])))
    coverage = coverage_map(entries)
    missing = [f for f, names in coverage.items() if not names]
    manifest = {
        "generator": "tools/make_engine_corpus.py",
        "versions": _versions(),
        "seed": SEED,
        "required_features": REQUIRED_FEATURES,
        "not_covered": missing,
        "coverage": coverage,
        "models": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print("not covered:", ", ".join(missing) or "nothing")
    return manifest


if __name__ == "__main__":
    make_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS)
