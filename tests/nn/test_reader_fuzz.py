"""Truncated, bit-flipped and hostile .tflite files: the engine, under the
real MicroPython, must load each one (from memory and streamed from the file)
and run it once on zeros, or raise one ValueError with a message, never
crash, hang or raise anything else.

Variants are drawn on the host with hypothesis and checked in batches, many
files per MicroPython process. A file that breaks the rule is saved in a
temporary folder named in the failure message, with a hex excerpt of its
bytes; copy it into fuzz_findings/ once fixed, where test_findings_replay
replays it on every run.
"""

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_runner import FIRMWARE, micropython

HERE = Path(__file__).resolve().parent
FINDINGS = HERE / "fuzz_findings"
REPO = HERE.parents[1]
TFLM = REPO.parent / "shared" / "conformance" / "tflm"
SEEDS = [p for p in [TFLM / "hello_world_int8.tflite", TFLM / "simple_add_model.tflite",
                     TFLM / "micro_speech_quantized.tflite"] if p.exists()] + sorted((HERE / "corpus").glob("*.tflite"))

# Loads every file named on stdin; one line of outcome per file.
_CHECK = r"""
import sys
sys.path.insert(0, %r)
from kit.nn.model import Model
from kit.nn.interpreter import Interpreter
from kit.nn.flatbuffer import FileSource
from kit.nn.weights import Streamed
for line in sys.stdin:
    name = line.strip()
    print("START", name)
    try:
        with open(name, "rb") as f:
            m = Model(f.read())
        m.invoke(*[bytes(t.size) for t in m.inputs])
        # The same file streamed, as from LittleFS on a board without ROMFS.
        with open(name, "rb") as f:
            it = Interpreter(FileSource(f, f.seek(0, 2)), Streamed(f))
            it.invoke([bytes(t.size) for t in it.info.inputs])
        print("OK", name)
    except ValueError as e:
        print("VALUEERROR", name, str(e).replace("\n", " ") or "<empty>")
    except Exception as e:
        print("OTHER", name, type(e).__name__, e)
print("DONE")
"""


def check_files(paths, timeout=120):
    """{path: outcome line}; a crash or hang is reported for the file it hit."""
    script = _CHECK % str(FIRMWARE)
    try:
        proc = subprocess.run([micropython(), "-X", "heapsize=4M", "-c", script], input="\n".join(map(str, paths)) + "\n",
                              capture_output=True, text=True, timeout=timeout)
        out, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    results = {}
    current = None
    for line in out.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "START":
            current = rest
        elif kind in ("OK", "VALUEERROR", "OTHER"):
            results[rest.split(" ")[0]] = line
            current = None
    if current is not None or "DONE" not in out:
        results[current or "?"] = "CRASH exit %s: %s" % (code, (proc.stderr[-500:] if code != "timeout" else "hang"))
    return results


def bad_outcomes(results):
    return {p: r for p, r in results.items()
            if not (r.startswith("OK ") or (r.startswith("VALUEERROR ") and not r.endswith("<empty>")))}


def save_finding(data, folder):
    path = folder / ("finding-%s.tflite" % hashlib.sha1(data).hexdigest()[:12])
    path.write_bytes(data)
    return path


def describe_findings(bad, folder):
    """The failure message: each file kept in `folder`, its outcome and its first bytes in hex."""
    folder.mkdir(exist_ok=True)
    lines = ["engine broke the rule on %d files, kept in %s:" % (len(bad), folder)]
    for path, outcome in list(bad.items())[:5]:
        data = Path(path).read_bytes() if Path(path).exists() else b""
        kept = save_finding(data, folder)
        lines.append("%s (%d bytes, starts %s): %s" % (kept.name, len(data), data[:48].hex(), outcome))
    return "\n".join(lines)


# A mutation: (kind, position fraction, value).
mutations = st.tuples(st.sampled_from(["truncate", "flip", "word", "zero"]),
                      st.floats(0, 1, allow_nan=False), st.integers(0, 2**32 - 1))
HOSTILE_WORDS = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFC, 0x10000, 4, 8]


def mutate(data, kind, where, value):
    if not data:
        return data
    data = bytearray(data)
    at = int(where * (len(data) - 1))
    if kind == "truncate":
        return bytes(data[:at])
    if kind == "flip":
        data[at] ^= 1 << (value % 8)
    elif kind == "word":
        at &= ~3
        word = HOSTILE_WORDS[value % len(HOSTILE_WORDS)] if value % 3 else value
        data[at:at + 4] = struct.pack("<I", word)[:len(data) - at]
    else:
        data[at:at + 16] = bytes(len(data[at:at + 16]))
    return bytes(data)


