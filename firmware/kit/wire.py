# The wire's numbers, defined once for both ends (see docs/protocol.md).
# The board imports this module; the host reads it with `ast`
# (jazari.link.frames.wire_constants), so every value here must be a plain
# integer or bytes literal written as `NAME = const(...)`.
from micropython import const

VERSION = const(1)  # bumped when a frame or an operation changes meaning

# A frame on the line: COBS(type, seq, length (2 bytes, little-endian),
# payload, CRC-32 of all before it (4 bytes, little-endian)), then 0x00.
HEADER = const(4)
TRAILER = const(4)
MAX_PAYLOAD = const(2176)  # a write chunk plus its operation and offset, with room to spare
CHUNK = const(2048)  # file bytes per WRITE request: 1 % framing overhead

# Frame types. 0x03 (Ctrl-C) is never a type: a frame whose type byte is
# 0x03, whatever its code byte, is a break (00 03 03 03 from jazari, or the
# "\r\x03" every REPL tool sends first): the board leaves link mode.
HELLO = const(0x01)  # board -> host on entry and as the answer to a HELLO
BYE = const(0x02)  # host -> board: leave link mode; echoed before leaving
# PING goes to boards whose mode is unknown: 'P' types itself harmlessly at
# a REPL, where 0x01-0x05 would be Ctrl-A to Ctrl-E (Ctrl-D: soft reset).
PING = const(0x50)  # host -> board: are you in link mode?
PONG = const(0x51)  # board -> host: yes
REQUEST = const(0x10)  # host -> board: operation byte, then its arguments
REPLY = const(0x11)  # board -> host: same seq as the request
ERROR = const(0x12)  # board -> host: same seq; error byte, then a text
STREAM_DECLARE = const(0x20)  # board -> host: a stream's channels; the reply to OP_STREAM_START
STREAM_BATCH = const(0x21)  # board -> host: packed samples after a BATCH_HEADER
LOG = const(0x30)  # board -> host: a line of text (level byte first)
EVENT = const(0x31)  # board -> host: a named event (button, reset cause)
BREAK = const(0x03)  # the reserved type

# The link's watchdog (docs/protocol.md, "A board left in link mode"): while
# the host holds the link it sends a 0x00 (an empty frame) every KEEPALIVE_MS;
# a board that hears nothing for SILENCE_MS leaves link mode for its REPL.
KEEPALIVE_MS = const(1000)
SILENCE_MS = const(5000)  # five keepalives missed: the host is gone, not just busy

# Virtual board only (MicroPython's Unix port): the link prints these around
# its binary frames, so the supervisor can send printed text with a board's
# "\r\n" line ends and the frames untouched; it takes them out of the line
# (host/jazari/sim/stream.py TextLines). No printed text holds a 0x00, and no
# COBS stream holds 00 02 00 (code byte 0x02 promises a data byte, not a 0x00).
FRAMES_MARK = const(b"\x00\x02\x00jazari:frames\x00")
TEXT_MARK = const(b"\x00\x02\x00jazari:text\x00")

# Operations (first payload byte of a REQUEST).
OP_INFO = const(0x01)
OP_EXEC = const(0x02)
OP_HASH = const(0x10)
OP_OPEN = const(0x11)
OP_WRITE = const(0x12)
OP_CLOSE = const(0x13)
OP_RENAME = const(0x14)
OP_REMOVE = const(0x15)
OP_MKDIR = const(0x16)
OP_READ = const(0x17)
OP_FREE = const(0x18)
OP_RESET = const(0x20)
OP_RUN_MODEL = const(0x30)  # reserved for the model lessons
OP_STREAM_START = const(0x40)  # answered by a STREAM_DECLARE frame, then batches follow
OP_STREAM_STOP = const(0x41)  # remaining batches, then a REPLY: samples taken, dropped

# Telemetry (docs/protocol.md, "Telemetry").
BATCH_HEADER = const(13)  # stream id, first sample's number, its ticks_us, drops so far
WRAP_BITS = const(30)  # sample numbers, ticks_us and drop counts wrap at 2**30, as ticks_us on an ESP32
ALL_STREAMS = const(0xFF)  # OP_STREAM_STOP's id for every stream

# Error codes (first payload byte of an ERROR).
E_UNKNOWN = const(1)  # unknown operation
E_OS = const(2)  # OSError: the errno follows as a byte, then the text
E_RAISED = const(3)  # another exception: its text follows
E_OFFSET = const(4)  # a write that does not continue the open file
E_NOT_OPEN = const(5)  # a write with no file open
