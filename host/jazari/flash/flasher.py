"""Flash many boards at once through esptool's Python API.

    results = flash_boards(ports, plan, baud=921600, watch=watch)

One thread per port. Each connects to its board's ROM bootloader, reads the
chip, MAC and flash size, and reports them; once every board has reported (or
failed), `plan(found)` runs once, with the boards in port order, and returns
what each one gets (a `Job`: the image and who the board belongs to), so roster
rows are handed out in a fixed order. Then each thread loads esptool's stub,
raises the line rate, writes its image in three `write_flash` calls (sealing.py:
the mark, the body, the seal that makes /kit.json visible last; esptool checks
each chunk by MD5 as it goes), checks every region once more by MD5 after the
last write, and lets the board go. A write or check that fails is tried once
more at ROM_BAUD; a board that fails never stops the others. Ctrl-C stops the
boards not finished and still returns every Result (together.py).

Threads, not processes: esptool keeps its state in each ESPLoader (one per
port), except its output, which `esptool_output` routes to each thread's
board while flashing. Threads cost nothing to start, and the work is waiting
on serial lines.
"""

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field

import serial
from esptool.cmds import attach_flash, detect_chip, detect_flash_size, write_flash
from esptool.util import FatalError, flash_size_bytes

from jazari.errors import JazariError
from jazari.flash import esptool_output
from jazari.flash.together import Gathering, Stop, interrupted_text
from jazari.i18n import _

try:
    from termios import error as _TermiosError  # pyserial's on a port that is gone, on POSIX
except ImportError:
    _TermiosError = OSError
# What a serial line that breaks (a board unplugged, a hub reset) raises.
LINE_ERRORS = (serial.SerialException, OSError, _TermiosError)

ROM_BAUD = 115200  # what every ROM bootloader speaks at first; the retry's rate too
DEFAULT_BAUD = 921600
CONNECT_ATTEMPTS = 3  # a board in download mode answers the first; a busy hub may need another
STOP_TIMEOUT = 5.0  # seconds the boards get, after Ctrl-C, to let their closed ports go
WRITE_STEPS = ("mark", "body", "seal")  # sealing.writes' order
VERIFY_STEP = "verify"


@dataclass(frozen=True)
class Found:
    """What a board said about itself before anything was written."""

    port: str
    chip: str  # esptool's name: "ESP32", "ESP32-S3"
    mac: str  # "24:0a:c4:12:34:56"
    flash_size: int  # bytes, from the flash chip's ID


@dataclass
class Job:
    """What one board gets: `image` (a FlashImage: chip, chunks, total_bytes), whose it is."""

    image: object = field(repr=False)
    owner: str = ""
    team: str = ""
    name: str = ""  # the board's name, e.g. "jazari-07"


@dataclass
class Result:
    port: str
    chip: str = ""
    mac: str = ""
    job: Job | None = None
    ok: bool = False
    message: str = ""  # why it failed (translated), empty when it worked
    seconds: float = 0.0
    retried: bool = False
    interrupted: bool = False  # Ctrl-C came before the board was finished: what it holds is not to be trusted

    @property
    def owner(self):
        return self.job.owner if self.job else ""

    @property
    def team(self):
        return self.job.team if self.job else ""

    @property
    def name(self):
        return self.job.name if self.job else ""


class Watch:
    """What the flasher tells about each board as it goes; the default says nothing."""

    def started(self, port):
        pass

    def assigned(self, port, job):
        pass

    def progress(self, port, fraction):
        """`fraction` (0 to 1) of the board's image is written."""

    def writing(self, port, step):
        """The board's write `step` begins: "mark", "body", "seal" (sealing.py), then "verify"."""

    def finished(self, result):
        pass


