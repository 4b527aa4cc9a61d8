"""The virtual board as a tool sees it: the real mpremote command on its port."""

import ast
import hashlib
import os
import pty
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from jazari.paths import firmware_dir

MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(port, *args, timeout=60, check=True):
    done = subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr.decode()
    return done


def board_prints(port, code, *before):
    return mpremote(port, *before, "exec", code).stdout.decode().strip()


def kit_version_on_disk():
    tree = ast.parse((firmware_dir() / "kit" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__version__":
            return node.value.value
    raise AssertionError("kit/__init__.py has no __version__")


def test_exec_prints_the_kit_version(virtual_board):
    assert board_prints(virtual_board.port, "import kit; print(kit.__version__)") == kit_version_on_disk()


def test_fs_cp_50kb_there_and_back_is_identical(virtual_board, tmp_path):
    sent, received = tmp_path / "sent.bin", tmp_path / "received.bin"
    sent.write_bytes(os.urandom(50 * 1024))
    mpremote(virtual_board.port, "fs", "cp", str(sent), ":data.bin")
    mpremote(virtual_board.port, "fs", "cp", ":data.bin", str(received))
    assert received.read_bytes() == sent.read_bytes()


def _read_until(fd, marker, timeout=30):
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def test_mpremote_repl_evaluates_and_exits_on_ctrl_bracket(virtual_board):
    master, slave = pty.openpty()
    repl = subprocess.Popen([*MPREMOTE, "connect", virtual_board.port, "repl"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        assert b"Ctrl-]" in _read_until(master, b"Ctrl-]")
        os.write(master, b"\r")
        assert b">>> " in _read_until(master, b">>> ")
        os.write(master, b"6 * 7\r")
        assert b"42" in _read_until(master, b"42")
        os.write(master, b"\x1d")
        assert repl.wait(timeout=15) == 0
    finally:
        if repl.poll() is None:
            repl.kill()
            repl.wait()
        os.close(master)


def test_memory_error_leaves_the_board_answering(virtual_board):
    failed = mpremote(virtual_board.port, "exec", "big = bytearray(4 * 1024 * 1024)", check=False)
    assert failed.returncode != 0
    assert b"MemoryError" in failed.stdout + failed.stderr
    assert board_prints(virtual_board.port, "print(6 * 7)", "resume") == "42"


def test_exception_in_student_code_leaves_the_board_answering(virtual_board):
    failed = mpremote(virtual_board.port, "exec", "def lesson():\n    return 1 / 0\nlesson()", check=False)
    assert b"ZeroDivisionError" in failed.stdout + failed.stderr
    assert board_prints(virtual_board.port, "print(6 * 7)", "resume") == "42"


def test_infinite_loop_is_interrupted_by_the_host(virtual_board):
    mpremote(virtual_board.port, "exec", "--no-follow", "turns = 0\nwhile True:\n    turns += 1")
    # The next connection's Ctrl-C stops the loop: its variables are still there,
    # so it was interrupted (KeyboardInterrupt), not reset.
    assert board_prints(virtual_board.port, "print(turns > 0)", "resume") == "True"


def test_soft_reset_in_raw_repl_clears_the_state(virtual_board):
    port = virtual_board.port
    mpremote(port, "exec", "marker = 1")
    assert board_prints(port, "print('marker' in globals())", "resume") == "True"
    assert board_prints(port, "print('marker' in globals())", "soft-reset") == "False"
    assert [event.args[0] for event in virtual_board.events() if event.kind == "boot"][-1] == 5  # SOFT_RESET


def test_several_boards_at_once_have_distinct_unique_ids(virtual_boards):
    boards = virtual_boards(3)
    code = "import machine, binascii; print(binascii.hexlify(machine.unique_id()).decode())"
    with ThreadPoolExecutor(len(boards)) as pool:
        answers = list(pool.map(lambda board: board_prints(board.port, code), boards))
    assert answers == [board.uid for board in boards]
    assert len(set(answers)) == len(boards)


def test_a_tool_that_pauses_reading_still_gets_every_byte(virtual_board):
    lines = 4000  # about 300 KB: far more than the pipes and terminals between board and test hold
    code = "for i in range(%d):\n    print('%%06d' %% i, 'x' * 64)" % lines
    tool = subprocess.Popen([*MPREMOTE, "connect", virtual_board.port, "exec", code], stdout=subprocess.PIPE)
    time.sleep(1.5)  # not reading: mpremote blocks, so must the board
    out, _ = tool.communicate(timeout=120)
    assert tool.returncode == 0
    numbers = [int(line.split()[0]) for line in out.decode().splitlines()]
    assert numbers == list(range(lines))


def test_mpremote_mount_serves_binary_files_to_the_board(virtual_board, tmp_path):
    # mpremote's mount protocol sends raw bytes both ways over the serial line.
    data = bytes(range(256)) * 64
    (tmp_path / "all_bytes.bin").write_bytes(data)
    code = "import hashlib, binascii; print(binascii.hexlify(hashlib.sha256(open('all_bytes.bin', 'rb').read()).digest()).decode())"
    printed = mpremote(virtual_board.port, "mount", str(tmp_path), "exec", code).stdout.decode()
    assert printed.strip().splitlines()[-1] == hashlib.sha256(data).hexdigest()
