"""A small reader for gettext .po files (msgid/msgstr pairs, no plurals).

Fuzzy entries are left out, as msgfmt does, so a half-done translation shows
the English text instead of a wrong one.
"""

import ast


def _unquote(line):
    return ast.literal_eval(line)


def read_po(path):
    """Return {msgid: msgstr} for the translated, non-fuzzy entries of `path`."""
    entries = {}
    msgid = msgstr = None
    field = None
    fuzzy = False

    def finish():
        if msgid and msgstr and not fuzzy:
            entries[msgid] = msgstr

    with open(path, encoding="utf-8") as po:
        for raw in po:
            line = raw.strip()
            if line.startswith("#,") and "fuzzy" in line:
                finish()
                msgid = msgstr = field = None
                fuzzy = True
            elif line.startswith("msgid "):
                if field == "msgstr":
                    finish()
                    fuzzy = False
                msgid, msgstr, field = _unquote(line[6:]), "", "msgid"
            elif line.startswith("msgstr "):
                msgstr, field = _unquote(line[7:]), "msgstr"
            elif line.startswith('"') and field == "msgid":
                msgid += _unquote(line)
            elif line.startswith('"') and field == "msgstr":
                msgstr += _unquote(line)
            elif not line and field == "msgstr":
                finish()
                msgid = msgstr = field = None
                fuzzy = False
    finish()
    return entries
