"""Checks for chapter 1, "The math you need".

Agreement tasks (the notebook builds these in the open and compares with the package):
``scratchformer.functional.softmax``, ``.log_softmax``, ``.cross_entropy``, ``.standardize``
and ``scratchformer.gradcheck.numerical_gradient``.

Exercise tasks: ``ch01.logsumexp`` (stable log-sum-exp; inputs reach values around 1000),
``ch01.cross_entropy_grad`` (the gradient of the mean cross-entropy by hand) and
``ch01.perplexity`` (perplexity of a padded batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

from scratchformer.exercises.core import Inputs, Task, random_int, register
from scratchformer.functional import (
    cross_entropy,
    log_softmax,
    logsumexp,
    perplexity,
    softmax,
    standardize,
)
from scratchformer.gradcheck import numerical_gradient

PAD = -100  # the default ignore_index of cross_entropy
T = TypeVar("T")


def _pick(generator: torch.Generator, options: Sequence[T]) -> T:
    """One element of ``options``, chosen with ``generator``."""
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def _random_shape(generator: torch.Generator, min_size: int = 1) -> tuple[int, ...]:
    """A shape with 1 to 3 axes, each of size ``min_size`` to 6."""
    return tuple(random_int(generator, min_size, 6) for _ in range(random_int(generator, 1, 3)))


def _random_logits(generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Logits at a random scale: ordinary (1), peaked (10), or large enough (1000) that a
    naive ``exp`` overflows float32."""
    scale = _pick(generator, [1.0, 10.0, 1000.0])
    offset = _pick(generator, [0.0, 0.0, 1000.0])
    return torch.randn(shape, generator=generator) * scale + offset


def _random_dim(generator: torch.Generator, n_dims: int) -> int:
    """Any valid axis of an ``n_dims``-dimensional tensor, negative or not."""
    return random_int(generator, -n_dims, n_dims - 1)


def _softmax_inputs(generator: torch.Generator) -> Inputs:
    x = _random_logits(generator, _random_shape(generator))
    kwargs: dict[str, object] = {"dim": _random_dim(generator, x.ndim)}
    temperature = _pick(generator, [None, 0.1, 0.5, 1.0, 3.0])
    if temperature is not None:
        kwargs["temperature"] = temperature
    return (x,), kwargs


def _log_softmax_inputs(generator: torch.Generator) -> Inputs:
    x = _random_logits(generator, _random_shape(generator))
    return (x,), {"dim": _random_dim(generator, x.ndim)}


def _classification_batch(
    generator: torch.Generator, n_dims: int, pad_value: int = PAD, extreme: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, C)`` or ``(batch, seq, C)`` and targets with about 20% padding.

    ``extreme`` draws logits at scales up to 1000 (see :func:`_random_logits`); otherwise
    they are standard normal. The first position is never padding, so a mean over real
    positions always exists.
    """
    leading = tuple(random_int(generator, 1, 5) for _ in range(n_dims - 1))
    n_classes = random_int(generator, 2, 8)
    shape = (*leading, n_classes)
    if extreme:
        logits = _random_logits(generator, shape)
    else:
        logits = torch.randn(shape, generator=generator)
    targets = torch.randint(n_classes, leading, generator=generator)
    padded = torch.rand(leading, generator=generator) < 0.2
    padded.view(-1)[0] = False
    return logits, targets.masked_fill(padded, pad_value)


def _cross_entropy_inputs(generator: torch.Generator) -> Inputs:
    ignore_index = _pick(generator, [PAD, PAD, -1])
    logits, targets = _classification_batch(generator, random_int(generator, 2, 3), ignore_index)
    kwargs: dict[str, object] = {"reduction": _pick(generator, ["mean", "sum", "none"])}
    if ignore_index != PAD:
        kwargs["ignore_index"] = ignore_index
    return (logits, targets), kwargs


def _standardize_inputs(generator: torch.Generator) -> Inputs:
    shape = _random_shape(generator, min_size=2)
    scale = _pick(generator, [0.1, 1.0, 30.0])
    x = torch.randn(shape, generator=generator) * scale + torch.randn((), generator=generator) * 5
    kwargs: dict[str, object] = {"dim": _random_dim(generator, x.ndim)}
    eps = _pick(generator, [None, 1e-3, 1e-5])
    if eps is not None:
        kwargs["eps"] = eps
    return (x,), kwargs


def smooth_test_function(x: torch.Tensor) -> torch.Tensor:
    """A fixed smooth scalar function, ``sum(sin(x) * x) + logsumexp(x)``, to differentiate."""
    return (torch.sin(x) * x).sum() + logsumexp(x.reshape(-1), dim=0)


def _numerical_gradient_inputs(generator: torch.Generator) -> Inputs:
    shape = tuple(random_int(generator, 1, 4) for _ in range(random_int(generator, 1, 2)))
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    return (smooth_test_function, x), {}


def _logsumexp_inputs(generator: torch.Generator) -> Inputs:
    x = _random_logits(generator, _random_shape(generator, min_size=2))
    if bool(torch.rand((), generator=generator) < 0.3):  # mask some entries with -inf
        masked = torch.rand(x.shape, generator=generator) < 0.3
        # Keep a checkerboard of entries: every line along any axis (length >= 2) then has
        # one with an even index sum, so no vector is masked completely.
        index_sum = sum(torch.meshgrid(*[torch.arange(n) for n in x.shape], indexing="ij"))
        x = x.masked_fill(masked & (index_sum % 2 == 1), float("-inf"))
    return (x,), {"dim": _random_dim(generator, x.ndim)}


def cross_entropy_grad_reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Gradient of ``cross_entropy(logits, targets)`` (mean) with respect to ``logits``.

    Shapes: ``logits`` ``(N, C)``, ``targets`` ``(N,)``; returns ``(N, C)``. Computed with
    autograd, so the exercise's closed form ``(softmax(logits) - one_hot(targets)) / N``
    is checked against something independent of it.
    """
    logits = logits.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(cross_entropy(logits, targets), logits)
    return grad


