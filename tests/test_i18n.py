"""Every message of the `jazari` command exists in French and Arabic, with the same placeholders."""

import ast
import re
from pathlib import Path

import pytest

from jazari.i18n import catalog, language_from_environment
from jazari.i18n.po import read_po

HOST = Path(__file__).resolve().parents[1] / "host" / "jazari"
PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}")


def messages_in_code():
    """msgids of every `_("literal")` call in the host package."""
    found = {}
    for source in HOST.rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "gettext")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault(node.args[0].value, f"{source.relative_to(HOST)}:{node.lineno}")
    return found


MESSAGES = messages_in_code()


def test_code_has_messages():
    assert len(MESSAGES) > 20


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_every_message_is_translated(language):
    translations = catalog(language)
    missing = [f"{where}: {msgid!r}" for msgid, where in MESSAGES.items() if msgid not in translations]
    assert not missing, f"{len(missing)} messages lack a {language} translation:\n" + "\n".join(missing)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_translations_keep_placeholders(language):
    for msgid, msgstr in catalog(language).items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), msgid


def test_arabic_messages_are_one_line():
    for msgid, msgstr in catalog("ar").items():
        assert "\n" not in msgstr, msgid


def test_po_reader_skips_fuzzy_and_untranslated(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid "a"\nmsgstr "A"\n\n#, fuzzy\nmsgid "b"\nmsgstr "B"\n\nmsgid "c"\nmsgstr ""\n\n'
        'msgid ""\n"long "\n"text"\nmsgstr "texte "\n"long"\n',
        encoding="utf-8",
    )
    assert read_po(po) == {"a": "A", "long text": "texte long"}


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LC_ALL": "ar_MA.UTF-8", "LANG": "fr_FR.UTF-8"}, "ar"),
        ({"JAZARI_LANG": "en", "LANG": "ar_SA.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_language_from_environment(environ, expected):
    assert language_from_environment(environ) == expected
