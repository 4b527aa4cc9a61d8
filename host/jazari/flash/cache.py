"""Where jazari keeps what it can make or fetch again: one root, one folder per kind.

`$JAZARI_CACHE/<kind>` when JAZARI_CACHE is set (a classroom's shared folder, a
test's tmp_path), else `$XDG_CACHE_HOME/jazari/<kind>`, else
`~/.cache/jazari/<kind>`. Kinds: `mpy` (the kit compiled for an architecture),
`firmware` (MicroPython releases, by SHA-256), `recover` (the filesystem of a board
as `jazari recover --reflash` read it, before writing: the one kind not made again).
"""

import os
from pathlib import Path


def cache_dir(kind):
    """The cache folder for `kind` (not created)."""
    root = os.environ.get("JAZARI_CACHE")
    if root:
        return Path(root) / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jazari" / kind
