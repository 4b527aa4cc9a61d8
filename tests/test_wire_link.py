"""Link mode and `jazari deploy` against virtual boards (real MicroPython, real pseudo-terminals).

Faults are injected on the real line: damaged frames written to the board,
replies spoiled or lost on their way back, the board reset mid-deploy.
"""

import argparse
import hashlib
import io
import os
from pathlib import Path

import pytest

import jazari
from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import set_language
from jazari.link import BoardError
from jazari.link.deploy import PART, deploy, plan
from jazari.link.deploy_commands import register
from jazari.link.frames import WIRE, pack
from jazari.link.session import LinkError, LinkSession
from jazari.paths import firmware_dir

QUICK = {"reply_timeout": 0.5, "retries": 2}  # a reset board is given up on quickly


class SpoiledReads:
    """The board's line, with the next replies damaged or lost on the way."""

    def __init__(self, line):
        self.line = line
        self.spoil = []  # one action per coming read that returns data: "flip" or "lose"

    def read(self, size=1):
        data = self.line.read(size)
        if data and self.spoil:
            action = self.spoil.pop(0)
            if action == "lose":
                return b""
            data = bytes([data[0] ^ 0x01]) + data[1:]
        return data

    def __getattr__(self, name):
        return getattr(self.line, name)


WALK = """import os
def walk(folder):
    for entry in os.ilistdir(folder):
        path = folder + '/' + entry[0]
        print(path)
        if entry[1] == 0x4000:
            walk(path)
walk('/lesson')"""


def board_files(port):
    """Every path under /lesson on the board, read through the REPL."""
    with jazari.connect(port) as device:
        return device.exec(WALK).split()


