"""jazari.connect and Device against virtual boards (real MicroPython, real mpremote transport)."""

import os
import subprocess
import sys

import pytest
import serial

import jazari
from jazari.errors import JazariError
from jazari.link import BoardError


def run_jazari(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "jazari.cli", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def test_info_reports_the_board(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        info = device.info()
    assert info["kit"] == jazari.__version__
    assert info["chip"] == "ESP32"
    assert info["micropython"].startswith("1.")
    assert len(info["unique_id"]) == 12 and int(info["unique_id"], 16) >= 0
    # The ESP32 profile gives student code about 110 KB of heap, as a real board.
    assert 80_000 < info["free_heap"] < 140_000


def test_exec_eval_and_board_errors(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        assert device.exec("for i in range(3): print(i)") == "0\n1\n2\n"
        assert device.eval("[x * x for x in range(4)]") == [0, 1, 4, 9]
        with pytest.raises(BoardError) as raised:
            device.exec("def f():\n  raise ValueError('bad sensor')\nf()")
        assert raised.value.exception_name == "ValueError"
        assert "bad sensor" in raised.value.message
        # The board is still alive after the error.
        assert device.eval("40 + 2") == 42


def test_put_get_round_trip_is_atomic(virtual_board):
    data = os.urandom(20_000)
    with jazari.connect(virtual_board.port) as device:
        device.put(data, "/blob.bin")
        assert device.get("/blob.bin") == data
        names = device.eval("__import__('os').listdir('/')")
    assert "blob.bin" in names and "blob.bin.part" not in names


def test_get_missing_file_is_one_clear_message(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        with pytest.raises(JazariError, match="no file /nope.txt"):
            device.get("/nope.txt")


def test_soft_and_hard_reset_clear_state_and_board_answers(virtual_board):
    with jazari.connect(virtual_board.port) as device:
        device.exec("marker = 1")
        device.soft_reset()
        assert device.eval("'marker' in globals()") is False
        device.exec("marker = 2")
        device.hard_reset()
        assert device.eval("'marker' in globals()") is False
        assert device.info()["kit"] == jazari.__version__


def test_missing_port_is_one_translated_line(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    result = run_jazari("info", missing)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Port {missing} does not exist. Plug the board in, or run 'jazari boards' to list ports."
    ]
    french = run_jazari("--lang", "fr", "info", missing)
    assert "n'existe pas" in french.stderr and "Traceback" not in french.stderr


def test_port_held_by_another_program(virtual_board):
    holder = serial.Serial(virtual_board.port, exclusive=True)
    try:
        with pytest.raises(JazariError, match="in use by another program"):
            jazari.connect(virtual_board.port)
        arabic = run_jazari("--lang", "ar", "info", virtual_board.port)
        assert arabic.returncode == 1 and len(arabic.stderr.strip().splitlines()) == 1
        assert "Traceback" not in arabic.stderr and virtual_board.port in arabic.stderr
    finally:
        holder.close()


def test_board_that_does_not_answer():
    # A serial line with nothing behind it: a pseudo-terminal nobody reads.
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        with pytest.raises(JazariError, match="does not answer"):
            jazari.connect(port, timeout=1)
    finally:
        os.close(slave)
        os.close(master)


def test_boards_lists_running_virtual_boards(virtual_boards):
    boards = virtual_boards(2)
    result = run_jazari("boards")
    assert result.returncode == 0, result.stderr
    for board in boards:
        assert board.port in result.stdout
    assert result.stdout.count(jazari.__version__) >= 2
