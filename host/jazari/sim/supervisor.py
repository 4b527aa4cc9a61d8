"""The virtual board's supervisor: makes a MicroPython process look like an
ESP32 on a serial port.

    tool (mpremote, Thonny...) <-> outer pty <-> supervisor <-> inner pty <-> MicroPython

- The outer pseudo-terminal is the board's serial port (with a stable
  symlink, `<runtime dir>/<name>`). Both terminals are raw: bytes pass
  unchanged both ways.
- The inner one is the controlling terminal of the MicroPython process,
  raw but with ISIG, so Ctrl-C interrupts running code as on a board.
- The Unix port exits on Ctrl-D at the REPL; a board reboots. So each exit
  is a reset: "MPY: soft reboot" and a new process, in the raw REPL again if
  the old one was in it (mpremote relies on that); `machine.reset()` and a
  crash restart it as a hard reset, with what the chip's ROM prints.
- Backpressure, not loss: when the tool does not read, the supervisor stops
  reading MicroPython, whose writes then wait. When no tool has the port
  open, output goes nowhere, as from a board's UART with nothing attached.
- `baud` paces both directions at a UART's rate (10 bits a byte).

Run as `python -m jazari.sim.supervisor CONFIG_JSON` by `jazari.sim.board`:
it prints one JSON line on stdout when the REPL is ready (or fails), then
serves until its stdin closes, "stop" arrives or SIGTERM; "reset" on stdin
is a hard reset.
"""

import errno
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
import tty

from jazari.sim import registry
from jazari.sim.profiles import get_profile

HIGH_WATER = 4096  # bytes held for a slow tool (or a busy board) before the other side waits
NO_TOOL_RECHECK = 0.05  # seconds between checks whether a tool opened the port
BOOT_PATIENCE = 10.0  # seconds of boot (a main.py that loops) after which the board counts as up
QUICK_DEATH = 1.0  # a child dying younger than this is restarted after a growing pause
MAX_PAUSE = 2.0

# machine.reset_cause() values of the ESP32 port. firmware/sim/machine.py ends
# the process with HARD_RESET (machine.reset), WDT_RESET (watchdog not fed),
# DEEPSLEEP_RESET (deepsleep) or EXIT_BOOTLOADER; any other exit is the Unix
# port leaving its REPL (Ctrl-D, sys.exit, machine.soft_reset): a soft reset.
# The next boot's cause goes to the child in JAZARI_RESET_CAUSE.
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
EXIT_BOOTLOADER = 7
_HARD_EXITS = {
    HARD_RESET: (HARD_RESET, "software"),
    EXIT_BOOTLOADER: (HARD_RESET, "software"),  # no download mode yet: it boots again
    WDT_RESET: (WDT_RESET, "watchdog"),
    DEEPSLEEP_RESET: (DEEPSLEEP_RESET, "deepsleep"),
}

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b"\nMicroPython "
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"
CTRL_A = b"\x01"
CTRL_C = b"\x03"


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
    if code < 0:
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


class LineRate:
    """A UART's pace: `baud` bits a second, 10 bits a byte, with a FIFO of
    `window` seconds that may be filled ahead. No baud: no limit."""

    def __init__(self, baud=None, window=0.01):
        self.rate = baud / 10 if baud else None
        self.window = max(window, 1 / self.rate) if self.rate else 0
        self.free_at = 0.0  # when the line has sent everything queued on it

    def allowance(self, now):
        """How many bytes may be sent at `now`."""
        if self.rate is None:
            return 1 << 16
        # The small margin keeps float rounding from refusing the byte wait() promised.
        return int((now + self.window - max(self.free_at, now)) * self.rate + 1e-6)

    def spend(self, count, now):
        if self.rate is not None:
            self.free_at = max(self.free_at, now) + count / self.rate

    def wait(self, now):
        """Seconds until at least one byte may be sent."""
        if self.rate is None:
            return 0.0
        return max(0.0, max(self.free_at, now) + 1 / self.rate - self.window - now)


