"""`jazari flash` on a classroom of virtual boards in download mode, with the real esptool.

The image is the one `jazari flash` builds (build_image, with the kit
compiled for this computer so the virtual board runs it) around the stand-in
firmware of tools/make_test_firmware.py. Failures are checked in French: each
must be one translated line naming the board's port.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import serial

import jazari
from jazari import i18n
from jazari.cli import main
from jazari.flash import layout
from jazari.flash.classroom import Classroom
from jazari.flash.commands import all_ports
from jazari.flash.flasher import Found, Job, Watch, flash_boards
from jazari.flash.roster import Roster
from jazari.flash.vfs import new_flash_file, read_flash_files, read_vfs_files

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def cache(shared_cache, monkeypatch):
    """One cache for the module: the kit is compiled for the virtual board once; nothing is downloaded."""
    monkeypatch.setenv("JAZARI_CACHE", str(shared_cache))


@pytest.fixture
def french():
    i18n.set_language("fr")
    yield
    i18n.set_language(None)


@pytest.fixture(scope="module")
def test_firmware(tmp_path_factory):
    folder = tmp_path_factory.mktemp("firmware")

    def make(chip):
        out = folder / f"{chip}.bin"
        if not out.exists():
            subprocess.run([sys.executable, str(TOOLS / "make_test_firmware.py"), str(out), "--chip", chip], check=True)
        return out

    return make


def download_boards(virtual_boards, count, profile="esp32", **options):
    return virtual_boards(count, profile=profile, download_mode=True, **options)


def mac_of(board):
    return ":".join(board.uid[i : i + 2] for i in range(0, 12, 2))


def flash_digest(board):
    return hashlib.sha256(Path(board.flash).read_bytes()).hexdigest()


def translated(msgid, **values):
    """The French catalog's text for `msgid`, filled in: the line a French teacher reads."""
    french = i18n.catalog("fr")
    assert msgid in french, msgid
    return french[msgid].format(**values)


def by_port(results):
    return {result.port: result for result in results}


def test_flash_with_a_roster_then_the_board_answers_with_its_name(virtual_boards, test_firmware, tmp_path, capsys):
    first, second = download_boards(virtual_boards, 2)
    roster = tmp_path / "classe.csv"
    # The second board was flashed for Yanis last week; Amina's row has no board yet.
    roster.write_text(f"nom;équipe;mac\nAmina Benali;Faucons;\nYanis;Aigles;{mac_of(second).upper()}\n", encoding="utf-8")

    lesson = tmp_path / "03-gestes"
    lesson.mkdir()
    (lesson / "lecon.txt").write_text("Agitez la carte.", encoding="utf-8")

    ports = [first.port, second.port]
    code = main(["flash", *ports, "--firmware", str(test_firmware("esp32")), "--roster", str(roster), "--lessons", str(lesson)])
    out = capsys.readouterr().out
    assert code == 0, out
    for port in ports:
        assert port in out
    digest = hashlib.sha256(test_firmware("esp32").read_bytes()).hexdigest()
    assert out.count("local file esp32.bin") == 2 and digest[:12] in out  # a file given, not a release

    expected = {first: ("jazari-01", "Amina Benali", "Faucons"), second: ("jazari-02", "Yanis", "Aigles")}
    for board, (name, owner, team) in expected.items():
        board.wait_boot()  # esptool let go: MicroPython boots from what it wrote
        with jazari.connect(board.device) as device:
            info = device.info()
            lesson_text = device.eval("open('/lessons/03-gestes/lecon.txt').read()")
        assert lesson_text == "Agitez la carte."
        assert info["kit"] == jazari.__version__
        assert (info["name"], info["owner"], info["team"]) == (name, owner, team)
        assert info["unique_id"] == board.uid

    seats = {seat.owner: seat for seat in Roster(roster).seats}
    assert seats["Amina Benali"].mac == mac_of(first) and seats["Amina Benali"].board == "jazari-01"
    assert roster.read_text(encoding="utf-8").splitlines()[0].count(";") == 3  # the teacher's delimiter kept

    assert main(["info", second.device]) == 0
    assert "Yanis" in capsys.readouterr().out

    # Next class: the boards come back on other ports, in another order; each keeps its student.
    for board in (first, second):
        board.reset(download=True)
    main(["flash", second.port, first.port, "--firmware", str(test_firmware("esp32")), "--roster", str(roster)])
    first.wait_boot(after=1)
    with jazari.connect(first.device) as device:
        assert device.info()["owner"] == "Amina Benali"