def _cross_entropy_grad_inputs(generator: torch.Generator) -> Inputs:
    n, n_classes = random_int(generator, 1, 6), random_int(generator, 2, 8)
    scale = _pick(generator, [1.0, 5.0])
    logits = torch.randn((n, n_classes), generator=generator) * scale
    return (logits, torch.randint(n_classes, (n,), generator=generator)), {}


def perplexity_reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Perplexity of ``(batch, seq, vocab)`` logits on ``(batch, seq)`` targets; ``-100``
    marks padding, which does not count."""
    return perplexity(cross_entropy(logits, targets))  # type: ignore[return-value]


def _perplexity_inputs(generator: torch.Generator) -> Inputs:
    logits, targets = _classification_batch(generator, n_dims=3, extreme=False)
    return (logits, targets), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.functional.softmax",
        reference=softmax,
        make_inputs=_softmax_inputs,
        hint="subtract the maximum along dim before exp, divide by the temperature, "
        "then divide by the sum along dim (keepdim=True).",
    ),
    Task(
        name="scratchformer.functional.log_softmax",
        reference=log_softmax,
        make_inputs=_log_softmax_inputs,
        hint="compute (x - m) - log(sum(exp(x - m))) with m the maximum along dim; "
        "log(softmax(x)) underflows to -inf.",
    ),
    Task(
        name="scratchformer.functional.cross_entropy",
        reference=cross_entropy,
        make_inputs=_cross_entropy_inputs,
        hint="pick -log_softmax at each target, zero the ignored positions, and for 'mean' "
        "divide by the number of non-ignored targets (not by the number of positions).",
    ),
    Task(
        name="scratchformer.functional.standardize",
        reference=standardize,
        make_inputs=_standardize_inputs,
        hint="use the biased variance mean((x - mean)**2) along dim and put eps inside the "
        "square root: (x - mean) / sqrt(var + eps).",
    ),
    Task(
        name="scratchformer.gradcheck.numerical_gradient",
        reference=numerical_gradient,
        make_inputs=_numerical_gradient_inputs,
        trials=10,
        hint="perturb one coordinate at a time by +eps and -eps (in float64) and use "
        "(f(x + eps) - f(x - eps)) / (2 * eps); return a tensor shaped like x.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch01.logsumexp",
        reference=logsumexp,
        make_inputs=_logsumexp_inputs,
        hint="exp(1000) overflows: with m = x.amax(dim, keepdim=True), return "
        "m + log(sum(exp(x - m))) and drop the kept axis at the end.",
    ),
    Task(
        name="ch01.cross_entropy_grad",
        reference=cross_entropy_grad_reference,
        make_inputs=_cross_entropy_grad_inputs,
        hint="the derivative of -log softmax(z)[y] with respect to z is softmax(z) - one_hot(y); "
        "the mean over N rows divides every row by N.",
    ),
    Task(
        name="ch01.perplexity",
        reference=perplexity_reference,
        make_inputs=_perplexity_inputs,
        hint="perplexity is exp of the mean cross-entropy over the real (non -100) targets only; "
        "padding positions must not enter the mean.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
