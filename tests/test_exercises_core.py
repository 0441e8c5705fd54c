import pytest
import torch

from scratchformer.exercises import Task, assert_agrees, check, close, register
from scratchformer.exercises.core import describe


def _square_inputs(generator: torch.Generator):
    return (torch.randn(3, 4, generator=generator),), {}


SQUARE = register(
    Task("test.square", lambda x: x * x, _square_inputs, trials=5, hint="multiply x by itself")
)


def test_check_passes_a_correct_function(capsys):
    result = check("test.square", lambda x: x**2)
    assert result and result.trials_run == 5
    assert "passed all 5" in capsys.readouterr().out


def test_check_explains_a_wrong_function():
    result = check("test.square", lambda x: x * 2, verbose=False)
    assert not result
    assert "failed on random test 1" in result.message
    assert "shape=(3, 4)" in result.message and "hint: multiply" in result.message


def test_check_reports_exceptions_instead_of_crashing():
    def broken(x):
        raise RuntimeError("boom")

    result = check("test.square", broken, verbose=False)
    assert not result and "RuntimeError: boom" in result.message


def test_functions_get_private_copies_of_inputs():
    def mutating(x):
        x.mul_(0)  # would corrupt the reference's input if it were shared
        return x

    assert not check("test.square", mutating, verbose=False)
    assert check("test.square", lambda x: x * x, verbose=False)


def test_assert_agrees_raises_on_disagreement(capsys):
    assert_agrees(lambda x: x * x, "test.square")
    assert "agrees with test.square" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="failed"):
        assert_agrees(lambda x: x + 1, "test.square")


def test_unknown_name_lists_known_checks():
    with pytest.raises(KeyError, match="test.square"):
        check("test.sqaure", lambda x: x)


def test_names_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        register(Task("test.square", lambda x: x, _square_inputs))


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
