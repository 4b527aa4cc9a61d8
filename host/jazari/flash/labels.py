"""Labels to stick on boards: which board it is, whose, and its MAC.

`text_labels` for a terminal or a plain printer; `html_labels` for a sheet
of labels printed from a browser (names in Arabic or French are laid out by
the browser: each name has dir="auto").
"""

from html import escape

from jazari.flash.roster import short_id
from jazari.i18n import RIGHT_TO_LEFT, _, current_language

_TEXT_WIDTH = 36


def label_parts(seat):
    """One board's label: its name, who it belongs to (student, team), and how to recognise it (MAC, short id)."""
    names = [name for name in (seat.student, seat.team) if name]
    codes = [seat.mac, _("id {short_id}").format(short_id=short_id(seat.mac))] if seat.mac else [_("no board yet")]
    return seat.board, names, codes


def text_labels(seats):
    """Boxes of text, one per board, to print and cut out."""
    rule = "+" + "-" * (_TEXT_WIDTH - 2) + "+"
    out = []
    for seat in seats:
        out.append(rule)
        board, names, codes = label_parts(seat)
        out += ["| " + line[: _TEXT_WIDTH - 4].ljust(_TEXT_WIDTH - 4) + " |" for line in (board, *names, *codes)]
        out.append(rule)
        out.append("")
    return "\n".join(out)


_STYLE = """
body { font-family: sans-serif; margin: 1cm; }
.sheet { display: grid; grid-template-columns: repeat(3, 6cm); gap: 0.4cm; }
.label { border: 1px dashed #888; padding: 0.3cm; height: 3cm; overflow: hidden; break-inside: avoid; }
.board { font-size: 16pt; font-weight: bold; }
.owner { font-size: 13pt; }
.mac { font-family: monospace; font-size: 9pt; color: #333; }
"""


def html_labels(seats, title):
    """A printable HTML page of labels, three to a row."""
    language = current_language()
    direction = "rtl" if language in RIGHT_TO_LEFT else "ltr"
    cells = []
    for seat in seats:
        board, names, codes = label_parts(seat)
        cells.append(
            '<div class="label"><div class="board" dir="ltr">{board}</div>{names}{macs}</div>'.format(
                board=escape(board),
                names="".join(f'<div class="owner" dir="auto">{escape(name)}</div>' for name in names),
                macs="".join(f'<div class="mac" dir="ltr">{escape(line)}</div>' for line in codes),
            )
        )
    return (
        f'<!DOCTYPE html>\n<html lang="{language}" dir="{direction}">\n<head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f'<body><h1 dir="auto">{escape(title)}</h1>\n<div class="sheet">\n' + "\n".join(cells) + "\n</div></body></html>\n"
    )
