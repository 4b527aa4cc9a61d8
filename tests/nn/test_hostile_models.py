"""Each kind of broken model, made by changing one to three fields of a corpus model:
the engine under MicroPython raises one ValueError naming it, `jazari model
info/verify` print one translated line. tflite-micro refuses most of them
itself; where it runs one (a scale of 0 or inf on an activation, a
depth_multiplier of 0, a stride of 0, an output shape its window does not
give, an op writing to a constant, a constant model input, weights computed
while the model runs, a filter depth that does not divide the input's, a bias
shorter than the output channels, an activation or QUANTIZE with more output
values than input values, an ADD whose output is not its inputs broadcast, a
MEAN over an axis out of range or into an output of another size, a SHAPE
output of another size than its input's rank, a CONCATENATION along an axis
out of range or into an output its inputs do not fill, a PACK along an axis
its inputs do not fit: it then computes nothing meaningful, or
reads or writes outside its tensors, and dies on some), the kit is the
stricter of the two, on purpose."""

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine_runner import EngineError, run_engine

from jazari.cli import main
from jazari.nn.checks import supported_ops
from jazari.nn.limits import quant_problem
from jazari.nn.tflite import parse_model

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from fuzz_sites import BUFFER_DATA, MODEL_BUFFERS, _Walker, labelled_sites  # noqa: E402

CORPUS = REPO / "tests" / "nn" / "corpus"
MANIFEST = {entry["name"]: entry for entry in json.loads((CORPUS / "manifest.json").read_text())["models"]}
INT32 = 2  # schema.fbs TensorType


def word(value):
    return struct.pack("<i", value)


def field(data, kind, owner, nth=0):
    """(byte position, width) of the nth field of `kind` owned by `owner`, as fuzz_sites labels them."""
    return [(at, width) for k, at, width, who in labelled_sites(data) if k == kind and who == owner][nth]


def buffer_of(model, owner):
    """The buffer index of tensor `owner` ("tensor <i>") in corpus `model`, as a field's bytes."""
    data = (CORPUS / f"{model}.tflite").read_bytes()
    at, width = field(data, "buffer", owner)
    return data[at:at + width]


def values_at(data, owner):
    """Byte position of constant tensor `owner`'s values: its buffer's data."""
    at, _width = field(data, "buffer", owner)
    walk = _Walker(data)
    buffer = walk.tables(walk.u32(0), MODEL_BUFFERS)[walk.u32(at)]
    return walk.ref(buffer, BUFFER_DATA) + 4


def mutant(model, *changes):
    """Corpus `model` with each change (kind, owner, nth, value bytes) made: the first bytes of the
    nth field of that kind and owner, or for kind "value" the nth int32 of constant tensor `owner`."""
    data = bytearray((CORPUS / f"{model}.tflite").read_bytes())
    for kind, owner, nth, value in changes:
        at = values_at(bytes(data), owner) + 4 * nth if kind == "value" else field(bytes(data), kind, owner, nth)[0]
        data[at:at + len(value)] = value
    return bytes(data)


def changed(kind, owner, value, nth=0):
    """depthwise.tflite (two DEPTHWISE_CONV_2D, int8 in and out) with one field changed."""
    return mutant("depthwise", (kind, owner, nth, value))


TFLM_RUNS = {"logistic output quantization", "read before written", "output computed by none", "scale 0", "scale inf", "depth_multiplier 0", "output shape", "stride 0", "output constant",
             "model input constant", "conv weights computed", "conv filter depth", "short bias",
             "activation output count", "quantize output count", "add broadcast", "mean axis", "mean output count",
             "shape output count", "concatenation axis", "concatenation sum", "pack input"}
