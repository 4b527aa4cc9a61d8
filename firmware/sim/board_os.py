# os, uos and vfs as a program on the virtual board sees them: what an ESP32's
# have (ports/esp32), without the Unix port's system, putenv, unsetenv and
# VfsPosix, and a getenv that knows only which virtual board this is. start.py puts this module in sys.modules under
# those names once the board's flash is mounted. A determined program can
# still reach the built-in modules (MicroPython imports built-ins by name),
# which is why the process is also confined by the host: docs/security.md.
from micropython import const
from os import chdir, getcwd, ilistdir, listdir, mkdir, remove, rename, rmdir, stat, statvfs, urandom, sep
from os import getenv as _getenv
from vfs import VfsFat, VfsLfs2, umount
from vfs import mount as _mount

try:
    from vfs import VfsRom
except ImportError:
    pass

_EPERM = const(1)


def mount(*args, **kwargs):
    # Only the board's own filesystems: a VfsPosix obtained some other way
    # would show the computer's files.
    if args and type(args[0]).__name__ == "VfsPosix":
        raise OSError(_EPERM)
    return _mount(*args, **kwargs)


_BOARD_VARIABLES = ("JAZARI_PROFILE",)


def getenv(name, default=None):
    # Not on an ESP32's os: kit/board.py asks it which virtual board it runs
    # on. Nothing else of the environment shows (inside bwrap there is no
    # more; without it, the computer's).
    return _getenv(name, default) if name in _BOARD_VARIABLES else default
