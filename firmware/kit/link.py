"""The board's end of the wire: binary frames on the REPL's serial line.

    import kit.link
    kit.link.serve()     # the host sends this through the raw REPL

serve() answers the host's requests until a BYE frame or the break sequence
(00 03 03 03), then returns to the REPL it was started from. Meanwhile
Ctrl-C is a plain byte, since frames carry every byte value. The frame
format, the operations and how the line moves between the REPL and link
mode are in docs/protocol.md; the numbers are in kit/wire.py.
"""

import sys

import micropython
from binascii import crc32
from micropython import const

import kit.wire as wire

# COBS adds a byte per 254, so the in-place encoder's output gains on its
# input by up to 2 + (largest frame) // 254 bytes: the frame starts this far in.
_ROOM = const(12)
_PAYLOAD = const(_ROOM + 4)
_SYNC_MASK = const(8191)  # written data is committed to flash every 8 KB  # where a reply's payload goes in _tx (after the header)

_rx = None  # the frame being received, decoded in place
_tx = None  # the reply: built at _ROOM, COBS-encoded from 0, kept for a repeated request
_tx_len = 0
_last_seq = -1  # seq of the REQUEST whose reply is in _tx
_file = None  # the file being written, and the size it has
_pos = 0
_names = None  # exec namespace, kept across EXEC requests like the REPL's
corrupt = 0  # frames dropped on a bad CRC, length or size


def _read_frame(stdin, one):
    # Decodes runs straight into _rx: one readinto per run of up to 254
    # bytes. Returns the frame's length, 0 for an empty or dropped frame,
    # -1 for the break sequence.
    global corrupt
    rx = _rx
    view = memoryview(rx)
    cap = len(rx)
    n = 0
    zero = False
    while True:
        if not stdin.readinto(one):
            return -1  # the line is closed (a pipe's end): leave link mode
        code = one[0]
        if code == 0:
            return n
        k = code - 1
        if n + zero + k > cap:
            corrupt += 1
            while one[0]:  # too long to be a frame: skip to the next delimiter
                if not stdin.readinto(one):
                    return -1
            return 0
        if zero:
            rx[n] = 0
            n += 1
        if k:
            stdin.readinto(view[n:n + k])
            if n == 0 and code == 3 and rx[0] == wire.BREAK and rx[1] == wire.BREAK:
                return -1
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
    # COBS in place: the output never catches up with the input it reads.
    out = 1
    code_at = 0
    code = 1
    for i in range(_ROOM, end + 4):
        b = tx[i]
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
    if buf is None:
        _tx_len = out + 1
    sys.stdout.buffer.write(memoryview(tx)[:out + 1])


def _put(data, skip=0):
    # Copies bytes or text into the reply's payload after `skip` bytes; returns its size.
    if isinstance(data, str):
        data = data.encode()
    at = _PAYLOAD + skip
    _tx[at:at + len(data)] = data
    return len(data)


def _u32(value, at=_PAYLOAD):
    for i in range(4):
        _tx[at + i] = (value >> (8 * i)) & 0xFF
    return 4


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
    return 1 + _put(_info(), 1)


def _text(args):
    return str(args, "utf-8")


def _hash(path):
    import os
    from hashlib import sha256

    try:
        size = os.stat(path)[6]
    except OSError:
        return _u32(0xFFFFFFFF)
    digest = sha256()
    chunk = memoryview(_tx)[_PAYLOAD + 4:_PAYLOAD + 4 + wire.CHUNK]
    with open(path, "rb") as f:
        while True:
            got = f.readinto(chunk)
            if not got:
                break
            digest.update(chunk[:got])
    _u32(size)
    return 4 + _put(digest.digest(), 4)


def _open(args):
    global _file, _pos
    import os

    _close()
    path = _text(args[1:])
    _file = open(path, "ab" if args[0] else "wb")
    _pos = os.stat(path)[6] if args[0] else 0
    return _u32(_pos)


def _write(args):
    global _pos
    if not _file:
        return _error(wire.E_NOT_OPEN, 0, "")
    offset = args[0] | args[1] << 8 | args[2] << 16 | args[3] << 24
    size = len(args) - 4
    if offset == _pos:
        _file.write(args[4:])
        _pos += size
        if _pos & _SYNC_MASK < size:  # crossed a sync boundary: a reset keeps this much
            _file.flush()
    elif offset + size != _pos:  # the same chunk again is already written
        return _error(wire.E_OFFSET, 0, str(_pos))
    return _u32(_pos)


