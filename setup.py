"""Packaging glue that pyproject.toml cannot say alone.

The wheel carries the board's files (firmware/, lessons/, models/) inside the
`jazari` package, as `jazari._firmware`, `jazari._lessons` and
`jazari._models`, so an installed kit can put them on a board.
"""

from setuptools import find_namespace_packages, find_packages, setup

BOARD_FILES = {"jazari._firmware": "firmware", "jazari._lessons": "lessons", "jazari._models": "models"}


def board_packages():
    # Every folder of the board's files, named as a package, so setuptools
    # ships them all (and does not warn about each one it would otherwise skip).
    for package, folder in BOARD_FILES.items():
        yield package
        yield from (f"{package}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"]))


setup(
    packages=find_packages("host") + find_namespace_packages("host", include=["jazari.i18n.locales.*"]) + list(board_packages()),
    package_dir={"": "host", **BOARD_FILES},
    package_data={"": ["**/*"]},
    include_package_data=True,
)
