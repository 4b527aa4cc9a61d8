"""The virtual board's two pseudo-terminals: the serial port tools open
(`OuterPort`) and the one MicroPython runs on (`Child`), with Ctrl-C turned
into an interrupt the way a board's UART does it."""

import errno
import os
import select
import signal
import subprocess
import termios
import time
import tty

CTRL_C = b"\x03"


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

    def __init__(self, argv, env, cwd, confined=False):
        self.confined = confined  # argv is bwrap's (sandbox.py): MicroPython runs two processes below it
        self._micropython = None
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
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if self.confined and code > _BWRAP_SIGNALLED:
            code = _BWRAP_SIGNALLED - code  # bwrap exits 128 + n when its child died of signal n
        return code

    @property
    def pid(self):
        """The MicroPython process: below bwrap's monitor and its PID namespace's init."""
        if not self.confined:
            return self.process.pid
        if self._micropython is None:
            pid = self.process.pid
            for _level in range(2):
                pid = _first_child(pid)
            self._micropython = pid
        return self._micropython

    def kill(self):
        if self.process.poll() is not None:
            return
        try:
            if self.confined:
                self._kill_sandbox()
        finally:
            self.process.kill()  # never left stopped

    def _kill_sandbox(self):
        """End bwrap's init inside, and so every process of its PID namespace
        (SIGKILL from outside it): killed alone, bwrap's monitor can leave them
        running on our terminal (its death signal does not always survive
        bwrap's own setup). The monitor is stopped first, so that it cannot
        start the init while we look for it."""
        outer = self.process.pid
        try:
            os.kill(outer, signal.SIGSTOP)
            _stopped(outer)
            init = _first_child(outer)
            if init is not None:
                os.kill(init, signal.SIGKILL)
        except ProcessLookupError:
            pass

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
        if not _SEES_HANDLERS or self.process.poll() is not None or self.pid is None:
            return False
        pid = self.pid
        # Confined, MicroPython is not our child (no zombie keeps its pid): it
        # can vanish at any step when a reset kills bwrap meanwhile.
        try:
            os.kill(pid, signal.SIGSTOP)
            try:
                if not (_stopped(pid) and _catches_sigint(pid)):
                    return False
                os.kill(pid, signal.SIGINT)
                return True
            finally:
                os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            return False


# termios speed codes (B115200...) to bits a second; B0 and custom rates are unknown.
_SPEEDS = {code: int(name[1:]) for name, code in vars(termios).items() if name[:1] == "B" and name[1:].isdigit() and name != "B0"}

# Linux shows each process's signal handlers in /proc/<pid>/status.
_SEES_HANDLERS = os.path.exists("/proc/self/status")


_BWRAP_SIGNALLED = 128


def _first_child(pid):
    """The oldest child of process `pid` (Linux), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            found = children.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


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

    def tool_baud(self):
        """The rate the tool set its end of the port to, or None if unknown: a
        pseudo-terminal carries no signal, but its settings are shared by both ends."""
        try:
            return _SPEEDS.get(termios.tcgetattr(self.fd)[5])
        except termios.error:
            return None

    def write(self, data):
        return _write(self.fd, data)
