"""Where the virtual board's sensor values come from.

    source = open_source("walking")     # or "still", "shaking", "/path/rec.csv"
    ax, ay, az, gx, gy, gz = source.sample(t_us)     # g and deg/s

The generators are sums of sines per axis, written out in WAVES so a test
can compute what a sensor must read at any time. A CSV file has the header
`t_ms,ax,ay,az,gx,gy,gz` and one sample per line; it is replayed by time
(each sample holds until the next one) and loops. The file is opened and
checked when the source is made, then read a line at a time as time goes
on, so a long recording costs no RAM (the virtual board may unmount the host
folder after boot: the open file keeps working).
"""

from math import pi, sin
from micropython import const

COLUMNS = ("t_ms", "ax", "ay", "az", "gx", "gy", "gz")
_VALUES = const(6)

# Per axis (ax, ay, az in g; gx, gy, gz in deg/s): (offset, ((amplitude, Hz, phase), ...)).
# Walking: steps at 2 Hz push forward and up; the body sways at the stride, 1 Hz.
# Shaking: the board shaken hard by hand, 6 Hz on every axis.
WAVES = {
    "still": ((0.0, ()), (0.0, ()), (1.0, ()), (0.0, ()), (0.0, ()), (0.0, ())),
    "walking": (
        (0.0, ((0.20, 2.0, 0.0),)),
        (0.0, ((0.10, 1.0, 0.0),)),
        (1.0, ((0.35, 2.0, 1.5708), (0.10, 4.0, 0.0))),
        (0.0, ((15.0, 1.0, 0.0),)),
        (0.0, ((30.0, 2.0, 0.0),)),
        (0.0, ((10.0, 1.0, 1.5708),)),
    ),
    "shaking": (
        (0.0, ((1.20, 6.0, 0.0),)),
        (0.0, ((0.60, 6.0, 1.0),)),
        (1.0, ((0.40, 6.0, 2.0),)),
        (0.0, ((180.0, 6.0, 0.5),)),
        (0.0, ((120.0, 6.0, 1.5),)),
        (0.0, ((60.0, 6.0, 2.5),)),
    ),
}
# Sensor noise: a fixed pseudo-random pattern (changes every millisecond,
# same on every run) of at most this size, for accelerometer and gyroscope.
NOISE = (0.004, 0.1)


def noise(t_ms, axis):
    """A value in [-1, 1], fixed for a given millisecond and axis."""
    return ((t_ms * 7919 + axis * 104729) % 2001) / 1000.0 - 1.0


class Waves:
    def __init__(self, name):
        self.name = name
        self._axes = WAVES[name]

    def sample(self, t_us):
        t = t_us / 1000000
        t_ms = t_us // 1000
        out = []
        for axis in range(_VALUES):
            offset, parts = self._axes[axis]
            value = offset + NOISE[axis // 3] * noise(t_ms, axis)
            for amplitude, hz, phase in parts:
                value += amplitude * sin(2 * pi * hz * t + phase)
            out.append(value)
        return out


def _parse(line, number, path):
    fields = line.split(",")
    if len(fields) != len(COLUMNS):
        raise ValueError(
            "%s line %d: expected %d values (%s), found %d" % (path, number, len(COLUMNS), ",".join(COLUMNS), len(fields))
        )
    values = []
    for column, text in zip(COLUMNS, fields):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not -1e9 < value < 1e9:  # also refuses nan and inf
            raise ValueError("%s line %d: %s is %r, not a number" % (path, number, column, text.strip()))
        values.append(value)
    return values


class CsvReplay:
    def __init__(self, path):
        self.name = path
        try:
            self._file = open(path)
        except OSError:
            raise ValueError("scenario file %s cannot be opened: check the path" % path)
        self._check()
        self._rewind()

    def _check(self):
        # One pass over the whole file: every error is found now, with its
        # line number, instead of in the middle of a lesson.
        f = self._file
        path = self.name
        # A spreadsheet may save the file with a byte-order mark and CRLF line ends.
        header = tuple(h.strip() for h in f.readline().lstrip("\ufeff").split(","))
        if header != COLUMNS:
            raise ValueError("%s line 1: the header must be %s" % (path, ",".join(COLUMNS)))
        self._start = f.tell()
        first = last = step = None
        number = 1
        for line in f:
            number += 1
            if not line.strip():
                continue
            t = _parse(line, number, path)[0]
            if last is not None:
                if t <= last:
                    raise ValueError("%s line %d: t_ms %s does not come after %s" % (path, number, t, last))
                step = t - last
            first = t if first is None else first
            last = t
        if first is None:
            raise ValueError("%s has no samples after its header" % path)
        self._first = first
        # The loop repeats after one more sample interval, so replay keeps its pace.
        self._period = last - first + (step or 1.0)

    def _next_row(self):
        while True:
            line = self._file.readline()
            if not line:
                return None
            if line.strip():
                return _parse(line, 0, self.name)

    def _rewind(self):
        self._file.seek(self._start)
        self._row = self._next_row()
        self._ahead = self._next_row()

    def sample(self, t_us):
        t = self._first + (t_us / 1000) % self._period
        if t < self._row[0]:  # looped, or time went back
            self._rewind()
        while self._ahead is not None and self._ahead[0] <= t:
            self._row = self._ahead
            self._ahead = self._next_row()
        return self._row[1:]

    def close(self):
        self._file.close()


def open_source(spec=None):
    """A scenario from its name ("still", "walking", "shaking") or a CSV path."""
    spec = spec or "still"
    if spec in WAVES:
        return Waves(spec)
    if spec.endswith(".csv") or "/" in spec:
        return CsvReplay(spec)
    raise ValueError("unknown scenario %r: use still, walking, shaking or the path of a .csv file" % spec)
