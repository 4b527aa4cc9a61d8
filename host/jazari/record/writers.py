"""Sample files: CSV flushed after every batch, or Parquet with the extra.

CSV is the safe one: the header goes first, each batch is written and
flushed as it arrives, so a Ctrl-C or a pulled cable loses nothing already
received. Parquet keeps a row group in memory and completes the file only
when it is closed (a killed process leaves an unreadable file).

    with open_writer("walk.csv", channels=("ax", "ay", "az")) as out:
        out.write(batch.t_us, batch.values)
"""

import os
from pathlib import Path

import numpy as np

from jazari.errors import JazariError
from jazari.i18n import _

TIME_COLUMN = "t_us"
VALUE_FORMAT = "%.7g"  # float32 carries about 7 significant digits
PARQUET_ROWS = 65536  # rows per Parquet row group
PARQUET_EXTRA = "pip install 'jazari-kit[parquet]'"


class CsvWriter:
    """t_us and one column per channel; every batch is on disk when write returns."""

    def __init__(self, path, channels):
        self.path = Path(path)
        self.rows = 0
        self._format = ",".join(["%d"] + [VALUE_FORMAT] * len(channels))
        self._file = open(self.path, "w", encoding="utf-8", newline="")
        self._file.write(",".join((TIME_COLUMN, *channels)) + "\n")
        self._file.flush()

    def write(self, t_us, values):
        if len(t_us):
            table = np.column_stack((np.asarray(t_us, dtype=np.float64), values))
            np.savetxt(self._file, table, fmt=self._format)
            self._file.flush()
            self.rows += len(t_us)

    def close(self):
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ParquetWriter:
    """The same columns in a Parquet file (t_us int64, channels float32)."""

    def __init__(self, path, channels):
        pa, pq = _pyarrow()
        self.path = Path(path)
        self.rows = 0
        self._pa = pa
        fields = [pa.field(TIME_COLUMN, pa.int64())] + [pa.field(name, pa.float32()) for name in channels]
        self._schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(str(self.path), self._schema)
        self._pending = []

    def write(self, t_us, values):
        if len(t_us):
            self._pending.append((np.asarray(t_us, dtype=np.int64), np.asarray(values, dtype=np.float32)))
            self.rows += len(t_us)
            if sum(len(t) for t, _v in self._pending) >= PARQUET_ROWS:
                self._flush()

    def _flush(self):
        if not self._pending:
            return
        t_us = np.concatenate([t for t, _v in self._pending])
        values = np.concatenate([v for _t, v in self._pending])
        columns = [self._pa.array(t_us)] + [self._pa.array(values[:, i]) for i in range(values.shape[1])]
        self._writer.write_table(self._pa.Table.from_arrays(columns, schema=self._schema))
        self._pending = []

    def close(self):
        if self._writer is not None:
            self._flush()
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise JazariError(
            _("Writing Parquet needs pyarrow: install it with {command}, or record to a .csv file.").format(command=PARQUET_EXTRA)
        ) from None
    return pa, pq


def open_writer(path, channels):
    """A writer for `path`: Parquet if it ends in .parquet, else CSV."""
    path = Path(path)
    kind = ParquetWriter if path.suffix.lower() == ".parquet" else CsvWriter
    try:
        return kind(path, channels)
    except OSError as failure:
        raise JazariError(
            _("Cannot write {path}: {reason}").format(path=path, reason=failure.strerror or failure)
        ) from None


def check_writable(path):
    """Say now, before any board is reached, if `path` cannot be written."""
    path = Path(path)
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as failure:
        raise JazariError(
            _("Cannot write {path}: {reason}").format(path=path, reason=failure.strerror or failure)
        ) from None
    if not existed:
        path.unlink()


def read_csv(path):
    """(channel names, t_us int64 array, values float32 array) of a CSV written here."""
    with open(path, encoding="utf-8") as source:
        header = source.readline().strip().split(",")
        table = np.loadtxt(source, delimiter=",", ndmin=2, dtype=np.float64)
    if table.size == 0:
        table = np.zeros((0, len(header)))
    return tuple(header[1:]), table[:, 0].astype(np.int64), table[:, 1:].astype(np.float32)
