"""What `jazari model info` tells about a model: shapes, ops, size, cost, fit.

- MACs: multiply-accumulates of the layers that do them (convolutions, fully
  connected, MUL); the other ops are counted as element operations (one per
  output value, or per pooling window element).
- The planned arena: the same rule as the engine's planner
  (firmware/kit/nn/planner.py, greedy by size over tensor lifetimes, outputs
  of RESHAPE/SQUEEZE/EXPAND_DIMS sharing their input's bytes, each kernel's
  scratch in the gaps at its op), so the figure shown here is the engine's
  `arena_bytes`; tests/test_model_commands.py checks it under MicroPython.
- Fit per board profile and latency: estimates from the profile's free heap
  and filesystem size, and from per-board speeds stated in BOARD_PROFILES.
"""

import ast
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from jazari.i18n import _
from jazari.nn.checks import engine_registry, loader_modules, op_modules, problems
from jazari.nn.tflite import invalid_model
from jazari.paths import firmware_dir
from jazari.sim.profiles import PROFILES as SIM_PROFILES

KB = 1024
MB = 1024 * KB
ALIGN = 4  # the engine aligns arena buffers for ptr32 reads of int32 tensors
# The engine reads a model file into RAM when it is at most this big and four
# times its size is free (firmware/kit/nn/model.py); larger ones are streamed.
READ_WHOLE_LIMIT = 64 * KB
# RAM the engine takes besides the arena and the model bytes: a base (the
# kit's core modules, the interpreter's names), its ops' code (the kit goes
# on boards as .mpy; source bytes are a proxy, comments included), what each
# operator keeps for eval (its step, views, prepared data and words), the
# tables some ops build at prepare (TABLE_BYTES) and each layer's
# per-channel constants (multiplier and shift, and a folded bias when
# streamed). Fitted on the conformance and corpus models under the Unix port
# with the kit compiled as boards get it; its 64-bit objects are bigger than
# an ESP32's, so the figures are on the safe side for a board.
# tests/test_model_commands.py checks the estimate stays above the measured
# heap and within 1.6 times it (fitted: 1.05 to 1.25).
ENGINE_BASE_BYTES = 32000
CODE_BYTES_PER_SOURCE_BYTE = 0.25
BYTES_PER_TENSOR = 0  # measured: too small to tell apart from the rest
BYTES_PER_OPERATOR = 1200
BYTES_PER_CHANNEL = 5
# Tables an op's prepare builds and eval keeps (firmware/kit/nn/ops/):
# ADD, SUB and MUL two of 256 int32 and their accumulators, SOFTMAX one of
# 256 int32, the table-lookup activations and QUANTIZE 256 bytes.
TABLE_BYTES = {"ADD": 2560, "SUB": 2560, "MUL": 2560, "SOFTMAX": 1024, "LOGISTIC": 256, "TANH": 256,
               "RELU": 256, "RELU6": 256, "LEAKY_RELU": 256, "HARD_SWISH": 256, "QUANTIZE": 256}
# The free heap a model needs at start with the kit and the model on ROMFS
# (bytecode and weights read in place; per-channel constants on flash when
# the heap is short), besides its arena: fitted the same way on the
# smallest heap each model loads and runs in (1.0 to 1.46 times it;
# person_detect: 1.02, so the estimate agrees with the virtual ESP32).
ROMFS_BASE_BYTES = 55000
ROMFS_CODE_BYTES_PER_SOURCE_BYTE = 0.05
ROMFS_BYTES_PER_OPERATOR = 300
# Loading needs more free heap than the model keeps: the loading code's
# objects while it runs, and room lost to fragmentation of a small heap
# (measured: the smallest heap each model loads in, minus the estimate of
# what it keeps, is at most 20 KB; rounded up).
LOAD_PEAK_BYTES = 24 * KB
# Layers whose second input is a weight tensor the engine may stream.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class BoardProfile:
    name: str  # as `jazari sim --profile` names it
    title: str
    free_heap: int  # bytes free to student code after boot
    file_space: int  # bytes of the LittleFS `vfs` partition
    mmacs: float  # estimated MACs per second (millions) of the engine's kernels
    melems: float  # estimated other element operations per second (millions)


