"""A still plot of received samples, rasterized into RGB pixels.

One panel per channel, stacked, sharing the time axis; each panel is titled
with its channel's name and unit and shows its range. Where samples are
missing (dropped on the board or lost on the wire: a gap in the board's
timestamps), a red band crosses every panel. Text uses a 3x5 pixel font of
digits, Latin capitals and a few signs (enough for names, units, numbers).
"""

import numpy as np

WIDTH = 960
PANEL = 110  # pixels per channel panel
MARGIN = 8
LEFT = 80  # room for the range labels (8 characters)
AXIS = 22  # room for the time labels
SCALE = 2  # font pixels per glyph pixel
BACKGROUND = (255, 255, 255)
PANEL_FILL = (246, 246, 248)
INK = (40, 40, 48)
ZERO_LINE = (200, 200, 210)
GAP = (255, 205, 205)
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (23, 190, 207))

# Glyph rows top to bottom, 3 bits each (4: left pixel, 1: right pixel), as octal digits.
FONT = {
    "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711", "5": "74717", "6": "74757",
    "7": "71111", "8": "75757", "9": "75717", "A": "25755", "B": "65656", "C": "34443", "D": "65556",
    "E": "74647", "F": "74644", "G": "34553", "H": "55755", "I": "72227", "J": "11152", "K": "55655",
    "L": "44447", "M": "57755", "N": "65555", "O": "25552", "P": "65644", "Q": "25563", "R": "65655",
    "S": "34216", "T": "72222", "U": "55557", "V": "55552", "W": "55775", "X": "55255", "Y": "55222",
    "Z": "71247", ".": "00002", "-": "00700", "/": "11244", ":": "02020", "_": "00007", "+": "02720",
    "(": "24442", ")": "21112", "%": "51245", " ": "00000", "?": "71202",
}


def _glyph(char):
    rows = FONT.get(char.upper(), FONT["?"])
    return np.array([[(int(row) >> bit) & 1 for bit in (2, 1, 0)] for row in rows], dtype=bool)


def text_width(text):
    return len(text) * 4 * SCALE


def draw_text(pixels, x, y, text, colour=INK):
    """Write `text` with its top-left corner at (x, y); what falls outside is cut."""
    height, width, _planes = pixels.shape
    for index, char in enumerate(text):
        mask = np.kron(_glyph(char), np.ones((SCALE, SCALE), dtype=bool))
        left = x + index * 4 * SCALE
        rows, cols = np.nonzero(mask)
        rows, cols = rows + y, cols + left
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        pixels[rows[inside], cols[inside]] = colour


def _number(value):
    """`value` in at most 8 characters."""
    text = "%.3g" % value
    return text if len(text) <= 8 else "%.1e" % value


def _column_spans(x, y, columns):
    """(columns, low rows, high rows) of the line through the points (x, y).

    With more points than columns, each column spans its points' range
    (plus the last point before it, so the line stays joined); with fewer,
    the line is interpolated at every column between its points.
    """
    if len(x) == 1:
        return x, y, y
    if len(x) <= columns:
        cols = np.arange(x[0], x[-1] + 1)
        ys = np.interp(cols, x, y)
        before = np.r_[ys[0], ys[:-1]]
        return cols, np.minimum(ys, before), np.maximum(ys, before)
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    low = np.minimum.reduceat(y, starts)
    high = np.maximum.reduceat(y, starts)
    previous = y[np.maximum(starts - 1, 0)]
    return x[starts], np.minimum(low, previous), np.maximum(high, previous)


def gap_spans(t_us, period_us):
    """(start, end) board times of the holes between samples longer than 1.5 periods."""
    if len(t_us) < 2 or not period_us:
        return []
    steps = np.diff(t_us)
    holes = np.flatnonzero(steps > 1.5 * period_us)
    return [(int(t_us[i]), int(t_us[i + 1])) for i in holes]


def render(t_us, values, channels, units, period_us=None):
    """RGB pixels of a plot of `values` (n, channels) against board time `t_us`."""
    count = len(channels)
    height = MARGIN + count * (PANEL + MARGIN) + AXIS
    pixels = np.full((height, WIDTH, 3), BACKGROUND, dtype=np.uint8)
    plot_width = WIDTH - LEFT - MARGIN
    t_us = np.asarray(t_us, dtype=np.int64)
    start = int(t_us[0]) if len(t_us) else 0
    span = max(1, int(t_us[-1]) - start) if len(t_us) else 1
    to_column = lambda t: np.round((np.asarray(t) - start) * (plot_width - 1) / span).astype(np.int64)  # noqa: E731
    holes = [(int(a), int(b)) for a, b in to_column(np.array(gap_spans(t_us, period_us)).reshape(-1, 2))]
    for index in range(count):
        top = MARGIN + index * (PANEL + MARGIN)
        _panel(pixels, top, plot_width, holes, index, t_us, values, channels, units, to_column)
    draw_text(pixels, LEFT, height - AXIS + 6, "0 S")
    end_label = "%s S" % _number(span / 1e6)
    draw_text(pixels, WIDTH - MARGIN - text_width(end_label), height - AXIS + 6, end_label)
    return pixels


def _panel(pixels, top, plot_width, holes, index, t_us, values, channels, units, to_column):
    area = pixels[top : top + PANEL, LEFT : LEFT + plot_width]
    area[:] = PANEL_FILL
    for first, last in holes:
        area[:, first : last + 1] = GAP
    unit = units[index] if index < len(units) else ""
    draw_text(pixels, LEFT + 4, top + 3, "%s (%s)" % (channels[index], unit) if unit else channels[index])
    if not len(t_us):
        return
    column = np.asarray(values[:, index], dtype=np.float64)
    low, high = float(np.nanmin(column)), float(np.nanmax(column))
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    inner = PANEL - 16  # rows for the line, below the title
    to_row = lambda v: np.round(15 + (high - v) * (inner - 1) / (high - low)).astype(np.int64)  # noqa: E731
    if low < 0 < high:
        area[to_row(0.0), :] = ZERO_LINE
    draw_text(pixels, MARGIN, top + 14, _number(high))
    draw_text(pixels, MARGIN, top + PANEL - 12, _number(low))
    cols, row_low, row_high = _column_spans(to_column(t_us), to_row(column), plot_width)
    colour = COLOURS[index % len(COLOURS)]
    for col, a, b in zip(cols.tolist(), np.asarray(row_low).tolist(), np.asarray(row_high).tolist()):
        area[int(a) : int(b) + 1, col] = colour


def write_png(path, t_us, values, channels, units, period_us=None):
    from jazari.record.png import encode_png

    with open(path, "wb") as out:
        out.write(encode_png(render(t_us, values, channels, units, period_us)))
