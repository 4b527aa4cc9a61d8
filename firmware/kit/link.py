"""The board's end of the wire: binary frames on the REPL's serial line.

    import kit.link
    kit.link.serve()     # the host sends this through the raw REPL

serve() answers the host's requests until a BYE frame, a break (a frame
whose type byte is 0x03: jazari's 00 03 03 03, or a REPL tool's "\r\x03")
or wire.SILENCE_MS without a byte from the host, then returns to the REPL it
was started from. Inside a frame Ctrl-C is a plain byte, since frames carry
every byte value. The frame format, the operations and how the line moves
between the REPL and link mode are in docs/protocol.md; the numbers are in
kit/wire.py.
"""

import select
import sys

import micropython
from binascii import crc32
from micropython import const

import kit.wire as wire

# COBS adds a byte per 254, so the in-place encoder's output gains on its
# input by up to 2 + (largest frame) // 254 bytes: the frame starts this far in.
_ROOM = const(12)
_PAYLOAD = const(_ROOM + 4)  # where a reply's payload goes in _tx (after the header)
PAYLOAD_AT = _PAYLOAD  # the same, for kit.linkstream (const names with _ stay private)

_rx = None  # the frame being received, decoded in place
_tx = None  # the reply: built at _ROOM, COBS-encoded from 0, kept for a repeated request
_tx_len = 0
_last_seq = -1  # seq of the REQUEST whose reply is in _tx
corrupt = 0  # frames dropped on a bad CRC, length or size
pump = None  # kit.linkstream.pump while telemetry streams run: the loop must not block
poll = None  # select.poll of the line: the watchdog waits on it, never on a read


def _heard(stdin, one):
    # The next byte of the line into one[0]; False when the line is closed (a
    # pipe's end) or the host has sent nothing for SILENCE_MS (it is gone);
    # one[0] is then 0, never a stale 0x03 that would pass for a break.
    one[0] = 0
    return bool(poll.poll(wire.SILENCE_MS)) and stdin.readinto(one)


def _read_frame(stdin, one):
    # Decodes runs straight into _rx: one readinto per run of up to 254
    # bytes, the frame's type byte alone first. Returns the frame's length,
    # 0 for an empty or dropped frame, -1 to leave link mode (a break, a
    # closed line, a silent host).
    global corrupt
    rx = _rx
    view = memoryview(rx)
    cap = len(rx)
    n = 0
    zero = False
    while True:
        if not _heard(stdin, one):
            return -1
        code = one[0]
        if code == 0:
            return n
        k = code - 1
        if n + zero + k > cap:
            corrupt += 1
            while one[0]:  # too long to be a frame: skip to the next delimiter
                if not _heard(stdin, one):
                    return -1
            return 0
        if zero:
            rx[n] = 0
            n += 1
        if k and n == 0:
            # A tool's "\r\x03" (Ctrl-C) reads as a code byte and a type 0x03,
            # which no frame has: leave before waiting for the rest of the run.
            if not _heard(stdin, one) or one[0] == wire.BREAK:
                return -1
            rx[0] = one[0]
            n = 1
            k -= 1
        if k:
            stdin.readinto(view[n:n + k])
        n += k
        zero = code < 255


def _valid(n):
    rx = _rx
    if n < 8 or rx[2] | rx[3] << 8 != n - 8:
        return False
    return crc32(memoryview(rx)[:n - 4]) == rx[n - 4] | rx[n - 3] << 8 | rx[n - 2] << 16 | rx[n - 1] << 24


def _send(kind, seq, size, buf=None):
    # The payload is already in buf[_PAYLOAD:_PAYLOAD + size]; buf is _tx
    # (where the reply stays, for a repeated request) unless told otherwise.
    global _tx_len
    tx = buf or _tx
    tx[_ROOM] = kind
    tx[_ROOM + 1] = seq
    tx[_ROOM + 2] = size & 0xFF
    tx[_ROOM + 3] = size >> 8
    end = _PAYLOAD + size
    crc = crc32(memoryview(tx)[_ROOM:end])
    for i in range(4):
        tx[end + i] = (crc >> (8 * i)) & 0xFF
    out = _cobs(tx, _ROOM, end + 4)
    if buf is None:
        _tx_len = out + 1
    sys.stdout.buffer.write(memoryview(tx)[:out + 1])


@micropython.viper
def _cobs(tx: ptr8, start: int, end: int) -> int:
    # COBS of tx[start:end] written from tx[0] on, then the 0x00 delimiter;
    # in place, as the output never catches up with the input it reads.
    # Returns where the delimiter is. Viper: telemetry sends tens of KB/s.
    out = 1
    code_at = 0
    code = 1
    i = start
    while i < end:
        b = tx[i]
        i += 1
        if b:
            tx[out] = b
            out += 1
            code += 1
            if code < 255:
                continue
        tx[code_at] = code
        code_at = out
        out += 1
        code = 1
    tx[code_at] = code
    tx[out] = 0
    return out


# Helpers for the operations, here and in kit.linkfs: they fill the reply's
# payload in _tx, `skip` bytes in, and return how many bytes they put.


def put(data, skip=0):
    if isinstance(data, str):
        data = data.encode()
    at = _PAYLOAD + skip
    _tx[at:at + len(data)] = data
    return len(data)


