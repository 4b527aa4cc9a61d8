"""The kit goes on boards precompiled to .mpy, so small models load in an ESP32's heap."""

import subprocess
import sys

import pytest

from jazari.flash.compiled import compiled_firmware
from jazari.paths import firmware_dir

from conftest import CONFORMANCE


def test_kit_is_compiled_and_the_rest_stays_source(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tree = compiled_firmware(firmware_dir(), "x64")
    assert not list((tree / "kit").rglob("*.py"))
    expected = {p.relative_to(firmware_dir() / "kit").with_suffix(".mpy") for p in (firmware_dir() / "kit").rglob("*.py")}
    assert {p.relative_to(tree / "kit") for p in (tree / "kit").rglob("*.mpy")} == expected
    assert (tree / "boot.py").read_bytes() == (firmware_dir() / "boot.py").read_bytes()
    # Compiled once: a second board gets the same cached tree.
    assert compiled_firmware(firmware_dir(), "x64") == tree


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="../shared/conformance/tflm is not beside the repository")
def test_small_models_run_bit_exact_on_the_virtual_esp32(virtual_board):
    for model in ("hello_world_int8", "micro_speech_quantized"):
        result = subprocess.run(
            [sys.executable, "-m", "jazari.cli", "model", "verify", str(CONFORMANCE / f"{model}.tflite"),
             "--port", virtual_board.port, "--samples", "2"],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "exactly tflite-micro's outputs" in result.stdout
