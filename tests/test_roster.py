"""The class roster: MAC addresses tied to students in a teacher's CSV file, and labels."""

import pytest

from jazari import i18n
from jazari.cli import main
from jazari.errors import JazariError
from jazari.flash.labels import html_labels, text_labels
from jazari.flash.roster import Roster, normal_mac, short_id

MACS = ["02:4a:5a:00:00:%02x" % n for n in range(1, 6)]


def write(tmp_path, text, name="classe.csv", bom=False):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_known_boards_keep_their_row_and_new_ones_take_free_rows_in_port_order(tmp_path):
    path = write(tmp_path, f"name,team,mac\nAmina,Faucons,\nYanis,Aigles,{MACS[3]}\nSara,Faucons,\n")
    roster = Roster(path)
    seats = roster.assign([MACS[0], MACS[3], MACS[1], MACS[2]])  # the boards, in port order
    assert seats[MACS[3]].student == "Yanis"
    assert seats[MACS[0]].student == "Amina" and seats[MACS[1]].student == "Sara"
    assert seats[MACS[2]] is None  # more boards than free rows
    assert [seats[mac].board for mac in MACS[:2]] == ["jazari-01", "jazari-03"]


def test_saved_roster_gives_each_board_the_same_student_next_time(tmp_path):
    path = write(tmp_path, "Nom;Équipe;Remarque\nأمينة بنعلي;الصقور;lunettes\nÉlodie;Aigles;\n", bom=True)
    roster = Roster(path)
    roster.assign([MACS[4], MACS[2]])
    roster.save()

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel's UTF-8 mark kept, so accents and Arabic open right
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "Nom;Équipe;Remarque;board;mac"  # the teacher's delimiter and columns kept
    assert lines[1] == f"أمينة بنعلي;الصقور;lunettes;jazari-01;{MACS[4]}"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    again = Roster(path).assign([MACS[2], MACS[4]])  # next class: other ports, other order
    assert again[MACS[4]].owner == "أمينة بنعلي" and again[MACS[2]].owner == "Élodie"


def test_a_team_roster_names_boards_after_teams(tmp_path):
    seat = Roster(write(tmp_path, "team\nRobotix\n")).assign([MACS[0]])[MACS[0]]
    assert seat.identity() == {"name": "jazari-01", "owner": "Robotix", "team": "Robotix"}


def test_macs_are_read_in_any_spelling():
    assert normal_mac("02-4A-5A-00-00-01") == normal_mac("024a5a000001") == MACS[0]
    assert normal_mac("") == "" and normal_mac("02:4a:5a") is None and normal_mac("not a mac at all") is None
    assert short_id(MACS[4]) == "000005"


@pytest.mark.parametrize(
    "text, msgid, values",
    [
        ("prénom,classe\nAmina,5B\n", "The roster {path} needs a 'name' or 'team' column on its first line.", {}),
        ("name,mac\nAmina,02:4a:zz\n", "Row {row} of {path}: '{mac}' is not a MAC address (like 24:0a:c4:12:34:56).", {"row": 2, "mac": "02:4a:zz"}),
        (
            f"name,mac\nAmina,{MACS[0]}\nYanis,{MACS[0].upper()}\n",
            "Rows {first} and {second} of {path} have the same MAC address {mac}: keep it on one row.",
            {"first": 2, "second": 3, "mac": MACS[0]},
        ),
    ],
)
def test_a_bad_roster_is_refused_in_one_translated_line(tmp_path, text, msgid, values):
    path = write(tmp_path, text)
    i18n.set_language("fr")
    try:
        with pytest.raises(JazariError) as refused:
            Roster(path)
    finally:
        i18n.set_language(None)
    french = i18n.catalog("fr")[msgid]
    assert refused.value.message == french.format(path=path, **values)


def test_labels_name_the_board_its_owner_and_mac(tmp_path):
    roster = Roster(write(tmp_path, "name,team\nAmina <3,Faucons\nYanis,\n"))
    roster.assign([MACS[1]])
    text = text_labels(roster.seats)
    for word in ("jazari-01", "Amina <3", "Faucons", MACS[1], "000002", "jazari-02", "Yanis"):
        assert word in text

    page = html_labels(roster.seats, "5B")
    assert '<div class="owner" dir="auto">Amina &lt;3</div>' in page  # escaped, laid out by the browser
    assert page.count('class="label"') == 2 and MACS[1] in page


