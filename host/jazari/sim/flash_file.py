"""A virtual board's flash file, checked before the board boots from it.

A real ESP32 with a damaged flash stops in its bootloader; a virtual board
given a file that is no board's flash (a byte, a photo, a file of the wrong
size) is refused here, in one line, before any MicroPython runs.
"""

import os

from jazari.errors import JazariError
from jazari.flash import layout
from jazari.i18n import _


class BadFlashFile(JazariError):
    """The --flash file cannot be a virtual board's flash."""


def read_partitions(path):
    """The partitions of the flash file's table; () when it has none or it is damaged."""
    with open(path, "rb") as flash:
        flash.seek(layout.PARTITION_TABLE_OFFSET)
        table = flash.read(layout.PARTITION_TABLE_LENGTH)
    try:
        return layout.parse_partition_table(table)
    except JazariError:
        return ()


def check_flash_file(path):
    """Raise BadFlashFile unless `path` is a flash image a virtual board boots from."""
    size = os.path.getsize(path)
    if size != layout.FLASH_SIZE:
        raise BadFlashFile(
            _(
                "The flash file {flash} is {size} bytes, not the {expected} bytes of a board's flash:"
                " give a virtual board's flash file, or a new file name to make a fresh one."
            ).format(flash=path, size=size, expected=layout.FLASH_SIZE)
        )
    parts = read_partitions(path)
    vfs = layout.vfs_partition(parts, size) if parts else None
    if vfs is None or not all(0 < part.offset < part.end <= size for part in parts + (vfs,)):
        raise BadFlashFile(
            _(
                "The flash file {flash} holds no valid partition table with room for files:"
                " give a virtual board's flash file, or a new file name to make a fresh one."
            ).format(flash=path)
        )