def test_the_boards_of_a_plan_differ_only_in_their_kit_json(test_firmware, tmp_path):
    """Classroom.plan builds what boards share once; each board's image adds only its own /kit.json."""
    roster = tmp_path / "classe.csv"
    roster.write_text("nom;équipe;mac\nAmina Benali;Faucons;\nYanis;Aigles;\n", encoding="utf-8")
    found = [Found(f"/dev/ttyUSB{n}", "ESP32", f"24:0a:c4:00:00:0{n}", 4 << 20) for n in range(2)]
    jobs = Classroom(firmware=test_firmware("esp32"), roster=roster).plan(found)
    images = [jobs[board.port].image for board in found]
    assert [offset for offset, _ in images[0].chunks] == [offset for offset, _ in images[1].chunks]
    flashes = [whole_flash(image) for image in images]
    assert flashes[0][: layout.VFS.offset] == flashes[1][: layout.VFS.offset]  # firmware and table
    files = [read_vfs_files(flash[layout.VFS.offset : layout.VFS.end]) for flash in flashes]
    assert [json.loads(board_files.pop("/kit.json"))["owner"] for board_files in files] == ["Amina Benali", "Yanis"]
    assert files[0] == files[1] and "/kit/__init__.mpy" in files[0]


def whole_flash(image):
    """The flash as a board holds it once `image` is written on an erased chip."""
    flash = bytearray([layout.ERASED]) * image.flash_size
    for offset, data in image.chunks:
        flash[offset : offset + len(data)] = data
    return bytes(flash)


