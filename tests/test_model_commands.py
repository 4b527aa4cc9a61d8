"""`jazari model info|run|verify` on the conformance models (../shared/conformance/tflm)
and the engine's own corpus (tests/nn/corpus); tests that need a conformance
model skip, with a reason, where ../shared is absent (a fresh clone).

Numbers `model info` prints are checked against counts made independently:
published figures, layer shapes worked out by hand, and tflite-micro's own
(generated) schema reader. The arena is checked against the engine's planner
under the real MicroPython; runs go through a virtual board and are compared
with tflite-micro.
"""

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jazari import connect
from jazari.cli import main
from jazari.errors import JazariError
from jazari.i18n import catalog
from jazari.nn import run as model_run
from jazari.nn import checks
from jazari.nn.inspect import summarize
from jazari.nn.tflite import BUILTIN_NAMES, load_model

sys.path.insert(0, str(Path(__file__).parent / "nn"))
import engine_runner  # noqa: E402  (tests/nn: the engine under the real MicroPython)

REPO = Path(__file__).resolve().parents[1]
TFLM = REPO.parent / "shared" / "conformance" / "tflm"
CORPUS = REPO / "tests" / "nn" / "corpus"
FIRMWARE = REPO / "firmware"
# The Unix port beside this Python (the project venv), else on PATH.
MICROPYTHON = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
FIRST_RELEASE = ("hello_world_int8", "simple_add_model", "micro_speech_quantized", "person_detect")


NO_TFLM = "needs the conformance models in ../shared/conformance/tflm beside the repository"


def model_path(name):
    """A conformance model; a test that reaches for one where they are absent is skipped with NO_TFLM."""
    path = TFLM / f"{name}.tflite"
    if not path.exists() and os.environ.get("PYTEST_CURRENT_TEST"):  # in a test, not while collecting
        absent()
    return path


def absent():
    # A fresh clone has no ../shared (CI runs one so too): a skip, with what it needs.
    pytest.skip(NO_TFLM)


@pytest.fixture(autouse=True)
def _conformance_models(request):
    """Skip (with NO_TFLM) a test whose parameters name an absent conformance model."""
    spec = getattr(request.node, "callspec", None)
    if spec and any(isinstance(value, Path) and TFLM in value.parents and not value.exists()
                    for value in spec.params.values()):
        absent()


def jazari(capsys, *args, lang="en"):
    """(exit code, stdout, stderr) of the `jazari` command run in this process."""
    code = main(["--lang", lang, *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def reference_model(path):
    """The model as tflite-micro's generated FlatBuffers code reads it (a reader independent of ours)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(path.read_bytes(), 0))


def reference_parameters(path):
    model = reference_model(path)
    return sum(
        math.prod(tensor.shape)
        for tensor in model.subgraphs[0].tensors
        if tensor.buffer and model.buffers[tensor.buffer].data is not None and len(model.buffers[tensor.buffer].data)
    )


def tflite_micro_outputs(path, inputs):
    """Outputs of every sample through tflite-micro, written here apart from jazari.nn.run."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    outputs = []
    for sample in inputs:
        interpreter.set_input(sample, 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0).copy())
    return np.stack(outputs)


# -- the reader --------------------------------------------------------------------


def test_op_names_match_the_tflite_schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    codes = {name: code for name, code in vars(fb.BuiltinOperator).items() if not name.startswith("_")}
    assert len(BUILTIN_NAMES) > 150
    for code, name in enumerate(BUILTIN_NAMES):
        assert codes[name] == code


@pytest.mark.parametrize("path", [model_path(name) for name in FIRST_RELEASE + ("trained_lstm_int8", "keyword_scrambled_8bit")]
                         + sorted(CORPUS.glob("*.tflite")), ids=lambda path: path.stem)
def test_reader_agrees_with_tflite_micro_schema(path):
    ours, theirs = load_model(path), reference_model(path)
    graph = theirs.subgraphs[0]
    assert ours.inputs == list(graph.inputs) and ours.outputs == list(graph.outputs)
    assert [tuple(t.shape) for t in ours.tensors] == [tuple(t.shape) for t in graph.tensors]
    for tensor, reference in zip(ours.tensors, graph.tensors):
        quantization = reference.quantization
        if quantization is not None and quantization.scale is not None and len(quantization.scale):
            assert np.allclose(tensor.scales, quantization.scale)
            assert list(tensor.zero_points) == list(quantization.zeroPoint)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in theirs.operatorCodes]
    assert [op.code for op in ours.operators] == [codes[op.opcodeIndex] for op in graph.operators]
    assert [op.inputs for op in ours.operators] == [list(op.inputs) for op in graph.operators]


