"""tflite-micro, the reference interpreter, in a child process.

tflite-micro's checks are C asserts: a hostile model can end the process
that loads it (SIGSEGV, SIGABRT, SIGFPE). So `jazari` never loads a model
into it in its own process: `outputs` runs this module as a child (`python
-m jazari.nn.oracle FOLDER`) on files in a temporary folder, and reads a
refusal, a signal or a hang as one translated line.
"""

import importlib.util
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from jazari.errors import JazariError
from jazari.i18n import _

REFUSED = 3  # the child's exit code when tflite-micro refuses the model (its reason on stderr)
LOAD_SECONDS = 60  # tflite-micro loads and plans a model well within this
SECONDS_PER_SAMPLE = 10  # and runs any model the kit can hold in this
_REASON_CHARS = 300  # of tflite-micro's own words, kept for the message


def available():
    return importlib.util.find_spec("tflite_micro") is not None


def outputs(data, arena, arrays, count):
    """`count` arrays, one per model output, [samples, *shape], as tflite-micro computes them."""
    if not available():
        raise JazariError(
            _("model verify needs tflite-micro, the reference interpreter: pip install 'jazari-kit[test]'"))
    with tempfile.TemporaryDirectory(prefix="jazari-oracle-") as folder:
        folder = Path(folder)
        (folder / "model.tflite").write_bytes(data)
        np.savez(folder / "inputs.npz", *arrays)
        samples = len(arrays[0]) if arrays else 0
        try:
            done = subprocess.run([sys.executable, "-m", "jazari.nn.oracle", str(folder), str(arena), str(count)],
                                  capture_output=True, text=True, timeout=LOAD_SECONDS + SECONDS_PER_SAMPLE * samples)
        except subprocess.TimeoutExpired:
            raise JazariError(_("tflite-micro did not finish on the model: it may be corrupt.")) from None
        if done.returncode < 0:
            raise JazariError(_("tflite-micro crashed on the model ({signal}): the file is corrupt or not a "
                                "model it can run.").format(signal=_signal_name(-done.returncode)))
        if done.returncode:
            reason = (done.stderr.strip().splitlines() or ["?"])[-1][:_REASON_CHARS]
            raise JazariError(_("tflite-micro could not load the model: {reason}").format(reason=reason))
        with np.load(folder / "outputs.npz") as found:
            return [found[f"arr_{index}"] for index in range(len(found.files))]


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _main(folder, arena, count):
    """The child: load, invoke every sample, write outputs.npz; exit REFUSED when tflite-micro refuses."""
    from tflite_micro.python.tflite_micro import runtime

    folder = Path(folder)
    with np.load(folder / "inputs.npz") as stored:
        arrays = [stored[f"arr_{index}"] for index in range(len(stored.files))]
    found = [[] for _unused in range(count)]
    try:
        interpreter = runtime.Interpreter.from_file(str(folder / "model.tflite"), arena_size=arena)
        for sample in range(len(arrays[0]) if arrays else 0):
            for index, array in enumerate(arrays):
                interpreter.set_input(array[sample], index)
            interpreter.invoke()
            for index, pieces in enumerate(found):
                pieces.append(np.array(interpreter.get_output(index)))
    except (RuntimeError, ValueError, IndexError) as failure:
        print(str(failure).replace("\n", " ").strip() or type(failure).__name__, file=sys.stderr)
        return REFUSED
    np.savez(folder / "outputs.npz", *[np.stack(pieces) for pieces in found])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
