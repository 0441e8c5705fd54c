"""The package, tests and benchmarks pass ruff (lint and format) and the package passes mypy.

Both run from the same environment as the tests (they are pinned in requirements/lock.txt),
so a style or typing slip fails ``make test`` like any other regression. The notebooks are
left to nbval: a chapter may define a learner's function twice (stub, then solution).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = ["src", "tests", "bench"]


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", *CODE], ["ruff", "format", "--check", *CODE], ["mypy"]],
    ids=["ruff check", "ruff format", "mypy"],
)
def test_the_code_is_clean(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} found problems:\n{done.stdout}{done.stderr}"
