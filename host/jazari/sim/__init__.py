"""The virtual board: the real MicroPython Unix port made to look like an
ESP32 on a serial port (see docs/virtual-board.md).

- `board`: the Python API, `VirtualBoard` and `start_boards`;
- `supervisor`: the process between the tools' serial port and MicroPython;
- `launcher`: the child process that runs MicroPython;
- `profiles`, `registry`, `commands` (`jazari sim`).
"""
