"""--rtl: Arabic is reshaped and reordered only when asked, only on a terminal."""

import io

import pytest

from jazari import i18n
from jazari.console import Console

ARABIC = "اللوحة لا تجيب"
PRESENTATION_FORMS = range(0xFE70, 0xFF00)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def shaped(text):
    return any(ord(char) in PRESENTATION_FORMS for char in text)


@pytest.fixture
def arabic(monkeypatch):
    for name in ("VTE_VERSION", "KONSOLE_VERSION", "TERM_PROGRAM"):
        monkeypatch.delenv(name, raising=False)
    i18n.set_language("ar")
    yield
    i18n.set_language(None)


def printed(rtl, stream):
    console = Console(out=stream)
    console.rtl = rtl
    console.say(ARABIC)
    return stream.getvalue()


def test_on_reshapes_on_a_terminal(arabic):
    out = printed("on", Terminal())
    assert shaped(out) and out != ARABIC + "\n"


@pytest.mark.parametrize("rtl, stream", [("off", Terminal()), ("on", io.StringIO())])
def test_plain_unicode_when_off_or_not_a_terminal(arabic, rtl, stream):
    assert printed(rtl, stream) == ARABIC + "\n"


def test_auto_leaves_terminals_that_do_bidi_alone(arabic, monkeypatch):
    assert shaped(printed("auto", Terminal()))
    monkeypatch.setenv("VTE_VERSION", "7600")
    assert printed("auto", Terminal()) == ARABIC + "\n"


def test_other_languages_are_never_touched(monkeypatch):
    i18n.set_language("fr")
    try:
        assert printed("on", Terminal()) == ARABIC + "\n"
    finally:
        i18n.set_language(None)
