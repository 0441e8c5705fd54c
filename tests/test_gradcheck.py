"""Numerical gradients agree with autograd, and a wrong backward pass is caught."""

from __future__ import annotations

import pytest
import torch

from scratchformer.functional import cross_entropy, log_softmax, logsumexp, softmax, standardize
from scratchformer.gradcheck import GradCheckResult, gradient_check, numerical_gradient


def point(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_numerical_gradient_of_known_functions() -> None:
    x = point(3, 4)
    torch.testing.assert_close(numerical_gradient(lambda t: (t**2).sum(), x), 2 * x)
    # The gradient of log-sum-exp is softmax.
    v = point(6, seed=1)
    torch.testing.assert_close(numerical_gradient(lambda t: logsumexp(t, dim=0), v), softmax(v))


def test_numerical_gradient_shape_dtype_and_input_untouched() -> None:
    x = point(2, 3).float()
    before = x.clone()
    grad = numerical_gradient(lambda t: (t.sin() * t).sum(), x)
    assert grad.shape == x.shape and grad.dtype == torch.float64
    assert torch.equal(x, before)
    expected = x.double().sin() + x.double() * x.double().cos()
    torch.testing.assert_close(grad, expected)


def test_numerical_gradient_calls_f_with_float64() -> None:
    seen = []

    def f(t: torch.Tensor) -> torch.Tensor:
        seen.append(t.dtype)
        return t.sum()

    numerical_gradient(f, torch.ones(2, dtype=torch.float32))
    assert set(seen) == {torch.float64} and len(seen) == 1 + 2 * 2


TARGETS = torch.tensor([2, 0, -100, 1])
WEIGHTS = point(4, 3, seed=9)

CORRECT_FUNCTIONS = {
    "sin_times_x": lambda t: (t.sin() * t).sum(),
    "softmax_weighted": lambda t: (softmax(t, temperature=0.5) * WEIGHTS).sum(),
    "log_softmax_weighted": lambda t: (log_softmax(t, dim=0) * WEIGHTS).sum(),
    "logsumexp": lambda t: logsumexp(t).sum(),
    "cross_entropy": lambda t: cross_entropy(t, TARGETS),
    "standardize_weighted": lambda t: (standardize(t) * WEIGHTS).sum(),
    "matmul_norm": lambda t: (t @ t.T).norm(),
}


@pytest.mark.parametrize("name", sorted(CORRECT_FUNCTIONS))
def test_gradient_check_passes_for_correct_gradients(name: str) -> None:
    result = gradient_check(CORRECT_FUNCTIONS[name], point(4, 3, seed=2))
    assert isinstance(result, GradCheckResult)
    assert result.passed and bool(result)
    assert result.max_abs_error < 1e-7


class SquareWithWrongBackward(torch.autograd.Function):
    """``x**2`` whose backward forgets the factor 2: a typical hand-derivation slip."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return grad_output * x


class SquareWithRightBackward(SquareWithWrongBackward):
    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return 2 * grad_output * x


def test_gradient_check_detects_a_wrong_backward() -> None:
    x = point(5, seed=3)
    wrong = gradient_check(lambda t: SquareWithWrongBackward.apply(t).sum(), x)
    assert not wrong.passed and not bool(wrong)
    assert wrong.max_rel_error == pytest.approx(0.5)
    right = gradient_check(lambda t: SquareWithRightBackward.apply(t).sum(), x)
    assert right.passed


def test_gradient_check_detects_a_small_error() -> None:
    class AlmostExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x.exp()

        @staticmethod
        def backward(ctx, grad_output):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            return grad_output * x.exp() * (1 + 1e-3)

    assert not gradient_check(lambda t: AlmostExp.apply(t).sum(), point(3, seed=4)).passed


def test_gradient_check_of_constant_function_is_zero_and_passes() -> None:
    result = gradient_check(lambda t: torch.tensor(3.0, dtype=torch.float64), point(3))
    assert result.passed and result.max_abs_error == 0.0


def total(t: torch.Tensor) -> torch.Tensor:
    return t.sum()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: numerical_gradient(lambda t: 2 * t, point(3)), ValueError, r"shape \(3,\).*sum"),
        (lambda: gradient_check(lambda t: 2 * t, point(3)), ValueError, "scalar"),
        (
            lambda: numerical_gradient(lambda t: float(t.sum()), point(3)),
            TypeError,
            "returned float",
        ),
        (lambda: numerical_gradient(total, point(3), eps=0.0), ValueError, "eps must be"),
        (lambda: numerical_gradient(total, [1.0, 2.0]), TypeError, "got list"),
        (lambda: numerical_gradient(total, point(2).cfloat()), TypeError, "real-valued"),
        (lambda: gradient_check(total, point(3), rtol=-1.0), ValueError, "rtol and atol"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        call()
