"""PNG files from an RGB pixel array, with zlib alone (no imaging library).

A PNG is a signature and chunks (length, type, data, CRC-32); the pixels are
one IHDR (size, 8-bit RGB) and IDAT: the zlib stream of every row prefixed
by its filter byte (0: none).
"""

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGB8 = (8, 2, 0, 0, 0)  # bit depth, colour type 2 (RGB), compression, filter, interlace


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels):
    """The PNG bytes of `pixels`, a (height, width, 3) uint8 array."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, _planes = pixels.shape
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # column 0: filter byte 0
    rows[:, 1:] = pixels.reshape(height, 3 * width)
    header = struct.pack(">II5B", width, height, *_RGB8)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _chunk(b"IEND", b"")


def decode_png(data):
    """The (height, width, 3) pixels of a PNG written by encode_png (for checks)."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    offset, chunks = len(SIGNATURE), {}
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if struct.unpack_from(">I", data, offset + 8 + length)[0] != zlib.crc32(kind + body):
            raise ValueError("bad CRC in %s" % kind.decode())
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    if rows[:, 0].any():
        raise ValueError("filtered rows are not supported")
    return rows[:, 1:].reshape(height, width, 3).copy()
