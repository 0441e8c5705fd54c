"""Every registered check, whatever its chapter: sound references, reproducible inputs,
and names that the notebooks actually use.

Chapter files (``test_exercises_chNN.py``) add what is specific to their tasks: that
plausible wrong solutions are rejected and that independent correct ones pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from scratchformer_course import check, close, get_task, registered_names

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = [name for name in registered_names() if not name.startswith("test.")]


def same_inputs(first: Any, second: Any) -> bool:
    """Equal inputs: modules by state dict and config, generators by state, the rest by value."""
    if isinstance(first, nn.Module):
        return (
            type(first) is type(second)
            and getattr(first, "config", None) == getattr(second, "config", None)
            and close(first.state_dict(), second.state_dict(), rtol=0, atol=0)
        )
    if isinstance(first, torch.Generator):
        return torch.equal(first.get_state(), second.get_state())
    if isinstance(first, (tuple, list)):
        return len(first) == len(second) and all(same_inputs(a, b) for a, b in zip(first, second))
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(
            same_inputs(first[k], second[k]) for k in first
        )
    if callable(first):
        return first is second
    return close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_its_own_check_and_leaves_global_rng_alone(name: str) -> None:
    task = get_task(name)
    assert task.hint, "every check explains itself when it fails"
    before = torch.get_rng_state()
    assert check(name, task.reference, verbose=False).passed
    assert torch.equal(torch.get_rng_state(), before), "checks must draw only from their generator"


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_reproducible(name: str) -> None:
    task = get_task(name)
    first = task.make_inputs(torch.Generator().manual_seed(7))
    second = task.make_inputs(torch.Generator().manual_seed(7))
    assert same_inputs(first, second)


def _used_names(path: Path) -> set[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return set(re.findall(r'check\("([^"]+)"', code)) | set(
        re.findall(r'assert_agrees\([^)]*?"([^"]+)"\)', code)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_check_a_chapter_uses_is_registered(path: Path) -> None:
    used = _used_names(path)
    assert used, "a chapter uses at least one check"
    assert used <= set(NAMES), f"unknown checks: {sorted(used - set(NAMES))}"


def test_every_registered_check_is_used_by_a_chapter() -> None:
    used = set().union(*(_used_names(path) for path in NOTEBOOKS))
    assert set(NAMES) - used == set(), "a registered check no notebook uses is dead code"
