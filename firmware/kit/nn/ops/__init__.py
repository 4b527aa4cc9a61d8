# The op registry: builtin code -> (module, prepare function, eval function).
# Modules are imported only when a model uses one of their ops, so a model
# with three FULLY_CONNECTED layers never loads the convolution code.
from .. import schema as S

OPS = {
    S.ADD: ("elementwise", "prepare_add", "eval_add"),
    S.SUB: ("elementwise", "prepare_sub", "eval_add"),
    S.MUL: ("elementwise", "prepare_mul", "eval_mul"),
    S.CONV_2D: ("conv", "prepare", "eval"),
    S.DEPTHWISE_CONV_2D: ("depthwise", "prepare", "eval"),
    S.FULLY_CONNECTED: ("fully_connected", "prepare", "eval"),
    S.AVERAGE_POOL_2D: ("pooling", "prepare_average", "eval_average"),
    S.MAX_POOL_2D: ("pooling", "prepare_max", "eval_max"),
    S.MEAN: ("reduce", "prepare_mean", "eval_mean"),
    S.SOFTMAX: ("softmax", "prepare_softmax", "eval_softmax"),
    S.LOGISTIC: ("sigmoid", "prepare_logistic", "eval_lut"),
    S.TANH: ("sigmoid", "prepare_tanh", "eval_lut"),
    S.RELU: ("activations", "prepare_relu", "eval_lut"),
    S.RELU6: ("activations", "prepare_relu6", "eval_lut"),
    S.LEAKY_RELU: ("activations", "prepare_leaky_relu", "eval_lut"),
    S.HARD_SWISH: ("hard_swish", "prepare_hard_swish", "eval_lut"),
    S.RESHAPE: ("reshape", "prepare_reshape", "eval_copy"),
    S.SQUEEZE: ("reshape", "prepare_reshape", "eval_copy"),
    S.EXPAND_DIMS: ("reshape", "prepare_reshape", "eval_copy"),
    S.SHAPE: ("shape", "prepare_shape", "eval_shape"),
    S.PACK: ("shape", "prepare_pack", "eval_concat"),
    S.CONCATENATION: ("shape", "prepare_concat", "eval_concat"),
    S.PAD: ("shape", "prepare_pad", "eval_pad"),
    S.STRIDED_SLICE: ("shape", "prepare_strided_slice", "eval_strided_slice"),
    S.QUANTIZE: ("quantize", "prepare_quantize", "eval_quantize"),
    S.DEQUANTIZE: ("quantize", "prepare_dequantize", "eval_dequantize"),
}

# Ops whose output may share its input's bytes in the arena (no copy).
ALIASING = (S.RESHAPE, S.SQUEEZE, S.EXPAND_DIMS)

NAMES = {
    S.ADD: "ADD", S.SUB: "SUB", S.MUL: "MUL", S.CONV_2D: "CONV_2D",
    S.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D", S.FULLY_CONNECTED: "FULLY_CONNECTED",
    S.AVERAGE_POOL_2D: "AVERAGE_POOL_2D", S.MAX_POOL_2D: "MAX_POOL_2D", S.MEAN: "MEAN",
    S.SOFTMAX: "SOFTMAX", S.LOGISTIC: "LOGISTIC", S.TANH: "TANH", S.RELU: "RELU",
    S.RELU6: "RELU6", S.LEAKY_RELU: "LEAKY_RELU", S.HARD_SWISH: "HARD_SWISH",
    S.RESHAPE: "RESHAPE", S.SQUEEZE: "SQUEEZE", S.EXPAND_DIMS: "EXPAND_DIMS",
    S.SHAPE: "SHAPE", S.PACK: "PACK", S.CONCATENATION: "CONCATENATION", S.PAD: "PAD",
    S.STRIDED_SLICE: "STRIDED_SLICE", S.QUANTIZE: "QUANTIZE", S.DEQUANTIZE: "DEQUANTIZE",
    S.UNIDIRECTIONAL_SEQUENCE_LSTM: "UNIDIRECTIONAL_SEQUENCE_LSTM",
}

_modules = {}


def lookup(code):
    # (prepare, eval) for a builtin code, or None when the engine lacks it.
    entry = OPS.get(code)
    if entry is None:
        return None
    name, prep, ev = entry
    mod = _modules.get(name)
    if mod is None:
        import gc
        gc.collect()  # compiling a module wants contiguous heap
        mod = __import__(__name__ + "." + name, None, None, (name,))
        _modules[name] = mod
    return getattr(mod, prep), getattr(mod, ev)


def name(code):
    return NAMES.get(code) or "builtin op %d" % code
