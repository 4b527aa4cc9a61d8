"""Read a .tflite file on the computer: tensors, quantization, operators, options.

A small FlatBuffers reader over the file's bytes with `struct`: no generated
code and no dependency. Field slots follow tensorflow/lite/schema/schema.fbs
(the 0-based order of each table's fields). Only subgraph 0 is read, as the
board's engine does. Failures raise `TFLiteFormatError` (English, for the
caller to translate); `load_model(path)` turns them into one `JazariError`.
"""

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from jazari.errors import JazariError
from jazari.i18n import _

# -- schema facts --------------------------------------------------------------

# TensorType -> (name, bytes per element); names are numpy dtype names.
TENSOR_TYPES = {
    0: ("float32", 4), 1: ("float16", 2), 2: ("int32", 4), 3: ("uint8", 1), 4: ("int64", 8),
    5: ("string", 1), 6: ("bool", 1), 7: ("int16", 2), 8: ("complex64", 8), 9: ("int8", 1),
    10: ("float64", 8), 11: ("complex128", 16), 12: ("uint64", 8), 13: ("resource", 1),
    14: ("variant", 1), 15: ("uint32", 4), 16: ("uint16", 2), 17: ("int4", 1), 18: ("bfloat16", 2),
}
ITEM_SIZES = dict(TENSOR_TYPES.values())
FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})

# BuiltinOperator, by code (schema.fbs order). Later codes (StableHLO) are
# named "BUILTIN_<code>".
BUILTIN_NAMES = (
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE "
    "EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D "
    "LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 "
    "RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM "
    "CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND "
    "SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE "
    "BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM "
    "CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT "
    "SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT "
    "SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND "
    "LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE "
    "RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL "
    "REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE "
    "MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 "
    "SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM "
    "CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND "
    "HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE "
    "ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL "
    "GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX "
    "UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT"
).split()
BUILTIN_CODES = {name: code for code, name in enumerate(BUILTIN_NAMES)}
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
PADDINGS = ("SAME", "VALID")

# Builtin options of the ops the kit cares about: (field name, struct format,
# default) in slot order. Options of other ops are left undecoded.
_CONV = (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
         ("activation", "b", 0), ("dilation_w", "i", 1), ("dilation_h", "i", 1))
_DEPTHWISE = (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("depth_multiplier", "i", 0),
              ("activation", "b", 0), ("dilation_w", "i", 1), ("dilation_h", "i", 1))
_POOL = (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
         ("filter_w", "i", 0), ("filter_h", "i", 0), ("activation", "b", 0))
