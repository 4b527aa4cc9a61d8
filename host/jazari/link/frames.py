"""Frames of the wire protocol, host side (docs/protocol.md).

A frame on the line is COBS(type, seq, length, payload, CRC-32) followed by
0x00. `pack` builds one; `FrameDecoder` turns the bytes of a line into frames,
resynchronising on each 0x00 and counting the frames it had to drop.

The numbers come from the board's own firmware/kit/wire.py, read with `ast`,
so both ends always agree: `WIRE.HELLO`, `WIRE.VERSION`, ...
"""

import ast
import struct
import zlib
from types import SimpleNamespace
from typing import NamedTuple

from jazari.paths import firmware_dir

_HEADER = struct.Struct("<BBH")
_CRC = struct.Struct("<I")


def wire_constants(path=None):
    """The `NAME = const(value)` lines of kit/wire.py as a namespace."""
    path = path or firmware_dir() / "kit" / "wire.py"
    values = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "const"
        ):
            values[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return SimpleNamespace(**values)


WIRE = wire_constants()
MAX_FRAME = WIRE.HEADER + WIRE.MAX_PAYLOAD + WIRE.TRAILER


class FrameError(ValueError):
    """Bytes between two delimiters that are not a valid frame."""


class Frame(NamedTuple):
    type: int
    seq: int
    payload: bytes


def cobs_encode(data):
    """Consistent Overhead Byte Stuffing: `data` without any 0x00 byte."""
    out = bytearray()
    for part in bytes(data).split(b"\0"):
        # A zero-free part longer than 254 bytes is cut into 254-byte blocks,
        # each announced by 0xFF, which (unlike shorter codes) implies no zero.
        while len(part) >= 254:
            out += b"\xff" + part[:254]
            part = part[254:]
        out.append(len(part) + 1)
        out += part
    return bytes(out)


def cobs_decode(data):
    """The inverse of cobs_encode; FrameError if `data` is not valid COBS.

    Each code byte but the first stands where a zero was, so the output is
    the input with the code bytes set to zero: one pass from code to code,
    the only per-run Python (about 40 ns a run: 60 MB/s with a zero every
    third byte). A 0xFF code implies no zero: those are taken out after.
    """
    data = bytes(data)
    end = len(data)
    if 0 in data:
        raise FrameError("bad COBS")
    out = bytearray(data)
    at = 0
    if 255 not in data:
        no_zero = ()
        try:  # unrolled; leaves at the first code at or past the end (IndexError)
            while True:
                out[at] = 0
                at += data[at]
                out[at] = 0
                at += data[at]
                out[at] = 0
                at += data[at]
                out[at] = 0
                at += data[at]
        except IndexError:
            pass
    else:
        no_zero = []  # where the run after a 0xFF code starts: no zero there
        while at < end:
            code = data[at]
            out[at] = 0
            at += code
            if code == 255:
                no_zero.append(at)
    if at != end:
        raise FrameError("bad COBS")  # the last run claims bytes that are not there
    if not no_zero:
        return bytes(out[1:])
    view = memoryview(out)
    pieces = [view[1:no_zero[0]]]
    pieces += [view[start + 1:stop] for start, stop in zip(no_zero, no_zero[1:] + [end])]
    return b"".join(pieces)


def pack(kind, seq, payload=b""):
    """One frame, ready for the line (ends with the 0x00 delimiter)."""
    if len(payload) > WIRE.MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes (at most {WIRE.MAX_PAYLOAD})")
    body = _HEADER.pack(kind, seq & 0xFF, len(payload)) + bytes(payload)
    return cobs_encode(body + _CRC.pack(zlib.crc32(body))) + b"\0"


def unpack(encoded):
    """The Frame in `encoded` (without its delimiter); FrameError if damaged."""
    body = cobs_decode(encoded)
    if len(body) < _HEADER.size + _CRC.size:
        raise FrameError("too short")
    kind, seq, length = _HEADER.unpack_from(body)
    if length != len(body) - _HEADER.size - _CRC.size:
        raise FrameError("wrong length")
    (crc,) = _CRC.unpack_from(body, len(body) - _CRC.size)
    if crc != zlib.crc32(body[:-_CRC.size]):
        raise FrameError("bad CRC")
    return Frame(kind, seq, body[_HEADER.size:-_CRC.size])


class FrameDecoder:
    """Frames out of a byte stream that may hold noise, cuts and REPL text.

    `feed(data)` returns the complete frames; bytes after the last delimiter
    wait for the next feed (`pending`). `corrupt` counts the dropped frames,
    `frames` the good ones.
    """

    def __init__(self, max_frame=MAX_FRAME):
        # COBS adds one byte per 254, a frame at most this many on the line.
        self.max_encoded = max_frame + max_frame // 254 + 1
        self.pending = b""
        self.frames = 0
        self.corrupt = 0

    def feed(self, data):
        parts = (self.pending + bytes(data)).split(b"\0")
        self.pending = parts.pop()
        if len(self.pending) > self.max_encoded:  # noise with no delimiter in sight
            self.pending = b""
            self.corrupt += 1
        frames = []
        for part in parts:
            if not part:
                continue  # an extra delimiter: allowed anywhere
            try:
                frames.append(unpack(part))
            except FrameError:
                self.corrupt += 1
                continue
            self.frames += 1
        return frames

    def take_pending(self):
        """The bytes after the last delimiter (e.g. the REPL's text after BYE)."""
        pending, self.pending = self.pending, b""
        return pending
