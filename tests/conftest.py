"""Test options shared by the whole suite.

- `--port PORT`: a real board is attached there; tests marked `hardware` run
  against it (they are skipped otherwise, with that reason).
- `--runslow`: also run the exhaustive tests marked `slow` (CI runs the
  representative subset).
Virtual-board fixtures (`virtual_board`, `virtual_boards`) live in
sim_fixtures.py.
"""

import atexit
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

pytest_plugins = ["sim_fixtures"]

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO.parent / "shared" / "conformance" / "tflm"


# A run leaves the source tree as it found it: hypothesis keeps no example
# database (failures print their example) and its caches go to a temporary folder.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="jazari-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
settings.register_profile("jazari", database=None)
settings.load_profile("jazari")


# Tests press Ctrl-C on the commands they start. Run as a background job (`&`,
# some CI runners) the suite would inherit SIGINT ignored, and so would every
# command it starts: Python's own handler here makes theirs the default again.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--port", default=None, help="serial port of a real board for tests marked 'hardware'")
    parser.addoption("--runslow", action="store_true", help="also run the exhaustive tests marked 'slow'")


def pytest_collection_modifyitems(config, items):
    port = config.getoption("--port")
    runslow = config.getoption("--runslow")
    skip_hardware = pytest.mark.skip(reason="needs a real board: run with --port /dev/ttyUSB0")
    skip_slow = pytest.mark.skip(reason="exhaustive run: use --runslow")
    for item in items:
        if "hardware" in item.keywords and not port:
            item.add_marker(skip_hardware)
        if "slow" in item.keywords and not runslow:
            item.add_marker(skip_slow)


@pytest.fixture
def board_port(request):
    """The real board's port given with --port (tests using it are marked hardware)."""
    return request.config.getoption("--port")
