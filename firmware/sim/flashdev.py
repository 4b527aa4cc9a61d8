# The virtual board's SPI flash: one 4 MB file on the host, shared by every
# partition. FlashArea is the block device MicroPython's vfs drivers expect,
# with the same semantics as esp32.Partition (ports/esp32/esp32_partition.c):
# 4096-byte blocks, the extended interface (an offset means "program only"),
# and ioctl 6 erasing one block to 0xFF. The file was opened on the host's
# filesystem before it was unmounted, so it stays reachable afterwards.
from micropython import const

SECTOR = const(4096)
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)
_ERASE_CHUNK = const(512)
_EINVAL = const(22)

_flash = None
_size = 0
_erased = None  # one small 0xFF buffer, made on the first erase


def open_flash(path):
    global _flash, _size
    _flash = open(path, "r+b")
    _size = _flash.seek(0, 2)
    return _size


def flash_size():
    return _size


def _within(addr, size):
    # The flash file never grows: an address past the chip's end fails, as
    # esp_flash_* does on a board (ESP_ERR_INVALID_ARG, an OSError there).
    if addr < 0 or size < 0 or addr + size > _size:
        raise OSError(_EINVAL)


def read(addr, buf):
    _within(addr, len(buf))
    _flash.seek(addr)
    _flash.readinto(buf)


def write(addr, buf):
    # NOR flash could only clear bits here; LittleFS always erases first, so a
    # plain overwrite behaves the same and costs no read-back.
    _within(addr, len(buf))
    _flash.seek(addr)
    _flash.write(buf)


def erase(addr, size):
    global _erased
    _within(addr, size)
    if _erased is None:
        _erased = b"\xff" * _ERASE_CHUNK
    _flash.seek(addr)
    for _ in range(size // _ERASE_CHUNK):
        _flash.write(_erased)


class FlashArea:
    def __init__(self, offset, size, block_size=SECTOR):
        if offset % SECTOR or size % block_size or offset + size > _size:
            raise ValueError("flash area outside the flash")
        self.offset = offset
        self.size = size
        self.block_size = block_size

    def readblocks(self, block, buf, offset=0):
        read(self.offset + block * self.block_size + offset, buf)

    def writeblocks(self, block, buf, offset=None):
        addr = self.offset + block * self.block_size
        if offset is None:
            # Simple interface (FAT): the board erases the blocks, then writes.
            # Overwriting the whole range in the file is the same end state.
            write(addr, buf)
        else:
            write(addr + offset, buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.size // self.block_size
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            if self.block_size != SECTOR:
                return -22  # EINVAL, as esp32.Partition for smaller blocks
            erase(self.offset + arg * SECTOR, SECTOR)
        return 0
