"""One flash image per chip: firmware, filesystem and ROMFS, as chunks for one write_flash.

What goes where (offsets from the start of the flash):

- a combined MicroPython release (bootloader, partition table, app) at the
  chip's bootloader offset, as published; its own partition table says where
  `vfs` and any `romfs` partition are. A bare app image (no table inside) goes
  at the `factory` offset, after the kit's partition table at 0x8000; the
  board keeps the bootloader it has.
- the `vfs` partition: a LittleFS2 image with the geometry the ESP32 port
  mounts, holding boot.py, main.py, `kit` compiled to .mpy for `march` (when
  it is not in ROMFS), the lessons under /lessons, the models under /models
  (when there is no ROMFS) and /kit.json with the board's identity. Its long
  runs of erased blocks are left out (one chunk per stretch of data):
  LittleFS erases a block before it first writes it, so whatever they hold
  now is never read.
- the `romfs` partition, where the firmware's table has one: a ROMFS image
  with the kit's .mpy under /rom/kit (when they fit beside the models) and
  the models under /rom/models, read in place from flash.

A classroom shares all of it but /kit.json: `build_shared` builds that part
once, `SharedImage.for_board` adds each board's /kit.json to a copy.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from littlefs import LittleFSError

from jazari.errors import JazariError
from jazari.flash import layout, sealing, vfs
from jazari.flash.compiled import COMPILED_PACKAGE, compiled_firmware
from jazari.flash.firmware import CHIP_NAMES, chip_key, describe_image
from jazari.i18n import _
from jazari.paths import firmware_dir

KIT_JSON = sealing.KIT_JSON
LESSONS_DIR = "/lessons"
MODELS_DIR = "models"  # /models in the filesystem, /rom/models in ROMFS
LABELS_SUFFIX = ".txt"  # a model's labels, beside it (kit.Model.classify)
# littlefs 2.1 (MicroPython 1.22+); older firmware mounts only disk version 2.0.
FIRST_LFS21_VERSION = (1, 22)
LFS20 = 0x00020000
# Erased blocks of the filesystem image are not written (LittleFS erases a
# block before it first writes it); gaps shorter than this are, to keep the
# chunks few (each costs esptool a round of erase, write and MD5).
ERASED_GAP = 16 * layout.SECTOR_SIZE


@dataclass(frozen=True)
class Region:
    """One part of the image, for the table `jazari flash` prints."""

    what: str
    offset: int
    size: int
    detail: str = ""


@dataclass
class FlashImage:
    chip: str  # as esptool names it: "ESP32", "ESP32-S3"
    chunks: list  # (offset, bytes), ascending and apart: the arguments of one write_flash
    total_bytes: int
    flash_size: int
    regions: list = field(default_factory=list)
    firmware: str = ""  # how the firmware is named: its release, or "local file NAME, sha256 ..."
    writes: list = field(default_factory=list)  # [mark, body, seal], each a list of chunks (sealing.py)

    def describe(self):
        """Rows (what, offset, size, contents) of strings, in flash order."""
        return [(r.what, "0x{:06x}".format(r.offset), _size_text(r.size), r.detail) for r in self.regions]


def build_image(firmware, *, flash_size, lessons=(), models=(), identity=None, march="xtensawin", romfs=None):
    """The FlashImage that puts `firmware` and the kit on a board with `flash_size` bytes of flash.

    `lessons`: lesson folders, copied to /lessons/<folder name>/; `models`:
    .tflite files (with their labels .txt beside them, when there is one);
    `identity`: a dict written as /kit.json; `march`: the architecture of the
    kit's .mpy ("xtensawin" for ESP32 and ESP32-S3 boards, "x64" for a virtual
    board); `romfs`: None uses a ROMFS partition when the firmware's table has
    one, False never, True needs one (a bare app gets the ROMFS table).
    Every input is checked before anything is built.
    """
    shared = build_shared(firmware, flash_size=flash_size, lessons=lessons, models=models, march=march, romfs=romfs)
    return shared.for_board(identity)


def build_shared(firmware, *, flash_size, lessons=(), models=(), march="xtensawin", romfs=None):
    """What every board with this firmware, flash size and `march` gets: all of build_image but /kit.json.

    A classroom builds it once and calls `for_board` per board, which only
    adds that board's /kit.json to a copy of the filesystem image.
    """
    lessons = [_existing(path, Path.exists, _("Lesson folder {path} not found: check the path.")) for path in lessons]
    models = [_existing(path, Path.is_file, _("Model file {path} not found: check the path.")) for path in models]
    key = chip_key(firmware.chip)
    data = firmware.read()
    regions, table = _firmware_regions(data, describe_image(data, firmware.path, key), firmware, romfs)
    _check_table_fits(table, flash_size)
    rom_part = layout.romfs_partition(table)
    if romfs is False:
        rom_part = None
    tree = compiled_firmware(firmware_dir(), march)
    kit_in_rom = False
    if rom_part is not None:
        rom, kit_in_rom = _romfs_region(rom_part, models, tree / COMPILED_PACKAGE)
        regions.append(rom)
        models_in_vfs = []
    else:
        models_in_vfs = models
    part = layout.vfs_partition(table, flash_size)
    files = _vfs_files(tree, lessons, models_in_vfs, kit_in_rom)
    detail = _("kit, lessons: {lessons}, models: {models}") if not kit_in_rom else _("lessons: {lessons}, models: {models}")
    kit = tree / COMPILED_PACKAGE
    return SharedImage(
        kit_sha256=sealing.kit_digest((path, source.read_bytes()) for path, source in vfs.board_files(kit)),
        chip=CHIP_NAMES[key],
        flash_size=flash_size,
        regions=regions,
        vfs=_vfs_region(part, files, _disk_version(firmware.version), flash_size),
        vfs_detail=detail.format(lessons=len(lessons), models=len(models_in_vfs)),
        firmware=firmware.label,
    )


@dataclass
class _Filesystem:
    """The `vfs` partition's LittleFS image, whole, as built from the shared files."""

    offset: int
    image: bytes
    disk_version: int
    need: int  # bytes of the files in it, for the message when one more does not fit