def put_u32(value, skip=0):
    for i in range(4):
        _tx[_PAYLOAD + skip + i] = (value >> (8 * i)) & 0xFF
    return 4


def payload(skip, size):
    """The reply's payload area, for readinto."""
    return memoryview(_tx)[_PAYLOAD + skip:_PAYLOAD + skip + size]


def error(code, errno, text):
    """An ERROR payload: code, errno (0: none), text. Returns minus its size."""
    _tx[_PAYLOAD] = code
    _tx[_PAYLOAD + 1] = errno
    return -2 - put(text[:200], 2)


def text(args):
    return str(args, "utf-8")


def _info():
    import gc
    import json

    import kit.board

    info = kit.board.info()
    info["protocol"] = wire.VERSION
    info["link_corrupt"] = corrupt
    gc.collect()
    return json.dumps(info)


def _hello():
    _tx[_PAYLOAD] = wire.VERSION
    return 1 + put(_info(), 1)


def _operate(op, args):
    # The reply's payload size, or minus the ERROR payload's size.
    try:
        if op == wire.OP_INFO:
            return put(_info())
        if op == wire.OP_EXEC or op == wire.OP_RUN_MODEL:
            import kit.linkrun

            return kit.linkrun.operate(op, args)
        if wire.OP_HASH <= op <= wire.OP_FREE:
            import kit.linkfs  # only when files move: exec-only sessions stay small

            return kit.linkfs.operate(op, args)
        if op == wire.OP_STREAM_START or op == wire.OP_STREAM_STOP:
            import kit.linkstream

            return kit.linkstream.operate(op, args)
        return error(wire.E_UNKNOWN, 0, "")
    except OSError as failure:
        errno = failure.errno if isinstance(failure.errno, int) else 0
        return error(wire.E_OS, errno & 0xFF, str(failure))
    except Exception as failure:
        return error(wire.E_RAISED, 0, "%s: %s" % (type(failure).__name__, failure))


def _reply(seq, op, args):
    global _last_seq
    if op == wire.OP_RESET:
        _send(wire.REPLY, seq, 0)
        _reset(args[0])
    size = _operate(op, args)
    kind = wire.STREAM_DECLARE if op == wire.OP_STREAM_START else wire.REPLY
    _send(kind if size >= 0 else wire.ERROR, seq, abs(size))
    _last_seq = seq


def _reset(hard):
    import machine

    micropython.kbd_intr(3)
    if hard:
        machine.reset()
    machine.soft_reset()


def _allocate():
    global _rx, _tx, _last_seq, corrupt, poll
    size = wire.HEADER + wire.MAX_PAYLOAD + wire.TRAILER
    _rx = bytearray(size)
    _tx = bytearray(size + _ROOM + 2)
    _last_seq = -1
    corrupt = 0
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)


def serve():
    """Answer the host's frames until BYE or the break sequence."""
    global _rx, _tx, poll
    import gc

    _allocate()
    gc.collect()
    stdin = sys.stdin.buffer
    one = bytearray(1)
    micropython.kbd_intr(-1)
    _mark(wire.FRAMES_MARK)
    try:
        sys.stdout.buffer.write(b"\0")  # ends whatever the REPL printed before
        _send(wire.HELLO, 0, _hello())
        while (pump or _serve_one)(stdin, one):
            pass
    finally:
        _mark(wire.TEXT_MARK)
        micropython.kbd_intr(3)
        for part in ("kit.linkstream", "kit.linkfs"):  # streams stopped, open file closed
            if part in sys.modules:
                sys.modules[part].close()
        _rx = _tx = poll = None
        _forget()
        gc.collect()


def _mark(mark):
    # The virtual board (the Unix port) sends printed lines with a board's
    # "\r\n" ends, so it must see where binary frames start and end.
    if sys.platform == "linux":
        sys.stdout.buffer.write(mark)


def _forget():
    # Gives the student's heap back: the next serve() imports the link afresh.
    import kit

    for name in ("link", "linkfs", "linkrun", "linkstream", "sampler", "sources", "wire"):
        sys.modules.pop("kit." + name, None)
        kit.__dict__.pop(name, None)


def _serve_one(stdin, one):
    # False once the host has said goodbye.
    n = _read_frame(stdin, one)
    return n == 0 or (n > 0 and handle(n))


def handle(n):
    """Answer the frame of `n` bytes in _rx; False once the host has said goodbye."""
    global _last_seq, corrupt
    if not _valid(n):
        corrupt += 1
        return True
    kind = _rx[0]
    seq = _rx[1]
    if kind == wire.REQUEST:
        if seq == _last_seq:  # our reply was lost: the same one again
            sys.stdout.buffer.write(memoryview(_tx)[:_tx_len])
        else:
            _reply(seq, _rx[4], memoryview(_rx)[5:n - 4])
        return True
    if kind == wire.PING:
        # Answered from _rx (this PING is read): the last reply stays in _tx
        # for the host's retry, which follows a PING.
        _rx[_PAYLOAD] = wire.VERSION
        _send(wire.PONG, seq, 1, _rx)
        return True
    _last_seq = -1
    if kind == wire.HELLO:
        _send(wire.HELLO, seq, _hello())
    elif kind == wire.BYE:
        _send(wire.BYE, seq, 0)
        return False
    return True
