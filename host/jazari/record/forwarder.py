"""Edge Impulse's data-forwarder format, from a board that does not run the kit.

The board prints one line per reading: numbers separated by commas, tabs or
spaces, at a fixed rate (115200 baud by default). As Edge Impulse's
`edge-impulse-data-forwarder` does, the first line heard is skipped (it may
be cut), the channel count and, unless given, the rate come from the lines
heard in one second, and a line that starts with ERR is the board reporting
an error. Unlike it, the count is the most common one in that second (not
the second line's, which may be a stray print), a line that is not that
many numbers is counted as a lost sample and reported (it does not fail the
recording, nor vanish), and each sample gets a board-time stamp from its
place in the stream (index / rate), so a lost line leaves a visible gap.
docs/datasets.md lists the differences.
"""

import collections
import re
import time

import numpy as np
import serial

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.link.telemetry import Batch, StreamInfo, Totals

BAUD = 115200
DETECT_SECONDS = 1.0  # Edge Impulse listens this long to count lines
POLL = 0.02  # seconds a read waits on the line
SOURCE = "forwarder"
_SEPARATORS = re.compile(r"[,\t ]+")


def split_values(line):
    """The numbers of one line (a tuple of floats), or None if it is not only numbers."""
    fields = [field for field in _SEPARATORS.split(line.strip()) if field]
    try:
        return tuple(float(field) for field in fields) if fields else None
    except ValueError:
        return None


def is_error_line(line):
    return line.lstrip("<").upper().startswith("ERR")


def forwarder_info(names, rate_hz):
    """The StreamInfo of data-forwarder lines: plain numbers, no units known."""
    count = len(names)
    return StreamInfo(0, SOURCE, tuple(names), ("",) * count, "float32", (1.0,) * count, float(rate_hz))


class LineParser:
    """Bytes in, rows of `channels` numbers out; whatever else is counted."""

    def __init__(self, channels=None, skip_first=True):
        self.channels = channels
        self.malformed = 0
        self.last_malformed = ""
        self._pending = b""
        self._skip_first = skip_first  # the first line heard may have been cut

    def lines(self, data):
        """The complete lines in `data` (with what came before), as text."""
        self._pending += data
        *complete, self._pending = self._pending.split(b"\n")
        if complete and self._skip_first:
            complete = complete[1:]
            self._skip_first = False
        text = (line.decode("utf-8", "replace").strip() for line in complete)
        return [line for line in text if line]

    def rows(self, lines):
        """(rows of values, count of malformed lines among them), in order; None marks each malformed."""
        rows = []
        for line in lines:
            if is_error_line(line):
                raise JazariError(_("The board reported an error: {error}").format(error=line))
            values = split_values(line)
            if values is None or len(values) != self.channels:
                self.malformed += 1
                self.last_malformed = line[:60]
                rows.append(None)
            else:
                rows.append(values)
        return rows


def detect(lines, port, seconds):
    """(channel count, lines per second) from the lines heard in `seconds`."""
    numeric = [values for values in (split_values(line) for line in lines) if values]
    for line in lines:
        if is_error_line(line):
            raise JazariError(_("The board reported an error: {error}").format(error=line))
    if not lines:
        raise JazariError(
            _("No lines came from {port} in {seconds} s: is the board printing numbers at {baud} baud?").format(port=port, seconds=seconds, baud=BAUD)
        )
    if not numeric:
        raise JazariError(
            _("The lines from {port} are not numbers separated by commas or tabs, e.g. '{line}'.").format(port=port, line=lines[0][:60])
        )
    # Edge Impulse takes the second line's count; the most common one does
    # not fail when that line happens to be a stray print.
    counts = collections.Counter(len(values) for values in numeric)
    channels, matching = counts.most_common(1)[0]
    return channels, matching / seconds


