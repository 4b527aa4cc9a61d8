"""The README's first command: `jazari demo` on a virtual board, end to end."""

import os
import re
import subprocess
import sys

import jazari


def test_demo_runs_the_main_job_on_a_virtual_board(sim_runtime_dir):
    result = subprocess.run(
        [sys.executable, "-m", "jazari.cli", "--lang", "en", "demo", "--seconds", "1.5", "--scenario", "still"],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"kit: {jazari.__version__}" in out and "chip: ESP32" in out
    changes = int(re.search(r"recorded (\d+) LED changes", out).group(1))
    assert changes >= 2 * 3  # three blinks: on and off each
    samples = [line for line in out.splitlines() if "a = " in line]
    assert len(samples) >= 5
    # A board lying still feels 1 g on z and no rotation.
    for line in samples:
        ax, ay, az = (float(v) for v in line.split("a = ")[1].split(" g")[0].split())
        assert abs(ax) < 0.1 and abs(ay) < 0.1 and abs(az - 1.0) < 0.1
    assert "Traceback" not in result.stderr
