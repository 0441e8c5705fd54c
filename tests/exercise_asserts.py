"""Assertions shared by the chapters' exercise tests."""

import re
from collections.abc import Callable
from typing import Any

import pytest

from scratchformer_course import assert_agrees, check, get_task


def assert_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    """A plausible wrong solution fails check ``name``, the message shows the hint, and
    ``assert_agrees`` raises for it."""
    result = check(name, wrong, verbose=False)
    assert not result.passed
    assert "❌" in result.message and get_task(name).hint in result.message
    with pytest.raises(AssertionError, match=re.escape(name)):
        assert_agrees(wrong, name)
