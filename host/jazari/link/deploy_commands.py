"""`jazari deploy PATH... [--port PORT] [--to FOLDER]`."""

import time

from jazari.console import console
from jazari.i18n import _


def register(subparsers):
    deploy = subparsers.add_parser("deploy", help=_("copy files and folders to the board, only what changed"))
    deploy.add_argument("paths", nargs="+", metavar="PATH", help=_("files or folders on this computer"))
    deploy.add_argument("--port", help=_("the board's serial port (default: the only board plugged in)"))
    deploy.add_argument("--to", default="/", help=_("folder on the board to copy into (default: /)"))
    deploy.set_defaults(func=do_deploy)


def _several(ports):
    return _("Several boards found ({ports}): choose one with --port.").format(ports=", ".join(ports))


def do_deploy(args):
    from jazari.link.deploy import deploy, plan
    from jazari.link.ports import the_only_board
    from jazari.link.session import LinkSession

    pairs = plan(args.paths, args.to)
    with LinkSession.open(args.port or the_only_board(_several)) as link, DeployBar(pairs) as bar:
        report = deploy(link, pairs, progress=bar.update)
    for path in report.copied:
        console.say(_("copied {path}").format(path=path))
    console.say(
        _("{copied} copied, {skipped} unchanged, {kb} KB sent.").format(
            copied=len(report.copied), skipped=len(report.skipped), kb=f"{report.sent / 1024:.1f}"
        )
    )
    return 0


class DeployBar:
    """One progress bar for the whole deploy, on stderr when it is a terminal:
    the file being copied, files done of all, bytes done of all, the rate.

    Skipped files and resumed parts count as done but not as sent, so the
    rate is the line's.
    """

    def __init__(self, pairs):
        self.sizes = {remote: local.stat().st_size for local, remote in pairs}
        self.done = dict.fromkeys(self.sizes, 0)
        self.sent = 0  # bytes that crossed the line
        self.started = None
        self.current = None  # the board path being copied
        self.finished = set()  # board paths sent, or found up to date

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        stream = console.stream("err")
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[rate]}"),
            console=Console(file=stream),
            disable=not (hasattr(stream, "isatty") and stream.isatty()),
            transient=True,  # the summary lines that follow say what was done
        )
        self.task = self.bars.add_task("", total=sum(self.sizes.values()), files=self._files(), rate="")
        self.bars.start()
        return self

    def __exit__(self, *_exc):
        self.bars.stop()

    def update(self, remote, done, _total):
        """deploy()'s progress: a file's first call says where it starts, the next ones what arrived."""
        if remote == self.current:
            self.sent += done - self.done[remote]
        else:
            self.current = remote
            if self.started is None and done < self.sizes[remote]:
                self.started = time.monotonic()  # the first file that needs sending
        self.done[remote] = done
        if done == self.sizes[remote]:
            self.finished.add(remote)
        self.bars.update(
            self.task, description=remote, completed=sum(self.done.values()), files=self._files(), rate=self._rate()
        )

    def _files(self):
        return _("{done}/{count} files").format(done=len(self.finished), count=len(self.sizes))

    def _rate(self):
        if not self.sent:
            return ""
        return _("{kb_per_s} KB/s").format(kb_per_s=f"{self.sent / 1024 / (time.monotonic() - self.started):.1f}")
