"""What the monitor and record tests share: running `jazari` and watching a file grow."""

import os
import signal
import subprocess
import sys
import time

ENV = {"JAZARI_LANG": "en"}


def run_jazari(*args, lang="en"):
    return subprocess.run(
        [sys.executable, "-m", "jazari.cli", "--lang", lang, *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **ENV},
    )


def start_jazari(*args):
    """`jazari ARGS` left running (stop it with a signal, then communicate())."""
    return subprocess.Popen(
        [sys.executable, "-m", "jazari.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **ENV},
    )


def wait_for_rows(path, rows, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not get {rows} rows")


def cut_short(out, stop, *args, rows=30):
    """Run `jazari ARGS` until `out` has `rows` rows, call stop(process), let it end.

    Returns (exit code, stdout, stderr)."""
    process = start_jazari(*args)
    try:
        wait_for_rows(out, rows)
        stop(process)
        stdout, stderr = process.communicate(timeout=40)
    finally:
        process.kill()
    return process.returncode, stdout, stderr


def ctrl_c(process):
    process.send_signal(signal.SIGINT)