def test_not_a_model_is_one_clear_line(capsys, tmp_path):
    fake = tmp_path / "notes.tflite"
    fake.write_bytes(b"these are not flatbuffers" * 4)
    code, out, err = jazari(capsys, "model", "info", fake)
    assert code == 1 and err.count("\n") == 1
    assert "notes.tflite is not a valid .tflite model" in err and "Traceback" not in out + err


def test_truncated_model_is_one_clear_line(capsys, tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((CORPUS / "mobilenet_tiny.tflite").read_bytes()[:3000])
    code, _out, err = jazari(capsys, "model", "info", cut)
    assert code == 1 and err.count("\n") == 1 and "cut.tflite is not a valid .tflite model" in err


def test_corrupted_models_never_crash_the_command(capsys, tmp_path):
    """Random byte changes and cuts: `model info` shows the model or prints one line, never a traceback."""
    original = (CORPUS / "mobilenet_tiny.tflite").read_bytes()
    rng = np.random.default_rng(11)
    damaged = tmp_path / "damaged.tflite"
    for _trial in range(150):
        data = bytearray(original)
        for at in rng.integers(0, 2000, size=rng.integers(1, 8)):
            data[at] = rng.integers(0, 256)
        if rng.random() < 0.2:
            data = data[: rng.integers(0, len(data))]
        damaged.write_bytes(bytes(data))
        code, _out, err = jazari(capsys, "model", "info", damaged)
        assert code == 0 or (code == 1 and err.count("\n") == 1 and "damaged.tflite" in err), err


# -- model info --------------------------------------------------------------------


def test_info_person_detect_macs_match_the_published_figure(capsys):
    summary = summarize(load_model(model_path("person_detect")), "person_detect.tflite")
    # The conformance README (and TFLM's person detection docs): 7.2 M MACs.
    assert round(summary.macs / 1e6, 1) == 7.2
    assert summary.parameters == reference_parameters(model_path("person_detect"))
    code, out, _err = jazari(capsys, "model", "info", model_path("person_detect"))
    assert code == 0
    assert f"MACs: {summary.macs:,}" in out and f"parameters: {summary.parameters:,}" in out
    assert re.search(r"CONV_2D\s+│ 14 ", out) and re.search(r"DEPTHWISE_CONV_2D\s+│ 14 ", out)
    assert "[1, 96, 96, 1]" in out and "-128" in out


def test_info_hello_world_counts_by_hand(capsys):
    # Three dense layers 1 -> 16 -> 16 -> 1: weights and biases.
    macs = 1 * 16 + 16 * 16 + 16 * 1
    parameters = (1 * 16 + 16) + (16 * 16 + 16) + (16 * 1 + 1)
    # The same from the file's weight shapes, read with tflite-micro's schema code.
    reference = reference_model(model_path("hello_world_int8"))
    graph = reference.subgraphs[0]
    weights = [graph.tensors[op.inputs[1]].shape for op in graph.operators]
    assert sum(units * depth for units, depth in weights) == macs
    assert reference_parameters(model_path("hello_world_int8")) == parameters
    code, out, _err = jazari(capsys, "model", "info", model_path("hello_world_int8"))
    assert code == 0
    assert f"parameters: {parameters}   MACs: {macs}" in out
    assert re.search(r"FULLY_CONNECTED\s+│ 3 ", out)


def test_info_micro_speech_counts_by_hand(capsys):
    # tiny_conv: 8 depthwise 10x8 filters, stride 2, SAME, on a 49x40 spectrogram
    # -> 25x20x8 outputs; then a dense layer 4000 -> 4.
    depthwise = 25 * 20 * 8 * (10 * 8)
    dense = 25 * 20 * 8 * 4
    # Weights and biases of both layers, plus RESHAPE's target shape [1, 49, 40, 1].
    parameters = (10 * 8 * 8 + 8) + (4000 * 4 + 4) + 4
    assert reference_parameters(model_path("micro_speech_quantized")) == parameters
    code, out, _err = jazari(capsys, "model", "info", model_path("micro_speech_quantized"))
    assert code == 0
    assert f"parameters: {parameters:,}   MACs: {depthwise + dense:,}" in out


def test_info_simple_add_has_no_macs_and_three_live_tensors(capsys):
    code, out, _err = jazari(capsys, "model", "info", model_path("simple_add_model"))
    assert code == 0
    # Two inputs and the output, all alive during the one ADD: 3 x 128 x 128 bytes.
    assert "parameters: 0   MACs: 0   planned arena: 49,152 bytes" in out


def test_info_layers_lists_every_operator(capsys):
    code, out, _err = jazari(capsys, "model", "info", "--layers", model_path("micro_speech_quantized"))
    assert code == 0
    assert "int8 [1, 25, 20, 8]" in out and "320,000" in out and "16,000" in out


def test_info_shows_fit_and_estimated_latency_per_board(capsys):
    code, out, _err = jazari(capsys, "model", "info", model_path("person_detect"))
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("│ ESP32")]
    assert len(rows) == 3
    assert all("streamed from flash" in row for row in rows)  # 294 KB: never read whole into RAM
    assert "latency (estimated)" in out
    small = jazari(capsys, "model", "info", model_path("hello_world_int8"))[1]
    rows = [line for line in small.splitlines() if line.startswith("│ ESP32")]
    assert all("in RAM" in row for row in rows)  # 2.7 KB: read whole
    assert "yes" in rows[-1]  # 8 MB of PSRAM


