"""The link's file operations (OP_HASH to OP_FREE of docs/protocol.md).

Imported by kit.link the first time a file request comes, so a session that
only runs code never loads it. Each operation fills the reply's payload
through kit.link's helpers and returns its size (or minus an ERROR's).
"""

import os

from micropython import const

import kit.link as link
import kit.wire as wire

_SYNC_MASK = const(8191)  # written data is committed to flash every 8 KB
_EEXIST = const(17)
_ENOTDIR = const(20)
_S_IFDIR = const(0x4000)
_ABSENT = const(0xFFFFFFFF)

_file = None  # the file being written
_pos = 0  # its size


def _u32_at(args, at):
    return args[at] | args[at + 1] << 8 | args[at + 2] << 16 | args[at + 3] << 24


def _hash(path):
    from hashlib import sha256

    try:
        size = os.stat(path)[6]
    except OSError:
        return link.put_u32(_ABSENT)
    digest = sha256()
    chunk = link.payload(4, wire.CHUNK)  # the reply's own room, before the digest goes there
    with open(path, "rb") as f:
        while True:
            got = f.readinto(chunk)
            if not got:
                break
            digest.update(chunk[:got])
    link.put_u32(size)
    return 4 + link.put(digest.digest(), 4)


def _open(args):
    global _file, _pos
    close()
    path = link.text(args[1:])
    _file = open(path, "ab" if args[0] else "wb")
    _pos = os.stat(path)[6] if args[0] else 0
    return link.put_u32(_pos)


def _write(args):
    global _pos
    if not _file:
        return link.error(wire.E_NOT_OPEN, 0, "")
    offset = _u32_at(args, 0)
    size = len(args) - 4
    if offset == _pos:
        _file.write(args[4:])
        _pos += size
        if _pos & _SYNC_MASK < size:  # crossed a sync boundary: a reset keeps this much
            _file.flush()
    elif offset + size != _pos:  # the same chunk again is already written
        return link.error(wire.E_OFFSET, 0, str(_pos))
    return link.put_u32(_pos)


def close(_args=None):
    global _file
    if _file:
        _file.close()
        _file = None
    return 0


def _rename(args):
    old, new = link.text(args).split("\0")
    try:
        os.rename(old, new)
    except OSError:
        os.remove(new)  # a filesystem that will not rename over a file (FAT)
        os.rename(old, new)
    return 0


def _remove(args):
    os.remove(link.text(args))
    return 0


def _mkdir(args):
    path = link.text(args)
    try:
        os.mkdir(path)
    except OSError as failure:
        if failure.errno != _EEXIST:
            raise
        if not os.stat(path)[0] & _S_IFDIR:  # a folder already there is fine, a file is not
            raise OSError(_ENOTDIR)
    return 0


def _read(args):
    size = min(args[4] | args[5] << 8, wire.CHUNK)
    with open(link.text(args[6:]), "rb") as f:
        f.seek(_u32_at(args, 0))
        return f.readinto(link.payload(0, size)) or 0


def _free(args):
    stat = os.statvfs(link.text(args))
    blocks, free = stat[2], stat[4]
    if free > blocks:
        # LittleFS counts blocks that a file open for appending shares with its
        # committed version twice; near full, "in use" passes the total and the
        # free count wraps to about 2**32. Nothing is free then.
        free = 0
    link.put_u32(stat[0] * free)
    return 4 + link.put_u32(stat[0] * blocks, 4)


_OPERATIONS = {
    wire.OP_HASH: lambda args: _hash(link.text(args)),
    wire.OP_OPEN: _open,
    wire.OP_WRITE: _write,
    wire.OP_CLOSE: close,
    wire.OP_RENAME: _rename,
    wire.OP_REMOVE: _remove,
    wire.OP_MKDIR: _mkdir,
    wire.OP_READ: _read,
    wire.OP_FREE: _free,
}


def operate(op, args):
    handler = _OPERATIONS.get(op)
    return handler(args) if handler else link.error(wire.E_UNKNOWN, 0, "")