def test_identify_blinks_the_led_and_names_the_board(virtual_boards, test_firmware, capsys):
    (board,) = download_boards(virtual_boards, 1)
    assert board.port in all_ports()  # what --all flashes: boards waiting in download mode
    results = flash_boards([board.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert results[0].ok, results[0].message
    board.wait_boot()
    led = 2  # the virtual ESP32's LED, as on a DevKitC (docs/boards.md)
    before = [event for event in board.events() if event.kind == "pin" and event.args[0] == led]

    assert main(["identify", board.device]) == 0
    lit = [event.args[1] for event in board.events() if event.kind == "pin" and event.args[0] == led][len(before):]
    assert lit.count(1) >= 3 and lit[-1] == 0  # several blinks, and dark afterwards
    assert results[0].name in capsys.readouterr().out


def test_a_board_unplugged_mid_flash_is_reported_and_the_others_finish(virtual_boards, test_firmware, french):
    boards = download_boards(virtual_boards, 3)
    victim = boards[1]

    class Unplug(Watch):
        def progress(self, port, fraction):
            if port == victim.port and 0 < fraction < 1 and victim.device:
                victim.unplug()  # the cable pulled out, mid-write

    ports = [board.port for board in boards]
    results = by_port(flash_boards(ports, Classroom(firmware=test_firmware("esp32")).plan, watch=Unplug()))

    lost = results[victim.port]
    assert not lost.ok and lost.mac == mac_of(victim) and lost.retried
    assert lost.message == translated(
        "Lost the board on {port} while writing (unplugged or reset?): plug it in again, put it in download mode and flash it again.",
        port=victim.port,
    )
    for board in (boards[0], boards[2]):
        assert results[board.port].ok, results[board.port].message
        board.wait_boot()
        assert read_flash_files(board.flash)["/kit.json"]

    # What the line says works: plugged in again, put in download mode, flashed again.
    victim.replug()
    victim.reset(download=True)
    (again,) = flash_boards([victim.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert again.ok, again.message


def test_a_port_held_by_another_program_is_reported(virtual_boards, test_firmware, french):
    held, free = download_boards(virtual_boards, 2)
    with serial.Serial(held.device, exclusive=True):  # Thonny, a serial monitor...
        results = by_port(flash_boards([held.port, free.port], Classroom(firmware=test_firmware("esp32")).plan))
    assert results[held.port].message == translated(
        "Port {port} is in use by another program (Thonny, a serial monitor, another jazari). Close it and try again.",
        port=held.port,
    )
    assert results[free.port].ok, results[free.port].message


def test_a_virtual_board_not_in_download_mode_is_told_how_to_start_one_not_a_button(virtual_boards, test_firmware, french):
    # Before: the real board's buttons (BOOT, EN), which a virtual board lacks.
    (running,) = virtual_boards(1)  # at its REPL, not waiting for esptool
    (result,) = flash_boards([running.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert result.message == translated(
        "The virtual board on {port} is not in download mode: start it with 'jazari sim --download-mode', then flash again.",
        port=running.port,
    )
    assert "BOOT" not in result.message


def test_wrong_chip_images_are_refused_before_writing(virtual_boards, test_firmware, french):
    (s3,) = download_boards(virtual_boards, 1, profile="esp32s3")
    untouched = flash_digest(s3)

    # --firmware FILE for the other chip: refused when the firmware is chosen for the board.
    results = flash_boards([s3.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert not results[0].ok and results[0].chip == "ESP32-S3"
    assert results[0].message == translated(
        "This firmware is for {firmware_chip}, the board is an {board_chip}: pick the {board_chip} "
        "firmware ({board} on micropython.org/download).",
        firmware_chip="ESP32", board_chip="ESP32-S3", board="ESP32_GENERIC_S3",
    )

    # An image built for an ESP32, handed to it anyway: the flasher's own check refuses it.
    esp32_board = Found(s3.port, "ESP32", mac_of(s3), layout.FLASH_SIZE)
    esp32_image = Classroom(firmware=test_firmware("esp32"))._image(esp32_board, {"name": "jazari-01"})
    results = flash_boards([s3.port], lambda found: {seen.port: Job(esp32_image) for seen in found})
    assert results[0].message == translated(
        "The image is for {image_chip} but the board on {port} is an {board_chip}: nothing was written; flash it with {board_chip} firmware.",
        image_chip="ESP32", port=s3.port, board_chip="ESP32-S3",
    )
    assert flash_digest(s3) == untouched


def test_a_flash_too_small_for_the_image_is_refused(virtual_boards, test_firmware, tmp_path, french):
    small = tmp_path / "small-flash.bin"
    new_flash_file(small, empty=True)
    with open(small, "r+b") as flash:
        flash.truncate(2 * 1024 * 1024)  # a 2 MB chip: room for the firmware, none for the files
    (board,) = download_boards(virtual_boards, 1, flash=small)
    untouched = flash_digest(board)

    results = flash_boards([board.port], Classroom(firmware=test_firmware("esp32")).plan)
    assert not results[0].ok
    assert results[0].message == translated(
        "The board's {have} KB of flash leave no room for its filesystem: use a board with more flash.", have=2048
    )

    # An image made for a 4 MB board, handed to it anyway: the flasher's own check refuses it.
    four_mb = Classroom(firmware=test_firmware("esp32"))._image(
        Found(board.port, "ESP32", mac_of(board), layout.FLASH_SIZE), {"name": "jazari-01"}
    )
    end = max(offset + len(data) for offset, data in four_mb.chunks)
    results = flash_boards([board.port], lambda found: {seen.port: Job(four_mb) for seen in found})
    assert results[0].message == translated(
        "The image needs {needed} KB of flash but the board on {port} has {size} KB: nothing was written; use a board with more flash.",
        needed=end // 1024, port=board.port, size=2048,
    )
    assert flash_digest(board) == untouched
