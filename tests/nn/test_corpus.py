"""The engine on its own corpus (tests/nn/corpus/, made by tools/make_engine_corpus.py).

For every model the engine, run under the real MicroPython, must give the
stored tflite-micro outputs on every value. A second check reruns the pinned
tflite-micro on the stored inputs, so a drifted oracle is caught here rather
than blamed on the engine.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
TOOLS = HERE.parent.parent / "tools"
for folder in (HERE, TOOLS):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
MODELS = [m for m in MANIFEST["models"] if not m["bad"]]


def load_samples(model):
    """(inputs, outputs): lists of arrays, each with a leading sample axis."""
    with np.load(CORPUS / model["data"]) as data:
        inputs = [data["input_%d" % k] for k in range(len(model["inputs"]))]
        outputs = [data["output_%d" % k] for k in range(len(model["outputs"]))]
    return inputs, outputs


def assert_bit_exact(got, want, who):
    assert len(got) == len(want), "%s gave %d outputs, expected %d" % (who, len(got), len(want))
    for k, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        assert g.dtype == w.dtype, "%s output %d: dtype %s, expected %s" % (who, k, g.dtype, w.dtype)
        assert g.shape == w.shape, "%s output %d: shape %s, expected %s" % (who, k, g.shape, w.shape)
        differ = g != w
        if differ.any():
            first = tuple(int(i) for i in np.argwhere(differ)[0])
            largest = np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))
            pytest.fail("%s output %d: %d of %d values differ (largest difference %g), "
                        "first at %s: got %s, expected %s"
                        % (who, k, int(differ.sum()), g.size, largest, first, g[first], w[first]))


@pytest.mark.parametrize("model", MODELS, ids=[m["name"] for m in MODELS])
def test_engine_is_bit_exact_with_tflite_micro(model):
    from engine_runner import run_engine

    inputs, expected = load_samples(model)
    got = run_engine(str(CORPUS / model["file"]), inputs)
    assert_bit_exact(got, expected, "engine on " + model["name"])


@pytest.mark.parametrize("model", MODELS, ids=[m["name"] for m in MODELS])
def test_stored_outputs_still_match_the_pinned_oracle(model):
    from make_engine_corpus import reference_outputs

    inputs, expected = load_samples(model)
    got = reference_outputs(CORPUS / model["file"], inputs, len(expected))
    assert_bit_exact(got, expected, "tflite-micro on " + model["name"])
