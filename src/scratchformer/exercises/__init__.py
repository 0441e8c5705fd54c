"""Auto-checked exercises and notebook/package agreement checks.

``check(name, fn)`` tests a reader's function; ``assert_agrees(fn, name)`` proves a
notebook's version of a function equals the package's. Each chapter registers its tasks
in its own module (``ch01``, ``ch02``, ...), imported here.
"""

from scratchformer.exercises.core import (
    CheckResult,
    Task,
    assert_agrees,
    check,
    close,
    get_task,
    register,
    registered_names,
)

__all__ = [
    "CheckResult",
    "Task",
    "assert_agrees",
    "check",
    "close",
    "get_task",
    "register",
    "registered_names",
]
from scratchformer.exercises import ch01  # noqa: E402,F401  (registers chapter 1 checks)
from scratchformer.exercises import ch02  # noqa: E402,F401  (registers chapter 2 checks)
from scratchformer.exercises import ch03  # noqa: E402,F401  (registers chapter 3 checks)
from scratchformer.exercises import ch04  # noqa: E402,F401  (registers chapter 4 checks)
from scratchformer.exercises import ch05  # noqa: E402,F401  (registers chapter 5 checks)
from scratchformer.exercises import ch06  # noqa: E402,F401  (registers chapter 6 checks)
