"""What the bytes of an ESP app image say about themselves, and whether they are whole.

A firmware file starts with an app image (header magic 0xE9): the
bootloader of a combined release, or a bare app. Its extended header names
the chip; a combined release holds a partition table at 0x8000 and the app
at its partition's offset (both counted from the start of the flash).

Whole means what the ROM (for the bootloader) and the bootloader (for the
app) check before they run one: an image with a wrong checksum or appended
SHA-256 does not boot, and nothing on the computer would say why.
esptool's own image reader (`LoadFirmwareImage`, what `esptool image-info`
uses) reads the header, every segment and the checksum byte, and hashes
what the SHA-256 covers; its errors are turned here into one translated
line naming the file, the part and what is wrong, before anything is written.
"""

import re
import struct

from esptool.bin_image import LoadFirmwareImage
from esptool.util import FatalError

from jazari.errors import JazariError
from jazari.flash import layout
from jazari.i18n import _

IMAGE_MAGIC = 0xE9
_HEADER = struct.Struct("<BBBBI")  # magic, segments, flash mode, size/frequency, entry
_CHIP_ID = struct.Struct("<H")  # in the extended header, after WP pin and 3 drive bytes
_CHIP_ID_AT = _HEADER.size + 4
_FIRST_SEGMENT_HEADER = _HEADER.size + 16  # after the image header and the extended header
_SEGMENT_AT = _FIRST_SEGMENT_HEADER + 8  # first segment's data: after its own header too
_APP_DESC = struct.Struct("<I12x32s")  # esp_app_desc_t: magic, secure version, reserved, version
APP_DESC_MAGIC = 0xABCD5432
_BANNER = re.compile(rb"MicroPython (v[0-9][0-9A-Za-z.+-]*) on [0-9]")
# The ROM and ESP-IDF's bootloader load at most 16 segments (esptool's limit too);
# checked from the header byte first, so a header claiming 200 is never walked.
MAX_SEGMENTS = 16
_SEGMENT_COUNT_AT = 1


def check_app_image(data, at, name, key, part):
    """Refuse the app image starting at byte `at` of firmware `data` (file `name`,
    chip `key`) unless its header, segments, checksum and appended SHA-256 hold.

    `part`: what it is, as the message names it (translated: bootloader, app).
    """
    if len(data) < at + _FIRST_SEGMENT_HEADER:
        raise _cut_short(name, part, len(data))
    count = data[at + _SEGMENT_COUNT_AT]
    if count == 0 or count > MAX_SEGMENTS:
        raise _damaged(
            _("{path} is not a valid firmware image: the header of its {part} claims {count} segments (1 to 16 are "
              "possible)."), name, part, count=count
        )
    try:
        image = LoadFirmwareImage(key, data[at:])
    except (FatalError, struct.error, TypeError, RuntimeError):
        # A segment or the checksum byte lies past the end: esptool runs out of bytes
        # (FatalError, struct.error for a cut header, TypeError for no checksum byte).
        raise _cut_short(name, part, len(data)) from None
    computed = image.calculate_checksum()
    if image.checksum != computed:
        raise _damaged(
            _("{path} is damaged: the checksum of its {part} is {stored:#04x}, its contents give {computed:#04x}."),
            name, part, stored=image.checksum, computed=computed,
        )
    if image.append_digest and image.stored_digest != image.calc_digest:
        raise _damaged(_("{path} is damaged: the SHA-256 at the end of its {part} does not match its contents."), name, part)


def check_app(data, at, name, key):
    """Refuse what starts at byte `at` unless it is a whole app: ESP-IDF's bootloader
    starts only an image whose first segment begins with the app description."""
    check_app_image(data, at, name, key, _("app"))
    if not has_app_description(data, at):
        raise _damaged(
            _("{path} is not a MicroPython app: its {part} has no app description (magic 0xABCD5432) where ESP-IDF puts one."),
            name, _("app"),
        )


def is_bootloader(data, at, key):
    """Whether the image at byte `at` is a second-stage bootloader's: the ROM loads
    every segment of one into RAM, where an app has flash-mapped ones."""
    try:
        image = LoadFirmwareImage(key, data[at:])
    except (FatalError, struct.error, TypeError, RuntimeError):
        return False  # unreadable: check_app says how
    return not any(image.is_flash_addr(segment.addr) for segment in image.segments)


def has_app_description(data, app_at):
    at = app_at + _SEGMENT_AT
    return len(data) >= at + _APP_DESC.size and _APP_DESC.unpack_from(data, at)[0] == APP_DESC_MAGIC


def _cut_short(name, part, size):
    return _damaged(
        _("{path} is cut short or damaged: its {part} runs past the end of the file ({size} bytes)."),
        name, part, size=size,
    )


def _damaged(problem, name, part, **values):
    advice = _("Nothing was written: download the firmware again, or rebuild it.")
    return JazariError(problem.format(path=name, part=part, **values) + " " + advice)


def first_header(data, key):
    """Where the first image header is in `data`: 0, or the bootloader offset when a
    merged image starts at flash address 0 (erased bytes before the bootloader); None if nowhere."""
    for start in (0, layout.bootloader_offset(key)):
        if len(data) >= start + _SEGMENT_AT and data[start] == IMAGE_MAGIC and not data[:start].strip(b"\xff"):
            return start
    return None


def chip_at(data, start):
    """esptool's name for the chip the image header at `start` is built for."""
    return chip_name(_CHIP_ID.unpack_from(data, start + _CHIP_ID_AT)[0])


def chip_name(chip_id):
    """esptool's name for the chip with this image chip ID."""
    from esptool.targets import CHIP_DEFS

    for target in CHIP_DEFS.values():
        if getattr(target, "IMAGE_CHIP_ID", None) == chip_id:
            return target.CHIP_NAME
    return _("chip id {number}").format(number=chip_id)


def combined_table(data, offset):
    """The partition table inside a combined image written at `offset`, or None for a bare app image."""
    at = layout.PARTITION_TABLE_OFFSET - offset
    if data[at : at + 2] != b"\xaa\x50":
        return None
    return layout.parse_partition_table(data[at : at + layout.PARTITION_TABLE_LENGTH])


def app_version(data, app_at):
    """The app's version: from its app description, else from MicroPython's banner inside it."""
    if has_app_description(data, app_at):
        version = _APP_DESC.unpack_from(data, app_at + _SEGMENT_AT)[1]
        if version.strip(b"\0"):
            return version.split(b"\0", 1)[0].decode("ascii", "replace")
    # Releases leave the description's version empty; the REPL banner holds the git tag.
    banner = _BANNER.search(data, max(app_at, 0))
    return banner.group(1).decode("ascii") if banner else None
