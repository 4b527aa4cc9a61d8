"""Only whole images reach a board, and a board flashed halfway is never called fine.

Real esptool writes virtual boards in download mode. Bad firmware files are
made from tools/make_test_firmware.py's valid image and checked against
esptool's own `image-info` first, so the test knows they are bad by another
reader than the one under test. Ctrl-C is a real SIGINT to the main thread,
sent at each point of the write (sealing.py's mark, body and seal, and the
check after them).
"""

import hashlib
import signal
import struct
import threading
import time

import pytest

from jazari.cli import main
from jazari.flash import layout, sealing, vfs
from jazari.flash.classroom import Classroom
from jazari.flash.flasher import Watch, flash_boards
from jazari.flash.vfs import read_flash_files
from test_flash_build import esptool, make_combined
from test_flash_classroom import cache, download_boards, mac_of, flash_digest, french, shared_cache, test_firmware, translated  # noqa: F401

HEADER = struct.Struct("<BBBBI")
SEGMENT = struct.Struct("<II")
FIRST_SEGMENT_AT = 24  # after the header and the extended header
ADVICE = "Nothing was written: download the firmware again, or rebuild it."


def bad_images(good):
    """{problem: bytes} made from a valid app image, each bad in one way."""
    checksum_at = len(good) - 32 - 1  # the checksum byte ends the image, before its SHA-256
    bad_checksum = bytearray(good)
    bad_checksum[checksum_at] ^= 0x5A
    bad_hash = bytearray(good)
    bad_hash[-1] ^= 0xFF
    two_hundred = bytearray(good)
    two_hundred[1] = 200
    lying_length = bytearray(good)  # the first segment says it is 64 KB long: it runs past the end
    address, _length = SEGMENT.unpack_from(good, FIRST_SEGMENT_AT)
    SEGMENT.pack_into(lying_length, FIRST_SEGMENT_AT, address, 0x10000)
    return {
        "truncated": good[: len(good) // 2],
        "checksum": bytes(bad_checksum),
        "sha256": bytes(bad_hash),
        "200 segments": bytes(two_hundred),
        "segment past the end": bytes(lying_length),
    }


def problem_line(problem, path, size):
    """The French line for each bad image: it names the file and what is wrong."""
    part = translated("app")
    if problem in ("truncated", "segment past the end"):
        text = translated("{path} is cut short or damaged: its {part} runs past the end of the file ({size} bytes).",
                          path=path, part=part, size=size)
    elif problem == "checksum":
        return None  # the line holds the two checksums: made by the test
    elif problem == "sha256":
        text = translated("{path} is damaged: the SHA-256 at the end of its {part} does not match its contents.",
                          path=path, part=part)
    else:
        text = translated("{path} is not a valid firmware image: the header of its {part} claims {count} segments "
                          "(1 to 16 are possible).", path=path, part=part, count=200)
    return text + " " + translated(ADVICE)


def test_bad_images_are_refused_before_anything_is_written(virtual_boards, test_firmware, tmp_path, french, capsys):
    (board,) = download_boards(virtual_boards, 1)
    untouched = flash_digest(board)
    good = test_firmware("esp32").read_bytes()
    for problem, data in bad_images(good).items():
        path = tmp_path / f"{problem.replace(' ', '-')}.bin"
        path.write_bytes(data)
        if problem in ("checksum", "sha256"):  # esptool's own reader calls them invalid too
            assert "invalid" in esptool("image-info", str(path)).lower(), problem

        code = main(["--lang", "fr", "flash", board.port, "--firmware", str(path)])
        out, err = capsys.readouterr()
        assert code == 1 and not out, problem  # stopped before any board was asked: no table
        expected = problem_line(problem, path, len(data))
        if expected is None:
            stored, computed = good[len(good) - 33] ^ 0x5A, good[len(good) - 33]
            expected = translated(
                "{path} is damaged: the checksum of its {part} is {stored:#04x}, its contents give {computed:#04x}.",
                path=path, part=translated("app"), stored=stored, computed=computed,
            ) + " " + translated(ADVICE)
        assert err.strip() == expected, problem
        assert flash_digest(board) == untouched, problem  # refused before the board was touched

    # The same board takes the good image: it was only the files.
    assert main(["flash", board.port, "--firmware", str(test_firmware("esp32"))]) == 0


def cut_releases(combined):
    """{problem: bytes} made from a combined release, each no longer whole."""
    table_at = layout.PARTITION_TABLE_OFFSET - layout.bootloader_offset("esp32")
    no_magic = bytearray(combined)
    no_magic[table_at] = 0
    return {"cut at 0x4000": combined[:0x4000], "cut at 0x7000": combined[:0x7000], "table magic zeroed": bytes(no_magic)}


def without_app_description(good):
    """A whole app image (checksum and SHA-256 made to hold) whose app description magic is gone."""
    data = bytearray(good[:-32])
    data[FIRST_SEGMENT_AT + SEGMENT.size] ^= 0xFF
    data[-1] ^= 0xFF  # the checksum: 0xEF xor every byte of segment data
    return bytes(data) + hashlib.sha256(data).digest()


def test_a_cut_combined_release_or_an_image_without_app_description_is_refused(virtual_boards, tmp_path, french, capsys):
    # Before: a combined release without its table was taken for a bare app, and its
    # bootloader written at the app's place, "ok". Fails without the fix in firmware.py.
    (board,) = download_boards(virtual_boards, 1)
    untouched = flash_digest(board)
    combined = make_combined(tmp_path, "esp32", layout.STANDARD_TABLE).read_bytes()
    for problem, data in cut_releases(combined).items():
        path = tmp_path / f"{problem.replace(' ', '-')}.bin"
        path.write_bytes(data)
        assert main(["--lang", "fr", "flash", board.port, "--firmware", str(path)]) == 1, problem
        out, err = capsys.readouterr()
        assert err.strip() == translated(
            "{path} starts with a bootloader but has no partition table at 0x{table:x}: the release is cut short "
            "or damaged. Nothing was written: download the firmware again.", path=path, table=layout.PARTITION_TABLE_OFFSET
        ), problem
        assert flash_digest(board) == untouched, problem
    path = tmp_path / "no-description.bin"
    path.write_bytes(without_app_description((tmp_path / "app.bin").read_bytes()))
    assert "invalid" not in esptool("image-info", str(path)).lower()  # whole, for esptool
    assert main(["--lang", "fr", "flash", board.port, "--firmware", str(path)]) == 1
    _out, err = capsys.readouterr()
    assert err.strip() == translated(
        "{path} is not a MicroPython app: its {part} has no app description (magic 0xABCD5432) where ESP-IDF puts one.",
        path=path, part=translated("app")) + " " + translated(ADVICE)
    assert flash_digest(board) == untouched
    path.write_bytes(combined)  # the whole release is taken
    assert main(["flash", board.port, "--firmware", str(path)]) == 0


class CtrlC(Watch):
    """Presses Ctrl-C once (a SIGINT to the main thread) when the flash reaches `point`, then holds
    the board's thread a moment, so the interruption lands exactly there."""

    def __init__(self, point):
        self.point, self.pressed, self.seen = point, False, set()

    def writing(self, port, step):
        self.seen.add(step)
        if step == self.point:
            self._press(hold=True)

    def progress(self, port, fraction):
        # Mid-body: somewhere in the middle of the body's chunks, while esptool is writing.
        if self.point == "mid-body" and "body" in self.seen and "seal" not in self.seen and 0.3 < fraction < 0.7:
            self._press(hold=False)

    def _press(self, hold):
        if self.pressed:
            return
        self.pressed = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        if hold:
            time.sleep(1.0)  # the main thread closes this board's port meanwhile


@pytest.mark.parametrize(
    "point, half_flashed",
    [("mark", False), ("body", True), ("mid-body", True), ("seal", True), ("verify", False)],
)
def test_ctrl_c_at_each_point_never_leaves_a_board_called_fine_when_it_is_not(
    virtual_boards, test_firmware, french, capsys, point, half_flashed
):
    (board,) = download_boards(virtual_boards, 1)
    watch = CtrlC(point)
    (result,) = flash_boards([board.port], Classroom(firmware=test_firmware("esp32")).plan, watch=watch)
    assert watch.pressed
    assert result.interrupted and not result.ok
    assert result.message == translated("interrupted: flash it again")

    if point == "mark":
        board.reset()  # nothing was written: the board still waits in download mode
    boots = board.wait_boot()
    code = main(["--lang", "fr", "info", board.device])
    out, err = capsys.readouterr()
    half = translated(
        "The board on {port} is half-flashed: its last flash was stopped before the end. Flash it again "
        "(jazari flash {port}).", port=board.device,
    )
    if half_flashed:
        assert code == 1 and half in err
        assert read_flash_files(board.flash) == {"/kit.json": b'{"flashing": true}'}
    else:
        assert code == 0 and half not in err, err
        if point == "verify":  # all was written before Ctrl-C: the board is whole, only unchecked
            assert result.name in out

    # Flashed again, the board is whole.
    board.reset(download=True)
    (again,) = flash_boards([board.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert again.ok, again.message
    board.wait_boot(after=boots)
    # Its first boot after esptool's reset may still be under way on a busy machine.
    deadline = time.monotonic() + 30
    while main(["info", board.device]) != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert again.name in capsys.readouterr().out


def test_ctrl_c_in_jazari_flash_prints_the_table_with_interrupted_boards(virtual_boards, test_firmware, french, capsys):
    """The command itself, stopped by a SIGINT once the board's old filesystem is marked: at 115200
    baud the body takes seconds, so the signal lands mid-write."""
    boards = download_boards(virtual_boards, 2, baud=115200)
    main_thread = threading.main_thread().ident

    def root_blocks():
        with open(boards[0].flash, "rb") as flash:
            flash.seek(layout.VFS.offset)
            return flash.read(sealing.ROOT_BLOCKS)

    before = root_blocks()

    def press_when_marked():  # the mark is the first write, and the only one there before the seal
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if root_blocks() != before:
                signal.pthread_kill(main_thread, signal.SIGINT)
                return
            time.sleep(0.01)

    presser = threading.Thread(target=press_when_marked, daemon=True)
    presser.start()
    code = main(["--lang", "fr", "flash", *(board.port for board in boards), "--firmware", str(test_firmware("esp32"))])
    presser.join()
    out, err = capsys.readouterr()
    assert code == 130
    table = " ".join(out.split())
    for board in boards:
        assert mac_of(board) in out  # a row per board
    assert table.count(translated("interrupted: flash it again").split()[0]) == 2
    assert translated("Stopped: {stopped} of {count} boards were not finished: flash them again.",
                      stopped=2, count=2) in err

    boards[0].wait_boot()
    assert main(["info", boards[0].device]) == 1
    assert "half-flashed" in capsys.readouterr().err


class CorruptBeforeCheck(Watch):
    """A flash that does not keep what was written: a byte of the partition table changes after the
    last write, before the check (`times` times). The first region checked: the virtual ROM reads its
    flash file through a buffer, which then holds the last region esptool checked, never this one."""

    def __init__(self, board, times):
        self.board, self.times = board, times

    def writing(self, port, step):
        if step == "verify" and self.times:
            self.times -= 1
            with open(self.board.flash, "r+b") as flash:
                flash.seek(layout.PARTITION_TABLE_OFFSET + 10)
                byte = flash.read(1)
                flash.seek(-1, 1)
                flash.write(bytes([byte[0] ^ 0xFF]))


def test_every_written_region_is_checked_on_the_board_after_the_last_write(virtual_boards, test_firmware, french):
    (board,) = download_boards(virtual_boards, 1)
    plan = Classroom(firmware=test_firmware("esp32")).plan

    (once,) = flash_boards([board.port], plan, watch=CorruptBeforeCheck(board, times=1))
    assert once.ok and once.retried  # found, and written again at the lower rate

    board.reset(download=True)
    (always,) = flash_boards([board.port], plan, watch=CorruptBeforeCheck(board, times=2))
    assert not always.ok
    assert always.message == translated(
        "The flash of the board on {port} does not hold what was written at {offset:#x} (checked after the last "
        "write): flash it again with a lower --baud.", port=board.port, offset=layout.PARTITION_TABLE_OFFSET,
    )


def test_each_root_block_of_the_seal_and_the_mark_mounts_alone(test_firmware):
    """A write stopped between the two root blocks leaves one of them: either must mount the full root."""
    from jazari.flash.classroom import Classroom as Plan
    from jazari.flash.flasher import Found

    (job,) = Plan(firmware=test_firmware("esp32")).plan([Found("/dev/ttyUSB0", "ESP32", "24:0a:c4:00:00:01", 4 << 20)]).values()
    mark, body, seal = job.image.writes
    (vfs_offset, seal_blocks), = seal
    whole = bytearray([layout.ERASED]) * layout.VFS.size
    for offset, data in body + seal:
        if offset >= vfs_offset:
            whole[offset - vfs_offset : offset - vfs_offset + len(data)] = data
    files = vfs.read_vfs_files(bytes(whole))
    assert "/kit.json" in files and "/kit/__init__.mpy" in files
    (mark_offset, mark_blocks), = mark
    assert mark_offset == vfs_offset
    for block in (0, 1):
        alone = bytearray(whole)
        alone[(1 - block) * vfs.BLOCK_SIZE : (2 - block) * vfs.BLOCK_SIZE] = bytes([layout.ERASED]) * vfs.BLOCK_SIZE
        assert vfs.read_vfs_files(bytes(alone)) == files, block
        marked = bytearray(whole)
        marked[: sealing.ROOT_BLOCKS] = mark_blocks
        marked[(1 - block) * vfs.BLOCK_SIZE : (2 - block) * vfs.BLOCK_SIZE] = bytes([layout.ERASED]) * vfs.BLOCK_SIZE
        assert vfs.read_vfs_files(bytes(marked)) == {"/kit.json": b'{"flashing": true}'}, block


def test_a_kit_that_is_not_the_one_flashed_is_called_half_flashed(virtual_boards, test_firmware, french, capsys):
    """/kit.json holds the SHA-256 of the kit it was written with: a kit file changed since is caught."""
    import jazari

    (board,) = download_boards(virtual_boards, 1)
    (result,) = flash_boards([board.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert result.ok, result.message
    board.wait_boot()
    assert main(["--lang", "fr", "info", board.device]) == 0
    capsys.readouterr()
    with jazari.connect(board.device) as device:
        device.put(b"# not the kit that was flashed\n", "/kit/sampler.mpy")
    assert main(["--lang", "fr", "info", board.device]) == 1
    assert capsys.readouterr().err.strip() == translated(
        "The board on {port} is half-flashed: its kit's files are not the ones flashed. Flash it again "
        "(jazari flash {port}).", port=board.device,
    )


@pytest.mark.slow  # a flash at 115200 baud: Ctrl-C at each point shows the same in CI
def test_a_flash_killed_mid_write_leaves_a_board_jazari_info_calls_half_flashed(virtual_boards, test_firmware, french, capsys):
    """`jazari flash` killed outright (kill -9: no handler, no table) once the mark is written: the board
    boots from what it has, and jazari info says it is half-flashed."""
    import subprocess
    import sys

    (board,) = download_boards(virtual_boards, 1, baud=115200)
    with open(board.flash, "rb") as flash:
        flash.seek(layout.VFS.offset)
        before = flash.read(sealing.ROOT_BLOCKS)
    flashing = subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", "flash", board.port, "--firmware", str(test_firmware("esp32"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and flashing.poll() is None:
            with open(board.flash, "rb") as flash:
                flash.seek(layout.VFS.offset)
                if flash.read(sealing.ROOT_BLOCKS) != before:
                    break
            time.sleep(0.01)
        assert flashing.poll() is None, "the flash ended before the mark was seen"
        flashing.kill()
    finally:
        flashing.wait()
    board.wait_boot()
    assert main(["--lang", "fr", "info", board.device]) == 1
    assert capsys.readouterr().err.strip() == translated(
        "The board on {port} is half-flashed: its last flash was stopped before the end. Flash it again "
        "(jazari flash {port}).", port=board.device,
    )