def test_fit_per_board_follows_its_figures():
    for name in FIRST_RELEASE:
        summary = summarize(load_model(model_path(name)), name)
        for fit in summary.fits:
            assert fit.fits_ram == (fit.ram_needed <= fit.profile.free_heap)
            assert fit.fits_flash == (summary.model.size <= fit.profile.file_space)
            assert fit.ram_needed > fit.ram_kept > fit.arena
        # More memory never makes a model fit worse; a faster board is never estimated slower.
        esp32, esp32s3, _psram = summary.fits
        assert esp32s3.fits_ram >= esp32.fits_ram
        assert esp32s3.latency_ms <= esp32.latency_ms


def test_info_in_french(capsys):
    code, out, _err = jazari(capsys, "model", "info", model_path("hello_world_int8"), lang="fr")
    assert code == 0
    assert catalog("fr")["latency (estimated)"] in out


def test_info_warns_about_a_model_the_engine_cannot_run(capsys):
    code, _out, err = jazari(capsys, "model", "info", model_path("trained_lstm_int8"))
    assert code == 0
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM at operator 0" in err


# -- the arena: host plan == engine plan --------------------------------------------


ENGINE_HEAP = 8 * 1024 * 1024  # as the virtual ESP32-S3 + PSRAM


def compiled_kit():
    """The firmware tree with the kit compiled to .mpy for this MicroPython, as boards get it."""
    from jazari.flash.compiled import compiled_firmware
    from jazari.sim.board import NATIVE_MARCH

    return compiled_firmware(FIRMWARE, NATIVE_MARCH) if NATIVE_MARCH else FIRMWARE


