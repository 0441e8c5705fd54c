import importlib.util

import numpy as np
import pytest
import torch

from scratchformer_course import (
    Task,
    assert_agrees,
    check,
    close,
    first_difference,
    forget_failures,
    is_stub,
    register,
)
from scratchformer_course.core import NOT_WRITTEN, describe


def _square_inputs(generator: torch.Generator):
    return (torch.randn(3, 4, generator=generator),), {}


SQUARE = register(
    Task("test.square", lambda x: x * x, _square_inputs, trials=5, hint="multiply x by itself")
)
GRADED = register(
    Task(
        "test.graded_square",
        lambda x: x * x,
        _square_inputs,
        trials=5,
        hint="look at what happens to a negative x",
        more_hints=("the answer is never negative", "return x * x"),
    )
)


@pytest.fixture(autouse=True)
def fresh_hints():
    """Every test starts with no failures remembered."""
    forget_failures()
    yield
    forget_failures()


def test_check_passes_a_correct_function(capsys):
    result = check("test.square", lambda x: x**2)
    assert result and result.trials_run == 5
    assert "passed all 5" in capsys.readouterr().out


def test_check_explains_a_wrong_function():
    result = check("test.square", lambda x: x * 2, verbose=False)
    assert not result
    assert "failed on random test 1" in result.message
    assert "shape=(3, 4)" in result.message and "hint: multiply" in result.message


def test_check_shows_the_first_differing_value():
    def wrong_in_one_place(x):
        y = x * x
        y[1, 2] += 1.0
        return y

    result = check("test.square", wrong_in_one_place, verbose=False)
    x = _square_inputs(torch.Generator().manual_seed(0))[0][0]
    expected = x[1, 2].item() ** 2
    line = next(line for line in result.message.splitlines() if "first difference" in line)
    assert line.strip() == (
        f"first difference at [1, 2]: expected {expected:.6g}, got {expected + 1:.6g} "
        "(1 of 12 values differ)"
    )


def test_check_names_a_wrong_shape():
    result = check("test.square", lambda x: (x * x).T, verbose=False)
    assert "the result has shape (4, 3), expected (3, 4)" in result.message


def test_check_reports_exceptions_instead_of_crashing():
    def broken(x):
        raise RuntimeError("boom")

    result = check("test.square", broken, verbose=False)
    assert not result and "RuntimeError: boom" in result.message


def test_an_answer_of_the_wrong_kind_is_a_failure_not_a_crash():
    result = check("test.square", lambda x: "sixteen", verbose=False)
    assert not result
    assert "got:      'sixteen'" in result.message
    assert "the result is 'sixteen', expected a tensor" in result.message


def test_an_untouched_stub_is_not_written_yet():
    def my_square(x: torch.Tensor) -> torch.Tensor:
        """Square every entry."""
        ...  # noqa: PIE790 -- the stub as a chapter writes it

    result = check("test.square", my_square, verbose=False)
    assert not result and result.stub and result.trials_run == 0
    assert result.message == f"❌ test.square: {NOT_WRITTEN}"
    assert "TypeError" not in result.message and "hint" not in result.message


def test_a_function_returning_none_is_not_written_yet():
    def forgot_return(x):
        x * x  # the mistake under test: no return

    result = check("test.square", forgot_return, verbose=False)
    assert not result and result.stub
    assert "it returned None: not written yet: replace `...` with your code." in result.message
    assert "`return`" in result.message and "TypeError" not in result.message


@pytest.mark.parametrize(
    ("source", "stub"),
    [
        ("def f(x):\n    ...\n", True),
        ("def f(x):\n    pass\n", True),
        ("def f(x):\n    'doc'\n    raise NotImplementedError\n", True),
        ("def f(x):\n    raise NotImplementedError('write me')\n", True),
        ("def f(x):\n    'doc'\n", False),  # a docstring alone returns None: caught later
        ("def f(x):\n    return x\n", False),
        ("def f(x):\n    raise ValueError\n", False),
    ],
)
def test_is_stub(source, stub, tmp_path):
    path = tmp_path / "exercise.py"  # inspect reads a function's source from its file
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"exercise_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert is_stub(module.f) is stub


def test_is_stub_accepts_functions_without_source():
    assert not is_stub(len) and not is_stub(lambda x: x)


def test_hints_are_graded_by_repeated_failures():
    def wrong(x):
        return 2 * x

    first = check("test.graded_square", wrong, verbose=False).message
    assert "hint: look at what happens" in first and "hint 2" not in first
    assert "the answer is never negative" not in first and "still stuck" not in first
    second = check("test.graded_square", wrong, verbose=False).message
    assert "hint 2: the answer is never negative" in second and "hint 3" not in second
    third = check("test.graded_square", wrong, verbose=False).message
    assert "hint 3: return x * x" in third and "still stuck" not in third
    fourth = check("test.graded_square", wrong, verbose=False).message
    assert "still stuck? the solution is in the hidden cell after the exercise" in fourth
    assert "hint: look at what happens" in fourth  # the nudge stays


