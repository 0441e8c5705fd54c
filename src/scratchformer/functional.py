"""The small numerical functions every later chapter leans on (chapter 1).

* :func:`softmax`, :func:`log_softmax` and :func:`logsumexp` turn scores (logits) into
  probabilities or log-probabilities without overflowing, by shifting each vector by its
  maximum first (``softmax(x + c) == softmax(x)`` for any constant ``c``).
* :func:`cross_entropy` and :func:`perplexity` measure how well predicted distributions
  explain the true classes (tokens), the loss every language model in the book trains on.
* :func:`standardize` rescales each vector to zero mean and unit variance, the first half of
  LayerNorm.

All functions are written with plain tensor operations, so autograd differentiates them.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from scratchformer.checks import on_cpu

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[Reduction, ...] = ("mean", "sum", "none")


def _check_float_and_dim(x: torch.Tensor, dim: int, name: str) -> None:
    """Raise a clear error unless ``x`` is a floating-point tensor that has dimension ``dim``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor; got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} needs a floating-point tensor; got dtype {x.dtype}. "
            "Convert it first, e.g. x.float()."
        )
    n_dims = max(x.ndim, 1)
    if not -n_dims <= dim < n_dims:
        raise IndexError(
            f"{name}: dim={dim} is out of range for a tensor of shape {tuple(x.shape)}; "
            f"use a dim in [{-n_dims}, {n_dims - 1}] (dim=-1 is the last axis)."
        )


def _shift_by_max(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x - m, m)`` where ``m`` is the maximum of ``x`` along ``dim`` (kept as size 1).

    The shift changes none of softmax, log-softmax or log-sum-exp mathematically, but it makes
    the largest exponent ``exp(0) = 1``, so nothing overflows. ``m`` is detached: the exact
    functions do not depend on it, so no gradient should flow through it. A vector whose
    maximum is infinite (for example, fully masked with ``-inf``) is shifted by 0 instead, so
    the result is ``-inf``/``inf`` rather than ``nan`` where the exact answer is defined.
    """
    m = x.detach().amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return x - m, m


def logsumexp(x: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """``log(sum(exp(x)))`` along ``dim``, computed without overflow.

    Uses ``logsumexp(x) = m + log(sum(exp(x - m)))`` with ``m = max(x)``: every exponent is
    at most 0, so values around 1000 (where ``exp`` overflows float32 and float64) are fine.

    Args:
        x: floating-point tensor of any shape, e.g. ``(batch, seq, vocab)``.
        dim: the axis to reduce.
        keepdim: keep the reduced axis with size 1 (handy for broadcasting back onto ``x``).

    Returns:
        ``x``'s shape without ``dim`` (or with size 1 there when ``keepdim``).
    """
    _check_float_and_dim(x, dim, "logsumexp")
    shifted, m = _shift_by_max(x, dim)
    result = m + shifted.exp().sum(dim=dim, keepdim=True).log()
    return result if keepdim else result.squeeze(dim)


def softmax(x: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities ``exp(x_i / T) / sum_j exp(x_j / T)`` along ``dim``, without overflow.

    Temperature ``T`` rescales the logits before normalising: ``T < 1`` sharpens the
    distribution (towards a one-hot vector on the argmax as ``T -> 0``), ``T > 1`` flattens it
    (towards uniform as ``T -> inf``). ``T = 0`` itself is not defined; take the argmax.

    Args:
        x: floating-point logits of any shape, e.g. ``(batch, seq, vocab)``.
        dim: the axis that must sum to 1.
        temperature: a finite number ``> 0``.

    Returns:
        A tensor shaped like ``x`` with non-negative entries summing to 1 along ``dim``.
    """
    _check_float_and_dim(x, dim, "softmax")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"softmax: temperature must be a number; got {type(temperature).__name__}.")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"softmax: temperature must be a finite number > 0; got {temperature}. "
            "For 'temperature 0' (greedy) take the argmax instead; "
            "very large temperatures approach the uniform distribution."
        )
    shifted, _ = _shift_by_max(x, dim)
    exps = (shifted / temperature).exp()
    return exps / exps.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(softmax(x))`` along ``dim``, computed as ``(x - m) - log(sum(exp(x - m)))``.

    Taking the log of :func:`softmax` would turn tiny probabilities into ``log(0) = -inf``;
    this form stays finite for every finite input.

    Args:
        x: floating-point logits of any shape, e.g. ``(batch, seq, vocab)``.
        dim: the axis of the distribution.

    Returns:
        A tensor shaped like ``x`` with entries ``<= 0`` whose ``exp`` sums to 1 along ``dim``.
    """
    _check_float_and_dim(x, dim, "log_softmax")
    shifted, _ = _shift_by_max(x, dim)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def _validate_cross_entropy_inputs(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int, reduction: str
) -> None:
    """Raise a clear error for every way :func:`cross_entropy`'s inputs can be wrong (the
    targets' values are checked on the CPU only, see :mod:`scratchformer.checks`)."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"cross_entropy: reduction={reduction!r} is not supported; "
            f"use one of {', '.join(map(repr, REDUCTIONS))}."
        )
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError("cross_entropy: logits and targets must both be torch.Tensors.")
    if logits.ndim not in (2, 3):
        raise ValueError(
            f"cross_entropy: logits must have shape (N, C) or (batch, seq, C); got "
            f"{tuple(logits.shape)}. For a single example add a batch axis: logits.unsqueeze(0)."
        )
    if not logits.is_floating_point():
        raise TypeError(
            f"cross_entropy: logits must be floating point; got {logits.dtype} (use .float())."
        )
    validate_targets(
        "cross_entropy", targets, tuple(logits.shape[:-1]), logits.shape[-1], ignore_index
    )


