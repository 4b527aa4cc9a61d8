"""`jazari deploy`: copy files and folders to a board over the link.

Each file is compared first by size and SHA-256 (computed on the board) and
skipped when it matches. Otherwise it is written to `<name>.part` in chunks,
each acknowledged by the board, checked by SHA-256, and only then renamed
over `<name>`: a reset or an unplugged cable mid-copy leaves the real file as
it was, and the next deploy resumes the `.part` file where it stopped.
"""

import hashlib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.link.device import port_gone
from jazari.link.frames import WIRE
from jazari.link.session import ENOSPC, LinkError

PART = ".part"
_SKIPPED_DIRS = {"__pycache__"}


@dataclass
class DeployReport:
    copied: list = field(default_factory=list)  # board paths written
    skipped: list = field(default_factory=list)  # board paths already up to date
    resumed: list = field(default_factory=list)  # board paths continued from a .part file
    sent: int = 0  # file bytes sent


def plan(paths, destination="/"):
    """[(local Path, board path)] for files and folders, like `cp -r`.

    A file goes to destination/<name>; a folder to destination/<folder>/...
    Hidden files and __pycache__ stay behind. Checked before any connection.
    """
    destination = "/" + destination.strip("/")
    pairs = []
    for given in paths:
        local = Path(given)
        if local.is_file():
            pairs.append((local, posixpath.join(destination, local.name)))
        elif local.is_dir():
            pairs.extend(_folder(local, posixpath.join(destination, local.resolve().name)))
        else:
            raise JazariError(_("There is no file or folder {path} here. Check the name and the current folder.").format(path=given))
    return pairs


def _folder(local, remote_root):
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local)
        if path.is_file() and not any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts):
            yield path, posixpath.join(remote_root, relative.as_posix())


def deploy(link, pairs, progress=None):
    """Copy `pairs` (from `plan`) over the LinkSession `link`.

    `progress(board_path, done_bytes, total_bytes)` is called when a file
    starts (done: 0, where a .part file resumes, or all of it when it is
    unchanged) and after each acknowledged chunk.
    """
    report = DeployReport()
    made = {"/"}
    for local, remote in pairs:
        try:
            _deploy_file(link, local, remote, made, report, progress or _quiet)
        except LinkError as refused:
            # Named by the file being deployed, not by the .part file it goes through.
            raise LinkError(refused.code, refused.errno, refused.text, remote) from None
        except JazariError as failure:
            if not port_gone(link.device.port):
                raise
            link.device.close()  # the line is dead: closing the session must not touch it
            raise JazariError(
                _("The board on {port} was unplugged while {path} was being copied; that file on the board is unchanged. Plug it in again and run the command again: it carries on where it stopped.").format(
                    port=link.device.port, path=remote
                )
            ) from None
    return report


def _quiet(_remote, _done, _total):
    pass


def _deploy_file(link, local, remote, made, report, progress):
    try:
        data = local.read_bytes()
    except OSError as failure:
        raise JazariError(_("Cannot read {path}: {reason}").format(path=local, reason=failure.strerror)) from None
    digest = hashlib.sha256(data).digest()
    if link.file_hash(remote) == (len(data), digest):
        report.skipped.append(remote)
        progress(remote, len(data), len(data))
        return
    _make_folders(link, posixpath.dirname(remote), made)
    start = _resume_offset(link, remote + PART, data)
    if start:
        report.resumed.append(remote)
    progress(remote, start, len(data))
    report.sent += _copy(link, data, remote, start, progress)
    if link.file_hash(remote + PART) != (len(data), digest):
        raise JazariError(_("{path} arrived damaged on the board. Run the command again.").format(path=remote))
    link.rename(remote + PART, remote)
    report.copied.append(remote)


def _make_folders(link, folder, made):
    if folder in made:
        return
    _make_folders(link, posixpath.dirname(folder), made)
    link.mkdir(folder)
    made.add(folder)


def _resume_offset(link, temporary, data):
    """How much of a .part file left by an interrupted deploy is still good."""
    found = link.file_hash(temporary)
    if found is None:
        return 0
    size, digest = found
    if 0 < size <= len(data) and hashlib.sha256(data[:size]).digest() == digest:
        return size
    return 0


def _copy(link, data, remote, start, progress):
    temporary = remote + PART
    free = _free(link, remote)
    if len(data) - start > free:
        raise _no_room(remote, len(data) - start, free)
    offset = link.open_file(temporary, append=start > 0)
    try:
        while offset < len(data):
            offset = link.write(offset, data[offset:offset + WIRE.CHUNK])
            progress(remote, offset, len(data))
        link.close_file()
    except LinkError as failure:
        if failure.errno != ENOSPC:
            raise
        link.close_file()
        link.remove(temporary)  # nothing half-written stays behind
        raise _no_room(remote, len(data), _free(link, remote)) from None
    return len(data) - start


def _free(link, remote):
    """Free bytes where `remote` goes."""
    return link.free(posixpath.dirname(remote))[0]


def _no_room(remote, needed, free):
    return JazariError(
        _("Not enough room on the board for {path}: it needs {needed} KB, {free} KB are free. Delete files on the board or deploy fewer.").format(
            path=remote, needed=_kb(needed), free=_kb(free)
        )
    )


def _kb(size):
    return f"{size / 1024:.1f}"
