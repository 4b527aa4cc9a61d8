"""`jazari monitor`: watch a stream live, keep what was received.

    summary, failure = monitor(source, seconds=10, record="walk.csv", png="walk.png")

Every batch is written (and flushed) before the next is read; a Ctrl-C, a
pulled cable or the end of `seconds` all stop the same way: the file is
closed, the PNG drawn, and the summary counts exactly what is in the file.
"""

import contextlib
import time
from dataclasses import dataclass

from jazari.console import console
from jazari.errors import JazariError
from jazari.i18n import _
from jazari.record.trace import Recent, Trace
from jazari.record.writers import open_writer

READ_TIMEOUT = 0.25  # seconds: the live view stays fresh while waiting
NO_DATA_SECONDS = 5.0  # a stream silent this long has stopped
WINDOW_SECONDS = 5.0  # what the live plots show
REFRESH_PER_SECOND = 4


@dataclass
class Summary:
    """What a stream delivered: samples received, dropped on the board, lost on the wire."""

    received: int = 0
    dropped: int = 0
    lost: int = 0
    rate: float = 0.0  # measured on the board's clock
    started: float = 0.0

    @property
    def slots(self):
        return self.received + self.dropped + self.lost

    @property
    def seconds(self):
        return time.monotonic() - self.started if self.started else 0.0


def take(stream, samples=None, summary=None, no_data=NO_DATA_SECONDS):
    """Yield (t_us, values) from `stream` until `samples` samples are covered.

    Samples dropped or lost count as covered (they held their place in
    time), so an example is always the same length; the last batch is cut
    to fit. `summary` (a Summary) is kept up to date. None: until stopped.
    """
    summary = summary if summary is not None else Summary()
    heard = time.monotonic()
    while samples is None or summary.slots < samples:
        batch = stream.read(READ_TIMEOUT)
        now = time.monotonic()
        if batch is None:
            if now - heard > no_data:
                raise JazariError(_("No samples came for {seconds} s: the stream has stopped.").format(seconds=int(no_data)))
            continue
        heard = now
        summary.started = summary.started or now
        # The missing samples come before the batch's own; what falls past the end is not counted.
        left = len(batch.t_us) + batch.dropped + batch.lost if samples is None else samples - summary.slots
        dropped = min(batch.dropped, left)
        lost = min(batch.lost, left - dropped)
        summary.dropped += dropped
        summary.lost += lost
        room = left - dropped - lost
        t_us, values = batch.t_us[:room], batch.values[:room]
        summary.received += len(t_us)
        yield t_us, values


def monitor(source, seconds=None, record=None, png=None, live=None):
    """Stream from `source` until Ctrl-C or `seconds`; (Summary, JazariError or None)."""
    stream = source.open_stream()
    info = stream.info
    recent = Recent(WINDOW_SECONDS * info.rate_hz, len(info.channels))
    trace = Trace(len(info.channels)) if png else None
    summary, failure, writer = Summary(), None, None
    wanted = round(seconds * info.rate_hz) if seconds else None
    try:
        writer = open_writer(record, info.channels) if record else None
        title = _("{source} on {port}: Ctrl-C to stop").format(source=info.source, port=source.port)
        with _live_view(info, recent, summary, live, title):
            for t_us, values in take(stream, wanted, summary):
                if writer:
                    writer.write(t_us, values)
                recent.add(t_us, values)
                if trace:
                    trace.add(t_us, values)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a monitor ends: what was received is kept
    except JazariError as problem:
        failure = problem
    finally:
        summary.rate = recent.rate()
        stream.close()
        if writer:
            writer.close()
    if png:
        from jazari.record.chart import write_png

        write_png(png, *trace.samples(), info.channels, info.units, 1e6 / info.rate_hz)
    for line in stream.problems():
        console.warn(line)
    return summary, failure


def _live_view(info, recent, summary, live, title):
    """A rich Live view on a terminal (or when `live` says so), else nothing."""
    out = console.stream("out")
    if live is False or (live is None and not out.isatty()):
        return contextlib.nullcontext()
    from rich.console import Console
    from rich.live import Live

    from jazari.record.live import plot_width, render

    screen = Console(file=out)
    totals = lambda: (summary.received, summary.dropped, summary.lost)  # noqa: E731
    return Live(
        get_renderable=lambda: render(info, recent, totals(), summary.seconds, plot_width(screen.width), title),
        console=screen,
        refresh_per_second=REFRESH_PER_SECOND,
    )


def summary_line(summary, source):
    return _("{source}: received {received} samples ({rate} Hz measured), dropped on the board {dropped}, lost on the wire {lost}.").format(
        source=source, received=summary.received, rate="%.1f" % summary.rate, dropped=summary.dropped, lost=summary.lost
    )
