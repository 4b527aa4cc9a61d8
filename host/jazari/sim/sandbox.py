"""The virtual board's confinement by the host (Linux): bubblewrap.

The MicroPython process (jazari.sim.launcher) runs under `bwrap` (Debian
and Ubuntu package `bubblewrap`, the sandbox Flatpak uses): its own mount,
network, PID, IPC, UTS and (where the kernel allows) user namespaces, all
capabilities dropped, killed with its supervisor. Its filesystem is built
from nothing: read-only, the Python it runs (interpreter, standard library,
the installed packages), the kit's firmware/ folder and the scenario or
microphone file it was given; writable, its own flash file and event log,
and nothing else (the sandbox's root and /dev are remounted read-only).
No /bin, no /etc, no home, no /proc, no other board's files, no registry.
Its environment is the JAZARI_* variables alone. See docs/security.md.
"""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.util import find_spec
from pathlib import Path

from jazari.errors import JazariError
from jazari.i18n import _

# Shared libraries, wherever the distribution keeps them (on merged-/usr
# systems /lib and /lib64 are symbolic links, made again inside).
_LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32")
OWN_USER_NAMESPACE = "JAZARI_OWN_USER_NAMESPACE"  # set for the launcher when it has one
_NAMESPACES = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "jazari-board")


def bwrap():
    """The bwrap command on Linux, or None (missing, or another system)."""
    return shutil.which("bwrap") if sys.platform.startswith("linux") else None


@functools.cache
def _no_nested_user_namespaces():
    """bwrap's options that stop the board making user namespaces of its own,
    or none: --disable-userns is new in bwrap 0.8 and needs a user namespace,
    which some systems refuse (a setuid bwrap): tried once, with `true`."""
    options = ["--unshare-user", "--disable-userns"]
    probe = [bwrap(), *options, "--ro-bind", "/", "/", "true"]
    try:
        return options if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        return []


def _python_paths():
    """What the launcher's Python reads: the interpreter and its libraries, the
    environment's packages, micropython_run and jazari (an editable install's too)."""
    paths = set(_link_chain(sys.executable)) | {sys.prefix if sys.prefix != sys.base_prefix else None}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths.add(sysconfig.get_config_var("LIBDIR"))  # libpython, for a shared build
    for module in ("micropython_run", "jazari"):
        spec = find_spec(module)
        origin = Path(spec.origin) if spec and spec.origin else None
        if origin is not None:
            paths.add(str(origin.parent if module == "jazari" else origin))
    return {path for path in paths if path and os.path.exists(path)}


def _link_chain(path):
    """`path` and every symbolic link it goes through to the file (a venv's
    python -> python3.11 -> the interpreter), each of which must exist inside."""
    seen = [path]
    while os.path.islink(path) and len(seen) < 16:
        path = os.path.join(os.path.dirname(path), os.readlink(path))
        seen.append(path)
    return seen


def _read_only_paths(config):
    paths = _python_paths() | {config["firmware"], config["start"]}
    for value in (config.get("scenario"), os.environ.get("JAZARI_MIC")):
        if value and os.path.isabs(value) and os.path.isfile(value):
            paths.add(value)
    return paths


def command(argv, config):
    """`argv` (the launcher) run under bwrap for the board described by `config`."""
    own_users = _no_nested_user_namespaces()
    args = [bwrap(), *_NAMESPACES, *own_users, "--dev", "/dev", "--chdir", "/"]
    if own_users:  # its processes are counted apart from the user's others: RLIMIT_NPROC can be small
        args += ["--setenv", OWN_USER_NAMESPACE, "1"]
    for directory in _LIBRARY_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    bound = []
    for path in sorted(_read_only_paths(config), key=len):  # a folder before what it holds
        if any(path.startswith(folder + "/") for folder in bound):
            continue  # there already
        bound.append(path)
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    for path in (config["flash"], config["events"]):
        args += ["--bind", path, path]
    # bwrap's root and /dev are tmpfs that could grow to half the computer's
    # memory, outside the launcher's limits: read-only once everything is in
    # place. Not recursive, so the flash file, the event log and /dev's device
    # nodes (each its own mount) keep their own access.
    return args + ["--remount-ro", "/dev", "--remount-ro", "/", "--", *argv]


def environment(env):
    """The confined process's environment: the JAZARI_* variables alone."""
    return {key: value for key, value in env.items() if key.startswith("JAZARI_")}


class NoSandbox(JazariError):
    """bwrap is missing on Linux and a confined board was asked for."""


_warned = False


def use_sandbox(confined):
    """Whether the board runs under bwrap. `confined`: True (required on Linux:
    `jazari sim`), False (the developer chose --unconfined) or None (the kit's
    own trusted uses: confined where possible, else one warning line)."""
    global _warned
    if confined is False:
        return False
    if bwrap():
        return True
    if confined and sys.platform.startswith("linux"):
        raise NoSandbox(
            _(
                "Virtual boards run inside bubblewrap, which is not installed: install it"
                " (Debian/Ubuntu: sudo apt install bubblewrap), or for development only use 'jazari sim --unconfined'."
            )
        )
    if not _warned:
        from jazari.console import console

        _warned = True
        console.warn(_("This virtual board is not confined by the system (no bubblewrap here): run only code you trust on it."))
    return False
