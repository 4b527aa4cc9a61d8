"""`jazari sim`: start virtual boards and keep them running until Ctrl-C."""

import os
import signal
import time

from jazari.console import console
from jazari.i18n import _
from jazari.sim.profiles import GENERATORS, PROFILES, BadOption

WATCH_INTERVAL = 0.5  # seconds between checks that every board still runs


def register(subparsers):
    sim = subparsers.add_parser("sim", help=_("start virtual boards: ESP32s in software, no hardware needed"))
    sim.add_argument(
        "--board", default="esp32", metavar=_("PROFILE"), help=_("board profile: {profiles}").format(profiles=", ".join(PROFILES))
    )
    sim.add_argument(
        "--scenario",
        metavar=_("FILE|NAME"),
        help=_("IMU data: a CSV file of samples, or one of {names}").format(names=", ".join(GENERATORS)),
    )
    sim.add_argument("--baud", type=int, metavar="N", help=_("pace the serial line at N bits per second"))
    sim.add_argument("--count", type=int, default=1, metavar="N", help=_("how many boards to start"))
    sim.add_argument("--flash", metavar=_("FILE"), help=_("the board's flash file: made if missing, kept afterwards"))
    sim.add_argument(
        "--download-mode",
        action="store_true",
        help=_("start in the ROM bootloader, as if BOOT were held at reset: esptool can flash the boards"),
    )
    sim.add_argument(
        "--unconfined",
        action="store_true",
        help=_("for development only: run without bubblewrap, so code on the board can reach this computer"),
    )
    cable = sim.add_mutually_exclusive_group()
    cable.add_argument("--unplug", metavar=_("NAME"), help=_("pull the USB cable of the running virtual board NAME (e.g. sim-esp32-0)"))
    cable.add_argument("--replug", metavar=_("NAME"), help=_("plug it in again: the same port, the board boots from power-on"))
    sim.set_defaults(func=do_sim)


def _check(args):
    if args.count < 1:
        raise BadOption(_("--count must be 1 or more."))
    if args.baud is not None and args.baud <= 0:
        raise BadOption(_("--baud must be a positive number of bits per second."))
    if args.flash and args.count > 1:
        raise BadOption(_("One flash file is one board: use --flash with --count 1."))


def _stop_on_sigterm(_signum, _frame):
    raise KeyboardInterrupt  # `kill` or a closed terminal stops the boards as Ctrl-C does


def do_cable(name, plug):
    """Pull or plug in the cable of a board that another `jazari sim` runs."""
    from jazari.sim.registry import board_entry

    entry = board_entry(name)
    if entry is None:
        raise BadOption(_("No virtual board called {name} is running ('jazari boards' lists them).").format(name=name))
    os.kill(entry["pid"], signal.SIGUSR2 if plug else signal.SIGUSR1)
    console.say((_("{name} plugged in again.") if plug else _("{name} unplugged.")).format(name=name))
    return 0


def do_sim(args):
    from jazari.sim.board import start_boards

    if args.unplug or args.replug:
        return do_cable(args.unplug or args.replug, plug=bool(args.replug))
    _check(args)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.unconfined:
        console.warn(_("Unconfined virtual boards: code on them can read and change this computer's files. Run only code you trust."))
    boards = start_boards(
        args.count,
        profile=args.board,
        scenario=args.scenario,
        baud=args.baud,
        flash=args.flash,
        download_mode=args.download_mode,
        confined=not args.unconfined,
    )
    try:
        for board in boards:
            console.say(board.port)
        if args.download_mode:
            status = _("{count} virtual {profile} board(s) waiting for esptool in download mode; press Ctrl-C to stop.")
        else:
            status = _("{count} virtual {profile} board(s) running; press Ctrl-C to stop.")
        console.warn(status.format(count=len(boards), profile=args.board))
        while all(board.running for board in boards):
            time.sleep(WATCH_INTERVAL)
        console.error(_("A virtual board stopped unexpectedly; stopping the others."))
        return 1
    except KeyboardInterrupt:
        console.warn(_("Virtual boards stopped."))
        return 0
    finally:
        for board in boards:
            board.stop()
