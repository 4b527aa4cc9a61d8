"""Which virtual boards are running: one small JSON file per board.

Each supervisor claims a name (`sim-esp32-0`, `sim-esp32-1`, ...) by
creating `<runtime dir>/boards/<name>.json` under a lock, so boards started
at the same time never share a name. The file is removed when the board stops;
a file whose process has died (killed, power cut) is stale and ignored, and
its name is free again. The stable symlink to the board's serial port
lives next to it: `<runtime dir>/<name>`.

The runtime dir is $JAZARI_RUNTIME_DIR, else $XDG_RUNTIME_DIR/jazari, else
<tmp>/jazari-<uid>; tests set JAZARI_RUNTIME_DIR to keep their boards apart.
"""

import fcntl
import json
import os
import tempfile
from pathlib import Path

_MAX_BOARDS = 256
_SUPERVISOR = b"jazari.sim.supervisor"


def runtime_dir():
    chosen = os.environ.get("JAZARI_RUNTIME_DIR")
    if chosen:
        path = Path(chosen)
    elif os.environ.get("XDG_RUNTIME_DIR") and os.access(os.environ["XDG_RUNTIME_DIR"], os.W_OK):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "jazari"
    else:
        path = Path(tempfile.gettempdir()) / f"jazari-{os.getuid()}"
    (path / "boards").mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _alive(pid):
    """Whether `pid` is a running supervisor (on Linux its command line says
    so: a killed supervisor's number may have gone to another program)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return _SUPERVISOR in cmdline.read()
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")  # no /proc (macOS): the signal test is all there is
    except OSError:
        return True


def _read(entry_file):
    try:
        entry = json.loads(entry_file.read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and _alive(entry.get("pid", 0)) else None


def _try_claim(entry_file):
    """Create the entry file, unless a live board has it (a stale one is replaced)."""
    if entry_file.exists() and _read(entry_file) is not None:
        return False
    scratch = entry_file.with_suffix(f".{os.getpid()}")
    scratch.write_text(json.dumps({"pid": os.getpid()}))
    os.replace(scratch, entry_file)
    return True


def remove_stale_links():
    """Remove the port links a killed supervisor left: they point at a
    pseudo-terminal the system may since have given to another program."""
    folder = runtime_dir()
    for link in folder.iterdir():
        if not link.is_symlink() or "." in link.name:
            continue  # a link being made (`<name>.<pid>`) is its maker's
        entry = _read(folder / "boards" / f"{link.name}.json")
        owned = entry is not None and entry.get("device", os.readlink(link)) == os.readlink(link)
        if not owned:
            link.unlink(missing_ok=True)


def claim(profile, name=None):
    """Reserve a board name for this process: `name`, or the first free `sim-<profile>-<n>`."""
    boards = runtime_dir() / "boards"
    with open(boards / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one claim at a time: parallel starts get distinct names
        remove_stale_links()
        if name:
            return name if _try_claim(boards / f"{name}.json") else None
        for index in range(_MAX_BOARDS):
            candidate = f"sim-{profile}-{index}"
            if _try_claim(boards / f"{candidate}.json"):
                return candidate
    return None


def publish(name, entry):
    """Write the running board's description (port, profile, uid...) atomically."""
    entry_file = runtime_dir() / "boards" / f"{name}.json"
    scratch = entry_file.with_suffix(".tmp")
    scratch.write_text(json.dumps(dict(entry, name=name, pid=os.getpid()), indent=1))
    os.replace(scratch, entry_file)


def release(name):
    (runtime_dir() / "boards" / f"{name}.json").unlink(missing_ok=True)


def board_entry(name):
    """The description of the running board called `name` (with `unplugged`
    and no port while its cable is out), or None."""
    return _read(runtime_dir() / "boards" / f"{name}.json")


def running_boards():
    """The boards whose supervisor is alive, sorted by name; each a dict with
    name, pid, port, profile, chip, uid, flash, events."""
    remove_stale_links()
    boards = runtime_dir() / "boards"
    entries = (_read(path) for path in sorted(boards.glob("*.json")))
    return [entry for entry in entries if entry and "port" in entry]
