"""What the threads of boards flashed at once share: the gathering before the
plan, and Ctrl-C's reach into them.

Boards report what they are in parallel and wait for one plan (`Gathering`);
Ctrl-C lands in the main thread, which sets `Stop`: each board's thread checks
it between steps, and its port is closed so a write under way stops at once.
"""

import threading

from jazari.errors import JazariError
from jazari.i18n import _


class Interrupted(JazariError):
    """Ctrl-C: this board stops where it is."""


def interrupted_text():
    return _("interrupted: flash it again")


class Stop:
    """Ctrl-C's reach into the boards' threads: a flag they check between steps,
    and their ports, closed so a write under way stops now."""

    def __init__(self):
        self._event = threading.Event()
        self._boards = set()
        self._lock = threading.Lock()

    def is_set(self):
        return self._event.is_set()

    def check(self):
        if self._event.is_set():
            raise Interrupted(interrupted_text())

    def enter(self, board):
        with self._lock:
            self._boards.add(board)

    def leave(self, board):
        with self._lock:
            self._boards.discard(board)

    def interrupt(self, gathering):
        """Ctrl-C: every board stops; those waiting for the plan stop waiting."""
        self._event.set()
        gathering.give_up()
        with self._lock:
            boards = list(self._boards)
        for board in boards:
            board.cut()


class Gathering:
    """Boards report what they are in parallel; `plan` runs once, when every
    board has reported or failed, and each reporter gets its own Job back."""

    def __init__(self, ports, plan, failure_of):
        self._failure_of = failure_of  # (port, exception) -> the JazariError that board reports
        self._ports = list(ports)
        self._waiting = set(self._ports)
        self._found = {}
        self._jobs = None
        self._plan = plan
        self._ready = threading.Condition()

    def report(self, found):
        with self._ready:
            self._found[found.port] = found
            self._arrived(found.port)
            while self._jobs is None:
                self._ready.wait()
            return self._jobs.get(found.port) or JazariError(
                _("Nothing to flash on the board on {port}.").format(port=found.port)
            )

    def leave(self, port):
        with self._ready:
            if port in self._waiting:
                self._arrived(port)

    def give_up(self):
        """Ctrl-C: boards still waiting for the plan stop waiting (and find the stop flag set)."""
        with self._ready:
            if self._jobs is None:
                self._jobs = {}
            self._ready.notify_all()

    def _arrived(self, port):
        self._waiting.discard(port)
        if self._waiting:
            return
        found = [self._found[port] for port in self._ports if port in self._found]
        try:
            self._jobs = self._plan(found) if found else {}
        except Exception as failure:  # every board waits for the plan: each must hear why there is none
            refusal = failure if isinstance(failure, JazariError) else None
            self._jobs = {board.port: refusal or self._failure_of(board.port, failure) for board in found}
        finally:
            self._ready.notify_all()
