"""Write a small, valid ESP32 / ESP32-S3 app image: the stand-in for
MicroPython's firmware in tests of flashing (esptool's image-info accepts it).

    python tools/make_test_firmware.py OUT --chip esp32|esp32s3 [--version TEXT] [--bootloader]

Built from Espressif's documented app image format (ESP-IDF "App Image
Format"), all little endian:

- header, 8 bytes: magic 0xE9, segment count, SPI flash mode, flash size
  (high nibble) and frequency (low nibble), entry point;
- extended header, 16 bytes: WP pin (0xEE: none), three bytes of flash pin
  drive strengths, chip ID (0 ESP32, 9 ESP32-S3), legacy minimum revision,
  minimum and maximum full revisions (major * 100 + minor), 4 reserved bytes,
  and 1: a SHA-256 is appended;
- segments: load address, length (a multiple of 4), data. The first is the
  flash-mapped DROM segment holding the app description (esp_app_desc_t:
  magic 0xABCD5432, version, project name, build date, IDF version...), placed
  so that its load address and its offset in the image agree modulo 64 KB, as
  the cache's MMU maps flash; the second is IRAM code at the entry point;
- zero padding so that the image, with the checksum byte that ends it, fills
  16-byte lines; the checksum is 0xEF xor every byte of segment data;
- the SHA-256 of everything before it.

With --bootloader it stands in for the second-stage bootloader of a
combined release instead: like ESP-IDF's, every segment loads into RAM
(DRAM data, then the code in IRAM), none is flash-mapped, and it carries no
app description.

The code never runs (the virtual board runs MicroPython itself): it is a
jump-to-self loop, so a real chip that boots it would only idle.
"""

import argparse
import hashlib
import struct
import sys
from pathlib import Path

IMAGE_MAGIC = 0xE9
APP_DESC_MAGIC = 0xABCD5432
CHECKSUM_SEED = 0xEF
FLASH_MODE_DIO = 2
FLASH_4MB_40MHZ = 0x20  # size code 2 (4 MB) in the high nibble, 40 MHz (0) in the low one
WP_PIN_DISABLED = 0xEE
HASH_APPENDED = 1
MMU_PAGE = 0x10000
HEADER = struct.Struct("<BBBBI")
EXTENDED_HEADER = struct.Struct("<B3sHBHH4sB")
SEGMENT_HEADER = struct.Struct("<II")
# esp_app_desc_t: magic, secure_version, 2 reserved words, version, project_name,
# time, date, idf_ver, app_elf_sha256, min/max eFuse block revision, MMU page
# size (log2), 3 reserved bytes, 18 reserved words: 256 bytes.
APP_DESC = struct.Struct("<II8s32s32s16s16s32s32sHHB3s72s")
XTENSA_LOOP = bytes([0x06, 0xFF, 0xFF, 0x00])  # `j .` (a jump to itself), padded to a word

# Per chip: image chip ID, where flash-mapped data and IRAM start, the
# newest major revision the image accepts (max_chip_rev_full is major * 100 + 99).
CHIPS = {
    "esp32": {"chip_id": 0, "drom": 0x3F400000, "iram": 0x40080400, "max_major": 3},
    "esp32s3": {"chip_id": 9, "drom": 0x3C000000, "iram": 0x40378000, "max_major": 0},
}
# Where ESP-IDF's bootloader loads its data and code (its linker script's dram_seg and iram_loader_seg).
BOOTLOADER = {
    "esp32": {"dram": 0x3FFF0000, "iram": 0x40078000},
    "esp32s3": {"dram": 0x3FCD8000, "iram": 0x403C8000},
}


def app_description(version, project="jazari-test-firmware"):
    return APP_DESC.pack(
        APP_DESC_MAGIC, 0, bytes(8),
        version.encode()[:31], project.encode()[:31],
        b"00:00:00", b"Jan  1 2025", b"none (test image)",
        bytes(32), 0, 0, 16, bytes(3), bytes(72),
    )  # fmt: skip


def _pad4(data):
    return data + bytes(-len(data) % 4)


def build_image(chip, version="1.0.0", bootloader=False):
    """The app image for `chip` ("esp32" or "esp32s3"), as bytes; a bootloader's if `bootloader`."""
    spec = CHIPS[chip]
    header_size = HEADER.size + EXTENDED_HEADER.size
    if bootloader:
        entry = BOOTLOADER[chip]["iram"]
        segments = [(BOOTLOADER[chip]["dram"], _pad4(version.encode())), (entry, XTENSA_LOOP)]
    else:
        # The DROM data starts right after the headers: its load address keeps that offset within a 64 KB page.
        drom_addr = spec["drom"] + (header_size + SEGMENT_HEADER.size) % MMU_PAGE
        entry = spec["iram"]
        segments = [(drom_addr, _pad4(app_description(version))), (entry, XTENSA_LOOP)]
    out = bytearray(HEADER.pack(IMAGE_MAGIC, len(segments), FLASH_MODE_DIO, FLASH_4MB_40MHZ, entry))
    max_rev = spec["max_major"] * 100 + 99
    out += EXTENDED_HEADER.pack(WP_PIN_DISABLED, bytes(3), spec["chip_id"], 0, 0, max_rev, bytes(4), HASH_APPENDED)
    check = CHECKSUM_SEED
    for address, data in segments:
        out += SEGMENT_HEADER.pack(address, len(data)) + data
        for byte in data:
            check ^= byte
    out += bytes(15 - len(out) % 16) + bytes([check])
    return bytes(out) + hashlib.sha256(out).digest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the image")
    parser.add_argument("--chip", choices=sorted(CHIPS), required=True)
    parser.add_argument("--version", default="1.0.0", help="the version in the app description")
    parser.add_argument("--bootloader", action="store_true", help="a second-stage bootloader's image, loaded into RAM only")
    args = parser.parse_args(argv)
    args.out.write_bytes(build_image(args.chip, args.version, args.bootloader))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