def test_jazari_roster_prints_the_table_and_writes_labels(tmp_path, capsys):
    path = write(tmp_path, f"name,mac\nAmina,{MACS[0]}\n")
    assert main(["roster", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Amina" in out and MACS[0] in out and "jazari-01" in out

    sheet = tmp_path / "labels.html"
    try:
        assert main(["--lang", "ar", "roster", str(path), "--html", str(sheet)]) == 0
    finally:
        i18n.set_language(None)
    assert '<html lang="ar" dir="rtl">' in sheet.read_text(encoding="utf-8")


NOT_TEXT = "The roster {path} is not a CSV text file: save it from the spreadsheet as CSV (UTF-8)."


@pytest.mark.parametrize(
    "make, msgid",
    [
        (lambda path: path.write_bytes(bytes(range(256)) * 4), NOT_TEXT),  # a binary file (an image, a .xlsx...)
        (lambda path: path.write_bytes(b"name,team\nAmina\x00,B\n"), NOT_TEXT),  # decodes, but holds NUL bytes
        (lambda path: path.write_bytes("name,team\nAmina,B\n".encode("utf-16-le")), NOT_TEXT),  # UTF-16, no mark
        (lambda path: path.write_bytes(b""), "The roster {path} is empty: its first line needs a 'name' or 'team' column."),
        (lambda path: path.write_bytes(b"\xef\xbb\xbf\n\n"), "The roster {path} is empty: its first line needs a 'name' or 'team' column."),
        (lambda path: path.mkdir(), "{path} is a folder, not a roster: give the CSV file."),
    ],
    ids=["binary", "nul", "utf16-without-mark", "empty", "only-a-mark", "folder"],
)
def test_a_roster_that_is_no_csv_text_is_one_translated_line_from_the_command(tmp_path, capsys, make, msgid):
    path = tmp_path / "classe.csv"
    make(path)
    try:
        code = main(["--lang", "fr", "roster", str(path)])
    finally:
        i18n.set_language(None)
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert err.strip() == i18n.catalog("fr")[msgid].format(path=path)


def test_a_utf16_roster_with_its_mark_is_read_and_saved_in_utf16(tmp_path):
    """Excel's "Unicode text" export: UTF-16 with a byte-order mark, tabs between columns."""
    path = tmp_path / "classe.txt"
    path.write_bytes("Nom\tÉquipe\nأمينة\tالصقور\nÉlodie\tAigles\n".encode("utf-16"))
    roster = Roster(path)
    assert [seat.owner for seat in roster.seats] == ["أمينة", "Élodie"]
    roster.assign([MACS[0]])
    roster.save()
    raw = path.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert raw.decode("utf-16").splitlines()[1] == f"أمينة\tالصقور\tjazari-01\t{MACS[0]}"


def test_a_cp1252_roster_from_excel_on_french_windows_is_read_and_saved_in_cp1252(tmp_path):
    # Before: refused as "not a CSV text file" (é is 0xE9, not UTF-8).
    path = tmp_path / "classe.csv"
    text = "Nom;Équipe\nÉlodie Bérenger;Aigles\nFrançois Cœur;Hérons\nLéa;Aigles\n"
    path.write_bytes(text.encode("cp1252"))
    assert b"\xe9" in path.read_bytes() and b"\x9c" in path.read_bytes()  # é and œ as Windows writes them
    roster = Roster(path)
    assert [seat.owner for seat in roster.seats] == ["Élodie Bérenger", "François Cœur", "Léa"]
    assert roster.seats[1].team == "Hérons"
    roster.assign([MACS[0], MACS[1]])
    roster.save()
    lines = path.read_bytes().decode("cp1252").splitlines()  # not UTF-8: the encoding it was read in
    assert lines[0] == "Nom;Équipe;board;mac"
    assert lines[2] == f"François Cœur;Hérons;jazari-02;{MACS[1]}"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")


def test_a_binary_file_without_nul_is_still_not_a_roster(tmp_path, capsys):
    path = tmp_path / "classe.csv"
    path.write_bytes(b"Nom;\xc9quipe\n\x1b[31m\x07\xe9\n")  # not UTF-8, and control bytes no text holds
    try:
        assert main(["--lang", "fr", "roster", str(path)]) == 1
    finally:
        i18n.set_language(None)
    assert capsys.readouterr().err.strip() == i18n.catalog("fr")[NOT_TEXT].format(path=path)


def test_rows_missing_columns_are_read_as_empty_cells(tmp_path):
    roster = Roster(write(tmp_path, f"name,team,mac\nAmina\nYanis,Aigles,{MACS[1]}\n"))
    assert [(seat.student, seat.team, seat.mac) for seat in roster.seats] == [("Amina", "", ""), ("Yanis", "Aigles", MACS[1])]
    assert roster.assign([MACS[0]])[MACS[0]].student == "Amina"
