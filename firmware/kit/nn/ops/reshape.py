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
    return not ctx.shares(inp, out)  # copy only when not aliased


def eval_copy(ctx, op, copy):
    if copy:
        ctx.buffer(op.outputs[0])[:] = ctx.buffer(op.inputs[0])
