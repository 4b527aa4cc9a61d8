"""Is an ESP app image whole? Checked before a firmware file enters the cache or a board.

The ROM (for the bootloader) and the bootloader (for the app) refuse an image
whose checksum or appended SHA-256 is wrong, so a board flashed with one does
not boot, and nothing on the host would say why. esptool's own image reader
(`LoadFirmwareImage`, what `esptool image-info` uses) reads the header, every
segment and the checksum byte, and hashes what the SHA-256 covers; its errors
are turned here into one translated line naming the file, the part and what is
wrong, before anything is written.
"""

import struct

from esptool.bin_image import LoadFirmwareImage
from esptool.util import FatalError

from jazari.errors import JazariError
from jazari.i18n import _

# The ROM and ESP-IDF's bootloader load at most 16 segments (esptool's limit too);
# checked from the header byte first, so a header claiming 200 is never walked.
MAX_SEGMENTS = 16
_SEGMENT_COUNT_AT = 1
_HEADERS = 24  # the image header and the extended header, before the first segment


def check_app_image(data, at, name, key, part):
    """Refuse the app image starting at byte `at` of firmware `data` (file `name`,
    chip `key`) unless its header, segments, checksum and appended SHA-256 hold.

    `part`: what it is, as the message names it (translated: bootloader, app).
    """
    if len(data) < at + _HEADERS:
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


def _cut_short(name, part, size):
    return _damaged(
        _("{path} is cut short or damaged: its {part} runs past the end of the file ({size} bytes)."),
        name, part, size=size,
    )


def _damaged(problem, name, part, **values):
    advice = _("Nothing was written: download the firmware again, or rebuild it.")
    return JazariError(problem.format(path=name, part=part, **values) + " " + advice)
