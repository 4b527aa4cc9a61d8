"""Run samples through a model on a board's engine, and check it against tflite-micro.

The model is copied to the board for the run and removed after it (a model
already deployed under /models/ with the same SHA-256 is run in place). Samples travel through the raw REPL as base64 in
few `exec` calls: each call carries at most EXEC_CODE_BYTES of code, so the
string the board compiles stays small next to its heap, and a sample bigger
than that is written into the board's input buffer in slices.
"""

import base64
import contextlib
import re
from pathlib import Path

import numpy as np

from jazari.errors import JazariError
from jazari.i18n import _
from jazari.nn import checks
from jazari.nn.inspect import BOARD_PROFILES, arena_bytes, summarize
from jazari.nn.tflite import load_model

REMOTE_DIR = "/models"  # where `jazari deploy` keeps models
RUN_PATH = "/.jazari-run.tflite"  # a run's own copy of its model, removed after the run
SLICE_BYTES = 768  # sample bytes per `_w` call (1 KB of base64: a block a fragmented heap still has)
EXEC_CODE_BYTES = 3072  # code per exec: the board compiles it in its small, fragmented heap
SAMPLES_PER_EXEC = 16  # invokes per exec at most, so a slow model answers well before the timeout
OUTPUT_SLICE = 3072  # output bytes per base64 piece printed by the board (a multiple of 3: they join)
LOAD_TIMEOUT = 120  # seconds to read and prepare a model (streamed from flash on a slow board)
EXEC_TIMEOUT = 60  # seconds for one exec, plus the time its invokes may take on a slow board
SLOWEST_MACS_PER_SECOND = 100_000  # well below any ESP32's, for that allowance
ORACLE_ARENA_MARGIN = 256 * 1024  # bytes beyond our own arena plan for tflite-micro's bookkeeping
_OUTPUT_LINE = re.compile(r"^@(\d+) (\S*)$")

# Defined once on the board: the model, one input buffer per model input,
# `_w` writes a slice of an input, `_r` invokes and prints each output as
# "@<index> <base64>" in slices, so no big string is built on the board.
_SETUP = """
import gc, sys
from binascii import a2b_base64 as _a2b, b2a_base64 as _b2a
import kit
_m = None
gc.collect()
_m = kit.Model({path!r})
_in = [bytearray(t.size) for t in _m.inputs]
def _w(i, at, s):
    d = _a2b(s)
    _in[i][at:at + len(d)] = d
def _r():
    o = _m.invoke(*_in)
    for k, b in enumerate(o if isinstance(o, tuple) else (o,)):
        sys.stdout.write('@%d ' % k)
        v = memoryview(b)
        for at in range(0, len(v), {slice}):
            sys.stdout.write(_b2a(v[at:at + {slice}])[:-1].decode())
        sys.stdout.write('\\n')
gc.collect()
"""

# Prints the SHA-256 of a file on the board, or nothing if it is absent; a
# function, so its buffer is freed when it returns.
_HASH = """
def _sha(path):
    import hashlib, binascii
    try:
        f = open(path, 'rb')
    except OSError:
        return
    h = hashlib.sha256()
    b = bytearray(1024)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(memoryview(b)[:n])
    f.close()
    print(binascii.hexlify(h.digest()).decode())
_sha({path!r})
del _sha
"""


# -- samples on the computer ---------------------------------------------------


def _describe(dtype, shape):
    return f"{dtype} {list(shape)}"


def load_samples(model, model_name, paths):
    """The arrays in `paths`, one per model input, each [samples, *input shape] in its dtype."""
    inputs = model.input_tensors()
    if len(paths) != len(inputs):
        raise JazariError(
            _("{model} has {need} inputs; give one --input file for each (got {got}).").format(
                model=model_name, need=len(inputs), got=len(paths))
        )
    arrays = [_load_npy(path) for path in paths]
    for index, (tensor, array, path) in enumerate(zip(inputs, arrays, paths)):
        if array.dtype != np.dtype(tensor.dtype) or array.ndim == 0 or tuple(array.shape[1:]) != tensor.shape:
            raise JazariError(
                _("Input {index} of {model} needs {need} per sample; {file} holds {got}.").format(
                    index=index, model=model_name, need=_describe(tensor.dtype, tensor.shape),
                    file=Path(path).name, got=_describe(array.dtype, array.shape))
            )
    counts = {len(array) for array in arrays}
    if len(counts) > 1:
        raise JazariError(_("The --input files hold different numbers of samples: {counts}.").format(
            counts=", ".join(str(len(array)) for array in arrays)))
    return arrays


def _load_npy(path):
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise JazariError(_("There is no file {path}.").format(path=path)) from None
    except EOFError:  # np.load on an empty file
        raise JazariError(_("{path} is empty: give a NumPy .npy file of samples (numpy.save).").format(
            path=path)) from None
    except (OSError, ValueError) as failure:
        raise JazariError(_("{path} is not a NumPy .npy file: {reason}").format(path=path, reason=failure)) from None
    if not isinstance(array, np.ndarray):  # an .npz archive holds several arrays
        array.close()
        raise JazariError(_("{path} is not a NumPy .npy file: {reason}").format(path=path, reason="npz"))
    return array


