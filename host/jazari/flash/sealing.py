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

The two root blocks of a filesystem LittleFS builds hold two revisions of
its root: the older one (block 0, right after formatting) is empty. A write
stopped between the blocks would leave that empty root to mount, so both
the mark and the seal write the newest root block twice (a metadata block
does not name its own address; LittleFS takes either copy). A board stopped
inside the seal then mounts the new root as soon as block 0 is whole.
"""

import functools
import hashlib
import json
import struct

from jazari.flash import vfs

ROOT_BLOCKS = 2 * vfs.BLOCK_SIZE  # LittleFS's superblock and root folder: the metadata pair {0, 1}
KIT_JSON = "/kit.json"
_REVISION = struct.Struct("<I")  # a metadata block's first word
# The keys jazari flash writes to /kit.json to check its own work (kit.board skips them).
FLASHING_KEY = "flashing"
KIT_DIGEST_KEY = "kit_sha256"


@functools.lru_cache(maxsize=4)
def mark_blocks(size, disk_version):
    """The root blocks of a `size`-byte filesystem holding only the "being flashed" /kit.json."""
    marker = json.dumps({FLASHING_KEY: True}).encode()
    return root_blocks(vfs.vfs_image_of([(KIT_JSON, marker)], size, disk_version))


def root_blocks(image):
    """Both root blocks of a filesystem image, each holding its newest root (see above)."""
    block = vfs.BLOCK_SIZE
    revisions = [_REVISION.unpack_from(image, at)[0] for at in (0, block)]
    # LittleFS compares revisions as sequence numbers (lfs_scmp): block 1 wins only if strictly newer.
    newest = 1 if 0 < (revisions[1] - revisions[0]) % (1 << 32) < (1 << 31) else 0
    root = image[newest * block : (newest + 1) * block]
    return root + root


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
