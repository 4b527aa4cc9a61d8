# Arena planning from tensor lifetimes, like TFLM's GreedyMemoryPlanner:
# buffers sorted largest first, each placed at the lowest offset where it
# overlaps no already-placed buffer that is alive at the same time (a
# streaming pair's buffer may instead take the highest such offset under
# the arena's top so far: plan() tries both, and two tie orders).
# Aliased tensors (RESHAPE/SQUEEZE/EXPAND_DIMS outputs) share their input's
# buffer, so they cost nothing.
#
# Better than TFLM: a convolution whose input dies at it may write its output
# over that input (streaming_pairs). Its kernels finish reading the input rows
# of an output row before writing that row, and output row r only clobbers
# input rows that no later output row reads when the output starts at most
# `reach` bytes after the input. person_detect's largest layer (a 1x1
# convolution from 18 KB to 36 KB) then needs 36 KB, not 55.
from micropython import const
from . import schema as S

# Conv2DOptions slots (tensorflow/lite/schema/schema.fbs)
_CONV_STRIDE_H = const(2)
_CONV_DILATION_H = const(5)
# DepthwiseConv2DOptions slots (tensorflow/lite/schema/schema.fbs)
_DW_STRIDE_H = const(2)
_DW_DILATION_H = const(6)

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
        k = root(alias, t.index)
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


def _reach(op, x, y):
    # The most bytes the output may start after the input (negative: before)
    # so that writing output row r never clobbers an input row a later
    # output row reads (rows from (r + 1) * stride - pad_top on).
    o = op.options
    if op.code == S.CONV_2D:
        stride, dil = (o.int32(_CONV_STRIDE_H), o.int32(_CONV_DILATION_H, 1)) if o else (1, 1)
    else:
        stride, dil = (o.int32(_DW_STRIDE_H), o.int32(_DW_DILATION_H, 1)) if o else (1, 1)
    in_h, out_h = x.shape[1], y.shape[1]
    in_row, out_row = x.size // in_h, y.size // out_h
    # As ops/conv.py's padding(): the output's height is known.
    total = (out_h - 1) * stride + (op.inputs[1].shape[1] - 1) * dil + 1 - in_h
    pad = total // 2 if total > 0 else 0
    reach = x.size  # one output row: any overlap reads before it writes
    for r in range(1, out_h):
        first = r * stride - pad
        d = (first if first > 0 else 0) * in_row - r * out_row
        if d < reach:
            reach = d
    return reach & ~(_ALIGN - 1)


def streaming_pairs(info, alias, live):
    # {output root: (input root, reach)} for the convolutions that may write
    # over their input: one image (batch 1), weights read in place (a
    # streamed convolution reads the input once per group of filters), an
    # input that dies there and an output born there.
    pairs = {}
    for op in info.operators:
        if op.code != S.CONV_2D and op.code != S.DEPTHWISE_CONV_2D or len(op.inputs) < 2:
            continue
        x, y = op.inputs[0], op.outputs[0]
        if x is None or x.is_const or x.is_variable or y.is_variable or len(x.shape) != 4 or len(y.shape) != 4:
            continue
        if x.shape[0] != 1 or not x.shape[1] or not y.shape[1]:
            continue
        rx, ry = root(alias, x.index), root(alias, y.index)
        if rx == ry or rx not in live or ry not in live or live[rx][1] != op.index or live[ry][0] != op.index:
            continue
        pairs[ry] = (rx, _reach(op, x, y))
    return pairs


def root(alias, k):
    # The tensor whose bytes tensor k shares (k itself when not aliased).
    while k in alias:
        k = alias[k]
    return k


def _fits(k, at, size, first, last, placed, pairs):
    # No placed buffer alive with k holds any of [at, at + size), but for
    # k's streaming partner where the overlap is safe.
    end = at + size
    own = pairs.get(k)  # (k's input, reach) when k writes over its input
    for off, top, f, l, key in placed:
        if l < first or f > last or top <= at or off >= end:
            continue
        if own is not None and own[0] == key and at - off <= own[1]:
            continue  # k writes over its input
        pair = pairs.get(key)
        if pair is not None and pair[0] == k and off - at <= pair[1]:
            continue  # key writes over k
        return False
    return True


