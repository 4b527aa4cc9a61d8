"""Where every line the `jazari` command prints goes.

One `console` object, like esptool's `log`: `say` for results, `warn` and
`error` for problems (to stderr). Callers may replace `console.out`/`err`.

Arabic: terminals differ. GNOME Terminal, Konsole and macOS Terminal shape
and reorder it themselves; Windows Terminal, VS Code's terminal and Thonny do
not. So plain Unicode is printed by default, and with `--rtl on` (or `auto`
on a terminal known not to do it) each line is reshaped and reordered, only
when writing to a TTY, with arabic-reshaper and python-bidi.
"""

import os
import sys

from jazari.i18n import RIGHT_TO_LEFT, current_language

RTL_MODES = ("auto", "on", "off")
# Terminals that do their own bidi: auto leaves their output alone.
_BIDI_TERMINALS = ("vte", "konsole", "apple_terminal")


def _terminal_does_bidi(environ):
    names = " ".join(
        environ.get(key, "").lower() for key in ("TERM_PROGRAM", "VTE_VERSION", "KONSOLE_VERSION")
    )
    return bool(environ.get("VTE_VERSION") or environ.get("KONSOLE_VERSION")) or any(
        name in names for name in _BIDI_TERMINALS
    )


class Console:
    def __init__(self, out=None, err=None):
        self.out = out
        self.err = err
        self.rtl = "auto"

    def stream(self, which):
        stream = getattr(self, which)
        return stream if stream is not None else getattr(sys, "std" + which)

    def _visual(self, text, stream):
        """Reshape and reorder Arabic lines when the mode and the stream ask for it."""
        if self.rtl == "off" or current_language() not in RIGHT_TO_LEFT:
            return text
        if not (hasattr(stream, "isatty") and stream.isatty()):
            return text
        if self.rtl == "auto" and _terminal_does_bidi(os.environ):
            return text
        try:
            import arabic_reshaper
            from bidi import get_display
        except ImportError:
            return text
        return "\n".join(get_display(arabic_reshaper.reshape(line)) for line in text.split("\n"))

    def _write(self, which, text):
        stream = self.stream(which)
        stream.write(self._visual(text, stream) + "\n")
        stream.flush()

    def say(self, text=""):
        self._write("out", text)

    def warn(self, text):
        self._write("err", text)

    def error(self, text):
        self._write("err", text)


console = Console()