def flash_boards(ports, plan, *, baud=DEFAULT_BAUD, watch=None):
    """Flash every port at once; return one Result per port, in the order given.

    Ctrl-C (KeyboardInterrupt) stops every board not finished: their ports are
    closed, their Results say `interrupted`, and the Results are returned all
    the same, so the caller can still show the table.
    """
    watch = watch or Watch()
    gathering = Gathering(ports, plan, line_failure)
    stop = Stop()
    results = [Result(port) for port in ports]
    finished = [threading.Event() for _ in ports]
    with esptool_output.routed_per_thread() as board_log:
        for result, done in zip(results, finished):
            threading.Thread(
                target=_flash_one, args=(result, gathering, board_log, baud, watch, stop, done), daemon=True
            ).start()
        try:
            for done in finished:
                # Not Thread.join: a join that Ctrl-C interrupts leaves the thread looking finished (CPython 3.11).
                while not done.wait(0.1):
                    pass
        except KeyboardInterrupt:
            stop.interrupt(gathering)
            deadline = time.monotonic() + STOP_TIMEOUT
            for result, done in zip(results, finished):
                if not done.wait(max(0.0, deadline - time.monotonic())):
                    mark_interrupted(result)  # still in esptool: not finished, whatever it does next
    return results


def _flash_one(result, gathering, board_log, baud, watch, stop, done):
    start = time.monotonic()
    watch.started(result.port)
    try:
        with board_log.routed(result.port, watch) as route:
            _Board(result, gathering, baud, watch, route, stop).flash()
        result.ok = True
    except JazariError as failure:
        result.message = failure.message
    except Exception as failure:  # a board must never take the others down
        result.message = line_failure(result.port, failure).message
    finally:
        gathering.leave(result.port)  # no-op once it has reported
        if stop.is_set() and not result.ok:
            mark_interrupted(result)
        result.seconds = time.monotonic() - start
        watch.finished(result)
        done.set()


def mark_interrupted(result):
    result.ok, result.interrupted = False, True
    result.message = interrupted_text()


