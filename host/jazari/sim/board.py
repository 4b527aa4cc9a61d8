"""Virtual boards from Python.

    with VirtualBoard("esp32") as board:      # returns once the REPL answers
        subprocess.run(["mpremote", "connect", board.port, "ls"])
        board.events()                          # what the LED and pins did

    boards = start_boards(8, scenario="walking")   # started in parallel

Each board is a supervisor process (jazari.sim.supervisor) that lives until
`stop()`, or until this process ends (its stdin is a pipe from here).
"""

import hashlib
import importlib.util
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.paths import firmware_dir
from jazari.sim.flash_file import check_flash_file
from jazari.sim.profiles import check_scenario, get_profile
from jazari.sim.sandbox import use_sandbox

START_TIMEOUT = 90  # seconds; a loaded classroom laptop may boot many boards at once
STOP_TIMEOUT = 5
# Locally administered MAC prefix ("JZ"): never mistaken for a real Espressif chip.
_UID_PREFIX = b"\x02\x4a\x5a"
# The kit's code goes on a virtual board precompiled for the machine it runs
# on (viper needs the native architecture); elsewhere it goes as source.
NATIVE_MARCH = "x64" if platform.machine().lower() in ("x86_64", "amd64") else None


def check_platform():
    """Refuse, in one line, where the MicroPython Unix port does not exist."""
    if importlib.util.find_spec("micropython_run") is None:
        raise JazariError(
            _(
                "Virtual boards need the MicroPython Unix port, built only for Linux x86-64 and macOS arm64"
                " (this is {system} {machine}): use a real board over USB instead ('jazari boards' lists them)."
            ).format(system=platform.system(), machine=platform.machine())
        )


def uid_for(flash):
    """A board's unique id (its MAC, as hex): fixed by its flash file, as a chip's by its eFuses."""
    digest = hashlib.sha256(str(Path(flash).resolve()).encode()).digest()
    return (_UID_PREFIX + digest[:3]).hex()


@dataclass(frozen=True)
class Event:
    """One line of the board's event log: `pin 2 1 <t_us>` is Event("pin", (2, 1), t_us)."""

    kind: str
    args: tuple
    t_us: int


def _number(text):
    try:
        return int(text)
    except ValueError:
        return text


def parse_events(text):
    events = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[-1].isdigit():
            events.append(Event(words[0], tuple(_number(word) for word in words[1:-1]), int(words[-1])))
    return events