# Speeds are estimates: TFLM's C reference kernels run person_detect (7.16 M
# MACs) in 4,084 ms on an ESP32 and 2,300 ms on an ESP32-S3 (esp-tflite-micro
# README), i.e. 1.75 and 3.1 MMAC/s; the engine's viper kernels aim at 2 to 3
# times that time, and PSRAM is slower than internal RAM for the arena.
# Free heap per board comes from the virtual board's profiles (jazari.sim.profiles),
# which take it from what real boards report after boot.
BOARD_PROFILES = (
    BoardProfile("esp32", "ESP32", SIM_PROFILES["esp32"].heap, 2 * MB, 0.7, 2.0),
    BoardProfile("esp32s3", "ESP32-S3", SIM_PROFILES["esp32s3"].heap, 6 * MB, 1.2, 3.5),
    BoardProfile("esp32s3-psram", "ESP32-S3 + PSRAM", SIM_PROFILES["esp32s3-psram"].heap, 6 * MB, 0.9, 2.5),
)


# -- cost ------------------------------------------------------------------------


def op_cost(model, op):
    """(MACs, other element operations) of one operator, from its tensors' shapes."""
    inputs = model.op_inputs(op)
    outputs = model.op_outputs(op)
    out = outputs[0].elements if outputs else 0
    weights = inputs[1] if len(inputs) > 1 else None
    if op.name == "CONV_2D":  # filter [out_c, k_h, k_w, in_c / groups]
        return out * weights.shape[1] * weights.shape[2] * weights.shape[3], 0
    if op.name == "DEPTHWISE_CONV_2D":  # filter [1, k_h, k_w, out_c]: one input channel per output
        return out * weights.shape[1] * weights.shape[2], 0
    if op.name == "FULLY_CONNECTED":  # weights [units, depth]
        return out * weights.shape[-1], 0
    if op.name == "TRANSPOSE_CONV":  # inputs: output shape, filter [out_c, k_h, k_w, in_c], data
        return inputs[2].elements * weights.shape[0] * weights.shape[1] * weights.shape[2], 0
    if op.name == "BATCH_MATMUL":
        return out * inputs[0].shape[-1], 0
    if op.name == "MUL":
        return out, 0
    if op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return 0, out * op.options.get("filter_w", 1) * op.options.get("filter_h", 1)
    if op.name == "MEAN":
        return 0, inputs[0].elements
    return 0, out


def parameter_count(model):
    """Values held by the model's constant tensors (weights, biases, shapes)."""
    return sum(tensor.elements for tensor in model.tensors if tensor.is_const)


# -- the arena (same rule as firmware/kit/nn/planner.py) --------------------------


def aliases(model, aliasing_ops):
    """{tensor index: index of the tensor whose bytes it shares} (reshapes cost nothing)."""
    alias = {}
    for op in model.operators:
        if op.name not in aliasing_ops or not op.inputs or op.inputs[0] < 0 or not op.outputs:
            continue
        source, target = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
        if source.is_const or target.index in alias or source.size != target.size:
            continue
        root = _root(alias, source.index)
        if root != target.index:
            alias[target.index] = root
    return alias


def _root(alias, index):
    while index in alias:
        index = alias[index]
    return index


def lifetimes(model, alias):
    """{root tensor index: [first op, last op, bytes]} for every tensor that lives in the arena."""
    last_op = len(model.operators) - 1
    live = {}

    def touch(index, when):
        if index < 0 or model.tensors[index].is_const:
            return
        tensor = model.tensors[index]
        span = live.setdefault(_root(alias, index), [when, when, tensor.size])
        span[0], span[1], span[2] = min(span[0], when), max(span[1], when), max(span[2], tensor.size)

    for index in model.inputs:
        touch(index, 0)
    for op in model.operators:
        for index in op.inputs + op.outputs:
            touch(index, op.index)
    for index in model.outputs:
        touch(index, last_op)
    for tensor in model.tensors:
        if tensor.is_variable:  # state kept from one invoke to the next
            touch(tensor.index, 0)
            touch(tensor.index, last_op)
    return live


