"""A supervisor killed with SIGKILL cleans nothing up itself: its port link
then points at a pseudo-terminal the system may give to another program (the
next listing or start removes it), and the MicroPython process below it must
end by itself (bwrap's --die-with-parent, the launcher's helper seeing its
terminal hang up) rather than run on with nobody to reach it, even where the
tools were started with SIGHUP ignored (nohup, some CI runners)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from jazari.sim import registry, sandbox
from jazari.sim.board import VirtualBoard

LEFT_PATIENCE = 10  # seconds for a killed supervisor's processes to end


def test_a_killed_supervisors_link_is_removed_when_boards_are_listed(virtual_boards, tmp_path):
    (board,) = virtual_boards(1)
    link = registry.runtime_dir() / board.name
    assert os.readlink(link) == board.device
    os.kill(board._process.pid, signal.SIGKILL)
    board._process.wait()
    assert os.path.islink(link)  # nobody could remove it
    listed = subprocess.run([sys.executable, "-m", "jazari.cli", "boards"], capture_output=True, text=True, timeout=60)
    assert listed.stderr == "" and "No board found" in listed.stdout  # the killed board is not listed
    assert not os.path.lexists(link)


def test_a_new_board_replaces_a_stale_link_to_another_programs_terminal(virtual_boards, tmp_path):
    (first,) = virtual_boards(1)
    name = first.name
    os.kill(first._process.pid, signal.SIGKILL)
    first._process.wait()
    # Its pty number goes to another program; the old link would lead a tool there.
    master, slave = os.openpty()
    try:
        stale = registry.runtime_dir() / name
        os.unlink(stale)
        os.symlink(os.ttyname(slave), stale)
        assert registry.running_boards() == []
        assert not os.path.lexists(stale)
        (second,) = virtual_boards(1)
        assert second.name == name and os.readlink(stale) == second.device
    finally:
        os.close(master)
        os.close(slave)


def _board_processes(flash):
    """Running processes of the board with this flash file: bwrap names it in
    its arguments, the launcher in its environment (Linux /proc)."""
    mark = os.fsencode(flash)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue  # ended; nobody reaps it in some containers
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline, open(f"/proc/{entry}/environ", "rb") as environ:
                if mark in cmdline.read() or mark in environ.read():
                    found.append(int(entry))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _left_running(flash):
    deadline = time.monotonic() + LEFT_PATIENCE
    while _board_processes(flash) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _board_processes(flash)


@pytest.fixture(params=[False, True], ids=["", "nohup"])
def hangup_ignored(request):
    """With the param: SIGHUP ignored while boards start, as under nohup (they inherit it)."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN if request.param else signal.getsignal(signal.SIGHUP))
    yield request.param
    signal.signal(signal.SIGHUP, before)


@pytest.mark.parametrize("confined", [True, False], ids=["confined", "unconfined"])
def test_a_killed_supervisor_leaves_no_board_process(virtual_boards, confined, hangup_ignored):
    if confined and sandbox.bwrap() is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt install bubblewrap")
    (board,) = virtual_boards(1, confined=confined)
    assert _board_processes(board.flash)  # bwrap and the launcher, or the launcher
    os.kill(board._process.pid, signal.SIGKILL)
    board._process.wait()
    assert _left_running(board.flash) == []


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_a_supervisor_killed_while_its_board_boots_leaves_no_board_process(sim_runtime_dir, tmp_path, delay):
    board = VirtualBoard(workdir=tmp_path, confined=None)
    board.launch()
    try:
        time.sleep(delay)
        os.kill(board._process.pid, signal.SIGKILL)
        board._process.wait()
        assert _left_running(board.flash) == []
    finally:
        board.stop()


@pytest.mark.parametrize("pause", [0.0, 0.02, 0.1, 0.3])
def test_a_board_started_with_sighup_ignored_comes_back_after_resets_while_it_boots(virtual_boards, pause):
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)}
    try:
        (board,) = virtual_boards(1)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    for _reset in range(3):  # each kills its MicroPython process, which must end for the next boot to start
        board.reset()
        time.sleep(pause)
    answer = subprocess.run([sys.executable, "-m", "mpremote", "connect", board.device, "exec", "print(6 * 7)"],
                            capture_output=True, text=True, timeout=60)
    assert answer.stdout.strip() == "42", answer.stderr
