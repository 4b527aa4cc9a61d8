"""Bringing back a board that does not answer (docs/recovery.md).

    moved, info = recover(port)     # [(old path, new path)] or None, the board's info

A board that answers as it is, and again after a normal reset, is left alone
(moved is None): nothing at boot stops it, so nothing of the student's is
blamed. Otherwise a virtual board gets a safe boot: its supervisor restarts it as if BOOT were
held, so neither boot.py nor main.py runs (on a real board the kit's boot.py
stops when BOOT is held just after a reset, so main.py does not run; boot.py
itself always runs there: a bad one needs --reflash). A real board gets what software can do: the
REPL tools' Ctrl-C, which also ends link mode, then the link's break after
zeros that end any frame it was reading. Once the board answers, whatever
would run at boot and is not the kit's own is set aside: renamed, never
deleted, under a name that says why. (`reflash` does the same through the
ROM bootloader, for a board that nothing here reaches.)
"""

import ast
import os
import time
from pathlib import Path

import serial

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.link.device import ANSWER_TIMEOUT, Device, not_answering
from jazari.link.ports import virtual_board_at
from jazari.paths import firmware_dir

SAFE_BOOT_TIMEOUT = 20.0  # seconds for a virtual board to restart (a boot loop's pause included)
ASIDE = ".set-aside"  # main.py -> main.py.set-aside (then .set-aside-2, ...)
BOOT_FILES = ("boot.py", "main.py")
HOLD_MS = 500  # a healthy board at its raw REPL stays silent this long
QUIET_TRIES = 3  # quiet spells of HOLD_MS tried before a board that keeps talking counts as restarting
CHECK_TIMEOUT = 2.0  # seconds a healthy board at its raw REPL needs at most to answer  # what MicroPython runs at every start, in that order


def recover(port):
    """Bring the board on `port` back to its REPL; (files set aside, its info).

    Files set aside: None when the board was fine (see `healthy`)."""
    device = healthy(port)
    if device is not None:
        with device:
            return None, device.info()
    entry = virtual_board_at(port)
    if entry is not None:
        _safe_boot(port, entry)
        try:
            device = answering(port, time.monotonic() + SAFE_BOOT_TIMEOUT)
        except JazariError:
            raise _not_back(port) from None
    else:
        device = _reach(port)
    with device:
        moved = set_aside(device)
        return moved, device.info()


def healthy(port):
    """The board at its raw REPL if it answers as it is and after a normal reset
    (machine.reset(): boot.py and main.py run again), each time after HOLD_MS
    of quiet (a timer that resets it answers once, by luck); else None."""
    try:
        device = Device.open(port)
    except JazariError:
        return None
    try:
        _holds(device)  # a board that fails here is not reset: it is not healthy now
        device.hard_reset()
        _holds(device)
        return device
    except JazariError:
        device.close()
        return None


def _holds(device):
    """Raise JazariError unless the board, at its raw REPL, stays silent for HOLD_MS (one
    that restarts prints its boot lines) and then answers `info`. Nothing is run on it
    before that: mpremote waits as long as bytes keep coming, and a board resetting
    every few milliseconds never stops sending them."""
    line = device.transport.serial
    for _hold in range(QUIET_TRIES):  # a slow boot on a busy computer is quiet at last; a board resetting never
        time.sleep(HOLD_MS / 1000)
        try:
            said = line.read(line.in_waiting)
        except (OSError, serial.SerialException):
            raise not_answering(device.port) from None
        if not said.strip(b">"):  # nothing more than the raw REPL's prompt
            break
    else:
        raise not_answering(device.port)
    device.enter_raw_repl(CHECK_TIMEOUT)  # a fresh prompt for what runs next
    device.info(timeout=CHECK_TIMEOUT)


def _safe_boot(port, entry):
    """Ask the virtual board's supervisor for a safe boot; wait until it has begun."""
    from jazari.sim.supervisor import SAFE_BOOT_SIGNAL

    events = Path(entry["events"])
    mark = events.stat().st_size
    os.kill(entry["pid"], SAFE_BOOT_SIGNAL)
    deadline = time.monotonic() + SAFE_BOOT_TIMEOUT
    while time.monotonic() < deadline:
        with open(events, "rb") as log:
            log.seek(mark)
            if b"\nsafe boot " in b"\n" + log.read():
                return
        time.sleep(0.05)
    raise _not_back(port)


def answering(port, deadline):
    """The board at its raw REPL, tried until `deadline` (it may still be booting)."""
    while True:
        try:
            return Device.open(port, timeout=ANSWER_TIMEOUT)
        except JazariError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _not_back(port):
    return JazariError(
        _("The virtual board on {port} does not come back. Stop its 'jazari sim' (Ctrl-C) and start it again: its files are kept.").format(port=port)
    )


def _reach(port):
    """A real board at its raw REPL, by what software can do; else the steps to take."""
    from jazari.link.session import BREAK

    try:
        return Device.open(port)
    except JazariError:
        pass
    device = Device.attach(port)
    try:
        device.transport.serial.write(BREAK)  # a board stuck inside a frame: zeros end it, then the break
        device.enter_raw_repl(ANSWER_TIMEOUT)
        return device
    except (JazariError, OSError):
        device.close()
    raise JazariError(
        _("The board on {port} does not answer. Press and release EN (RESET), then at once hold BOOT for about two seconds, until it prints 'safe boot', and run 'jazari recover {port}' again. If its boot.py is what stops it, run 'jazari recover {port} --reflash'.").format(port=port)
    )


def kit_programs():
    """The programs the kit's main.py runs, first found first (its PROGRAMS)."""
    tree = ast.parse((firmware_dir() / "main.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PROGRAMS":
            return ast.literal_eval(node.value)
    return ()


def set_aside(device):
    """Rename, on a board at its REPL, what would run at boot and is not the
    kit's (see `renames`). [(old path, new path)]."""
    names = set(device.eval("__import__('os').listdir('/')"))
    moved = renames(names, device.get)
    for old, new in moved:
        device.exec("import os\nos.rename(%r, %r)" % (old, new))
    return moved


def renames(names, read):
    """[(old path, new path)] for what would run at boot and is not the kit's:
    boot.py and main.py when they are not the kit's (a boot.py of comments
    only stays), else the program the kit's main.py starts. `names`: the
    names in /; `read(path)`: a file's bytes."""
    kit = firmware_dir()
    suspects = []
    for name in BOOT_FILES:
        if name in names:
            text = read("/" + name)
            if text != (kit / name).read_bytes() and (name == "main.py" or _has_code(text)):
                suspects.append(name)
    if "main.py" in names and "main.py" not in suspects:
        suspects += [name for name in kit_programs() if name in names][:1]
    taken = set(names)
    moved = []
    for name in suspects:
        new = _free_name(name, taken)
        taken.add(new)
        moved.append(("/" + name, "/" + new))
    return moved


def _has_code(text):
    lines = (line.strip() for line in text.splitlines())
    return any(line and not line.startswith(b"#") for line in lines)


def _free_name(name, taken):
    new, count = name + ASIDE, 1
    while new in taken:
        count += 1
        new = f"{name}{ASIDE}-{count}"
    return new