class ReplMode:
    """Which REPL MicroPython is in and whether it waits at a prompt, read from
    what it prints (the last banner seen wins)."""

    _TAIL = len(RAW_BANNER) + 1

    def __init__(self):
        self.raw = False
        self.prompted = False
        self._tail = b"\n"

    def feed(self, data):
        seen = self._tail + data
        raw_at, friendly_at = seen.rfind(RAW_BANNER), seen.rfind(FRIENDLY_BANNER)
        if raw_at != friendly_at:
            self.raw = raw_at > friendly_at
        if seen.endswith(FRIENDLY_PROMPT) or seen.endswith(RAW_BANNER + b">"):
            self.prompted = True
        self._tail = seen[-self._TAIL :]


class RawRestart:
    """After a soft reset in the raw REPL a board comes back in the raw REPL.
    The Unix port comes back friendly, so: show boot output, hide its banner,
    ask for the raw REPL (Ctrl-A), and show only "raw REPL; CTRL-B to exit\\r\\n>"."""

    def __init__(self):
        self._pending = b""
        self._step = self._boot
        self.done = False

    def feed(self, data):
        """(bytes to show the tool, bytes to send MicroPython)."""
        self._pending += data
        shown, sent = b"", b""
        while not self.done:
            result = self._step()
            if result is None:
                break
            shown, sent = shown + result[0], sent + result[1]
        if self.done:
            shown, self._pending = shown + self._pending, b""
        return shown, sent

    def _boot(self):
        at = self._pending.find(FRIENDLY_BANNER[1:])
        if at < 0:
            keep = len(FRIENDLY_BANNER)
            shown, self._pending = self._pending[:-keep], self._pending[-keep:]
            return (shown, b"") if shown else None
        shown, self._pending = self._pending[:at], self._pending[at:]
        self._step = self._banner
        return shown, b""

    def _banner(self):
        at = self._pending.find(FRIENDLY_PROMPT)
        if at < 0:
            return None
        self._pending = self._pending[at + len(FRIENDLY_PROMPT) :]
        self._step = self._entering
        return b"", CTRL_A

    def _entering(self):
        at = self._pending.find(RAW_BANNER)
        if at < 0:
            return None
        self._pending = self._pending[at + len(RAW_BANNER) :]
        self.done = True
        return RAW_BANNER, b""


def _raw_terminal(fd, signals):
    """Raw mode, output untouched; with `signals`, Ctrl-C still raises SIGINT and
    (NOFLSH) flushes nothing, so no output is lost when code is interrupted.
    Ctrl-C only: Ctrl-\\ and Ctrl-Z are bytes like any other, as on a board."""
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    if signals:
        attrs[3] |= termios.ISIG | termios.NOFLSH
        disabled = bytes([os.fpathconf(fd, "PC_VDISABLE")])  # no key makes this signal
        for other in ("VQUIT", "VSUSP", "VDSUSP"):
            if hasattr(termios, other):
                attrs[6][getattr(termios, other)] = disabled
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _write(fd, data):
    """Bytes written to a non-blocking terminal: 0 when it is full or gone."""
    try:
        return os.write(fd, data)
    except OSError:
        return 0


class Child:
    """One MicroPython process on its own inner pseudo-terminal."""

    def __init__(self, argv, env, cwd):
        self.fd, slave = os.openpty()
        _raw_terminal(slave, signals=not _SEES_HANDLERS)
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True, close_fds=True
        )
        os.close(slave)
        os.set_blocking(self.fd, False)
        self.born = time.monotonic()

    def read(self):
        """Bytes MicroPython printed, b"" if none yet, None once it has exited."""
        try:
            return os.read(self.fd, 4096) or None
        except BlockingIOError:
            return b""
        except OSError as error:
            if error.errno == errno.EIO:
                return None
            raise

    def write(self, data):
        return _write(self.fd, data)

    def finish(self):
        """Close the terminal, wait for the process; its exit code (negative: signal)."""
        os.close(self.fd)
        try:
            return self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()

    def send_ctrl_c(self):
        """Ctrl-C as a board's UART handles it: it interrupts running code, and is
        a plain byte at a prompt or after micropython.kbd_intr(-1).

        MicroPython sets its SIGINT handler only while it runs code with
        kbd_intr on; it leaves SIG_DFL otherwise, so a SIGINT from the terminal
        then would kill it. Where that handler can be seen (Linux) the terminal
        has no ISIG and the signal is sent here, only when the handler is set.
        Elsewhere ISIG is on, which misses raw-paste code (the Unix port runs it
        with ISIG off) and kbd_intr(-1)."""
        if not termios.tcgetattr(self.fd)[3] & termios.ISIG and self._interrupt():
            return 1
        return self.write(CTRL_C)

    def _interrupt(self):
        """SIGINT, if MicroPython runs code with kbd_intr on. It is stopped while
        its handler is read, so that code cannot end in between and leave the
        signal to SIG_DFL (which would kill it); on SIGCONT the signal arrives
        before it runs again."""
        pid = self.process.pid
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return False
        try:
            if not (_stopped(pid) and _catches_sigint(pid)):
                return False
            os.kill(pid, signal.SIGINT)
            return True
        finally:
            os.kill(pid, signal.SIGCONT)


