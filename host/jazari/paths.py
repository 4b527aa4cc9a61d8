"""Where the board's files are: the source tree, or inside the installed wheel."""

from importlib import resources
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _located(folder, package):
    source = _SOURCE_ROOT / folder
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and source.is_dir():
        return source
    return Path(str(resources.files(package)))


def firmware_dir():
    """The folder whose contents go on a board: boot.py, main.py, kit/."""
    return _located("firmware", "jazari._firmware")


def lessons_dir():
    return _located("lessons", "jazari._lessons")


def models_dir():
    return _located("models", "jazari._models")
