"""The heavy kernels of kit.nn (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
MAX/AVERAGE_POOL_2D) and the shared requantization, under the real MicroPython
interpreter, bit for bit against tflite-micro.

Single-op models are built here with tflite-micro's own model editor: every
option the kernels handle (stride, padding, dilation, depth multiplier, groups,
fused activation, per-channel or per-tensor scales, bias or none, batches),
and every conv/depthwise/FC/pool layer of the conformance models, cut out with
its real weights and quantization and fed random and extreme inputs.
"""

import math
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from engine_runner import FIRMWARE, EngineError, micropython, run_engine, run_tflm  # noqa: E402

me = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression.model_editor")
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl  # noqa: E402

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "tflm"
I8, I32 = tfl.TensorType.INT8, tfl.TensorType.INT32
SAME, VALID = 0, 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


# ---- single-op models ------------------------------------------------------

def _quant(scales, zero_points=0, axis=None):
    return me.Quantization(scales=scales, zero_points=zero_points, axis=axis)


def _out_size(padding, size, stride, dilation, k):
    span = (k - 1) * dilation + 1
    return -(-size // stride) if padding == SAME else (size + stride - span) // stride


def _single_op(opcode, inputs, out_shape, out_quant, options_type, options):
    graph = me.Subgraph()
    graph.tensors.extend(t for t in inputs if t is not None)
    out = me.Tensor(shape=out_shape, dtype=I8, quantization=out_quant, name="out")
    graph.tensors.append(out)
    op = me.Operator(opcode=opcode, inputs=list(inputs), outputs=[out])
    op._fb.builtinOptionsType = options_type
    op._fb.builtinOptions = options
    graph.operators.append(op)
    graph.inputs, graph.outputs = [inputs[0]], [out]
    return bytes(me.Model(subgraphs=[graph]).build())


def _weights(rng, shape, out_c, axis, per_channel, in_scale, bias):
    """Filter and bias tensors with TFLite's symmetric int8 weights."""
    filt = rng.integers(-127, 128, size=shape).astype(np.int8)
    scales = [float(s) for s in rng.uniform(0.001, 0.02, size=out_c if per_channel else 1)]
    tensors = [me.Tensor(shape=shape, dtype=I8, data=filt, name="w",
                         quantization=_quant(scales, [0] * len(scales), axis))]
    if bias:
        values = rng.integers(-20000, 20000, size=out_c).astype(np.int32)
        tensors.append(me.Tensor(shape=(out_c,), dtype=I32, data=values, name="b",
                                 quantization=_quant([in_scale * s for s in scales], [0] * len(scales), 0)))
    return tensors


def _activation_quant(rng, in_zp=None, out_zp=None):
    in_zp = int(rng.integers(-128, 128)) if in_zp is None else in_zp
    out_zp = int(rng.integers(-128, 128)) if out_zp is None else out_zp
    in_scale = float(rng.uniform(0.005, 0.05))
    return in_scale, _quant(in_scale, in_zp), _quant(float(rng.uniform(0.02, 0.3)), out_zp)


def conv_model(rng, n=1, h=7, w=6, c=3, k=4, kh=3, kw=3, stride=(1, 1), dilation=(1, 1), padding=SAME,
               activation=0, per_channel=True, bias=True, groups=1, in_zp=None, out_zp=None):
    oh = _out_size(padding, h, stride[0], dilation[0], kh)
    ow = _out_size(padding, w, stride[1], dilation[1], kw)
    in_scale, in_q, out_q = _activation_quant(rng, in_zp, out_zp)
    x = me.Tensor(shape=(n, h, w, c), dtype=I8, quantization=in_q, name="x")
    o = tfl.Conv2DOptionsT()
    o.padding, (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor) = padding, stride, dilation
    o.fusedActivationFunction = activation
    inputs = [x] + _weights(rng, (k, kh, kw, c // groups), k, 0, per_channel, in_scale, bias)
    return _single_op(tfl.BuiltinOperator.CONV_2D, inputs, (n, oh, ow, k), out_q,
                      tfl.BuiltinOptions.Conv2DOptions, o)


def depthwise_model(rng, n=1, h=7, w=6, c=3, multiplier=1, kh=3, kw=3, stride=(1, 1), dilation=(1, 1),
                    padding=SAME, activation=0, per_channel=True, bias=True, in_zp=None, out_zp=None):
    oh = _out_size(padding, h, stride[0], dilation[0], kh)
    ow = _out_size(padding, w, stride[1], dilation[1], kw)
    k = c * multiplier
    in_scale, in_q, out_q = _activation_quant(rng, in_zp, out_zp)
    x = me.Tensor(shape=(n, h, w, c), dtype=I8, quantization=in_q, name="x")
    o = tfl.DepthwiseConv2DOptionsT()
    o.padding, (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor) = padding, stride, dilation
    o.fusedActivationFunction, o.depthMultiplier = activation, multiplier
    inputs = [x] + _weights(rng, (1, kh, kw, k), k, 3, per_channel, in_scale, bias)
    return _single_op(tfl.BuiltinOperator.DEPTHWISE_CONV_2D, inputs, (n, oh, ow, k), out_q,
                      tfl.BuiltinOptions.DepthwiseConv2DOptions, o)


def fc_model(rng, batches=1, depth=10, k=4, activation=0, per_channel=False, bias=True, in_zp=None, out_zp=None):
    in_scale, in_q, out_q = _activation_quant(rng, in_zp, out_zp)
    x = me.Tensor(shape=(batches, depth), dtype=I8, quantization=in_q, name="x")
    o = tfl.FullyConnectedOptionsT()
    o.fusedActivationFunction = activation
    # Keras writes a dense layer without bias with an omitted third input (-1).
    inputs = ([x] + _weights(rng, (k, depth), k, 0, per_channel, in_scale, bias) + [None])[:3]
    return _single_op(tfl.BuiltinOperator.FULLY_CONNECTED, inputs, (batches, k), out_q,
                      tfl.BuiltinOptions.FullyConnectedOptions, o)


def pool_model(rng, kind, n=1, h=7, w=6, c=3, kh=2, kw=2, stride=(2, 2), padding=VALID, activation=0, zp=None):
    oh = _out_size(padding, h, stride[0], 1, kh)
    ow = _out_size(padding, w, stride[1], 1, kw)
    q = _quant(float(rng.uniform(0.01, 0.05)), int(rng.integers(-128, 128)) if zp is None else zp)
    x = me.Tensor(shape=(n, h, w, c), dtype=I8, quantization=q, name="x")
    o = tfl.Pool2DOptionsT()
    o.padding, (o.strideH, o.strideW), (o.filterHeight, o.filterWidth) = padding, stride, (kh, kw)
    o.fusedActivationFunction = activation
    code = tfl.BuiltinOperator.MAX_POOL_2D if kind == "max" else tfl.BuiltinOperator.AVERAGE_POOL_2D
    return _single_op(code, [x], (n, oh, ow, c), q, tfl.BuiltinOptions.Pool2DOptions, o)


def _input_shape(model):
    graph = me.read(model).subgraphs[0]
    return tuple(graph.inputs[0].shape)


def _samples(rng, shape, count=3):
    """Random samples, then the two extremes of int8."""
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(count)]
    xs += [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]
    return np.stack(xs)


def assert_bit_exact(tmp_path, model, rng, mode="file", name="op.tflite"):
    path = tmp_path / name
    path.write_bytes(model)
    xs = _samples(rng, _input_shape(model))
    want = run_tflm(path, [xs])[0]
    got = run_engine(path, [xs], mode=mode)[0]
    assert got.shape == want.shape
    diff = np.argwhere(got != want)
    assert len(diff) == 0, "%d of %d outputs differ, first at %s: engine %d, tflite-micro %d" % (
        len(diff), got.size, diff[0].tolist(), got[tuple(diff[0])], want[tuple(diff[0])])


CONV_CASES = {
    "3x3 same": {},
    "3x3 valid": dict(padding=VALID),
    "stride 2": dict(stride=(2, 2), h=9, w=8),
    "stride 1x2 2x3 kernel": dict(stride=(1, 2), kh=2, kw=3),
    "dilation 2x1": dict(dilation=(2, 1), h=9),
    "dilation valid": dict(dilation=(2, 3), padding=VALID, h=9, w=9),
    "pointwise": dict(kh=1, kw=1, c=8, k=16),
    "pointwise odd depth": dict(kh=1, kw=1, c=13, k=5),
    "relu": dict(activation=1),
    "relu6": dict(activation=3),
    "relu_n1_to_1": dict(activation=2),
    "per-tensor scale": dict(per_channel=False),
    "no bias": dict(bias=False),
    "groups": dict(groups=3, c=6, k=9),
    "batches": dict(n=2),
    "1x1 image": dict(h=1, w=1),
    "kernel larger than image": dict(h=2, w=2, kh=5, kw=4),
    "deep input": dict(c=37, k=3, kh=2, kw=2),
    "zero points at the ends": dict(in_zp=-128, out_zp=127),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_tflite_micro(tmp_path, case):
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    assert_bit_exact(tmp_path, conv_model(rng, **CONV_CASES[case]), rng)


DEPTHWISE_CASES = {
    "3x3 same": {},
    "3x3 valid": dict(padding=VALID),
    "stride 2": dict(stride=(2, 2), h=9, w=8),
    "stride 2x1 padded": dict(stride=(2, 1), h=8),
    "dilation 2": dict(dilation=(2, 2)),
    "dilation 1x3 wide": dict(dilation=(1, 3), w=11),
    "multiplier 2": dict(multiplier=2),
    "multiplier 4": dict(multiplier=4, c=2),
    "multiplier 8 on one channel": dict(multiplier=8, c=1, stride=(2, 2)),
    "multiplier 3 strided": dict(multiplier=3, c=2, stride=(2, 2)),
    "channels not a multiple of 4": dict(c=7),
    "relu": dict(activation=1),
    "relu6": dict(activation=3),
    "per-tensor scale": dict(per_channel=False),
    "no bias": dict(bias=False),
    "batches, 5x2 kernel": dict(n=2, kh=5, kw=2),
    "1x1 image": dict(h=1, w=1, c=8),
    "zero points at the ends": dict(in_zp=127, out_zp=-128, c=8),
}


@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_depthwise_matches_tflite_micro(tmp_path, case):
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    assert_bit_exact(tmp_path, depthwise_model(rng, **DEPTHWISE_CASES[case]), rng)


FC_CASES = {
    "per-tensor": {},
    "per-channel": dict(per_channel=True),
    "no bias": dict(bias=False),
    "batches": dict(batches=3, depth=33, k=7),
    "relu": dict(activation=1),
    "relu6 wide": dict(activation=3, depth=100, k=30),
    "one input": dict(depth=1, k=3),
    "zero points at the ends": dict(in_zp=-128, out_zp=127, per_channel=True),
}


@pytest.mark.parametrize("case", FC_CASES)
def test_fully_connected_matches_tflite_micro(tmp_path, case):
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    assert_bit_exact(tmp_path, fc_model(rng, **FC_CASES[case]), rng)


POOL_CASES = {
    "2x2 stride 2": {},
    "same padding": dict(padding=SAME),
    "3x3 stride 1 same": dict(kh=3, kw=3, stride=(1, 1), padding=SAME),
    "3x2 stride 2x1": dict(kh=3, kw=2, stride=(2, 1)),
    "relu": dict(activation=1),
    "relu6 at zero point -128": dict(activation=3, zp=-128),
    "global, batches": dict(n=2, h=6, w=6, kh=6, kw=6, stride=(1, 1)),
    "window larger than image": dict(kh=7, kw=6, stride=(1, 1), padding=SAME),
    "16 channels": dict(c=16, kh=3, kw=3, padding=SAME),
}


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_tflite_micro(tmp_path, kind, case):
    rng = np.random.default_rng(zlib.crc32((case + kind).encode()))
    assert_bit_exact(tmp_path, pool_model(rng, kind, **POOL_CASES[case]), rng)


def test_streamed_weights_match(tmp_path):
    # Over 64 KB of weights: kit.Model(path) streams them from the file in
    # slices of a few output channels instead of reading the model whole.
    rng = np.random.default_rng(7)
    model = conv_model(rng, h=5, w=5, c=64, k=128, kh=3, kw=3)
    assert len(model) > 70000
    assert_bit_exact(tmp_path, model, rng, mode="file")
    assert_bit_exact(tmp_path, fc_model(rng, batches=2, depth=700, k=100, per_channel=True), rng, mode="file")


def test_streamed_weights_of_many_layers_match(tmp_path):
    # Every layer's slices pass through the one buffer the ops share: no
    # kernel may keep a view of it from one invoke, or one layer, to the next.
    path = CONFORMANCE / "person_detect.tflite"
    if not path.exists():
        pytest.skip("conformance models not found beside the project (%s)" % CONFORMANCE)
    xs = _samples(np.random.default_rng(8), (1, 96, 96, 1), count=2)
    want = run_tflm(path, [xs])[0]
    assert np.array_equal(run_engine(path, [xs], mode="file")[0], want)


@pytest.mark.parametrize("model", [
    lambda rng: conv_model(rng, dilation=(0, 1)),
    lambda rng: depthwise_model(rng, dilation=(1, -1)),
    lambda rng: pool_model(rng, "max", kh=0),
], ids=["conv dilation 0", "depthwise dilation -1", "pool window 0"])
def test_steps_out_of_range_are_one_clear_error(tmp_path, model):
    # A hostile file must not send a viper loop outside its buffers.
    path = tmp_path / "bad.tflite"
    path.write_bytes(model(np.random.default_rng(2)))
    with pytest.raises(EngineError, match="out of range"):
        run_engine(path, [np.zeros((1, 1, 7, 6, 3), np.int8)])


# ---- the conformance models' own layers ------------------------------------

_KERNEL_OPS = {tfl.BuiltinOperator.CONV_2D, tfl.BuiltinOperator.DEPTHWISE_CONV_2D,
               tfl.BuiltinOperator.FULLY_CONNECTED, tfl.BuiltinOperator.AVERAGE_POOL_2D,
               tfl.BuiltinOperator.MAX_POOL_2D}


def conformance_layers(name):
    """(operator index, op name, single-op model) for every kernel op of a
    conformance model, with its real weights, shapes and quantization."""
    path = CONFORMANCE / (name + ".tflite")
    if not path.exists():
        pytest.skip("conformance models not found beside the project (%s)" % CONFORMANCE)
    model = me.read(path.read_bytes())
    layers = []
    for i, op in enumerate(model.subgraphs[0].operators):
        fb = model.operator_codes[op.opcode_index]._fb
        code = max(fb.builtinCode, fb.deprecatedBuiltinCode)  # old files fill only the deprecated one
        if code not in _KERNEL_OPS:
            continue
        op.opcode = code
        inputs = [t for t in op.inputs if t is not None]
        graph = me.Subgraph(tensors=inputs + [op.outputs[0]], operators=[op],
                            inputs=[op.inputs[0]], outputs=[op.outputs[0]])
        layers.append((i, op.opcode_name, bytes(me.Model(subgraphs=[graph]).build())))
    return layers


@pytest.mark.parametrize("name", ["micro_speech_quantized", "person_detect", "hello_world_int8"])
def test_conformance_layers_match(tmp_path, name):
    rng = np.random.default_rng(11)
    layers = conformance_layers(name)
    assert layers
    for index, op_name, model in layers:
        try:
            assert_bit_exact(tmp_path, model, rng, mode="buffer", name="%s_%d.tflite" % (name, index))
        except AssertionError as e:
            raise AssertionError("%s operator %d (%s): %s" % (name, index, op_name, e)) from None


# ---- requantization ---------------------------------------------------------
# An independent CPython transcription of TFLM's arithmetic (quantization_util.cc
# QuantizeMultiplier; common.cc MultiplyByQuantizedMultiplier with gemmlowp's
# SaturatingRoundingDoublingHighMul and RoundingDivideByPOT), checked against
# kit.nn.quant running under MicroPython.

def _c_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _wrap32(v):
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def ref_mbqm(x, multiplier, shift):
    a = _wrap32(x * (1 << max(shift, 0)))
    if a == multiplier == INT32_MIN:
        high = INT32_MAX
    else:
        ab = a * multiplier
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        high = _wrap32(_c_div(ab + nudge, 1 << 31))
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if remainder > threshold else 0)


def ref_quantize_multiplier(real):
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = int(math.copysign(math.floor(abs(q) * (1 << 31) + 0.5), q))  # std::round
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def _f32(v):
    return float(np.float32(v))


def run_micropython(script, timeout=120):
    proc = subprocess.run([micropython(), "-c", "import sys\nsys.path.insert(0, %r)\n" % str(FIRMWARE) + script],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _requant_cases(rng):
    cases = []
    for _ in range(3000):
        shift = int(rng.integers(-31, 8)) if rng.random() < 0.9 else 0
        multiplier = int(rng.integers(1 << 30, 1 << 31))
        x = int(rng.integers(INT32_MIN, INT32_MAX, endpoint=True))
        if rng.random() < 0.5:
            # Results near the int8 range, where clamping hides nothing.
            target = float(rng.uniform(-300, 300))
            x = int(target * 2.0 ** (31 - shift) / multiplier)
            x = max(INT32_MIN, min(INT32_MAX, x + int(rng.integers(-3, 4))))
        if shift > 0:
            x >>= shift + 1  # TFLM's x * (1 << shift) must not overflow int32
        cases.append((x, multiplier, shift))
    for x in (INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX, 1 << 30, -(1 << 30)):
        for multiplier in (0, 1, 1 << 30, INT32_MAX):
            for shift in (-31, -30, -1, 0):
                cases.append((x, multiplier, shift))
    # Exact halves, where the two roundings decide.
    for shift in range(-12, 0):
        for k in range(-8, 9):
            cases.append((k << 15, 1 << 30, shift))
    return cases


def check_requantize(paths):
    """kit.nn.quant's requantization against TFLM's formula; `paths`: which
    products to force (True: one 64-bit word, False: 15-bit limbs, None:
    the interpreter's default). Returns quant.WIDE as the interpreter says."""
    rng = np.random.default_rng(3)
    cases = _requant_cases(rng)
    zero_point = 5
    script = """
from array import array
from kit.nn import quant
cases = %r
xs = array('i', [c[0] for c in cases])
params = quant.channel_params([c[1] for c in cases], [c[2] for c in cases])
print(','.join(str(quant.mbqm(*c)) for c in cases))
for wide in %r:
    out = bytearray(len(cases))
    clamp = quant.clamp_words(%d, -128, 127) if wide is None else quant.clamp_words(%d, -128, 127, wide)
    # one row of len(cases) channels: every case has its own multiplier
    quant.requantize(xs, out, 0, 1, len(cases), 0, params, 0, clamp)
    print(bytes(out).hex())
print(quant.WIDE)
""" % (cases, tuple(paths), zero_point, zero_point)
    lines = run_micropython(script).split()
    want = [ref_mbqm(*c) for c in cases]
    plain = [int(v) for v in lines[0].split(",")]
    assert plain == want
    # TFLM adds the output zero point in int32 (wrapping, as compiled) and clamps.
    clamped = np.array([max(-128, min(127, _wrap32(v + zero_point))) for v in want], np.int8)
    inside = sum(-128 < v + zero_point < 127 for v in want)
    assert inside > 1000  # the test reaches past the clamp
    for wide, line in zip(paths, lines[1:-1]):
        got = np.frombuffer(bytes.fromhex(line), np.int8)
        bad = np.flatnonzero(got != clamped)
        assert len(bad) == 0, "%s path: case %s gives %d, want %d" % (
            {True: "wide", False: "split", None: "default"}[wide], cases[bad[0]], got[bad[0]], clamped[bad[0]])
    return lines[-1] == "True"


def test_requantize_matches_tflm_formula():
    # Both products on x64 (64-bit products, and the 15-bit limbs of 32-bit boards).
    assert check_requantize([True, False])  # the x64 Unix port takes the 64-bit path by default


def test_requantize_rows_layout():
    # Rows x channels blocks land at `at + row * stride + channel` with each
    # channel's own multiplier, starting from channel k0.
    rng = np.random.default_rng(5)
    rows, cols, stride, k0, channels = 3, 4, 10, 2, 7
    mults = [int(m) for m in rng.integers(1 << 30, 1 << 31, size=channels)]
    shifts = [int(s) for s in rng.integers(-12, -6, size=channels)]
    acc = [int(v) for v in rng.integers(-200000, 200000, size=rows * cols)]
    script = """
from array import array
from kit.nn import quant
out = bytearray(40)
quant.requantize(array('i', %r), out, 3, %d, %d, %d, quant.channel_params(%r, %r), %d, quant.clamp_words(-3, -100, 100))
print(bytes(out).hex())
""" % (acc, rows, cols, stride, mults, shifts, k0)
    got = np.frombuffer(bytes.fromhex(run_micropython(script).strip()), np.int8)
    want = np.zeros(40, np.int8)
    for r in range(rows):
        for j in range(cols):
            v = ref_mbqm(acc[r * cols + j], mults[k0 + j], shifts[k0 + j]) - 3
            want[3 + r * stride + j] = max(-100, min(100, v))
    assert got.tolist() == want.tolist()


def test_multipliers_match_tflm_formula():
    # TFLM computes in double from float32 scales; kit.nn does it with exact
    # integers (a board's floats may be single precision) and must agree.
    rng = np.random.default_rng(9)
    triples = []
    for _ in range(400):
        e = rng.integers(-20, 3, size=3)
        triples.append([_f32(rng.uniform(0.5, 1.0) * 2.0 ** int(k)) for k in e])
    triples += [[1.0, 1.0, 1.0], [0.5, 0.5, 0.25], [_f32(3e-10), _f32(1e-3), 1.0], [_f32(0.1), _f32(0.7), _f32(0.07)]]
    bits = [[struct.unpack("<I", struct.pack("<f", v))[0] for v in t] for t in triples]
    reals = [_f32(r) for r in rng.uniform(-1, 2, size=50)] + [1.0, 0.5, 2.0 ** -32, 0.9999999999]
    script = """
import struct
from kit.nn import quant
f = lambda b: struct.unpack('<f', struct.pack('<I', b))[0]
for a, b, c in %r:
    a, b, c = f(a), f(b), f(c)
    print(*quant.conv_multiplier(a, b, c), *quant.fc_multiplier(a, b, c))
for r in %r:
    print(*quant.quantize_multiplier(r))
""" % (bits, reals)
    lines = run_micropython(script).splitlines()
    for (a, b, c), line in zip(triples, lines):
        conv_m, conv_s, fc_m, fc_s = map(int, line.split())
        assert (conv_m, conv_s) == ref_quantize_multiplier(a * b / c), (a, b, c)
        assert (fc_m, fc_s) == ref_quantize_multiplier(float(np.float32(a) * np.float32(b)) / c), (a, b, c)
    for r, line in zip(reals, lines[len(triples):]):
        assert tuple(map(int, line.split())) == ref_quantize_multiplier(r), r


def test_activation_range_matches_tflm_formula():
    # CalculateActivationRangeQuantized: zero_point + round(f / scale) in float32.
    rng = np.random.default_rng(4)
    cases = [(int(a), _f32(rng.uniform(0.001, 0.2)), int(z))
             for a, z in zip(rng.integers(0, 4, size=300), rng.integers(-128, 128, size=300))]
    cases += [(3, _f32(6 / 255), -128), (1, 1.0, 127), (2, _f32(1 / 128), 0)]
    script = """
from kit.nn import quant
for act, scale, zp in %r:
    print(*quant.activation_range(act, scale, zp))
""" % (cases,)
    lines = run_micropython(script).splitlines()

    def quantize(f, scale, zp):
        v = float(np.float32(f) / np.float32(scale))  # the division in float32
        return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))  # std::round

    for (act, scale, zp), line in zip(cases, lines):
        lo, hi = -128, 127
        if act in (1, 3):
            lo = max(lo, quantize(0.0, scale, zp))
        if act == 3:
            hi = min(hi, quantize(6.0, scale, zp))
        if act == 2:
            lo, hi = max(lo, quantize(-1.0, scale, zp)), min(hi, quantize(1.0, scale, zp))
        assert tuple(map(int, line.split())) == (lo, hi), (act, scale, zp)


# ---- 32-bit machine words ---------------------------------------------------
# On an ESP32, viper integers are 32-bit words. A MicroPython Unix port built
# for a 32-bit target has the same words: from a MicroPython source tree, in
# ports/unix, with gcc-multilib installed:
#   make BUILD=build-32 CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 MICROPY_PY_FFI=0 \
#        MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_MBEDTLS=0 FROZEN_MANIFEST=
# and point JAZARI_MICROPYTHON32 at build-32/micropython to run this test.
MICROPYTHON32 = os.environ.get("JAZARI_MICROPYTHON32")


@pytest.mark.skipif(not MICROPYTHON32, reason="set JAZARI_MICROPYTHON32 to a 32-bit MicroPython Unix build")
def test_kernels_on_32bit_words(tmp_path, monkeypatch):
    import engine_runner

    monkeypatch.setattr(engine_runner, "micropython", lambda: MICROPYTHON32)
    monkeypatch.setitem(globals(), "micropython", lambda: MICROPYTHON32)
    assert not check_requantize([None])  # 32-bit words take the limbs by default
    rng = np.random.default_rng(12)
    for name in ("micro_speech_quantized", "person_detect"):
        for index, op_name, model in conformance_layers(name):
            assert_bit_exact(tmp_path, model, rng, mode="buffer", name="%s_%d.tflite" % (name, index))
    assert_bit_exact(tmp_path, depthwise_model(rng, multiplier=3, c=2, stride=(2, 2), dilation=(1, 2)), rng)
    assert_bit_exact(tmp_path, conv_model(rng, groups=2, c=4, k=6, dilation=(2, 1), padding=SAME), rng)
    path = CONFORMANCE / "person_detect.tflite"
    xs = _samples(rng, (1, 96, 96, 1), count=1)
    assert np.array_equal(run_engine(path, [xs], mode="file")[0], run_tflm(path, [xs])[0])
