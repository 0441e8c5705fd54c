"""Checkers that test a function against a reference on random inputs.

One mechanism serves two jobs:

* **Exercises.** A reader writes a function; ``check("ch01.logsumexp", my_fn)`` runs it
  and the reference on many seeded random inputs and prints a friendly pass/fail that
  says which input broke it and where the answer first differs (index, expected, got).
  An untouched stub (a body of ``...``, or a function that returns ``None``) gets a
  "not written yet" message instead of an error from deep inside the comparison. Hints
  are graded: the first failure shows a nudge, each repeated failure of the same check
  reveals the next, more specific hint (the formula last), then points at the solution.
* **Notebook/package agreement.** A notebook builds a piece in the open, then calls
  ``assert_agrees(softmax, "scratchformer.functional.softmax")`` so the notebook's version
  and the package's version cannot drift apart without a test failing.

A :class:`Task` pairs a reference with a generator of random inputs. Chapters register
their tasks in ``scratchformer_course.chNN`` modules.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import math
import textwrap
import warnings
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
        hint: the nudge, shown on every failure: where to look, not yet the answer.
        more_hints: increasingly specific hints (the formula last); :func:`check` reveals
            one more after each repeated failure of the same check. Without them a
            repeated failure points at the solution instead.
    """

    name: str
    reference: Callable[..., Any]
    make_inputs: Callable[[torch.Generator], Inputs]
    trials: int = 25
    compare: Callable[[Any, Any], bool] = close
    hint: str = ""
    more_hints: tuple[str, ...] = ()


@dataclass
class CheckResult:
    """Outcome of :func:`check`; truthy when the function passed every trial.

    ``stub`` marks a function not written yet (a stub body, or ``None`` returned): such a
    failure reveals no further hints.
    """

    name: str
    passed: bool
    trials_run: int
    message: str = field(repr=False)
    stub: bool = False

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


_REGISTRY: dict[str, Task] = {}
_FAILURES: dict[str, int] = {}  # failed checks in a row, per task name: how many hints to show

NOT_WRITTEN = "not written yet: replace `...` with your code."


CHAPTERS = tuple(f"ch{number:02d}" for number in range(1, 11))


def _register_chapters() -> None:
    """Import every chapter's module (once): importing one registers its checks. Done on
    first use, so ``import scratchformer_course`` itself stays cheap."""
    with warnings.catch_warnings():
        # Some checkers import the data layer, whose `datasets` pulls in tqdm.auto; in a
        # notebook without ipywidgets that warns, into whichever cell checks first.
        warnings.filterwarnings("ignore", message="IProgress not found")
        for chapter in CHAPTERS:
            importlib.import_module(f"scratchformer_course.{chapter}")