# Linux shows each process's signal handlers in /proc/<pid>/status.
_SEES_HANDLERS = os.path.exists("/proc/self/status")


def _stopped(pid, patience=0.5):
    """Wait until process `pid` is stopped (SIGSTOP takes effect asynchronously)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state in ("T", "t"):
            return True
        time.sleep(0.0005)
    return False


def _catches_sigint(pid):
    """Whether process `pid` has a SIGINT handler set (Linux; elsewhere: False)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            caught = next((line.split()[1] for line in status if line.startswith("SigCgt:")), "0")
    except OSError:
        return False
    return bool(int(caught, 16) & (1 << (signal.SIGINT - 1)))


class OuterPort:
    """The pseudo-terminal tools open as the board's serial port."""

    def __init__(self):
        self.fd, slave = os.openpty()
        _raw_terminal(slave, signals=False)
        self.device = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self.fd, False)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLOUT)

    def tool_connected(self):
        """Whether some program has the port open (else the master reports a hang-up)."""
        events = self._poll.poll(0)
        return not (events and events[0][1] & select.POLLHUP)

    def read(self):
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data):
        return _write(self.fd, data)


class Stopped(Exception):
    pass


class Supervisor:
    """One virtual board. `config` (from jazari.sim.board): profile, name, flash,
    events, scenario, baud, uid, firmware, start (the boot script)."""

    def __init__(self, config):
        self.config = config
        self.profile = get_profile(config["profile"])
        self.port = OuterPort()
        self.to_tool, self.to_child = bytearray(), bytearray()
        self.down, self.up = LineRate(config.get("baud")), LineRate(config.get("baud"))
        self.mode = ReplMode()
        self.restart = None  # RawRestart while a child comes back in the raw REPL
        self.child = None
        self.respawn_at = None
        self.quick_deaths = 0
        self.reset_asked = False
        self.ready = False
        self.boot_log = bytearray()  # the first boot's output, to explain a failure
        self.events_mark = 0  # size of the event log when the current child started

    # -- the MicroPython process

    def _child_env(self, cause, raw):
        env = dict(os.environ)
        env.update(
            JAZARI_FLASH=self.config["flash"],
            JAZARI_EVENTS=self.config["events"],
            JAZARI_SCENARIO=self.config.get("scenario") or "still",
            JAZARI_PROFILE=self.profile.name,
            JAZARI_UID=self.config["uid"],
            JAZARI_FIRMWARE=self.config["firmware"],
            JAZARI_RESET_CAUSE=str(cause),
            JAZARI_REPL="raw" if raw else "friendly",
        )
        for stale in ("JAZARI_ROM_ADDR", "JAZARI_ROM_SIZE"):
            env.pop(stale, None)
        return env

    def _spawn(self, cause=PWRON_RESET, raw=False):
        argv = [sys.executable, "-m", "jazari.sim.launcher", str(self.profile.heapsize), self.config["start"]]
        self.events_mark = os.path.getsize(self.config["events"])
        self.child = Child(argv, self._child_env(cause, raw), os.path.dirname(self.config["events"]))
        self.mode = ReplMode()
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
        self.to_tool += data
        if not self.ready and self.mode.prompted:
            self._announce()

    def _child_ended(self):
        code = self.child.finish()
        lived = time.monotonic() - self.child.born
        self.child = None
        if not self.ready:
            self._announce(error=f"MicroPython exited with code {code} while booting")
            raise Stopped
        logged = logged_reset(self.config["events"], self.events_mark) if code < 0 else None
        cause, rom = reset_kind(code, self.reset_asked, logged)
        if rom == "panic":
            why = signal.Signals(-code).name
            self.to_tool += f"\r\nGuru Meditation Error: MicroPython died ({why}). Rebooting...\r\n".encode()
        self.to_tool += b"\r\n" + self.profile.reset_text(rom).encode() if rom else SOFT_REBOOT
        self.reset_asked = False
        # A board that keeps crashing at boot is restarted ever more slowly, not in a tight loop.
        self.quick_deaths = self.quick_deaths + 1 if lived < QUICK_DEATH and rom else 0
        pause = min(MAX_PAUSE, 0.05 * 2**self.quick_deaths) if self.quick_deaths > 1 else 0
        self.respawn_at = (time.monotonic() + pause, cause, cause == SOFT_RESET and self.mode.raw)

    def hard_reset(self):
        """Like pressing EN: the MicroPython process is killed and started again."""
        if self.child is not None:
            self.reset_asked = True
            self.child.kill()

    # -- telling the parent

    def _announce(self, error=None):
        if error:
            message = {"error": error, "output": self.boot_log[-2000:].decode("utf-8", "replace")}
        else:
            self.ready = True
            message = self.entry()
            registry.publish(message["name"], message)
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def entry(self):
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
        }

    def _control(self, control_fd):
        line = os.read(control_fd, 256)
        if not line or b"stop" in line:
            raise Stopped
        if b"reset" in line:
            self.hard_reset()

    # -- the loop

    def serve(self, control_fd):
        """Move bytes until told to stop."""
        self._spawn()
        boot_deadline = time.monotonic() + BOOT_PATIENCE
        while True:
            now = time.monotonic()
            if self.respawn_at and now >= self.respawn_at[0]:
                self._spawn(*self.respawn_at[1:])
            if not self.ready and now > boot_deadline and self.child is not None:
                self._announce()
            readers, writers, timeout = self._plan(now, control_fd)
            readable, writable, _ = select.select(readers, writers, [], timeout)
            self._move(readable, writable, control_fd)

    def _plan(self, now, control_fd):
        readers, writers, timeouts = [control_fd], [], [BOOT_PATIENCE]
        connected = self.port.tool_connected()
        if not connected:
            self.to_tool.clear()  # nobody listening: the bytes go nowhere, as from a UART
            timeouts.append(NO_TOOL_RECHECK)
        if self.child is not None and len(self.to_tool) < HIGH_WATER:
            readers.append(self.child.fd)
        if connected and len(self.to_child) < HIGH_WATER:
            readers.append(self.port.fd)
        if connected and self.to_tool:
            self._plan_write(self.down, self.port.fd, now, writers, timeouts)
        if self.to_child and self._accepting_input():
            self._plan_write(self.up, self.child.fd, now, writers, timeouts)
        if self.respawn_at:
            timeouts.append(max(0.0, self.respawn_at[0] - now))
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
        if self.port.fd in readable:
            self.to_child += self.port.read()
        now = time.monotonic()
        if self.port.fd in writable:
            self._send(self.port.write, self.to_tool, self.down, now)
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
        if self.child is not None:
            self.child.kill()
            self.child.finish()
            self.child = None
        os.close(self.port.fd)


def _link(path, device):
    """Point the stable name at this board's pty (replacing a stale link)."""
    scratch = f"{path}.{os.getpid()}"
    os.symlink(device, scratch)
    os.replace(scratch, path)


def _on_sigterm(_signum, _frame):
    raise Stopped


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
            supervisor.serve(sys.stdin.fileno())
    except Stopped:
        pass
    finally:
        if supervisor is not None:
            supervisor.close()
        if os.path.islink(config["link"]) and supervisor and os.readlink(config["link"]) == supervisor.port.device:
            os.unlink(config["link"])
        registry.release(name)
        if config.get("scratch"):  # the board's temporary folder, if its owner died first
            shutil.rmtree(config["scratch"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
