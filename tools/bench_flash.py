"""How long flashing a classroom takes: 1, 8 and 20 virtual boards at once.

    python tools/bench_flash.py [--baud 921600] [--counts 1 8 20]

Each round starts that many virtual ESP32 boards in download mode with the
line rate imposed (`--baud`, what a USB-serial bridge would carry), then times
`flash_boards` (real esptool, one thread per board) writing each board the
image `jazari flash` builds: the stand-in firmware of make_test_firmware.py,
the partition table, and the kit (compiled for this computer) in the vfs
with the board's /kit.json. Boards are started before the clock starts and
stopped after it stops.

The baseline is one board in the same run: the table gives each count's
total time and its ratio to that, and how long every board waited while the
images were built (`plan s`: `Classroom.plan` runs once all boards have said
what they are; it builds the image they share once, then adds each board's
/kit.json). Real boards write their flash with their
own CPU; virtual boards use this computer's, shared with the flasher, so
on a small machine the ratio grows with the count for that reason too.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent


def timed(plan, spent):
    """`plan`, adding the seconds it takes to `spent`."""

    def run(found):
        start = time.monotonic()
        try:
            return plan(found)
        finally:
            spent.append(time.monotonic() - start)

    return run


def flash_round(count, baud, firmware):
    from jazari.flash.classroom import Classroom
    from jazari.flash.flasher import flash_boards
    from jazari.sim.board import start_boards

    boards = start_boards(count, profile="esp32", download_mode=True, baud=baud)
    planning = []
    try:
        ports = [board.port for board in boards]
        start = time.monotonic()
        results = flash_boards(ports, timed(Classroom(firmware=firmware).plan, planning), baud=baud)
        elapsed = time.monotonic() - start
    finally:
        for board in boards:
            board.stop()
    failed = [result for result in results if not result.ok]
    for result in failed:
        print(f"  {result.port}: {result.message}", file=sys.stderr)
    slowest = max(result.seconds for result in results)
    return elapsed, slowest, sum(planning), len(failed), sum(result.retried for result in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baud", type=int, default=921600, help="line rate imposed on every board and used by esptool")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 8, 20], help="boards per round (the first is the baseline)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-flash-") as scratch:
        # Boards and caches of this run only: the user's own virtual boards and cache are left alone.
        os.environ["JAZARI_RUNTIME_DIR"] = str(Path(scratch, "runtime"))
        os.environ["JAZARI_CACHE"] = str(Path(scratch, "cache"))
        firmware = Path(scratch, "app.bin")
        subprocess.run([sys.executable, str(TOOLS / "make_test_firmware.py"), str(firmware), "--chip", "esp32"], check=True, capture_output=True)
        flash_round(1, args.baud, firmware)  # warm-up: the kit compiled once, esptool imported

        print(f"flashing virtual ESP32 boards at {args.baud} baud (image: test firmware + partition table + kit)")
        print(f"{'boards':>6} {'total s':>8} {'slowest board s':>16} {'plan s':>7} {'per board s':>12} {'ratio to 1':>11} {'failed':>7} {'retried':>8}")
        baseline = None
        for count in args.counts:
            total, slowest, plan, failed, retried = flash_round(count, args.baud, firmware)
            baseline = baseline or total
            print(f"{count:>6} {total:>8.2f} {slowest:>16.2f} {plan:>7.2f} {total / count:>12.3f} {total / baseline:>11.2f} {failed:>7} {retried:>8}")


if __name__ == "__main__":
    main()