def register(task: Task) -> Task:
    """Add ``task`` to the registry (a name may be registered only once)."""
    if task.name in _REGISTRY and _REGISTRY[task.name] is not task:
        raise ValueError(f"a check named {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    """Look up a registered task by name, with a helpful error for typos."""
    _register_chapters()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"no check named {name!r}; known checks: {known}") from None


def registered_names() -> list[str]:
    """All registered task names, sorted."""
    _register_chapters()
    return sorted(_REGISTRY)


def check(name: str, fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True) -> CheckResult:
    """Run ``fn`` and the reference of task ``name`` on seeded random inputs.

    Each trial draws fresh inputs, gives each function its own deep copy (so in-place
    edits cannot leak between them), and compares the results. Stops at the first
    mismatch or exception and explains it. Failures of the same check in a row reveal
    the task's hints one by one (see :class:`Task`); a pass starts the count again.

    Returns:
        A :class:`CheckResult`; its message is also printed when ``verbose``.
    """
    task = get_task(name)
    failures = _FAILURES.get(name, 0)
    result = _run(task, fn, seed, hint_level=failures)
    _FAILURES[name] = 0 if result.passed else failures + (not result.stub)
    if verbose:
        print(result.message)
    return result


def forget_failures(name: str | None = None) -> None:
    """Start the graded hints of check ``name`` (of every check when ``None``) again from
    the nudge, as if it had never failed."""
    if name is None:
        _FAILURES.clear()
    else:
        _FAILURES.pop(name, None)


def assert_agrees(fn: Callable[..., Any], name: str, *, seed: int = 0) -> None:
    """Assert that ``fn`` (a notebook's version) agrees with the registered reference.

    Prints one line on success; raises ``AssertionError`` with the explanation otherwise
    (every hint included: this is for the author of a chapter, not a graded exercise).
    """
    task = get_task(name)
    result = _run(task, fn, seed, hint_level=len(task.more_hints))
    if not result.passed:
        raise AssertionError(result.message)
    print(f"✓ agrees with {name} on {result.trials_run} random inputs")


def is_stub(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an untouched exercise stub: a ``def`` whose body (after any
    docstring) is only ``...``, ``pass`` or ``raise NotImplementedError``.

    Functions without readable source (lambdas on a shared line, builtins, partials)
    count as written.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = tree.body[0].body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # a docstring
    if len(body) != 1:
        return False
    statement = body[0]
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return statement.value.value is Ellipsis
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


def first_difference(
    expected: Any, actual: Any, *, rtol: float = 1e-4, atol: float = 1e-5, at: str = ""
) -> str | None:
    """Where ``actual`` first differs from ``expected``, in words; ``None`` where
    :func:`close` finds no difference or a plain value was already shown whole.

    Tensors and arrays give the first differing index (row-major order) with both values
    and how many values differ; sequences and mappings are searched item by item, so a
    tensor inside a tuple is reported as ``[1][0, 2]``. ``at`` is the path so far.
    """
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        return _first_tensor_difference(expected, actual, rtol, atol, at)
    where = at or "the result"
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{where} is {describe(actual)}, expected a mapping"
        missing, extra = expected.keys() - actual.keys(), actual.keys() - expected.keys()
        if missing or extra:
            return (
                f"{where} has missing keys {sorted(map(repr, missing))}, "
                f"unexpected keys {sorted(map(repr, extra))}"
            )
        items = [(f"{at}[{key!r}]", expected[key], actual[key]) for key in expected]
        return _first_item_difference(items, rtol, atol)
    if isinstance(expected, Sequence) and not isinstance(expected, (str, bytes)):
        if not isinstance(actual, Sequence) or isinstance(actual, (str, bytes)):
            return f"{where} is {describe(actual)}, expected a {type(expected).__name__}"
        items = [(f"{at}[{i}]", e, a) for i, (e, a) in enumerate(zip(expected, actual))]
        first = _first_item_difference(items, rtol, atol)
        if len(expected) != len(actual):
            counted = f"{where} has {_items(len(actual))}, expected {len(expected)}"
            return f"{counted}; {first}" if first else counted
        return first
    if not at or close(expected, actual, rtol=rtol, atol=atol):
        return None
    return f"first difference at {at}: expected {describe(expected)}, got {describe(actual)}"


def _first_item_difference(
    items: Sequence[tuple[str, Any, Any]], rtol: float, atol: float
) -> str | None:
    """The first difference among ``(path, expected, actual)`` items, or ``None``."""
    for path, expected, actual in items:
        found = first_difference(expected, actual, rtol=rtol, atol=atol, at=path)
        if found:
            return found
    return None


def _items(n: int) -> str:
    """``"1 item"``, ``"3 items"``."""
    return f"{n} item" if n == 1 else f"{n} items"


def _first_tensor_difference(
    expected: torch.Tensor | np.ndarray, actual: Any, rtol: float, atol: float, at: str
) -> str | None:
    """:func:`first_difference` for a tensor or array ``expected``."""
    want = torch.as_tensor(expected).detach().cpu()
    try:
        got = torch.as_tensor(
            actual.detach() if isinstance(actual, torch.Tensor) else np.asarray(actual)
        ).cpu()
    except (TypeError, ValueError, RuntimeError):
        return f"{at or 'the result'} is {describe(actual)}, expected a tensor"
    if tuple(want.shape) != tuple(got.shape):
        return f"{at or 'the result'} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    try:
        differs = ~torch.isclose(got.double(), want.double(), rtol=rtol, atol=atol, equal_nan=True)
    except (TypeError, RuntimeError):
        return f"{at or 'the result'} is {describe(actual)}, which has no numbers to compare"
    if not bool(differs.any()):
        return None
    index = tuple(int(i) for i in differs.nonzero()[0])
    return (
        f"first difference at {at}[{', '.join(map(str, index))}]: expected "
        f"{_number(want[index])}, got {_number(got[index])} "
        f"({int(differs.sum())} of {differs.numel()} values differ)"
    )


def _number(value: torch.Tensor) -> str:
    """One element as a short string: floats to six significant digits."""
    item = value.item()
    return f"{item:.6g}" if isinstance(item, float) else repr(item)


def _run(task: Task, fn: Callable[..., Any], seed: int, hint_level: int) -> CheckResult:
    """Run the trials of ``task`` on ``fn``; ``hint_level`` is how many of the task's
    ``more_hints`` a failure reveals."""
    if is_stub(fn):
        return CheckResult(task.name, False, 0, f"❌ {task.name}: {NOT_WRITTEN}", stub=True)
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
            detail = f"it raised {type(error).__name__}: {error}\n   input: {shown}"
            return _failure(task, trial, detail, hint_level)
        if (actual is None or actual is Ellipsis) and expected is not None:
            detail = (
                f"it returned {actual!r}: {NOT_WRITTEN} If you did, check that every path "
                f"ends in a `return`.\n   input: {shown}"
            )
            return _failure(task, trial, detail, hint_level=None)
        try:
            agrees = task.compare(expected, actual)
        except Exception:  # noqa: BLE001 -- an answer of the wrong kind may break the comparison
            agrees = False
        if not agrees:
            detail = f"input: {shown}\n   expected: {describe(expected)}\n   got:      {describe(actual)}"
            difference = first_difference(expected, actual)
            if difference:
                detail += f"\n   {difference}"
            return _failure(task, trial, detail, hint_level)
    message = f"✅ {task.name}: passed all {task.trials} random tests."
    return CheckResult(task.name, True, task.trials, message)


def _failure(task: Task, trial: int, detail: str, hint_level: int | None) -> CheckResult:
    """The failure message: what went wrong, the nudge and ``hint_level`` more hints (once
    they are all shown, where a working version is). ``None``: no hints, since the function
    returned nothing and the formula would not help yet."""
    message = f"❌ {task.name}: failed on random test {trial + 1} of {task.trials}.\n   {detail}"
    if hint_level is None:
        return CheckResult(task.name, False, trial + 1, message, stub=True)
    hints = [hint for hint in (task.hint, *task.more_hints) if hint][: hint_level + 1]
    for number, hint in enumerate(hints, start=1):
        message += f"\n   hint{'' if number == 1 else f' {number}'}: {hint}"
    if hint_level > len(task.more_hints):
        message += f"\n   still stuck? {_where_the_answer_is(task.name)}"
    return CheckResult(task.name, False, trial + 1, message)


def _where_the_answer_is(name: str) -> str:
    """Where a reader who has seen every hint finds a working version."""
    if name.startswith("scratchformer."):
        return f"read the package's version, {name}."
    return (
        "the solution is in the hidden cell after the exercise (double-click it to show the code)."
    )
