"""Writing files so that a reader never sees half of one (caches, rosters, datasets' manifests)."""

import os
import tempfile
from pathlib import Path


def write_atomically(path, chunks):
    """Write the byte strings of `chunks` to `path` through a .part file renamed at the end.

    A reader never sees half a file: an interrupted write leaves only a .part
    file behind (removed here when the failure is an exception).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename: a power cut leaves the old file or the new
        os.replace(part, path)
    except BaseException:
        os.unlink(part)
        raise
    return path
