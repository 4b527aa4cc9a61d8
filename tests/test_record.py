"""`jazari record`: guided capture of labelled examples from virtual boards."""

import json
import os
import signal
import time

import pytest

from jazari.record.dataset import load_examples
from jazari.record.writers import read_csv
from record_helpers import run_jazari, start_jazari

LED_PIN = 2  # the esp32 profile's LED


def test_record_writes_examples_manifest_and_lights_the_led(virtual_board, tmp_path):
    dataset = tmp_path / "gestures"
    result = run_jazari("record", virtual_board.port, "--label", "wave", "--seconds", "0.5", "--count", "2", "--rate", "100", "--countdown", "1", "--dataset", str(dataset))
    assert result.returncode == 0, result.stderr
    assert "Example 2 of 2 (wave) starts in 1" in result.stdout
    examples = json.loads((dataset / "manifest.json").read_text())["examples"]
    assert [entry["file"] for entry in examples] == ["wave/wave.1.csv", "wave/wave.2.csv"], result.stdout
    for entry in examples:
        names, t_us, values = read_csv(dataset / entry["file"])
        assert entry["board_id"] == virtual_board.uid and entry["label"] == "wave"
        assert list(names) == entry["channels"] and len(entry["units"]) == len(names)
        assert entry["samples"] == len(t_us) and entry["samples"] + entry["dropped"] + entry["lost"] == 50, entry
        assert entry["flagged"] == bool(entry["dropped"] or entry["lost"]), entry
        assert entry["start_utc"].endswith("Z")
    loaded = load_examples(dataset)  # what training reads
    assert [entry for entry, _t, _v in loaded] == examples
    assert all(values.shape == (entry["samples"], 6) for entry, _t, values in loaded)
    # The cue: the LED went on and off once per example.
    led = [event.args[1] for event in virtual_board.events() if event.kind == "pin" and event.args[0] == LED_PIN]
    assert led[-4:] == [1, 0, 1, 0], virtual_board.events()
    # A second session adds to the dataset: numbering goes on, the manifest keeps both.
    again = run_jazari("record", virtual_board.port, "--label", "wave", "--seconds", "0.2", "--countdown", "0", "--dataset", str(dataset))
    assert again.returncode == 0, again.stderr
    examples = json.loads((dataset / "manifest.json").read_text())["examples"]
    assert [entry["file"] for entry in examples][-1] == "wave/wave.3.csv" and len(examples) == 3


@pytest.mark.parametrize("cut", ["ctrl_c", "cable"])
def test_a_cut_keeps_finished_examples_only(virtual_board, tmp_path, cut):
    dataset = tmp_path / "ds"
    record = start_jazari("record", virtual_board.port, "--label", "idle", "--seconds", "3", "--count", "3", "--countdown", "0", "--dataset", str(dataset))
    try:
        deadline = time.monotonic() + 30
        while not (dataset / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # into the second example
        if cut == "ctrl_c":
            record.send_signal(signal.SIGINT)
        else:
            virtual_board.stop()  # the cable is pulled
        stdout, stderr = record.communicate(timeout=30)
    finally:
        record.kill()
    assert "Traceback" not in stderr
    if cut == "ctrl_c":
        assert record.returncode == 130 and "idle/idle.2.csv was not kept" in stderr
    else:
        assert record.returncode == 1 and len(stderr.strip().splitlines()) == 1
    examples = json.loads((dataset / "manifest.json").read_text())["examples"]
    assert [entry["file"] for entry in examples] == ["idle/idle.1.csv"]
    assert sorted(os.listdir(dataset / "idle")) == ["idle.1.csv"]  # no half-written example


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_bad_input_is_one_translated_line(lang, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    cases = [
        (("--label", "wave/left"), "wave/left"),
        (("--label", "x", "--dataset", str(blocker / "ds")), str(blocker)),
    ]
    if lang == "en":
        cases += [(("--label", "x", "--seconds", "0"), "--seconds"), (("--label", "x", "--source", "gyro"), "gyro")]
    for args, named in cases:
        result = run_jazari("record", "/dev/null", *args, lang=lang)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr
