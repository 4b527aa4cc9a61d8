"""Who may write on a link's line, and the keepalive that feeds the board's watchdog.

The board leaves link mode after WIRE.SILENCE_MS without a byte, so a host
that dies (kill -9, a closed terminal) leaves a board that goes back to its
REPL by itself; while the host lives, an empty frame every KEEPALIVE s holds
the link. Every write (a frame, a keepalive) takes `writing`, and `linked`
changes only under it: a keepalive never lands inside a frame, never reaches
a board that has left link mode (its REPL would take the byte as a key), and
never writes on a port being closed.
"""

import contextlib
import threading

import serial

from jazari.link.frames import WIRE

KEEPALIVE = WIRE.KEEPALIVE_MS / 1000  # seconds between the empty frames that keep the board's watchdog fed


class Keepalive:
    def __init__(self, line, name):
        self.line = line
        self.name = name  # the thread's, for a debugger: "keepalive PORT"
        self.writing = threading.Lock()
        self.quiet = threading.Event()  # set: the keepalives stop
        self.thread = None
        self._linked = False

    @property
    def linked(self):
        return self._linked

    def link(self):
        """The board is in link mode with us: keep it fed from now on."""
        with self.writing:
            self._linked = True
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self.thread.start()

    def unlink(self):
        """No longer linked; once this returns no keepalive is on its way."""
        with self.writing:
            self._linked = False

    def stop(self):
        """Unlinked and the thread told to end: the line may be closed after this."""
        self.unlink()
        self.quiet.set()

    def _run(self):
        while not self.quiet.wait(KEEPALIVE):
            with self.writing:
                if not self._linked:
                    continue
                with contextlib.suppress(OSError, serial.SerialException):
                    self.line.write(b"\0")
