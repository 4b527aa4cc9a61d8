"""tools/fuzz_models.py on a sample of mutants of every seed model at hand
(the corpus always; the conformance models where ../shared is beside the
repository): the engine under MicroPython, tflite-micro and the `jazari`
command must show no fault (fuzz_models.faults). The full run, 2,000 mutants
a model, is the tool's own (numbers in docs/engine.md); `slow` runs more.
"""

import random
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import fuzz_models  # noqa: E402
import fuzz_places  # noqa: E402
from fuzz_sites import mutate, schema_sites  # noqa: E402

from jazari.errors import JazariError  # noqa: E402
from jazari.nn import oracle  # noqa: E402

FINDINGS = Path(__file__).resolve().parent / "fuzz_findings"


def fuzz_all(tmp_path, mutants):
    outcomes, found = fuzz_models.fuzz(fuzz_models.SEEDS, mutants, 11, fuzz_models.PLACES, tmp_path, log=lambda *a: None)
    assert len(outcomes) == mutants * len(fuzz_models.SEEDS)
    if found:
        kept = fuzz_models.keep_findings(found, tmp_path)
        pytest.fail("%d faulty mutants, kept in %s:\n%s" % (len(found), kept, "\n".join(
            "%s (starts %s): %s" % (path.name, path.read_bytes()[:32].hex(), why) for path, why in list(found.items())[:10])))
    return outcomes


def test_a_sample_of_mutants_of_every_model_is_refused_or_run_right(tmp_path):
    outcomes = fuzz_all(tmp_path, 4)
    # The sample reaches both ways out: some mutants run, some are refused, in the engine and the host.
    for place in ("engine", "host"):
        kinds = {by_place[place].kind for by_place in outcomes.values()}
        assert {"ran", "refused"} <= kinds, (place, kinds)
    # The host's `model run` reaches the board's port with some of them, as verify does.
    ran_to_port = [by_place["host"].detail.split(" | ")[0] for by_place in outcomes.values()]
    assert any(fuzz_places.NO_BOARD in said for said in ran_to_port)
    # tflite-micro is asked about what they ran, and about nothing both refused.
    asked = {path for path, by_place in outcomes.items() if "oracle" in by_place}
    ran = {path for path, by_place in outcomes.items() if "ran" in (by_place["engine"].kind, by_place["host"].kind)}
    assert asked == ran and any(outcomes[path]["oracle"].kind == "ran" for path in asked)


@pytest.mark.slow
def test_many_mutants_of_every_model_are_refused_or_run_right(tmp_path):
    fuzz_all(tmp_path, 100)


def test_schema_mutations_reach_every_kind_of_field():
    data = (REPO / "tests" / "nn" / "corpus" / "mobilenet_tiny.tflite").read_bytes()
    kinds = {kind for kind, _at, _width in schema_sites(data)}
    assert kinds >= {"shape", "type", "scale", "zero_point", "option", "buffer", "index", "tensor", "length", "opcode"}
    rng = random.Random(3)
    mutants = [mutate(data, rng) for _ in range(50)]
    # Most change the file (a value written may be the one already there) and few coincide.
    assert sum(mutant != data for mutant in mutants) >= 45 and len(set(mutants)) >= 45


def test_a_crash_inside_tflite_micro_is_one_line():
    # A fuzz finding on which tflite-micro's own process dies (SIGSEGV) while loading.
    data = next(FINDINGS.glob("tflm-crash-*.tflite")).read_bytes()
    with pytest.raises(JazariError) as crashed:
        oracle.outputs(data, 1 << 20, [np.zeros((1, 1, 12), np.int8)], 1)
    assert crashed.value.message == (
        "tflite-micro crashed on the model (SIGSEGV): the file is corrupt or not a model it can run.")