CASES = {
    # name: (mutant, words of the engine's ValueError, words of the host's line)
    "scale 0": (changed("scale", "tensor 0", struct.pack("<f", 0.0)), "scale 0.0", "tensor 0 has scale 0.0"),
    "scale NaN": (changed("scale", "tensor 5", struct.pack("<f", math.nan)), "scale nan", "tensor 5 has scale nan"),
    "scale inf": (changed("scale", "tensor 6", struct.pack("<f", math.inf)), "scale inf", "tensor 6 has scale inf"),
    "int32 into int8 ops": (changed("type", "tensor 0", bytes([INT32])), "int32",
                            "its input is int32 and its output int8"),
    "depth_multiplier 0": (changed("option", "operator 0 option 3", struct.pack("<i", 0)), "depth multiplier 0",
                           "its depth_multiplier 0 does not match its channels"),
    "output shape": (changed("shape", "tensor 6", struct.pack("<i", 4), nth=1), "output shape [1, 4, 3, 8], expected [1, 3, 3, 8]",
                     "its output shape [1, 4, 3, 8] should be [1, 3, 3, 8]"),
    "stride 0": (changed("option", "operator 0 option 1", struct.pack("<i", 0)), "window size 0 is out of range",
                 "its stride, dilation or window size 0 is out of range"),
    "huge shape": (changed("shape", "tensor 5", struct.pack("<i", 2**31 - 1), nth=1), "",
                   "tensor 5 declares"),
    "65 dimensions": (changed("length", "tensor 5", struct.pack("<I", 65)), "", "tensor 5 has shape"),
}
# Cases on other corpus models, one or more ops of a kind: each makes one check of an op's prepare
# (firmware/kit/nn/ops/*.py) or of the loader's survey (survey.py) refuse the model.
OP_CASES = {
    # name: (corpus model, its changes (as mutant() takes them), words of the engine's ValueError,
    #        words of the host's line)
    # RELU reads SOFTMAX's output, computed after it; SOFTMAX writes LOGISTIC's, and model output 6 is left as
    # the arena held it (a fuzz finding: depthwise_dilation with its last operator cut off, RAM and streamed differed).
    "logistic output quantization": ("activations", [("scale", "tensor 2", 0, struct.pack("<f", 0.5))],
                                     "needs scale 0.00390625, zero point -128",
                                     "its output needs scale 0.00390625 and zero point -128"),
    "pooling quantization": ("average_pool", [("zero_point", "tensor 1", 0, struct.pack("<q", 3))],
                             "output scale or zero point different from the input's",
                             "its output scale or zero point differs from its input's"),
    # Two zero points for one scale: tflite-micro takes the first, 5, and refuses the pooling's change of it.
    "zero points more than scales": ("average_pool", [("length", "tensor 0", 2, struct.pack("<I", 2)),
                                                      ("zero_point", "tensor 0", 0, struct.pack("<q", 5))],
                                     "output scale or zero point different from the input's",
                                     "its output scale or zero point differs from its input's"),
    # Fuzz findings that tflite-micro refuses (or dies on) and the engine ran: a PACK of another
    # values_count than its inputs, a STRIDED_SLICE shrinking an axis its output shape keeps.
    "pack values_count": ("shape_static", [("option", "operator 5 option 0", 0, word(5))],
                          "values_count 5 for 2 inputs", "its values_count 5 is not its 2 inputs"),
    "slice shrink": ("shape_static", [("option", "operator 4 option 4", 0, word(3))],
                     "output shape [1, 6, 2], expected [6, 2]", "its output shape [1, 6, 2] should be [6, 2]"),
    # A fuzz finding's kind: the engine ignored SQUEEZE's squeeze_dims, which tflite-micro checks.
    "squeeze dims": ("squeeze", [("shape", "tensor 2", 1, word(12)), ("shape", "tensor 2", 2, word(1))],
                     "output shape [1, 12, 1], expected [1, 1, 12]", "its output shape [1, 12, 1] should be [1, 1, 12]"),
    "omitted output": ("fully_connected", [("tensor", "operator 2", 3, word(-1))],
                       "operator 2 has an omitted output", "operator 2 has an omitted output"),
    "read before written": ("activations", [("tensor", "operator 5", 0, word(7))],
                            "reads tensor 7 before any operator writes it", "it reads tensor 7 before any operator writes it"),
    "output computed by none": ("activations", [("tensor", "operator 6", 1, word(2))],
                                "model output tensor 7 is computed by no operator", "output 6 is computed by no operator"),
    "output constant": ("fully_connected", [("buffer", "tensor 6", 0, buffer_of("fully_connected", "tensor 5"))],
                        "writes to constant tensor 6", "its output, tensor 6, is a constant"),
    "model input constant": ("fully_connected", [("buffer", "tensor 0", 0, buffer_of("fully_connected", "tensor 5"))],
                             "model input or output tensor 0 is a constant", "input 0 is a constant tensor"),
    "conv int32 input": ("conv_kernels", [("type", "tensor 0", 0, bytes([INT32])),
                                          ("type", "tensor 7", 0, bytes([INT32]))],
                         "needs int8 input", "it needs an int8 input"),
    # Weights nothing writes: the engine's survey finds the read before the op's own check (ops/conv.py).
    "conv weights computed": ("conv_kernels", [("buffer", "tensor 6", 0, word(0))],
                              "reads tensor 6 before any operator writes it", "its weights and bias must be constant"),
    "conv filter depth": ("conv_kernels", [("shape", "tensor 6", 3, word(2))],
                          "filter depth 2 does not divide input depth 3",
                          "its filter depth 2, input depth 3 and 4 output channels do not match"),
    "depthwise channels": ("depthwise", [("shape", "tensor 2", 3, word(6)), ("shape", "tensor 6", 3, word(6)),
                                         ("option", "operator 1 option 3", 0, word(1))],
                           "6 output channels from 4 input channels",
                           "its 6 output channels are not a multiple of its 4 input channels"),
    "weight scales": ("depthwise", [("length", "tensor 4", 1, word(3))],
                      "3 filter scales for 4 output channels", "its weights have 3 scales for 4 output channels"),
    "short bias": ("depthwise", [("shape", "tensor 3", 0, word(3))],
                   "bias tensor 3 has 12 bytes, wanted 16", "its bias has 3 values, fewer than its 4 output channels"),
    "activation output count": ("activations", [("shape", "tensor 1", 3, word(6))],
                                "input and output sizes differ", "its input has 60 values and its output 72"),
    "quantize output count": ("concatenation", [("shape", "tensor 3", 3, word(3))],
                              "input and output element counts differ", "its input has 32 values and its output 48"),
    "squeeze output count": ("squeeze", [("shape", "tensor 2", 2, word(13))],
                             "input has 12 bytes, output 13", "its input has 12 values and its output 13"),
    "expand_dims axis": ("conv1d", [("value", "tensor 1", 0, word(2))],
                         "output shape [1, 1, 20, 3] is not input shape [1, 20, 3] with a 1 at axis 2",
                         "its output shape [1, 1, 20, 3] should be [1, 20, 1, 3]"),
    "expand_dims axis range": ("conv1d", [("value", "tensor 1", 0, word(4))],
                               "with a 1 at axis 4", "its axis 4 is out of range for 4 dimensions"),
    # SOFTMAX made to read its own output, a tensor of no dimensions
    # SOFTMAX reads its own output, made a scalar: the survey's read-before-write comes first in the engine.
    "softmax scalar": ("activations", [("tensor", "operator 6", 0, word(7)), ("length", "tensor 7", 0, word(0))],
                       "reads tensor 7 before any operator writes it", "its input shape [] has no values along a last dimension"),
    "add input omitted": ("elementwise", [("tensor", "operator 0", 1, word(-1))],
                          "needs two inputs and one output", "its input 1 is missing"),
    "add broadcast": ("broadcast", [("shape", "tensor 3", 2, word(4))],
                      "(1, 4, 5, 3) and (1, 1, 1, 3) do not broadcast to (1, 4, 4, 3)",
                      "its input shapes [1, 4, 5, 3] and [1, 1, 1, 3] do not broadcast to its output shape [1, 4, 4, 3]"),
    "mean axis": ("mean", [("value", "tensor 2", 0, word(5))],
                  "axis 5 out of range", "its axis 5 is out of range for 4 dimensions"),
    "mean output count": ("mean", [("shape", "tensor 5", 2, word(5))],
                          "output size 25, expected 20", "its output has 25 values, it should have 20"),
    "shape output count": ("shape_static", [("shape", "tensor 15", 0, word(3))],
                           "output size", "its output should hold 4 int32 values, one per input dimension"),
    "concatenation axis": ("concatenation", [("option", "operator 1 option 0", 0, word(4))],
                           "axis out of range", "its axis 4 is out of range for 4 dimensions"),
    "concatenation input": ("concatenation", [("shape", "tensor 0", 2, word(3))],
                            "input 0 does not fit the output shape",
                            "its input tensor 0 does not fit its output shape [1, 6, 4, 2]"),
    "concatenation sum": ("concatenation", [("shape", "tensor 4", 1, word(7))],
                          "inputs do not add up to the output", "its output has 56 values, it should have 48"),
    "concatenation input type": ("concatenation", [("type", "tensor 0", 0, bytes([INT32]))],
                                 "inputs must all have the output's type",
                                 "its input tensor 0 is int32, its output int8"),
    "concatenation requantizes": ("concatenation", [("zero_point", "tensor 0", 0, struct.pack("<q", 5))],
                                  "different input and output quantization",
                                  "its input tensor 0 needs its output's scale and zero point"),
    "pack input": ("shape_static", [("option", "operator 5 option 1", 0, word(0))],
                   "input 16 does not fit the output shape",
                   "its input tensor 16 does not fit its output shape [1, 2, 6, 2]"),
    "pad paddings": ("pad", [("value", "tensor 1", 2, word(-1))],
                     "paddings", "its paddings [0, 0, -1, 2, 0, 1, 0, 0] do not fit its input shape [1, 5, 6, 2]"),
    "pad output shape": ("pad", [("shape", "tensor 5", 1, word(9))],
                         "output shape (1, 9, 7, 2), expected (1, 8, 7, 2)",
                         "its output shape [1, 9, 7, 2] should be [1, 8, 7, 2]"),
    "strided_slice size": ("shape_static", [("value", "tensor 1", 1, word(2))],
                           "output has 18 bytes, the slice 12", "its output has 18 values, it should have 12"),
    "strided_slice stride 0": ("shape_static", [("value", "tensor 3", 0, word(0))], "begin/end/strides",
                               "its begin [0, 1, 0, 0], end [0, 4, 0, 0] and strides [0, 1, 2, 1] do not fit its "
                               "input shape [1, 4, 6, 2]"),
}
ALL_CASES = {**{name: ("depthwise", *case) for name, case in CASES.items()},
             **{name: (model, mutant(model, *changes), *words) for name, (model, changes, *words) in OP_CASES.items()}}