_ARITHMETIC = (("activation", "b", 0),)
OPTIONS = {
    "CONV_2D": _CONV,
    "DEPTHWISE_CONV_2D": _DEPTHWISE,
    "TRANSPOSE_CONV": (("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("activation", "b", 0)),
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "FULLY_CONNECTED": (("activation", "b", 0), ("weights_format", "b", 0), ("keep_num_dims", "?", False)),
    "ADD": _ARITHMETIC,
    "SUB": _ARITHMETIC,
    "MUL": _ARITHMETIC,
    "SOFTMAX": (("beta", "f", 0.0),),
    "CONCATENATION": (("axis", "i", 0), ("activation", "b", 0)),
    "MEAN": (("keep_dims", "?", False),),
    "PACK": (("values_count", "i", 0), ("axis", "i", 0)),
    "SQUEEZE": (("squeeze_dims", "[i", ()),),
    "LEAKY_RELU": (("alpha", "f", 0.0),),
    "STRIDED_SLICE": (("begin_mask", "i", 0), ("end_mask", "i", 0), ("ellipsis_mask", "i", 0),
                      ("new_axis_mask", "i", 0), ("shrink_axis_mask", "i", 0), ("offset", "?", False)),
}
# Fields that hold an index into ACTIVATIONS or PADDINGS, shown by name.
_NAMED = {"activation": ACTIVATIONS, "padding": PADDINGS}
# Table slots (schema.fbs): Model, OperatorCode, SubGraph, Tensor,
# QuantizationParameters, Operator, Buffer.
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_DESCRIPTION, _MODEL_BUFFERS = 0, 1, 2, 3, 4
_OPCODE_DEPRECATED, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3
_GRAPH_TENSORS, _GRAPH_INPUTS, _GRAPH_OUTPUTS, _GRAPH_OPERATORS = 0, 1, 2, 3
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_BUFFER, _TENSOR_NAME, _TENSOR_QUANT, _TENSOR_VARIABLE = 0, 1, 2, 3, 4, 5
_QUANT_SCALE, _QUANT_ZERO_POINT, _QUANT_DIMENSION = 2, 3, 6
_OP_OPCODE, _OP_INPUTS, _OP_OUTPUTS, _OP_OPTIONS_TYPE, _OP_OPTIONS = 0, 1, 2, 3, 4
# The builtin_options union's type each op's options must carry (schema.fbs
# BuiltinOptions): tflite-micro reads options of any other type as none.
OPTIONS_TYPES = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "AVERAGE_POOL_2D": 5, "MAX_POOL_2D": 5,
                 "FULLY_CONNECTED": 8, "SOFTMAX": 9, "CONCATENATION": 10, "ADD": 11, "MUL": 21, "MEAN": 27,
                 "SUB": 28, "SQUEEZE": 30, "STRIDED_SLICE": 32, "PACK": 59, "LEAKY_RELU": 75,
                 "TRANSPOSE_CONV": 49}
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class TFLiteFormatError(ValueError):
    """The bytes are not a readable .tflite model (English reason)."""


def op_name(code):
    return BUILTIN_NAMES[code] if 0 <= code < len(BUILTIN_NAMES) else f"BUILTIN_{code}"


# -- FlatBuffers ---------------------------------------------------------------


class _Table:
    """One FlatBuffers table at byte `at` of `buf`, read field by slot."""

    def __init__(self, buf, at):
        self.buf = buf
        self.at = at
        vtable = at - self._unpack("<i", at)
        self.vtable = vtable
        self.vtable_size = self._unpack("<H", vtable)

    def _unpack(self, fmt, at):
        size = struct.calcsize(fmt)
        if at < 0 or at + size > len(self.buf):
            raise TFLiteFormatError(f"an offset points outside the file (byte {at})")
        return struct.unpack_from(fmt, self.buf, at)[0]

    def _field(self, slot):
        """Byte position of field `slot`, or None when absent (default value)."""
        entry = 4 + 2 * slot
        if entry >= self.vtable_size:
            return None
        offset = self._unpack("<H", self.vtable + entry)
        return self.at + offset if offset else None

    def scalar(self, slot, fmt, default=0):
        at = self._field(slot)
        return default if at is None else self._unpack("<" + fmt, at)

    def _target(self, slot):
        at = self._field(slot)
        return None if at is None else at + self._unpack("<I", at)

    def table(self, slot):
        at = self._target(slot)
        return None if at is None else _Table(self.buf, at)

    def _vector(self, slot):
        """(first element's byte, length) of a vector field, or None."""
        at = self._target(slot)
        if at is None:
            return None
        length = self._unpack("<I", at)
        return at + 4, length

    def scalars(self, slot, fmt):
        vector = self._vector(slot)
        if vector is None:
            return None
        start, length = vector
        size = struct.calcsize("<" + fmt)
        if start + length * size > len(self.buf):
            raise TFLiteFormatError(f"a vector of {length} items runs past the end of the file")
        return struct.unpack_from(f"<{length}{fmt}", self.buf, start)

    def bytes(self, slot):
        vector = self._vector(slot)
        if vector is None:
            return b""
        start, length = vector
        if start + length > len(self.buf):
            raise TFLiteFormatError(f"a buffer of {length} bytes runs past the end of the file")
        return bytes(self.buf[start:start + length])

    def string(self, slot):
        return self.bytes(slot).decode("utf-8", "replace")

    def tables(self, slot):
        vector = self._vector(slot)
        if vector is None:
            return []
        start, length = vector
        items = []
        for i in range(length):
            at = start + 4 * i
            items.append(_Table(self.buf, at + self._unpack("<I", at)))
        return items


# -- the model -----------------------------------------------------------------


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: str
    data: bytes = None  # constant tensors only
    scale: float = 0.0
    zero_point: int = 0
    scales: tuple = ()  # per channel when longer than one
    zero_points: tuple = ()
    quantized_dimension: int = 0
    is_variable: bool = False

    @property
    def is_const(self):
        return bool(self.data)

    @property
    def elements(self):
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def size(self):
        """Bytes the tensor's values take."""
        return self.elements * ITEM_SIZES.get(self.dtype, 1)

    @property
    def per_channel(self):
        return len(self.scales) > 1


@dataclass
class Operator:
    index: int
    code: int
    inputs: list  # tensor indices; -1 marks an omitted optional input
    outputs: list
    options: dict = field(default_factory=dict)
    custom_code: str = ""

    @property
    def name(self):
        if self.code == BUILTIN_CODES["CUSTOM"] and self.custom_code:
            return self.custom_code
        return op_name(self.code)


@dataclass
class Model:
    tensors: list
    operators: list
    inputs: list  # tensor indices
    outputs: list
    version: int = 3
    description: str = ""
    size: int = 0  # bytes of the file
    sha256: str = ""

    def input_tensors(self):
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self):
        return [self.tensors[i] for i in self.outputs]

    def op_inputs(self, op):
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op):
        return [self.tensors[i] for i in op.outputs]


