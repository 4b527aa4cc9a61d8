# The engine's user-facing errors: one ValueError per problem, short English
# text naming the thing and what to do (the host translates its own checks).
from . import schema as S

# What a corrupt model's numbers can make an op's Python code raise, at
# prepare (loader.py) or eval (interpreter.py); turned into one ValueError
# naming the operator (bad_shape).
BROKEN = (ZeroDivisionError, IndexError, KeyError, OverflowError, TypeError, AttributeError)

_CONVERT = ("convert it to int8 with full-integer quantization: converter.optimizations=[tf.lite.Optimize.DEFAULT], "
            "a representative_dataset, converter.target_spec.supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]")


def unsupported_op(op):
    from .ops import OPS, name
    names = sorted(name(c) for c in OPS)
    return ValueError("unsupported op %s at operator %d; the engine supports: %s" % (name(op.code), op.index, ", ".join(names)))


def unsupported(op, what):
    from .ops import name
    return ValueError("unsupported %s in op %s at operator %d" % (what, name(op.code), op.index))


def bad_type(op, tensor):
    # A float or int16 tensor where the engine computes in int8.
    t = tensor.type
    if t in (S.FLOAT32, S.FLOAT16, S.FLOAT64):
        return ValueError("this model uses float32 weights/activations: " + _CONVERT)
    if t == S.INT16:
        return ValueError("this model uses int16 activations (16x8 quantization): " + _CONVERT)
    from .ops import name
    return ValueError("unsupported tensor type %s (tensor %d '%s') in op %s at operator %d: %s" % (
        S.TYPE_NAMES.get(t, t), tensor.index, tensor.name, name(op.code), op.index, _CONVERT))


def too_big(need, free):
    if need <= free:  # enough in total, but no single block that large
        return ValueError("model needs %d bytes of arena in one block, this board has %d bytes free in smaller blocks" % (need, free))
    return ValueError("model needs %d bytes of arena, this board has %d bytes free" % (need, free))


def no_room_reading(held, free):
    return ValueError("model does not fit: reading it took more than %d bytes of heap; this board has %d bytes free" % (held, free))


def no_room_code(held, free):
    return ValueError("model does not fit: loading the code of its ops took the heap to more than %d bytes; "
                      "this board has %d bytes free" % (held, free))


def no_room_preparing(index, held, free):
    return ValueError("model does not fit: loading it took more than %d bytes of heap and stopped at operator %d; "
                      "this board has %d bytes free" % (held, index, free))


def wrong_input(index, tensor, got):
    return ValueError("input %d needs %d bytes (%s %s), got %d" % (
        index, tensor.size, S.TYPE_NAMES.get(tensor.type, tensor.type), list(tensor.shape), got))


def wrong_count(what, need, got):
    return ValueError("the model has %d %s, got %d" % (need, what, got))


def bad_quant(op, tensor, what):
    from .ops import name
    return ValueError("model file is corrupt: tensor %d of op %s at operator %d has %s" % (
        tensor.index, name(op.code), op.index, what))


def bad_shape(op, why):
    from .ops import name
    return ValueError("model file is corrupt or unsupported: op %s at operator %d: %s" % (name(op.code), op.index, why))
