"""Checks for chapter 1, "The math you need".

Agreement tasks (the notebook builds these in the open and compares with the package):
``scratchformer.functional.softmax``, ``.log_softmax``, ``.cross_entropy``, ``.standardize``
and ``scratchformer.gradcheck.numerical_gradient``; the optimisers' updates written in a
few lines against PyTorch's own: ``torch.optim.SGD``, ``torch.optim.Adam`` and
``torch.optim.AdamW``.

Exercise tasks: ``ch01.logsumexp`` (stable log-sum-exp; inputs reach values around 1000),
``ch01.cross_entropy_grad`` (the gradient of the mean cross-entropy by hand) and
``ch01.perplexity`` (perplexity of a padded batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, TypeVar

import torch

from scratchformer.functional import (
    cross_entropy,
    log_softmax,
    logsumexp,
    perplexity,
    softmax,
    standardize,
)
from scratchformer.gradcheck import numerical_gradient
from scratchformer_course.core import Inputs, Task, random_int, register

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


def optimizer_steps(
    optimizer_class: type[torch.optim.Optimizer],
    param: torch.Tensor,
    grads: torch.Tensor,
    **options: Any,
) -> torch.Tensor:
    """``param`` after one step of a PyTorch optimiser per gradient in ``grads``: the
    reference for chapter 1's SGD, Adam and AdamW written by hand.

    Shapes: ``param`` ``(*shape)``, ``grads`` ``(steps, *shape)``, one gradient per step
    (given, not computed, so the update rule alone is compared); returns ``(*shape)``.
    ``options`` are the optimiser's (``lr``, ``betas``, ``eps``, ``weight_decay``).
    """
    weight = torch.nn.Parameter(param.clone())
    optimizer = optimizer_class([weight], **options)
    for grad in grads:
        weight.grad = grad.clone()
        optimizer.step()
    return weight.detach()


def _optimizer_inputs(generator: torch.Generator) -> Inputs:
    """A parameter tensor, one to four gradients (the first step alone included) and
    Adam's hyperparameters; SGD takes only ``lr``."""
    shape = _random_shape(generator)
    param = torch.randn(shape, generator=generator)
    grads = torch.randn((random_int(generator, 1, 4), *shape), generator=generator)
    grads = grads * _pick(generator, [1e-3, 1.0, 100.0])
    return (param, grads), {
        "lr": _pick(generator, [1e-3, 1e-2, 0.1]),
        "betas": _pick(generator, [(0.9, 0.999), (0.8, 0.99)]),
        "eps": _pick(generator, [1e-8, 1e-6]),
        "weight_decay": _pick(generator, [0.0, 0.01, 0.1]),
    }


def _sgd_inputs(generator: torch.Generator) -> Inputs:
    args, kwargs = _optimizer_inputs(generator)
    return args, {"lr": kwargs["lr"]}


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
        hint="exp of a logit near 1000 overflows; softmax does not change when the same number is "
        "subtracted from every logit.",
        more_hints=(
            (
                "subtract the maximum along dim before exp, divide by the temperature, then "
                "divide by the sum along dim (keepdim=True)."
            ),
        ),
    ),
    Task(
        name="scratchformer.functional.log_softmax",
        reference=log_softmax,
        make_inputs=_log_softmax_inputs,
        hint="log(softmax(x)) turns a tiny probability into -inf: stay in log space and never take"
        " the log of a probability.",
        more_hints=(
            (
                "compute (x - m) - log(sum(exp(x - m))) with m the maximum along dim; "
                "log(softmax(x)) underflows to -inf."
            ),
        ),
    ),
    Task(
        name="scratchformer.functional.cross_entropy",
        reference=cross_entropy,
        make_inputs=_cross_entropy_inputs,
        hint="positions whose target is ignore_index count neither in the sum nor in the number "
        "the mean divides by.",
        more_hints=(
            (
                "pick -log_softmax at each target, zero the ignored positions, and for 'mean' "
                "divide by the number of non-ignored targets (not by the number of positions)."
            ),
        ),
    ),
    Task(
        name="scratchformer.functional.standardize",
        reference=standardize,
        make_inputs=_standardize_inputs,
        hint="normalise with the variance of the vector itself (divide by n, not n - 1), and mind "
        "where eps goes.",
        more_hints=(
            (
                "use the biased variance mean((x - mean)**2) along dim and put eps inside the "
                "square root: (x - mean) / sqrt(var + eps)."
            ),
        ),
    ),
    Task(
        name="scratchformer.gradcheck.numerical_gradient",
        reference=numerical_gradient,
        make_inputs=_numerical_gradient_inputs,
        trials=10,
        hint="estimate one coordinate at a time with a difference on both sides of x, in float64.",
        more_hints=(
            (
                "perturb one coordinate at a time by +eps and -eps (in float64) and use (f(x + "
                "eps) - f(x - eps)) / (2 * eps); return a tensor shaped like x."
            ),
        ),
    ),
    Task(
        name="torch.optim.SGD",
        reference=partial(optimizer_steps, torch.optim.SGD),
        make_inputs=_sgd_inputs,
        hint="each gradient in turn moves the parameter against itself.",
        more_hints=("for every grad in grads: param = param - lr * grad.",),
    ),
    Task(
        name="torch.optim.Adam",
        reference=partial(optimizer_steps, torch.optim.Adam),  # decay: L2 in the gradient
        make_inputs=_optimizer_inputs,
        hint="Adam keeps two running averages, of the gradient and of its square, both "
        "starting at zero and corrected for that start.",
        more_hints=(
            (
                "g = grad + weight_decay * param; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g**2; "
                "param -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps), t from 1."
            ),
        ),
    ),
    Task(
        name="torch.optim.AdamW",
        reference=partial(optimizer_steps, torch.optim.AdamW),  # decay: decoupled
        make_inputs=_optimizer_inputs,
        hint="AdamW's weight decay never enters the gradient or the running averages.",
        more_hints=(
            (
                "at each step first param = param * (1 - lr * weight_decay), then Adam's update "
                "with the plain gradient."
            ),
        ),
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch01.logsumexp",
        reference=logsumexp,
        make_inputs=_logsumexp_inputs,
        hint="exp(1000) overflows: take the largest entry out of the sum before exponentiating.",
        more_hints=(
            (
                "log(sum(exp(x))) = m + log(sum(exp(x - m))) for any constant m; the largest "
                "entry makes every exponent <= 0."
            ),
            (
                "with m = x.amax(dim, keepdim=True), return m + "
                "log(sum(exp(x - m))) and drop the kept axis at the end."
            ),
        ),
    ),
    Task(
        name="ch01.cross_entropy_grad",
        reference=cross_entropy_grad_reference,
        make_inputs=_cross_entropy_grad_inputs,
        hint="write one row's loss as -z[y] + log(sum_j exp(z[j])) and differentiate the two terms"
        " separately.",
        more_hints=(
            (
                "the derivative of log-sum-exp is softmax; the derivative of -z[y] is -1 at the "
                "target and 0 elsewhere."
            ),
            (
                "the derivative of -log softmax(z)[y] with respect to z is softmax(z) - "
                "one_hot(y); the mean over N rows divides every row by N."
            ),
        ),
    ),
    Task(
        name="ch01.perplexity",
        reference=perplexity_reference,
        make_inputs=_perplexity_inputs,
        hint="perplexity is exp of a mean loss: which positions belong in that mean?",
        more_hints=(
            (
                "perplexity is exp of the mean cross-entropy over the real (non -100) targets "
                "only; padding positions must not enter the mean."
            ),
        ),
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
