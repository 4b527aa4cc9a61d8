"""`jazari demo`: the kit's main job in one minute, on a virtual board if none is given.

Starts a virtual board (unless --port names a real one), connects, shows what
the board is, blinks its LED, and streams a few seconds of IMU data.
"""

import contextlib
import time

from jazari.console import console
from jazari.i18n import _

BLINKS = 3
BLINK_MS = 150
SAMPLE_HZ = 10

# Runs on the board: print one IMU sample per line, as text, for `seconds`.
_STREAM_CODE = """
import time
from kit.hw.imu import MPU6050
_imu = MPU6050()
_end = time.ticks_add(time.ticks_ms(), {ms})
while time.ticks_diff(_end, time.ticks_ms()) > 0:
    _a, _g = _imu.read()
    print('%.3f %.3f %.3f %.1f %.1f %.1f' % (_a + _g))
    time.sleep_ms({period})
"""
_BARS = " ▁▂▃▄▅▆▇█"


def register(subparsers):
    demo = subparsers.add_parser("demo", help=_("guided demo: start a virtual board, blink its LED, stream its IMU"))
    demo.add_argument("--port", help=_("use this board instead of starting a virtual one"))
    demo.add_argument("--seconds", type=float, default=3.0, help=_("how long to stream IMU data"))
    demo.add_argument("--scenario", default="walking", help=_("motion of the virtual board: still, walking, shaking or a CSV file"))
    demo.set_defaults(func=do_demo)


def _bar(value, full_scale=2.0):
    level = min(len(_BARS) - 1, int(abs(value) / full_scale * (len(_BARS) - 1)))
    return _BARS[level]


class _LinePrinter:
    """Turns the board's output bytes into IMU lines shown as they arrive."""

    def __init__(self):
        self.pending = b""
        self.samples = 0

    def __call__(self, data):
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            self.show(line.decode("utf-8", "replace").strip())

    def show(self, line):
        values = line.split()
        if len(values) != 6:
            return
        ax, ay, az, gx, gy, gz = (float(value) for value in values)
        self.samples += 1
        bars = _bar(ax) + _bar(ay) + _bar(az)
        console.say(f"  {bars}  a = {ax:+.2f} {ay:+.2f} {az:+.2f} g   g = {gx:+7.1f} {gy:+7.1f} {gz:+7.1f} °/s")


def _show_info(info):
    from jazari.link.commands import info_rows

    for label, value in info_rows(info):
        console.say(f"  {label}: {value}")


def do_demo(args):
    import jazari

    with contextlib.ExitStack() as stack:
        board = None
        port = args.port
        if port is None:
            from jazari.sim.board import VirtualBoard

            console.say(_("Starting a virtual ESP32 board..."))
            board = stack.enter_context(VirtualBoard(profile="esp32", scenario=args.scenario))
            port = board.port
            console.say(_("Virtual board ready on {port}").format(port=port))
        device = stack.enter_context(jazari.connect(port))
        console.say(_("Connected. This board is:"))
        _show_info(device.info())

        console.say(_("Blinking the LED {times} times...").format(times=BLINKS))
        device.exec(f"from kit.hw import led\nled.blink({BLINKS}, {BLINK_MS})", timeout=10)
        if board is not None:
            changes = [event for event in board.events() if event.kind == "pin"]
            console.say(_("The virtual board recorded {count} LED changes.").format(count=len(changes)))

        console.say(_("Streaming the IMU for {seconds} s (accelerometer in g, gyroscope in degrees per second):").format(seconds=args.seconds))
        printer = _LinePrinter()
        started = time.monotonic()
        code = _STREAM_CODE.format(ms=int(args.seconds * 1000), period=1000 // SAMPLE_HZ)
        device.exec(code, timeout=args.seconds + 10, on_output=printer)
        elapsed = time.monotonic() - started
        console.say(_("{count} samples in {seconds:.1f} s. Next: start a board that keeps running with 'jazari sim', then 'mpremote connect PORT repl'.").format(count=printer.samples, seconds=elapsed))
    return 0