def _quantization(table):
    """(scale, zero_point, scales, zero_points, dimension) of a tensor."""
    if table is None:
        return 0.0, 0, (), (), 0
    scales = table.scalars(_QUANT_SCALE, "f") or ()
    zero_points = table.scalars(_QUANT_ZERO_POINT, "q") or ()
    if not scales or not zero_points:  # tflite-micro reads scales only beside zero points
        return 0.0, 0, (), (), 0
    dimension = table.scalar(_QUANT_DIMENSION, "i")
    scale = scales[0] if scales else 0.0
    zero_point = zero_points[0] if zero_points else 0
    return scale, zero_point, tuple(scales), tuple(zero_points), dimension


def _buffer_data(buffer, buf):
    data = buffer.bytes(_BUFFER_DATA)
    if data:
        return data
    # Files over 2 GB keep data after the flatbuffer, located by offset and size.
    offset, size = buffer.scalar(_BUFFER_OFFSET, "Q"), buffer.scalar(_BUFFER_SIZE, "Q")
    if size and offset + size > len(buf):
        raise TFLiteFormatError(f"a buffer at byte {offset} runs past the end of the file")
    return bytes(buf[offset:offset + size]) if size else b""


def _tensor(index, table, buffers, buf):
    code = table.scalar(_TENSOR_TYPE, "b")
    if code not in TENSOR_TYPES:
        raise TFLiteFormatError(f"tensor {index} has unknown type {code}")
    buffer_index = table.scalar(_TENSOR_BUFFER, "I")
    if buffer_index >= len(buffers):
        raise TFLiteFormatError(f"tensor {index} uses buffer {buffer_index} of {len(buffers)}")
    data = _buffer_data(buffers[buffer_index], buf) if buffer_index else b""
    scale, zero_point, scales, zero_points, dimension = _quantization(table.table(_TENSOR_QUANT))
    return Tensor(
        index=index, name=table.string(_TENSOR_NAME), shape=tuple(table.scalars(_TENSOR_SHAPE, "i") or ()),
        dtype=TENSOR_TYPES[code][0], data=data or None, scale=scale, zero_point=zero_point, scales=scales,
        zero_points=zero_points, quantized_dimension=dimension, is_variable=bool(table.scalar(_TENSOR_VARIABLE, "B")),
    )


def _options(name, table):
    if table is None or name not in OPTIONS:
        return {}
    options = {}
    for slot, (key, fmt, default) in enumerate(OPTIONS[name]):
        if fmt.startswith("["):  # a vector of numbers
            options[key] = tuple(table.scalars(slot, fmt[1:]) or default)
            continue
        value = table.scalar(slot, fmt, default)
        names = _NAMED.get(key)
        options[key] = names[value] if names and 0 <= value < len(names) else value
    return options


