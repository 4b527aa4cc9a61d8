"""The wire's frames, both ends against each other.

The host end (jazari.link.frames) runs here in CPython; the board's end
(firmware/kit/link.py) runs in the real MicroPython Unix port, fed through a
pipe. Each end checks what the other produced.
"""

import os
import random
import re
import subprocess
import sys
import zlib

import pytest

from jazari.link.frames import MAX_FRAME, WIRE, Frame, FrameDecoder, FrameError, cobs_decode, cobs_encode, pack, unpack, wire_constants
from jazari.paths import firmware_dir
from jazari.sim.stream import TextLines

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
FIRMWARE = firmware_dir()
FRAME_TYPES = ("HELLO", "BYE", "PING", "PONG", "REQUEST", "REPLY", "ERROR", "STREAM_DECLARE", "STREAM_BATCH", "LOG", "EVENT")

# Runs in MicroPython. argv[1]: "encode" (frames described on stdin, one per
# line "type seq payload-hex", sent with the board's encoder) or "decode"
# (frames on stdin, decoded by the board's reader: "type seq payload-hex" or
# "bad" per frame, "break" for the break sequence) or "serve".
HARNESS = r"""
import sys
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/sim"]
import binascii
import kit.link as link
link._allocate()
mode = sys.argv[1]
if mode == "encode":
    for line in sys.stdin.read().split("\n"):
        if line:
            kind, seq, payload = line.split(" ")
            size = link.put(binascii.unhexlify(payload))
            link._send(int(kind), int(seq), size)
elif mode == "decode":
    stdin = sys.stdin.buffer
    one = bytearray(1)
    while True:
        n = link._read_frame(stdin, one)
        if n < 0:
            print("end" if not one[0] or one[0] != 3 else "break")
            if one[0] != 3:
                break
            continue
        if n == 0:
            continue
        if not link._valid(n):
            print("bad")
            continue
        print(link._rx[0], link._rx[1], binascii.hexlify(link._rx[4:n - 4]).decode())
    print("corrupt", link.corrupt)
else:
    link.serve()
    sys.stderr.write("corrupt %d\n" % link.corrupt)
"""


