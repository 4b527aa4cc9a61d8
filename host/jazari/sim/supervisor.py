"""The virtual board's supervisor: makes a MicroPython process look like an
ESP32 on a serial port.

    tool (mpremote, Thonny...) <-> outer pty <-> supervisor <-> inner pty <-> MicroPython

- The outer pseudo-terminal is the board's serial port (with a stable
  symlink, `<runtime dir>/<name>`); the inner one is the controlling
  terminal of the MicroPython process. Both are raw: bytes pass unchanged
  both ways; Ctrl-C interrupts running code as on a board (terminals.py).
- The Unix port exits on Ctrl-D at the REPL; a board reboots. So each exit
  is a reset: "MPY: soft reboot" and a new process, in the raw REPL again if
  the old one was in it (mpremote relies on that); `machine.reset()` and a
  crash restart it as a hard reset, with what the chip's ROM prints.
- Backpressure, not loss: when the tool does not read, the supervisor stops
  reading MicroPython, whose writes then wait. When no tool has the port
  open, output goes nowhere, as from a board's UART with nothing attached.
- `baud` paces both directions at a UART's rate (stream.py); in download
  mode at the rate the ROM bootloader and the tool speak at.
- Download mode (BOOT held at reset, `machine.bootloader()`): no MicroPython
  runs; the ROM bootloader answers esptool (rom_bootloader.py) and writes the
  flash file; when it lets go (the tool asks for the app, or closes the port
  after writing flash) MicroPython boots from that flash.

- The USB cable pulled ("unplug"): the outer pty closes, so a tool's reads
  and writes on it fail as on a vanished USB port, the stable symlink goes,
  and the board loses power (MicroPython is killed, no ROM message: nobody
  could read it). Plugged in again ("replug"): a new pty behind the same
  symlink, and a power-on boot from the flash.

Run as `python -m jazari.sim.supervisor CONFIG_JSON` by `jazari.sim.board`:
it prints one JSON line on stdout when the REPL is ready (or fails), then
serves until its stdin closes, "stop" arrives or SIGTERM. Commands, one a
line on stdin: "reset" is a hard reset (EN), "download" a reset with BOOT
held (download mode), "safe" a reset into a safe boot (neither boot.py nor
main.py runs, as the kit's boot.py does with BOOT held), "unplug" and
"replug" pull and plug the cable (each answered by a JSON line:
`{"unplugged": ...}`, then the board's entry once its REPL is ready again).
SIGUSR1 and SIGUSR2 (`jazari sim --unplug/--replug`) unplug and replug too,
SIGURG (`jazari recover`) asks for the safe boot.
"""

import fcntl
import json
import os
import select
import shutil
import signal
import sys
import time

from jazari.sim import registry, sandbox
from jazari.sim.profiles import get_profile
from jazari.sim.rom_bootloader import RomBootloader
from jazari.sim.stream import LineRate, RawRestart, ReplMode, TextLines
from jazari.sim.terminals import CTRL_C, Child, OuterPort

HIGH_WATER = 4096  # bytes held for a slow tool (or a busy board) before the other side waits
NO_TOOL_RECHECK = 0.05  # seconds between checks whether a tool opened the port
BOOT_PATIENCE = 10.0  # seconds of boot (a main.py that loops) after which the board counts as up
QUICK_DEATH = 1.0  # a child dying younger than this is restarted after a growing pause
MAX_PAUSE = 2.0
MARK_PATIENCE = 0.002  # seconds a possible link mark waits for the rest of itself (stream.TextLines)

# machine.reset_cause() values of the ESP32 port. firmware/sim/machine.py ends
# the process with HARD_RESET (machine.reset), WDT_RESET (watchdog not fed),
# DEEPSLEEP_RESET (deepsleep) or EXIT_BOOTLOADER (machine.bootloader: download
# mode, handled before reset_kind); any other exit is the Unix
# port leaving its REPL (Ctrl-D, sys.exit, machine.soft_reset): a soft reset.
# The next boot's cause goes to the child in JAZARI_RESET_CAUSE.
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
EXIT_BAD_FLASH = 6  # start.py: this flash cannot boot (a board's bootloader stops and resets)
EXIT_BOOTLOADER = 7
_HARD_EXITS = {
    HARD_RESET: (HARD_RESET, "software"),
    WDT_RESET: (WDT_RESET, "watchdog"),
    DEEPSLEEP_RESET: (DEEPSLEEP_RESET, "deepsleep"),
}