def test_a_pass_or_forget_failures_starts_the_hints_again():
    check("test.graded_square", lambda x: 2 * x, verbose=False)
    check("test.graded_square", lambda x: x * x, verbose=False)
    assert "hint 2" not in check("test.graded_square", lambda x: 2 * x, verbose=False).message
    check("test.graded_square", lambda x: 2 * x, verbose=False)
    forget_failures("test.graded_square")
    assert "hint 2" not in check("test.graded_square", lambda x: 2 * x, verbose=False).message


def test_a_stub_does_not_use_up_hints():
    def stub(x): ...

    check("test.graded_square", stub, verbose=False)
    check("test.graded_square", lambda x: None, verbose=False)
    assert "hint 2" not in check("test.graded_square", lambda x: 2 * x, verbose=False).message


def test_a_check_without_more_hints_points_at_the_solution_when_repeated():
    first = check("test.square", lambda x: x * 2, verbose=False).message
    assert "still stuck" not in first
    second = check("test.square", lambda x: x * 2, verbose=False).message
    assert "hint: multiply x by itself" in second and "hint 2" not in second
    assert "still stuck? the solution is in the hidden cell" in second


def test_hints_are_counted_per_check():
    check("test.square", lambda x: x * 2, verbose=False)
    assert "hint 2" not in check("test.graded_square", lambda x: 2 * x, verbose=False).message


def test_functions_get_private_copies_of_inputs():
    def mutating(x):
        x.mul_(0)  # would corrupt the reference's input if it were shared
        return x

    assert not check("test.square", mutating, verbose=False)
    assert check("test.square", lambda x: x * x, verbose=False)


def test_assert_agrees_raises_on_disagreement_with_every_hint(capsys):
    assert_agrees(lambda x: x * x, "test.square")
    assert "agrees with test.square" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="failed") as raised:
        assert_agrees(lambda x: x + 1, "test.graded_square")
    assert "hint 3: return x * x" in str(raised.value)


def test_unknown_name_lists_known_checks():
    with pytest.raises(KeyError, match="test.square"):
        check("test.sqaure", lambda x: x)


def test_names_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        register(Task("test.square", lambda x: x, _square_inputs))


@pytest.mark.parametrize(
    ("expected", "actual", "difference"),
    [
        (torch.ones(2), torch.ones(2) + 1e-7, None),
        (torch.ones(2), torch.ones(3), "the result has shape (3,), expected (2,)"),
        (
            torch.tensor([[1, 2], [3, 4]]),
            torch.tensor([[1, 2], [5, 6]]),
            "first difference at [1, 0]: expected 3, got 5 (2 of 4 values differ)",
        ),
        (
            torch.tensor([True, False]),
            [True, True],
            "first difference at [1]: expected False, got True (1 of 2 values differ)",
        ),
        (
            np.array([0.5, 0.25]),
            np.array([0.5, 0.125]),
            "first difference at [1]: expected 0.25, got 0.125 (1 of 2 values differ)",
        ),
        (
            (torch.zeros(2), torch.zeros(1, 3)),
            (torch.zeros(2), torch.tensor([[0.0, 0.0, 2.5]])),
            "first difference at [1][0, 2]: expected 0, got 2.5 (1 of 3 values differ)",
        ),
        ([1, [2, 3]], [1, [2, 4]], "first difference at [1][1]: expected 3, got 4"),
        ([1, 2], [1, 2, 3], "the result has 3 items, expected 2"),
        (
            [1, 2],
            [0],
            "the result has 1 item, expected 2; first difference at [0]: expected 1, got 0",
        ),
        ([1, 2], 3, "the result is 3, expected a list"),
        ({"a": [1.0]}, {"a": [2.0]}, "first difference at ['a'][0]: expected 1.0, got 2.0"),
        ({"a": 1}, {"b": 1}, "the result has missing keys [\"'a'\"], unexpected keys [\"'b'\"]"),
        (0.5, 0.75, None),  # a plain value is shown whole as expected/got already
    ],
)
def test_first_difference(expected, actual, difference):
    assert first_difference(expected, actual) == difference


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (torch.ones(2), torch.ones(2) + 1e-7, True),
        (torch.ones(2), torch.ones(3), False),
        (torch.ones(2), [1.0, 1.0], True),
        ([1, (2, 3)], [1, (2, 3)], True),
        ([1, 2], [1, 2, 3], False),
        ({"a": 1.0}, {"a": 1.0 + 1e-9}, True),
        ({"a": 1.0}, {"b": 1.0}, False),
        (0.5, 0.5001, False),
        ("ab", "ab", True),
    ],
)
def test_close(expected, actual, same):
    assert close(expected, actual) is same


def test_describe_is_short():
    assert (
        describe(torch.zeros(2, 3))
        == "tensor(shape=(2, 3), dtype=float32) = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]"
    )
    assert describe("x" * 500).endswith("...")
