"""A board on a serial port, real or virtual, seen from the computer.

`connect(port)` checks the port, opens it with mpremote's SerialTransport and
enters the raw REPL (without a soft reset, so the student's state is kept).
Every failure becomes one translated `JazariError` that says what to do.
"""

import ast
import contextlib
import errno
import os
import time

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from jazari.errors import JazariError
from jazari.i18n import _

ANSWER_TIMEOUT = 5  # seconds a live board needs at most to show the raw REPL
RESET_TIMEOUT = 15  # seconds a board needs to reboot and run boot.py
FILE_CHUNK = 2048  # bytes per exec when copying files over the REPL
# mpremote reads pseudo-terminals with a blocking read(1); a read timeout lets
# its own timeouts work when nothing answers on the line.
READ_TIMEOUT = 0.5
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SETTLE_QUIET = 0.05  # seconds without a byte: the board has said all it had to say
SETTLE_LIMIT = 1.0  # seconds at most spent waiting for that

# Runs on the board: kit's own report when the kit is installed, else what
# plain MicroPython can tell, with the same keys.
_INFO_CODE = """
try:
    import kit.board as _kb
    _i = _kb.info()
except ImportError:
    import sys, gc, machine, binascii
    gc.collect()
    _m = sys.implementation._machine
    _i = {'chip': 'ESP32-S3' if 'S3' in _m else 'ESP32', 'board': _m,
          'micropython': '.'.join(str(p) for p in sys.implementation.version[:3]),
          'kit': None, 'unique_id': binascii.hexlify(machine.unique_id()).decode(),
          'free_heap': gc.mem_free()}
print(repr(_i))
del _i
"""


class BoardError(JazariError):
    """Code run on the board raised an exception; `traceback` has its text."""

    def __init__(self, traceback):
        self.traceback = traceback.replace("\r\n", "\n").strip()
        last_line = self.traceback.splitlines()[-1] if self.traceback else ""
        self.exception_name = last_line.split(":", 1)[0].strip()
        super().__init__(_("The board reported an error: {error}").format(error=last_line))


def check_port(port):
    """Open and close the port once, turning OS errors (missing, held by another
    program, no permission) into one clear JazariError line; used before any
    tool of ours (the link, the flasher) takes the port."""
    if port.startswith("/") and not os.path.exists(port):
        raise JazariError(
            _("Port {port} does not exist. Plug the board in, or run 'jazari boards' to list ports.").format(port=port)
        )
    try:
        serial.Serial(port, exclusive=True).close()
    except serial.SerialException as failure:
        raise _port_error(port, failure) from None


def _port_error(port, failure):
    code = failure.errno if isinstance(failure.errno, int) else None
    text = str(failure)
    if code in (errno.EAGAIN, errno.EBUSY) or "exclusively lock" in text:
        return JazariError(
            _("Port {port} is in use by another program (Thonny, a serial monitor, another jazari). Close it and try again.").format(port=port)
        )
    if code in (errno.EACCES, errno.EPERM):
        return JazariError(
            _("No permission to open {port}. On Linux, add yourself to the 'dialout' group and log in again.").format(port=port)
        )
    if code == errno.ENOENT or "FileNotFoundError" in text:
        return JazariError(
            _("Port {port} does not exist. Plug the board in, or run 'jazari boards' to list ports.").format(port=port)
        )
    return JazariError(_("Cannot open {port}: {reason}").format(port=port, reason=text))


def not_answering(port):
    """The error for a board that does not answer: `jazari recover` is the way
    back (a virtual board has no button to press)."""
    from jazari.link.ports import virtual_board_at

    if virtual_board_at(port) is not None:
        return JazariError(_("The virtual board on {port} does not answer. Run 'jazari recover {port}' to bring it back.").format(port=port))
    return JazariError(
        _("The board on {port} does not answer. Check that it runs MicroPython, then run 'jazari recover {port}'.").format(port=port)
    )


def port_gone(port):
    """Whether the board's port has vanished, as a USB port does when its cable is pulled."""
    if port.startswith("/"):
        return not os.path.exists(port)
    from serial.tools import list_ports

    return port not in {info.device for info in list_ports.comports()}


def unplugged(port):
    return JazariError(
        _("The board on {port} was unplugged. Plug it in again, then run the command again.").format(port=port)
    )


