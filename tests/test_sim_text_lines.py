"""A virtual board's line as an ESP32's UART sends it: printed lines end in
"\\r\\n" (a board's driver sends print()'s "\\n" that way, so `mpremote repl`
and Thonny do not staircase), while the kit's binary frames pass untouched."""

import os
import time

import serial

from jazari.link.frames import WIRE, FrameDecoder, pack
from jazari.sim.stream import FRAMES_MARK, TEXT_MARK, TextLines


def _through(chunks):
    lines = TextLines()
    return b"".join(lines.feed(chunk) for chunk in chunks) + lines.flush()


def test_a_lone_newline_is_sent_as_a_board_sends_it():
    assert _through([b"one\ntwo\n"]) == b"one\r\ntwo\r\n"
    assert _through([b">>> x\r\n"]) == b">>> x\r\n"  # the REPL's own line ends stay as they are
    assert _through([b"a\r", b"\nb\n"]) == b"a\r\nb\r\n"  # "\r" and "\n" in two reads are one line end


def test_frames_between_the_marks_pass_untouched_and_the_marks_go():
    frame = pack(WIRE.REPLY, 7, b"\n\r\n\x00line\n")
    out = _through([b"OK" + FRAMES_MARK + b"\x00" + frame + TEXT_MARK + b"done\n"])
    assert out == b"OK\x00" + frame + b"done\r\n"
    assert b"jazari:" not in out


def test_a_mark_cut_between_reads_is_still_found():
    stream = b"text\n" + FRAMES_MARK + b"\x01\n\x00" + TEXT_MARK + b"more\n"
    whole = _through([stream])
    for cut in range(1, len(stream)):
        assert _through([stream[:cut], stream[cut:]]) == whole
    assert whole == b"text\r\n\x01\n\x00more\r\n"


def test_what_only_looked_like_the_start_of_a_mark_is_sent_when_no_more_comes():
    lines = TextLines()
    assert lines.feed(b"frame end\x00") == b"frame end"
    assert lines.pending == b"\x00"
    assert lines.flush() == b"\x00"


def _read_until(line, end, timeout=5, count=1):
    """Bytes read until `end` has come `count` times (or the time is up)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while seen.count(end) < count and time.monotonic() < deadline:
        seen += line.read(1)
    return seen


def test_printed_lines_end_in_crlf_and_a_link_session_sees_clean_frames(virtual_board):
    with serial.Serial(virtual_board.device, timeout=0.2) as line:
        line.write(b"\r\x03")
        _read_until(line, b">>> ")
        time.sleep(0.3)  # the second prompt, Ctrl-C's
        line.reset_input_buffer()
        line.write(b"print('one'); print('two\\nthree')\r")
        printed = _read_until(line, b">>> ")
        assert b"one\r\ntwo\r\nthree\r\n>>> " in printed
        assert printed.count(b"\n") == printed.count(b"\r\n")
        # Link mode by hand, as the host enters it: the board's frames arrive
        # byte for byte as the kit made them, with no mark left on the line.
        line.write(b"\x01")
        _read_until(line, b"raw REPL; CTRL-B to exit\r\n>")
        line.write(b"import kit.link\nkit.link.serve()\x04")
        entered = _read_until(line, b"\x00", count=2)  # the 0x00 that ends the REPL's "OK", then HELLO
        assert entered.startswith(b"OK\x00")
        decoder = FrameDecoder()
        assert [frame.type for frame in decoder.feed(entered[3:])] == [WIRE.HELLO]
        payload = os.urandom(200) + b"\n" * 50
        line.write(pack(WIRE.REQUEST, 1, bytes([WIRE.OP_EXEC]) + b"print(%r)" % payload.hex()))
        reply = decoder.feed(_read_until(line, b"\x00", timeout=5))
        assert reply[0].type == WIRE.REPLY and payload.hex().encode() in reply[0].payload
        line.write(pack(WIRE.BYE, 2))
        left = _read_until(line, b"\x04>")
        assert [frame.type for frame in decoder.feed(left)][-1:] == [WIRE.BYE]
        assert b"jazari:" not in entered + left and decoder.corrupt == 0