def zeros(model):
    """One sample of zeros for each input of corpus `model`."""
    return [np.zeros((1, *item["shape"]), item["dtype"]) for item in MANIFEST[model]["inputs"]]


@pytest.mark.parametrize("name", ALL_CASES)
def test_engine_refuses_with_one_value_error(tmp_path, name):
    model, data, engine_words, _host = ALL_CASES[name]
    path = tmp_path / "model.tflite"
    path.write_bytes(data)
    with pytest.raises(EngineError) as refused:
        run_engine(path, zeros(model))
    # engine_runner reports a ValueError by its message, anything else as "micropython failed".
    assert not refused.value.message.startswith("micropython failed") and engine_words in refused.value.message


@pytest.mark.parametrize("command", ["info", "verify"])
@pytest.mark.parametrize("name", ALL_CASES)
def test_host_refuses_with_one_line(capsys, tmp_path, name, command):
    _model, data, _engine, host_words = ALL_CASES[name]
    path = tmp_path / "model.tflite"
    path.write_bytes(data)
    extra = ["--port", "/dev/no-such-board"] if command == "verify" else []
    code = main(["--lang", "en", "model", command, str(path), *extra])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    if command == "info" and code == 0:  # info shows what it can and names the problem below the table
        assert any(host_words in line for line in lines), err
    else:
        assert code == 1 and len(lines) == 1 and host_words in lines[0], err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("name", sorted(set(ALL_CASES) - TFLM_RUNS))
