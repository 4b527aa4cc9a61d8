"""A board's ERROR frame in words: what went wrong and what to do.

For E_OS the board sends the errno of the OSError it met. Its numbers are the
board's, not this computer's (macOS numbers ENAMETOOLONG 63): MicroPython's
own (mperrno.h, the Linux values up to 34) and LittleFS's, which
MicroPython's VFS raises as they are (lfs.h: LFS_ERR_NAMETOOLONG = -36,
LFS_ERR_NOTEMPTY = -39, LFS_ERR_CORRUPT = -84, LFS_ERR_NOATTR = -61).
"""

from jazari.i18n import _
from jazari.link.frames import WIRE

EPERM, ENOENT, EIO, EBADF, ENOMEM, EACCES, EEXIST, ENODEV = 1, 2, 5, 9, 12, 13, 17, 19
ENOTDIR, EISDIR, EINVAL, EFBIG, ENOSPC, EROFS = 20, 21, 22, 27, 28, 30
ENAMETOOLONG, ENOTEMPTY, ENOATTR, ECORRUPT, EOPNOTSUPP = 36, 39, 61, 84, 95


def _os_messages():
    # Built when asked: the language is chosen after import.
    return {
        EPERM: _("The board does not allow this on {path}."),
        EACCES: _("The board does not allow this on {path}."),
        ENOENT: _("There is no {path} on the board: check the name and the folder."),
        EIO: _("The board's flash failed at {path}. Run the command again; if it fails again, re-flash the board with 'jazari flash'."),
        ECORRUPT: _("The board's filesystem is damaged (at {path}). Copy your files off the board, then re-flash it with 'jazari flash'."),
        EBADF: _("The board had no file open for {path}. Run the command again."),
        ENOMEM: _("The board ran out of memory at {path}: restart it ('jazari recover' and its port), then run the command again."),
        EEXIST: _("{path} already exists on the board: choose another name."),
        ENODEV: _("There is no filesystem on the board at {path}: choose a folder under /."),
        ENOTDIR: _("Part of {path} is a file on the board, not a folder: choose a folder (with deploy: --to / or --to /lib)."),
        EISDIR: _("{path} is a folder on the board, not a file: choose another name."),
        EINVAL: _("The board refused {path} as a name or place: choose another."),
        EFBIG: _("{path} is too big for the board's filesystem."),
        ENOSPC: _("The board's flash is full ({path}). Remove files from it, then run the command again."),
        EROFS: _("{path} is in the board's read-only firmware (/rom): choose a folder on its flash, such as /lib."),
        ENAMETOOLONG: _("A name in {path} is too long for the board (LittleFS takes 255 bytes): choose a shorter one."),
        ENOTEMPTY: _("{path} is a folder that is not empty on the board: empty it first."),
        ENOATTR: _("The board's filesystem has no such attribute on {path}."),
        EOPNOTSUPP: _("The board's filesystem cannot do this on {path}."),
    }


def refusal(code, errno, text, path=None):
    """The translated line for an ERROR frame (code, errno, the board's text),
    about the request on board path `path` when there is one."""
    place = path or "/"
    if code == WIRE.E_OS and path is None:  # code the host sent (OP_EXEC) met an OSError: its own words
        return _("The board refused the request: {reason}").format(reason=f"OSError: {text or errno}")
    if code == WIRE.E_OS:
        message = _os_messages().get(errno)
        if message:
            return message.format(path=place)
        return _("The board could not do this on {path}: error {errno} ({text}).").format(path=place, errno=errno, text=text)
    if code == WIRE.E_UNKNOWN:
        return _("The kit on the board does not know this request: update it with 'jazari flash'.")
    if code in (WIRE.E_OFFSET, WIRE.E_NOT_OPEN):
        return _("The copy of {path} got out of step with the board. Run the command again: it carries on where it stopped.").format(path=place)
    return _("The board refused the request: {reason}").format(reason=text or code)
