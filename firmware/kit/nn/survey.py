# Loading's first pass (loader.py): read the whole model once, check that
# every op is supported and every tensor of a type it takes, plan the
# arena, and size the per-channel constants the ops will keep. It returns
# numbers only, and goes with the planner before the arena is taken: the
# second pass, one operator at a time, needs neither.
from . import schema as S
from . import errors
from . import reader, planner

_ACT_TYPES = (S.INT8, S.INT32)
# Ops that keep per-channel constants (ctx.keep).
_PER_CHANNEL = (S.CONV_2D, S.DEPTHWISE_CONV_2D, S.FULLY_CONNECTED)
# Ops whose output type may differ from their input's (tflite-micro's
# kernels check input->type == output->type for every other op).
_CONVERTING = (S.QUANTIZE, S.DEQUANTIZE, S.SHAPE)
_INF = float("inf")
# Inputs that must be constant, one int32 number or list (axes, paddings,
# slice bounds): tflite-micro reads them at prepare.
_CONSTANT = {S.EXPAND_DIMS: (1,), S.PAD: (1,), S.MEAN: (1,), S.STRIDED_SLICE: (1, 2, 3)}
# How many inputs tflite-micro's kernel takes, (fewest, most), where fixed;
# every op here has one output.
_ARITY = {S.ADD: (2, 2), S.SUB: (2, 2), S.MUL: (2, 2), S.CONV_2D: (2, 3), S.DEPTHWISE_CONV_2D: (2, 3),
          S.FULLY_CONNECTED: (2, 3), S.AVERAGE_POOL_2D: (1, 1), S.MAX_POOL_2D: (1, 1), S.MEAN: (2, 2),
          S.SOFTMAX: (1, 1), S.LOGISTIC: (1, 1), S.TANH: (1, 1), S.RELU: (1, 1), S.RELU6: (1, 1),
          S.LEAKY_RELU: (1, 1), S.HARD_SWISH: (1, 1), S.RESHAPE: (1, 2), S.SQUEEZE: (1, 1),
          S.EXPAND_DIMS: (2, 2), S.SHAPE: (1, 1), S.PAD: (2, 2), S.STRIDED_SLICE: (4, 4),
          S.QUANTIZE: (1, 1), S.DEQUANTIZE: (1, 1)}


def survey(src, in_place):
    """(arena bytes, the plan, constants bytes in all, the most for one op).
    The plan, four arrays the loader copies once this pass's garbage is
    gone: per tensor, the tensor whose bytes it shares (itself, or -1 when
    not in the arena), the offset of those bytes in the arena, its bytes;
    per op, (offset, bytes) of the largest hole in the arena there, for its
    scratch (planner.holes). `in_place`: weights are read in place
    (convolutions may then write over their input: planner.py)."""
    from . import ops as registry
    info = reader.read_model(src)
    import gc
    _check(info, registry.OPS, gc.mem_free() + gc.mem_alloc())
    total = most = 0
    for op in info.operators:
        if op.code in _PER_CHANNEL and len(op.inputs) > 1 and op.inputs[1] is not None and op.outputs[0].shape:
            scales = op.inputs[1].scales
            n = 1 + 5 * (op.outputs[0].shape[-1] if scales is not None and len(scales) > 1 else 1)
            total += n
            if n > most:
                most = n
    alias = _aliases(info, registry.ALIASING)
    registry = None
    live = planner.lifetimes(info, alias)
    pairs = planner.streaming_pairs(info, alias, live) if in_place else None
    offsets, size = planner.plan(live, pairs)
    from array import array
    count = len(info.tensors)
    roots, ats, sizes = (array("i", bytes(4 * count)) for _ in range(3))
    for t in info.tensors:
        k = t.index
        root = planner.root(alias, k)
        roots[k] = root if root in live else -1
        ats[k] = offsets.get(root, 0)
        sizes[k] = t.size
    holes = planner.holes(live, offsets, size, len(info.operators))
    return size, (roots, ats, sizes, holes), total, most


