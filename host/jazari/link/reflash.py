"""`jazari recover PORT --reflash`: set the boot programs aside through the
ROM bootloader, for a board no software reaches (docs/recovery.md).

esptool resets the board into download mode (a USB board's DTR/RTS; a
virtual board must wait in it already: `jazari sim --download-mode`), reads
its `vfs` partition and keeps a copy of it on the computer before anything
is written. The computer renames what would run at boot in the LittleFS
image as read, as `jazari recover` does on a live board (a rename is one
power-safe LittleFS commit), and writes back only the 4 KB blocks that
changed: a write stopped halfway leaves every other block, and so every
other file, as it was, and the copy puts the whole partition back.
"""

import time
from pathlib import Path

from esptool.cmds import attach_flash, detect_chip, detect_flash_size, read_flash, write_flash
from esptool.util import FatalError, flash_size_bytes

from jazari.errors import JazariError
from jazari.files import write_atomically
from jazari.flash import esptool_output, layout
from jazari.flash.cache import cache_dir
from jazari.flash.flasher import CONNECT_ATTEMPTS, LINE_ERRORS, ROM_BAUD, is_virtual, line_failure
from jazari.flash.vfs import changed_blocks, read_vfs_files, renamed_in_image
from jazari.i18n import _
from jazari.link.recover import SAFE_BOOT_TIMEOUT, answering, renames

FAST_BAUD = 460800  # the stub's rate for reading and writing 2 MB (a real board's USB bridge takes it)


def reflash(port, saved=lambda path, offset: None):
    """Set aside the boot programs in the flash of the board on `port`; (files set aside, its info).

    `saved(path, offset)` is told where the partition as read was kept (and its flash
    address) before anything is written, so a user who stops the command knows it."""
    with esptool_output.routed_per_thread():  # esptool's own text is not what a student reads
        esp = _connect(port)
        try:
            moved = _rewrite_vfs(esp, port, saved)
            if not is_virtual(port):
                esp.hard_reset()  # a virtual board boots when the port closes after a write
        except (FatalError, *LINE_ERRORS) as failure:
            raise line_failure(port, failure) from None
        finally:
            esp._port.close()
    with answering(port, time.monotonic() + SAFE_BOOT_TIMEOUT) as device:
        return moved, device.info()


def _connect(port):
    mode = "no-reset" if is_virtual(port) else "default-reset"
    try:
        esp = detect_chip(port, ROM_BAUD, mode, connect_attempts=CONNECT_ATTEMPTS)
    except (FatalError, *LINE_ERRORS):
        if is_virtual(port):  # no buttons: it is in download mode only when started or reset so
            message = _("The virtual board on {port} is not in download mode: 'jazari recover {port}' brings it back without --reflash.")
        else:
            message = _("No ESP32 bootloader answers on {port}: hold BOOT, press and release EN (reset), release BOOT, then run the command again.")
        raise JazariError(message.format(port=port)) from None
    esp = esp.run_stub()
    attach_flash(esp)
    if not is_virtual(port):
        esp.change_baud(FAST_BAUD)
    return esp


def _rewrite_vfs(esp, port, saved):
    """Read the vfs partition, rename the boot programs in it; keep a copy, write the blocks that changed."""
    table = layout.parse_partition_table(read_flash(esp, layout.PARTITION_TABLE_OFFSET, layout.PARTITION_TABLE_LENGTH, no_progress=True))
    flash_size = flash_size_bytes(detect_flash_size(esp)) or layout.FLASH_SIZE
    vfs = layout.vfs_partition(table, flash_size)
    before = read_flash(esp, vfs.offset, vfs.size, no_progress=True)
    files = read_vfs_files(before)
    names = {path[1:] for path in files if path.count("/") == 1}
    moved = renames(names, files.__getitem__)
    if moved:
        saved(keep_copy(before, port, vfs.offset), vfs.offset)
        after = renamed_in_image(before, moved)
        write_flash(esp, changed_blocks(before, after, vfs.offset), flash_size="keep")
    return moved


def keep_copy(partition, port, offset):
    """Where the vfs partition as read is kept (`jazari` cache, folder recover), named by port, address and time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return write_atomically(cache_dir("recover") / f"vfs-{Path(port).name}-0x{offset:x}-{stamp}.bin", [partition])
