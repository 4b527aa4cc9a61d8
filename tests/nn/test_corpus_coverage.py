"""The corpus covers every op the engine registers and every option the engine
issue lists, and its manifest tells the truth about the committed files.

Ops and options are read back from the .tflite files themselves (with
tflite-micro's schema), never taken from the manifest on trust.
"""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parent.parent
REGISTRY = REPO / "firmware" / "kit" / "nn" / "ops" / "__init__.py"
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))

from make_engine_corpus import REQUIRED_FEATURES, coverage_map, describe_model  # noqa: E402

MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
MODELS = MANIFEST["models"]
GOOD = [m for m in MODELS if not m["bad"]]
MAX_CORPUS_BYTES = 300 * 1024

# The ops the engine issue (issue 3, "What to build", item 2) asks for.
ISSUE_OPS = """CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED MAX_POOL_2D AVERAGE_POOL_2D MEAN
ADD SUB MUL CONCATENATION PAD RESHAPE EXPAND_DIMS SQUEEZE SHAPE PACK STRIDED_SLICE
SOFTMAX LOGISTIC TANH RELU RELU6 LEAKY_RELU HARD_SWISH QUANTIZE DEQUANTIZE""".split()


def described(model):
    return describe_model((CORPUS / model["file"]).read_bytes())


def covered_features():
    return {f for m in GOOD for f in described(m)["features"]}


def registered_ops():
    """Op names keyed in the engine's OPS registry (read as text: it is firmware code)."""
    text = REGISTRY.read_text()
    block = re.search(r"^OPS\s*=\s*\{(.*?)^\}", text, re.S | re.M)
    assert block, "no `OPS = {...}` table found in %s" % REGISTRY
    names = re.findall(r"^\s*(?:\w+\.)?([A-Z][A-Z0-9_]*)\s*:", block.group(1), re.M)
    assert names, "no op names found in the OPS table of %s" % REGISTRY
    return names


@pytest.mark.parametrize("model", MODELS, ids=[m["name"] for m in MODELS])
def test_manifest_matches_the_committed_file(model):
    real = described(model)
    for key in ("inputs", "outputs", "ops", "operators", "features"):
        assert model[key] == real[key], "manifest %s of %s is stale: rerun tools/make_engine_corpus.py" % (key, model["name"])


def test_every_registered_op_is_covered():
    if not REGISTRY.exists():
        pytest.skip("engine op registry not written yet: %s" % REGISTRY.relative_to(REPO))
    covered = covered_features()
    missing = [op for op in registered_ops() if op not in covered]
    # LSTM is registered for a later release and is not part of this corpus' brief.
    missing = [op for op in missing if op != "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert not missing, "registered ops with no corpus model: %s" % ", ".join(missing)


def test_every_op_of_the_issue_is_covered():
    covered = covered_features()
    missing = [op for op in ISSUE_OPS if op not in covered]
    assert not missing, "ops with no corpus model: %s" % ", ".join(missing)


def test_every_required_option_is_covered():
    covered = covered_features()
    missing = [f for f in REQUIRED_FEATURES if f not in covered]
    assert not missing, "options with no corpus model: %s" % ", ".join(missing)
    assert MANIFEST["not_covered"] == []
    real = [dict(m, features=described(m)["features"]) for m in MODELS]
    assert MANIFEST["coverage"] == coverage_map(real)


@pytest.mark.parametrize("model", GOOD, ids=[m["name"] for m in GOOD])
def test_samples_fit_the_model_and_outputs_carry_signal(model):
    real = described(model)
    with np.load(CORPUS / model["data"]) as data:
        for k, spec in enumerate(real["inputs"]):
            x = data["input_%d" % k]
            assert x.shape == (model["samples"],) + tuple(spec["shape"])
            assert x.dtype == np.dtype(spec["dtype"])
        for k, spec in enumerate(real["outputs"]):
            y = data["output_%d" % k]
            assert y.shape == (model["samples"],) + tuple(spec["shape"])
            assert y.dtype == np.dtype(spec["dtype"])
            # a constant output would let a broken kernel pass unnoticed
            assert len(np.unique(y)) > 1, "output %d of %s is constant" % (k, model["name"])


def test_bad_models_are_what_the_error_tests_need():
    bad = {m["name"]: described(m) for m in MODELS if m["bad"]}
    assert set(bad) == {"bad/float_model", "bad/int16x8_model"}
    float_model = bad["bad/float_model"]
    assert float_model["inputs"][0]["dtype"] == "float32"
    assert "QUANTIZE" not in float_model["ops"]
    assert "CONV_2D weights=float" in float_model["features"]
    assert bad["bad/int16x8_model"]["inputs"][0]["dtype"] == "int16"


def test_corpus_stays_small():
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert size < MAX_CORPUS_BYTES, "corpus is %d bytes" % size
