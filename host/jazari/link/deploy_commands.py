"""`jazari deploy PATH... [--port PORT] [--to FOLDER]`."""

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _


def register(subparsers):
    deploy = subparsers.add_parser("deploy", help=_("copy files and folders to the board, only what changed"))
    deploy.add_argument("paths", nargs="+", metavar="PATH", help=_("files or folders on this computer"))
    deploy.add_argument("--port", help=_("the board's serial port (default: the only board plugged in)"))
    deploy.add_argument("--to", default="/", help=_("folder on the board to copy into (default: /)"))
    deploy.set_defaults(func=do_deploy)


def the_only_board():
    """The port of the one board found; an error when there are none or several."""
    from jazari.link.ports import find_boards

    ports = [port.device for port in find_boards()]
    if len(ports) == 1:
        return ports[0]
    if not ports:
        raise JazariError(_("No board found. Plug one in with a data USB cable, or start a virtual one with 'jazari sim'."))
    raise JazariError(_("Several boards found ({ports}): choose one with --port.").format(ports=", ".join(ports)))


def do_deploy(args):
    from jazari.link.deploy import deploy, plan
    from jazari.link.session import LinkSession

    pairs = plan(args.paths, args.to)
    with LinkSession.open(args.port or the_only_board()) as link:
        report = deploy(link, pairs)
    for path in report.copied:
        console.say(_("copied {path}").format(path=path))
    console.say(
        _("{copied} copied, {skipped} unchanged, {kb} KB sent.").format(
            copied=len(report.copied), skipped=len(report.skipped), kb=f"{report.sent / 1024:.1f}"
        )
    )
    return 0
