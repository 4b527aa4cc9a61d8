"""What passes on the virtual board's serial line, and how fast.

- `LineRate`: a UART's pace (`--baud`);
- `ReplMode`: which REPL MicroPython is in, read from what it prints;
- `RawRestart`: makes a MicroPython that restarted friendly come back in the
  raw REPL, as a board does after a soft reset in it;
- `TextLines`: printed lines end in "\r\n" as a board's UART sends them,
  while the kit's binary frames pass untouched.
"""

from jazari.link.frames import WIRE

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b"\nMicroPython "
FRIENDLY_PROMPT = b">>> "
CTRL_A = b"\x01"


class LineRate:
    """A UART's pace: `baud` bits a second, 10 bits a byte, with a FIFO of
    `window` seconds that may be filled ahead. No baud: no limit."""

    def __init__(self, baud=None, window=0.01):
        self.baud = baud
        self.rate = baud / 10 if baud else None
        self.window = max(window, 1 / self.rate) if self.rate else 0
        # A busy line is topped up half a FIFO at a time, not byte by byte:
        # a sender woken for every byte would spend its CPU on wake-ups.
        self.burst = max(self.window / 2, 1 / self.rate) if self.rate else 0
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
        """Seconds until a burst may be sent (at once when the line is idle)."""
        if self.rate is None:
            return 0.0
        return max(0.0, self.free_at - (self.window - self.burst) - now)


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


# Where the kit's link starts and ends its binary frames (firmware/kit/wire.py).
FRAMES_MARK, TEXT_MARK = WIRE.FRAMES_MARK, WIRE.TEXT_MARK


def _partial_mark(data, mark):
    """How many bytes at the end of `data` could be the start of `mark`."""
    for size in range(min(len(mark) - 1, len(data)), 0, -1):
        if data.endswith(mark[:size]):
            return size
    return 0


class TextLines:
    """What MicroPython prints, as an ESP32's UART sends it. Its print() ends
    lines in "\n", which a board's driver sends as "\r\n" (the Unix port
    leaves that to a terminal's ONLCR, which would also double the REPL's own
    "\r\n" and break frames): so a lone "\n" becomes "\r\n" in text, and
    between the link's marks bytes pass as they are. The marks are taken out.
    A partial mark at the end of a read waits in `pending` for the next read,
    or for `flush()` when no more comes."""

    def __init__(self):
        self.framed = False
        self.pending = b""
        self._after_cr = False  # the last text byte sent was "\r"

    def feed(self, data):
        data, self.pending = self.pending + bytes(data), b""
        shown = []
        while data:
            mark = TEXT_MARK if self.framed else FRAMES_MARK
            at = data.find(mark)
            if at < 0:
                keep = _partial_mark(data, mark)
                shown.append(self._send(data[: len(data) - keep]))
                self.pending = data[len(data) - keep :]
                break
            shown.append(self._send(data[:at]))
            data = data[at + len(mark) :]
            self.framed = not self.framed
        return b"".join(shown)

    def flush(self):
        """What waited as a possible mark, sent as it is."""
        data, self.pending = self.pending, b""
        return self._send(data)

    def _send(self, data):
        if self.framed or not data:
            return data
        lines = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self._after_cr and data[:1] == b"\n":
            lines = lines[1:]  # "\r" ended the last read: this "\n" completes it
        self._after_cr = data[-1:] == b"\r"
        return lines
