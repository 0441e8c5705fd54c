"""Check gradients numerically: the test every hand-written backward pass must pass (chapter 1).

The derivative of a scalar function ``f`` at ``x`` along coordinate ``i`` is approximated
by the *central difference*

    (f(x + eps * e_i) - f(x - eps * e_i)) / (2 * eps),

whose error shrinks like ``eps**2`` (a one-sided difference only shrinks like ``eps``).
Rounding error grows like ``machine_eps / eps``, so the comparison runs in float64, where
``eps = 1e-6`` balances the two. :func:`gradient_check` compares that estimate with what
autograd (or a custom ``backward``) computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

ScalarFunction = Callable[[torch.Tensor], torch.Tensor]


def _scalar_output(f: ScalarFunction, x: torch.Tensor) -> torch.Tensor:
    """Call ``f(x)`` and insist that it returns a one-element tensor."""
    out = f(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"f must return a scalar torch.Tensor; it returned {type(out).__name__}. "
            "Build the output from tensor operations so autograd can follow it."
        )
    if out.numel() != 1:
        raise ValueError(
            f"f must return a scalar (one-element) tensor; it returned shape "
            f"{tuple(out.shape)}. Reduce it first, e.g. with .sum() or .mean()."
        )
    return out.reshape(())


def _as_float64_copy(x: torch.Tensor) -> torch.Tensor:
    """Validate ``x`` and return a detached float64 copy of it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}.")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"x must be a real-valued tensor; got dtype {x.dtype}.")
    return x.detach().to(torch.float64).clone()


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0 (e.g. 1e-6); got {eps!r}.")


def numerical_gradient(f: ScalarFunction, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Estimate the gradient of a scalar function ``f`` at ``x`` by central differences.

    Perturbs one coordinate at a time (``2 * x.numel()`` calls of ``f``), so keep ``x``
    small. ``f`` receives float64 tensors and must accept them.

    Args:
        f: a function from a tensor shaped like ``x`` to a one-element tensor.
        x: the point, any shape (its dtype is ignored; the work is done in float64).
        eps: the step size.

    Returns:
        A float64 tensor shaped like ``x``: ``df/dx`` at ``x``.
    """
    _check_eps(eps)
    point = _as_float64_copy(x)
    grad = torch.zeros_like(point)
    flat_point, flat_grad = point.view(-1), grad.view(-1)
    with torch.no_grad():
        _scalar_output(f, point)  # fail early, with a clear message, on a non-scalar f
        for i in range(flat_point.numel()):
            original = flat_point[i].item()
            flat_point[i] = original + eps
            above = _scalar_output(f, point).item()
            flat_point[i] = original - eps
            below = _scalar_output(f, point).item()
            flat_point[i] = original
            flat_grad[i] = (above - below) / (2 * eps)
    return grad


@dataclass(frozen=True)
class GradCheckResult:
    """Outcome of :func:`gradient_check`; truthy when the check passed.

    Attributes:
        max_abs_error: ``max |analytic - numerical|`` over all coordinates.
        max_rel_error: ``max |analytic - numerical| / max(|analytic|, |numerical|)``
            (coordinates where both are 0 count as 0).
        passed: whether every coordinate satisfied
            ``|analytic - numerical| <= atol + rtol * |numerical|``.
    """

    max_abs_error: float
    max_rel_error: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed


def gradient_check(
    f: ScalarFunction,
    x: torch.Tensor,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> GradCheckResult:
    """Compare the gradient autograd computes for ``f`` at ``x`` with a numerical estimate.

    Both are computed in float64. A custom ``torch.autograd.Function`` with a wrong
    ``backward`` fails this check; a correct one passes.

    Args:
        f: a function from a tensor shaped like ``x`` to a one-element tensor.
        x: the point (any shape; keep it small, see :func:`numerical_gradient`).
        eps: the finite-difference step.
        rtol: relative tolerance of the comparison.
        atol: absolute tolerance of the comparison.

    Returns:
        A :class:`GradCheckResult`.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be >= 0; got rtol={rtol}, atol={atol}.")
    point = _as_float64_copy(x).requires_grad_(True)
    out = _scalar_output(f, point)
    analytic = torch.zeros_like(point)  # stays zero if f does not depend on x
    if out.requires_grad:
        (grad,) = torch.autograd.grad(out, point, allow_unused=True)
        if grad is not None:
            analytic = grad.detach()
    numerical = numerical_gradient(f, x, eps)
    abs_error = (analytic - numerical).abs()
    scale = torch.maximum(analytic.abs(), numerical.abs())
    rel_error = torch.where(scale > 0, abs_error / scale, torch.zeros_like(abs_error))
    passed = bool((abs_error <= atol + rtol * numerical.abs()).all())
    return GradCheckResult(
        max_abs_error=float(abs_error.max()) if abs_error.numel() else 0.0,
        max_rel_error=float(rel_error.max()) if rel_error.numel() else 0.0,
        passed=passed,
    )


__all__ = ["GradCheckResult", "ScalarFunction", "gradient_check", "numerical_gradient"]
