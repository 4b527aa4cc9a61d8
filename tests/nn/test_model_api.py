"""The student API (kit.nn.Model, exposed as kit.Model) under MicroPython:
inputs/outputs, invoke on raw bytes, predict on floats, classify with the
labels of a sibling .txt file, arena_bytes and last_us."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine_runner import FIRMWARE, micropython, run_tflm

REPO = Path(__file__).resolve().parents[2]
TFLM = REPO.parent / "shared" / "conformance" / "tflm"
CORPUS = REPO / "tests" / "nn" / "corpus"
pytestmark = pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")


def run_mp(code):
    script = "import sys, json\nsys.path.insert(0, %r)\n" % str(FIRMWARE) + code
    proc = subprocess.run([micropython(), "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_predict_quantizes_in_and_dequantizes_out():
    # hello_world_int8 learned sin(x) on [0, 2*pi].
    got = run_mp("""
from kit.nn import Model
m = Model(%r)
i, o = m.inputs[0], m.outputs[0]
print(json.dumps({"in": [list(i.shape), i.dtype, i.scale, i.zero_point],
                  "out": [list(o.shape), o.dtype, o.scale, o.zero_point],
                  "y": [m.predict([x / 10])[0] for x in range(0, 63, 7)],
                  "arena": m.arena_bytes, "us": m.last_us}))
""" % str(TFLM / "hello_world_int8.tflite"))
    assert got["in"][:2] == [[1, 1], "int8"] and got["out"][:2] == [[1, 1], "int8"]
    for k, y in zip(range(0, 63, 7), got["y"]):
        assert abs(y - math.sin(k / 10)) < 0.2
    assert got["arena"] > 0 and got["us"] >= 0


def test_invoke_takes_raw_bytes_and_matches_tflite_micro():
    x = np.arange(-128, 128, dtype=np.int8).repeat(8)[:1960].reshape(1, 1, 1960)
    got = run_mp("""
from kit.nn import Model
with open(%r, "rb") as f:
    m = Model(f.read())
out = m.invoke(bytes(%r))
print(json.dumps({"out": list(out), "type": type(out).__name__}))
""" % (str(TFLM / "micro_speech_quantized.tflite"), x.tobytes()))
    want = run_tflm(TFLM / "micro_speech_quantized.tflite", [x])[0].ravel()
    assert got["type"] == "bytes"
    assert np.array(got["out"], dtype=np.uint8).view(np.int8).tolist() == want.tolist()


def test_several_inputs_and_classify_with_labels(tmp_path):
    model = tmp_path / "speech.tflite"
    shutil.copy(TFLM / "micro_speech_quantized.tflite", model)
    (tmp_path / "speech.txt").write_text("silence\nunknown\nyes\nno\n")
    shutil.copy(TFLM / "simple_add_model.tflite", tmp_path / "add.tflite")
    got = run_mp("""
from kit.nn import Model
m = Model(%r)
label, score = m.classify([0.5] * 1960)
scores = m.predict([0.5] * 1960)
add = Model(%r)
out = add.invoke(bytes(16384), bytes(16384))
print(json.dumps({"label": label, "score": score, "scores": scores, "labels": m.labels,
                  "add": [len(add.inputs), type(out).__name__, len(out)]}))
""" % (str(model), str(tmp_path / "add.tflite")))
    assert got["labels"] == ["silence", "unknown", "yes", "no"]
    best = max(range(4), key=lambda k: got["scores"][k])
    assert got["label"] == got["labels"][best] and got["score"] == max(got["scores"])
    assert abs(sum(got["scores"]) - 1.0) < 0.05  # a softmax, dequantized
    assert got["add"] == [2, "bytes", 16384]


def test_inputs_written_in_the_arena_need_no_copy():
    # Model.input(k): the arena bytes of input k, filled in place; invoke()
    # without arguments runs on them (a camera frame needs no copy in the heap).
    rng = np.random.default_rng(3)
    a, b = (rng.integers(-128, 128, size=(1, 128, 128, 1), dtype=np.int8) for _ in range(2))
    got = run_mp("""
import gc
from kit.nn import Model
m = Model(%r)
m.input(0)[:] = bytes(%r)
m.input(1)[:] = bytes(%r)
gc.collect()
gc.disable()
before = gc.mem_alloc()
m._interp.invoke(())
grew = gc.mem_alloc() - before
gc.enable()
out = m.invoke()
print(json.dumps({"out": list(out[:64]), "n": len(out), "grew": grew, "views": [len(m.input(0)), len(m.input(1))]}))
""" % (str(TFLM / "simple_add_model.tflite"), a.tobytes(), b.tobytes()))
    want = run_tflm(TFLM / "simple_add_model.tflite", [a[None], b[None]])[0].ravel()
    assert got["views"] == [16384, 16384] and got["n"] == 16384
    assert got["grew"] == 0  # nothing allocated by an invoke on in-place inputs
    assert np.array(got["out"], dtype=np.uint8).view(np.int8).tolist() == want[:64].tolist()


# Models whose ops' eval allocates nothing (docs/engine.md lists the ops that
# still do): invoked a second time with the heap locked, they must run.
NO_ALLOCATION = [TFLM / "simple_add_model.tflite", TFLM / "hello_world_int8.tflite"] + [
    CORPUS / (name + ".tflite") for name in ("conv_kernels", "conv_dilation", "depthwise", "depthwise_dilation",
                                              "fully_connected", "per_tensor", "elementwise", "max_pool",
                                              "average_pool", "mean")]


@pytest.mark.parametrize("path", NO_ALLOCATION, ids=lambda path: path.stem)
def test_invoke_allocates_nothing(path):
    got = run_mp("""
import micropython
from kit.nn import Model
m = Model(%r)
def run(interp):
    interp.invoke(())
    micropython.heap_lock()
    try:
        interp.invoke(())
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return ok
print(json.dumps({"ok": run(m._interp)}))
""" % str(path))
    assert got["ok"], "an invoke allocated with the heap locked"