def engine_figures(path, heap=ENGINE_HEAP):
    """Under the real MicroPython with `heap` bytes: heap that `kit.Model(path)` keeps (engine code
    included), and the engine's arena_bytes with weights in place and streamed."""
    code = f"""
import sys
sys.path.insert(0, {str(compiled_kit())!r})
import gc
gc.collect()
free = gc.mem_free()
import kit
m = kit.Model({str(path)!r})
gc.collect()
print(free - gc.mem_free())
m = None
from kit.nn.interpreter import Interpreter
from kit.nn.flatbuffer import FileSource
from kit.nn.weights import Streamed
with open({str(path)!r}, 'rb') as f:
    print(kit.Model(f.read()).arena_bytes)
f = open({str(path)!r}, 'rb')
print(Interpreter(FileSource(f, f.seek(0, 2)), Streamed(f)).arena_bytes)
"""
    done = subprocess.run(
        [MICROPYTHON, "-X", f"heapsize={heap}", "-c", code], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    used, in_place, streamed = map(int, done.stdout.split()[-3:])
    return used, in_place, streamed


def test_model_info_counts_as_loading_code_what_the_engine_lets_go():
    # The modules kit.Model imports to load, and drops once the model is ready,
    # seen in sys.modules under the real MicroPython (the first pass's own,
    # survey and planner, go before the second: imported here beforehand).
    code = f"""
import sys
sys.path.insert(0, {str(compiled_kit())!r})
import kit, kit.nn.interpreter, kit.nn.survey
before = set(sys.modules)
m = kit.Model({str(model_path("hello_world_int8"))!r})
print(" ".join(sorted(n.split(".")[-1] for n in before if n.startswith("kit.nn.") and n not in sys.modules)))
"""
    done = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(checks.loader_modules()) == done.stdout.split()


def corpus_models():
    return sorted(CORPUS.glob("*.tflite")) if CORPUS.is_dir() else []


@pytest.mark.parametrize(
    "path", [model_path(name) for name in FIRST_RELEASE] + corpus_models(), ids=lambda path: path.stem
)
def test_host_arena_and_memory_estimate_match_the_engine(path):
    summary = summarize(load_model(path), path.name)
    used, in_place, streamed = engine_figures(path)
    assert (summary.arena, summary.arena_streamed) == (in_place, streamed)
    # What `model info` says the model keeps, for the board with the same heap:
    # never below what the engine kept, and not so far above that it turns good boards away.
    psram = summary.fits[-1]
    assert psram.profile.free_heap == ENGINE_HEAP
    assert used <= psram.ram_kept <= 1.6 * used


@pytest.mark.parametrize("path", [model_path(name) for name in FIRST_RELEASE[:3]] + corpus_models(),
                         ids=lambda path: path.stem)
def test_model_loads_in_the_free_heap_model_info_asks_for(path):
    """The RAM `model info` says loading needs is enough: a heap that size, and no more, loads the model."""
    summary = summarize(load_model(path), path.name)
    psram = summary.fits[-1]
    # The Unix port keeps a few KB of its heap before the first line runs; give it those too.
    startup = ENGINE_HEAP - int(subprocess.run(
        [MICROPYTHON, "-X", f"heapsize={ENGINE_HEAP}", "-c", "import gc; gc.collect(); print(gc.mem_free())"],
        capture_output=True, text=True, timeout=30).stdout)
    code = "import sys\nsys.path.insert(0, %r)\nimport kit\nkit.Model(%r)\n" % (str(compiled_kit()), str(path))
    done = subprocess.run([MICROPYTHON, "-X", f"heapsize={psram.ram_needed + startup}", "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [model_path(name) for name in FIRST_RELEASE] + [
    path for path in corpus_models() if path.stem in ("mobilenet_tiny", "elementwise", "squeeze_excite")
], ids=lambda path: path.stem)
def test_model_runs_in_the_free_heap_model_info_asks_for_with_romfs(path):
    """The "RAM with ROMFS" figure is enough: a program that starts with that much heap free, the kit's .mpy
    and the model on ROMFS, loads and runs the model bit-exact (person_detect: the figure fits the ESP32's)."""
    summary = summarize(load_model(path), path.name)
    need = summary.fits[0].ram_needed_romfs
    assert all(fit.ram_needed_romfs == need for fit in summary.fits)
    model = load_model(path)
    rng = np.random.default_rng(5)
    inputs = [rng.integers(-128, 128, size=(1,) + tuple(t.shape)).astype(t.dtype) if t.dtype != "float32"
              else rng.standard_normal((1,) + tuple(t.shape)).astype(np.float32) for t in model.input_tensors()]
    got = engine_runner.run_engine(path, inputs, heap="600K", start_free=str(need), mode="romcode", in_arena=True)
    want = engine_runner.run_tflm(path, inputs)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    if path.stem == "person_detect":
        assert summary.fits[0].profile.free_heap >= need


# -- bad input, refused on the computer before any board ------------------------------

NO_BOARD = "/dev/no-such-board"  # the checks must fail before this port is opened


def one_line(err):
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_wrong_input_shape_and_dtype(capsys, tmp_path, lang):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((10, 96, 96), dtype=np.uint8))
    code, _out, err = jazari(
        capsys, "model", "run", model_path("person_detect"), "--input", samples, "--output", tmp_path / "Y.npy",
        "--port", NO_BOARD, lang=lang,
    )
    assert code == 1
    message = one_line(err)
    if lang == "en":
        assert message == ("Input 0 of person_detect.tflite needs int8 [1, 96, 96, 1] per sample; "
                           "X.npy holds uint8 [10, 96, 96].")
    else:
        assert message.startswith("L'entrée 0 de person_detect.tflite")
        assert "int8 [1, 96, 96, 1]" in message and "uint8 [10, 96, 96]" in message
    assert not (tmp_path / "Y.npy").exists()