def _aligned(size):
    return (size + ALIGN - 1) & ~(ALIGN - 1)


def _reach(model, op, source, target):
    """The most bytes a convolution's output may start after its input so that
    writing output row r never clobbers an input row a later output row reads."""
    stride, dilation = op.options.get("stride_h", 1), op.options.get("dilation_h", 1)
    in_h, out_h = source.shape[1], target.shape[1]
    in_row, out_row = source.size // in_h, target.size // out_h
    kernel_h = model.tensors[op.inputs[1]].shape[1]
    total = (out_h - 1) * stride + (kernel_h - 1) * dilation + 1 - in_h
    pad = total // 2 if total > 0 else 0
    reach = source.size  # one output row: the kernel reads it all before writing
    for row in range(1, out_h):
        reach = min(reach, max(0, row * stride - pad) * in_row - row * out_row)
    return reach & ~(ALIGN - 1)


def streaming_pairs(model, alias, live):
    """{output root: (input root, reach)}: the convolutions that may write their output over
    their own input (firmware/kit/nn/planner.py): batch 1, an input that dies there and an
    output born there. Only when weights are read in place."""
    pairs = {}
    for op in model.operators:
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(op.inputs) < 2 or op.inputs[0] < 0:
            continue
        source, target = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
        if source.is_const or source.is_variable or target.is_variable:
            continue
        if len(source.shape) != 4 or len(target.shape) != 4 or source.shape[0] != 1:
            continue
        if not source.shape[1] or not target.shape[1]:
            continue
        rx, ry = _root(alias, source.index), _root(alias, target.index)
        if rx == ry or rx not in live or ry not in live or live[rx][1] != op.index or live[ry][0] != op.index:
            continue
        pairs[ry] = (rx, _reach(model, op, source, target))
    return pairs


def _overlap_allowed(key, at, other, other_at, pairs):
    """True when `key` at `at` and `other` at `other_at` are a streaming pair whose overlap is safe."""
    pair = pairs.get(key)
    if pair and pair[0] == other and at - other_at <= pair[1]:
        return True
    pair = pairs.get(other)
    return bool(pair and pair[0] == key and other_at - at <= pair[1])


def _spot(key, size, first, last, placed, pairs, ceiling):
    """Where `key` fits: 0, a placed buffer's end, or where its partner allows; the highest of them
    that ends under `ceiling` (0: none), else the lowest."""
    spots = {0}
    for offset, end, _first, _last, other in placed:
        spots.add(end)
        if pairs.get(key, (None,))[0] == other:
            spots.add(offset + pairs[key][1])
        if pairs.get(other, (None,))[0] == key:
            spots.add(offset - pairs[other][1])
    fitting = [
        at for at in sorted(spot for spot in spots if spot >= 0)
        if all(
            other_last < first or other_first > last or end <= at or offset >= at + size
            or _overlap_allowed(key, at, other, offset, pairs)
            for offset, end, other_first, other_last, other in placed
        )
    ]
    assert fitting, "the end of the last buffer always fits"
    under = [at for at in fitting if at + size <= ceiling]
    return under[-1] if ceiling and under else fitting[0]


def _greedy(live, pairs, order, high):
    """({key: offset}, arena bytes) placing `order` one by one at the lowest offset free for its
    lifetime, or (`high`) a streaming pair's buffer at the highest such offset under the top so far."""
    partners = {pair[0] for pair in pairs.values()}
    placed = []  # (offset, aligned end, first op, last op, key), sorted by offset
    offsets = {}
    top = 0
    for key in order:
        first, last, size = live[key]
        if key in pairs or key in partners:
            at = _spot(key, size, first, last, placed, pairs, top if high else 0)
        else:
            at = 0
            for offset, end, other_first, other_last, _other in placed:
                if other_last < first or other_first > last:
                    continue  # never alive at the same time
                if at + size <= offset:
                    break
                at = max(at, end)
        offsets[key] = at
        placed.append((at, _aligned(at + size), first, last, key))
        placed.sort(key=lambda item: item[0])
        top = max(top, _aligned(at + size))
    return offsets, top