def run_batch(tmp_path, variants):
    paths = []
    for i, data in enumerate(variants):
        p = tmp_path / ("v%04d.tflite" % i)
        p.write_bytes(data)
        paths.append(p)
    bad = bad_outcomes(check_files(paths))
    assert not bad, describe_findings(bad, tmp_path / "findings")


@pytest.mark.skipif(not SEEDS, reason="no seed models (conformance folder and corpus absent)")
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 100), st.lists(mutations, min_size=1, max_size=4)), min_size=150, max_size=150))
def test_mutated_models_load_or_raise_value_error(tmp_path_factory, batch):
    variants = []
    for seed, muts in batch:
        data = SEEDS[seed % len(SEEDS)].read_bytes()
        for m in muts:
            data = mutate(data, *m)
        variants.append(data)
    run_batch(tmp_path_factory.mktemp("fuzz"), variants)


def hostile_files():
    """Hand-made hostile flatbuffers: the reader's edge cases."""
    ident = b"TFL3"
    yield b""
    yield b"\x00" * 7
    yield struct.pack("<I", 8) + ident  # root points at the end of the file
    yield struct.pack("<I", 0xFFFFFFF0) + ident + bytes(8)  # root far outside
    # root table whose vtable offset points before the file
    yield struct.pack("<I", 8) + ident + struct.pack("<i", 0x7FFFFFFF) + bytes(8)
    # vtable claiming a huge size
    yield struct.pack("<I", 12) + ident + struct.pack("<HH", 0xFFFE, 8) + struct.pack("<i", 4) + bytes(8)
    # table that is its own vtable (a cycle), odd vtable sizes
    yield struct.pack("<I", 8) + ident + struct.pack("<i", 0) + bytes(12)
    yield struct.pack("<I", 12) + ident + struct.pack("<HH", 5, 4) + struct.pack("<i", 4) + bytes(8)
    # subgraphs vector with a huge length
    body = struct.pack("<HHHHHH", 12, 16, 0, 0, 12, 0)  # vtable: fields 0..3, subgraphs at +12
    table = struct.pack("<i", 12) + bytes(8) + struct.pack("<I", 4) + struct.pack("<I", 0x3FFFFFFF)
    yield struct.pack("<I", 8 + len(body)) + ident + body + table
    # a real model whose every uoffset is made to point back at itself
    if SEEDS:
        data = bytearray(SEEDS[0].read_bytes())
        for at in range(8, min(len(data), 400), 4):
            if struct.unpack_from("<I", data, at)[0] < len(data) - at:
                data[at:at + 4] = b"\x00\x00\x00\x00"
        yield bytes(data)


def test_hostile_flatbuffers_raise_value_error(tmp_path):
    run_batch(tmp_path, list(hostile_files()))


# Prints "start count" of every tensor's shape vector (MicroPython, our reader).
# Field slots from schema.fbs: Model.subgraphs 2, SubGraph.tensors 0, Tensor.shape 0.
_SHAPES = r"""
import sys
sys.path.insert(0, %r)
from kit.nn.flatbuffer import MemorySource, root
src = MemorySource(open(sys.argv[1], "rb").read())
g = next(root(src).tables(2, 1))
for t in g.tables(0, 4096):
    v = t.vector(0, 4, 8)
    if v:
        print(v[0], v[1])
"""


def shape_positions(path):
    proc = subprocess.run([micropython(), "-c", _SHAPES % str(FIRMWARE), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [tuple(map(int, line.split())) for line in proc.stdout.split("\n") if line.strip()]


@pytest.mark.skipif(not SEEDS, reason="no seed models (conformance folder and corpus absent)")
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 10**6), st.sampled_from([0, 1, 2, 3, 7, 64, 300, -1, 2**31 - 1])),
                min_size=120, max_size=120))
def test_hostile_shapes_raise_value_error(tmp_path_factory, batch):
    # The file's structure stays valid, only tensor shapes lie: every op must
    # check in prepare that its loops fit its tensors (a viper kernel that
    # runs past a buffer cannot be caught).
    seeds = [(p, shape_positions(p)) for p in SEEDS[:12]]
    variants = []
    for seed, which, value in batch:
        path, shapes = seeds[seed % len(seeds)]
        data = bytearray(path.read_bytes())
        start, n = shapes[which % len(shapes)]
        if n:
            at = start + 4 * (which % n)
            data[at:at + 4] = struct.pack("<i", value)
        variants.append(bytes(data))
    run_batch(tmp_path_factory.mktemp("shapes"), variants)


def test_findings_replay():
    files = sorted(FINDINGS.glob("*.tflite"))
    if not files:
        pytest.skip("no fuzz findings saved")
    bad = bad_outcomes(check_files(files))
    assert not bad, bad
