"""A supervisor killed with SIGKILL cannot remove its port link, which then
points at a pseudo-terminal the system may give to another program: the
next listing or start removes it."""

import os
import signal
import subprocess
import sys

from jazari.sim import registry


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