def save_outputs(arrays, paths):
    """Write each output array to its path from `output_paths`."""
    for array, path in zip(arrays, paths):
        try:
            with open(path, "wb") as stream:  # a file object: np.save adds no suffix of its own
                np.save(stream, array)
        except OSError as failure:
            raise JazariError(_("Cannot write {path}: {reason}").format(path=path, reason=failure.strerror)) from None


def output_paths(model, model_name, paths):
    """Where each --output is written, checked before the board runs: one per model output.

    A folder gets <model>-output<k>.npy inside it; a name without .npy gets
    the suffix (as numpy.save would add it), so the message names the file
    actually written.
    """
    outputs = model.output_tensors()
    if len(paths) != len(outputs):
        raise JazariError(
            _("{model} has {need} outputs; give one --output file for each (got {got}).").format(
                model=model_name, need=len(outputs), got=len(paths))
        )
    resolved = []
    for index, given in enumerate(paths):
        path = Path(given)
        if path.is_dir():
            path = path / f"{Path(model_name).stem}-output{index}.npy"
        elif path.suffix != ".npy":
            path = path.with_name(path.name + ".npy")
        if not path.resolve().parent.is_dir():
            raise JazariError(_("Cannot write {path}: {reason}").format(
                path=given, reason=_("its folder does not exist")))
        resolved.append(path)
    if len(set(resolved)) != len(resolved):
        raise JazariError(_("Two --output options name the same file: give one file per output."))
    return resolved


# -- the board -------------------------------------------------------------------


def engine_refused(failure):
    """A board-side engine error (English, from the board) in a translated frame."""
    lines = failure.traceback.splitlines()
    name, _colon, message = (lines[-1] if lines else "").partition(": ")
    if name == "MemoryError":
        return JazariError(
            _("The board ran out of memory for the model ({message}). Reset the board to free its memory, "
              "or use a smaller model.").format(message=message)
        )
    return JazariError(_("The board's engine refused the model: {message}").format(message=message or name))


def place_model(device, data, model_name, sha256):
    """(path of the model on the board, whether this run put it there).

    A model already deployed under /models/ with the same bytes is run where
    it is; any other goes to RUN_PATH, which the run removes again
    (remove_run_copy): runs leave nothing on the board's flash.
    """
    deployed = f"{REMOTE_DIR}/{model_name}"
    if device.exec(_HASH.format(path=deployed)).strip() == sha256:
        return deployed, False
    device.put(data, RUN_PATH)
    return RUN_PATH, True


def remove_run_copy(device):
    device.exec("import os\ntry:\n    os.remove(%r)\nexcept OSError:\n    pass" % RUN_PATH)


_INVOKE = "_r()"


def _statements(arrays):
    """Board statements: the slices of every sample's inputs, then `_r()` for that sample."""
    for sample in range(len(arrays[0]) if arrays else 0):
        for index, array in enumerate(arrays):
            raw = np.ascontiguousarray(array[sample]).tobytes()
            for at in range(0, len(raw), SLICE_BYTES):
                yield f"_w({index},{at},'{base64.b64encode(raw[at:at + SLICE_BYTES]).decode()}')"
        yield _INVOKE


def _batches(statements):
    """Statements grouped into exec calls of at most EXEC_CODE_BYTES and SAMPLES_PER_EXEC invokes."""
    batch, size, invokes = [], 0, 0
    for code in statements:
        if batch and (size + len(code) > EXEC_CODE_BYTES or invokes == SAMPLES_PER_EXEC):
            yield batch, invokes
            batch, size, invokes = [], 0, 0
        batch.append(code)
        size += len(code) + 1
        invokes += code == _INVOKE
    if batch:
        yield batch, invokes


def _parse_outputs(text, outputs):
    """{output index: [raw bytes per sample]} from the lines `_r()` printed."""
    found = [[] for _unused in outputs]
    for line in text.splitlines():
        match = _OUTPUT_LINE.match(line.strip())
        if match:
            found[int(match.group(1))].append(base64.b64decode(match.group(2)))
    return found


def run_on_device(device, model, data, model_name, arrays):
    """Every sample of `arrays` through the model on `device`: one array per output."""
    from jazari.link.device import BoardError

    try:
        return _run_on_device(device, model, data, model_name, arrays)
    except BoardError as failure:
        if failure.exception_name != "MemoryError":
            raise
        raise engine_refused(failure) from None