SOFT_REBOOT = b"MPY: soft reboot\r\n"
SAFE_BOOT_SIGNAL = signal.SIGURG  # from `jazari recover`: reset into a safe boot

# From an interrupt handler firmware/sim cannot raise SystemExit: it logs
# "reset <kind>" to the event log and ends the process with SIGTERM.
_LOGGED_RESETS = {"soft": 0, "hard": HARD_RESET, "wdt": WDT_RESET, "deepsleep": DEEPSLEEP_RESET, "bootloader": EXIT_BOOTLOADER}


def reset_kind(code, asked, logged=None):
    """(reset cause for the next boot, what the ROM prints or None for a soft reset)
    after MicroPython exited with `code` (negative: killed by that signal);
    `asked`: the host pressed EN (VirtualBoard.reset); `logged`: the kind of
    the last "reset" line this process wrote to the event log, if any."""
    if asked:
        return PWRON_RESET, "poweron"
    if code == -signal.SIGTERM and logged in _LOGGED_RESETS:
        code = _LOGGED_RESETS[logged]
    if code == -signal.SIGINT:
        # A Ctrl-C that met code just finishing (its handler already reset):
        # the board loses its state, as in a soft reset, and says no more.
        return SOFT_RESET, None
    if code in _HARD_EXITS:
        return _HARD_EXITS[code]
    if code < 0 or code == EXIT_BAD_FLASH:
        return HARD_RESET, "panic"
    return SOFT_RESET, None


def logged_reset(events_path, since):
    """The kind in the last "reset <kind> <t_us>" line written after offset `since`."""
    try:
        with open(events_path, "rb") as log:
            log.seek(since)
            lines = log.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    resets = [line.split() for line in lines if line.startswith("reset ")]
    return resets[-1][1] if resets and len(resets[-1]) > 2 else None


class Stopped(Exception):
    pass


