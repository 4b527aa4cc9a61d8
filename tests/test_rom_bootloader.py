"""The virtual board in download mode, flashed by the real esptool.

esptool runs as its users run it (`python -m esptool ...`, its stub flasher
by default, `--no-stub` for the ROM's own commands) or through its Python
API where a test must send a damaged block. `--before no-reset`: a
pseudo-terminal has no DTR/RTS to reset the board with (the board is
already in download mode, as with BOOT held).
"""

import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import serial
from esptool.cmds import detect_chip
from esptool.loader import ESPLoader
from esptool.util import FatalError
from hypothesis import given, settings
from hypothesis import strategies as st

import jazari
from jazari.flash import layout
from jazari.flash.commands import all_ports
from jazari.flash.vfs import build_vfs_image
from jazari.paths import firmware_dir
from jazari.sim.slip import SlipDecoder, checksum, slip_encode

TOOLS = Path(__file__).resolve().parents[1] / "tools"
ESPTOOL_TIMEOUT = 120


def run_esptool(port, *args):
    command = [sys.executable, "-m", "esptool", "--port", port, "--before", "no-reset", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=ESPTOOL_TIMEOUT)


def esptool(port, *args):
    result = run_esptool(port, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def mac_of(board):
    return ":".join(board.uid[i : i + 2] for i in range(0, 12, 2))


def flash_bytes(board, offset, length):
    with open(board.flash, "rb") as flash:
        flash.seek(offset)
        return flash.read(length)


@pytest.fixture
def download_board(virtual_boards):
    def start(profile="esp32"):
        return virtual_boards(1, profile=profile, download_mode=True)[0]

    return start


@pytest.mark.parametrize("profile, chip, other", [("esp32", "ESP32", "esp32s3"), ("esp32s3", "ESP32-S3", "esp32")])
def test_esptool_reads_chip_and_mac(download_board, profile, chip, other):
    board = download_board(profile)
    out = esptool(board.device, "read-mac")
    assert f"Detecting chip type... {chip}\n" in out
    assert f"Connected to {chip} on" in out
    assert f"MAC:                {mac_of(board)}" in out

    wrong = run_esptool(board.device, "--chip", other, "read-mac")
    assert wrong.returncode != 0 and f"This chip is {chip}, not" in wrong.stdout + wrong.stderr


def test_write_flash_then_micropython_boots_what_was_written(download_board, tmp_path):
    board = download_board("esp32")
    files = tmp_path / "files"
    shutil.copytree(firmware_dir(), files, ignore=shutil.ignore_patterns("sim", "__pycache__"))
    (files / "marker.txt").write_text("written by esptool")
    image = tmp_path / "vfs.bin"
    image.write_bytes(build_vfs_image(files))

    assert board.port in all_ports()  # `jazari flash --all` takes boards waiting in download mode
    out = esptool(board.device, "write-flash", hex(layout.VFS.offset), str(image))
    assert "Stub flasher running." in out and "Hash of data verified." in out
    assert flash_bytes(board, layout.VFS.offset, layout.VFS.size) == image.read_bytes()

    board.wait_boot()  # esptool let go: MicroPython boots from the flash it wrote
    assert board.port not in all_ports()  # ... and no longer this one, which runs MicroPython
    with jazari.connect(board.device) as device:
        assert device.eval("open('/marker.txt').read()") == "written by esptool"

    board.reset(download=True)  # EN with BOOT held: back in the ROM bootloader
    assert f"MAC:                {mac_of(board)}" in esptool(board.device, "read-mac")
    assert board.port in all_ports()


@pytest.mark.parametrize("baud", [57600, 115200])
def test_the_rom_speaks_at_the_rate_the_tool_connects_at(download_board, baud):
    # esptool works out the crystal from UART_CLKDIV and its own rate: they agree only
    # if the ROM took the tool's rate from its SYNC, as a chip's autobaud does.
    out = esptool(download_board("esp32").device, "--baud", str(baud), "--no-stub", "read-mac")
    assert "Crystal frequency:  40MHz" in out and "quite different" not in out


def test_a_paced_line_carries_every_byte_across_a_change_of_rate(virtual_boards, tmp_path):
    (board,) = virtual_boards(1, download_mode=True, baud=115200)
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 40)
    out = esptool(board.device, "--baud", "460800", "write-flash", "0x300000", str(data))  # stub, then CHANGE_BAUDRATE
    assert "Changed." in out and "Hash of data verified." in out
    assert flash_bytes(board, 0x300000, data.stat().st_size) == data.read_bytes()


def test_rom_writes_without_the_stub(download_board, tmp_path):
    board = download_board("esp32s3")
    app = tmp_path / "app.bin"
    subprocess.run([sys.executable, str(TOOLS / "make_test_firmware.py"), str(app), "--chip", "esp32s3"], check=True)
    out = esptool(board.device, "--no-stub", "write-flash", "0x10000", str(app))
    assert "Stub flasher" not in out and "Hash of data verified." in out
    assert flash_bytes(board, 0x10000, app.stat().st_size) == app.read_bytes()


def test_the_stub_writes_plain_blocks_and_keeps_only_what_was_announced(download_board, tmp_path):
    board = download_board("esp32")
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 80 + b"end")  # not a whole number of 16 KB blocks: esptool pads the last
    out = esptool(board.device, "write-flash", "--no-compress", "0x300000", str(data))
    assert "Hash of data verified." in out
    assert flash_bytes(board, 0x300000, data.stat().st_size + 16) == data.read_bytes() + b"\xff" * 16


