"""MicroPython firmware for a chip: a file given, the cache, or a pinned download.

Every firmware file is kept in the cache under its SHA-256
(`<cache>/<sha256>/<file name>`) and checked against that hash each time it is
used, so a damaged or swapped file is never flashed. A file is kept as a
release (under the release's file name) only when its SHA-256 is that
release's pinned one; any other is a local file, under its own name, never
found later as a release. Without `--firmware FILE` the pinned release for the
chip is looked up there by its pinned hash, then downloaded from
micropython.org (when online) and checked against it.

A firmware file is an ESP app image (header magic 0xE9) whose extended header
names the chip it was built for (firmware_image.py reads it and checks it is
whole). A MicroPython release `.bin` is a combined image written at the chip's
bootloader offset: the second-stage bootloader, then the partition table at
0x8000 and the app at 0x10000 (both counted from the start of the flash). A
bare app image (ESP-IDF's `micropython.bin`, or tools/make_test_firmware.py's)
has no table: the image build supplies one.
"""

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from jazari.errors import JazariError
from jazari.flash import layout
from jazari.flash.cache import cache_dir as kit_cache_dir
from jazari.flash.firmware_image import app_version, check_app, check_app_image, chip_at, combined_table, first_header, is_bootloader
from jazari.files import write_atomically
from jazari.i18n import _

CHIP_NAMES = {"esp32": "ESP32", "esp32s3": "ESP32-S3"}  # how esptool names them
_CHUNK = 1 << 16
DOWNLOAD_BASE = "https://micropython.org/resources/firmware/"
DOWNLOAD_TIMEOUT = 60  # seconds without data before a download is given up


@dataclass(frozen=True)
class Release:
    """One pinned file of a MicroPython release on micropython.org."""

    board: str
    file: str
    sha256: str | None

    @property
    def url(self):
        return DOWNLOAD_BASE + self.file


# MicroPython v1.27.0 (2025-12-09), the generic builds for ESP32 (written at
# 0x1000) and ESP32-S3 (at 0x0), file names as published on
# micropython.org/download/ESP32_GENERIC/ and .../ESP32_GENERIC_S3/.
# micropython.org publishes no checksums. The ESP32-S3 hash was taken from a
# copy of the published file (esptool image-info: valid checksums and
# validation hashes; "MicroPython v1.27.0 on 2025-12-09" inside); no copy of
# the ESP32 file could be checked when this was pinned, so its hash is None:
# a download of it is refused rather than trusted, until its sha256sum (of
# the file from micropython.org) is recorded here. Classrooms pass it with
# --firmware meanwhile; the cache keeps it after that.
PINNED_VERSION = "v1.27.0"
PINNED = {
    "esp32": Release("ESP32_GENERIC", "ESP32_GENERIC-20251209-v1.27.0.bin", None),
    "esp32s3": Release(
        "ESP32_GENERIC_S3",
        "ESP32_GENERIC_S3-20251209-v1.27.0.bin",
        "f533115edca660863b1308445d5c08e3fa108b34c39229a53c2f984a8186a9cd",
    ),
}


@dataclass(frozen=True)
class Firmware:
    path: Path  # the verified copy in the cache
    sha256: str
    chip: str  # as esptool names it: "ESP32", "ESP32-S3"
    version: str | None  # the app's version (MicroPython's git tag), if it records one
    size: int
    local: bool = True  # not a pinned release: a file someone passed with --firmware

    @property
    def label(self):
        """How `jazari flash` names it: the release, or the local file and the start of its hash."""
        if self.local:
            return _("local file {name}, sha256 {digest}...").format(name=self.path.name, digest=self.sha256[:12])
        return "MicroPython {}".format(self.version) if self.version else self.path.name

    def read(self):
        """The firmware's bytes, checked against its SHA-256 again (the cache may have changed since)."""
        data = Path(self.path).read_bytes()
        _verify_cached(self.path, data, self.sha256)
        return data


@dataclass(frozen=True)
class ImageLayout:
    """What the bytes of a firmware file say about themselves."""

    chip: str  # esptool's name, or "chip id N" for a chip esptool does not know
    version: str | None
    table: tuple | None  # the partitions of a combined image; None for a bare app
    offset: int | None  # where a combined image is written (the bootloader offset, or 0 if it starts there)


def chip_key(chip):
    """'esp32' or 'esp32s3' for any spelling of those chips ('ESP32-S3', 'esp32s3'...)."""
    key = str(chip).lower().replace("-", "").replace("_", "")
    layout.bootloader_offset(key)  # refuses other chips in one translated line
    return key


def resolve_firmware(chip, firmware=None, *, cache_dir=None, offline=False):
    """The MicroPython firmware to flash on a `chip` board, verified, from the cache.

    `firmware`: a file to use (copied into the cache by its SHA-256); else the
    pinned release for the chip, from the cache or (unless `offline`) from
    micropython.org. Raises a translated JazariError for a missing file, a
    file that is no ESP32 firmware, one for another chip, or a hash mismatch,
    before anything is written to a board.
    """
    key = chip_key(chip)
    folder = Path(cache_dir) if cache_dir is not None else kit_cache_dir("firmware")
    if firmware is not None:
        data = _read_given(Path(firmware))
        digest = hashlib.sha256(data).hexdigest()
        named = _release_named(Path(firmware).name)
        if named is not None and named.sha256 is not None:
            _verify_pinned(firmware, data, named)
        # Only the pinned bytes are kept under a release's name; anything else
        # stays a local file under its own name, never found as a release later.
        release = PINNED[key] if PINNED[key].sha256 == digest else None
        return _admit(data, Path(firmware), key, folder, release)
    release = PINNED[key]
    cached = _cached_release(folder, release)
    if cached is not None:
        return _from_cache(cached, key)
    if offline:
        raise JazariError(
            _("No MicroPython firmware for {chip} in the cache ({folder}) and offline: pass --firmware FILE "
              "(the file {name} from {url}).").format(chip=CHIP_NAMES[key], folder=folder, name=release.file, url=release.url)
        )
    return _admit(_download(release), Path(release.file), key, folder, release)