def test_missing_input_file(capsys, tmp_path):
    code, _out, err = jazari(
        capsys, "model", "run", CORPUS / "fully_connected.tflite", "--input", tmp_path / "none.npy",
        "--output", tmp_path / "Y.npy", "--port", NO_BOARD,
    )
    assert code == 1 and one_line(err) == f"There is no file {tmp_path / 'none.npy'}."


def test_missing_model_file(capsys, tmp_path):
    code, _out, err = jazari(capsys, "model", "info", tmp_path / "gone.tflite")
    assert code == 1 and one_line(err) == f"There is no model file {tmp_path / 'gone.tflite'}."


def registry_op_names():
    """The ops the engine registers, read here with a regex (the code under test uses ast)."""
    text = (FIRMWARE / "kit" / "nn" / "ops" / "__init__.py").read_text()
    block = text[text.index("OPS = {"):text.index("}", text.index("OPS = {"))]
    return re.findall(r"S\.(\w+):", block)


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("command", ["run", "verify"])
def test_unsupported_op_is_named_with_its_index_and_the_supported_list(capsys, tmp_path, lang, command):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((2, 1, 28, 28), dtype=np.int8))
    extra = ["--input", samples, "--output", tmp_path / "Y.npy"] if command == "run" else []
    code, _out, err = jazari(
        capsys, "model", command, model_path("trained_lstm_int8"), *extra, "--port", NO_BOARD, lang=lang,
    )
    assert code == 1
    message = one_line(err)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in message and " 0" in message
    supported = registry_op_names()
    assert len(supported) > 20 and all(name in message for name in supported)
    if lang == "fr":
        assert "ne sait pas exécuter" in message


def test_int16_model_says_how_to_convert(capsys):
    code, _out, err = jazari(capsys, "model", "verify", model_path("keyword_scrambled_8bit"), "--port", NO_BOARD)
    assert code == 1
    message = one_line(err)
    assert "int16" in message and "TFLITE_BUILTINS_INT8" in message and "docs/models.md" in message


def test_float_model_says_how_to_convert(capsys, tmp_path):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((1, 1, 8, 8, 1), dtype=np.float32))
    code, _out, err = jazari(
        capsys, "model", "run", CORPUS / "bad" / "float_model.tflite", "--input", samples,
        "--output", tmp_path / "Y.npy", "--port", NO_BOARD, lang="fr",
    )
    assert code == 1
    message = one_line(err)
    assert "float_model.tflite" in message and "float32" in message and "int8" in message
    assert "flottant" in message


def test_int16x8_model_from_the_corpus_is_refused(capsys):
    code, _out, err = jazari(capsys, "model", "verify", CORPUS / "bad" / "int16x8_model.tflite", "--port", NO_BOARD)
    assert code == 1 and "int16 activations" in one_line(err)


def test_input_and_output_counts_must_match_the_model(capsys, tmp_path):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((1, 1, 4, 4, 3), dtype=np.int8))
    code, _out, err = jazari(
        capsys, "model", "run", CORPUS / "elementwise.tflite", "--input", samples, "--output", tmp_path / "Y.npy",
        "--port", NO_BOARD,
    )
    assert code == 1 and "elementwise.tflite has 2 inputs" in one_line(err)


# -- the comparison verify makes -------------------------------------------------------


def test_largest_differences_per_output():
    same = np.arange(-8, 8, dtype=np.int8).reshape(2, 8)
    off = same.copy()
    off[0, 0] = 127  # was -8: off by 135, more than int8 arithmetic can hold
    off[1, 3] = 4  # was 3
    assert model_run.largest_differences([same, same], [same.copy(), off]) == [0, 135]
    assert model_run.largest_differences([same], [same[:1]]) == [float("inf")]


def test_random_inputs_are_seeded_and_cover_the_type_range():
    model = load_model(CORPUS / "mobilenet_tiny.tflite")  # int8 [1, 16, 16, 3]: 2,304 values a sample
    first = model_run.random_inputs(model, 3, seed=7)
    again = model_run.random_inputs(model, 3, seed=7)
    other = model_run.random_inputs(model, 3, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (3, 1, 16, 16, 3) and first[0].dtype == np.int8
    assert first[0].min() == -128 and first[0].max() == 127


# -- on a virtual board (real MicroPython, real mpremote transport) ---------------------


def random_samples(path, count, seed):
    tensor = load_model(path).input_tensors()[0]
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, *tensor.shape), dtype=np.int8)


