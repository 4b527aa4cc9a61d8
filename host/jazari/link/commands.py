"""`jazari boards` and `jazari info`: which boards are there, and what each is."""

from concurrent.futures import ThreadPoolExecutor

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _

QUERY_TIMEOUT = 3  # seconds: a board that needs longer is reported as not answering


def register(subparsers):
    boards = subparsers.add_parser("boards", help=_("list ESP32 boards on USB and running virtual boards"))
    boards.set_defaults(func=do_boards)
    info = subparsers.add_parser("info", help=_("show what a board is: chip, versions, unique id, free memory"))
    info.add_argument("port", help=_("serial port or virtual board path"))
    info.set_defaults(func=do_info)


def query(port):
    """(info dict, None) for a board that answers, else (None, the translated reason)."""
    from jazari.link.device import connect

    try:
        with connect(port, timeout=QUERY_TIMEOUT) as device:
            return device.info(), None
    except JazariError as failure:
        return None, failure.message


def info_rows(info):
    return [
        (_("chip"), info.get("chip")),
        (_("board"), info.get("board")),
        (_("MicroPython"), info.get("micropython")),
        (_("kit"), info.get("kit") or _("not installed")),
        (_("unique id"), info.get("unique_id")),
        (_("free memory"), _("{kib} KB").format(kib=round(info.get("free_heap", 0) / 1024))),
    ]


def do_info(args):
    from jazari.flash.integrity import check_flashed
    from jazari.link.device import connect

    with connect(args.port) as device:
        check_flashed(device, args.port)
        info = device.info()
    for label, value in identity_rows(info) + info_rows(info):
        console.say(f"{label}: {value}")


def identity_rows(info):
    """Whose the board is, from its /kit.json (written by `jazari flash`): only what it has."""
    labels = ((_("name"), "name"), (_("owner"), "owner"), (_("team"), "team"))
    return [(label, info[key]) for label, key in labels if info.get(key)]


def do_boards(args):
    from rich.console import Console
    from rich.table import Table

    from jazari.link.ports import find_boards

    ports = find_boards()
    if not ports:
        console.say(_("No board found. Plug one in with a data USB cable, or start a virtual one with 'jazari sim'."))
        return 1
    with ThreadPoolExecutor(max_workers=min(16, len(ports))) as pool:
        answers = list(pool.map(lambda port: query(port.device), ports))
    table = Table(_("port"), _("kind"), _("chip"), _("board"), _("MicroPython"), _("kit"), _("unique id"), _("free memory"))
    for port, (info, problem) in zip(ports, answers):
        kind = _("virtual") if port.kind == "virtual" else port.description
        if info is None:
            table.add_row(port.device, kind, problem, "", "", "", "", "")
            continue
        values = [str(value) for _label, value in info_rows(info)]
        table.add_row(port.device, kind, *values)
    Console(file=console.stream("out"), width=200).print(table)
    return 0