class VirtualBoard:
    """One virtual board. `flash`: its flash file (made, holding firmware/, if
    missing); `workdir`: where its files go (default: a temporary folder
    removed at stop); `name`: its registry name (default `sim-<profile>-<n>`);
    `download_mode`: start in the ROM bootloader, as if BOOT were held at
    reset (esptool flashes it; it boots MicroPython once esptool lets go);
    `confined`: run MicroPython inside bubblewrap (docs/security.md): True
    requires it on Linux, False does without, None (the kit's own uses)
    confines where bwrap exists and warns once where it does not."""

    def __init__(
        self, profile="esp32", scenario=None, baud=None, flash=None, workdir=None, name=None, download_mode=False, confined=None
    ):
        self.profile = get_profile(profile)
        self.confined = confined
        self.download_mode = download_mode  # started with BOOT held: its ROM bootloader waits for esptool
        self.scenario = check_scenario(scenario)
        self.baud = baud
        self.name = name
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="jazari-sim-", dir=workdir))
        self.flash = Path(flash).expanduser().resolve() if flash else self.workdir / "flash.bin"
        self.events_file = self.workdir / "events.log"
        self.log_file = self.workdir / "supervisor.log"
        self.uid = uid_for(self.flash)
        # port: the stable symlink tools are told about; device: the pty it points
        # to (mpremote runs faster on a /dev/pts/ path: it polls other paths).
        self.port = self.device = None
        self._process = None

    def start(self, timeout=START_TIMEOUT):
        """Start the board; return it once its REPL (in download mode: its ROM bootloader) is ready."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self):
        check_platform()
        confined = use_sandbox(self.confined)
        if not self.flash.exists():
            from jazari.flash.vfs import new_flash_file

            new_flash_file(self.flash, chip=self.profile.chip.lower().replace("-", ""), march=NATIVE_MARCH)
        elif not self.download_mode:
            check_flash_file(self.flash)  # in download mode esptool is about to write it
        self.events_file.touch()
        config = {
            "profile": self.profile.name,
            "name": self.name,
            "flash": str(self.flash),
            "events": str(self.events_file),
            "scenario": self.scenario,
            "baud": self.baud,
            "uid": self.uid,
            "firmware": str(firmware_dir()),
            # JAZARI_SIM_START: another boot script, for work on firmware/sim itself.
            "start": os.environ.get("JAZARI_SIM_START") or str(firmware_dir() / "sim" / "start.py"),
            "scratch": str(self.workdir) if self._own_workdir else None,
            "download_mode": self.download_mode,
            "confined": confined,
        }
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "jazari.sim.supervisor", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C in the terminal is for us; we stop the boards
            )

    def wait_ready(self, timeout=START_TIMEOUT):
        answer = self._read_answer(timeout)
        if "port" not in answer:
            self.stop(keep_files=True)  # its log says what went wrong
            raise JazariError(self._failure(answer))
        self.port, self.device, self.name = answer["port"], answer["device"], answer["name"]
        return self

    def _read_answer(self, timeout):
        out = self._process.stdout
        if not select.select([out], [], [], timeout)[0]:
            return {"error": "timeout"}
        line = out.readline()
        try:
            return json.loads(line)
        except ValueError:
            return {"error": "exited"}

    def _failure(self, answer):
        error = answer.get("error")
        if error == "name taken":
            return _("A virtual board called '{name}' is already running.").format(name=self.name)
        if error == "flash in use":
            return _("The flash file {flash} is already used by a running virtual board.").format(flash=self.flash)
        output = answer.get("output", "").strip().splitlines()
        if output:
            return _("The virtual board stopped while booting: {last_line}").format(last_line=output[-1])
        return _("The virtual board did not start in time; see {log}.").format(log=self.log_file)

    def reset(self, download=False):
        """Hard reset, like the EN button: the flash (the board's files) is kept.
        With `download`, BOOT is held meanwhile: the board waits in its ROM
        bootloader for esptool; a plain reset leaves download mode and boots."""
        self._tell("download" if download else "reset")

    def unplug(self):
        """Pull the USB cable: the port disappears (a program that has it open
        gets errors on its next read or write, as with a real cable pulled)
        and the board loses power. Returns once the port is gone."""
        self._tell("unplug")
        answer = self._read_answer(STOP_TIMEOUT)
        if "unplugged" not in answer:
            raise JazariError(self._failure(answer))
        self.device = None

    def replug(self, timeout=START_TIMEOUT):
        """Plug the cable in again: the same `port`, a new `device` behind it,
        and a board booting from power-on (its flash kept). Returns once its
        REPL answers."""
        self._tell("replug")
        answer = self._read_answer(timeout)
        if "device" not in answer:
            raise JazariError(self._failure(answer))
        self.device = answer["device"]
        return self

    def wait_boot(self, after=0, timeout=START_TIMEOUT):
        """Wait until MicroPython has booted more than `after` times (a download-mode
        board boots once esptool lets go); return how many times it has."""
        deadline = time.monotonic() + timeout
        while True:
            boots = sum(1 for event in self.events() if event.kind == "boot")
            if boots > after:
                return boots
            if time.monotonic() > deadline or not self.running:
                raise JazariError(_("The virtual board did not start in time; see {log}.").format(log=self.log_file))
            time.sleep(0.05)

    def events(self):
        """What the board logged: LED and pin changes, boots and resets, in order."""
        return parse_events(self.events_file.read_text())

    def _tell(self, command):
        if self._process is not None and self._process.poll() is None:
            self._process.stdin.write(command.encode() + b"\n")
            self._process.stdin.flush()

    def stop(self, keep_files=False):
        process, self._process = self._process, None
        if process is not None:
            try:
                process.stdin.close()  # the supervisor stops when its stdin ends
            except OSError:
                pass
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
        if self._own_workdir and not keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def __enter__(self):
        return self if self.running else self.start()

    def __exit__(self, *_exc):
        self.stop()

    def __repr__(self):
        return f"VirtualBoard({self.profile.name!r}, port={self.port!r})"


def start_boards(count, timeout=START_TIMEOUT, **options):
    """Start `count` boards at once; return them when all answer (or stop them all and raise)."""
    boards = [VirtualBoard(**options) for _ in range(count)]
    try:
        for board in boards:
            board.launch()
        deadline = time.monotonic() + timeout
        for board in boards:
            board.wait_ready(max(1.0, deadline - time.monotonic()))
    except BaseException:
        for board in boards:
            board.stop()
        raise
    return boards
