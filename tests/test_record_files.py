"""The pieces of monitor/record that need no board: files, plots, datasets, parsing."""

import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from jazari.errors import JazariError
from jazari.record.chart import COLOURS, GAP, render
from jazari.record.dataset import MANIFEST, Dataset, check_label
from jazari.record.forwarder import LineParser, detect, split_values
from jazari.record.live import braille_rows
from jazari.record.png import decode_png, encode_png
from jazari.record.trace import Recent, Trace
from jazari.record.writers import CsvWriter, open_writer, read_csv

CHANNELS = ("ax", "ay", "az")


def batches(count=5, size=7, period=1000):
    rng = np.random.default_rng(1)
    for index in range(count):
        t_us = (index * size + np.arange(size)) * period
        yield t_us.astype(np.int64), rng.normal(size=(size, 3)).astype(np.float32)


def test_csv_is_on_disk_after_every_batch(tmp_path):
    path = tmp_path / "walk.csv"
    written_t, written_v = [], []
    with CsvWriter(path, CHANNELS) as out:
        assert path.read_text().splitlines() == ["t_us,ax,ay,az"]  # the header comes first
        for t_us, values in batches():
            out.write(t_us, values)
            written_t.append(t_us)
            written_v.append(values)
            # Read by another reader while the writer is still open: nothing is held back.
            names, t_read, v_read = read_csv(path)
            assert names == CHANNELS and len(t_read) == sum(len(t) for t in written_t)
    assert np.array_equal(t_read, np.concatenate(written_t))
    assert np.allclose(v_read, np.concatenate(written_v), rtol=1e-6)


def test_parquet_round_trip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "walk.parquet"
    with open_writer(path, CHANNELS) as out:
        for t_us, values in batches():
            out.write(t_us, values)
    table = pq.read_table(path)
    assert table.column_names == ["t_us", *CHANNELS]
    assert table.num_rows == 35 and table.column("t_us").to_pylist()[-1] == 34_000


def test_parquet_without_pyarrow_says_how_to_install(tmp_path):
    # The interpreter is told pyarrow does not exist, as on a machine without the extra.
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from jazari.record.writers import open_writer\n"
        "from jazari.errors import JazariError\n"
        "try:\n    open_writer(sys.argv[1], ('a',))\n"
        "except JazariError as e:\n    print(e.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.parquet")], capture_output=True, text=True, env={**os.environ, "JAZARI_LANG": "en"})
    assert "jazari-kit[parquet]" in result.stdout and ".csv" in result.stdout