def plan(live, pairs=None):
    # Returns ({root index: offset}, arena bytes). `pairs`: streaming_pairs().
    # A greedy placement (like TFLM's) depends on the order buffers are
    # placed in and, with streaming pairs, on which of the offsets where a
    # buffer fits it takes; no one choice is best for every model
    # (person_detect: 36 KB when a pair's buffer takes the highest offset
    # under the arena's top so far, 46 KB when it takes the lowest). So a
    # few are tried and the smallest arena wins (the first of equals).
    best = None
    for by_last in (False, True):
        # Largest first. Ties: by first (or, the second time, last) op; a
        # streaming pair's output before the rest (its input then fits just
        # after its start); then by index (dicts have no order here).
        order = sorted(live, key=lambda k: (-live[k][2], -live[k][1] if by_last else live[k][0],
                                            pairs is None or k not in pairs, k))
        for high in ((False, True) if pairs else (False,)):
            found = _greedy(live, pairs, order, high)
            if best is None or found[1] < best[1]:
                best = found
    return best


def _greedy(live, pairs, order, high):
    # Each buffer of `order` at the lowest offset free for its lifetime; or,
    # `high`, a streaming pair's buffer at the highest such offset that
    # keeps under the arena's top so far.
    partners = [p[0] for p in pairs.values()] if pairs else ()
    placed = []  # (offset, end, first, last, key), kept sorted by offset
    offsets = {}
    top = 0
    for k in order:
        first, last, size = live[k]
        at = 0
        if pairs and (k in pairs or k in partners):
            at = _spot(k, size, first, last, placed, pairs, top if high else 0)
        else:
            for off, end, f, l, key in placed:
                if l < first or f > last:
                    continue  # never alive together
                if at + size <= off:
                    break
                if end > at:
                    at = end
        end = (at + size + _ALIGN - 1) & ~(_ALIGN - 1)
        offsets[k] = at
        item = (at, end, first, last, k)
        i = 0
        while i < len(placed) and placed[i][0] <= at:
            i += 1
        placed.insert(i, item)
        if end > top:
            top = end
    return offsets, top


def _spot(k, size, first, last, placed, pairs, ceiling):
    # Where k fits: 0, the end of a placed buffer, or where k's streaming
    # partner lets it overlap. The highest of them that ends under
    # `ceiling`, else the lowest.
    spots = [0]
    own = pairs.get(k)
    for off, end, f, l, key in placed:
        spots.append(end)
        if own is not None and own[0] == key:
            spots.append(off + own[1])
        pair = pairs.get(key)
        if pair is not None and pair[0] == k:
            spots.append(off - pair[1])
    spots.sort()
    lowest = None
    for at in (reversed(spots) if ceiling else spots):
        if at >= 0 and _fits(k, at, size, first, last, placed, pairs):
            if not ceiling or at + size <= ceiling:
                return at
            lowest = at
    return lowest  # every spot ends above the ceiling: the lowest of them


def holes(live, offsets, size, count):
    # For each of `count` ops, the largest run of the arena's `size` bytes
    # that no buffer alive at that op holds, where its scratch may go: an
    # array of (offset, bytes) per op.
    from array import array
    found = array("i", bytes(8 * count))
    for i in range(count):
        spans = sorted((offsets[k], offsets[k] + s) for k, (f, l, s) in live.items() if f <= i <= l)
        spans.append((size, size))
        at = 0
        for lo, hi in spans:
            if lo - at > found[2 * i + 1]:
                found[2 * i], found[2 * i + 1] = at, lo - at
            if hi > at:
                at = (hi + _ALIGN - 1) & ~(_ALIGN - 1)
    return found