def _operator_codes(model):
    codes = []
    for table in model.tables(_MODEL_OPCODES):
        # Newer files put codes >= 127 in builtin_code and keep 127 in the
        # deprecated byte; older files have only the byte: take the larger.
        code = max(table.scalar(_OPCODE_DEPRECATED, "b"), table.scalar(_OPCODE_BUILTIN, "i"))
        codes.append((code, table.string(_OPCODE_CUSTOM)))
    return codes


def _operator(index, table, codes, tensor_count):
    opcode = table.scalar(_OP_OPCODE, "I")
    if opcode >= len(codes):
        raise TFLiteFormatError(f"operator {index} uses opcode {opcode} of {len(codes)}")
    code, custom = codes[opcode]
    inputs = list(table.scalars(_OP_INPUTS, "i") or ())
    outputs = list(table.scalars(_OP_OUTPUTS, "i") or ())
    if any(i >= tensor_count or i < -1 for i in inputs + outputs):
        raise TFLiteFormatError(f"operator {index} refers to a tensor that does not exist")
    if -1 in outputs:  # an input may be omitted, an output never (the engine's reader.py refuses it too)
        raise TFLiteFormatError(f"operator {index} has an omitted output")
    name = op_name(code)
    kept = table.scalar(_OP_OPTIONS_TYPE, "B") == OPTIONS_TYPES.get(name)
    return Operator(index, code, inputs, outputs, _options(name, table.table(_OP_OPTIONS) if kept else None), custom)


def parse_model(data):
    """A `Model` from the bytes of a .tflite file (subgraph 0)."""
    buf = memoryview(data)
    if len(buf) < 8:
        raise TFLiteFormatError("the file is too short")
    if bytes(buf[4:8]) != b"TFL3":
        raise TFLiteFormatError("the file does not carry the TFLite identifier 'TFL3'")
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    subgraphs = model.tables(_MODEL_SUBGRAPHS)
    if not subgraphs:
        raise TFLiteFormatError("the model has no subgraph")
    graph = subgraphs[0]
    buffers = model.tables(_MODEL_BUFFERS)
    tensors = [_tensor(i, table, buffers, buf) for i, table in enumerate(graph.tables(_GRAPH_TENSORS))]
    codes = _operator_codes(model)
    operators = [_operator(i, table, codes, len(tensors)) for i, table in enumerate(graph.tables(_GRAPH_OPERATORS))]
    inputs = list(graph.scalars(_GRAPH_INPUTS, "i") or ())
    outputs = list(graph.scalars(_GRAPH_OUTPUTS, "i") or ())
    if any(not 0 <= i < len(tensors) for i in inputs + outputs):
        raise TFLiteFormatError("an input or output of the model refers to no tensor")
    return Model(
        tensors=tensors, operators=operators, inputs=inputs, outputs=outputs,
        version=model.scalar(_MODEL_VERSION, "I"), description=model.string(_MODEL_DESCRIPTION),
        size=len(buf), sha256=hashlib.sha256(buf).hexdigest(),
    )


def load_model(path):
    """The `Model` in file `path`; a missing or unreadable file is one translated error."""
    from jazari.nn import limits
    from jazari.sim.profiles import PROFILES

    path = Path(path)
    limits.check_file(path)
    try:
        data = path.read_bytes()
    except OSError as failure:
        raise JazariError(_("Cannot read {path}: {reason}").format(path=path, reason=failure.strerror)) from None
    try:
        model = parse_model(data)
    except (TFLiteFormatError, struct.error) as failure:
        raise invalid_model(path.name, failure) from None
    problem = limits.size_problem(model, max(profile.heap for profile in PROFILES.values()))
    if problem:
        raise invalid_model(path.name, problem)
    return model


def invalid_model(name, reason):
    """The one error for a file that is not a model the kit can read."""
    return JazariError(
        _("{path} is not a valid .tflite model ({reason}). Export it again from TensorFlow Lite.").format(
            path=name, reason=reason)
    )