def test_tflite_micro_refuses_them_too(tmp_path, name):
    model, data, _engine, _host = ALL_CASES[name]
    path = tmp_path / "model.tflite"
    path.write_bytes(data)
    inputs = [(item["shape"], item["dtype"]) for item in MANIFEST[model]["inputs"]]
    script = ("from tflite_micro.python.tflite_micro import runtime\nimport numpy as np\n"
              "it = runtime.Interpreter.from_file(%r, arena_size=1 << 24)\n"
              "for k, (shape, dtype) in enumerate(%r):\n    it.set_input(np.zeros(shape, dtype), k)\n"
              "it.invoke()\n" % (str(path), inputs))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, "tflite-micro ran it"


def test_info_refuses_what_is_not_a_file(capsys, tmp_path):
    for target in ("/dev/zero", tmp_path):
        code = main(["--lang", "fr", "model", "info", str(target)])
        _out, err = capsys.readouterr()
        assert code == 1 and err.strip() == f"{target} n'est pas un fichier : donnez un fichier de modèle .tflite."


def test_info_refuses_a_file_larger_than_any_board_holds_before_reading_it(capsys, tmp_path):
    huge = tmp_path / "huge.tflite"
    with open(huge, "wb") as sparse:  # 17 MB that take no disk
        sparse.truncate(17 * 1024 * 1024)
    code = main(["--lang", "en", "model", "info", str(huge)])
    _out, err = capsys.readouterr()
    assert code == 1 and err.strip() == (
        f"{huge} is 17825792 bytes, more than any board holds (16777216): it is not a model the kit can run.")


