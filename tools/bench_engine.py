"""Benchmark kit.nn against tflite-micro on the conformance models.

    python tools/bench_engine.py [--runs 20] [--mode buffer|rom|file] [MODEL ...]

For each model (by default the first-release conformance models beside the
project, ../shared/conformance/tflm): the engine's invoke time under the real
MicroPython Unix port (timed in-process with time.ticks_us after a warm-up
invoke), tflite-micro's invoke time in this process, measured in the same run
and interleaved with the engine's so that both see the same machine load, their
ratio, MMAC/s, the engine's planned activations ("tensors") beside
tflite-micro's planned head (activations and scratch, from print_allocations)
and the engine's whole arena (activations and kernel scratch) beside
tflite-micro's total (head and persistent tail), the heap the engine allocates
during one invoke (with the garbage collector off, so nothing hides it), and
the heap the loaded model holds (code, op data, and the model itself when it
is in RAM).

Times are the best of `--runs` invokes (median in brackets). Nothing here is
asserted; tests never assert a time.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "nn"))
from engine_runner import FIRMWARE, _ROM_LAUNCHER, _romfs_image, _tflm, micropython, tflm_allocations  # noqa: E402

from jazari.nn.inspect import op_cost  # noqa: E402
from jazari.nn.tflite import load_model  # noqa: E402

FIRST_RELEASE = ("hello_world_int8", "simple_add_model", "micro_speech_quantized", "person_detect")
CONFORMANCE = REPO.parent / "shared" / "conformance" / "tflm"

# Runs inside MicroPython: argv = model path, inputs file, invokes, mode.
_DRIVER = r"""
import sys, gc, time, json
sys.path.insert(0, %(firmware)r)
path, fin, runs, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "rom":
    import os, uctypes, vfs
    image = uctypes.bytearray_at(int(os.getenv("JAZARI_ROM_ADDR")), int(os.getenv("JAZARI_ROM_SIZE")))
    vfs.mount(vfs.VfsRom(image), "/rom")
    path = "/rom/" + path.split("/")[-1]
from kit.nn.model import Model
gc.collect()
before = gc.mem_alloc()
if mode == "buffer":
    with open(path, "rb") as f:
        data = f.read()
    m = Model(data)
else:
    m = Model(path)
gc.collect()
model_heap = gc.mem_alloc() - before
bufs = [bytearray(t.size) for t in m.inputs]
with open(fin, "rb") as f:
    for b in bufs:
        f.readinto(b)
m.invoke(*bufs)  # warm-up: first-call costs stay out of the figures
times = []
for r in range(runs):
    t = time.ticks_us()
    m.invoke(*bufs)
    times.append(time.ticks_diff(time.ticks_us(), t))
gc.collect()
gc.disable()
start = gc.mem_alloc()
m.invoke(*bufs)
invoke_heap = gc.mem_alloc() - start
gc.enable()
print("BENCH", json.dumps({"times": times, "arena": m.arena_bytes, "model_heap": model_heap,
                           "tensors": getattr(m._interp, "tensor_bytes", -1), "invoke_heap": invoke_heap}))
"""


def model_macs(path):
    model = load_model(path)
    return sum(op_cost(model, op)[0] for op in model.operators)


def random_inputs(path, interp, rng):
    inputs = []
    for k in range(len(load_model(path).input_tensors())):
        detail = interp.get_input_details(k)
        inputs.append(rng.integers(-128, 128, size=detail["shape"]).astype(detail["dtype"]))
    return inputs


def time_tflm(interp, runs):
    interp.invoke()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - start) * 1e6)
    return times


def time_engine(path, inputs, runs, mode):
    with tempfile.TemporaryDirectory(prefix="jazari-bench-") as tmp:
        fin, driver = Path(tmp, "in.bin"), Path(tmp, "driver.py")
        fin.write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
        driver.write_text(_DRIVER % {"firmware": str(FIRMWARE)})
        cmd = [micropython(), "-X", "heapsize=16M", str(driver), str(Path(path).resolve()), str(fin), str(runs), mode]
        if mode == "rom":
            cmd = [sys.executable, "-c", _ROM_LAUNCHER, str(_romfs_image(path, tmp))] + cmd
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    found = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode or not found:
        raise RuntimeError("engine failed on %s: %s" % (path, (proc.stdout + proc.stderr)[-1500:]))
    return json.loads(found[-1][len("BENCH "):])


def bench(path, runs, mode, rounds=3):
    interp = _tflm(path)
    inputs = random_inputs(path, interp, np.random.default_rng(0))
    for k, x in enumerate(inputs):
        interp.set_input(x, k)
    tflm_times, engine_times, engine = [], [], None
    for _ in range(rounds):  # interleaved, so that both meet the same machine load
        tflm_times += time_tflm(interp, runs)
        engine = time_engine(path, inputs, runs, mode)
        engine_times += engine["times"]
    alloc = tflm_allocations(path)
    return {"name": Path(path).stem, "macs": model_macs(path), "tflm": tflm_times, "engine": engine_times,
            "arena": engine["arena"], "tensors": engine["tensors"], "tflm_head": alloc["head"], "tflm_total": alloc["total"],
            "invoke_heap": engine["invoke_heap"], "model_heap": engine["model_heap"]}


def _us(times):
    return "%.0f (%.0f)" % (min(times), statistics.median(times))


def _mmacs(macs, times):
    return "%.0f" % (macs / min(times)) if macs else "-"


def print_table(rows, mode):
    head = ("model", "engine us", "tflm us", "ratio", "engine MMAC/s", "tflm MMAC/s",
            "tensors B", "tflm head B", "arena B", "tflm total B", "invoke heap B", "model heap B")
    lines = [head]
    for r in rows:
        lines.append((r["name"], _us(r["engine"]), _us(r["tflm"]), "%.2f" % (min(r["engine"]) / min(r["tflm"])),
                      _mmacs(r["macs"], r["engine"]), _mmacs(r["macs"], r["tflm"]), str(r["tensors"]),
                      str(r["tflm_head"]), str(r["arena"]), str(r["tflm_total"]), str(r["invoke_heap"]), str(r["model_heap"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    print("kit.nn under MicroPython (model %s) vs tflite-micro; times: best (median) of every run" % (
        "in RAM" if mode == "buffer" else "on ROMFS" if mode == "rom" else "read from a file"))
    for n, line in enumerate(lines):
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="model files or conformance model names (default: the first-release ones)")
    parser.add_argument("--runs", type=int, default=20, help="timed invokes per round (default 20)")
    parser.add_argument("--mode", choices=("buffer", "rom", "file"), default="buffer",
                        help="how the engine holds the model: in RAM, on ROMFS, or as a file (default buffer)")
    args = parser.parse_args(argv)
    # A bare name means a conformance model: `bench_engine.py person_detect`.
    paths = [Path(m) if Path(m).suffix else CONFORMANCE / (m + ".tflite") for m in args.models or FIRST_RELEASE]
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        parser.error("model not found: %s" % ", ".join(missing))
    print_table([bench(p, args.runs, args.mode) for p in paths], args.mode)


if __name__ == "__main__":
    main()
