# Interpreter: read the model, check every op is supported and int8, plan the
# arena, prepare every op once, then run the ops in order on each invoke.
# It is also the `ctx` every op's prepare and eval receive (docs/engine.md).
import gc
from micropython import const
from . import schema as S
from . import errors
from .reader import read_model, declared_codes, tensor_at
from .planner import lifetimes, plan, place_scratch

_ACT_TYPES = (S.INT8, S.INT32)
# Ops that keep per-channel constants (ctx.keep): sized in the planning pass.
_PER_CHANNEL = (S.CONV_2D, S.DEPTHWISE_CONV_2D, S.FULLY_CONNECTED)
_LOAD_GC_BYTES = const(4096)
# What a corrupt model's numbers can make an op's Python code raise; turned
# into one ValueError naming the operator.
_BROKEN = (ZeroDivisionError, IndexError, KeyError, OverflowError, TypeError, AttributeError)


def _forget(name):
    # Let a module that only loading needs go (imported again if wanted).
    # Its sys.modules entry and its package's attribute are set to None
    # first: a deleted dict entry keeps its value until the slot is reused.
    import sys
    mod = sys.modules.get(name)
    if mod is None:
        return
    sys.modules[name] = None
    del sys.modules[name]
    dot = name.rfind(".")
    package = sys.modules.get(name[:dot])
    if package is not None and getattr(package, name[dot + 1:], None) is mod:
        setattr(package, name[dot + 1:], None)
        delattr(package, name[dot + 1:])  # so that an import finds no attribute


def _scrub(depth):
    # MicroPython's GC scans the C stack conservatively: a pointer left in a
    # returned call's stack slots would keep the planning pass's whole model
    # alive. Calls with many locals overwrite those slots.
    a = b = c = d = e = f = g = h = i = j = k = m = 0
    if depth:
        _scrub(depth - 1)


