# esp for the virtual board: raw flash access over the flash file, as on an ESP32.
import flashdev

SLEEP_NONE = 0
SLEEP_MODEM = 1
SLEEP_LIGHT = 2


def flash_size():
    return flashdev.flash_size()


def flash_user_start():
    import esp32

    return esp32.Partition.find(esp32.Partition.TYPE_DATA, label="vfs")[0].offset


def flash_read(offset, buf):
    flashdev.read(offset, buf)


def flash_write(offset, buf):
    flashdev.write(offset, buf)


def flash_erase(sector):
    flashdev.erase(sector * flashdev.SECTOR, flashdev.SECTOR)


def osdebug(level, *args):
    pass
