"""Where jazari keeps what it can make or fetch again: one root, one folder per kind.

`$JAZARI_CACHE/<kind>` when JAZARI_CACHE is set (a classroom's shared folder, a
test's tmp_path), else `$XDG_CACHE_HOME/jazari/<kind>`, else
`~/.cache/jazari/<kind>`. Kinds: `mpy` (the kit compiled for an architecture),
`firmware` (MicroPython releases, by SHA-256).
"""

import os
import tempfile
from pathlib import Path


def cache_dir(kind):
    """The cache folder for `kind` (not created)."""
    root = os.environ.get("JAZARI_CACHE")
    if root:
        return Path(root) / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jazari" / kind


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
        os.replace(part, path)
    except BaseException:
        os.unlink(part)
        raise
    return path
