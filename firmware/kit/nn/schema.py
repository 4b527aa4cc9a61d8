# The few facts of the TFLite schema (tensorflow/lite/schema/schema.fbs) the
# engine needs: field slots (0-based field index in each table), tensor
# types, builtin operator codes and option enums.
from micropython import const

# Model
MODEL_OPERATOR_CODES = const(1)
MODEL_SUBGRAPHS = const(2)
MODEL_BUFFERS = const(4)
# OperatorCode
OPCODE_DEPRECATED_BUILTIN = const(0)  # int8, codes below 127
OPCODE_BUILTIN = const(3)  # int32, every code
OPCODE_PLACEHOLDER = const(127)  # deprecated code meaning "read builtin_code"
# SubGraph
SUBGRAPH_TENSORS = const(0)
SUBGRAPH_INPUTS = const(1)
SUBGRAPH_OUTPUTS = const(2)
SUBGRAPH_OPERATORS = const(3)
# Tensor
TENSOR_SHAPE = const(0)
TENSOR_TYPE = const(1)
TENSOR_BUFFER = const(2)
TENSOR_NAME = const(3)
TENSOR_QUANTIZATION = const(4)
TENSOR_IS_VARIABLE = const(5)
TENSOR_SPARSITY = const(6)
# QuantizationParameters
QUANT_SCALE = const(2)
QUANT_ZERO_POINT = const(3)
QUANT_DIMENSION = const(6)
# Operator
OP_OPCODE_INDEX = const(0)
OP_INPUTS = const(1)
OP_OUTPUTS = const(2)
OP_OPTIONS_TYPE = const(3)
OP_OPTIONS = const(4)
# Buffer
BUFFER_DATA = const(0)
BUFFER_OFFSET = const(1)  # uint64: data stored after the flatbuffer (files > 2 GB)

# TensorType
FLOAT32 = const(0)
FLOAT16 = const(1)
INT32 = const(2)
UINT8 = const(3)
INT64 = const(4)
BOOL = const(6)
INT16 = const(7)
INT8 = const(9)
FLOAT64 = const(10)

# Bytes per element for the types the engine can hold in its arena.
TYPE_SIZES = {FLOAT32: 4, INT32: 4, UINT8: 1, INT64: 8, BOOL: 1, INT16: 2, INT8: 1}
TYPE_NAMES = {FLOAT32: "float32", FLOAT16: "float16", INT32: "int32", UINT8: "uint8", INT64: "int64",
              BOOL: "bool", INT16: "int16", INT8: "int8", FLOAT64: "float64"}

# BuiltinOperator
ADD = const(0)
AVERAGE_POOL_2D = const(1)
CONCATENATION = const(2)
CONV_2D = const(3)
DEPTHWISE_CONV_2D = const(4)
DEQUANTIZE = const(6)
FULLY_CONNECTED = const(9)
LOGISTIC = const(14)
MAX_POOL_2D = const(17)
MUL = const(18)
RELU = const(19)
RELU6 = const(21)
RESHAPE = const(22)
SOFTMAX = const(25)
TANH = const(28)
PAD = const(34)
MEAN = const(40)
SUB = const(41)
SQUEEZE = const(43)
UNIDIRECTIONAL_SEQUENCE_LSTM = const(44)
STRIDED_SLICE = const(45)
EXPAND_DIMS = const(70)
SHAPE = const(77)
PACK = const(83)
LEAKY_RELU = const(98)
QUANTIZE = const(114)
HARD_SWISH = const(117)

# ActivationFunctionType (fused activation in op options)
ACT_NONE = const(0)
ACT_RELU = const(1)
ACT_RELU_N1_TO_1 = const(2)
ACT_RELU6 = const(3)
# Padding
PADDING_SAME = const(0)
PADDING_VALID = const(1)

# Builtin option slots, per options table.
# AddOptions, SubOptions, MulOptions
ARITH_ACTIVATION = const(0)
# SoftmaxOptions
SOFTMAX_BETA = const(0)
# ConcatenationOptions
CONCAT_AXIS = const(0)
CONCAT_ACTIVATION = const(1)
# ReshapeOptions
RESHAPE_NEW_SHAPE = const(0)
# SqueezeOptions
SQUEEZE_DIMS = const(0)
# StridedSliceOptions
SLICE_BEGIN_MASK = const(0)
SLICE_END_MASK = const(1)
SLICE_SHRINK_AXIS_MASK = const(4)
# ReducerOptions
REDUCER_KEEP_DIMS = const(0)
# PackOptions
PACK_VALUES_COUNT = const(0)
PACK_AXIS = const(1)
# LeakyReluOptions
LEAKY_ALPHA = const(0)
# Conv2DOptions
CONV_PADDING = const(0)
CONV_STRIDE_W = const(1)
CONV_STRIDE_H = const(2)
CONV_ACTIVATION = const(3)
CONV_DILATION_W = const(4)
CONV_DILATION_H = const(5)
# DepthwiseConv2DOptions
DW_PADDING = const(0)
DW_STRIDE_W = const(1)
DW_STRIDE_H = const(2)
DW_DEPTH_MULTIPLIER = const(3)
DW_ACTIVATION = const(4)
DW_DILATION_W = const(5)
DW_DILATION_H = const(6)
# FullyConnectedOptions
FC_ACTIVATION = const(0)
FC_WEIGHTS_FORMAT = const(1)
FC_KEEP_NUM_DIMS = const(2)
# Pool2DOptions
POOL_PADDING = const(0)
POOL_STRIDE_W = const(1)
POOL_STRIDE_H = const(2)
POOL_FILTER_W = const(3)
POOL_FILTER_H = const(4)
POOL_ACTIVATION = const(5)