def plan_arena(live, pairs=None):
    """({key: offset}, arena bytes) as the engine plans it (firmware/kit/nn/planner.py): greedy,
    largest first, tried with two tie orders and, with streaming pairs (whose buffers may overlap,
    see streaming_pairs), two ways of choosing a pair's offset; the smallest arena wins."""
    pairs = pairs or {}
    best = None
    for by_last in (False, True):
        # Ties as in the engine (whose dicts have no order): by first (or last) op, a streaming
        # pair's output before the rest (of two equal buffers that may overlap, the output must
        # go first: its input then fits just after its start), then by tensor index.
        order = sorted(live, key=lambda k: (-live[k][2], -live[k][1] if by_last else live[k][0], k not in pairs, k))
        for high in (False, True) if pairs else (False,):
            found = _greedy(live, pairs, order, high)
            if best is None or found[1] < best[1]:
                best = found
    return best


# Kernel scratch, as each kernel's prepare asks for it (firmware/kit/nn/ops/
# conv.py, fully_connected.py, depthwise.py): accumulators for one output row,
# and for convolutions an input patch or strip. When weights are streamed,
# convolutions and fully connected layers work on groups of filters that fit
# WEIGHT_SLICE bytes; when they are in place, convolutions fold their bias
# into 4 bytes of scratch per output channel at each invoke.
WEIGHT_SLICE = 4096


