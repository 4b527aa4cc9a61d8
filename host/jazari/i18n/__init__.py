"""Message catalogs: English, French and Arabic.

Messages are written in English in the code, wrapped in `_()` (gettext
convention, so `pybabel extract` finds them). Translations live in
`locales/<lang>/*.po`, one file per area of the kit so that each area keeps its
own. The catalog is read once, on first use, straight from the .po files: no
compile step, so a translation can never be stale.

The language comes from `set_language()` (the `--lang` option), else from
JAZARI_LANG, LC_ALL, LC_MESSAGES or LANG, else English.
"""

import os
from pathlib import Path

from jazari.i18n.po import read_po

LANGUAGES = ("en", "fr", "ar")
RIGHT_TO_LEFT = frozenset({"ar"})
_LOCALES = Path(__file__).with_name("locales")
_ENV_ORDER = ("JAZARI_LANG", "LC_ALL", "LC_MESSAGES", "LANG")

_language = None
_catalog = None


def language_from_environment(environ=os.environ):
    """The first supported language named by the locale variables, or 'en'."""
    for name in _ENV_ORDER:
        value = environ.get(name, "")
        code = value.split(".")[0].split("_")[0].lower()
        if code in LANGUAGES:
            return code
        if value and code not in ("", "c", "posix"):
            return "en"
    return "en"


def set_language(code):
    """Choose the language of every later message (None: from the environment)."""
    global _language, _catalog
    code = (code or language_from_environment()).lower()
    _language = code if code in LANGUAGES else "en"
    _catalog = None


def current_language():
    if _language is None:
        set_language(None)
    return _language


def catalog(code):
    """msgid -> translated text for language `code`, merged from its .po files."""
    merged = {}
    for po_file in sorted((_LOCALES / code).glob("*.po")):
        merged.update(read_po(po_file))
    return merged


def gettext(message):
    """The translation of `message` in the current language (itself if none)."""
    global _catalog
    if _catalog is None:
        code = current_language()
        _catalog = {} if code == "en" else catalog(code)
    return _catalog.get(message) or message


_ = gettext
