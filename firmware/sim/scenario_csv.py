"""A recorded IMU scenario for the virtual board: a CSV file replayed by time.

The file has the header `t_ms,ax,ay,az,gx,gy,gz` and one sample per line;
each sample holds until the next one, and the recording loops. It is checked
whole when opened, then read a line at a time as time goes on, so a long
recording costs no RAM. Loaded only when a scenario names a file
(scenario.open_source), so the generators cost the board's heap nothing more.
"""

COLUMNS = ("t_ms", "ax", "ay", "az", "gx", "gy", "gz")


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
