"""esptool's output while many boards are flashed at once, one thread each.

esptool prints through one global logger; while `routed_per_thread()` lasts,
`BoardLog` stands in for it and sends each thread's progress to that
thread's board (its `Route`), and esptool's text nowhere: what a teacher
reads comes from the results. Its hex formatter for traces is swapped too:
esptool formats every frame it sends and receives as hex even with tracing
off, which was most of the CPU spent flashing (half a second per MB per
board, and the boards share one interpreter lock). Tracing is never on here.
"""

import threading
from contextlib import contextmanager

import esptool.loader
from esp_pylib.logger import EspLog, EspLogBase


@contextmanager
def routed_per_thread():
    """esptool's logger and hex formatter replaced; yields the BoardLog."""
    board_log = BoardLog()
    previous, hex_formatter = EspLog.instance, esptool.loader.HexFormatter
    EspLog.set_logger(board_log)
    esptool.loader.HexFormatter = _HexUnformatted
    try:
        yield board_log
    finally:
        EspLog.instance, esptool.loader.HexFormatter = previous, hex_formatter  # esptool as it was


class _HexUnformatted:
    """Stands in for esptool's HexFormatter: the size, not the bytes."""

    def __init__(self, data, auto_split=True):
        self.size = len(data)

    def __str__(self):
        return f"<{self.size} bytes>"


class BoardLog(EspLogBase):
    """esptool's logger, replaced while flashing: each thread's progress goes
    to its own board's `Route` (one bar per board); esptool's text is not
    shown (what a teacher reads comes from the results). Built on esp_pylib's
    EspLogBase, the interface esptool documents for custom loggers."""

    def __init__(self):
        self._local = threading.local()

    def routed(self, port, watch):
        """Route this thread's progress to `port` while the returned context lasts."""
        return Route(self._local, port, watch)

    def print(self, *args, **kwargs):
        pass

    note = hint = debug = warn = err = warning = error = print

    def set_verbosity(self, mode):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        route = getattr(self._local, "route", None)
        if route is not None:
            route.track(cur_iter, total_iters)


class Route:
    """One board's progress, from esptool's counts to the fraction of its whole image."""

    def __init__(self, local, port, watch):
        self.local, self.port, self.watch = local, port, watch
        self.start(1)

    def start(self, chunks):
        """A write of `chunks` chunks begins: the bar goes back to 0."""
        self.chunks, self.base, self.last = chunks, 0, (0, 0)

    def track(self, done, total):
        # esptool counts each chunk on its own, from 0 to its (compressed)
        # size: a new count starts once the previous one is complete.
        last_done, last_total = self.last
        if last_total and last_done >= last_total:
            self.base += 1
        self.last = (done, total)
        fraction = (self.base + (done / total if total else 1)) / self.chunks
        self.watch.progress(self.port, min(fraction, 1.0))

    def __enter__(self):
        self.local.route = self
        return self

    def __exit__(self, *_exc):
        self.local.route = None
