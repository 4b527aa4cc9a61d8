# RESHAPE, SQUEEZE, EXPAND_DIMS: the same bytes under another shape. The
# planner lets the output share the input's bytes when it can (an alias:
# eval does nothing); otherwise eval copies them. Kept apart from shape.py
# so that the many models that only flatten a tensor load this little code.
from .. import schema as S
from .. import errors


def prepare_reshape(ctx, op):
    if not op.inputs or op.inputs[0] is None or not op.outputs:
        raise errors.bad_shape(op, "needs an input and an output")
    inp, out = op.inputs[0], op.outputs[0]
    if inp.type != out.type:
        raise errors.bad_type(op, out)
    if inp.type not in (S.INT8, S.INT32):
        raise errors.bad_type(op, inp)
    if inp.size != out.size:
        raise errors.bad_shape(op, "input has %d bytes, output %d" % (inp.size, out.size))
    if op.code == S.EXPAND_DIMS:
        _check_axis(ctx, op, inp, out)
    elif op.code == S.SQUEEZE:
        _check_squeeze(op, inp, out)
    return not ctx.shares(inp, out)  # copy only when not aliased


def _check_squeeze(op, inp, out):
    # As tflite-micro: squeeze_dims (every dimension of size 1 when there are
    # none) within the rank and of size 1; the output is the input without them.
    dims = op.options.ints(0, "i", 8) if op.options else None
    rank = len(inp.shape)
    if dims:
        squeezed = []
        for d in dims:
            d = d + rank if d < 0 else d
            if not 0 <= d < rank or inp.shape[d] != 1:
                raise errors.bad_shape(op, "squeeze dimension %d of input shape %s" % (d, list(inp.shape)))
            squeezed.append(d)
    else:
        squeezed = [k for k in range(rank) if inp.shape[k] == 1]
    shape = tuple(inp.shape[k] for k in range(rank) if k not in squeezed)
    if shape != tuple(out.shape):
        raise errors.bad_shape(op, "output shape %s, expected %s" % (list(out.shape), list(shape)))


def _check_axis(ctx, op, inp, out):
    # As tflite-micro: the output is the input's shape with a 1 at the axis.
    b = ctx.buffer(op.inputs[1])
    axis = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
    rank = len(inp.shape)
    axis = axis - (1 << 32) if axis & 0x80000000 else axis
    axis = axis + rank + 1 if axis < 0 else axis
    if not 0 <= axis <= rank or tuple(out.shape) != tuple(inp.shape[:axis]) + (1,) + tuple(inp.shape[axis:]):
        raise errors.bad_shape(op, "output shape %s is not input shape %s with a 1 at axis %d" % (
            list(out.shape), list(inp.shape), axis))


def eval_copy(ctx, op, copy):
    if copy:
        ctx.buffer(op.outputs[0])[:] = ctx.buffer(op.inputs[0])