def check_given(path):
    """Refuse a --firmware file that is not a whole ESP32 or ESP32-S3 image, before any board is touched.

    A file for a chip the kit does not flash is left to each board's check,
    which names the board's chip."""
    data = _read_given(Path(path))
    for key in PINNED:
        start = first_header(data, key)
        if start is not None and chip_at(data, start) == CHIP_NAMES[key]:
            describe_image(data, Path(path), key)
            return
    if all(first_header(data, key) is None for key in PINNED):
        describe_image(data, Path(path), next(iter(PINNED)))  # not an image at all: its one line


def _read_given(path):
    if not path.is_file():
        raise JazariError(
            _("Firmware file {path} not found: check the path, or leave out --firmware to use the "
              "cached MicroPython release.").format(path=path)
        )
    return path.read_bytes()


def _release_named(name):
    for release in PINNED.values():
        if release.file == name:
            return release
    return None


def _cached_release(folder, release):
    """The cached copy of `release`: only ever found by its pinned hash (a file merely named like it is a local file)."""
    if release.sha256 is None:
        return None
    candidate = folder / release.sha256 / release.file
    return candidate if candidate.is_file() else None


def _from_cache(path, key):
    """A Firmware for a file already in the cache, whose folder name is its SHA-256."""
    data = path.read_bytes()
    _verify_cached(path, data, path.parent.name)
    return _described(path, data, key)


def _admit(data, source, key, folder, release):
    """Check `data` (from `source`) is firmware for chip `key`, then keep it in the cache under its SHA-256:
    as `release`'s file when it is that release (its pinned hash), else under its own name, as a local file."""
    describe_image(data, source, key)  # refuses a wrong file before it enters the cache
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest / (release.file if release is not None else source.name)
    if not path.is_file():
        write_atomically(path, [data])
    return _from_cache(path, key)


def _described(path, data, key):
    image = describe_image(data, path, key)
    digest = hashlib.sha256(data).hexdigest()
    release = _release_named(Path(path).name)
    local = release is None or release.sha256 != digest
    return Firmware(Path(path), digest, image.chip, image.version, len(data), local)


def describe_image(data, name, key):
    """The ImageLayout of firmware `data` (file `name`), refused unless it is an image for chip `key`."""
    start = first_header(data, key)
    if start is None:
        raise JazariError(
            _("{path} is not an ESP32 firmware image (it does not start with 0xE9): use the .bin file "
              "for your board from micropython.org/download.").format(path=name)
        )
    chip = chip_at(data, start)
    if chip != CHIP_NAMES[key]:
        raise JazariError(
            _("This firmware is for {firmware_chip}, the board is an {board_chip}: pick the {board_chip} "
              "firmware ({board} on micropython.org/download).").format(
                firmware_chip=chip, board_chip=CHIP_NAMES[key], board=PINNED[key].board
            )
        )
    offset = layout.bootloader_offset(key) - start  # where the file goes, if it is a combined image
    table = combined_table(data, offset)
    if table is None:
        # No table where a combined release holds one: a bare app, unless its first image is a
        # bootloader (a release cut short, or its table damaged), which must not be written as an app.
        if is_bootloader(data, start, key):
            raise JazariError(
                _("{path} starts with a bootloader but has no partition table at 0x{table:x}: the release is cut short "
                  "or damaged. Nothing was written: download the firmware again.").format(
                    path=name, table=layout.PARTITION_TABLE_OFFSET
                )
            )
        check_app(data, 0, name, key)
        return ImageLayout(chip, app_version(data, 0), None, None)
    apps = [part.offset for part in table if part.type == layout.TYPE_APP]
    app_at = min(apps, default=layout.FACTORY.offset) - offset
    check_app_image(data, start, name, key, _("bootloader"))
    check_app(data, app_at, name, key)
    return ImageLayout(chip, app_version(data, app_at), table, offset)


def _verify_cached(path, data, expected):
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise JazariError(
            _("The cached firmware {path} is damaged (SHA-256 {got}, expected {expected}): delete it, then run "
              "again online or with --firmware FILE.").format(path=path, got=got, expected=expected)
        )


def _verify_pinned(source, data, release):
    got = hashlib.sha256(data).hexdigest()
    if got != release.sha256:
        raise JazariError(
            _("{path} is not the pinned MicroPython release {name}: its SHA-256 is {got}, expected {expected}. "
              "Download it again from {url}.").format(
                path=source, name=release.file, got=got, expected=release.sha256, url=release.url
            )
        )


def _download(release):
    """The bytes of `release` from micropython.org, refused unless they match its pinned SHA-256."""
    if release.sha256 is None:
        raise JazariError(
            _("No SHA-256 is pinned for {name} in this version of jazari, so a download cannot be checked: "
              "download it from {url}, check it, and pass --firmware FILE.").format(name=release.file, url=release.url)
        )
    digest = hashlib.sha256()
    parts = []
    try:
        with urllib.request.urlopen(release.url, timeout=DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                parts.append(chunk)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise JazariError(
            _("Could not download {url} ({reason}): check the connection, or download the file on another "
              "computer and pass --firmware FILE.").format(url=release.url, reason=reason)
        ) from None
    data = b"".join(parts)
    _verify_pinned(release.url, data, release)
    return data
