"""Which serial ports look like ESP32 boards, and which virtual boards run.

USB bridges found on ESP32 boards, by (vendor id, product id): Silicon Labs
CP210x, WCH CH340/CH341/CH9102/CH343, FTDI, and Espressif's own native USB
(ESP32-S2/S3/C3 USB-Serial-JTAG and the USB-OTG CDC of TinyUSB builds).
"""

import os
from dataclasses import dataclass

from serial.tools import list_ports

ESP32_BRIDGES = {
    (0x10C4, 0xEA60): "CP210x",
    (0x10C4, 0xEA70): "CP2105",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x5523): "CH341",
    (0x1A86, 0x55D4): "CH9102",
    (0x1A86, 0x55D3): "CH343",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT-X",
    (0x303A, 0x1001): "ESP32 USB-Serial-JTAG",
    (0x303A, 0x4001): "ESP32 USB (TinyUSB)",
    (0x303A, 0x0002): "ESP32-S2/S3 USB-OTG",
}


@dataclass
class Port:
    """A place a board can be reached: a USB serial port or a virtual board."""

    device: str
    kind: str  # "usb" or "virtual"
    description: str
    serial_number: str = ""


def usb_boards(all_ports=None):
    """Serial ports whose USB ids match a bridge used on ESP32 boards."""
    found = []
    for info in all_ports if all_ports is not None else list_ports.comports():
        bridge = ESP32_BRIDGES.get((info.vid, info.pid))
        if bridge:
            found.append(Port(info.device, "usb", bridge, info.serial_number or ""))
    return found


def virtual_boards():
    """Virtual boards started by `jazari sim` (or by tests) that are still running."""
    try:
        from jazari.sim.registry import running_boards
    except ImportError:
        return []
    return [Port(entry["port"], "virtual", entry.get("profile", "esp32")) for entry in running_boards()]


def virtual_board_at(port):
    """The registry entry of the running virtual board behind `port` (its stable
    link or its pty), or None for any other port: a real board's."""
    try:
        from jazari.sim.registry import running_boards
    except ImportError:
        return None
    real = os.path.realpath(port)
    for entry in running_boards():
        if real in (os.path.realpath(entry["port"]), entry.get("device")):
            return entry
    return None


def find_boards():
    return usb_boards() + virtual_boards()


def the_only_board(several):
    """The port of the one board found; an error when there are none, or `several(ports)`'s message
    (how the command names a board) when there are more."""
    from jazari.errors import JazariError
    from jazari.i18n import _

    ports = [board.device for board in find_boards()]
    if not ports:
        raise JazariError(_("No board found. Plug one in with a data USB cable, or start a virtual one with 'jazari sim'."))
    if len(ports) > 1:
        raise JazariError(several(ports))
    return ports[0]
