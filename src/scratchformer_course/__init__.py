"""Auto-checked exercises and notebook/package agreement checks.

``check(name, fn)`` tests a reader's function: it shows where a wrong answer first differs,
says "not written yet" for an untouched stub, and grades its hints by repeated failures.
``assert_agrees(fn, name)`` proves a notebook's version of a function equals the package's.
Each chapter registers its tasks in its own module (``ch01``, ``ch02``, ...), imported here.
"""

from scratchformer_course.core import (
    CheckResult,
    Task,
    assert_agrees,
    check,
    close,
    first_difference,
    forget_failures,
    get_task,
    is_stub,
    register,
    registered_names,
)

__all__ = [
    "CheckResult",
    "Task",
    "assert_agrees",
    "check",
    "close",
    "first_difference",
    "forget_failures",
    "get_task",
    "is_stub",
    "register",
    "registered_names",
]
