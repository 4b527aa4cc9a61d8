"""Edge Impulse data-forwarder lines from a virtual board running a student's script (no kit involved)."""

import numpy as np

from jazari.link.device import Device
from jazari.record.writers import read_csv
from record_helpers import ctrl_c, cut_short, run_jazari

# A student's sketch: three values per line, 100 lines a second, and now and then
# a line that is not three numbers (a debug print, half a line).
SKETCH = """
import time
i = 0
while True:
    print('%d,%d\\t%d' % (i, 2 * i, -i))
    if i % 10 == 5:
        print('oops %d' % i)
    if i % 10 == 7:
        print('%d,%d' % (i, i))
    i += 1
    time.sleep_ms(10)
"""


def start_sketch(port, code=SKETCH):
    """Start `code` on the board and let go of the port: it keeps printing, as a board does."""
    device = Device.open(port)
    device.transport.exec_raw_no_follow(code)
    device.transport.in_raw_repl = False
    device.close()


def test_monitor_forwarder_counts_every_line(virtual_board, tmp_path):
    start_sketch(virtual_board.port)
    out = tmp_path / "fwd.csv"
    result = run_jazari("monitor", virtual_board.port, "--forwarder", "--names", "a,b,c", "--seconds", "1", "--record", str(out))
    assert result.returncode == 0, result.stderr
    names, t_us, values = read_csv(out)
    assert names == ("a", "b", "c")
    first = int(values[0, 0])
    # Every row is a whole line of the sketch, in order.
    assert np.array_equal(values[:, 1], 2 * values[:, 0]) and np.array_equal(values[:, 2], -values[:, 0])
    assert np.all(np.diff(values[:, 0]) >= 1)
    # Each i from the first to the last arrived, except those whose line came after a bad one:
    # the two malformed lines per ten take their own places in time (gaps), none vanishes.
    last = int(values[-1, 0])
    bad = sum(1 for i in range(first, last) if i % 10 in (5, 7))
    # The first slot may be the bad line printed just after i = first - 1, the last one that after i = last.
    lost = int(result.stdout.split("lost on the wire ")[1].split(".")[0])
    edges = ((first - 1) % 10 in (5, 7)) + (last % 10 in (5, 7))
    assert 0 <= lost - bad <= edges
    assert len(values) == last - first + 1
    assert f"received {len(values)} samples" in result.stdout
    assert f"{lost} lines were not 3 numbers" in result.stderr
    period = np.diff(t_us).min()  # 1 / the rate measured before recording
    assert len(t_us) + bad == round((t_us[-1] - t_us[0]) / period) + 1  # the bad lines left holes


def test_forwarder_detects_channels_and_rate_then_records(virtual_board, tmp_path):
    start_sketch(virtual_board.port)
    result = run_jazari("record", virtual_board.port, "--forwarder", "--label", "count", "--seconds", "0.5", "--count", "2", "--countdown", "0", "--dataset", str(tmp_path / "ds"))
    assert result.returncode == 0, result.stderr
    assert "3 values per line" in result.stdout
    import json

    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())["examples"]
    assert [entry["file"] for entry in manifest] == ["count/count.1.csv", "count/count.2.csv"]
    for entry in manifest:
        assert entry["source"] == "forwarder" and entry["channels"] == ["ch0", "ch1", "ch2"]
        names, t_us, values = read_csv(tmp_path / "ds" / entry["file"])
        assert len(t_us) == entry["samples"] and entry["samples"] + entry["lost"] == round(0.5 * entry["rate_hz"])
        assert entry["flagged"] == (entry["lost"] > 0)


def test_forwarder_error_line_and_silence(virtual_board):
    start_sketch(virtual_board.port, "import time\nwhile True:\n    print('ERR: no IMU found')\n    time.sleep_ms(50)\n")
    result = run_jazari("monitor", virtual_board.port, "--forwarder", "--seconds", "1")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == ["The board reported an error: ERR: no IMU found"]
    start_sketch(virtual_board.port, "import time\ntime.sleep(30)\n")
    result = run_jazari("monitor", virtual_board.port, "--forwarder", "--seconds", "1")
    assert result.returncode == 1 and "No lines came from" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_board_gone_mid_record_keeps_every_received_sample(virtual_board, tmp_path):
    start_sketch(virtual_board.port)
    out = tmp_path / "cut.csv"
    pull_the_cable = lambda _process: virtual_board.stop()  # noqa: E731
    code, stdout, stderr = cut_short(out, pull_the_cable, "monitor", virtual_board.port, "--forwarder", "--rate", "100", "--record", str(out))
    assert code == 1
    assert "stopped sending" in stderr and "Traceback" not in stderr
    names, t_us, values = read_csv(out)
    assert f"received {len(t_us)} samples" in stdout  # the file holds every sample received
    assert np.array_equal(values[:, 1], 2 * values[:, 0])


def test_ctrl_c_ends_cleanly_with_a_summary(virtual_board, tmp_path):
    start_sketch(virtual_board.port)
    out = tmp_path / "stopped.csv"
    png = tmp_path / "stopped.png"
    code, stdout, stderr = cut_short(out, ctrl_c, "monitor", virtual_board.port, "--forwarder", "--rate", "100", "--record", str(out), "--png", str(png))
    assert code == 0, stderr
    names, t_us, values = read_csv(out)
    assert f"received {len(t_us)} samples" in stdout and "Traceback" not in stderr
    from jazari.record.png import decode_png

    assert decode_png(png.read_bytes()).shape[1] > 100


def test_live_view_shows_plots_and_counters(virtual_board):
    import io

    from jazari.console import console
    from jazari.record.forwarder import ForwarderSource
    from jazari.record.monitor import monitor

    start_sketch(virtual_board.port)
    screen = io.StringIO()
    before = console.out
    console.out = screen
    try:
        with ForwarderSource(virtual_board.port, rate_hz=100, names=("a", "b", "c")) as source:
            summary, failure = monitor(source, seconds=0.5, live=True)
    finally:
        console.out = before
    assert failure is None and summary.received + summary.lost == 50
    shown = " ".join(screen.getvalue().split())  # lines joined where the view wrapped them
    assert "lost on the wire" in shown and "dropped on the board" in shown and "Ctrl-C to stop" in shown
    assert any(0x2801 <= ord(char) <= 0x28FF for char in shown)  # braille dots were drawn