class _Board:
    """One board's flashing, from the first SYNC to letting it go."""

    def __init__(self, result, gathering, baud, watch, route, stop):
        self.result, self.gathering, self.baud, self.watch, self.route = result, gathering, baud, watch, route
        self.stop = stop
        self.port = result.port
        self.esp = None

    def flash(self):
        from jazari.link.device import check_port

        check_port(self.port)  # busy or missing ports, in the link's own words
        self.stop.enter(self)
        try:
            self._connect()
            found = self._identify()
            job = self.gathering.report(found)
            self.stop.check()
            if isinstance(job, JazariError):
                raise job
            self.result.job = job
            self.watch.assigned(self.port, job)
            self._check(found, job.image)
            self._write_with_retry(job.image)
        finally:
            self.stop.leave(self)
            self._close()

    def cut(self):
        """Close the board's port from another thread (Ctrl-C): esptool's next read or write fails."""
        esp = self.esp
        if esp is not None:
            try:
                esp._port.close()
            except LINE_ERRORS:
                pass

    def _connect(self):
        try:
            self.esp = detect_chip(self.port, ROM_BAUD, _connect_mode(self.port), connect_attempts=CONNECT_ATTEMPTS)
        except (FatalError, *LINE_ERRORS):
            if is_virtual(self.port):  # no buttons: it is in download mode only when started or reset so
                message = _("The virtual board on {port} is not in download mode: start it with 'jazari sim --download-mode', then flash again.")
            else:
                message = _("No ESP32 bootloader answers on {port}: hold BOOT, press and release EN (reset), release BOOT, then flash again.")
            raise JazariError(message.format(port=self.port)) from None

    def _identify(self):
        try:
            return self._read_board()
        except (FatalError, *LINE_ERRORS) as failure:
            raise line_failure(self.port, failure) from None

    def _read_board(self):
        esp = self.esp
        self.result.chip = esp.CHIP_NAME
        self.result.mac = ":".join(f"{byte:02x}" for byte in esp.read_mac())
        self.esp = esp = esp.run_stub()
        esp.WRITE_FLASH_ATTEMPTS = 1  # a failed write is retried here, at a lower rate, not after 7 s of reconnecting
        attach_flash(esp)
        return Found(self.port, esp.CHIP_NAME, self.result.mac, flash_size_bytes(detect_flash_size(esp)) or 0)

    def _check(self, found, image):
        """Refuse, before writing anything, an image for another chip or one bigger than the flash."""
        if image.chip != found.chip:
            raise JazariError(
                _("The image is for {image_chip} but the board on {port} is an {board_chip}: nothing was written; flash it with {board_chip} firmware.").format(
                    image_chip=image.chip, port=self.port, board_chip=found.chip
                )
            )
        end = max(offset + len(data) for offset, data in image.chunks)
        if found.flash_size and end > found.flash_size:
            raise JazariError(
                _("The image needs {needed} KB of flash but the board on {port} has {size} KB: nothing was written; use a board with more flash.").format(
                    needed=end // 1024, port=self.port, size=found.flash_size // 1024
                )
            )

    def _write_with_retry(self, image):
        try:
            self._write(image, self.baud)
        except _WriteFailed:
            if self.baud <= ROM_BAUD or self.stop.is_set():
                raise
            self.result.retried = True
            self._write(image, ROM_BAUD)

    def _write(self, image, baud):
        """The image's three writes (sealing.py: mark, body, seal), then every written region checked by MD5."""
        writes = image.writes or [[], image.chunks, []]  # an image without a filesystem to seal: one write
        steps = [sorted((offset, bytes(data)) for offset, data in chunks if data) for chunks in writes]
        self.route.start(sum(len(chunks) for chunks in steps))
        try:
            self.esp.flush_input()  # what a failed try left on the line
            if baud != self.esp._port.baudrate:
                self.esp.change_baud(baud)
            for name, chunks in zip(WRITE_STEPS, steps):
                self.stop.check()
                self.watch.writing(self.port, name)
                if chunks:
                    write_flash(self.esp, chunks, flash_size="keep")
            self.stop.check()
            self.watch.writing(self.port, VERIFY_STEP)
            self._verify(steps[1] + steps[2])  # what the flash must hold now: the mark is under the seal
        except (FatalError, *LINE_ERRORS) as failure:
            raise _WriteFailed(line_failure(self.port, failure).message) from None

    def _verify(self, chunks):
        """Every region as the board's flash holds it, by the MD5 the stub computes there; esptool checks
        each write as it ends, this checks them all once the last is done (the seal over the mark too)."""
        for offset, data in chunks:
            if self.esp.flash_md5sum(offset, len(data)) != hashlib.md5(data).hexdigest():
                raise _WriteFailed(
                    _("The flash of the board on {port} does not hold what was written at {offset:#x} (checked "
                      "after the last write): flash it again with a lower --baud.").format(port=self.port, offset=offset)
                )

    def _close(self):
        """Let the board go: a real one is reset through RTS; a virtual one
        boots from its flash when the port closes after a write."""
        esp, self.esp = self.esp, None
        if esp is None:
            return
        try:
            if self.result.job is not None and not is_virtual(self.port):
                esp.hard_reset()
        except LINE_ERRORS:
            pass
        finally:
            esp._port.close()


class _WriteFailed(JazariError):
    """A write or its MD5 check failed: worth one more try, at a lower rate."""


def line_failure(port, failure):
    """esptool's error, or the serial line's, as one translated line about the board on `port`."""
    text = str(failure)
    if "MD5" in text or "empty" in text:
        message = _("The flash of the board on {port} does not hold what was written (MD5 check failed): flash it again with a lower --baud.")
    elif isinstance(failure, LINE_ERRORS) or "timed out" in text.lower() or "stream stopped" in text.lower():
        message = _("Lost the board on {port} while writing (unplugged or reset?): plug it in again, put it in download mode and flash it again.")
    else:
        message = _("Flashing the board on {port} failed: {reason}")
    return JazariError(message.format(port=port, reason=_reason(failure)))


def _reason(failure):
    lines = str(failure).strip().splitlines()
    return lines[0] if lines else type(failure).__name__


def is_virtual(port):
    """A virtual board's port is a pseudo-terminal (its stable name a link to one)."""
    return os.path.realpath(port).startswith("/dev/pts/")


def _connect_mode(port):
    """Virtual boards wait in download mode and have no DTR/RTS to reset them
    with; USB boards are reset into their bootloader through those lines."""
    return "no-reset" if is_virtual(port) else "default-reset"
