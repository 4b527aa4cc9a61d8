"""`jazari recover --reflash` stopped at any point loses no student file
(docs/recovery.md): the partition as read is kept on the computer before
anything is written, and only the blocks the rename changed are written.

Real esptool (inside jazari) against a virtual board in download mode; the
command is killed outright (SIGKILL: no handler runs) at each point."""

import os
import re
import subprocess
import sys
import time

import pytest
from record_helpers import ENV
from test_flash_build import esptool
from test_recover import BAD_MAINS

import jazari
from jazari.flash import layout
from jazari.flash.vfs import _filesystem, read_flash_files, read_vfs_files
from jazari.link.recover import ASIDE

STUDENT = {f"/data/rec{number}.csv": f"t,ax,ay\n{number},0.{number},-1\n".encode() for number in range(1, 31)}
ROOT_BLOCKS = 2 * layout.SECTOR_SIZE  # LittleFS's root metadata pair: blocks 0 and 1
SAVED = re.compile(r"saved to (\S+) first")


def cached_env(tmp_path):
    """The command's environment, its cache (where the copy is kept) in tmp_path."""
    return {**os.environ, **ENV, "JAZARI_CACHE": str(tmp_path / "cache")}


def vfs_of(board, size=layout.VFS.size):
    """The first `size` bytes of the board's vfs partition, from its flash file."""
    with open(board.flash, "rb") as flash:
        flash.seek(layout.VFS.offset)
        return flash.read(size)


def student_board(board):
    """Thirty recordings, an empty folder and a main.py that stops the board; left in download mode."""
    with jazari.connect(board.port) as device:
        device.exec("import os\nos.mkdir('/data')\nos.mkdir('/empty')")
        for path, data in STUDENT.items():
            device.put(data, path)
        device.put(BAD_MAINS["Ctrl-C disabled"].encode(), "/main.py")
    board.reset(download=True)


def folders(image):
    fs = _filesystem(bytearray(image))
    fs.mount()
    return sorted(folder for folder, _dirs, _files in fs.walk("/"))


def holds_the_students_files(files):
    """Whether `files` ({path: contents}) holds every recording, unchanged."""
    return all(files.get(path) == data for path, data in STUDENT.items())


# When the command is killed: once the copy is kept (before any write), or a
# time after the board's root blocks first change (the rename being written).
POINTS = ["copy kept", 0.0, 0.02, 0.05]  # the command ends about 0.2 s after the change


# Two kill points in CI (the copy, and mid-write); every point with --runslow.
@pytest.mark.parametrize(
    "point", [pytest.param(point, id=str(point), marks=() if point in ("copy kept", 0.02) else (pytest.mark.slow,)) for point in POINTS]
)
def test_reflash_killed_at_any_point_loses_no_student_file(virtual_board, tmp_path, point):
    # Before the fix: the whole partition was written with a LittleFS rebuilt on the
    # computer, and a kill 50 ms after the root blocks changed left only /boot.py.
    student_board(virtual_board)
    vfs_before = vfs_of(virtual_board)
    before = vfs_before[:ROOT_BLOCKS]
    kept = tmp_path / "cache" / "recover"
    reflash = subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", "recover", virtual_board.port, "--reflash"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cached_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and reflash.poll() is None:
            if point == "copy kept" and kept.is_dir() and any(kept.glob("*.bin")):
                break
            if point != "copy kept" and vfs_of(virtual_board, ROOT_BLOCKS) != before:
                time.sleep(point)
                break
            time.sleep(0.005)
        assert reflash.poll() is None, "the command ended before the point was reached"
        reflash.kill()
    finally:
        out, err = reflash.communicate(timeout=20)
    copy = SAVED.search(out).group(1)  # named before anything was written
    assert [str(path) for path in kept.glob("*.bin")] == [copy]
    assert open(copy, "rb").read() == vfs_before  # the partition as read, every file and folder

    on_board = read_flash_files(virtual_board.flash)  # the board's flash as the kill left it
    assert holds_the_students_files(on_board), sorted(on_board)

    # The documented way back: esptool writes the copy where it was read.
    virtual_board.reset(download=True)
    esptool("--port", virtual_board.device, "--before", "no-reset", "write-flash", hex(layout.VFS.offset), copy)
    restored = read_flash_files(virtual_board.flash)
    assert holds_the_students_files(restored) and restored["/main.py"] == BAD_MAINS["Ctrl-C disabled"].encode()


def test_reflash_writes_only_the_renamed_boot_program_and_keeps_empty_folders(virtual_board, tmp_path):
    student_board(virtual_board)
    vfs_before = vfs_of(virtual_board)
    done = subprocess.run(
        [sys.executable, "-m", "jazari.cli", "recover", virtual_board.port, "--reflash"],
        capture_output=True, text=True, timeout=120, env=cached_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert f"/main.py set aside as /main.py{ASIDE}" in done.stdout
    vfs_after = vfs_of(virtual_board)
    changed = [at for at in range(0, len(vfs_after), layout.SECTOR_SIZE)
               if vfs_after[at : at + layout.SECTOR_SIZE] != vfs_before[at : at + layout.SECTOR_SIZE]]
    assert 0 < len(changed) <= 2  # the rename's commit, in the root's metadata pair
    assert folders(vfs_after) == folders(vfs_before) and "/empty" in folders(vfs_after)
    files, old = read_vfs_files(vfs_after), read_vfs_files(vfs_before)
    assert files.pop(f"/main.py{ASIDE}") == old.pop("/main.py") == BAD_MAINS["Ctrl-C disabled"].encode()
    assert files == old  # every other file as it was
