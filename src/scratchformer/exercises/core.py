"""Checkers that test a function against a reference on random inputs.

One mechanism serves two jobs:

* **Exercises.** A reader writes a function; ``check("ch01.logsumexp", my_fn)`` runs it
  and the reference on many seeded random inputs and prints a friendly pass/fail that
  says which input broke it.
* **Notebook/package agreement.** A notebook builds a piece in the open, then calls
  ``assert_agrees(softmax, "scratchformer.functional.softmax")`` so the notebook's version
  and the package's version cannot drift apart without a test failing.

A :class:`Task` pairs a reference with a generator of random inputs. Chapters register
their tasks in ``scratchformer.exercises.chNN`` modules.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

Inputs = tuple[tuple[Any, ...], dict[str, Any]]


def random_int(generator: torch.Generator, low: int, high: int) -> int:
    """A uniform random integer in ``[low, high]`` (both ends included), drawn from
    ``generator``: what the chapters' ``make_inputs`` use to pick sizes."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def close(expected: Any, actual: Any, *, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Recursive equality: tensors/arrays by shape and ``allclose``, containers by item."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            actual = torch.as_tensor(np.asarray(actual))
        if tuple(expected.shape) != tuple(actual.shape):
            return False
        e, a = expected.detach().double(), actual.detach().double()
        return bool(torch.allclose(e, a, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(expected, np.ndarray):
        actual = np.asarray(actual)
        return expected.shape == actual.shape and bool(
            np.allclose(expected, actual, rtol=rtol, atol=atol, equal_nan=True)
        )
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, Mapping)
            and expected.keys() == actual.keys()
            and all(close(expected[k], actual[k], rtol=rtol, atol=atol) for k in expected)
        )
    if isinstance(expected, Sequence) and not isinstance(expected, (str, bytes)):
        return (
            isinstance(actual, Sequence)
            and not isinstance(actual, (str, bytes))
            and len(expected) == len(actual)
            and all(close(e, a, rtol=rtol, atol=atol) for e, a in zip(expected, actual))
        )
    return bool(expected == actual)


def describe(value: Any, limit: int = 80) -> str:
    """A short human-readable description of an input or output value."""
    if isinstance(value, torch.Tensor):
        text = (
            f"tensor(shape={tuple(value.shape)}, dtype={str(value.dtype).removeprefix('torch.')})"
        )
        if value.numel() <= 6:
            text += f" = {value.tolist()}"
        return text
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Task:
    """A reference function and a way to draw random inputs for it.

    Attributes:
        name: registry key, e.g. ``"ch01.logsumexp"`` or a package path such as
            ``"scratchformer.functional.softmax"``.
        reference: the function whose outputs count as correct.
        make_inputs: ``make_inputs(generator) -> (args, kwargs)``; must use only the
            given ``torch.Generator`` for randomness so every trial is reproducible.
        trials: how many random inputs to try.
        compare: ``compare(expected, actual) -> bool``.
        hint: one sentence shown when the check fails.
    """

    name: str
    reference: Callable[..., Any]
    make_inputs: Callable[[torch.Generator], Inputs]
    trials: int = 25
    compare: Callable[[Any, Any], bool] = close
    hint: str = ""


@dataclass
class CheckResult:
    """Outcome of :func:`check`; truthy when the function passed every trial."""

    name: str
    passed: bool
    trials_run: int
    message: str = field(repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to the registry (a name may be registered only once)."""
    if task.name in _REGISTRY and _REGISTRY[task.name] is not task:
        raise ValueError(f"a check named {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    """Look up a registered task by name, with a helpful error for typos."""
    from scratchformer import exercises  # noqa: F401  (importing registers every chapter)

    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"no check named {name!r}; known checks: {known}") from None


def registered_names() -> list[str]:
    """All registered task names, sorted."""
    from scratchformer import exercises  # noqa: F401

    return sorted(_REGISTRY)


def check(name: str, fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True) -> CheckResult:
    """Run ``fn`` and the reference of task ``name`` on seeded random inputs.

    Each trial draws fresh inputs, gives each function its own deep copy (so in-place
    edits cannot leak between them), and compares the results. Stops at the first
    mismatch or exception and explains it.

    Returns:
        A :class:`CheckResult`; its message is also printed when ``verbose``.
    """
    task = get_task(name)
    result = _run(task, fn, seed)
    if verbose:
        print(result.message)
    return result


def assert_agrees(fn: Callable[..., Any], name: str, *, seed: int = 0) -> None:
    """Assert that ``fn`` (a notebook's version) agrees with the registered reference.

    Prints one line on success; raises ``AssertionError`` with the explanation otherwise.
    """
    result = _run(get_task(name), fn, seed)
    if not result.passed:
        raise AssertionError(result.message)
    print(f"✓ agrees with {name} on {result.trials_run} random inputs")


def _run(task: Task, fn: Callable[..., Any], seed: int) -> CheckResult:
    for trial in range(task.trials):
        generator = torch.Generator().manual_seed(seed * 100_003 + trial)
        args, kwargs = task.make_inputs(generator)
        expected = task.reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        shown = ", ".join(
            [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
        )
        try:
            actual = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception as error:  # noqa: BLE001 -- the reader's code may raise anything
            return _failure(
                task, trial, f"it raised {type(error).__name__}: {error}\n   input: {shown}"
            )
        if not task.compare(expected, actual):
            return _failure(
                task,
                trial,
                f"input: {shown}\n   expected: {describe(expected)}\n   got:      {describe(actual)}",
            )
    message = f"✅ {task.name}: passed all {task.trials} random tests."
    return CheckResult(task.name, True, task.trials, message)


def _failure(task: Task, trial: int, detail: str) -> CheckResult:
    message = f"❌ {task.name}: failed on random test {trial + 1} of {task.trials}.\n   {detail}"
    if task.hint:
        message += f"\n   hint: {task.hint}"
    return CheckResult(task.name, False, trial + 1, message)
