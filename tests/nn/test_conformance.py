"""The engine on TFLite Micro's own models (../shared/conformance/tflm):
every output value of every sample equal to tflite-micro's, under the real
MicroPython, with the model read in every way a board reads it."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

import engine_runner
from engine_runner import EngineError, run_engine, run_tflm, tflm_allocations

REPO = Path(__file__).resolve().parents[2]
TFLM = REPO.parent / "shared" / "conformance" / "tflm"

pytestmark = pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")

# model -> (input shapes without the sample axis, samples)
MODELS = {
    "hello_world_int8": ([(1, 1)], 8),
    "simple_add_model": ([(1, 128, 128, 1), (1, 128, 128, 1)], 3),
    "micro_speech_quantized": ([(1, 1960)], 4),
    "person_detect": ([(1, 96, 96, 1)], 1),
}


def random_inputs(name, seed, samples=None):
    shapes, count = MODELS[name]
    samples = samples or count
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=(samples,) + shape, dtype=np.int8) for shape in shapes]


def assert_same(got, want, who):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (who, k, g.dtype, g.shape, w.dtype, w.shape)
        differ = np.argwhere(g != w)
        assert not len(differ), "%s output %d: %d values differ, first at %s: %s vs tflite-micro %s" % (
            who, k, len(differ), tuple(differ[0]), g[tuple(differ[0])], w[tuple(differ[0])])


@pytest.mark.parametrize("name,mode", [
    ("hello_world_int8", "file"),
    ("hello_world_int8", "buffer"),
    ("simple_add_model", "file"),
    ("micro_speech_quantized", "file"),
    ("micro_speech_quantized", "rom"),
    ("person_detect", "rom"),
])
def test_bit_exact_with_tflite_micro(name, mode):
    path = TFLM / (name + ".tflite")
    inputs = random_inputs(name, seed=len(name))
    assert_same(run_engine(path, inputs, mode=mode), run_tflm(path, inputs), "%s (%s)" % (name, mode))


# Heaps below are what a program finds free when it starts (`start_free`, as
# a board profile states its heap: gc.mem_free() at the REPL), a few KB above
# the smallest each way of loading runs in on this 64-bit Unix port, whose
# objects are twice an ESP32's (measured: 106 KB with the kit's .mpy and the
# model on ROMFS, 163 KB with the kit compiled from .py, 187 KB with the
# model also streamed from a file, 175 KB with the kit's .mpy and the model
# streamed from a file, as on stock builds).
@pytest.mark.parametrize("mode,free", [("rom", "170K"), ("file", "195K"), ("mpyfile", "185K")])
def test_person_detect_in_a_small_heap(mode, free):
    path = TFLM / "person_detect.tflite"
    inputs = random_inputs("person_detect", seed=9)
    got = run_engine(path, inputs, heap="400K", start_free=free, mode=mode, in_arena=True)
    assert_same(got, run_tflm(path, inputs), "person_detect, " + mode)


def test_person_detect_keeps_its_per_channel_constants_on_flash_when_the_heap_is_short():
    # With the model's 14 KB of multipliers and shifts in RAM this heap would
    # leave too little beside the arena; on flash, read back before each
    # layer, the outputs stay bit-exact.
    path = TFLM / "person_detect.tflite"
    inputs = random_inputs("person_detect", seed=11)
    meta = {}
    got = run_engine(path, inputs, heap="400K", start_free="120K", mode="romcode", in_arena=True, meta=meta)
    assert meta["kept"] == "OnFlash"
    assert_same(got, run_tflm(path, inputs), "person_detect, constants on flash")
    roomy = {}
    run_engine(path, inputs, heap="400K", mode="romcode", in_arena=True, meta=roomy)
    assert roomy["kept"] == "InRam"


def test_person_detect_arena_is_smaller_than_tflite_micro_s():
    # Its largest layers write their output over their input (planner.py's
    # streaming pairs), which TFLM's greedy planner never does (measured: 36 KB
    # of tensors where tflite-micro plans 55 KB).
    meta = {}
    run_engine(TFLM / "person_detect.tflite", [np.zeros((1, 1, 96, 96, 1), np.int8)], mode="rom", meta=meta)
    assert meta["tensor_bytes"] < tflm_allocations(TFLM / "person_detect.tflite")["head"]


MICROPYTHON32 = os.environ.get("JAZARI_MICROPYTHON32")  # see tests/nn/test_kernels.py


@pytest.mark.skipif(not MICROPYTHON32, reason="set JAZARI_MICROPYTHON32 to a 32-bit MicroPython Unix build")
def test_person_detect_runs_in_the_esp32_heap_with_esp32_sized_objects(monkeypatch):
    # A 32-bit build has the ESP32's object sizes: with 110 KB free at start,
    # the ESP32's figure, the kit's .mpy and the model on ROMFS, it runs
    # (measured: it needs 81 KB). It cannot run inside this process, so the
    # ROMFS image sits in the first block of its heap, outside the 110 KB.
    monkeypatch.setattr(engine_runner, "micropython", lambda: MICROPYTHON32)
    path = TFLM / "person_detect.tflite"
    inputs = random_inputs("person_detect", seed=10)
    got = run_engine(path, inputs, heap="300K", start_free="110K", mode="romcode", in_arena=True, rom_in_heap=True)
    assert_same(got, run_tflm(path, inputs), "person_detect, 32-bit words")


# The virtual ESP32: 110 KB free at start, the model and the kit's .mpy in
# memory-mapped ROMFS (the target; measured: 106 KB needed on this
# 64-bit port, whose objects are twice an ESP32's). Two invokes: the second
# reads the constants kept on flash back again.
def test_person_detect_runs_in_the_esp32_heap():
    path = TFLM / "person_detect.tflite"
    inputs = random_inputs("person_detect", seed=7, samples=2)
    meta = {}
    got = run_engine(path, inputs, heap="300K", start_free="110K", mode="romcode", in_arena=True, meta=meta)
    assert_same(got, run_tflm(path, inputs), "person_detect in 110 KB")
    assert meta["kept"] == "OnFlash"


def test_person_detect_on_a_stock_esp32_build_says_what_it_needs():
    # Stock builds have no ROMFS: the kit's bytecode and the streamed
    # weights' buffers take heap, convolutions cannot write over their input
    # (their weights are not in place), and 110 KB is too little. One clear
    # line: the arena's bytes and what the board has.
    path = TFLM / "person_detect.tflite"
    with pytest.raises(EngineError) as failure:
        run_engine(path, [np.zeros((1, 1, 96, 96, 1), np.int8)], heap="300K", start_free="110K",
                   mode="mpyfile", in_arena=True)
    message = str(failure.value)
    assert re.search(r"needs \d+ bytes", message) and "free" in message, message


@pytest.mark.parametrize("name", sorted(MODELS))
def test_planned_arena_is_no_larger_than_tflite_micro(name):
    path = TFLM / (name + ".tflite")
    meta = {}
    shapes, _ = MODELS[name]
    run_engine(path, [np.zeros((1,) + s, np.int8) for s in shapes], mode="rom", meta=meta)
    tflm = tflm_allocations(path)
    # The activations' plan against TFLM's planned head; everything the engine
    # keeps in its arena (kernel scratch included) against TFLM's whole arena.
    assert meta["tensor_bytes"] <= tflm["head"], (meta, tflm)
    assert meta["arena_bytes"] <= tflm["total"], (meta, tflm)
