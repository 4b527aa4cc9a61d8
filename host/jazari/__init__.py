"""Jazari Kit on the computer: flash boards, talk to them, run and grade lessons.

`jazari.connect(port)` returns a `Device` for a real or a virtual board.
"""

__version__ = "0.1.0"


def connect(port, **options):
    """Open the board on `port` and return a `jazari.link.Device`."""
    from jazari.link.device import connect as _connect

    return _connect(port, **options)
