"""`jazari recover PORT`: bring back a board that does not answer (docs/recovery.md)."""

from jazari.console import console
from jazari.i18n import _


def register(subparsers):
    recover = subparsers.add_parser("recover", help=_("bring back a board that does not answer: start it without your boot programs"))
    recover.add_argument("port", help=_("serial port or virtual board path"))
    recover.add_argument(
        "--reflash", action="store_true", help=_("through the ROM bootloader: rewrite the board's filesystem with your boot programs set aside, every other file kept")
    )
    recover.set_defaults(func=do_recover)


def do_recover(args):
    if args.reflash:
        from jazari.link.reflash import reflash

        moved, info = reflash(args.port, saved=_say_saved)
    else:
        from jazari.link.recover import recover

        moved, info = recover(args.port)
    if moved is None:
        console.say(_("The board on {port} answers; nothing to recover.").format(port=args.port))
        return 0
    for old, new in moved:
        console.say(_("{old} set aside as {new}: it stopped the board at start. Fix it, then rename it back.").format(old=old, new=new))
    console.say(_("The board on {port} answers ({chip}, {kib} KB free).").format(port=args.port, chip=info.get("chip"), kib=round(info.get("free_heap", 0) / 1024)))
    return 0


def _say_saved(path, offset):
    console.say(_("The board's files were saved to {path} first: if anything goes wrong, 'esptool write-flash {offset:#x} {path}' puts them back.").format(path=path, offset=offset))
