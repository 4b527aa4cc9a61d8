"""Where samples come from: which board, and a stream from it.

`KitSource` is a board running the kit: its telemetry stream over the link
(`LinkSession.open_stream`), and its LED as the recording cue.
`ForwarderSource` (forwarder.py) is a board printing data-forwarder lines.
Both give `hello` (what the board is), `open_stream()` and `close()`.
"""

from jazari.errors import JazariError
from jazari.i18n import _

SOURCES = ("imu", "mic", "adc", "button")
_LED = "from kit.hw import led\nled.%s()"


def pick_port(port, command):
    """`port`, or the one board connected; else say how to name one."""
    if port:
        return port
    from jazari.link.ports import the_only_board

    return the_only_board(lambda ports: _(
        "{count} boards are connected ({ports}): name one, e.g. 'jazari {command} {port}'."
    ).format(count=len(ports), ports=", ".join(ports), command=command, port=ports[0]))


def check_source(source):
    if source not in SOURCES:
        raise JazariError(
            _("Unknown source '{source}': pick one of {sources}.").format(source=source, sources=", ".join(SOURCES))
        )
    return source


def check_options(source, options):
    """Say before connecting what a source needs and was not given."""
    if source == "adc" and options.get("pin") is None:
        raise JazariError(_("--source adc needs the GPIO to read: add --pin N, e.g. --pin 34."))
    return options


def check_positive(value, option):
    if value is not None and not value > 0:
        raise JazariError(_("{option} must be more than 0 (it is {value}).").format(option=option, value=value))
    return value


class KitSource:
    """A board running the kit, in link mode for as long as this is open."""

    def __init__(self, port, source="imu", rate_hz=None, options=None):
        from jazari.link.session import LinkSession

        self.port = port
        self.source = check_source(source)
        self.rate_hz = rate_hz
        self.options = check_options(source, options or {})  # e.g. {"pin": 34} for the adc
        self.session = LinkSession.open(port)
        self.hello = self.session.hello
        self.has_led = True

    def open_stream(self):
        return self.session.open_stream(self.source, rate_hz=self.rate_hz, **self.options)

    def cue(self, on):
        """Light (or put out) the board's LED; False if the board has none."""
        from jazari.link.session import LinkError

        if not self.has_led:
            return False
        try:
            self.session.exec(_LED % ("on" if on else "off"))
        except LinkError:
            self.has_led = False  # a profile without led_pin: the terminal's countdown is the cue
        return self.has_led

    def close(self):
        self.session.close()  # a dead line too (cable pulled): LinkSession.close lets it go quietly

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
