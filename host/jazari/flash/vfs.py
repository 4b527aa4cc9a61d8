"""LittleFS2 images of a board's `vfs` partition, built and read on the computer.

The geometry is the one MicroPython's ESP32 port mounts (see docs/boards.md):
`vfs.VfsLfs2(esp32.Partition(...))` with the defaults of extmod/vfs_lfs.c, so an
image made here boots on a real board and on the virtual board, and a
filesystem a board wrote reads back here.
"""

import os
import time
from pathlib import Path

from littlefs import LittleFS, LittleFSError, UserContext

from jazari.errors import JazariError
from jazari.flash import layout
from jazari.flash.compiled import compiled_firmware
from jazari.i18n import _
from jazari.paths import firmware_dir

# extmod/vfs_lfs.c defaults: readsize=32, progsize=32, lookahead=32 (bytes);
# extmod/vfs_lfsx.c: block_cycles=100, cache_size=min(block, 4*max(read, prog)).
BLOCK_SIZE = layout.SECTOR_SIZE
READ_SIZE = 32
PROG_SIZE = 32
LOOKAHEAD_SIZE = 32
BLOCK_CYCLES = 100
CACHE_SIZE = min(BLOCK_SIZE, 4 * max(READ_SIZE, PROG_SIZE))
# lib/littlefs v2.8+ (MicroPython 1.22 and later) writes on-disk version 2.1;
# firmware older than 1.22 needs 0x00020000.
DISK_VERSION = 0x00020001

# MicroPython stores a file's mtime as attribute 1: 8 bytes, little endian,
# nanoseconds since 1970 (LFS_ATTR_MTIME in extmod/vfs_lfs.c).
MTIME_ATTR = 1

# Folders of firmware/ that never go on a board's filesystem.
NOT_ON_BOARD = frozenset({"sim", "__pycache__"})


def _filesystem(buffer, disk_version=DISK_VERSION):
    return LittleFS(
        context=UserContext(buffer=buffer),
        mount=False,
        block_size=BLOCK_SIZE,
        block_count=len(buffer) // BLOCK_SIZE,
        read_size=READ_SIZE,
        prog_size=PROG_SIZE,
        lookahead_size=LOOKAHEAD_SIZE,
        block_cycles=BLOCK_CYCLES,
        cache_size=CACHE_SIZE,
        disk_version=disk_version,
    )


def board_files(root):
    """(path on the board, path on the computer) for every file under `root` that goes on a board."""
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in NOT_ON_BOARD and not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            source = Path(folder, name)
            yield "/" + source.relative_to(root).as_posix(), source


def build_vfs_image(files_root, size=layout.VFS.size, disk_version=DISK_VERSION):
    """A LittleFS2 image of `size` bytes holding the board files under `files_root`."""
    try:
        return vfs_image_of(board_files(files_root), size, disk_version)
    except LittleFSError as error:
        if is_full(error):
            raise JazariError(
                _("The files in {folder} do not fit in the board's {size} KB filesystem: leave some out.").format(
                    folder=files_root, size=size // 1024
                )
            ) from None
        raise


def vfs_image_of(files, size, disk_version=DISK_VERSION):
    """A LittleFS2 image of `size` bytes holding `files`: (path on the board, Path or bytes) pairs.

    A file's mtime is its source's; contents given as bytes get the current time.
    Raises LittleFSError when they do not fit (see `is_full`).
    """
    fs = _filesystem(bytearray([layout.ERASED]) * size, disk_version)
    fs.format()
    fs.mount()
    for board_path, source in files:
        _write(fs, board_path, source)
    fs.unmount()
    return bytes(fs.context.buffer)


def add_file(image, board_path, source, disk_version=DISK_VERSION):
    """A copy of the LittleFS2 `image` with one more file (or that file replaced): how each
    board of a classroom gets its own /kit.json on an image built once for all of them."""
    fs = _filesystem(bytearray(image), disk_version)
    fs.mount()
    _write(fs, board_path, source)
    fs.unmount()
    return bytes(fs.context.buffer)


