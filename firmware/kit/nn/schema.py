# The facts of the TFLite schema (tensorflow/lite/schema/schema.fbs) that
# several modules share: tensor types, builtin operator codes and option
# enums. Each public name here costs heap on a board for as long as the
# engine is imported (a module's globals); a table's field slots are read
# by one module each and live there, as private constants that cost none.
from micropython import const

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
