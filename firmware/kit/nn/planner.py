# Arena planning from tensor lifetimes, like TFLM's GreedyMemoryPlanner:
# buffers sorted largest first, each placed at the lowest offset where it
# overlaps no already-placed buffer that is alive at the same time.
# Aliased tensors (RESHAPE/SQUEEZE/EXPAND_DIMS outputs) share their input's
# buffer, so they cost nothing.
from micropython import const

_ALIGN = const(4)  # int32 tensors are read through ptr32


def lifetimes(info, alias):
    # {root tensor index: [first op, last op, bytes]} for every non-constant
    # tensor the graph touches; `alias` maps a tensor index to the index
    # whose bytes it shares.
    last_op = len(info.operators) - 1
    live = {}

    def touch(t, i):
        if t is None or t.is_const:
            return
        k = t.index
        while k in alias:
            k = alias[k]
        span = live.get(k)
        if span is None:
            live[k] = [i, i, t.size]
        else:
            if i < span[0]:
                span[0] = i
            if i > span[1]:
                span[1] = i
            if t.size > span[2]:
                span[2] = t.size

    for t in info.inputs:
        touch(t, 0)
    for op in info.operators:
        for t in op.inputs:
            touch(t, op.index)
        for t in op.outputs:
            touch(t, op.index)
    for t in info.outputs:
        touch(t, last_op)
    for t in info.tensors:
        if t.is_variable:  # state kept across invokes
            touch(t, 0)
            touch(t, last_op)
    return live


def plan(live):
    # Returns ({root index: offset}, arena bytes).
    order = sorted(live, key=lambda k: (-live[k][2], live[k][0]))
    placed = []  # (offset, end, first, last), kept sorted by offset
    offsets = {}
    top = 0
    for k in order:
        first, last, size = live[k]
        at = 0
        for off, end, f, l in placed:
            if l < first or f > last:
                continue  # never alive together
            if at + size <= off:
                break
            if end > at:
                at = end
        end = at + size
        offsets[k] = at
        item = (at, (end + _ALIGN - 1) & ~(_ALIGN - 1), first, last)
        i = 0
        while i < len(placed) and placed[i][0] <= at:
            i += 1
        placed.insert(i, item)
        if end > top:
            top = end
    return offsets, (top + _ALIGN - 1) & ~(_ALIGN - 1)


def place_scratch(live, offsets, size, requests):
    # requests {op index: bytes}. Each scratch lives during its op only, so
    # it may take any bytes of the arena no tensor alive at that op holds.
    # Returns ({op index: offset, or None when it does not fit}, bytes of the
    # one extra buffer that the scratch which did not fit share).
    where = {}
    extra = 0
    for i, n in requests.items():
        spans = sorted((offsets[k], offsets[k] + s[2]) for k, s in live.items() if s[0] <= i <= s[1])
        at = 0
        for lo, hi in spans:
            if at + n <= lo:
                break
            if hi > at:
                at = (hi + _ALIGN - 1) & ~(_ALIGN - 1)
        if at + n <= size:
            where[i] = at
        else:
            where[i] = None
            if n > extra:
                extra = n
    return where, extra
