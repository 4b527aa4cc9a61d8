"""Talking to boards: find them, connect, run code, move files.

`jazari.connect(port)` opens a real or virtual board and returns a `Device`.
The REPL level is mpremote's `SerialTransport`; this package adds what a
student or teacher needs on top: clear errors, board info, atomic file copies.
"""

from jazari.link.device import BoardError, Device, connect

__all__ = ["BoardError", "Device", "connect"]