@pytest.mark.parametrize(
    "profile, args, boots",
    [
        ("esp32s3", ["--after", "watchdog-reset", "flash-id"], True),
        ("esp32", ["--no-stub", "--after", "soft-reset", "flash-id"], True),  # FLASH_END "run user code"
        ("esp32", ["--after", "no-reset", "erase-region", "0x200000", "0x1000"], False),  # the stub's reboot: ROM again
    ],
)
def test_after_options(download_board, tmp_path, profile, args, boots):
    board = download_board(profile)
    assert flash_bytes(board, 0x200000, 0x1000) != b"\xff" * 0x1000  # the filesystem's first block
    esptool(board.device, *args)
    if boots:
        board.wait_boot()
    else:  # still in download mode: the stub reads back the erased sector
        esptool(board.device, "read-flash", "0x200000", "0x1000", str(tmp_path / "read.bin"))
        assert (tmp_path / "read.bin").read_bytes() == b"\xff" * 0x1000


def test_machine_bootloader_enters_download_mode(virtual_board):
    with serial.Serial(virtual_board.device, timeout=10) as line:
        line.write(b"import machine; machine.bootloader()\r")
        banner = line.read_until(b"waiting for download\r\n")
    assert banner.endswith(b"rst:0xc (SW_CPU_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n")
    assert f"MAC:                {mac_of(virtual_board)}" in esptool(virtual_board.device, "read-mac")
    assert virtual_board.port in all_ports()


def _damaged_block_refused(esp, offset, block):
    esp.flash_begin(len(block), offset)
    with pytest.raises(FatalError) as refused:
        esp.check_command(
            "write to target flash",
            esp.ESP_CMDS["FLASH_DATA"],
            struct.pack("<IIII", len(block), 0, 0, 0) + block,
            esp.checksum(block) ^ 0x5A,  # one wrong checksum byte
        )
    esp.flash_block(block, 0)  # the same block, sent again with its checksum, is taken
    return str(refused.value)


def test_a_block_with_a_wrong_checksum_is_refused(download_board):
    board = download_board("esp32")
    block = bytes(range(256)) * 4
    esp = detect_chip(board.device, connect_mode="no-reset")
    try:
        # As the ROM refuses it: status 1, reason 0x07.
        assert "(result was 0107: Checksum error)" in _damaged_block_refused(esp, 0x300000, block)
        stub = esp.run_stub()
        # As the stub refuses it: ESP_BAD_DATA_CHECKSUM (0xC1).
        assert "(result was C100: Bad data checksum)" in _damaged_block_refused(stub, 0x301000, block)
        stub.flash_finish(reboot=False)
    finally:
        esp._port.close()
    assert flash_bytes(board, 0x300000, len(block)) == block
    assert flash_bytes(board, 0x301000, len(block)) == block


@pytest.mark.parametrize("chip, chip_line", [("esp32", "Chip ID: 0 (ESP32)"), ("esp32s3", "Chip ID: 9 (ESP32-S3)")])
def test_test_firmware_passes_esptool_image_info(tmp_path, chip, chip_line):
    app = tmp_path / "app.bin"
    subprocess.run([sys.executable, str(TOOLS / "make_test_firmware.py"), str(app), "--chip", chip], check=True)

    def image_info():
        run = subprocess.run([sys.executable, "-m", "esptool", "image-info", str(app)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    out = image_info()
    assert chip_line in out and "Segments: 2" in out
    assert "Checksum:" in out and "(valid)" in out and "invalid" not in out
    assert "Project name: jazari-test-firmware" in out

    data = bytearray(app.read_bytes())
    data[-33] ^= 0xFF  # the checksum byte: neither it nor the SHA-256 matches any more
    app.write_bytes(data)
    assert image_info().count("invalid") == 2


def test_jazari_sim_download_mode_boards_each_have_their_own_mac(sim_runtime_dir):
    sim = subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", "sim", "--download-mode", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ports = [sim.stdout.readline().strip() for _ in range(2)]
        macs = set()
        for port in ports:
            out = esptool(port, "read-mac")
            macs.add(out.split("MAC:")[-1].split()[0])
        assert len(macs) == 2
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)


# -- the wire's framing, against esptool's own definitions

_ESCAPE_HEAVY = st.lists(st.sampled_from([0xC0, 0xDB, 0xDC, 0xDD, 0x00, 0x41]), min_size=1, max_size=40).map(bytes)


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.one_of(_ESCAPE_HEAVY, st.binary(min_size=1, max_size=64)), max_size=5), noise=st.binary(max_size=8), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_slip_frames_come_back_however_the_line_splits_them(frames, noise, cuts):
    wire = noise.replace(b"\xc0", b"") + b"".join(slip_encode(frame) for frame in frames)
    decoder, decoded, start = SlipDecoder(), [], 0
    for cut in sorted(set(cuts)) + [len(wire)]:
        decoded += decoder.feed(wire[start:cut])
        start = max(start, cut)
    assert decoded == frames  # typing before the first frame is dropped, as by the ROM


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000))
def test_block_checksum_is_the_roms(data):
    assert checksum(data) == ESPLoader.checksum(data)
