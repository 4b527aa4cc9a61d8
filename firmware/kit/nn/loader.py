# Loading a model: read it, check every op is supported and int8, plan the
# arena, prepare every op once (the Loader is the `ctx` every op's prepare
# receives, docs/engine.md). interpreter.py then runs the ops; this module
# and the reader's go once the model is ready (release()).
import gc
from micropython import const
from . import schema as S
from . import errors
from . import reader, planner
from . import tensors
from . import kept

_ACT_TYPES = (S.INT8, S.INT32)
# Ops that keep per-channel constants (ctx.keep): sized in the planning pass.
_PER_CHANNEL = (S.CONV_2D, S.DEPTHWISE_CONV_2D, S.FULLY_CONNECTED)
_LOAD_GC_BYTES = const(4096)
_LOADERS = ("loader", "reader", "flatbuffer", "planner")


def release():
    # Let this module and the reader's go: a next Model imports them again.
    package = __name__[:__name__.rfind(".")]
    for name in _LOADERS:
        _forget(package + "." + name)


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


def _forget_ops():
    # Every op module a load imported (imported again when wanted).
    import sys
    ops = __name__[:__name__.rfind(".")] + ".ops."
    for name in [n for n in sys.modules if n.startswith(ops)]:
        _forget(name)


def _scrub(depth):
    # MicroPython's GC scans the C stack conservatively: a pointer left in a
    # returned call's stack slots would keep the planning pass's whole model
    # alive. Calls with many locals overwrite those slots.
    a = b = c = d = e = f = g = h = i = j = k = m = 0
    if depth:
        _scrub(depth - 1)


# The plan pass 1 leaves for the rest of the load, one row of ints per tensor.
_ROOT = const(0)  # the tensor whose bytes it shares (itself, or -1 when not in the arena)
_FIRST = const(1)  # first and last op using it, for a root (else -1)
_LAST = const(2)
_AT = const(3)  # offset in the arena, for a root
_SIZE = const(4)  # bytes
_ROW = const(5)


class _NoRoom(Exception):
    # Out of memory while loading: (the errors function that words it, its
    # arguments but the heap figures), turned into that ValueError by
    # Interpreter.__init__ once the load's objects are gone.
    pass