def _run_on_device(device, model, data, model_name, arrays):
    from jazari.link.device import BoardError

    # From a soft reset: the model gets the heap as after boot (what `model
    # info`'s fit figures assume), not one split by what ran before.
    device.soft_reset()
    info = device.info()
    if not info.get("kit"):
        raise JazariError(
            _("The board on {port} has no Jazari kit, so no engine: flash it with 'jazari flash' first.").format(
                port=device.port)
        )
    free = info.get("free_heap", 0)
    # The smaller of the two plans: whichever way the engine reaches the weights, it needs this much.
    checks.check_memory(model_name, min(arena_bytes(model, True), arena_bytes(model, False)), free)
    remote_path, copied = place_model(device, data, model_name, model.sha256)
    outputs = model.output_tensors()
    raw = [[] for _unused in outputs]
    try:
        device.exec(_SETUP.format(path=remote_path, slice=OUTPUT_SLICE), timeout=LOAD_TIMEOUT)
        seconds_per_invoke = summarize(model, model_name).macs / SLOWEST_MACS_PER_SECOND
        for batch, invokes in _batches(_statements(arrays)):
            printed = device.exec("\n".join(batch), timeout=EXEC_TIMEOUT + invokes * seconds_per_invoke)
            for index, pieces in enumerate(_parse_outputs(printed, outputs)):
                raw[index].extend(pieces)
    except BoardError as failure:
        raise engine_refused(failure) from None
    finally:
        with contextlib.suppress(JazariError):
            device.exec("_m = _in = None\nimport gc\ngc.collect()")
        if copied:
            with contextlib.suppress(JazariError):
                remove_run_copy(device)
    samples = len(arrays[0]) if arrays else 0
    if any(len(pieces) != samples for pieces in raw):
        raise JazariError(
            _("The board answered {got} outputs for {samples} samples. Reset the board and try again.").format(
                got=min(len(pieces) for pieces in raw), samples=samples)
        )
    return [_to_array(pieces, tensor) for pieces, tensor in zip(raw, outputs)]


def _to_array(pieces, tensor):
    dtype = np.dtype(tensor.dtype)
    if not pieces:
        return np.zeros((0, *tensor.shape), dtype=dtype)
    return np.stack([np.frombuffer(piece, dtype=dtype).reshape(tensor.shape) for piece in pieces])


def virtual_profile():
    """The virtual board for runs without --port: the one with the most memory.

    Outputs are the same bytes on every board; which boards a model fits is
    `model info`'s question, so a run never fails for want of memory here.
    """
    return BOARD_PROFILES[-1]


@contextlib.contextmanager
def board(port=None, on_start=None):
    """A connected Device: the board on `port`, or a virtual board started (and stopped) for the run."""
    from jazari.link.device import connect

    if port:
        with connect(port) as device:
            yield device
        return
    from jazari.sim.board import VirtualBoard

    profile = virtual_profile()
    if on_start:
        on_start(profile)
    with VirtualBoard(profile=profile.name) as virtual, connect(virtual.port) as device:
        yield device


def open_model(path):
    """(Model, file bytes, name) of a model the engine can run, checked on the computer."""
    path = Path(path)
    model = load_model(path)
    summarize(model, path.name)  # shapes that do not add up fail here, before any board
    checks.check_model(model, path.name)
    return model, path.read_bytes(), path.name


def run_model(opened, arrays, port=None, on_start=None):
    """Outputs of every sample of `arrays` through an `open_model` result, on a board."""
    model, data, name = opened
    with board(port, on_start) as device:
        return run_on_device(device, model, data, name, arrays)


# -- verification against tflite-micro ---------------------------------------------


def random_inputs(model, samples, seed):
    """`samples` random inputs per model input, over each input type's whole range."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.input_tensors():
        shape = (samples, *tensor.shape)
        dtype = np.dtype(tensor.dtype)
        if dtype.kind == "f":
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype))
    return arrays


def oracle_outputs(data, model, arrays):
    """The same samples through tflite-micro's reference kernels (the oracle, in a child process)."""
    from jazari.nn import oracle

    # tflite-micro's default arena (10 x the file) is too small for models
    # with few weights and big activations (simple_add: 976 bytes, 48 KB).
    arena = 10 * len(data) + 4 * arena_bytes(model) + ORACLE_ARENA_MARGIN
    found = oracle.outputs(data, arena, arrays, len(model.outputs))
    return [array.reshape((len(array), *tensor.shape)) for array, tensor in zip(found, model.output_tensors())]


def largest_differences(got, expected):
    """The largest absolute difference per output (0 when equal; inf when shapes differ)."""
    differences = []
    for ours, theirs in zip(got, expected):
        if ours.shape != theirs.shape:
            differences.append(float("inf"))
        elif ours.size == 0:
            differences.append(0)
        else:
            wide = np.float64 if ours.dtype.kind == "f" else np.int64
            differences.append(np.abs(ours.astype(wide) - theirs.astype(wide)).max().item())
    return differences


def verify_model(path, samples, seed, port=None, on_start=None):
    """(inputs, board outputs, oracle outputs, largest difference per output)."""
    opened = open_model(path)
    model, data, _name = opened
    arrays = random_inputs(model, samples, seed)
    expected = oracle_outputs(data, model, arrays)
    got = run_model(opened, arrays, port, on_start)
    return arrays, got, expected, largest_differences(got, expected)