def _filter_group(out_c, row_len, in_place):
    return out_c if in_place else max(1, min(out_c, WEIGHT_SLICE // row_len))


def scratch_bytes(model, op, in_place):
    """Bytes of arena scratch the engine plans for `op` (alive during that op only)."""
    inputs, output = model.op_inputs(op), model.op_outputs(op)[0]
    if op.name == "CONV_2D":
        out_c, k_h, k_w, group_c = inputs[1].shape
        row_len = k_h * k_w * group_c
        fold = 4 * out_c if in_place else 0
        return fold + 4 * output.shape[2] * _filter_group(out_c, row_len, in_place) + row_len
    if op.name == "FULLY_CONNECTED":
        out_c, depth = inputs[1].shape
        batches = output.elements // out_c
        return 4 * batches * _filter_group(out_c, depth, in_place)  # reads the input in place: no patch
    if op.name == "DEPTHWISE_CONV_2D":
        _one, k_h, k_w, out_c = inputs[1].shape
        in_c, out_w = inputs[0].shape[3], output.shape[2]
        strip_h = (k_h - 1) * op.options["dilation_h"] + 1
        strip_w = (out_w - 1) * op.options["stride_w"] + (k_w - 1) * op.options["dilation_w"] + 1
        fold = 4 * out_c if in_place else 0
        return fold + 4 * out_w * out_c + strip_h * strip_w * in_c
    return 0


# The engine takes its arena with a spare tail of 1/8 for the scratch that
# finds no gap (firmware/kit/nn/loader.py), and a buffer of its own only for
# scratch bigger than that tail.
ARENA_TAIL_SHIFT = 3


@dataclass(frozen=True)
class ArenaPlan:
    tensors: int  # bytes of the planned tensors
    extra: int  # bytes of the buffer shared by the scratch that finds no gap

    @property
    def bytes(self):
        """The engine's `arena_bytes`."""
        return self.tensors + self.extra

    @property
    def heap(self):
        """Heap the arena takes: the tensors, the spare tail, and the extra buffer when the
        tail is too small for it."""
        tail = self.tensors >> ARENA_TAIL_SHIFT & ~(ALIGN - 1)
        return self.tensors + tail + (self.extra if self.extra > tail else 0)


def arena_plan(model, in_place=True):
    """The engine's arena for `model`: its tensors, planned, and kernel scratch.

    Each op's scratch lives during that op only, so it takes the lowest gap of
    the arena that no tensor alive at the op holds; the scratch that finds no
    gap shares one extra buffer, as big as the largest of them.
    `in_place`: weights addressable (model in RAM or on ROMFS), else streamed
    from the file, which makes convolutions work on smaller filter groups.
    """
    alias = aliases(model, engine_registry()[1])
    live = lifetimes(model, alias)
    offsets, size = plan_arena(live, streaming_pairs(model, alias, live) if in_place else None)
    extra = 0
    for op in model.operators:
        need = scratch_bytes(model, op, in_place)
        if need and _gap(live, offsets, op.index, need) + need > size:
            extra = max(extra, need)
    return ArenaPlan(size, extra)


def arena_bytes(model, in_place=True):
    """The engine's `arena_bytes` for `model`."""
    return arena_plan(model, in_place).bytes


def _gap(live, offsets, index, need):
    """The lowest offset with `need` bytes that no tensor alive at operator `index` holds."""
    spans = sorted((offsets[key], offsets[key] + span[2]) for key, span in live.items() if span[0] <= index <= span[1])
    at = 0
    for start, end in spans:
        if at + need <= start:
            break
        at = max(at, _aligned(end))
    return at


# -- fit per board -------------------------------------------------------------------


@dataclass
class Fit:
    profile: BoardProfile
    weights_in_ram: bool  # else streamed from the LittleFS file, layer by layer
    arena: int  # the engine's arena_bytes on this board
    ram_kept: int  # heap the loaded model keeps (engine code included)
    ram_needed: int  # free heap loading it needs: what it keeps plus the peak while loading
    fits_flash: bool
    fits_ram: bool
    latency_ms: float  # estimated
    ram_needed_romfs: int  # free heap needed with the kit and the model on ROMFS (/rom): read in place


def _engine_imports(path):
    """The engine's own files that `path` imports (relative imports: `from . import x`, `from ..y import z`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = path.parent
        for _level in range(node.level - 1):
            base = base.parent
        names = [node.module] if node.module else [alias.name for alias in node.names]
        for name in names:
            target = base.joinpath(*name.split("."))
            found += [file for file in (target.with_suffix(".py"), target / "__init__.py") if file.is_file()]
    return found


def _engine_sources(modules):
    """The engine source files a model imports: the core (kit.Model) and the op modules it uses, with their imports."""
    nn = firmware_dir() / "kit" / "nn"
    pending = [nn.parent / "__init__.py", nn / "__init__.py", nn / "model.py", nn / "interpreter.py"]
    pending += [nn / "ops" / f"{module}.py" for module in modules]
    seen = set()
    while pending:
        path = pending.pop()
        if path not in seen and path.is_file():
            seen.add(path)
            pending += _engine_imports(path)
    return seen


@lru_cache(maxsize=64)
def engine_source_bytes(modules, loaders=False):
    """Bytes of engine source a model keeps imported (`loaders`: of the modules only loading needs,
    checks.loader_modules(), whose code counts in the load's peak, not in what the model keeps)."""
    return sum(path.stat().st_size for path in _engine_sources(modules)
               if (path.stem in loader_modules()) == loaders)


def engine_overhead(model):
    used = _used_modules(model)
    channels = sum(_output_channels(model, op) for op in model.operators)
    return int(
        ENGINE_BASE_BYTES + CODE_BYTES_PER_SOURCE_BYTE * engine_source_bytes(used)
        + BYTES_PER_TENSOR * len(model.tensors)
        + BYTES_PER_OPERATOR * len(model.operators) + BYTES_PER_CHANNEL * channels + _table_bytes(model)
    )


def romfs_overhead(model):
    """Free heap besides the arena that loading and running `model` needs with the kit and the model on ROMFS."""
    return int(
        ROMFS_BASE_BYTES + ROMFS_CODE_BYTES_PER_SOURCE_BYTE * engine_source_bytes(_used_modules(model))
        + ROMFS_BYTES_PER_OPERATOR * len(model.operators) + _table_bytes(model)
    )


def _used_modules(model):
    modules = op_modules()
    return frozenset(modules[op.name] for op in model.operators if op.name in modules)


def _table_bytes(model):
    return sum(TABLE_BYTES.get(op.name, 0) for op in model.operators)


def _output_channels(model, op):
    """Output channels of a layer with per-channel constants (folded bias, multiplier, shift), else 0."""
    if op.name in WEIGHTED_OPS:
        return (model.op_outputs(op)[0].shape[-1:] or (0,))[0]
    return 0


def _streamed_constants(model):
    """Bytes of the small constants (biases, shapes) a streamed model keeps in RAM."""
    weights = set()
    for op in model.operators:
        if op.name in WEIGHTED_OPS and len(op.inputs) > 1:
            weights.add(op.inputs[1])
    return sum(t.size for t in model.tensors if t.is_const and t.index not in weights)


def weights_in_ram(model, profile):
    """The engine's own rule (model.py): a small file is read whole when four times its size is free."""
    core = ENGINE_BASE_BYTES + CODE_BYTES_PER_SOURCE_BYTE * engine_source_bytes(frozenset())
    return model.size <= READ_WHOLE_LIMIT and model.size * 4 < profile.free_heap - core


def fit(model, profile, arenas, heaps, macs, elements):
    """How `model` fits `profile`; `arenas`, `heaps`: {in_place: ArenaPlan.bytes, ArenaPlan.heap}
    for both ways to reach weights."""
    in_ram = weights_in_ram(model, profile)
    overhead = engine_overhead(model)
    kept = heaps[in_ram] + overhead + (model.size if in_ram else _streamed_constants(model))
    needed = kept + LOAD_PEAK_BYTES + loader_bytes()
    latency = macs / (profile.mmacs * 1e3) + elements / (profile.melems * 1e3)
    return Fit(profile, in_ram, arenas[in_ram], kept, needed, model.size <= profile.file_space,
               needed <= profile.free_heap, latency, heaps[True] + romfs_overhead(model))


def loader_bytes():
    """Heap the engine's loading code takes while a model loads."""
    return int(CODE_BYTES_PER_SOURCE_BYTE * engine_source_bytes(frozenset(), loaders=True))


# -- the whole summary ---------------------------------------------------------------


@dataclass
class Summary:
    name: str
    model: object  # tflite.Model
    op_counts: list  # [(op name, count)] in order of first use
    op_costs: list  # [(operator index, op name, MACs, element operations)]
    parameters: int
    macs: int
    elements: int
    arena: int  # weights addressable (in RAM or on ROMFS)
    arena_streamed: int  # weights streamed from the file
    fits: list  # [Fit] per board profile
    problems: list  # translated reasons the engine would refuse the model


def summarize(model, name):
    """Everything `model info` shows; a model whose layers' shapes do not add up is one clear error."""
    try:
        costs = [(op.index, op.name, *op_cost(model, op)) for op in model.operators]
        plans = {in_place: arena_plan(model, in_place) for in_place in (True, False)}
        arenas = {in_place: plan.bytes for in_place, plan in plans.items()}
        heaps = {in_place: plan.heap for in_place, plan in plans.items()}
    except (IndexError, KeyError, ValueError, TypeError, AttributeError, ArithmeticError):
        raise invalid_model(name, _("its layers' tensor shapes do not match")) from None
    macs = sum(cost[2] for cost in costs)
    elements = sum(cost[3] for cost in costs)
    return Summary(
        name=name,
        model=model,
        op_counts=list(Counter(op.name for op in model.operators).items()),
        op_costs=costs,
        parameters=parameter_count(model),
        macs=macs,
        elements=elements,
        arena=arenas[True],
        arena_streamed=arenas[False],
        fits=[fit(model, profile, arenas, heaps, macs, elements) for profile in BOARD_PROFILES],
        problems=problems(model, name),
    )