class Loader:
    def __init__(self, src, weights):
        # Collect every few KB while loading: MicroPython otherwise allocates
        # upward through the whole free heap before it collects, sprinkling
        # what the ops keep between their garbage, until no block of even
        # 2 KB is left although half the heap is free.
        self._keep_total = self._keep_max = 0
        self._on_flash = False
        gc.collect()
        start = gc.mem_alloc()
        old = gc.threshold()
        gc.threshold(_LOAD_GC_BYTES)
        try:
            try:
                self._load(src, weights, None)
            except _NoRoom as first:
                # Out of memory with the per-channel constants in RAM: load
                # again with them on flash (kept.py), when that saves any and
                # the filesystem takes them.
                if self._on_flash or self._keep_total <= self._keep_max:
                    raise
                # Everything the first try took after its arena goes, or
                # it would split the heap where the next arena must fit:
                # its op modules, tables, and the exception's traceback.
                self._fail()
                self._ops = self._scratch = None
                _forget_ops()
                failed = first.args
                first = None
                _scrub(8)
                gc.collect()
                try:
                    self._load(src, weights, True)
                except OSError:
                    raise _NoRoom(*failed)
        except _NoRoom as failure:
            # Told once everything is let go, so that the free heap it
            # states is what the program has.
            gc.collect()
            held = gc.mem_alloc() - start  # by the load when it stopped
            release()
            self._fail()
            report, args = failure.args[0], failure.args[1:]
            if report is not errors.too_big:
                args += (held,)
            raise report(*(args + (gc.mem_free(),)))
        finally:
            gc.threshold(old)

    def _load(self, src, weights, on_flash):
        self.weights_src = weights
        self._in_place = getattr(weights, "addressable", True)
        self._scratch = {}
        self._op = 0
        self._ops = {}  # the model's {builtin code: (prepare, eval)}, from _load_code()
        self.scratch_buf = None
        size = self._take_arena(src, on_flash)
        on_flash = self._on_flash
        self._load_code(src)
        arena = memoryview(self.arena)
        self.views = self._views(arena)
        graph = reader.Graph(src)
        self.steps = steps = self._prepare(graph)
        # The model's inputs and outputs, in full, for Model and invoke.
        try:
            self.info = tensors.ModelInfo(None, None, [graph.tensor(k) for k in graph.inputs],
                                          [graph.tensor(k) for k in graph.outputs])
        except MemoryError:
            raise _NoRoom(errors.no_room_reading)
        graph = None
        if on_flash:
            self._kept.finish()
        extra = self._place_scratch(steps, size, arena)
        self._plan = self._scratch = None
        self.tensor_bytes = size
        self.arena_bytes = size + extra

    def _place_scratch(self, steps, size, arena):
        # Scratch goes into the arena's holes at its op; what does not fit
        # shares one extra buffer (each scratch lives for one op only).
        # Returns the extra buffer's bytes.
        p = self._plan
        try:
            live, offsets = {}, {}
            for k in range(len(p) // _ROW):
                r = k * _ROW
                if p[r + _FIRST] >= 0:
                    live[k] = (p[r + _FIRST], p[r + _LAST], p[r + _SIZE])
                    offsets[k] = p[r + _AT]
            where, extra = planner.place_scratch(live, offsets, size, self._scratch)
        except MemoryError:
            live = offsets = None
            raise _NoRoom(errors.no_room_preparing, len(steps) - 1)
        live = offsets = None
        if size + extra <= len(arena):
            extra_buf = arena[size:]  # the arena's spare tail (see _take_arena)
        else:
            try:
                gc.collect()
                extra_buf = memoryview(bytearray(extra))
            except MemoryError:
                raise _NoRoom(errors.too_big, size + extra)
        for i in range(len(steps)):
            n = self._scratch.get(i, 0)
            if n:
                at = where.get(i)
                s = steps[i]
                steps[i] = tensors.Step(s.index, s.code, s.inputs, s.outputs, s.run, s.data,
                                        arena[at:at + n] if at is not None else extra_buf[:n], s.reload)
        return extra

    def _fail(self):
        # Let go of everything before reporting how much memory is free.
        self.arena = self.info = self._kept = self._plan = self.steps = self.views = None
        gc.collect()

    def _take_arena(self, src, on_flash):
        # Pass 1: check the model and plan its activations, then let go of
        # everything and take the arena as one block in a clean heap, before
        # the ops' code and the model's objects split the heap into holes.
        # Only the plan's row of ints per tensor survives this pass, copied
        # low in the heap once its garbage is gone: any other object kept
        # would sit above that garbage and split the free space.
        try:
            size, plan = self._plan_size(src)
        except MemoryError:
            _scrub(8)
            raise _NoRoom(errors.no_room_reading)
        _scrub(8)
        gc.collect()
        from array import array
        try:
            self._plan = array("i", plan)
        except MemoryError:
            raise _NoRoom(errors.no_room_reading)
        plan = None
        _scrub(8)
        gc.collect()
        if size > gc.mem_free():
            raise _NoRoom(errors.too_big, size)
        # A spare tail of 1/8 of the arena, for the scratch that finds no
        # hole at its op (at the arena's peak op there are none): found now,
        # not in the fragmented heap that prepare leaves. Dropped if it
        # does not fit.
        try:
            try:
                self.arena = bytearray(size + (size >> 3 & ~3))
            except MemoryError:
                self.arena = bytearray(size)
        except MemoryError:
            raise _NoRoom(errors.too_big, size)
        # The ops' per-channel constants go in one block taken now, beside
        # the arena, rather than in a few KB per layer found late in a
        # fragmented heap (or, on flash, the window for one op's).
        # The constants go on flash when they would take more than a quarter
        # of the heap the arena leaves (the ops' code and data need the
        # rest), and there is anything to save.
        if on_flash is None:
            on_flash = self._keep_total > self._keep_max and 4 * self._keep_total > gc.mem_free()
        self._on_flash = on_flash
        keep = self._keep_max if on_flash else self._keep_total
        try:
            self._kept = kept.OnFlash(keep, src) if on_flash else kept.InRam(keep)
        except MemoryError:
            raise _NoRoom(errors.too_big, size + keep)
        return size

    def _load_code(self, src):
        # The ops' code, before the model's objects.
        # Then the registry goes: its tables of names (5 KB) are not needed
        # once this model's (prepare, eval) pairs are found.
        from . import ops as registry
        try:
            for code in reader.declared_codes(src):
                if code in registry.OPS:
                    self._ops[code] = registry.lookup(code)
        except MemoryError:
            raise _NoRoom(errors.no_room_code)
        registry = None
        _forget(__name__[:__name__.rfind(".")] + ".ops")

    def _views(self, arena):
        # Each planned tensor's bytes in the arena (None for the others).
        p = self._plan
        n = len(p) // _ROW
        views = [None] * n
        for k in range(n):
            r = k * _ROW
            root = p[r + _ROOT]
            if root >= 0:
                at = p[root * _ROW + _AT]
                views[k] = arena[at:at + p[r + _SIZE]]
        return views

    def _prepare(self, graph):
        # Pass 2, one operator at a time: read it (its tensors in full),
        # prepare it once, and keep only what eval reaches (_ref): the
        # whole model's objects never sit in the heap beside the arena.
        # Returns the steps (tensors.Step), scratch not yet placed.
        steps = [None] * graph.count
        try:
            for i in range(graph.count):
                self._op = i
                op = graph.operator(i)
                prep, ev = self._ops[op.code]
                try:
                    data = prep(self, op)
                except errors.BROKEN as e:  # a corrupt file trips an op's arithmetic
                    raise errors.bad_shape(op, "%s: %s" % (type(e).__name__, e))
                steps[i] = tensors.Step(i, op.code, tuple(self._ref(t) for t in op.inputs),
                                        tuple(self._ref(t) for t in op.outputs), ev, data, None,
                                        self._kept.op_done())
                op = data = None
                # MicroPython allocates upwards from its last collection: a
                # collection per op keeps what the ops keep packed low, instead
                # of sprinkled across the heap between their garbage.
                gc.collect()
        except MemoryError:
            steps = None
            raise _NoRoom(errors.no_room_preparing, self._op)
        return steps

    def _ref(self, t):
        # What eval reaches of a tensor: its view into the arena, a
        # constant's bytes in place (a memoryview of the model), or, when
        # streamed, the constant as reader.lean() keeps it.
        if t is None:
            return None
        if not t.is_const:
            return self.views[t.index]
        if self._in_place:
            return self.weights_src.tensor(t)
        return reader.lean(t)

    def _plan_size(self, src):
        # (arena bytes, the plan as bytes: a row of _ROW ints per tensor);
        # sets the bytes the ops will ask of ctx.keep at most, in all and
        # for one op.
        from . import ops as registry
        info = reader.read_model(src)
        self._check(info, registry.OPS)
        total = most = 0
        for op in info.operators:
            if op.code in _PER_CHANNEL and len(op.inputs) > 1 and op.outputs[0].shape:
                scales = op.inputs[1].scales
                n = 1 + 5 * (op.outputs[0].shape[-1] if scales is not None and len(scales) > 1 else 1)
                total += n
                if n > most:
                    most = n
        self._keep_total, self._keep_max = total, most
        alias = self._aliases(info, registry.ALIASING)
        registry = None
        live = planner.lifetimes(info, alias)
        # Convolutions write over their input only when their weights are
        # read in place (planner.py).
        pairs = planner.streaming_pairs(info, alias, live) if self._in_place else None
        offsets, size = planner.plan(live, pairs)
        from array import array
        p = array("i", bytes(4 * _ROW * len(info.tensors)))
        for t in info.tensors:
            r = t.index * _ROW
            root = planner.root(alias, t.index)
            p[r + _ROOT] = root if root in live else -1
            p[r + _FIRST] = -1
            p[r + _SIZE] = t.size
        for k, (first, last, _) in live.items():
            r = k * _ROW
            p[r + _FIRST], p[r + _LAST], p[r + _AT] = first, last, offsets[k]
        return size, bytes(p)

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
            k = planner.root(alias, src.index)
            if k != dst.index:
                alias[dst.index] = k
        return alias

    # The ctx interface ops' prepare uses (docs/engine.md): tensors here are
    # Tensor objects (eval's are what _ref made of them: interpreter.py).
    def buffer(self, t):
        return self.weights_src.tensor(t) if t.is_const else self.views[t.index]

    def weights(self, t, start, nbytes):
        return self.weights_src.read(t, start, nbytes)

    def shares(self, a, b):
        # True when tensors a and b were planned onto the same bytes.
        p = self._plan
        return p[a.index * _ROW + _ROOT] == p[b.index * _ROW + _ROOT]

    def keep(self, nbytes):
        # At prepare: `nbytes` (zeros) that this op keeps for good, from the
        # block taken with the arena while it lasts (kept.py).
        got = self._kept.take(nbytes)
        return bytearray(nbytes) if got is None else got

    def scratch(self, nbytes):
        # At prepare: this op needs `nbytes` of scratch, found in
        # ctx.scratch_buf (a memoryview into the arena) during its eval.
        i = self._op
        if nbytes > self._scratch.get(i, 0):
            self._scratch[i] = nbytes