@pytest.fixture(scope="module")
def board_end(tmp_path_factory):
    """run(mode, stdin bytes) -> (stdout bytes, stderr text) from the board's code."""
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython Unix port is not installed here")
    script = tmp_path_factory.mktemp("wire") / "harness.py"
    script.write_text(HARNESS)
    env = {**os.environ, "JAZARI_PROFILE": "esp32", "JAZARI_UID": "024a5a000001"}

    def run(mode, data):
        done = subprocess.run(
            [MICROPYTHON, str(script), mode, str(FIRMWARE)], input=data, capture_output=True, timeout=30, env=env
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout, done.stderr.decode()

    return run


def board_decodes(board_end, data):
    out, _err = board_end("decode", data)
    lines = out.decode().splitlines()
    return lines[:-1], int(lines[-1].split()[1])


EDGE_PAYLOADS = [
    b"",
    b"\0",
    b"\0" * 300,
    b"\x01" * 253,
    b"\x01" * 254,
    b"\x01" * 255,
    b"\x01" * 254 + b"\0" + b"\x02" * 254,
    bytes(range(256)) * 4,
    b"\xff" * WIRE.MAX_PAYLOAD,
]


# -- the constants ------------------------------------------------------------


def test_constants_are_read_from_the_board_module(tmp_path):
    board_file = tmp_path / "wire.py"
    board_file.write_text("from micropython import const\nVERSION = const(7)\n_PRIVATE = const(0x10)\nOTHER = 3\n")
    values = wire_constants(board_file)
    assert values.VERSION == 7 and values._PRIVATE == 16 and not hasattr(values, "OTHER")
    # Frame types are distinct, and the break sequence's byte is none of them.
    types = [getattr(WIRE, name) for name in FRAME_TYPES]
    assert len(set(types)) == len(types) and WIRE.BREAK not in types


def test_board_encoder_has_room_for_the_largest_frame():
    # kit.link encodes in place, its input starting _ROOM bytes into the buffer.
    source = (FIRMWARE / "kit" / "link.py").read_text()
    room = int(re.search(r"^_ROOM = const\((\d+)\)", source, re.M).group(1))
    assert room >= 2 + MAX_FRAME // 254


def test_board_and_host_see_the_same_constants(board_end):
    names = sorted(vars(WIRE))
    code = "import sys\nsys.path.insert(0, %r)\nimport kit.wire as w\n%s" % (
        str(FIRMWARE), "\n".join("print(repr(w.%s))" % name for name in names)
    )
    done = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.splitlines() == [repr(getattr(WIRE, name)) for name in names]


# -- COBS and frames, host end ---------------------------------------------------


@pytest.mark.parametrize("data", EDGE_PAYLOADS, ids=lambda d: f"{len(d)}b")
def test_cobs_round_trip_and_no_zero_on_the_line(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


def test_cobs_round_trips_mixed_data_and_refuses_cut_runs():
    rng = random.Random(7)
    for _ in range(400):
        size = rng.randrange(0, 1200)
        zero_share = rng.choice([0.0, 0.01, 0.3, 0.9])
        data = bytes(0 if rng.random() < zero_share else rng.choice([1, 255, rng.randrange(1, 256)]) for _ in range(size))
        encoded = cobs_encode(data)
        assert cobs_decode(encoded) == data
        if len(encoded) > 1:
            cut = rng.randrange(1, len(encoded))
            try:
                assert cobs_decode(encoded[:cut]) != data
            except FrameError:
                pass


@pytest.mark.parametrize("name", FRAME_TYPES)
def test_every_frame_type_round_trips(name):
    payload = os.urandom(37) + b"\0\0"
    wire_bytes = pack(getattr(WIRE, name), 300, payload)
    assert wire_bytes.endswith(b"\0") and 0 not in wire_bytes[:-1]
    assert unpack(wire_bytes[:-1]) == Frame(getattr(WIRE, name), 300 & 0xFF, payload)


def test_frame_crc_is_zlib_crc32_of_header_and_payload():
    body = cobs_decode(pack(WIRE.REPLY, 9, b"abc")[:-1])
    assert body[:4] == bytes([WIRE.REPLY, 9, 3, 0]) and body[4:7] == b"abc"
    assert int.from_bytes(body[7:], "little") == zlib.crc32(body[:7])


def test_oversized_payload_is_refused():
    with pytest.raises(ValueError):
        pack(WIRE.REPLY, 1, bytes(WIRE.MAX_PAYLOAD + 1))


def test_every_single_bit_flip_and_dropped_byte_is_caught():
    frame = pack(WIRE.REQUEST, 200, b"\x02print('hi')\0\xff")[:-1]
    damaged = []
    for at in range(len(frame)):
        for bit in range(8):
            flipped = bytearray(frame)
            flipped[at] ^= 1 << bit
            damaged.append(bytes(flipped))
        damaged.append(frame[:at] + frame[at + 1:])
    for variant in damaged:
        decoder = FrameDecoder()
        # A flip to 0x00 cuts the frame in two: both halves must be dropped.
        assert decoder.feed(variant + b"\0") == []
        assert decoder.corrupt >= 1
        with pytest.raises(FrameError):
            unpack(variant) if 0 not in variant else unpack(variant.split(b"\0")[0])


def test_stream_decoder_resyncs_and_counts(tmp_path):
    rng = random.Random(4)
    sent = [Frame(WIRE.STREAM_BATCH, seq, rng.randbytes(rng.randrange(0, 600))) for seq in range(40)]
    # The board ends the REPL's text with a delimiter before its first frame.
    stream = bytearray(b"OK MicroPython text before link mode\r\n\0")
    spoiled = set(range(3, 40, 7))
    for frame in sent:
        wire_bytes = bytearray(pack(*frame))
        if frame.seq in spoiled:
            wire_bytes[len(wire_bytes) // 2] ^= 0x10
        stream += wire_bytes
        if frame.seq % 5 == 0:
            stream += b"\0garbage\x01\x02" + b"\0"  # noise between frames, delimited
    decoder = FrameDecoder()
    received = []
    at = 0
    while at < len(stream):  # pieces of any size, as reads return them
        step = rng.randrange(1, 700)
        received += decoder.feed(stream[at:at + step])
        at += step
    assert received == [frame for frame in sent if frame.seq not in spoiled]
    assert decoder.frames == len(received)
    # The REPL text, each spoiled frame, and each piece of garbage count once.
    assert decoder.corrupt == 1 + len(spoiled) + len(range(0, 40, 5))


def test_noise_without_a_delimiter_is_bounded():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x55" * (decoder.max_encoded + 1)) == []
    assert decoder.corrupt == 1 and decoder.pending == b""
    assert decoder.feed(pack(WIRE.PONG, 1, b"\x01")) == [Frame(WIRE.PONG, 1, b"\x01")]


# -- both ends ------------------------------------------------------------------


def test_board_encodes_what_the_host_decodes(board_end):
    cases = [(getattr(WIRE, name), seq, os.urandom(seq)) for seq, name in enumerate(FRAME_TYPES)]
    cases += [(WIRE.REPLY, 100 + i, payload) for i, payload in enumerate(EDGE_PAYLOADS)]
    lines = "".join(f"{kind} {seq} {payload.hex()}\n" for kind, seq, payload in cases)
    out, _err = board_end("encode", lines.encode())
    decoder = FrameDecoder()
    assert decoder.feed(out) == [Frame(*case) for case in cases]
    assert decoder.corrupt == 0
    # Same bytes as the host's encoder: both ends speak one COBS.
    assert out == b"".join(pack(*case) for case in cases)


def test_host_encodes_what_the_board_decodes(board_end):
    cases = [(getattr(WIRE, name), seq, os.urandom(seq * 3)) for seq, name in enumerate(FRAME_TYPES)]
    cases += [(WIRE.REQUEST, 100 + i, payload) for i, payload in enumerate(EDGE_PAYLOADS)]
    lines, corrupt = board_decodes(board_end, b"".join(pack(*case) for case in cases))
    assert lines == [f"{kind} {seq} {payload.hex()}" for kind, seq, payload in cases] + ["end"]
    assert corrupt == 0


def test_board_drops_damaged_frames_and_keeps_the_good_ones(board_end):
    payloads = [b"\x02" + bytes([seq]) * 40 for seq in range(6)]
    good = [pack(WIRE.REQUEST, seq, payload) for seq, payload in enumerate(payloads)]
    flipped = bytearray(good[1])
    flipped[10] ^= 0x04
    dropped = good[3][:7] + good[3][8:]
    oversized = b"\x05" + b"\x55" * 3000 + b"\0"  # a run no frame can hold
    stream = good[0] + bytes(flipped) + good[2] + dropped + b"\0noise\0" + oversized + good[4] + good[5]
    lines, corrupt = board_decodes(board_end, stream)
    decoded = [line for line in lines if line not in ("bad", "end")]
    assert decoded == [f"{WIRE.REQUEST} {seq} {payloads[seq].hex()}" for seq in (0, 2, 4, 5)]
    # The flipped frame is bad; the one missing a byte runs into the noise
    # after it (one or two bad frames); the oversized run is skipped unread.
    assert lines.count("bad") >= 2 and corrupt == 1


@pytest.mark.parametrize("interrupt", [b"\0\x03\x03\x03", b"\r\x03", b"\r\x03\x03", b"\x05\x03"])
def test_a_type_byte_0x03_breaks_whatever_the_code_byte(board_end, interrupt):
    # jazari's break and a REPL tool's Ctrl-C ("\r\x03": code byte 13, type 3)
    # end the reader at once: it does not wait for the rest of the run, which
    # a tool never sends (here the line ends; waiting would read "end").
    lines, _corrupt = board_decodes(board_end, pack(WIRE.PING, 1) + interrupt)
    assert lines[:2] == [f"{WIRE.PING} 1 ", "break"]


def test_frames_go_on_after_a_break(board_end):
    stream = pack(WIRE.PING, 1) + b"\0\x03\x03" + b"\0" + pack(WIRE.PING, 2)
    lines, _corrupt = board_decodes(board_end, stream)
    assert lines[:3] == [f"{WIRE.PING} 1 ", "break", f"{WIRE.PING} 2 "]


def test_serve_over_a_pipe_answers_once_per_request(board_end):
    count = "n = globals().get('n', 0) + 1\nprint(n)"
    request = pack(WIRE.REQUEST, 5, bytes([WIRE.OP_EXEC]) + count.encode())
    flipped = bytearray(request)
    flipped[6] ^= 0x80
    stream = (
        pack(WIRE.PING, 1)
        + bytes(flipped)  # damaged: dropped, counted
        + request
        + request  # the reply was lost: the same seq again is answered from the last reply
        + pack(WIRE.REQUEST, 6, bytes([WIRE.OP_EXEC]) + count.encode())
        + pack(WIRE.REQUEST, 7, bytes([0x7E]))
        + pack(WIRE.BYE, 8)
    )
    out, err = board_end("serve", stream)
    # The Unix port marks where its frames start and end, for a virtual
    # board's supervisor, which takes the marks out (sim/stream.py).
    assert out.count(WIRE.FRAMES_MARK) == out.count(WIRE.TEXT_MARK) == 1
    lines = TextLines()
    out = lines.feed(out) + lines.flush()
    decoder = FrameDecoder()
    frames = decoder.feed(out)
    hello, pong, first, again, second, unknown, bye = frames
    assert hello.type == WIRE.HELLO and hello.payload[0] == WIRE.VERSION
    assert pong == Frame(WIRE.PONG, 1, bytes([WIRE.VERSION]))
    assert first == again == Frame(WIRE.REPLY, 5, b"1\n")
    assert second == Frame(WIRE.REPLY, 6, b"2\n")  # the repeat did not run the code twice
    assert unknown.type == WIRE.ERROR and unknown.payload[0] == WIRE.E_UNKNOWN
    assert bye == Frame(WIRE.BYE, 8, b"")
    assert err.strip().endswith("corrupt 1") and decoder.corrupt == 0
