"""Mutate .tflite models and count what every place that reads them does.

    python tools/fuzz_models.py [--mutants 2000] [--seed 1] [--places engine,oracle,host] [--jobs 2] [MODEL ...]

Each mutant is a seed model changed at the byte level (a bit flipped, a
hostile word written, the file cut, bytes zeroed) or through the schema (a
shape, type, scale, zero point, option, buffer offset or size, operator or
tensor index, vector length such as the subgraph count: schema_sites()).
Places, each one process running many mutants in a row (restarted after a
crash or a hang, 30 s a mutant):

- engine: kit.nn under the real MicroPython, loaded from a bytes buffer
  (RAM) and streamed from the file; each must run or raise one ValueError,
  and both must agree (same refusal or same outputs);
- oracle: tflite-micro, the reference, asked about the mutants the engine
  or the host ran (its crashes are counted, not faults:
  they are what `jazari model verify` must turn into one line; "unreadable":
  its Python package could not read the whole flatbuffer, in tables the C++
  interpreter and the engine never read, so that is no refusal by the
  interpreter);
- host: `jazari model info`, `model run` (on the seed model's inputs) and
  `model verify` (each to the point where it would reach a board, the
  oracle in verify's child process included).

Faults: a traceback or a non-ValueError, a signal or a hang in our code, a
mutant the engine runs that tflite-micro refuses, RAM and streamed results
that differ. Faulty mutants are written to a temporary folder named at the
end; the exit status is 1 when there is any.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from fuzz_places import KINDS, PLACES, run_place, seed_run_options  # noqa: E402
from fuzz_sites import mutate, schema_sites  # noqa: E402

SEEDS = sorted((REPO.parent / "shared" / "conformance" / "tflm").glob("*.tflite")) + sorted(
    (REPO / "tests" / "nn" / "corpus").glob("*.tflite"))


def make_mutants(seed_path, count, seed, folder):
    """`count` mutant files of `seed_path` in `folder`; their paths."""
    import random

    rng = random.Random(f"{seed}:{seed_path.name}")
    data = seed_path.read_bytes()
    sites = schema_sites(data)
    paths = []
    for index in range(count):
        mutant = mutate(data, rng, sites)
        path = folder / f"{seed_path.stem}-{index:05d}.tflite"
        path.write_bytes(mutant)
        paths.append(path)
    return paths


def faults(outcomes):
    """{path: why} for every mutant whose outcomes break the rules."""
    found = {}
    for path, by_place in outcomes.items():
        engine, oracle, host = by_place.get("engine"), by_place.get("oracle"), by_place.get("host")
        for place, outcome in by_place.items():
            if outcome.kind in ("traceback", "crash", "hang") and place != "oracle":
                found[path] = f"{place}: {outcome.kind} {outcome.detail}"
        if engine and engine.kind == "differ":
            found[path] = f"engine: RAM and streamed differ: {engine.detail}"
        if engine and engine.kind == "ran" and oracle and oracle.kind in ("refused", "crash", "hang"):
            found[path] = f"engine ran a model tflite-micro refuses ({oracle.kind}: {oracle.detail})"
        if host and host.kind == "ran" and oracle and oracle.kind in ("refused", "crash", "hang"):
            found[path] = f"host verified a model tflite-micro refuses ({oracle.kind}: {oracle.detail})"
    return found


def table(outcomes, places, seeds):
    """Rows: per seed model and place, how many mutants ended each way."""
    kinds = KINDS + ("crash", "hang")
    lines = ["%-34s %-7s" % ("model", "place") + "".join("%11s" % kind for kind in kinds)]
    for seed in seeds:
        for place in places:
            counts = Counter(by_place[place].kind for path, by_place in outcomes.items()
                             if path.name.startswith(seed.stem + "-") and place in by_place)
            lines.append("%-34s %-7s" % (seed.name[:34], place) + "".join("%11d" % counts[kind] for kind in kinds))
    return "\n".join(lines)


def fuzz(seeds, mutants, seed, places, folder, log=print, jobs=2):
    """(outcomes {path: {place: Outcome}}, faults {path: why}) for `mutants` mutants of each seed;
    `jobs` workers at once (each a process: threads only wait for them).

    tflite-micro's verdict only matters for a mutant the engine or the host
    ran (anything else is refused already), so with either of them in
    `places` the oracle is asked about those alone, afterwards: it is the
    slowest place (a crash restarts its worker, a hang costs 30 s)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(seed_path, place, paths):
        started = time.monotonic()
        found = run_place(place, paths, run_options[seed_path]) if paths else {}
        log("%s: %d mutants, %s in %.0f s" % (seed_path.name, len(paths), place, time.monotonic() - started))
        return place, found

    def run_all(runs):
        for run in [pool.submit(one, *args) for args in runs]:
            place, found = run.result()
            for path, outcome in found.items():
                outcomes.setdefault(path, {})[place] = outcome

    made = {seed_path: make_mutants(seed_path, mutants, seed, folder) for seed_path in seeds}
    run_options = {seed_path: seed_run_options(seed_path, folder) if "host" in places else [] for seed_path in seeds}
    first = [place for place in places if place != "oracle"]
    outcomes = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        run_all([(seed_path, place, paths) for seed_path, paths in made.items() for place in first])
        if "oracle" in places:
            run_all([(seed_path, "oracle", [path for path in paths if not first or any(
                outcome.kind == "ran" for outcome in outcomes.get(path, {}).values())])
                for seed_path, paths in made.items()])
    return outcomes, faults(outcomes)


def keep_findings(found, folder):
    """Copy each faulty mutant, with why, to a new temporary folder; its path."""
    kept = Path(tempfile.mkdtemp(prefix="jazari-fuzz-findings-"))
    for path, why in found.items():
        (kept / path.name).write_bytes(path.read_bytes())
        (kept / (path.name + ".txt")).write_text(why + "\n")
    return kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="seed .tflite files (default: conformance and corpus)")
    parser.add_argument("--mutants", type=int, default=2000, help="mutants per model")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--places", default=",".join(PLACES), help="comma-separated: " + ", ".join(PLACES))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes at once")
    args = parser.parse_args(argv)
    places = [place for place in args.places.split(",") if place]
    seeds = args.models or SEEDS
    with tempfile.TemporaryDirectory(prefix="jazari-fuzz-") as folder:
        started = time.monotonic()
        outcomes, found = fuzz(seeds, args.mutants, args.seed, places, Path(folder), jobs=args.jobs)
        print(table(outcomes, places, seeds))
        print("%d mutants in %.0f s, %d faults" % (len(outcomes), time.monotonic() - started, len(found)))
        if found:
            kept = keep_findings(found, Path(folder))
            for path, why in list(found.items())[:20]:
                print("  %s: %s" % (path.name, why))
            print("faulty mutants kept in %s" % kept)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
