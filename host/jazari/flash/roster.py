"""A classroom roster: which board is whose.

A roster is the teacher's CSV file, one row per student or team:

    name,team,mac
    Amina Benali,Falcons,
    Youssef El Idrissi,Falcons,02:4a:5a:1b:2c:3d

Columns are found by name (`name`/`student`/`nom`/`élève`, `team`/`équipe`/
`group`, `mac`, `board`), in any order, with `,` `;` or tab between them (a
French spreadsheet writes `;`); other columns are kept as they are. Flashing
ties each board's MAC address to a row: a board whose MAC is already in the
roster gets its row again, a new board the next row without a MAC (boards
taken in port order). The file is then rewritten, atomically, with the MACs
and board names filled in, so the next class finds every board with the same
student.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from jazari.errors import JazariError
from jazari.files import write_atomically
from jazari.i18n import _

BOARD_PREFIX = "jazari-"
# Header names (lower case, accents kept) that mean each column.
NAME_HEADERS = ("name", "student", "owner", "nom", "élève", "eleve", "prénom nom", "الاسم", "الطالب")
TEAM_HEADERS = ("team", "équipe", "equipe", "group", "groupe", "الفريق")
MAC_HEADERS = ("mac", "mac address", "adresse mac")
BOARD_HEADERS = ("board", "carte", "البطاقة")
_DELIMITERS = ",;\t"
# Byte-order marks and the encodings they announce (UTF-8 without one is the default).
_MARKS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# What Excel on a French (or other Western) Windows writes for "CSV (separator: ;)": é is 0xE9.
# Tried only when UTF-8 fails, and only on bytes a text file holds (no control bytes but these).
_WINDOWS = "cp1252"
_TEXT_CONTROLS = frozenset(b"\t\r\n")


def normal_mac(text):
    """`02:4A:5A-1B2C3D` -> `02:4a:5a:1b:2c:3d`; '' for no MAC; None if it is not one."""
    digits = "".join(c for c in text.lower() if c in "0123456789abcdef")
    if not text.strip():
        return ""
    if len(digits) != 12 or any(c not in "0123456789abcdef:-. " for c in text.strip().lower()):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def short_id(mac):
    """The part of a MAC address that differs between boards of a batch, to read on a label."""
    return mac.replace(":", "")[-6:].upper() if mac else ""


@dataclass
class Seat:
    """One row of the roster as the kit sees it (the row's other columns stay in `row`)."""

    number: int  # 1-based row number: the board name's default
    row: dict

    @property
    def student(self):
        return self.row.get(_field(self.row, NAME_HEADERS), "").strip()

    @property
    def team(self):
        return self.row.get(_field(self.row, TEAM_HEADERS), "").strip()

    @property
    def owner(self):
        """Who the board belongs to: the student, else the team."""
        return self.student or self.team

    @property
    def board(self):
        return self.row.get(_field(self.row, BOARD_HEADERS), "").strip() or f"{BOARD_PREFIX}{self.number:02d}"

    @property
    def mac(self):
        return self.row.get(_field(self.row, MAC_HEADERS), "").strip()

    def identity(self):
        """What goes in the board's /kit.json."""
        return {"name": self.board, "owner": self.owner, "team": self.team}


def _field(row, names):
    for key in row:
        if key is not None and key.strip().lower() in names:
            return key
    return None


class Roster:
    def __init__(self, path):
        self.path = Path(path)
        self._encoding, text = self._read_text()
        self.delimiter = _delimiter(text)
        reader = csv.DictReader(io.StringIO(text), delimiter=self.delimiter)
        try:
            self.columns = [name for name in (reader.fieldnames or []) if name is not None]
            rows = [{column: (row.get(column) or "") for column in self.columns} for row in reader]
        except csv.Error:  # a field bigger than csv allows, a stray quote...: not a roster
            raise self._not_text() from None
        if not self.columns or not (_has(self.columns, NAME_HEADERS) or _has(self.columns, TEAM_HEADERS)):
            raise JazariError(
                _("The roster {path} needs a 'name' or 'team' column on its first line.").format(path=self.path)
            )
        for names, default in ((BOARD_HEADERS, "board"), (MAC_HEADERS, "mac")):
            if not _has(self.columns, names):
                self.columns.append(default)
        self.mac_column = next(c for c in self.columns if c.strip().lower() in MAC_HEADERS)
        self.board_column = next(c for c in self.columns if c.strip().lower() in BOARD_HEADERS)
        rows = [{column: row.get(column, "") for column in self.columns} for row in rows]
        self.seats = [Seat(number, row) for number, row in enumerate(rows, 1) if any(v.strip() for v in row.values())]
        self._check_macs()

    def _read_text(self):
        """(encoding to save it back in, text): UTF-8 with or without Excel's mark, UTF-16 with its mark
        (Excel's "Unicode text"), or Windows' cp1252 text (Excel's plain CSV); anything else is refused
        in one line, never a traceback."""
        if self.path.is_dir():
            raise JazariError(_("{path} is a folder, not a roster: give the CSV file.").format(path=self.path))
        try:
            raw = self.path.read_bytes()
        except OSError as failure:
            raise JazariError(
                _("Cannot read the roster {path}: {reason}").format(path=self.path, reason=failure.strerror)
            ) from None
        encoding = next((name for mark, name in _MARKS if raw.startswith(mark)), "utf-8")
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8" or not _windows_text(raw):
                raise self._not_text() from None
            encoding, text = _WINDOWS, raw.decode(_WINDOWS)
        if "\0" in text:  # binary that happens to decode, or UTF-16 without its mark
            raise self._not_text()
        if not text.strip():
            raise JazariError(
                _("The roster {path} is empty: its first line needs a 'name' or 'team' column.").format(path=self.path)
            )
        return encoding, text

    def _not_text(self):
        return JazariError(
            _("The roster {path} is not a CSV text file: save it from the spreadsheet as CSV (UTF-8).").format(path=self.path)
        )

    def _check_macs(self):
        seen = {}
        for seat in self.seats:
            mac = normal_mac(seat.mac)
            if mac is None:
                raise JazariError(
                    _("Row {row} of {path}: '{mac}' is not a MAC address (like 24:0a:c4:12:34:56).").format(
                        row=seat.number + 1, path=self.path, mac=seat.mac
                    )
                )
            if mac and mac in seen:
                raise JazariError(
                    _("Rows {first} and {second} of {path} have the same MAC address {mac}: keep it on one row.").format(
                        first=seen[mac] + 1, second=seat.number + 1, path=self.path, mac=mac
                    )
                )
            seat.row[self.mac_column] = mac
            seen[mac] = seat.number

    def seat_of(self, mac):
        return next((seat for seat in self.seats if seat.mac == mac), None)

    def assign(self, macs):
        """{mac: Seat or None} for boards given in port order: known MACs keep
        their row, new ones take the free rows in order (None once none is left)."""
        seats = {mac: self.seat_of(mac) for mac in macs}
        free = iter(seat for seat in self.seats if not seat.mac)
        for mac in macs:
            if seats[mac] is None:
                seat = next(free, None)
                if seat is not None:
                    seat.row[self.mac_column] = mac
                    seat.row[self.board_column] = seat.board
                seats[mac] = seat
        return seats

    def save(self):
        """Rewrite the file atomically: a reader sees the old roster or the new one, never half."""
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, delimiter=self.delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(seat.row for seat in self.seats)
        data = out.getvalue().encode(self._encoding)  # with the mark it had (utf-8-sig and utf-16 write it)
        try:
            write_atomically(self.path, [data])
        except OSError as failure:
            raise JazariError(
                _("Cannot write the roster {path}: {reason}").format(path=self.path, reason=failure.strerror)
            ) from None


def _windows_text(raw):
    """Whether bytes that are not UTF-8 read as cp1252 text: only tab, CR and LF below
    0x20 (a binary file has others, NUL first), no DEL, no byte cp1252 leaves undefined."""
    if any((byte < 0x20 and byte not in _TEXT_CONTROLS) or byte == 0x7F for byte in raw):
        return False
    try:
        raw.decode(_WINDOWS)
    except UnicodeDecodeError:
        return False
    return True


def _has(columns, names):
    return any(column.strip().lower() in names for column in columns)


def _delimiter(text):
    header = text.split("\n", 1)[0]
    return max(_DELIMITERS, key=header.count) if any(d in header for d in _DELIMITERS) else ","