def validate_targets(
    caller: str,
    targets: torch.Tensor,
    shape: tuple[int, ...],
    n_classes: int,
    ignore_index: int,
) -> None:
    """Raise a clear error, naming ``caller``, unless ``targets`` holds integer class
    indices of ``shape``, each in ``[0, n_classes)`` or equal to ``ignore_index`` (the
    values are checked on the CPU only: reading them would stall a GPU at every step)."""
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"{caller}: targets must hold integer class indices (int64); got "
            f"{targets.dtype}. Convert with targets.long(); soft (probability) targets are "
            "not supported."
        )
    if tuple(targets.shape) != shape:
        raise ValueError(
            f"{caller}: targets shape {tuple(targets.shape)} should be {shape}: the "
            "logits' shape without the last (class) axis."
        )
    if not on_cpu(targets):  # reading the values would stall a GPU at every step
        return
    real = targets[targets != ignore_index]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= n_classes):
        bad = real[(real < 0) | (real >= n_classes)][0].item()
        raise IndexError(
            f"{caller}: target {bad} is out of range for {n_classes} classes; targets "
            f"must be in [0, {n_classes - 1}] or equal ignore_index={ignore_index}."
        )


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Negative log-likelihood of the true classes under ``softmax(logits)``.

    For one position the loss is ``-log softmax(logits)[target]`` (in nats). Positions whose
    target equals ``ignore_index`` (padding) contribute nothing: they are excluded from the
    mean and get loss 0 under ``reduction="none"``. This matches
    ``torch.nn.functional.cross_entropy`` for class-last logits; note that torch itself wants
    3-D logits as ``(batch, C, seq)``, while this function takes ``(batch, seq, C)``.

    Args:
        logits: ``(N, C)`` or ``(batch, seq, C)`` unnormalised scores over ``C`` classes.
        targets: ``(N,)`` or ``(batch, seq)`` integer class indices in ``[0, C)``, or
            ``ignore_index``.
        ignore_index: target value marking positions to skip.
        reduction: ``"mean"`` (average over non-ignored positions; ``nan`` if there are
            none, like torch), ``"sum"``, or ``"none"`` (per-position losses, shaped like
            ``targets``).
        label_smoothing: ``eps`` in ``[0, 1)``: the target distribution puts ``1 - eps``
            on the true class and spreads ``eps`` uniformly over all ``C`` classes, so the
            loss is ``(1 - eps) * nll + eps * mean_c(-log p_c)``. It keeps the model from
            growing ever more confident (Szegedy et al., 2016; used by the 2017
            Transformer with ``eps = 0.1``). Same definition as torch's.

    Returns:
        A scalar tensor for ``"mean"``/``"sum"``, else a tensor shaped like ``targets``.
    """
    _validate_cross_entropy_inputs(logits, targets, ignore_index, reduction)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must lie in [0, 1), got {label_smoothing}; "
            "0.1 is the usual value, 0 turns smoothing off."
        )
    keep = targets != ignore_index
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets)).long()
    # torch's fused kernel (equal to our log_softmax above, which the tests check): one pass
    # over the (tokens, vocab) logits instead of four temporaries of that size, which made a
    # translator's training step 10% slower.
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * log_probs.mean(dim=-1)
    losses = torch.where(keep, nll, torch.zeros_like(nll))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / keep.sum()


def perplexity(mean_nll: float | torch.Tensor) -> float | torch.Tensor:
    """``exp(mean cross-entropy)``: the model's "effective number of choices" per token.

    A model that guesses uniformly over ``V`` classes has mean NLL ``log V`` and perplexity
    exactly ``V``; a perfect model has perplexity 1. Perplexity is *not* bounded by ``V``: a
    confidently wrong model scores far higher. The mean NLL must be in nats (natural log).

    Args:
        mean_nll: the mean negative log-likelihood, as a Python number or a tensor (any
            shape; applied element-wise, gradients flow through).

    Returns:
        A float for a number input, a tensor for a tensor input.
    """
    if isinstance(mean_nll, torch.Tensor):
        if not mean_nll.is_floating_point():
            raise TypeError(
                f"perplexity: mean_nll must be a floating-point tensor; got {mean_nll.dtype}."
            )
        if bool((mean_nll < 0).any()):
            raise ValueError(
                "perplexity: mean_nll must be >= 0 (a cross-entropy over discrete classes "
                "cannot be negative); did you pass a log-likelihood instead of its negative?"
            )
        return mean_nll.exp()
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (int, float)):
        raise TypeError(
            f"perplexity: mean_nll must be a number or a tensor; got {type(mean_nll).__name__}."
        )
    if mean_nll < 0:
        raise ValueError(
            f"perplexity: mean_nll must be >= 0 (got {mean_nll}); a cross-entropy over discrete "
            "classes cannot be negative. Did you pass a log-likelihood instead of its negative?"
        )
    try:
        return math.exp(mean_nll)
    except OverflowError:
        return math.inf


def standardize(x: torch.Tensor, dim: int = -1, eps: float = 1e-5) -> torch.Tensor:
    """Shift and scale each vector along ``dim`` to mean 0 and variance (nearly) 1.

    Computes ``(x - mean) / sqrt(var + eps)`` with the *biased* variance
    ``mean((x - mean)**2)`` (divide by ``d``, not ``d - 1``), exactly as LayerNorm normalises
    a ``(batch, seq, d_model)`` activation per token before its learned gain and bias.
    ``eps`` keeps a constant vector (variance 0) from dividing by zero; because of it the
    result's variance is ``var / (var + eps)``, slightly below 1.

    Args:
        x: floating-point tensor, e.g. ``(batch, seq, d_model)``.
        dim: the axis to normalise over (LayerNorm uses the last one).
        eps: a number ``>= 0`` added to the variance.

    Returns:
        A tensor shaped like ``x``.
    """
    _check_float_and_dim(x, dim, "standardize")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"standardize: eps must be a finite number >= 0; got {eps!r}.")
    centred = x - x.mean(dim=dim, keepdim=True)
    variance = centred.pow(2).mean(dim=dim, keepdim=True)
    return centred / torch.sqrt(variance + eps)


__all__ = [
    "REDUCTIONS",
    "Reduction",
    "cross_entropy",
    "log_softmax",
    "logsumexp",
    "perplexity",
    "softmax",
    "standardize",
    "validate_targets",
]
