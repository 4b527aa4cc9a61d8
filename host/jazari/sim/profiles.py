"""What each virtual board is: chip, heap, PSRAM, and what its ROM prints.

`heap` is what `gc.mem_free()` reports at the REPL after boot on the real
board. The Unix port is given that much heap plus `SIM_OVERHEAD`, for the
heap the `machine`/`esp32`/`network` stand-ins in firmware/sim/ keep for
themselves (a real board's C modules keep theirs outside the heap); the
supervisor asks start.py (JAZARI_HEAP) to hold back all but `heap`, left
in one run at the heap's top as on a board after boot.

The heap is counted in bytes, as on the board, but this is a 64-bit build:
objects (lists, dicts, ints) take about twice the bytes they take on a
32-bit ESP32, buffers the same. So code that fits here fits on the board.
"""

from dataclasses import dataclass
from pathlib import Path

from jazari.errors import JazariError
from jazari.i18n import _

KB = 1024
MB = 1024 * KB
# Measured: gc.mem_free() at the REPL after firmware/sim/start.py booted,
# subtracted from the heap given (45 KB with the board's own os, socket and
# uctypes, holes among the stand-ins included), and room for what they load
# later (I2C, the MPU6050 simulator), so that the program's heap can be one
# run: hostfs.reserve() fills the boot's holes only when this room is left
# beyond the program's heap (tests/test_sim_heap.py fails below 96 KB).
SIM_OVERHEAD = 96 * KB
GENERATORS = ("still", "walking", "shaking")

_ESP32_ROM = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x{cause:x} ({reason}),boot:{boot}\r\n"
_ESP32S3_ROM = "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x{cause:x} ({reason}),boot:{boot}\r\n"
# The strapping pins the ROM read (GPIO0 high: boot from flash; low, BOOT
# held: download mode), as it prints them; esptool looks for "waiting for download".
_BOOT_MODES = {
    "ESP32": ("0x13 (SPI_FAST_FLASH_BOOT)", "0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))"),
    "ESP32-S3": ("0x8 (SPI_FAST_FLASH_BOOT)", "0x0 (DOWNLOAD(USB/UART0))"),
}
_WAITING = "waiting for download\r\n"
# What each chip's ROM prints as the cause of a reset: the EN button (or
# power), a software reset (machine.reset), a wake from deep sleep, the
# watchdog, a panic.
_RESETS = {
    "ESP32": {
        "poweron": (0x1, "POWERON_RESET"),
        "software": (0xC, "SW_CPU_RESET"),
        "deepsleep": (0x5, "DEEPSLEEP_RESET"),
        "watchdog": (0x7, "TG0WDT_SYS_RESET"),
        "panic": (0xC, "SW_CPU_RESET"),
    },
    "ESP32-S3": {
        "poweron": (0x1, "POWERON"),
        "software": (0x3, "RTC_SW_SYS_RST"),
        "deepsleep": (0x5, "DSLEEP"),
        "watchdog": (0x7, "TG0WDT_SYS_RST"),
        "panic": (0xC, "RTC_SW_CPU_RST"),
    },
}


class BadOption(JazariError):
    """A command-line value the user must correct (exit code 2, as argparse)."""

    exit_code = 2


@dataclass(frozen=True)
class Profile:
    name: str
    chip: str  # as esptool names it
    heap: int  # bytes free at the REPL after boot
    psram: int  # bytes of PSRAM (0: none)
    rom_banner: str

    @property
    def heapsize(self):
        """The -X heapsize given to the Unix port."""
        return self.heap + SIM_OVERHEAD

    def reset_text(self, why="software", download=False):
        """What the chip's ROM prints on a reset, before MicroPython starts
        (`download`: BOOT held, the ROM waits for esptool)."""
        cause, reason = _RESETS[self.chip][why]
        text = self.rom_banner.format(cause=cause, reason=reason, boot=_BOOT_MODES[self.chip][download])
        return text + _WAITING if download else text


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("esp32", "ESP32", 110 * KB, 0, _ESP32_ROM),
        Profile("esp32s3", "ESP32-S3", 260 * KB, 0, _ESP32S3_ROM),
        Profile("esp32s3-psram", "ESP32-S3", 8 * MB, 8 * MB, _ESP32S3_ROM),
    )
}


def get_profile(name):
    """The profile called `name`, or one clear error listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise BadOption(
            _("Unknown board profile '{name}'. Use one of: {known}.").format(name=name, known=", ".join(PROFILES))
        ) from None


def check_scenario(scenario):
    """A generator name or the absolute path of an existing CSV file."""
    if scenario is None or scenario in GENERATORS:
        return scenario
    path = Path(scenario)
    if path.is_file():
        return str(path.resolve())
    raise BadOption(
        _("Unknown scenario '{name}': give a CSV file of IMU samples or one of: {known}.").format(
            name=scenario, known=", ".join(GENERATORS)
        )
    )