def test_handshake_rpc_and_back_to_the_repl(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        heap_before = device.info()["free_heap"]
    with LinkSession.open(virtual_board.port) as link:
        hello = link.hello
        assert hello["protocol"] == WIRE.VERSION and hello["kit"] == jazari.__version__
        assert hello["unique_id"] == virtual_board.uid.replace(":", "").lower()
        assert 50_000 < hello["free_heap"] < 140_000
        assert link.exec("x = 6\nprint(x * 7)") == "42\n"
        assert link.exec("print(x + 1)") == "7\n"  # the namespace lasts, as at a REPL
        with pytest.raises(LinkError) as refused:
            link.remove("/no-such-file")
        assert refused.value.errno == 2  # ENOENT, from the board's OSError
        free, total = link.free("/")
        assert 0 < free < total <= 4 * 1024 * 1024
        assert link.read("/boot.py") == (firmware_dir() / "boot.py").read_bytes()
    # BYE leaves the board at its REPL: a plain Device works at once, and
    # the link gave the student's heap back (its module is forgotten).
    with jazari.connect(virtual_board.port) as device:
        assert device.eval("1 + 1") == 2
        assert device.info()["free_heap"] > heap_before - 2048


def test_damage_both_ways_is_caught_and_nothing_runs_twice(virtual_board):
    count = "n = globals().get('n', 0) + 1\nprint(n)"
    with LinkSession.open(virtual_board.port) as link:
        # Host -> board: a flipped bit, a frame missing a byte, garbage.
        frame = bytearray(pack(WIRE.REQUEST, 99, bytes([WIRE.OP_EXEC]) + count.encode()))
        frame[5] ^= 0x20
        link.line.write(bytes(frame) + b"garbage\x01\x02\0")
        missing = pack(WIRE.REQUEST, 98, bytes([WIRE.OP_EXEC]) + count.encode())
        link.line.write(missing[:4] + missing[5:])
        assert link.exec(count) == "1\n"  # retried past the swallowed bytes if needed
        assert link.info()["link_corrupt"] >= 2
        # Board -> host: a reply damaged, then one lost; each request is sent again.
        spoiled = SpoiledReads(link.line)
        link.line = spoiled
        spoiled.spoil = ["flip"]
        assert link.exec(count) == "2\n"
        spoiled.spoil = ["lose"]
        assert link.exec(count) == "3\n"
        assert link.exec(count) == "4\n"  # the code ran once per request
        assert link.decoder.corrupt >= 1 and link.retries >= 2


def test_board_left_in_link_mode_is_found_and_brought_back(virtual_board):
    first = LinkSession.open(virtual_board.port)
    first.line.write(b"\0\x40P")  # the host dies inside a frame: the board waits for its run
    first.device.transport.close()  # no BYE
    with pytest.raises(JazariError, match="stopped answering|does not answer"):
        first.exec("print(1)")
    with LinkSession.open(virtual_board.port) as link:
        assert link.found_in_link_mode  # the REPL's keys went into the run: a PING found it
        assert link.exec("print('still here')") == "still here\n"
    with jazari.connect(virtual_board.port) as device:
        assert device.eval("2 * 21") == 42
        device.exec("kept = 1")
    # A reset requested over the link ends it: the board restarts at its REPL.
    with LinkSession.open(virtual_board.port) as link:
        link.reset()
        assert not link.linked
        assert link.device.eval("'kept' in globals()") is False


def test_model_runs_over_the_link_match_tflite_micro(virtual_boards):
    # The corpus's reference outputs are tflite-micro's (tests/nn/corpus/README.md).
    # An ESP32-S3: on the plain ESP32 profile the engine, compiled from
    # source on the 64-bit Unix port, does not load even from the REPL.
    import numpy

    (board,) = virtual_boards(1, profile="esp32s3")
    corpus = Path(__file__).parent / "nn" / "corpus"
    reference = numpy.load(corpus / "gesture_1d.npz")
    with LinkSession.open(board.port) as link:
        deploy(link, plan([str(corpus / "gesture_1d.tflite")], "/models"))
        for sample, expected in zip(reference["input_0"], reference["output_0"]):
            output, latency_us = link.run_model("/models/gesture_1d.tflite", sample.tobytes())
            assert output == expected.tobytes() and latency_us > 0
        with pytest.raises(LinkError, match="nope.tflite|ENOENT"):
            link.run_model("/models/nope.tflite", b"\0")


def lesson_folder(root, big=60_000):
    folder = root / "lesson"
    (folder / "models").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"skip me")
    (folder / "main.py").write_text("print('hello')\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "models" / "gesture.tflite").write_bytes(os.urandom(big))
    return folder


def test_deploy_copies_then_skips_unchanged_files(virtual_board, tmp_path):
    folder = lesson_folder(tmp_path)
    pairs = plan([str(folder)])
    assert sorted(remote for _local, remote in pairs) == ["/lesson/empty.txt", "/lesson/main.py", "/lesson/models/gesture.tflite"]
    with LinkSession.open(virtual_board.port) as link:
        first = deploy(link, pairs)
        assert sorted(first.copied) == sorted(remote for _local, remote in pairs)
        for local, remote in pairs:
            assert link.read(remote) == local.read_bytes()
        (folder / "main.py").write_text("print('changed')\n")
        second = deploy(link, plan([str(folder)]))
    assert second.copied == ["/lesson/main.py"] and len(second.skipped) == 2
    assert second.sent == len("print('changed')\n")
    assert sorted(board_files(virtual_board.port)) == ["/lesson/empty.txt", "/lesson/main.py", "/lesson/models", "/lesson/models/gesture.tflite"]


def test_reset_mid_deploy_leaves_the_old_file_and_resumes(virtual_board, tmp_path):
    folder = lesson_folder(tmp_path, big=1000)
    with LinkSession.open(virtual_board.port) as link:
        deploy(link, plan([str(folder)]))
    old = (folder / "models" / "gesture.tflite").read_bytes()
    new = os.urandom(60_000)
    (folder / "models" / "gesture.tflite").write_bytes(new)
    boots = virtual_board.wait_boot()

    def pull_the_plug(remote, done, total):
        if done >= 30_000 and not pulled:
            pulled.append(done)
            virtual_board.reset()

    pulled = []
    with pytest.raises(JazariError, match="stopped answering"):
        with LinkSession.open(virtual_board.port, **QUICK) as link:
            deploy(link, plan([str(folder)]), progress=pull_the_plug)
    virtual_board.wait_boot(after=boots)
    with jazari.connect(virtual_board.port) as device:
        assert device.get("/lesson/models/gesture.tflite") == old  # untouched
        part = device.get("/lesson/models/gesture.tflite" + PART)
    assert len(part) < len(new) and new.startswith(part)  # only the temporary file is partial
    with LinkSession.open(virtual_board.port) as link:
        again = deploy(link, plan([str(folder)]))
        assert again.resumed == ["/lesson/models/gesture.tflite"] and again.sent == len(new) - len(part)
        assert hashlib.sha256(link.read("/lesson/models/gesture.tflite")).digest() == hashlib.sha256(new).digest()
    assert not any(path.endswith(PART) for path in board_files(virtual_board.port))


def deploy_cli(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["deploy", *argv])
    out = io.StringIO()
    console.out, before = out, console.out
    try:
        code = args.func(args)
    finally:
        console.out = before
    return code, out.getvalue()


def test_deploy_command_and_a_missing_local_file(virtual_board, tmp_path):
    (tmp_path / "main.py").write_text("print(1)\n")
    code, out = deploy_cli(str(tmp_path / "main.py"), "--port", virtual_board.port)
    assert code == 0 and "/main.py" in out
    code, out = deploy_cli(str(tmp_path / "main.py"))  # the only board running
    assert "0 copied, 1 unchanged" in out
    with pytest.raises(JazariError, match="no file or folder .*nope.py"):
        deploy_cli(str(tmp_path / "nope.py"), "--port", virtual_board.port)
    set_language("fr")
    try:
        with pytest.raises(JazariError, match="Aucun fichier"):
            plan([str(tmp_path / "nope.py")])
    finally:
        set_language(None)


def test_full_filesystem_says_how_much_is_free(virtual_board, tmp_path):
    with jazari.connect(virtual_board.port) as device:
        # Fill the flash from the board itself, leaving about 40 KB.
        device.exec(
            "import os\ns = os.statvfs('/')\nleft = s[0] * s[3] - 40960\nb = bytes(4096)\n"
            "with open('/fill.bin', 'wb') as f:\n  while left > 0:\n    f.write(b)\n    left -= 4096",
            timeout=60,
        )
    big = tmp_path / "model.tflite"
    big.write_bytes(os.urandom(100_000))
    with LinkSession.open(virtual_board.port) as link:
        free_kb = link.free("/")[0] / 1024
        with pytest.raises(JazariError) as full:
            deploy(link, plan([str(big)]))
        assert link.file_hash("/model.tflite") is None and link.file_hash("/model.tflite" + PART) is None
    assert "97.7 KB" in full.value.message and f"{free_kb:.1f} KB are free" in full.value.message


def test_board_without_the_kit_and_an_older_protocol(virtual_board):
    wire_source = (firmware_dir() / "kit" / "wire.py").read_text()
    older = wire_source.replace(f"VERSION = const({WIRE.VERSION})", f"VERSION = const({WIRE.VERSION - 1})")
    assert older != wire_source
    with jazari.connect(virtual_board.port) as device:
        device.put(older.encode(), "/kit/wire.py")
        device.soft_reset()
    with pytest.raises(JazariError, match=f"speaks link protocol {WIRE.VERSION - 1}.*jazari flash"):
        LinkSession.open(virtual_board.port)
    # The board went back to its REPL. A link that fails to start says why.
    with jazari.connect(virtual_board.port) as device:
        assert device.eval("1") == 1
        device.put(b"raise MemoryError('memory allocation failed')\n", "/kit/link.py")
        device.soft_reset()
    with pytest.raises(BoardError, match="MemoryError: memory allocation failed"):
        LinkSession.open(virtual_board.port)
    # Now take the kit away: a plain MicroPython board.
    with jazari.connect(virtual_board.port) as device:
        device.exec("import os\nos.rename('/kit', '/kit-away')")
        device.soft_reset()
    with pytest.raises(JazariError, match="no Jazari kit"):
        LinkSession.open(virtual_board.port)
    with jazari.connect(virtual_board.port) as device:
        assert device.eval("1") == 1
