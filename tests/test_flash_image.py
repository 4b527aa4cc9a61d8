"""Flash images built on the host (jazari.flash) against the real MicroPython.

The partition table must read back as what was written, with ESP-IDF's MD5
guard; a LittleFS image made by littlefs-python must mount under the real
Unix port through firmware/sim/flashdev.py exactly as the ESP32 port mounts
its `vfs` partition, and what MicroPython writes must read back on the host.
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from jazari.errors import JazariError
from jazari.flash import layout, vfs
from jazari.paths import firmware_dir

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "firmware" / "sim"
_BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(_BIN)) or shutil.which("micropython")
needs_micropython = pytest.mark.skipif(MICROPYTHON is None, reason="the MicroPython Unix port is not installed")

# What the ESP32 port does in _boot.py/inisetup.py, over the stand-in block device.
MOUNT_LIKE_THE_PORT = """
import sys, vfs, os
sys.path.insert(0, {sim!r})
import flashdev
flashdev.open_flash({flash!r})
bdev = flashdev.FlashArea({offset}, {size})
vfs.mount(vfs.VfsLfs2(bdev), '/board')
"""


def run_micropython(code):
    done = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def mount_code(flash, part=layout.VFS):
    return MOUNT_LIKE_THE_PORT.format(sim=str(SIM), flash=str(flash), offset=part.offset, size=part.size)


def test_partition_table_round_trips_with_md5():
    for table in (layout.STANDARD_TABLE, layout.ROMFS_TABLE):
        binary = layout.build_partition_table(table)
        assert len(binary) == layout.PARTITION_TABLE_LENGTH
        assert layout.parse_partition_table(binary) == table
        entries = 32 * len(table)
        # ESP-IDF's layout, checked independently of our own parser.
        assert binary[entries : entries + 2] == b"\xeb\xeb"
        assert binary[entries + 16 : entries + 32] == hashlib.md5(binary[:entries]).digest()
        assert set(binary[entries + 32 :]) == {0xFF}
        magic, ptype, subtype, offset, size, name, flags = struct.unpack_from("<2sBBLL16sL", binary, 0)
        assert (magic, offset, name.rstrip(b"\0").decode()) == (b"\xaa\x50", table[0].offset, table[0].name)


def test_damaged_partition_table_is_refused():
    binary = bytearray(layout.build_partition_table())
    binary[40] ^= 0x01  # inside the second entry's offset
    with pytest.raises(JazariError):
        layout.parse_partition_table(binary)


def test_vfs_is_the_rest_of_the_flash_after_the_last_partition():
    for table in (layout.STANDARD_TABLE, layout.ROMFS_TABLE):
        part = layout.vfs_partition(table)
        assert part.offset == max(p.offset + p.size for p in table) == 0x200000
        assert part.end == layout.FLASH_SIZE and part.offset % layout.SECTOR_SIZE == 0
    assert layout.bootloader_offset("esp32") == 0x1000 and layout.bootloader_offset("esp32s3") == 0
    with pytest.raises(JazariError):
        layout.bootloader_offset("esp8266")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    files = {
        "boot.py": b"# boot\n",
        "main.py": b"print('hello')\n",
        "kit/__init__.py": b"__version__ = '0'\n",
        "models/blob.bin": os.urandom(3 * 4096 + 123),  # spans blocks, not inlined
        "lessons/l1/été.txt": "سلام été".encode(),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "sim").mkdir()
    (root / "sim" / "machine.py").write_text("# never on a board\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"\0")
    return root, {"/" + name: data for name, data in files.items()}


@needs_micropython
def test_host_image_mounts_under_micropython_byte_identical(tree, tmp_path):
    root, files = tree
    flash = vfs.new_flash_file(tmp_path / "flash.bin", root)
    out = run_micropython(mount_code(flash) + """
import hashlib, binascii
def walk(path):
    for entry in os.ilistdir(path):
        full = path + '/' + entry[0]
        if entry[1] == 0x4000:
            walk(full)
        else:
            with open(full, 'rb') as f:
                print(full[len('/board'):], binascii.hexlify(hashlib.sha256(f.read()).digest()).decode())
walk('/board')
""")
    seen = dict(line.rsplit(" ", 1) for line in out.splitlines())
    assert seen == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    # The mtime attribute is stored the way MicroPython reads it back.
    mtime = int(run_micropython(mount_code(flash) + "print(os.stat('/board/main.py')[8])"))
    assert mtime == int((root / "main.py").stat().st_mtime)


@needs_micropython
def test_micropython_writes_what_the_host_reads(tmp_path):
    flash = vfs.new_flash_file(tmp_path / "flash.bin", empty=True)
    payload = bytes(range(256)) * 40
    run_micropython(mount_code(flash).replace("vfs.mount(vfs.VfsLfs2(bdev), '/board')", """
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), '/board')
os.mkdir('/board/data')
with open('/board/data/rec.bin', 'wb') as f:
    f.write(bytes(range(256)) * 40)
with open('/board/main.py', 'w') as f:
    f.write('print(1)')
vfs.umount('/board')
"""))
    assert vfs.read_flash_files(flash) == {"/data/rec.bin": payload, "/main.py": b"print(1)"}


def test_default_image_holds_the_firmware_folder_but_not_sim(tmp_path):
    flash = vfs.new_flash_file(tmp_path / "flash.bin")
    files = vfs.read_flash_files(flash)
    expected = {path: source.read_bytes() for path, source in vfs.board_files(firmware_dir())}
    assert files == expected and "/boot.py" in files
    assert not [name for name in files if name.startswith("/sim/") or "__pycache__" in name]
    on_disk = {"/" + p.relative_to(firmware_dir()).as_posix() for p in firmware_dir().rglob("*.py")
               if "sim" not in p.relative_to(firmware_dir()).parts and "__pycache__" not in p.parts}
    assert on_disk <= set(files)


def test_blank_and_damaged_images_are_reported(tmp_path, tree):
    blank = vfs.new_flash_file(tmp_path / "blank.bin", empty=True)
    with pytest.raises(JazariError):
        vfs.read_flash_files(blank)
    root, _files = tree
    with pytest.raises(JazariError):
        vfs.build_vfs_image(root, size=8 * layout.SECTOR_SIZE)  # the 12 KB blob cannot fit
    with pytest.raises(JazariError):
        vfs.new_flash_file(tmp_path / "x.bin", root, chip="esp8266")
    assert not (tmp_path / "x.bin").exists()


def test_flash_file_layout(tmp_path, tree):
    root, _files = tree
    flash = vfs.new_flash_file(tmp_path / "flash.bin", root, chip="esp32s3").read_bytes()
    assert len(flash) == layout.FLASH_SIZE
    assert layout.read_partition_table(flash) == layout.STANDARD_TABLE
    assert set(flash[: layout.PARTITION_TABLE_OFFSET]) == {0xFF}  # no bootloader: the sim runs MicroPython itself
    assert b"littlefs" in flash[layout.VFS.offset : layout.VFS.offset + layout.SECTOR_SIZE]