def _check(info, supported, heap):
    # Every op supported, every tensor of a type it takes, with scales
    # tflite-micro accepts, and no activation bigger than the whole heap
    # (checked before the planner, whose loops follow the shapes).
    for op in info.operators:
        if op.code not in supported:
            raise errors.unsupported_op(op)
    for t in info.tensors:  # tflite-micro allocates every activation, used or not
        if not t.is_const and t.size > heap:
            raise errors.too_big(t.size, heap)
    for op in info.operators:
        fewest, most = _ARITY.get(op.code, (1, 255))
        if len(op.outputs) != 1 or not fewest <= len(op.inputs) <= most or op.inputs[0] is None:
            raise errors.bad_shape(op, "%d inputs and %d outputs" % (len(op.inputs), len(op.outputs)))
        for t in op.inputs:
            if t is not None:
                _check_type(op, t, S.DEQUANTIZE)
                _check_scale(op, t)
        for t in op.outputs:
            if t.is_const:
                raise errors.bad_shape(op, "writes to constant tensor %d" % t.index)
            if t.size > heap:
                raise errors.too_big(t.size, heap)
            _check_type(op, t, S.QUANTIZE)
            _check_scale(op, t)
        x, y = op.inputs[0], op.outputs[0]
        if x.type != y.type and op.code not in _CONVERTING:
            raise errors.bad_type(op, x if y.type == S.INT8 else y)
        if op.code in _PER_CHANNEL:
            _check_weights(op)
        for k in _CONSTANT.get(op.code, ()):
            t = op.inputs[k]
            if t is None or not t.is_const or t.type != S.INT32:
                raise errors.bad_shape(op, "input %d must be a constant int32 tensor" % k)
    for t in info.inputs + info.outputs:
        if t.type not in _ACT_TYPES and t.type != S.FLOAT32:
            raise ValueError("model input or output tensor %d is of type %s: the engine exchanges int8, int32 or float32" % (
                t.index, S.TYPE_NAMES.get(t.type, t.type)))
        if t.is_const:
            raise ValueError("model file is corrupt or unsupported: model input or output tensor %d is a constant" % t.index)
    _check_flow(info)


def _check_flow(info):
    # Each operator reads what is there before it runs (a constant, a model
    # input, an earlier operator's output) and every model output is computed:
    # otherwise it reads or gives whatever the arena held, which tflite-micro
    # runs too but which differs from one run, and one arena layout, to the next.
    written = set(t.index for t in info.inputs)
    for op in info.operators:
        for t in op.inputs:
            if t is not None and t.size and not t.is_const and t.index not in written:  # size 0: nothing to read
                raise errors.bad_shape(op, "reads tensor %d before any operator writes it" % t.index)
        for t in op.outputs:
            written.add(t.index)
    for t in info.outputs:
        if t.index not in written:
            raise ValueError("model file is corrupt or unsupported: model output tensor %d is computed by no operator" % t.index)


def _check_scale(op, t):
    # tflite-micro refuses an int8 tensor whose scale is 0, negative, NaN or
    # inf (NaN fails every comparison), or whose zero point is outside int8.
    if t.type != S.INT8:
        return
    if not 0.0 < t.scale < _INF:
        raise errors.bad_quant(op, t, "scale %r" % t.scale)
    if not -128 <= t.zero_point <= 127:
        raise errors.bad_quant(op, t, "zero point %d" % t.zero_point)
    for s in t.scales or ():
        if not 0.0 < s < _INF:
            raise errors.bad_quant(op, t, "channel scale %r" % s)


def _check_weights(op):
    # Convolutions and fully connected: int8 input and weights, int32 bias.
    ins = op.inputs
    if len(ins) < 2 or ins[1] is None or ins[1].type != S.INT8 or op.inputs[0].type != S.INT8 or not ins[1].size:
        raise errors.bad_shape(op, "needs int8 input and int8 weights, not empty")
    # Per-channel weights are quantized along the output channels, as tflite-micro checks.
    w = ins[1]
    if w.scales is not None and w.quantized_dimension != (3 if op.code == S.DEPTHWISE_CONV_2D else 0):
        raise errors.bad_quant(op, w, "per-channel scales along dimension %d" % w.quantized_dimension)
    # 4-D input, filter and output for convolutions (the planner reads them before prepare).
    if op.code != S.FULLY_CONNECTED and not len(ins[0].shape) == len(ins[1].shape) == len(op.outputs[0].shape) == 4:
        raise errors.bad_shape(op, "it needs 4-D input, filter and output")
    if len(ins) > 2 and ins[2] is None and op.code != S.FULLY_CONNECTED:
        raise errors.bad_shape(op, "its bias is omitted")  # tflite-micro's convolutions crash on it
    if len(ins) > 2 and ins[2] is not None:
        bias = ins[2]
        if bias.type != S.INT32:
            raise errors.bad_type(op, bias)
        # tflite-micro's fully connected: the bias scale within 2% of an
        # output step of input scale x weights scale.
        if op.code == S.FULLY_CONNECTED and not abs(ins[0].scale * ins[1].scale - bias.scale) <= 0.02 * op.outputs[0].scale:
            raise errors.bad_quant(op, bias, "scale %r for input x weights scale %r" % (bias.scale, ins[0].scale * ins[1].scale))


def _check_type(op, t, float_ok_for):
    # float32 may only enter through QUANTIZE or leave through DEQUANTIZE.
    if t.type in _ACT_TYPES:
        return
    if t.type == S.FLOAT32 and op.code in (S.QUANTIZE, S.DEQUANTIZE) and op.code != float_ok_for:
        return
    raise errors.bad_type(op, t)


def _aliases(info, aliasing):
    alias = {}
    for op in info.operators:
        if op.code not in aliasing or not op.inputs or op.inputs[0] is None:
            continue
        src, dst = op.inputs[0], op.outputs[0] if op.outputs else None
        if dst is None or src.is_const or dst.index in alias or src.size != dst.size:
            continue
        k = planner.root(alias, src.index)
        if k != dst.index:
            alias[dst.index] = k
    return alias