@pytest.mark.parametrize("path", [model_path("hello_world_int8"), model_path("micro_speech_quantized"),
                                  CORPUS / "mobilenet_tiny.tflite"], ids=lambda path: path.stem)
def test_run_on_a_board_gives_tflite_micro_outputs(capsys, tmp_path, virtual_boards, path):
    board = virtual_boards(1, profile="esp32s3")[0]
    samples = random_samples(path, 12, seed=3)
    np.save(tmp_path / "X.npy", samples)
    code, out, err = jazari(
        capsys, "model", "run", path, "--input", tmp_path / "X.npy", "--output", tmp_path / "Y.npy",
        "--port", board.port,
    )
    assert code == 0, err
    got = np.load(tmp_path / "Y.npy")
    expected = tflite_micro_outputs(path, samples)
    assert got.dtype == np.int8 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert "Ran 12 samples" in out


def test_run_without_port_starts_and_stops_a_virtual_board(capsys, tmp_path, sim_runtime_dir):
    from jazari.sim.registry import running_boards

    samples = random_samples(model_path("hello_world_int8"), 40, seed=5)
    np.save(tmp_path / "X.npy", samples)
    code, out, err = jazari(
        capsys, "model", "run", model_path("hello_world_int8"), "--input", tmp_path / "X.npy",
        "--output", tmp_path / "Y.npy",
    )
    assert code == 0, err
    assert "virtual" in out
    assert np.array_equal(np.load(tmp_path / "Y.npy"), tflite_micro_outputs(model_path("hello_world_int8"), samples))
    assert not running_boards()


def board_files(device):
    """Every file on the board's filesystem, with its size."""
    listing = device.exec(
        "import os\ndef _walk(d):\n    for n, t, *_ in os.ilistdir(d):\n        p = d.rstrip('/') + '/' + n\n"
        "        if t == 0x4000:\n            _walk(p)\n        else:\n            print(p, os.stat(p)[6])\n_walk('/')\n")
    return set(listing.split("\n")) - {""}


def test_model_run_leaves_no_file_on_the_board(capsys, tmp_path, virtual_boards):
    board = virtual_boards(1, profile="esp32s3")[0]
    path = CORPUS / "mobilenet_tiny.tflite"
    np.save(tmp_path / "X.npy", random_samples(path, 2, seed=4))
    with connect(board.port) as device:
        before = board_files(device)
    for _run in range(3):
        code, _out, err = jazari(capsys, "model", "run", path, "--input", tmp_path / "X.npy",
                                 "--output", tmp_path / "Y.npy", "--port", board.port)
        assert code == 0, err
    with connect(board.port) as device:
        assert board_files(device) == before


def test_model_run_refused_by_the_engine_leaves_no_file_either(tmp_path, virtual_boards):
    board = virtual_boards(1, profile="esp32s3")[0]
    path = CORPUS / "bad" / "int16x8_model.tflite"
    model = load_model(path)  # the host's checks skipped: the board refuses it after the copy
    arrays = [np.zeros((1, *model.input_tensors()[0].shape), dtype=np.int16)]
    with connect(board.port) as device:
        before = board_files(device)
        with pytest.raises(JazariError):
            model_run.run_on_device(device, model, path.read_bytes(), path.name, arrays)
        assert board_files(device) == before


def test_a_deployed_model_is_run_in_place_and_kept(virtual_boards):
    board = virtual_boards(1, profile="esp32s3")[0]
    path = CORPUS / "fully_connected.tflite"
    model, data = load_model(path), path.read_bytes()
    with connect(board.port) as device:
        device.exec("import os\nos.mkdir('/models')")
        device.put(data, "/models/fully_connected.tflite")
        assert model_run.place_model(device, data, path.name, model.sha256) == ("/models/fully_connected.tflite", False)
        samples = [random_samples(path, 2, seed=1)]
        got = model_run.run_on_device(device, model, data, path.name, samples)
        assert device.get("/models/fully_connected.tflite") == data
        # A different file under that name is neither run nor replaced.
        other = (CORPUS / "per_tensor.tflite").read_bytes()
        device.put(other, "/models/fully_connected.tflite")
        assert model_run.place_model(device, data, path.name, model.sha256) == (model_run.RUN_PATH, True)
        assert device.get("/models/fully_connected.tflite") == other
    assert np.array_equal(got[0], tflite_micro_outputs(path, samples[0]))


