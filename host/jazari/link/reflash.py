"""`jazari recover PORT --reflash`: set the boot programs aside through the
ROM bootloader, for a board no software reaches (docs/recovery.md).

esptool resets the board into download mode (a USB board's DTR/RTS; a
virtual board must wait in it already: `jazari sim --download-mode`), reads
its `vfs` partition, and the computer renames what would run at boot in the
LittleFS image, as `jazari recover` does on a live board: every other file
is kept. The image is written back and the board boots from it.
"""

import time

from esptool.cmds import attach_flash, detect_chip, detect_flash_size, read_flash, write_flash
from esptool.util import FatalError, flash_size_bytes

from jazari.errors import JazariError
from jazari.flash import esptool_output, layout
from jazari.flash.flasher import CONNECT_ATTEMPTS, LINE_ERRORS, ROM_BAUD, is_virtual, line_failure
from jazari.flash.vfs import read_vfs_files, vfs_image_of
from jazari.i18n import _
from jazari.link.recover import SAFE_BOOT_TIMEOUT, answering, renames

FAST_BAUD = 460800  # the stub's rate for reading and writing 2 MB (a real board's USB bridge takes it)


def reflash(port):
    """Set aside the boot programs in the flash of the board on `port`; (files set aside, its info)."""
    with esptool_output.routed_per_thread():  # esptool's own text is not what a student reads
        esp = _connect(port)
        try:
            moved = _rewrite_vfs(esp)
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


def _rewrite_vfs(esp):
    """Read the vfs partition, rename the boot programs, write it back if anything moved."""
    table = layout.parse_partition_table(read_flash(esp, layout.PARTITION_TABLE_OFFSET, layout.PARTITION_TABLE_LENGTH, no_progress=True))
    flash_size = flash_size_bytes(detect_flash_size(esp)) or layout.FLASH_SIZE
    vfs = layout.vfs_partition(table, flash_size)
    files = read_vfs_files(read_flash(esp, vfs.offset, vfs.size, no_progress=True))
    names = {path[1:] for path in files if path.count("/") == 1}
    moved = renames(names, files.__getitem__)
    if moved:
        for old, new in moved:
            files[new] = files.pop(old)
        write_flash(esp, [(vfs.offset, vfs_image_of(sorted(files.items()), vfs.size))], flash_size="keep")
    return moved