def test_a_model_input_of_a_type_numpy_lacks_is_one_line(capsys):
    # A fuzz finding: simple_add with its first input's type made int4 (verify raised TypeError making inputs).
    path = next((REPO / "tests" / "nn" / "fuzz_findings").glob("host-int4-input-*.tflite"))
    code = main(["--lang", "en", "model", "verify", str(path), "--port", "/dev/no-such-board"])
    _out, err = capsys.readouterr()
    assert code == 1 and err.strip() == (
        f"{path.name}'s input 0 is int4: the kit exchanges int8, int32 or float32 values. Export the model again.")


def test_a_fully_connected_output_its_weights_do_not_fill_is_refused_everywhere(capsys, tmp_path):
    # A fuzz finding (hello_world's output made [1, 65535]): the engine refused it, `model
    # info`/`run`/`verify` let it through, and tflite-micro died on it (SIGSEGV). Here
    # fully_connected.tflite's last output, [1, 4] from weights [4, 6], made [1, 5].
    source = REPO / "tests" / "nn" / "corpus" / "fully_connected.tflite"
    data = bytearray(source.read_bytes())
    at, width = [(at, width) for kind, at, width, who in labelled_sites(bytes(data))
                 if kind == "shape" and who == "tensor 8"][1]
    data[at:at + width] = struct.pack("<i", 5)
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(EngineError) as refused:
        run_engine(path, [np.zeros((1, 1, 12), np.int8)])
    assert "input [1, 6], weights [4, 6] and output [1, 5] do not match" in refused.value.message
    for command in (["info"], ["verify", "--port", "/dev/no-such-board"]):
        code = main(["--lang", "en", "model", command[0], str(path), *command[1:]])
        _out, err = capsys.readouterr()
        assert "its input [1, 6], weights [4, 6] and output [1, 5] do not match" in err
        assert command[0] == "info" or (code == 1 and len(err.strip().splitlines()) == 1), err


def test_a_concatenation_with_a_fused_activation_is_refused_by_the_host():
    # The corpus's CONCATENATIONs store no activation field (the converter leaves out defaults), so
    # no field to change in the file: the option is set on the model the host read instead.
    model = parse_model((CORPUS / "concatenation.tflite").read_bytes())
    assert quant_problem(model, "m.tflite", supported_ops()) is None
    model.operators[1].options["activation"] = "RELU"
    assert quant_problem(model, "m.tflite", supported_ops()) == (
        "m.tflite is broken at operator 1, CONCATENATION: its fused activation RELU is not supported. "
        "Export the model again.")