@dataclass
class SharedImage:
    """Firmware, ROMFS and filesystem regions common to the boards of a classroom (see build_shared)."""

    chip: str
    flash_size: int
    regions: list  # _Part: firmware, partition table, romfs
    vfs: _Filesystem
    vfs_detail: str
    kit_sha256: str  # of the kit's files, wherever they go: /kit.json holds it, `jazari info` checks it
    firmware: str = ""

    def for_board(self, identity=None):
        """The FlashImage of one board: the shared regions, and the filesystem with `identity` as /kit.json."""
        image, detail = self.vfs.image, self.vfs_detail
        if identity is not None:
            record = dict(identity, **{sealing.KIT_DIGEST_KEY: self.kit_sha256})
            contents = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
            try:
                image = vfs.add_file(image, KIT_JSON, contents, self.vfs.disk_version)
            except LittleFSError as error:
                if not vfs.is_full(error):
                    raise
                raise _not_fitting(self.vfs.need + len(contents), len(image), self.flash_size) from None
            detail += ", " + KIT_JSON.lstrip("/")
        vfs_part = _Part("vfs", self.vfs.offset, len(image), _written_runs(image, self.vfs.offset), detail)
        regions = sorted(self.regions + [vfs_part], key=lambda region: region.offset)
        chunks = [chunk for region in regions for chunk in region.chunks]
        _check_apart(chunks)
        return FlashImage(
            chip=self.chip,
            chunks=chunks,
            total_bytes=sum(len(data) for _offset, data in chunks),
            flash_size=self.flash_size,
            regions=[Region(r.what, r.offset, r.size, r.detail) for r in regions],
            firmware=self.firmware,
            writes=sealing.writes(chunks, self.vfs.offset, image, self.vfs.disk_version),
        )


@dataclass
class _Part:
    """A region being built: its chunks to write, and the room it takes."""

    what: str
    offset: int
    size: int
    chunks: list
    detail: str = ""


def _part(what, offset, data, detail=""):
    return _Part(what, offset, len(data), [(offset, data)], detail)


def _existing(path, present, message):
    path = Path(path)
    if not present(path):
        raise JazariError(message.format(path=path))
    return path


def _firmware_regions(data, found, firmware, romfs):
    """The firmware's chunks and the partition table the board will boot with."""
    name = firmware.label
    table = found.table
    if table is not None:
        if romfs is True and layout.romfs_partition(table) is None:
            raise JazariError(
                _("This firmware has no ROMFS partition: use a build with ROMFS, or flash without ROMFS.")
            )
        return [_part(_("firmware"), found.offset, data, _("{name}, bootloader and partition table").format(name=name))], table
    table = layout.ROMFS_TABLE if romfs else layout.STANDARD_TABLE
    app = next(p for p in table if p.type == layout.TYPE_APP)
    if len(data) > app.size:
        raise JazariError(
            _("The firmware ({size} KB) is bigger than the app partition ({room} KB): use the firmware built "
              "for this board.").format(size=_kb(len(data)), room=_kb(app.size))
        )
    return [
        _part(_("partition table"), layout.PARTITION_TABLE_OFFSET, layout.build_partition_table(table)),
        _part(_("firmware"), app.offset, data, name),
    ], table


def _check_table_fits(table, flash_size):
    end = max(part.end for part in table)
    if end > flash_size:
        raise JazariError(
            _("The firmware's partitions need more than {need} KB of flash, the board has {have} KB: use a board "
              "with more flash, or firmware made for this one.").format(need=_kb(end), have=_kb(flash_size))
        )