class Interpreter:
    def __init__(self, src, weights):
        # Collect every few KB while loading: MicroPython otherwise allocates
        # upward through the whole free heap before it collects, sprinkling
        # what the ops keep between their garbage, until no block of even
        # 2 KB is left although half the heap is free.
        old = gc.threshold()
        gc.threshold(_LOAD_GC_BYTES)
        try:
            self._load(src, weights)
        finally:
            gc.threshold(old)

    def _load(self, src, weights):
        self.weights_src = weights
        self._scratch = {}
        self._kept = 0
        self._op = 0
        self._ops = {}  # the model's {builtin code: (prepare, eval)}, from _load_code()
        self.scratch_buf = None
        size = self._take_arena(src)
        self._load_code(src)
        offsets = self._read(src)
        prepared = self._prepare(src)
        # Scratch goes into the arena's holes at its op; what does not fit
        # shares one extra buffer (each scratch lives for one op only).
        where, extra = place_scratch(lifetimes(self.info, self.alias), offsets, size, self._scratch)
        arena = memoryview(self.arena)
        if size + extra <= len(arena):
            extra_buf = arena[size:]  # the arena's spare tail (see _take_arena)
        else:
            try:
                gc.collect()
                extra_buf = memoryview(bytearray(extra))
            except MemoryError:
                self._fail()
                raise errors.too_big(size + extra, gc.mem_free())
        self.views = self._views(self.info, offsets, arena)
        # Lists at their final size: a list grown by appends leaves its old
        # blocks as holes among what the model keeps.
        self.steps = steps = [None] * len(prepared)
        for i, (ev, op, data) in enumerate(prepared):
            n = self._scratch.get(op.index, 0)
            at = where.get(op.index)
            scratch = arena[at:at + n] if at is not None else (extra_buf[:n] if n else None)
            steps[i] = (ev, op, data, scratch)
        self.tensor_bytes = size
        self.arena_bytes = size + extra

    def _fail(self):
        # Let go of everything before reporting how much memory is free.
        self.arena = self.info = self._keep = None
        gc.collect()

    def _take_arena(self, src):
        # Pass 1: check the model and plan its activations, then let go of
        # everything and take the arena as one block in a clean heap, before
        # the ops' code and the model's objects split the heap into holes.
        # Only a small int survives this pass: any object kept from it would
        # sit above its garbage and split the free space.
        try:
            size, keep = self._plan_size(src)
        except MemoryError:
            _scrub(8)
            self._fail()
            raise errors.no_room_reading(gc.mem_free())
        _scrub(8)
        gc.collect()
        if size > gc.mem_free():
            raise errors.too_big(size, gc.mem_free())
        # A spare tail of 1/16 of the arena, for the scratch that finds no
        # hole at its op (at the arena's peak op there are none): found now,
        # not in the fragmented heap that prepare leaves. Dropped if it
        # does not fit.
        try:
            try:
                self.arena = bytearray(size + (size >> 4 & ~3))
            except MemoryError:
                self.arena = bytearray(size)
        except MemoryError:
            self._fail()
            raise errors.too_big(size, gc.mem_free())
        # The ops' per-channel constants go in one block taken now, beside
        # the arena, rather than in a few KB per layer found late in a
        # fragmented heap.
        try:
            self._keep = memoryview(bytearray(keep))
        except MemoryError:
            self._fail()
            raise errors.too_big(size + keep, gc.mem_free())
        return size

    def _load_code(self, src):
        # The ops' code, before the model's objects.
        # Then the registry goes: its tables of names (5 KB) are not needed
        # once this model's (prepare, eval) pairs are found.
        from . import ops as registry
        try:
            self._aliasing = registry.ALIASING
            for code in declared_codes(src):
                if code in registry.OPS:
                    self._ops[code] = registry.lookup(code)
        except MemoryError:
            self._fail()
            raise errors.no_room_code(gc.mem_free())
        registry = None
        _forget(__name__[:__name__.rfind(".")] + ".ops")

    def _read(self, src):
        # Pass 2: the objects the ops keep; returns the arena offsets.
        try:
            self.info = info = read_model(src, lean=True)
            self._check(info, self._ops)
            self.alias = self._aliases(info, self._aliasing)
            return plan(lifetimes(info, self.alias))[0]
        except MemoryError:
            info = None
            self._fail()
            raise errors.no_room_reading(gc.mem_free())

    def _prepare(self, src):
        # Each op's prepare, once: [(eval, op, its data)].
        prepared = [None] * len(self.info.operators)
        try:
            for op in self.info.operators:
                prep, ev = self._ops[op.code]
                self._op = op.index
                # The model keeps its constant tensors lean (where their bytes
                # are): this op's prepare sees them in full, read again.
                lean = op.inputs
                op.inputs = tuple(tensor_at(src, t.index) if t is not None and t.is_const else t for t in lean)
                try:
                    prepared[op.index] = (ev, op, prep(self, op))
                except _BROKEN as e:  # a corrupt file trips an op's arithmetic
                    raise errors.bad_shape(op, "%s: %s" % (type(e).__name__, e))
                op.inputs = lean
                # Options are read in prepare only. (Set to None: a deleted
                # attribute's value stays in the instance's table.)
                if op.options is not None:
                    op.options = None
                # MicroPython allocates upwards from its last collection: a
                # collection per op keeps what the ops keep packed low, instead
                # of sprinkled across the heap between their garbage.
                gc.collect()
        except MemoryError:
            prepared = None
            self._fail()
            raise errors.no_room_preparing(self._op, gc.mem_free())
        return prepared

    def _plan_size(self, src):
        # (arena bytes, bytes the ops will ask of ctx.keep at most)
        from . import ops as registry
        info = read_model(src)
        self._check(info, registry.OPS)
        keep = 0
        for op in info.operators:
            if op.code in _PER_CHANNEL and len(op.inputs) > 1 and op.outputs[0].shape:
                scales = op.inputs[1].scales
                keep += 1 + 5 * (op.outputs[0].shape[-1] if scales is not None and len(scales) > 1 else 1)
        return plan(lifetimes(info, self._aliases(info, registry.ALIASING)))[1], keep

    def _check(self, info, supported):
        # Every op supported, every tensor of a type it takes; returns the
        # builtin codes the model uses (their code is not imported here).
        codes = []
        for op in info.operators:
            if op.code not in supported:
                raise errors.unsupported_op(op)
            if op.code not in codes:
                codes.append(op.code)
        for op in info.operators:
            for t in op.inputs:
                if t is not None:
                    self._check_type(op, t, S.DEQUANTIZE)
            for t in op.outputs:
                if t.is_const:
                    raise errors.bad_shape(op, "writes to constant tensor %d" % t.index)
                self._check_type(op, t, S.QUANTIZE)
        for t in info.inputs + info.outputs:
            if t.is_const:
                raise ValueError("model file is corrupt or unsupported: model input or output tensor %d is a constant" % t.index)
        return codes

    def _check_type(self, op, t, float_ok_for):
        # float32 may only enter through QUANTIZE or leave through DEQUANTIZE.
        if t.type in _ACT_TYPES:
            return
        if t.type == S.FLOAT32 and op.code in (S.QUANTIZE, S.DEQUANTIZE) and op.code != float_ok_for:
            return
        raise errors.bad_type(op, t)

    def _aliases(self, info, aliasing):
        alias = {}
        for op in info.operators:
            if op.code not in aliasing or not op.inputs or op.inputs[0] is None:
                continue
            src, dst = op.inputs[0], op.outputs[0] if op.outputs else None
            if dst is None or src.is_const or dst.index in alias or src.size != dst.size:
                continue
            k = src.index
            while k in alias:
                k = alias[k]
            if k != dst.index:
                alias[dst.index] = k
        return alias

    def _views(self, info, offsets, arena):
        views = [None] * len(info.tensors)
        for t in info.tensors:
            at = offsets.get(self._root(t.index))
            if at is not None:
                views[t.index] = arena[at:at + t.size]
        return views

    # The ctx interface used by ops (docs/engine.md).
    def buffer(self, t):
        if t.is_const:
            return self.weights_src.tensor(t)
        return self.views[t.index]

    def weights(self, t, start, nbytes):
        return self.weights_src.read(t, start, nbytes)

    def shares(self, a, b):
        # True when tensors a and b were planned onto the same bytes.
        return self._root(a.index) == self._root(b.index)

    def _root(self, k):
        while k in self.alias:
            k = self.alias[k]
        return k

    def keep(self, nbytes):
        # At prepare: `nbytes` (zeros) that this op keeps for good, from the
        # block taken with the arena while it lasts.
        at = self._kept
        if at + nbytes > len(self._keep):
            return bytearray(nbytes)
        self._kept = at + nbytes
        return self._keep[at:at + nbytes]

    def scratch(self, nbytes):
        # At prepare: this op needs `nbytes` of scratch, found in
        # ctx.scratch_buf (a memoryview into the arena) during its eval.
        i = self._op
        if nbytes > self._scratch.get(i, 0):
            self._scratch[i] = nbytes

    def invoke(self, buffers):
        # No buffers: the inputs were written in place (Model.input()).
        inputs = self.info.inputs
        if buffers and len(buffers) != len(inputs):
            raise errors.wrong_count("inputs", len(inputs), len(buffers))
        views = self.views
        for i in range(len(buffers)):
            t = inputs[i]
            b = buffers[i]
            if len(b) != t.size:
                raise errors.wrong_input(i, t, len(b))
            views[t.index][:] = b
        try:
            for ev, op, data, scratch in self.steps:
                self.scratch_buf = scratch
                ev(self, op, data)
        except _BROKEN as e:
            raise errors.bad_shape(op, "%s: %s" % (type(e).__name__, e))
