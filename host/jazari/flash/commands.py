"""`jazari flash`, `jazari identify` and `jazari roster`: preparing a classroom of boards."""

import re

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _


def register(subparsers):
    flash = subparsers.add_parser("flash", help=_("flash MicroPython and the kit on boards, all at once"))
    flash.add_argument("ports", nargs="*", metavar="PORT", help=_("serial ports of the boards (or --all)"))
    flash.add_argument("--all", action="store_true", help=_("every ESP32 board on USB and every virtual board in download mode"))
    flash.add_argument("--firmware", metavar="FILE", help=_("MicroPython firmware file (default: the cached release)"))
    flash.add_argument("--lessons", nargs="+", default=[], metavar="FOLDER", help=_("lesson folders to put on the boards"))
    flash.add_argument("--models", nargs="+", default=[], metavar="FILE", help=_(".tflite models to put on the boards"))
    flash.add_argument("--roster", metavar="FILE", help=_("class roster (CSV): names the boards and ties them to students"))
    flash.add_argument("--baud", type=int, default=None, metavar="N", help=_("line rate while writing (default 921600)"))
    flash.add_argument("--offline", action="store_true", help=_("never download firmware"))
    flash.set_defaults(func=do_flash)

    identify = subparsers.add_parser("identify", help=_("blink a board's LED and show whose it is"))
    identify.add_argument("port", help=_("serial port or virtual board path"))
    identify.set_defaults(func=do_identify)

    roster = subparsers.add_parser("roster", help=_("show a class roster: which board is whose; print labels"))
    roster.add_argument("file", metavar="FILE", help=_("class roster (CSV)"))
    roster.add_argument("--labels", action="store_true", help=_("print a label for each board"))
    roster.add_argument("--html", metavar="OUT", help=_("write a printable page of labels (HTML)"))
    roster.set_defaults(func=do_roster)


# -- jazari flash ---------------------------------------------------------


def do_flash(args):
    from jazari.flash.classroom import Classroom
    from jazari.flash.flasher import DEFAULT_BAUD, flash_boards

    ports = args.ports or (all_ports() if args.all else None)
    if ports is None:
        raise JazariError(_("Name the ports to flash, or use --all ('jazari boards' lists them)."))
    if not ports:
        raise JazariError(
            _("No board to flash: plug the boards in with data USB cables, or start virtual ones with 'jazari sim --download-mode'.")
        )
    classroom = Classroom(
        firmware=args.firmware, lessons=args.lessons, models=args.models, roster=args.roster, offline=args.offline
    )
    with _Bars() as bars:
        results = flash_boards(ports, classroom.plan, baud=args.baud or DEFAULT_BAUD, watch=bars)
    print_results(results)
    stopped = sum(1 for result in results if result.interrupted)
    if stopped:
        console.error(_("Stopped: {stopped} of {count} boards were not finished: flash them again.").format(
            stopped=stopped, count=len(results)
        ))
        return 130
    failed = sum(1 for result in results if not result.ok)
    if failed:
        console.error(_("{failed} of {count} boards failed: fix what their line says, then flash them again.").format(
            failed=failed, count=len(results)
        ))
        return 1
    console.say(_("{count} boards flashed.").format(count=len(results)))
    return 0


def all_ports():
    """Every ESP32-looking USB port, then every virtual board waiting in download mode."""
    from jazari.link.ports import usb_boards

    usb = sorted((port.device for port in usb_boards()), key=_natural)
    try:
        from jazari.sim.registry import running_boards
    except ImportError:
        return usb
    return usb + sorted((entry["port"] for entry in running_boards() if entry.get("download")), key=_natural)


def _natural(text):
    """ttyUSB2 before ttyUSB10, sim-esp32-2 before sim-esp32-10: the order roster rows are handed out in."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def print_results(results):
    from rich.console import Console
    from rich.table import Table

    table = Table(_("port"), _("chip"), _("MAC"), _("board"), _("student or team"), _("firmware"), _("result"), _("seconds"))
    for result in results:
        owner = result.owner if result.team in ("", result.owner) else f"{result.owner} ({result.team})"
        outcome = (_("ok, retried at a lower rate") if result.retried else _("ok")) if result.ok else result.message
        firmware = result.job.image.firmware if result.job else ""
        table.add_row(
            result.port, result.chip, result.mac, result.name, owner, firmware, outcome, f"{result.seconds:.1f}"
        )
    Console(file=console.stream("out"), width=200).print(table)


class _Bars:
    """One progress bar per board, labelled with its port and, once known, its owner."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        stream = console.stream("err")
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(file=stream),
            disable=not (hasattr(stream, "isatty") and stream.isatty()),
        )
        self.tasks = {}
        self.bars.start()
        return self

    def __exit__(self, *_exc):
        self.bars.stop()

    def started(self, port):
        self.tasks[port] = self.bars.add_task(port, total=1.0, status=_("connecting"))

    def assigned(self, port, job):
        label = " ".join(part for part in (port, job.name, job.owner) if part)
        self.bars.update(self.tasks[port], description=label, status=_("writing"))

    def progress(self, port, fraction):
        self.bars.update(self.tasks[port], completed=fraction)

    def writing(self, port, step):
        if step == "verify":
            self.bars.update(self.tasks[port], status=_("checking"))

    def finished(self, result):
        status = _("done") if result.ok else _("interrupted") if result.interrupted else _("failed")
        self.bars.update(self.tasks[result.port], status=status)


# -- jazari identify --------------------------------------------------------

_BLINKS = 5
_BLINK_MS = 150


def do_identify(args):
    from jazari.link.commands import identity_rows
    from jazari.link.device import connect

    with connect(args.port) as device:
        device.exec(f"import kit\nkit.led.blink({_BLINKS}, {_BLINK_MS})", timeout=10)
        info = device.info()
    if info.get("config_error"):
        console.warn(info["config_error"])
    if not info.get("name"):
        console.say(_("The board on {port} blinked; it has no name yet: flash it with --roster.").format(port=args.port))
        return 0
    console.say(_("The board on {port} blinked.").format(port=args.port))
    for label, value in identity_rows(info):
        console.say(f"{label}: {value}")
    return 0


# -- jazari roster ------------------------------------------------------------


def do_roster(args):
    from jazari.flash.labels import html_labels, text_labels
    from jazari.flash.roster import Roster, short_id

    roster = Roster(args.file)
    if args.html:
        from pathlib import Path

        Path(args.html).write_text(html_labels(roster.seats, roster.path.stem), encoding="utf-8")
        console.say(_("Labels written to {path}: open it in a browser and print it.").format(path=args.html))
    if args.labels:
        console.say(text_labels(roster.seats))
    if args.labels or args.html:
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(_("board"), _("student"), _("team"), _("MAC"), _("id"))
    for seat in roster.seats:
        table.add_row(seat.board, seat.student, seat.team, seat.mac or _("no board yet"), short_id(seat.mac))
    Console(file=console.stream("out"), width=200).print(table)
    return 0
