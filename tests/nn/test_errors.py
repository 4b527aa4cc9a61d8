"""Bad models and bad calls give one clear ValueError each, under MicroPython."""

from pathlib import Path

import numpy as np
import pytest

from engine_runner import EngineError, run_engine

REPO = Path(__file__).resolve().parents[2]
TFLM = REPO.parent / "shared" / "conformance" / "tflm"
BAD = Path(__file__).resolve().parent / "corpus" / "bad"


def engine_error(path, inputs, **kw):
    with pytest.raises(EngineError) as info:
        run_engine(path, inputs, **kw)
    return info.value.message


@pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")
def test_unsupported_op_is_named_with_its_index_and_the_supported_list():
    msg = engine_error(TFLM / "trained_lstm_int8.tflite", [np.zeros((1, 1, 28, 28), np.int8)])
    assert "unsupported op UNIDIRECTIONAL_SEQUENCE_LSTM at operator 0" in msg
    assert "CONV_2D" in msg and "SOFTMAX" in msg


@pytest.mark.skipif(not (BAD / "float_model.tflite").exists(), reason="the corpus has no float model")
def test_float_model_says_how_to_convert():
    msg = engine_error(BAD / "float_model.tflite", [np.zeros((1, 1), np.float32)])
    assert "float32" in msg and "TFLITE_BUILTINS_INT8" in msg and "representative_dataset" in msg


@pytest.mark.skipif(not (BAD / "int16x8_model.tflite").exists(), reason="the corpus has no int16 model")
def test_int16_model_says_how_to_convert():
    msg = engine_error(BAD / "int16x8_model.tflite", [np.zeros((1, 1), np.int16)])
    assert "int16" in msg and "TFLITE_BUILTINS_INT8" in msg


@pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")
def test_model_too_big_for_the_heap_gives_bytes_needed_and_free():
    # simple_add needs 48 KB of arena. Where the engine's own code leaves
    # less than that depends on the build's word size: try a few heaps.
    inputs = [np.zeros((1, 1, 128, 128, 1), np.int8)] * 2
    seen = []
    for heap in ("140K", "130K", "120K", "110K", "100K", "90K", "80K"):
        try:
            run_engine(TFLM / "simple_add_model.tflite", inputs, heap=heap)
            seen.append(heap + ": ran")
            continue
        except EngineError as e:
            msg = e.message
        seen.append(heap + ": " + msg[:80])
        if msg.startswith("model needs 49152 bytes of arena"):
            assert "this board has" in msg and "bytes free" in msg
            return
    pytest.fail("no heap gave the too-big message: %s" % seen)


@pytest.mark.skipif(not TFLM.is_dir(), reason="../shared/conformance/tflm is not beside the repository")
def test_wrong_input_size_names_the_input_and_its_shape():
    # The runner feeds 100 bytes where micro_speech needs 1960.
    msg = engine_error(TFLM / "micro_speech_quantized.tflite", [np.zeros((1, 100), np.int8)])
    assert msg == "input 0 needs 1960 bytes (int8 [1, 1960]), got 100"
