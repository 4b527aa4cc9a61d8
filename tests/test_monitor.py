"""`jazari monitor` on the kit's telemetry stream, against virtual boards."""

import numpy as np
import pytest

from jazari.record.png import decode_png
from jazari.record.writers import read_csv
from record_helpers import ctrl_c, cut_short, run_jazari

def test_monitor_records_csv_and_png(virtual_board, tmp_path):
    out, png = tmp_path / "imu.csv", tmp_path / "imu.png"
    result = run_jazari("monitor", virtual_board.port, "--rate", "100", "--seconds", "1", "--record", str(out), "--png", str(png))
    assert result.returncode == 0, result.stderr
    names, t_us, values = read_csv(out)
    assert names == ("ax", "ay", "az", "gx", "gy", "gz")
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"imu: received {len(t_us)} samples")
    dropped = int(summary.split("dropped on the board ")[1].split(",")[0])
    lost = int(summary.split("lost on the wire ")[1].rstrip("."))
    assert len(t_us) + dropped + lost == 100  # exactly one second of samples
    assert np.all(np.diff(t_us) > 0)
    assert np.isfinite(values).all()
    pixels = decode_png(png.read_bytes())
    assert pixels.shape[0] > 6 * 100  # a panel per channel


def test_monitor_without_port_picks_the_only_board(virtual_boards):
    (board,) = virtual_boards(1)
    result = run_jazari("monitor", "--seconds", "0.2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("imu: received")
    virtual_boards(1)
    crowded = run_jazari("monitor", "--seconds", "0.2")
    assert crowded.returncode == 1 and len(crowded.stderr.strip().splitlines()) == 1
    assert crowded.stderr.startswith("2 boards are connected") and board.port in crowded.stderr


def test_ctrl_c_keeps_every_received_sample_and_frees_the_board(virtual_board, tmp_path):
    out = tmp_path / "stopped.csv"
    code, stdout, stderr = cut_short(out, ctrl_c, "monitor", virtual_board.port, "--rate", "200", "--record", str(out))
    assert code == 0, stderr
    names, t_us, values = read_csv(out)
    assert f"imu: received {len(t_us)} samples" in stdout and "Traceback" not in stderr
    again = run_jazari("info", virtual_board.port)  # the board was left at its REPL
    assert again.returncode == 0, again.stderr


def test_board_gone_mid_record(virtual_board, tmp_path):
    out = tmp_path / "cut.csv"
    pull_the_cable = lambda _process: virtual_board.stop()  # noqa: E731
    code, stdout, stderr = cut_short(out, pull_the_cable, "monitor", virtual_board.port, "--rate", "200", "--record", str(out))
    assert code == 1 and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    names, t_us, values = read_csv(out)
    assert f"imu: received {len(t_us)} samples" in stdout  # the file holds every sample received


@pytest.mark.parametrize(
    "lang, args",
    [("en", ("--record", "/nonexistent/walk.csv")), ("en", ("--png", "/nonexistent/walk.png")), ("en", ("--source", "gyro")), ("en", ("--seconds", "0")), ("en", ("--rate", "-2")), ("en", ("--source", "adc")), ("fr", ("--source", "gyro")), ("ar", ("--seconds", "-1"))],
)
def test_bad_options_are_one_translated_line(lang, args):
    result = run_jazari("monitor", "/dev/null", *args, lang=lang)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert args[1] in result.stderr
