"""The live terminal view of a stream: one braille plot per channel.

Each channel gets a plot of the last few seconds (2 x 4 dots per
character, each dot column spanning the range of its samples), its current
value and unit, and its range. Above the plots, always shown (a terminal
too short for the view cuts its bottom), the rate measured on the board's
clock and the loss counters, red as soon as one is not 0.
"""

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from jazari.i18n import _

PLOT_WIDTH = 56  # characters, on a terminal wide enough
OTHER_COLUMNS = 54  # what the name, value, unit and range columns take
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int32)
_BLANK = 0x2800  # the empty braille cell


def _column_ranges(samples, columns):
    """(low, high) per dot column of `samples`, newest at the right (NaN where empty)."""
    low = np.full(columns, np.nan)
    high = np.full(columns, np.nan)
    count = len(samples)
    if count >= columns:
        edges = np.linspace(0, count, columns + 1).astype(np.int64)[:-1]
        low[:] = np.minimum.reduceat(samples, edges)
        high[:] = np.maximum.reduceat(samples, edges)
    elif count:
        low[-count:] = high[-count:] = samples
    return low, high


def braille_rows(samples, width=PLOT_WIDTH, height=2, bounds=None):
    """`height` strings of `width` braille characters plotting `samples`."""
    samples = np.asarray(samples, dtype=np.float64)
    columns, levels = 2 * width, 4 * height
    grid = np.zeros((levels, columns), dtype=bool)
    if len(samples):
        bottom, top = bounds or (float(samples.min()), float(samples.max()))
        span = (top - bottom) or 1.0
        low, high = _column_ranges(samples, columns)
        # Join each column to the one before, so the line has no holes.
        low[1:] = np.fmin(low[1:], high[:-1])
        high[1:] = np.fmax(high[1:], low[:-1])
        level = lambda v: np.clip(np.round((top - v) / span * (levels - 1)), 0, levels - 1)  # noqa: E731
        for column in np.flatnonzero(~np.isnan(low)):
            grid[int(level(high[column])) : int(level(low[column])) + 1, column] = True
    cells = (grid.reshape(height, 4, width, 2) * _DOT_BITS[None, :, None, :]).sum(axis=(1, 3))
    return ["".join(chr(_BLANK + int(bits)) for bits in row) for row in cells]


def _value(number):
    return "%.4g" % number


def counters_line(rate, declared, received, dropped, lost, seconds):
    """The counters shown under the plots (and in the final summary)."""
    text = Text()
    text.append(_("rate {measured} Hz (declared {declared})").format(measured=_value(rate), declared=_value(declared)))
    text.append(" · " + _("received {count}").format(count=received))
    text.append(" · ")
    text.append(_("dropped on the board {count}").format(count=dropped), style="bold red" if dropped else "green")
    text.append(" · ")
    text.append(_("lost on the wire {count}").format(count=lost), style="bold red" if lost else "green")
    text.append(" · " + _("{seconds} s").format(seconds="%.1f" % seconds))
    return text


def plot_width(terminal_width):
    return max(12, min(PLOT_WIDTH, terminal_width - OTHER_COLUMNS))


def render(info, recent, totals, seconds, width=PLOT_WIDTH, title=""):
    """A rich renderable of the whole view: a title, plots `width` characters wide, values, counters."""
    t_us, values = recent.window()
    height = max(1, min(4, 8 // max(1, len(info.channels))))
    table = Table(box=None, show_header=True, pad_edge=False, header_style="bold")
    table.add_column(_("channel"), no_wrap=True)
    table.add_column(_("last seconds"), no_wrap=True)
    table.add_column(_("value"), justify="right", no_wrap=True)
    table.add_column(_("unit"))
    table.add_column(_("range"), justify="right", no_wrap=True)
    units = tuple(info.units) + ("",) * len(info.channels)
    for index, name in enumerate(info.channels):
        column = values[:, index]
        plot = "\n".join(braille_rows(column, width, height))
        if len(column):
            current, span = _value(column[-1]), "%s … %s" % (_value(column.min()), _value(column.max()))
        else:
            current, span = "-", ""
        table.add_row(name, plot, current, units[index], span)
    received, dropped, lost = totals
    # Counters above the plots: a terminal too short for the view cuts its bottom, never them.
    counters = counters_line(recent.rate(), info.rate_hz, received, dropped, lost, seconds)
    return Group(Text(title, style="italic"), counters, table)
