"""The `jazari` command: a thin layer over the kit's modules.

Each area of the kit registers its own subcommands (`register(subparsers)` in
its `commands` module); each subcommand is a short `do_<name>(args)`. Errors
travel as `JazariError` and are printed here, once, as one translated line;
only here is the exit code chosen.
"""

import argparse
import importlib
import sys

from jazari import __version__
from jazari.console import RTL_MODES, console
from jazari.errors import JazariError
from jazari.i18n import LANGUAGES, _, set_language

# Areas whose `commands` module adds subcommands, in the order help lists them.
COMMAND_MODULES = (
    "jazari.sim.commands",
    "jazari.link.commands",
    "jazari.link.deploy_commands",
    "jazari.link.recover_commands",
    "jazari.record.commands",
    "jazari.nn.commands",
    "jazari.flash.commands",
    "jazari.demo",
)


def _pre_parse_language(argv):
    """Pick the language before building help texts (they are translated too)."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="jazari", description=_("Jazari Kit: edge AI on ESP32 boards, for classrooms and tournaments.")
    )
    parser.add_argument("--version", action="version", version=f"jazari {__version__}")
    parser.add_argument("--lang", choices=LANGUAGES, help=_("language of messages (default: from the locale)"))
    parser.add_argument("--rtl", choices=RTL_MODES, default="auto", help=_("reshape Arabic for terminals that do not"))
    subparsers = parser.add_subparsers(dest="command", metavar=_("COMMAND"))
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    set_language(_pre_parse_language(argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    console.rtl = args.rtl
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except JazariError as failure:
        console.error(failure.message)
        return failure.exit_code
    except KeyboardInterrupt:
        console.error(_("Stopped."))
        return 130
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
