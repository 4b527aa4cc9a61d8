"""Test options shared by the whole suite.

- `--port PORT`: a real board is attached there; tests marked `hardware` run
  against it (they are skipped otherwise, with that reason).
- `--runslow`: also run the exhaustive tests marked `slow` (CI runs the
  representative subset).
Virtual-board fixtures (`virtual_board`, `virtual_boards`) live in
sim_fixtures.py.
"""

from pathlib import Path

import pytest

pytest_plugins = ["sim_fixtures"]

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO.parent / "shared" / "conformance" / "tflm"


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
