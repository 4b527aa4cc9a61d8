"""Packaging glue that pyproject.toml cannot say alone.

The wheel carries the board's files (firmware/, lessons/, models/) inside the
`jazari` package, as `jazari._firmware`, `jazari._lessons` and
`jazari._models`, so an installed kit can put them on a board.
"""

from setuptools import find_packages, setup

BOARD_FILES = {"jazari._firmware": "firmware", "jazari._lessons": "lessons", "jazari._models": "models"}

setup(
    packages=find_packages("host") + list(BOARD_FILES),
    package_dir={"": "host", **BOARD_FILES},
    package_data={"": ["**/*"]},
    include_package_data=True,
)
