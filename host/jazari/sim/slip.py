"""SLIP framing and the data checksum of the ESP ROM bootloaders' serial protocol.

A frame is C0 ... C0; inside it C0 is sent as DB DC and DB as DB DD.
"""

CHECKSUM_SEED = 0xEF


class SlipDecoder:
    """Bytes in, whole frames out. Bytes outside frames (a terminal's typing) are dropped, as the ROM does.
    A frame's bytes are kept as sent until its end, then unescaped at once (C-speed
    `split`/`replace`: a classroom's worth of boards shares one computer's CPU)."""

    def __init__(self):
        self.frame = None  # bytearray (still escaped) while inside a frame

    def feed(self, data):
        frames = []
        pieces = bytes(data).split(b"\xc0")
        if self.frame is not None:
            self.frame += pieces[0]
        for piece in pieces[1:]:  # each follows a C0: the end of a frame and the start of the next
            if self.frame:
                frames.append(_unescape(bytes(self.frame)))
            self.frame = bytearray(piece)
        return frames


def _unescape(body):
    # Every DB starts an escape, so DB DC is never part of DB DD: this order is exact.
    return body.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


def slip_encode(packet):
    body = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


def checksum(data):
    """0xEF xor every byte: the bytes as one integer, folded in halves (xor of the
    halves keeps the xor of all bytes), so the work is done by C, not a byte loop."""
    value, width = int.from_bytes(data, "little"), len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value >> 8 * half) ^ (value & ((1 << 8 * half) - 1))
        width = half
    return CHECKSUM_SEED ^ value