class Supervisor:
    """One virtual board. `config` (from jazari.sim.board): profile, name, flash,
    events, scenario, baud, uid, firmware, start (the boot script)."""

    def __init__(self, config):
        self.config = config
        self.profile = get_profile(config["profile"])
        self.port = OuterPort()
        self.to_tool, self.to_child = bytearray(), bytearray()  # to_child: the tool's bytes, for MicroPython or the ROM
        self._pace(config.get("baud"))
        self.mode = ReplMode()
        self.lines = TextLines()
        self.restart = None  # RawRestart while a child comes back in the raw REPL
        self.child = None
        self.respawn_at = None
        self.quick_deaths = 0
        self.reset_asked = False
        self.ready = False
        self.boot_log = bytearray()  # the first boot's output, to explain a failure
        self.events_mark = 0  # size of the event log when the current child started
        self.rom = None  # the ROM bootloader while in download mode
        self.download_asked = False
        self.had_tool = False  # a tool had the port open at the last look
        self.waking_by = None  # after a replug: when to count it as up even without a prompt
        self.answering = False  # the command being run came from the parent, which waits for its answer
        self.waking_answer = False  # answer the parent once the replugged board is up
        self.safe_boot = False  # the next boot skips boot.py and main.py (jazari recover)

    def _pace(self, baud):
        """Both directions of the line at `baud` bits a second (None: unpaced)."""
        self.down, self.up = LineRate(baud), LineRate(baud)  # down: to the tool, up: from it

    # -- the MicroPython process

    def _child_env(self, cause, raw):
        env = dict(os.environ)
        env.update(
            JAZARI_FLASH=self.config["flash"],
            JAZARI_EVENTS=self.config["events"],
            JAZARI_SCENARIO=self.config.get("scenario") or "still",
            JAZARI_PROFILE=self.profile.name,
            JAZARI_HEAP=str(self.profile.heap),  # what programs see, as on the board (profiles.py)
            JAZARI_UID=self.config["uid"],
            JAZARI_FIRMWARE=self.config["firmware"],
            JAZARI_RESET_CAUSE=str(cause),
            JAZARI_REPL="raw" if raw else "friendly",
            JAZARI_SAFE_BOOT=self._take_safe_boot(),
        )
        for stale in ("JAZARI_ROM_ADDR", "JAZARI_ROM_SIZE"):
            env.pop(stale, None)
        return env

    def _spawn(self, cause=PWRON_RESET, raw=False):
        argv = [sys.executable, "-m", "jazari.sim.launcher", str(self.profile.heapsize), self.config["start"]]
        env = self._child_env(cause, raw)
        confined = self.config.get("confined", False)
        if confined:
            argv, env = sandbox.command(argv, self.config), sandbox.environment(env)
        self.events_mark = os.path.getsize(self.config["events"])
        self.child = Child(argv, env, os.path.dirname(self.config["events"]), confined)
        self.mode = ReplMode()
        self.lines = TextLines()  # a new boot prints text until the link marks frames
        self.restart = RawRestart() if raw else None
        self.respawn_at = None

    def _accepting_input(self):
        return self.child is not None and self.restart is None

    def _from_child(self, data):
        if not self.ready:
            self.boot_log += data
        if self.restart is not None:
            data, request = self.restart.feed(data)
            if request:
                self.child.write(request)
            if self.restart.done:
                self.restart = None
        self.mode.feed(data)
        self.to_tool += self.lines.feed(data)
        if not self.ready and self.mode.prompted:
            self._announce()
        elif self.waking_by and self.mode.prompted:
            self._woken()

    def _child_ended(self):
        self.to_tool += self.lines.flush()
        code = self.child.finish()
        lived = time.monotonic() - self.child.born
        self.child = None
        logged = logged_reset(self.config["events"], self.events_mark) if code < 0 else None
        if self.download_asked or code == EXIT_BOOTLOADER or (code == -signal.SIGTERM and logged == "bootloader"):
            self._enter_download("poweron" if self.download_asked else "software")
            self.reset_asked = False
            return
        cause, rom = reset_kind(code, self.reset_asked, logged)
        if not self.ready and cause in (SOFT_RESET, HARD_RESET) and rom in (None, "panic"):
            # Ended before its first prompt, and not by a reset it asked for
            # (machine.reset() or deepsleep() in main.py just boot it again).
            self._announce(error=f"MicroPython exited with code {code} while booting")
            raise Stopped
        if rom == "panic":
            why = signal.Signals(-code).name if code < 0 else "its flash cannot boot"
            self.to_tool += f"\r\nGuru Meditation Error: MicroPython died ({why}). Rebooting...\r\n".encode()
        self.to_tool += b"\r\n" + self.profile.reset_text(rom).encode() if rom else SOFT_REBOOT
        self.reset_asked = False
        # A board that keeps crashing at boot is restarted ever more slowly, not in a tight loop.
        self.quick_deaths = self.quick_deaths + 1 if lived < QUICK_DEATH and rom else 0
        pause = min(MAX_PAUSE, 0.05 * 2**self.quick_deaths) if self.quick_deaths > 1 else 0
        self.respawn_at = (time.monotonic() + pause, cause, cause == SOFT_RESET and self.mode.raw)

    def hard_reset(self, download=False):
        """Like pressing EN: the MicroPython process is killed and started again;
        with `download`, BOOT is held meanwhile: the board stays in its ROM bootloader."""
        if self.port is None:
            return  # unplugged: no power, the button does nothing
        if self.rom is not None:
            self._leave_download("rom" if download else "app")
        elif self.child is not None:
            self.reset_asked = True
            self.download_asked = download
            self.child.kill()
        elif download:
            self._enter_download("poweron")

    def reset_safely(self):
        """A reset as if BOOT were held while the kit boots: the next MicroPython
        runs neither boot.py nor main.py (a pending respawn, in a boot loop, too)."""
        if self.port is None:
            return  # unplugged: no power, and no later boot to make safe
        self.safe_boot = True
        self.hard_reset()

    def _take_safe_boot(self):
        """"1" for the one boot a safe reset asked for, then "" again."""
        asked, self.safe_boot = self.safe_boot, False
        return "1" if asked else ""

    # -- the USB cable

    def unplug(self):
        """The cable pulled: the port vanishes and the board loses power."""
        if self.port is None:
            self._answer({"unplugged": self.config["name"]})
            return
        self._power_off()
        self.respawn_at = self.restart = self.waking_by = None
        self.reset_asked = self.download_asked = self.had_tool = False
        self.to_tool.clear()
        self.to_child.clear()
        _unlink(self.config["link"], self.port.device)
        os.close(self.port.fd)  # a tool's reads and writes on its end now fail (EIO)
        self.port = None
        self._publish()  # without a port: not listed
        self._answer({"unplugged": self.config["name"]})

    def replug(self):
        """The cable plugged in again: the same port path, a board that boots from power-on."""
        if self.port is not None:
            self._answer(self.entry())
            return
        self.port = OuterPort()
        _link(self.config["link"], self.port.device)
        self._pace(self.config.get("baud"))
        self._publish()
        self._spawn(PWRON_RESET)
        self.waking_by = time.monotonic() + BOOT_PATIENCE
        self.waking_answer = self.answering

    def _woken(self):
        self.waking_by = None
        if self.waking_answer:
            _answer(self.entry())

    def _answer(self, message):
        if self.answering:
            _answer(message)

    # -- download mode

    def _enter_download(self, why):
        self.respawn_at = None
        self.download_asked = False
        self.to_child.clear()
        mac = bytes.fromhex(self.config["uid"])
        self.rom = RomBootloader(self.profile.chip, self.config["flash"], mac, self.profile.psram)
        self.to_tool += b"\r\n" + self.profile.reset_text(why, download=True).encode()
        if not self.ready:
            self._announce()
        else:
            self._publish()  # `jazari flash --all` takes the boards waiting in download mode

    def _leave_download(self, where):
        """The ROM let go: back into it ("rom", a reset with BOOT still latched)
        or MicroPython boots from the flash it wrote ("app")."""
        rom, self.rom = self.rom, None
        rom.close()
        self.to_child.clear()  # what the ROM had not read yet is lost in the reset
        self._pace(self.config.get("baud"))
        if where == "rom":
            self._enter_download("software")
        else:
            self.to_tool += b"\r\n" + self.profile.reset_text("poweron").encode()
            self._spawn(PWRON_RESET)
            self._publish()  # no longer in download mode

    def _to_rom(self, data):
        """The tool's bytes, as the ROM's UART receives them; how many it took."""
        rom = self.rom
        self.to_tool += rom.feed(data)
        if rom.exit:
            self._leave_download(rom.exit)
        return len(data)

    def _follow_rom_rate(self):
        """A paced line in download mode runs at the chip's rate (the tool's, or
        the one CHANGE_BAUDRATE set), switched once the line is quiet: the reply
        to CHANGE_BAUDRATE leaves at the old rate, and the tool waits for it."""
        rate = self.rom.baud
        if self.config.get("baud") and rate != self.down.baud and not self.to_tool:
            self._pace(rate)

    def _tool_left(self):
        """The tool closed the port: what it sent before closing still arrives, as
        from a cable (MicroPython gets it as usual); for the ROM bootloader, the
        end of a session once that has reached it."""
        while chunk := self.port.read():
            self.to_child += chunk
        if self.rom is None:
            return
        sent = bytes(self.to_child)
        self.to_child.clear()
        if sent:
            self._to_rom(sent)
        if self.rom is not None:
            self.rom.hang_up()
            if self.rom.exit:
                self._leave_download(self.rom.exit)

    # -- telling the parent

    def _announce(self, error=None):
        if error:
            message = {"error": error, "output": self.boot_log[-2000:].decode("utf-8", "replace")}
            sys.stderr.write(f"{error}; its output:\n{message['output']}\n")
        else:
            self.ready = True
            message = self.entry()
            self._publish()
        _answer(message)

    def _publish(self):
        """The registry's entry says what the board is now (port, download mode...)."""
        registry.publish(self.config["name"], self.entry())

    def entry(self):
        if self.port is None:
            return {"name": self.config["name"], "profile": self.profile.name, "unplugged": True}
        return {
            "name": self.config["name"],
            "port": self.config["link"],
            "device": self.port.device,
            "profile": self.profile.name,
            "chip": self.profile.chip,
            "uid": self.config["uid"],
            "flash": self.config["flash"],
            "events": self.config["events"],
            "baud": self.config.get("baud"),
            "download": self.rom is not None,
        }

    def _control(self, control_fd, from_parent=True):
        lines = os.read(control_fd, 256)
        if not lines:
            raise Stopped
        self.answering = from_parent  # signals (jazari sim --unplug) get no answer
        for command in lines.split():
            if command == b"stop":
                raise Stopped
            action = self._COMMANDS.get(command)
            if action:
                action(self)

    _COMMANDS = {
        b"reset": hard_reset,
        b"download": lambda self: self.hard_reset(download=True),
        b"safe": reset_safely,
        b"unplug": unplug,
        b"replug": replug,
    }

    # -- the loop

    def serve(self, control_fd, signal_fd=None):
        """Move bytes until told to stop; `signal_fd` carries commands from signal handlers."""
        if self.config.get("download_mode"):
            self._enter_download("poweron")
        else:
            self._spawn()
        boot_deadline = time.monotonic() + BOOT_PATIENCE
        while True:
            now = time.monotonic()
            if self.respawn_at and now >= self.respawn_at[0]:
                self._spawn(*self.respawn_at[1:])
            if not self.ready and now > boot_deadline and self.child is not None:
                self._announce()
            if self.waking_by and now > self.waking_by:
                self._woken()  # a main.py that loops: up, though no prompt shows
            readers, writers, timeout = self._plan(now, control_fd)
            if signal_fd is not None:
                readers.append(signal_fd)
            readable, writable, _ = select.select(readers, writers, [], timeout)
            if signal_fd in readable:
                self._control(signal_fd, from_parent=False)
            self._move(readable, writable, control_fd)

    def _plan(self, now, control_fd):
        readers, writers, timeouts = [control_fd], [], [BOOT_PATIENCE]
        connected = self.port is not None and self.port.tool_connected()
        if self.had_tool and not connected:
            self._tool_left()
        self.had_tool = connected
        if not connected:
            self.to_tool.clear()  # nobody listening: the bytes go nowhere, as from a UART
            timeouts.append(NO_TOOL_RECHECK)
        if self.child is not None and len(self.to_tool) < HIGH_WATER:
            readers.append(self.child.fd)
        if connected and len(self.to_child) < HIGH_WATER:
            readers.append(self.port.fd)
        if self.rom is not None:
            self._follow_rom_rate()
        if connected and self.to_tool:
            self._plan_write(self.down, self.port.fd, now, writers, timeouts)
        if self.to_child and self.rom is not None:
            timeouts.append(self.up.wait(now))  # the ROM takes them as the line delivers them
        elif self.to_child and self._accepting_input():
            self._plan_write(self.up, self.child.fd, now, writers, timeouts)
        elif self.to_child[:1] == CTRL_C and self.child is not None:
            writers.append(self.child.fd)  # held input waits, but Ctrl-C still stops a boot.py that loops
        if self.respawn_at:
            timeouts.append(max(0.0, self.respawn_at[0] - now))
        if self.child is not None and self.lines.pending:
            timeouts.append(MARK_PATIENCE)
        return readers, writers, min(timeouts)

    @staticmethod
    def _plan_write(line, fd, now, writers, timeouts):
        wait = line.wait(now)
        if wait:
            timeouts.append(wait)
        else:
            writers.append(fd)

    def _move(self, readable, writable, control_fd):
        if control_fd in readable:
            self._control(control_fd)
        child = self.child
        if child is not None and child.fd in readable:
            data = child.read()
            if data is None:
                self._child_ended()
            elif data:
                self._from_child(data)
        elif child is not None and self.lines.pending:
            self.to_tool += self.lines.flush()  # no more came: it was not a mark
        port = self.port
        if port is not None and port.fd in readable:
            self.to_child += port.read()
            if self.rom is not None:
                self.rom.autobaud(port.tool_baud())
        now = time.monotonic()
        if self.rom is not None and self.to_child and not self.up.wait(now):
            self._send(self._to_rom, self.to_child, self.up, now)
        if port is not None and port is self.port and port.fd in writable:
            self._send(port.write, self.to_tool, self.down, now)
        if self.child is child and child is not None and child.fd in writable:
            self._send(self._to_child_write, self.to_child, self.up, now)

    def _to_child_write(self, data):
        """Write up to the first Ctrl-C; a leading Ctrl-C goes alone, as an interrupt."""
        if data[:1] == CTRL_C:
            return self.child.send_ctrl_c()
        return self.child.write(data.split(CTRL_C, 1)[0])

    @staticmethod
    def _send(write, queue, line, now):
        count = write(bytes(queue[: line.allowance(now)]))
        line.spend(count, now)
        del queue[:count]

    def close(self):
        self._power_off()
        if self.port is not None:
            os.close(self.port.fd)

    def _power_off(self):
        """The board's process and its download-mode ROM stop (the port stays)."""
        if self.rom is not None:
            self.rom.close()
            self.rom = None
        if self.child is not None:
            self.child.kill()
            self.child.finish()
            self.child = None


