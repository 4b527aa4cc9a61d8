# os, uos and vfs as a program on the virtual board sees them: what an ESP32's
# have (ports/esp32), without the Unix port's system, getenv, putenv,
# unsetenv and VfsPosix. start.py puts this module in sys.modules under
# those names once the board's flash is mounted. A determined program can
# still reach the built-in modules (MicroPython imports built-ins by name),
# which is why the process is also confined by the host: docs/security.md.
from micropython import const
from os import chdir, getcwd, ilistdir, listdir, mkdir, remove, rename, rmdir, stat, statvfs, urandom, sep
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
