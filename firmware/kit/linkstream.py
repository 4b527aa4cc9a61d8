"""Telemetry streams in link mode (docs/protocol.md, "Telemetry").

Loaded by the first OP_STREAM_START. While a stream runs, kit.link's loop
calls pump() instead of its blocking frame reader: the host's bytes are
taken one at a time, only when there are some, so a damaged frame never
holds up the batches, and each stream's batch goes out when it is full or
`latency_ms` old. Requests (STOP, PING, any other) are answered as usual.
A host silent for wire.SILENCE_MS (its keepalives stopped) ends link mode.
"""

from micropython import const
from time import ticks_diff, ticks_ms

import kit.link as link
import kit.wire as wire

_MAX_STREAMS = const(4)  # ids 0..3, also the timer each one uses
_WAIT_MS = const(5)  # longest wait for the host's bytes between two looks at the streams

_streams = []  # kit.sampler.Sampler objects
_btx = None  # batch frames are built here: link._tx keeps the last reply
_heard_at = 0  # ticks_ms of the host's last byte: the watchdog's start
_seq = 0  # STREAM_BATCH frames are numbered by the board
# The frame being received, byte by byte, into link._rx (as link._read_frame does by runs).
_n = 0
_left = 0  # bytes left in the current COBS run; 0: a code byte comes next
_zero = False  # a zero goes before the next run
_skip = False  # too long to be a frame: skip to the delimiter


def operate(op, args):
    if op == wire.OP_STREAM_START:
        return _start(args)
    return _stop(args[0])


def _start(args):
    # rate (u32, 0: the source's default), source name, 0x00, options as JSON
    global _btx, _heard_at
    import json

    from kit.sampler import Sampler
    from kit.sources import check_rate, open_source

    rate = args[0] | args[1] << 8 | args[2] << 16 | args[3] << 24
    name, _, extra = bytes(args[4:]).partition(b"\0")
    options = json.loads(extra) if extra else {}
    ids = [s.id for s in _streams]
    free = [i for i in range(_MAX_STREAMS) if i not in ids]
    if not free:
        raise ValueError("%d streams run already: stop one first" % _MAX_STREAMS)
    source = open_source(link.text(name), options)
    sampler = Sampler(
        free[0], source, check_rate(source, rate),
        options.get("buffer", 8192), options.get("latency_ms", 100),
    )
    if _btx is None:
        _btx = bytearray(len(link._tx))
    _heard_at = ticks_ms()
    _streams.append(sampler)
    sampler.start()
    link.pump = pump
    link._tx[link.PAYLOAD_AT] = sampler.id
    return 1 + link.put(json.dumps(sampler.declaration()), 1)


def _stop(stream_id):
    # The stream's last samples as batches, then the reply: samples taken, dropped.
    taken = dropped = 0
    for sampler in [s for s in _streams if stream_id in (s.id, wire.ALL_STREAMS)]:
        sampler.stop()
        _streams.remove(sampler)
        while _send_batch(sampler, True):
            pass
        sampler.free()
        taken, dropped = sampler.written, sampler.dropped
    if not _streams:
        link.pump = None
    link.put_u32(taken)
    return 4 + link.put_u32(dropped, 4)


def close():
    """Stop every stream and free the buffers (link mode ends)."""
    global _btx
    for sampler in _streams:
        sampler.stop()
        sampler.free()
    _streams.clear()
    link.pump = None
    _btx = None


def _send_batch(sampler, flush):
    global _seq
    size = sampler.take(_btx, link.PAYLOAD_AT, wire.MAX_PAYLOAD, flush)
    if size:
        link._send(wire.STREAM_BATCH, _seq, size, _btx)
        _seq = (_seq + 1) & 0xFF
    return size


def _readable(ms):
    for _ in link.poll.ipoll(ms):
        return True
    return False


def pump(stdin, one):
    """One turn of the loop while streams run; False once link mode ends."""
    global _heard_at
    wait = _WAIT_MS
    while _readable(wait):
        wait = 0
        if not stdin.readinto(one):
            return False  # the line is closed
        _heard_at = ticks_ms()
        n = _feed(one[0])
        if n is None:
            continue
        if n < 0 or (n and not link.handle(n)):
            return False
        if link.pump is None:
            return True  # the last stream stopped: back to the plain reader
    for sampler in _streams:
        _send_batch(sampler, False)
    return ticks_diff(ticks_ms(), _heard_at) < wire.SILENCE_MS


def _feed(b):
    # One byte of the line: None while a frame is incomplete, then its length
    # in link._rx (0: empty or dropped), or -1 for a break (type byte 0x03).
    global _n, _left, _zero, _skip
    rx = link._rx
    if b == 0:
        n = 0 if _skip or _left else _n
        if _left and not _skip:
            link.corrupt += 1  # cut short
        _n = _left = 0
        _zero = _skip = False
        return n
    if _skip:
        return None
    if _left:
        if _n == 0 and b == wire.BREAK:
            _left = 0
            return -1
        rx[_n] = b
        _n += 1
        _left -= 1
        return None
    if _zero:
        if _n >= len(rx):
            _skip = True
            link.corrupt += 1
            return None
        rx[_n] = 0
        _n += 1
    _left = b - 1
    _zero = b < 255
    if _n + _left > len(rx):
        _skip = True
        link.corrupt += 1
    return None