def test_png_is_valid_and_round_trips():
    pixels = np.random.default_rng(2).integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    data = encode_png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert np.array_equal(decode_png(data), pixels)
    broken = bytearray(data)
    broken[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    with pytest.raises((ValueError, zlib.error)):
        decode_png(bytes(broken))


def test_chart_draws_each_channel_and_marks_gaps():
    period = 10_000
    t_us = np.arange(0, 2_000_000, period)
    t_us = np.r_[t_us[:80], t_us[95:]]  # 15 samples missing
    values = np.column_stack([np.sin(t_us / 2e5), np.cos(t_us / 3e5), t_us / 1e6]).astype(np.float32)
    pixels = render(t_us, values, CHANNELS, ("g", "g", "g"), period)
    for colour in COLOURS[:3]:
        assert (pixels == colour).all(axis=2).any()
    gap_columns = np.flatnonzero((pixels == GAP).all(axis=2).any(axis=0))
    width = pixels.shape[1]
    # The band sits where the hole is: 80 to 95 of 185 samples along the axis.
    assert 0.35 * width < gap_columns.min() < gap_columns.max() < 0.6 * width
    clean = render(np.arange(0, 1_000_000, period), values[:100], CHANNELS, ("", "", ""), period)
    assert not (clean == GAP).all(axis=2).any()


def test_braille_plot_follows_the_signal():
    rising = braille_rows(np.arange(100.0), width=10, height=2)
    assert len(rising) == 2 and all(len(row) == 10 for row in rising)
    # Rising: the left of the bottom row and the right of the top row have dots, not the reverse.
    assert rising[1][0] != "\u2800" and rising[0][-1] != "\u2800"
    assert rising[0][0] == "\u2800" and rising[1][-1] == "\u2800"
    assert braille_rows([], width=3, height=1) == ["\u2800" * 3]


def test_recent_window_and_rate():
    recent = Recent(50, 3)
    for t_us, values in batches(count=20, size=7, period=2000):
        recent.add(t_us, values)
    t_us, values = recent.window()
    assert len(t_us) == 50 and t_us[-1] == 139 * 2000 and np.all(np.diff(t_us) == 2000)
    assert recent.rate() == pytest.approx(500.0)


def test_trace_thins_regularly_and_stays_bounded():
    trace = Trace(1, limit=100)
    for start in range(0, 1000, 7):
        t_us = np.arange(start, min(start + 7, 1000))
        trace.add(t_us, t_us[:, None].astype(np.float32))
    t_us, values = trace.samples()
    assert len(t_us) <= 100 and len(set(np.diff(t_us))) == 1
    assert np.array_equal(values[:, 0], t_us)


@pytest.mark.parametrize("label", ["wave/left", "a\\b", "..", "", " x", "ta:b"])
def test_bad_labels_are_refused(label):
    with pytest.raises(JazariError):
        check_label(label)


def test_dataset_numbers_examples_and_keeps_the_manifest(tmp_path):
    dataset = Dataset(tmp_path / "ds")
    first = dataset.next_path("wave")
    assert first == tmp_path / "ds" / "wave" / "wave.1.csv"
    first.write_text("t_us,a\n")
    dataset.add({"file": dataset.relative(first), "label": "wave"})
    assert dataset.next_path("wave").name == "wave.2.csv"
    assert dataset.next_path("idle").name == "idle.1.csv"
    again = Dataset(tmp_path / "ds")  # another run finds what the first wrote
    assert [entry["file"] for entry in again.examples] == ["wave/wave.1.csv"]
    assert json.loads((tmp_path / "ds" / MANIFEST).read_text())["format"] == 1
    assert not [name for name in os.listdir(tmp_path / "ds") if name.endswith(".part")]


def test_dataset_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(JazariError, match="--dataset"):
        Dataset(blocker / "ds")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MANIFEST).write_text("{not json")
    with pytest.raises(JazariError, match="not a dataset manifest"):
        Dataset(tmp_path / "bad")


def test_forwarder_lines_like_edge_impulse():
    assert split_values("1.5, -2\t3 4e2") == (1.5, -2.0, 3.0, 400.0)
    assert split_values("x=1") is None and split_values("") is None
    parser = LineParser(channels=3)
    # The first line heard may be cut: it is skipped; a line across two reads is joined.
    assert parser.lines(b"2,3\n1,2,3\n4,5") == ["1,2,3"]
    lines = parser.lines(b",6\r\nhello\n7,8\n\n9,10,11\n")
    assert lines == ["4,5,6", "hello", "7,8", "9,10,11"]
    assert parser.rows(lines) == [(4.0, 5.0, 6.0), None, None, (9.0, 10.0, 11.0)]
    assert parser.malformed == 2 and parser.last_malformed == "7,8"
    with pytest.raises(JazariError, match="ERR: no sensor"):
        parser.rows(["ERR: no sensor"])


def test_forwarder_detection():
    lines = ["3,4", "1,2", "4,5,6", "7,8,9", "1,2,3", "oops"]
    assert detect(lines, "/dev/x", 1.0) == (3, 3.0)
    with pytest.raises(JazariError, match="No lines came"):
        detect([], "/dev/x", 1.0)
    with pytest.raises(JazariError, match="not numbers"):
        detect(["hello world"], "/dev/x", 1.0)


class _Stream:
    """Batches as a stream hands them out (for take's arithmetic)."""

    def __init__(self, batches):
        self.batches = list(batches)

    def read(self, timeout):
        from jazari.link.telemetry import Batch

        t_us, dropped, lost = self.batches.pop(0)
        values = np.zeros((len(t_us), 1), dtype=np.float32)
        return Batch(None, np.asarray(t_us), values, values, dropped, lost)


def test_take_counts_exactly_the_samples_asked_for():
    from jazari.record.monitor import Summary, take

    stream = _Stream([(range(0, 5), 0, 0), (range(8, 12), 3, 0), (range(15, 20), 2, 1), (range(30, 40), 6, 4)])
    summary = Summary()
    taken = np.concatenate([t for t, _v in take(stream, 22, summary)])
    # 5 + (3 missing, 4) + (3 missing, 5) = 20 slots; the last batch's 6 dropped fill only 2.
    assert list(taken) == [0, 1, 2, 3, 4, 8, 9, 10, 11, 15, 16, 17, 18, 19]
    assert (summary.received, summary.dropped, summary.lost) == (14, 7, 1)
    assert summary.slots == 22