def _close():
    global _file
    if _file:
        _file.close()
        _file = None
    return 0


def _rename(args):
    import os

    old, new = _text(args).split("\0")
    try:
        os.rename(old, new)
    except OSError:
        os.remove(new)  # a filesystem that will not rename over a file (FAT)
        os.rename(old, new)
    return 0


def _remove(path):
    import os

    os.remove(path)
    return 0


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError as error:
        if error.errno != 17:  # EEXIST: already there is fine
            raise
    return 0


def _read(args):
    offset = args[0] | args[1] << 8 | args[2] << 16 | args[3] << 24
    size = min(args[4] | args[5] << 8, wire.CHUNK)
    with open(_text(args[6:]), "rb") as f:
        f.seek(offset)
        return f.readinto(memoryview(_tx)[_PAYLOAD:_PAYLOAD + size]) or 0


def _free(path):
    import os

    stat = os.statvfs(path)
    _u32(stat[0] * stat[4])
    return 4 + _u32(stat[0] * stat[2], _PAYLOAD + 4)


def _exec(code):
    global _names
    import io

    out = io.StringIO()
    if _names is None:
        _names = {}
    _names["print"] = lambda *a, **k: print(*a, file=out, **k)
    exec(code, _names)
    return _put(out.getvalue().encode()[:wire.MAX_PAYLOAD])


def _error(code, errno, text):
    # An ERROR payload: code, errno (0: none), text. Returns minus its size.
    _tx[_PAYLOAD] = code
    _tx[_PAYLOAD + 1] = errno
    return -2 - _put(text[:200], 2)


# Operations that take their arguments as one path.
_ON_PATH = {wire.OP_HASH: _hash, wire.OP_REMOVE: _remove, wire.OP_MKDIR: _mkdir,
            wire.OP_FREE: _free, wire.OP_EXEC: _exec}
_ON_ARGS = {wire.OP_WRITE: _write, wire.OP_OPEN: _open, wire.OP_RENAME: _rename, wire.OP_READ: _read}


def _operate(op, args):
    # The reply's payload size, or minus the ERROR payload's size.
    try:
        if op in _ON_ARGS:
            return _ON_ARGS[op](args)
        if op in _ON_PATH:
            return _ON_PATH[op](_text(args))
        if op == wire.OP_CLOSE:
            return _close()
        if op == wire.OP_INFO:
            return _put(_info())
        return _error(wire.E_UNKNOWN, 0, "")
    except OSError as error:
        errno = error.errno if isinstance(error.errno, int) else 0
        return _error(wire.E_OS, errno & 0xFF, str(error))
    except Exception as error:
        return _error(wire.E_RAISED, 0, "%s: %s" % (type(error).__name__, error))


def _reply(seq, op, args):
    global _last_seq
    if op == wire.OP_RESET:
        _send(wire.REPLY, seq, 0)
        _reset(args[0])
    size = _operate(op, args)
    _send(wire.REPLY if size >= 0 else wire.ERROR, seq, abs(size))
    _last_seq = seq


def _reset(hard):
    import machine

    micropython.kbd_intr(3)
    if hard:
        machine.reset()
    machine.soft_reset()


def _allocate():
    global _rx, _tx, _last_seq, corrupt
    size = wire.HEADER + wire.MAX_PAYLOAD + wire.TRAILER
    _rx = bytearray(size)
    _tx = bytearray(size + _ROOM + 2)
    _last_seq = -1
    corrupt = 0


def serve():
    """Answer the host's frames until BYE or the break sequence."""
    global _rx, _tx
    import gc

    _allocate()
    gc.collect()
    stdin = sys.stdin.buffer
    one = bytearray(1)
    micropython.kbd_intr(-1)
    try:
        sys.stdout.buffer.write(b"\0")  # ends whatever the REPL printed before
        _send(wire.HELLO, 0, _hello())
        while _serve_one(stdin, one):
            pass
    finally:
        micropython.kbd_intr(3)
        _close()
        _rx = _tx = None
        _forget()
        gc.collect()


def _forget():
    # Gives the student's heap back: the next serve() imports the link afresh.
    import kit

    for name in ("link", "wire"):
        sys.modules.pop("kit." + name, None)
        kit.__dict__.pop(name, None)


def _serve_one(stdin, one):
    # False once the host has said goodbye.
    global _last_seq, corrupt
    n = _read_frame(stdin, one)
    if n < 0:
        return False
    if n == 0:
        return True
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
