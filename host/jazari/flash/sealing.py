"""How a board's image is written so that `/kit.json` is written last.

A LittleFS filesystem is reached only through its root, the metadata pair in
its first two blocks: the superblock and the root folder's entries (`/kit.json`
among them, `/kit`, `/lessons`...) live there, and every other block is found
from it. So the image goes in three writes, each checked by MD5:

1. **mark**: those two blocks become the root of a filesystem whose only file
   is `/kit.json` = {"flashing": true}. From here until the end, whatever is
   left of the old filesystem is unreachable and the board says it is
   half-flashed (jazari.flash.integrity), even if it boots.
2. **body**: everything else (firmware, partition table, ROMFS, the rest of
   the filesystem), in flash order.
3. **seal**: the new filesystem's two root blocks, and with them its files and
   the new `/kit.json`, which also holds the SHA-256 of the kit's files
   (`kit_sha256`) that `jazari info` checks on the board.

Both root blocks are always written whole (8 KB, erased where the image has
nothing), so the marker never survives beside the new root.
"""

import functools
import hashlib
import json

from jazari.flash import layout, vfs

ROOT_BLOCKS = 2 * vfs.BLOCK_SIZE  # LittleFS's superblock and root folder: the metadata pair {0, 1}
KIT_JSON = "/kit.json"
# The keys jazari flash writes to /kit.json to check its own work (kit.board skips them).
FLASHING_KEY = "flashing"
KIT_DIGEST_KEY = "kit_sha256"


@functools.lru_cache(maxsize=4)
def mark_blocks(size, disk_version):
    """The root blocks of a `size`-byte filesystem holding only the "being flashed" /kit.json."""
    marker = json.dumps({FLASHING_KEY: True}).encode()
    image = vfs.vfs_image_of([(KIT_JSON, marker)], size, disk_version)
    return image[:ROOT_BLOCKS]


def root_blocks(image):
    """The first two blocks of a filesystem image, padded with erased bytes to both blocks."""
    return image[:ROOT_BLOCKS].ljust(ROOT_BLOCKS, bytes([layout.ERASED]))


def writes(chunks, vfs_offset, vfs_image, disk_version):
    """[mark, body, seal]: the image's `chunks` (the final flash contents), regrouped
    into the three writes, given the filesystem image written at `vfs_offset`."""
    root_end = vfs_offset + ROOT_BLOCKS
    body = []
    for offset, data in chunks:
        if offset + len(data) <= vfs_offset or offset >= root_end:
            body.append((offset, data))
        elif offset + len(data) > root_end:  # the filesystem's first run: its root goes in the seal
            body.append((root_end, data[root_end - offset :]))
    mark = [(vfs_offset, mark_blocks(len(vfs_image), disk_version))]
    seal = [(vfs_offset, root_blocks(vfs_image))]
    return [mark, body, seal]


def kit_digest(files):
    """The SHA-256 (hex) of the kit's files: (path inside the kit folder, bytes) pairs.

    What is hashed, per file in path order: the path, a NUL, the size in
    decimal, a NUL, the contents; integrity.py computes the same on the board.
    """
    digest = hashlib.sha256()
    for path, contents in sorted(files):
        digest.update(path.encode() + b"\0" + str(len(contents)).encode() + b"\0")
        digest.update(contents)
    return digest.hexdigest()