def _answer(message):
    """One JSON line to the parent (jazari.sim.board)."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _unlink(path, device):
    """Remove the stable name if it still points at this board's pty."""
    if os.path.islink(path) and os.readlink(path) == device:
        os.unlink(path)


def _link(path, device):
    """Point the stable name at this board's pty (replacing a stale link)."""
    scratch = f"{path}.{os.getpid()}"
    os.symlink(device, scratch)
    os.replace(scratch, path)


def _on_sigterm(_signum, _frame):
    raise Stopped


def _signal_commands():
    """A pipe the supervisor reads like its stdin: SIGUSR1 writes "unplug", SIGUSR2 "replug",
    SIGURG "safe" (a signal no terminal sends, unlike SIGHUP, SIGINT or SIGWINCH)."""
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    for signum, command in ((signal.SIGUSR1, b"unplug\n"), (signal.SIGUSR2, b"replug\n"), (SAFE_BOOT_SIGNAL, b"safe\n")):
        signal.signal(signum, lambda _signum, _frame, command=command: os.write(writer, command))
    return reader


def main(argv):
    config = json.loads(argv[1])
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when boards stop
    name = registry.claim(config["profile"], config.get("name"))
    if name is None:
        sys.stdout.write(json.dumps({"error": "name taken", "name": config.get("name")}) + "\n")
        return 1
    config["name"] = name
    config["link"] = str(registry.runtime_dir() / name)
    supervisor = None
    try:
        with open(config["flash"], "rb") as flash:
            try:
                fcntl.flock(flash, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                sys.stdout.write(json.dumps({"error": "flash in use", "flash": config["flash"]}) + "\n")
                return 1
            supervisor = Supervisor(config)
            _link(config["link"], supervisor.port.device)
            supervisor.serve(sys.stdin.fileno(), _signal_commands())
    except Stopped:
        pass
    finally:
        if supervisor is not None:
            supervisor.close()
        if supervisor is not None and supervisor.port is not None:
            _unlink(config["link"], supervisor.port.device)
        registry.release(name)
        if config.get("scratch") and supervisor and supervisor.ready:
            # The board's temporary folder, in case its owner died first (after a
            # failed boot it stays: its log says what went wrong).
            shutil.rmtree(config["scratch"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