@pytest.mark.parametrize("path", [
    model_path("hello_world_int8"),
    model_path("micro_speech_quantized"),
    model_path("simple_add_model"),  # two inputs of 16 KB: each sample goes in several slices
    model_path("person_detect"),  # 294 KB: weights streamed from the board's file, several invokes in a row
    CORPUS / "broadcast.tflite",  # three inputs, three outputs
    CORPUS / "activations.tflite",  # seven outputs
    CORPUS / "float_io.tflite",  # float32 in and out, through QUANTIZE and DEQUANTIZE
], ids=lambda path: path.stem)
def test_verify_passes(capsys, virtual_boards, path):
    board = virtual_boards(1, profile="esp32s3-psram")[0]
    code, out, err = jazari(capsys, "model", "verify", path, "--port", board.port, "--samples", "3")
    assert code == 0, err
    assert re.search(r"seed \d+", out)
    assert f"exactly tflite-micro's outputs on {path.name}" in out


def test_board_side_refusal_comes_back_in_a_translated_frame(virtual_boards):
    board = virtual_boards(1, profile="esp32s3")[0]
    path = CORPUS / "bad" / "int16x8_model.tflite"
    model = load_model(path)  # the host's checks are skipped: the board's engine must refuse it itself
    arrays = [np.zeros((1, *model.input_tensors()[0].shape), dtype=np.int16)]
    with connect(board.port) as device, pytest.raises(JazariError) as refused:
        model_run.run_on_device(device, model, path.read_bytes(), path.name, arrays)
    assert refused.value.message.startswith("The board's engine refused the model: ")
    assert "int16" in refused.value.message and "Traceback" not in refused.value.message


def hog_at_boot(port, keep_free):
    """Make the board's boot.py keep data until only `keep_free` bytes are free: a board full of a
    student's data, still full after the soft reset a run starts with."""
    with connect(port) as device:
        hog = b"\n_hog = []\nwhile gc.mem_free() > %d:\n    _hog.append(bytearray(2048))\n" % keep_free
        device.put(device.get("/boot.py") + hog, "/boot.py")


def test_board_out_of_memory_is_one_clear_line(capsys, tmp_path, virtual_board):
    samples = tmp_path / "X.npy"
    np.save(samples, random_samples(model_path("micro_speech_quantized"), 1, seed=1))
    # Leave the board too little heap for the engine: a real board full of a student's data.
    hog_at_boot(virtual_board.port, keep_free=24000)
    code, _out, err = jazari(
        capsys, "model", "run", model_path("micro_speech_quantized"), "--input", samples,
        "--output", tmp_path / "Y.npy", "--port", virtual_board.port, lang="fr",
    )
    assert code == 1
    assert one_line(err).startswith("La carte manque de mémoire pour le modèle")


def test_a_model_info_says_fits_runs_on_that_board(virtual_boards):
    promised = []
    for profile in ("esp32", "esp32s3"):
        board = virtual_boards(1, profile=profile)[0]
        with connect(board.port) as device:
            for name in FIRST_RELEASE:
                model = load_model(model_path(name))
                fit = next(f for f in summarize(model, name).fits if f.profile.name == profile)
                if not fit.fits_ram:
                    continue
                promised.append((profile, name))
                samples = [random_samples(model_path(name), 1, seed=2)] * len(model.inputs)
                model_run.run_on_device(device, model, model_path(name).read_bytes(), f"{name}.tflite", samples)
                device.soft_reset()  # the next model starts from a clean heap, as a student's would
        board.stop()
    assert promised  # the check above is not empty: at least one model fits a board without PSRAM


def test_info_never_says_a_refused_model_fits(capsys):
    code, out, err = jazari(capsys, "model", "info", model_path("trained_lstm_int8"))
    assert code == 0 and "UNIDIRECTIONAL_SEQUENCE_LSTM" in err
    rows = [line for line in out.splitlines() if line.startswith("│ ESP32")]
    assert len(rows) == 3 and all("no: see below" in row for row in rows)


