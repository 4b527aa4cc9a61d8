"""SLIP framing and the data checksum of the ESP ROM bootloaders' serial protocol.

A frame is C0 ... C0; inside it C0 is sent as DB DC and DB as DB DD.
"""

SLIP_END, SLIP_ESC = 0xC0, 0xDB
_SLIP_ESCAPES = {0xDC: SLIP_END, 0xDD: SLIP_ESC}
CHECKSUM_SEED = 0xEF


class SlipDecoder:
    """Bytes in, whole frames out. Bytes outside frames (a terminal's typing) are dropped, as the ROM does."""

    def __init__(self):
        self.frame = None  # bytearray while inside a frame
        self.escaped = False

    def feed(self, data):
        frames = []
        for byte in data:
            if byte == SLIP_END:
                if self.frame:
                    frames.append(bytes(self.frame))
                self.frame, self.escaped = bytearray(), False
            elif self.frame is None:
                continue
            elif self.escaped:
                self.frame.append(_SLIP_ESCAPES.get(byte, byte))
                self.escaped = False
            elif byte == SLIP_ESC:
                self.escaped = True
            else:
                self.frame.append(byte)
        return frames


def slip_encode(packet):
    body = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


def checksum(data):
    state = CHECKSUM_SEED
    for byte in data:
        state ^= byte
    return state