def _romfs_region(part, models, kit):
    """The ROMFS region and whether the kit is in it.

    The kit's .mpy go to /rom/kit, where the board runs their bytecode in
    place (about 30 KB less heap for the engine); when the kit and the models
    do not fit together, the models keep the room and the kit stays in the
    filesystem: weights read in place save more than code does.
    """
    image = _romfs_image(models, kit)
    kit_in_rom = len(image) <= part.size
    if not kit_in_rom:
        image = _romfs_image(models)
    if len(image) > part.size:
        raise JazariError(
            _("The models take {need} KB, the ROMFS partition holds {have} KB: leave some models out.").format(
                need=_kb(len(image)), have=_kb(part.size)
            )
        )
    detail = _("models: {count}").format(count=len(models))
    if kit_in_rom:
        detail = _("kit, models: {count}").format(count=len(models))
    return _part("romfs", part.offset, image, detail), kit_in_rom


def _romfs_image(models, kit=None):
    """A ROMFS image with the models under /rom/models and, given its folder, the kit under /rom/kit."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()
    if kit is not None:
        _romfs_folder(writer, kit)
    if models:
        writer.opendir(MODELS_DIR)
        for name, source in _model_files(models):
            writer.mkfile(name, source.read_bytes())
        writer.closedir()
    return writer.finalise()


def _romfs_folder(writer, folder):
    writer.opendir(folder.name)
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name not in vfs.NOT_ON_BOARD:
            _romfs_folder(writer, entry)
        elif entry.is_file() and not entry.name.startswith("."):
            writer.mkfile(entry.name, entry.read_bytes())
    writer.closedir()


def _model_files(models):
    """(file name, source) of each model and of the labels beside it."""
    for model in models:
        yield model.name, model
        labels = model.with_suffix(LABELS_SUFFIX)
        if labels.is_file() and labels != model:
            yield labels.name, labels


def _vfs_files(tree, lessons, models, kit_in_rom):
    """(path on the board, Path) of every file of the `vfs` partition but /kit.json.

    `tree`: the board files with the kit compiled; without the kit when it is
    in ROMFS, since `import kit` looks in "" (the filesystem's root) before /rom.
    """
    kit_prefix = "/" + COMPILED_PACKAGE + "/"
    files = [(path, source) for path, source in vfs.board_files(tree) if not (kit_in_rom and path.startswith(kit_prefix))]
    for lesson in lessons:
        if lesson.is_dir():
            files += [(LESSONS_DIR + "/" + lesson.name + path, source) for path, source in vfs.board_files(lesson)]
        else:
            files.append((LESSONS_DIR + "/" + lesson.name, lesson))
    files += [("/" + MODELS_DIR + "/" + name, source) for name, source in _model_files(models)]
    return files


def _vfs_region(part, files, disk_version, flash_size):
    if part.size < 2 * layout.SECTOR_SIZE:
        raise JazariError(
            _("The board's {have} KB of flash leave no room for its filesystem: use a board with more flash.").format(
                have=_kb(flash_size)
            )
        )
    need = sum(source.stat().st_size for _path, source in files)
    try:
        image = vfs.vfs_image_of(files, part.size, disk_version)
    except LittleFSError as error:
        if not vfs.is_full(error):
            raise
        raise _not_fitting(need, part.size, flash_size) from None
    return _Filesystem(part.offset, image, disk_version, need)


def _not_fitting(need, have, flash_size):
    return JazariError(
        _("The files for the board ({need} KB) do not fit in its {have} KB filesystem ({flash} KB of flash): "
          "leave out some lessons or models.").format(need=_kb(need), have=_kb(have), flash=_kb(flash_size))
    )


def _written_runs(image, offset):
    """(offset, bytes) of the stretches of `image` that hold data, apart where long erased gaps lie."""
    sector = layout.SECTOR_SIZE
    erased = bytes([layout.ERASED]) * sector
    used = [at for at in range(0, len(image), sector) if image[at : at + sector] != erased]
    runs = []
    for at in used:
        if runs and at - runs[-1][1] < ERASED_GAP:
            runs[-1][1] = at + sector
        else:
            runs.append([at, at + sector])
    return [(offset + start, image[start:end]) for start, end in runs]


def _disk_version(version):
    """The LittleFS disk version the firmware's MicroPython mounts."""
    try:
        numbers = tuple(int(n) for n in (version or "").lstrip("v").split("-")[0].split(".")[:2])
    except ValueError:
        return vfs.DISK_VERSION
    return LFS20 if len(numbers) == 2 and numbers < FIRST_LFS21_VERSION else vfs.DISK_VERSION


def _check_apart(chunks):
    """esptool erases whole sectors before writing: two chunks must not share one."""
    for (offset, data), (next_offset, _next) in zip(chunks, chunks[1:]):
        end = offset + len(data)
        if end + (-end % layout.SECTOR_SIZE) > next_offset:
            raise JazariError(
                _("The firmware (up to {end:#x}) runs into the partition at {next:#x}: use the firmware built for "
                  "this board.").format(end=end, next=next_offset)
            )


def _kb(size):
    return (size + 1023) // 1024


def _size_text(size):
    return "{:.1f} MB".format(size / (1 << 20)) if size >= 1 << 20 else "{} KB".format(_kb(size))