def renamed_in_image(image, moves):
    """A copy of the LittleFS2 `image` with each (old path, new path) of `moves` renamed, and
    nothing else changed: every other file, folder and block stays as it was. A rename is one
    LittleFS commit, so the copy differs from `image` in a block or two of its metadata."""
    probe = _filesystem(bytearray(image))
    probe.mount()
    version = probe.fs_stat().disk_version  # mounted at a newer version, LittleFS would upgrade what it writes
    fs = _filesystem(bytearray(image), version)
    fs.mount()
    for old, new in moves:
        fs.rename(old, new)
    fs.unmount()
    return bytes(fs.context.buffer)


def changed_blocks(before, after, base):
    """[(address, bytes)]: the runs of BLOCK_SIZE blocks in which `after` differs from
    `before` (both read at flash address `base`), what to write to make one the other."""
    runs = []
    for at in range(0, len(after), BLOCK_SIZE):
        block = after[at : at + BLOCK_SIZE]
        if block == before[at : at + BLOCK_SIZE]:
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == base + at:
            runs[-1] = (runs[-1][0], runs[-1][1] + block)
        else:
            runs.append((base + at, block))
    return runs


def _write(fs, board_path, source):
    """Write `source` (Path or bytes) at `board_path`, with its mtime as MicroPython keeps it."""
    parent = board_path.rsplit("/", 1)[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    contents = source if isinstance(source, bytes) else source.read_bytes()
    with fs.open(board_path, "wb") as out:
        out.write(contents)
    mtime_ns = time.time_ns() if isinstance(source, bytes) else source.stat().st_mtime_ns
    fs.setattr(board_path, MTIME_ATTR, mtime_ns.to_bytes(8, "little"))


def is_full(error):
    """Whether a LittleFSError says the filesystem has no space left."""
    return error.code == LittleFSError.Error.LFS_ERR_NOSPC


def read_vfs_files(image):
    """{path on the board: contents} of every file in a LittleFS2 image."""
    fs = _filesystem(bytearray(image))
    try:
        fs.mount()
    except LittleFSError:
        raise JazariError(_("The board's filesystem is not a LittleFS2 image (blank or damaged): flash the board again.")) from None
    files = {}
    for folder, _dirs, names in fs.walk("/"):
        for name in names:
            path = folder.rstrip("/") + "/" + name
            with fs.open(path, "rb") as handle:
                files[path] = handle.read()
    fs.unmount()
    return files


def new_flash_file(path, files_root=None, chip="esp32", *, table=layout.STANDARD_TABLE, empty=False, march=None):
    """Write a whole erased flash file with the partition table and a `vfs` holding `files_root`.

    `files_root` defaults to the kit's firmware folder (boot.py, main.py, kit/);
    `march` (e.g. "x64") ships the `kit` package precompiled to .mpy for that
    architecture, as a board with little heap needs (see compiled.py);
    `empty=True` leaves `vfs` erased so the board formats it at first boot.
    No bootloader or app is written: the virtual board runs MicroPython itself.
    """
    layout.bootloader_offset(chip)  # refuses an unknown chip before writing anything
    vfs = layout.vfs_partition(table)
    flash = bytearray([layout.ERASED]) * layout.FLASH_SIZE
    at = layout.PARTITION_TABLE_OFFSET
    flash[at : at + layout.PARTITION_TABLE_LENGTH] = layout.build_partition_table(table)
    if not empty:
        files_root = firmware_dir() if files_root is None else files_root
        files_root = compiled_firmware(files_root, march)
        flash[vfs.offset : vfs.end] = build_vfs_image(files_root, vfs.size)
    Path(path).write_bytes(flash)
    return Path(path)


def read_flash_files(path):
    """{path on the board: contents} of the `vfs` partition of a flash file."""
    flash = Path(path).read_bytes()
    vfs = layout.vfs_partition(layout.read_partition_table(flash), len(flash))
    return read_vfs_files(flash[vfs.offset : vfs.end])