class Device:
    """One connected board: run code on it, ask what it is, copy files."""

    def __init__(self, transport, port):
        self.transport = transport
        self.port = port

    # -- connection -------------------------------------------------------

    @classmethod
    def attach(cls, port):
        """Open the serial line to the board without talking to it yet."""
        check_port(port)
        try:
            # The real path: mpremote reads pseudo-terminals (virtual boards)
            # byte by byte only when it sees /dev/pts/, else it polls slowly.
            device_path = os.path.realpath(port) if port.startswith("/") else port
            transport = SerialTransport(device_path, baudrate=115200, timeout=READ_TIMEOUT)
        except TransportError:
            raise _port_error(port, serial.SerialException("busy")) from None
        return cls(transport, port)

    @classmethod
    def open(cls, port, timeout=ANSWER_TIMEOUT):
        device = cls.attach(port)
        try:
            device.enter_raw_repl(timeout)
        except JazariError:
            device.close()
            raise
        return device

    def enter_raw_repl(self, timeout):
        """Interrupt what runs and enter the raw REPL, keeping the board's state.

        mpremote's enter_raw_repl does the same but prints what it received on
        failure, through a global sys.stdout that boards queried in parallel
        cannot share; so the three steps are done here.
        """
        line = self.transport.serial
        try:
            line.write(b"\r\x03")  # Ctrl-C: stop any running program
            while line.in_waiting:
                line.read(line.in_waiting)
            line.write(b"\r\x01")  # Ctrl-A: raw REPL
            banner = self.transport.read_until(1, RAW_REPL_BANNER, timeout_overall=timeout)
        except (OSError, serial.SerialException):
            banner = b""
        if not banner.endswith(RAW_REPL_BANNER):
            raise not_answering(self.port)
        self._settle(line)
        line.write(b"\r\x01")  # the banner again, now that nothing else is on its way
        if not self.transport.read_until(1, RAW_REPL_BANNER, timeout_overall=timeout).endswith(RAW_REPL_BANNER):
            raise not_answering(self.port)
        self.transport.in_raw_repl = True

    @staticmethod
    def _settle(line):
        """Read until the line has been quiet for a moment: what a previous
        program (or a board still acting on keys sent before it opened the
        port) prints after the banner must not pass for the answer to the
        first command."""
        deadline = time.monotonic() + SETTLE_LIMIT
        quiet_since = time.monotonic()
        with contextlib.suppress(OSError, serial.SerialException):
            while time.monotonic() < deadline and time.monotonic() - quiet_since < SETTLE_QUIET:
                if line.in_waiting:
                    line.read(line.in_waiting)
                    quiet_since = time.monotonic()
                else:
                    time.sleep(0.005)

    def close(self):
        with contextlib.suppress(OSError, serial.SerialException, TransportError):
            if self.transport.in_raw_repl:
                self.transport.exit_raw_repl()
        try:
            self.transport.close()
        except (OSError, serial.SerialException, TransportError):
            self.transport.serial.close()  # a dead line (unplugged): mpremote stopped at DTR/RTS

    def line_lost(self):
        """The error for a line that failed: the board unplugged (the line is
        then closed: nothing more can pass on it), or not answering."""
        if not port_gone(self.port):
            return not_answering(self.port)
        self.close()
        return unplugged(self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- running code -----------------------------------------------------

    def exec(self, code, timeout=10, on_output=None):
        """Run `code` on the board; return what it printed (text, '\\n' line ends)."""
        try:
            self.transport.exec_raw_no_follow(code)
            out, err = self.transport.follow(timeout, on_output)
        except TransportExecError as failure:
            raise BoardError(failure.error_output) from None
        except (TransportError, OSError, serial.SerialException):
            raise self.line_lost() from None
        if err:
            raise BoardError(err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace").replace("\r\n", "\n")

    def eval(self, expression, timeout=10):
        """The value of a Python expression on the board (via repr/literal_eval)."""
        text = self.exec("print(repr(%s))" % expression, timeout=timeout).strip()
        return ast.literal_eval(text)

    # -- what the board is ------------------------------------------------

    def info(self, timeout=10):
        """chip, board, micropython, kit (None without the kit), unique_id, free_heap, ..."""
        return ast.literal_eval(self.exec(_INFO_CODE, timeout=timeout).strip())

    # -- files ------------------------------------------------------------

    def put(self, data, remote_path):
        """Write bytes to a file on the board, atomically: a temporary name, then rename."""
        temporary = remote_path + ".part"
        try:
            self.transport.fs_writefile(temporary, bytes(data), chunk_size=FILE_CHUNK)
            self.exec("import os\nos.rename(%r, %r)" % (temporary, remote_path))
        except TransportExecError as failure:
            raise BoardError(failure.error_output) from None
        except OSError as failure:
            raise JazariError(
                _("Could not write {path} on the board: {reason}").format(path=remote_path, reason=failure)
            ) from None

    def get(self, remote_path):
        """The bytes of a file on the board."""
        try:
            return bytes(self.transport.fs_readfile(remote_path, chunk_size=FILE_CHUNK))
        except TransportExecError as failure:
            raise BoardError(failure.error_output) from None
        except OSError:
            raise JazariError(_("There is no file {path} on the board.").format(path=remote_path)) from None

    # -- resets -----------------------------------------------------------

    def soft_reset(self):
        """Restart MicroPython (like Ctrl-D): clears variables, runs boot.py and main.py."""
        self.transport.serial.write(b"\x04")  # Ctrl-D at the raw REPL's empty prompt
        self._wait_until_answering()

    def hard_reset(self):
        """Reset the chip (machine.reset()), then wait until the board answers again."""
        with contextlib.suppress(TransportError, OSError, serial.SerialException):
            self.transport.exec_raw_no_follow("import machine\nmachine.reset()")
        self._wait_until_answering()

    def _wait_until_answering(self):
        self.transport.in_raw_repl = False
        deadline = time.monotonic() + RESET_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(JazariError):
                self.enter_raw_repl(timeout=2)
                return
        raise not_answering(self.port)


def connect(port, timeout=ANSWER_TIMEOUT):
    """Open the board on `port` (a serial device or a virtual board's path)."""
    return Device.open(port, timeout=timeout)