def test_output_folder_must_exist_before_the_board_runs(capsys, tmp_path):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((1, 1, 12), dtype=np.int8))
    target = tmp_path / "missing" / "Y.npy"
    code, _out, err = jazari(
        capsys, "model", "run", CORPUS / "fully_connected.tflite", "--input", samples, "--output", target,
        "--port", NO_BOARD,
    )
    assert code == 1 and one_line(err) == f"Cannot write {target}: its folder does not exist"


def test_empty_npy_is_one_line(capsys, tmp_path):
    (tmp_path / "X.npy").write_bytes(b"")
    code, _out, err = jazari(capsys, "model", "run", CORPUS / "fully_connected.tflite", "--input",
                             tmp_path / "X.npy", "--output", tmp_path / "Y.npy", "--port", NO_BOARD, lang="fr")
    assert code == 1 and "Traceback" not in err
    assert one_line(err) == f"{tmp_path / 'X.npy'} est vide : donnez un fichier NumPy .npy d'échantillons (numpy.save)."


@pytest.mark.parametrize("given, written", [
    # A folder: one file per output inside it, named after the model.
    (["out", "out", "out"], ["out/mean-output0.npy", "out/mean-output1.npy", "out/mean-output2.npy"]),
    # A name without .npy gets it, and the message says so.
    (["a", "b", "c.npy"], ["a.npy", "b.npy", "c.npy"]),
])
def test_output_is_written_where_the_message_says(capsys, tmp_path, virtual_boards, given, written):
    board = virtual_boards(1, profile="esp32s3")[0]
    path = CORPUS / "mean.tflite"  # three outputs
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    np.save(tmp_path / "X.npy", random_samples(path, 2, seed=6))
    args = [a for name in given for a in ("--output", work / name)]
    code, out, err = jazari(capsys, "model", "run", path, "--input", tmp_path / "X.npy", *args, "--port", board.port)
    assert code == 0, err
    expected = [work / name for name in written]
    assert out.strip().endswith("wrote " + ", ".join(map(str, expected)) + ".")
    assert sorted(p for p in work.rglob("*") if p.is_file()) == sorted(expected)
    assert [np.load(p).shape[0] for p in expected] == [2, 2, 2]


def test_board_without_the_kit_is_told_to_flash(capsys, tmp_path, virtual_board):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((1, 1, 12), dtype=np.int8))
    with connect(virtual_board.port) as device:
        # A board with plain MicroPython: no kit package on its filesystem.
        device.exec("import os\nos.rename('/kit', '/kit-away')")
        device.soft_reset()
    code, _out, err = jazari(
        capsys, "model", "run", CORPUS / "fully_connected.tflite", "--input", samples, "--output", tmp_path / "Y.npy",
        "--port", virtual_board.port,
    )
    assert code == 1
    assert one_line(err) == (f"The board on {virtual_board.port} has no Jazari kit, so no engine: "
                             "flash it with 'jazari flash' first.")


def test_arena_bigger_than_the_free_heap_is_refused_with_both_figures(capsys, tmp_path, virtual_board):
    samples = tmp_path / "X.npy"
    np.save(samples, np.zeros((1, 1, 128, 128, 1), dtype=np.int8))
    hog_at_boot(virtual_board.port, keep_free=40000)
    code, _out, err = jazari(
        capsys, "model", "run", model_path("simple_add_model"), "--input", samples, "--input", samples,
        "--output", tmp_path / "Y.npy", "--port", virtual_board.port,
    )
    assert code == 1
    message = one_line(err)
    # Three 16 KB tensors alive at once: 49,152 bytes, more than the 40 KB left.
    needed, free = map(int, re.search(r"needs (\d+) bytes of RAM .* has (\d+) bytes free", message).groups())
    assert needed == 3 * 128 * 128 and free <= 40000


def test_verify_without_tflite_micro_names_the_extra():
    # A Python where tflite-micro is not installed (an import of it fails), as after `pip install jazari-kit`.
    script = (
        "import sys\nsys.modules['tflite_micro'] = None\nfrom jazari.cli import main\n"
        "sys.exit(main(['--lang', 'en', 'model', 'verify', %r, '--port', %r]))" % (
            str(CORPUS / "fully_connected.tflite"), NO_BOARD)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "model verify needs tflite-micro, the reference interpreter: pip install 'jazari-kit[test]'")
