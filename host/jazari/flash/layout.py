"""The ESP32 flash layout MicroPython's ESP32 port uses, and its partition table.

A stock MicroPython build for a 4 MB board (ports/esp32/partitions-4MiBplus.csv)
writes a partition table with only `nvs`, `phy_init` and `factory`. The
filesystem partition is not in the table: at boot, ports/esp32/main.c registers
a `vfs` partition from the end of the last partition to the end of the flash
chip, so on 4 MB it is 0x200000..0x400000. Builds with ROMFS
(partitions-4MiB-romfs.csv) shrink `factory` to 0x1D0000 and add a `romfs`
data partition (subtype 0x8f) at 0x1E0000; `vfs` still starts at 0x200000.

The binary table format is ESP-IDF's (gen_esp32part.py): 32-byte entries
`<2sBBLL16sL` (magic AA 50, type, subtype, offset, size, name, flags), then an
MD5 entry (EB EB, 14 x FF, MD5 of the entries before it), then 0xFF up to
0xC00 bytes.
"""

import hashlib
import struct
from dataclasses import dataclass

from jazari.errors import JazariError
from jazari.i18n import _

FLASH_SIZE = 0x400000
SECTOR_SIZE = 0x1000  # SPI flash erase unit, also the LittleFS block size
ERASED = 0xFF

BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s3": 0x0}
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_LENGTH = 0xC00  # leaves 1 KB of the sector for a signature

TYPE_APP = 0x00
TYPE_DATA = 0x01
SUBTYPE_FACTORY = 0x00
SUBTYPE_PHY = 0x01
SUBTYPE_NVS = 0x02
SUBTYPE_FAT = 0x81  # what main.c registers the implicit `vfs` partition as
SUBTYPE_ROMFS = 0x8F

_ENTRY = struct.Struct("<2sBBLL16sL")
_ENTRY_MAGIC = b"\xaa\x50"
_MD5_MAGIC = b"\xeb\xeb" + b"\xff" * 14
_NAME_MAX = 15  # 16 bytes with the terminating NUL


@dataclass(frozen=True)
class Partition:
    name: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self):
        return self.offset + self.size


NVS = Partition("nvs", TYPE_DATA, SUBTYPE_NVS, 0x9000, 0x6000)
PHY_INIT = Partition("phy_init", TYPE_DATA, SUBTYPE_PHY, 0xF000, 0x1000)
FACTORY = Partition("factory", TYPE_APP, SUBTYPE_FACTORY, 0x10000, 0x1F0000)
ROMFS = Partition("romfs", TYPE_DATA, SUBTYPE_ROMFS, 0x1E0000, 0x20000)

#: partitions-4MiBplus.csv, the table of every stock 4 MB MicroPython build.
STANDARD_TABLE = (NVS, PHY_INIT, FACTORY)
#: partitions-4MiB-romfs.csv: a smaller app and a ROMFS partition before `vfs`.
ROMFS_TABLE = (NVS, PHY_INIT, Partition("factory", TYPE_APP, SUBTYPE_FACTORY, 0x10000, 0x1D0000), ROMFS)


def vfs_partition(table=STANDARD_TABLE, flash_size=FLASH_SIZE):
    """The filesystem partition the port uses with this table, as main.c finds it."""
    for part in table:
        if part.name in ("vfs", "ffat") and part.type == TYPE_DATA:
            return part
    start = max(part.end for part in table)
    return Partition("vfs", TYPE_DATA, SUBTYPE_FAT, start, flash_size - start)


VFS = vfs_partition()  # 0x200000 .. 0x400000 on a 4 MB chip


def romfs_partition(table):
    """The ROMFS partition of this table (data, subtype 0x8f), or None."""
    return next((part for part in table if part.type == TYPE_DATA and part.subtype == SUBTYPE_ROMFS), None)


def bootloader_offset(chip):
    try:
        return BOOTLOADER_OFFSET[chip]
    except KeyError:
        raise JazariError(
            _("Unknown chip {chip}: use one of {chips}.").format(chip=chip, chips=", ".join(BOOTLOADER_OFFSET))
        ) from None


def build_partition_table(table=STANDARD_TABLE):
    """The 0xC00-byte binary table that gen_esp32part.py would write for `table`."""
    entries = b"".join(_pack_entry(part) for part in table)
    body = entries + _MD5_MAGIC + hashlib.md5(entries).digest()
    if len(body) > PARTITION_TABLE_LENGTH:
        raise JazariError(_("Too many partitions for one partition table."))
    return body + bytes([ERASED]) * (PARTITION_TABLE_LENGTH - len(body))


def _pack_entry(part):
    name = part.name.encode()
    if len(name) > _NAME_MAX:
        raise JazariError(_("Partition name {name} is longer than 15 bytes.").format(name=part.name))
    return _ENTRY.pack(_ENTRY_MAGIC, part.type, part.subtype, part.offset, part.size, name, part.flags)


def parse_partition_table(data):
    """The partitions in a binary table; raises JazariError if its MD5 does not match."""
    parts = []
    for start in range(0, min(len(data), PARTITION_TABLE_LENGTH), _ENTRY.size):
        raw = bytes(data[start : start + _ENTRY.size])
        if raw[:16] == _MD5_MAGIC:
            if hashlib.md5(bytes(data[:start])).digest() != raw[16:]:
                raise JazariError(_("The partition table is damaged (its MD5 does not match): flash the board again."))
            break
        if raw[:2] != _ENTRY_MAGIC:
            break  # 0xFF: end of a table written without an MD5 entry
        magic, ptype, subtype, offset, size, name, flags = _ENTRY.unpack(raw)
        parts.append(Partition(name.split(b"\0", 1)[0].decode(), ptype, subtype, offset, size, flags))
    return tuple(parts)


def read_partition_table(flash):
    """The partitions recorded in a whole-flash image (bytes or a memoryview)."""
    return parse_partition_table(flash[PARTITION_TABLE_OFFSET : PARTITION_TABLE_OFFSET + PARTITION_TABLE_LENGTH])
