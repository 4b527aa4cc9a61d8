"""The compiled-firmware cache follows every file of the tree, not only the kit's code."""

import shutil

from jazari.flash.compiled import compiled_firmware
from jazari.paths import firmware_dir


def test_an_edit_to_boot_py_alone_makes_a_new_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "firmware"
    shutil.copytree(firmware_dir(), source, ignore=shutil.ignore_patterns("__pycache__"))
    before = compiled_firmware(source, "x64")
    (source / "boot.py").write_text("# edited by a teacher\n")
    after = compiled_firmware(source, "x64")
    assert after != before
    assert (after / "boot.py").read_text() == "# edited by a teacher\n"
    assert (before / "boot.py").read_bytes() == (firmware_dir() / "boot.py").read_bytes()