class ForwarderStream:
    """Rows of numbers read from a serial line, as a kit stream's batches."""

    def __init__(self, line, port, info, parser):
        self.line = line
        self.port = port
        self.info = info
        self.parser = parser
        self.received = 0
        self.lost = 0  # malformed lines handed out (as batches' `lost`)
        self._slots = 0  # samples heard or lost: the next sample's place in time
        self._period_us = 1e6 / info.rate_hz
        self._rows = []  # parsed rows not yet handed out (None: a malformed line)
        self.closed = False

    @property
    def totals(self):
        return Totals(self.received, 0, self.lost)

    def read(self, timeout=0.5):
        """The next batch of rows (all complete lines so far), or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not self._rows:
            self._rows = self.parser.rows(self.parser.lines(self._receive()))
            if not self._rows and time.monotonic() >= deadline:
                return None
        # A batch's lost lines come before its samples, as a kit stream's do:
        # it ends where the next malformed line follows a good one.
        lost = next((i for i, row in enumerate(self._rows) if row is not None), len(self._rows))
        end = next((i for i in range(lost, len(self._rows)) if self._rows[i] is None), len(self._rows))
        rows, self._rows = self._rows[:end], self._rows[end:]
        return self._batch(rows, lost)

    def _receive(self):
        try:
            return self.line.read(max(1, self.line.in_waiting))
        except (OSError, serial.SerialException):
            raise JazariError(
                _("The board on {port} stopped sending (reset or unplugged?).").format(port=self.port)
            ) from None

    def _batch(self, rows, lost):
        good = rows[lost:]
        places = self._slots + lost + np.arange(len(good))
        self._slots += len(rows)
        values = np.array(good, dtype=np.float32).reshape(len(good), len(self.info.channels))
        t_us = np.round(places * self._period_us).astype(np.int64)
        self.received += len(good)
        self.lost += lost
        return Batch(self.info, t_us, values, values, 0, lost, self._slots - len(good))

    def problems(self):
        """What the user must hear about the lines after the stream, translated."""
        if not self.lost:
            return []
        return [
            _("{count} lines were not {channels} numbers and count as lost samples (the last: '{line}').").format(count=self.lost, channels=len(self.info.channels), line=self.parser.last_malformed)
        ]

    def __iter__(self):
        while not self.closed:
            batch = self.read()
            if batch is not None:
                yield batch

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ForwarderSource:
    """A board printing data-forwarder lines on `port`; streams come from it."""

    def __init__(self, port, rate_hz=None, names=None, baud=BAUD):
        from jazari.link.device import Device

        self.port = port
        self.device = Device.attach(port)  # the same checks and messages as every port
        self.line = self.device.transport.serial
        self.line.baudrate = baud
        self.line.timeout = POLL
        self.hello = {"board": None, "unique_id": None}
        channels, heard_rate = self._listen(rate_hz)
        self.detected_rate = rate_hz is None
        names = tuple(names) if names else tuple("ch%d" % index for index in range(channels))
        if len(names) != channels:
            self.close()
            raise JazariError(
                _("The board prints {count} values per line but {given} names were given.").format(count=channels, given=len(names))
            )
        self.info = forwarder_info(names, rate_hz or round(heard_rate, 1))

    def _listen(self, rate_hz):
        # As Edge Impulse: 1 s, or 2.5 periods of a given rate if longer.
        seconds = max(DETECT_SECONDS, 2.5 / rate_hz) if rate_hz else DETECT_SECONDS
        parser, lines, deadline = LineParser(), [], time.monotonic() + seconds
        self.line.reset_input_buffer()
        while time.monotonic() < deadline:
            try:
                lines += parser.lines(self.line.read(max(1, self.line.in_waiting)))
            except (OSError, serial.SerialException):
                break  # nothing more to hear: detect() says what is missing
        try:
            channels, heard_rate = detect(lines, self.port, seconds)
        except JazariError:
            self.close()
            raise
        if rate_hz is None and len(lines) < 2:
            self.close()
            raise JazariError(
                _("Only one line came from {port} in {seconds} s: the rate cannot be measured; give it with --rate HZ.").format(port=self.port, seconds=seconds)
            )
        return channels, heard_rate

    def open_stream(self):
        """A stream from now on: what the board printed before is dropped."""
        self.line.reset_input_buffer()
        return ForwarderStream(self.line, self.port, self.info, LineParser(len(self.info.channels)))

    def cue(self, on):
        return False  # the board runs its own program: the terminal's countdown is the cue

    def close(self):
        self.device.transport.in_raw_repl = False  # nothing to leave: the board runs its own program
        self.device.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
