"""The wheel carries what an installed kit must put on a board, and the `jazari` command."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# What a build from the tree leaves beside the sources, and what is not the project's.
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy: pip builds in the tree it is given, and a test never
    # writes inside the source tree.
    source = tmp_path_factory.mktemp("source") / "jazari-kit"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCES)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("jazari_kit-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_wheel_ships_board_files(wheel):
    names = set(wheel.namelist())
    for source in (REPO / "firmware").rglob("*.py"):
        assert "jazari/_firmware/" + source.relative_to(REPO / "firmware").as_posix() in names


def test_wheel_ships_catalogs_and_command(wheel):
    names = set(wheel.namelist())
    for po in (REPO / "host" / "jazari" / "i18n" / "locales").rglob("*.po"):
        assert "jazari/i18n/locales/" + po.relative_to(REPO / "host/jazari/i18n/locales").as_posix() in names
    (entry_points,) = [name for name in names if name.endswith("entry_points.txt")]
    assert "jazari = jazari.cli:main" in wheel.read(entry_points).decode()
