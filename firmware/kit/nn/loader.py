# Loading a model: read it, check every op is supported and int8, plan the
# arena, prepare every op once (the Loader is the `ctx` every op's prepare
# receives, docs/engine.md). interpreter.py then runs the ops; this module
# and the reader's go once the model is ready (release()).
import gc
from micropython import const
from . import errors
from . import reader
from . import tensors
from . import kept

_LOAD_GC_BYTES = const(4096)
# The loading code: survey and planner go after the first pass, the others
# once the model is ready.
_LOADERS = ("loader", "reader", "flatbuffer", "planner", "survey")


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
        self._roots = self._holes = self._scratch = None
        self.tensor_bytes = size
        self.arena_bytes = size + extra

    def _place_scratch(self, steps, size, arena):
        # Scratch goes into the arena's holes at its op; what does not fit
        # shares one extra buffer (each scratch lives for one op only).
        # Returns the extra buffer's bytes.
        try:
            where, extra = self._scratch_offsets()
        except MemoryError:
            raise _NoRoom(errors.no_room_preparing, len(steps) - 1)
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

    def _scratch_offsets(self):
        # ({op index: offset in the arena, or None when its scratch finds
        # no hole}, bytes of the one extra buffer that those share). Each
        # scratch lives during its op only, so it may take the op's largest
        # hole: arena bytes no tensor alive at that op holds (survey.py).
        holes = self._holes
        where = {}
        extra = 0
        for i, n in self._scratch.items():
            if n <= holes[2 * i + 1]:
                where[i] = holes[2 * i]
            else:
                where[i] = None
                if n > extra:
                    extra = n
        return where, extra

    def _fail(self):
        # Let go of everything before reporting how much memory is free.
        self.arena = self.info = self._kept = self._roots = self._holes = self._placed = None
        self.steps = self.views = None
        gc.collect()

    def _take_arena(self, src, on_flash):
        # Pass 1: check the model and plan its activations, then let go of
        # everything and take the arena as one block in a clean heap, before
        # the ops' code and the model's objects split the heap into holes.
        # Only the plan's arrays (ints per tensor and per op) survive this
        # pass, copied low in the heap once its garbage is gone: any other
        # object kept would sit above that garbage and split the free space.
        package = __name__[:__name__.rfind(".")]
        try:
            from . import survey
            size, plan, self._keep_total, self._keep_max = survey.survey(src, self._in_place)
        except MemoryError:
            _scrub(8)
            raise _NoRoom(errors.no_room_reading)
        finally:
            survey = None
            _forget(package + ".survey")
            _forget(package + ".planner")
        _scrub(8)
        gc.collect()
        from array import array
        try:
            self._roots, ats, sizes, self._holes = (array("i", ints) for ints in plan)
            self._placed = ats, sizes  # for _views(), then let go
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
        roots = self._roots
        ats, sizes = self._placed
        self._placed = None
        views = [None] * len(roots)
        for k in range(len(roots)):
            if roots[k] >= 0:
                views[k] = arena[ats[k]:ats[k] + sizes[k]]
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

    # The ctx interface ops' prepare uses (docs/engine.md): tensors here are
    # Tensor objects (eval's are what _ref made of them: interpreter.py).
    def buffer(self, t):
        return self.weights_src.tensor(t) if t.is_const else self.views[t.index]

    def weights(self, t, start, nbytes):
        return self.weights_src.read(t, start, nbytes)

    def shares(self, a, b):
        # True when tensors a and b were planned onto the same bytes.
        roots = self._roots
        return roots[a.index] == roots[b.index]

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
