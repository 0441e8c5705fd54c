"""A minimal training loop for a causal language model on one long stream of token ids.

The recipe is the one GPT-2 and its descendants use, cut to what a laptop can run:

* the data is one long 1-D tensor of token ids; :func:`split_ids` keeps its *end* as a
  held-out validation split (so validation text is text the model never saw, not a
  shuffled sample of the same passages), and :func:`random_batch` cuts random windows
  ``(batch, block + 1)`` from a split: inputs are the first ``block`` ids, targets the
  same window shifted by one;
* AdamW with decoupled weight decay on matrices (weights and embedding tables) only, not
  on biases or LayerNorm gains;
* a learning rate that warms up linearly, then decays to a floor along a cosine
  (:func:`~scratchformer.train.schedules.cosine_learning_rate`) or a straight line
  (:func:`~scratchformer.train.schedules.linear_learning_rate`);
* gradient clipping to a maximum global norm;
* every ``eval_every`` steps, the mean loss on a few fixed batches of each split
  (:func:`estimate_loss`).

The budget is a number of steps, never of seconds: a slow or busy machine trains the
same steps as a fast, quiet one, and prints the same losses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch import nn

from scratchformer.functional import cross_entropy
from scratchformer.generate.lm import evaluating
from scratchformer.models.gpt2 import GPT2
from scratchformer.train.optim import make_optimizer
from scratchformer.train.precision import PRECISIONS, MixedPrecision, Precision
from scratchformer.train.schedules import cosine_learning_rate, linear_learning_rate

Decay = Literal["cosine", "linear"]
DECAYS: tuple[Decay, ...] = ("cosine", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_lm` trains.

    Attributes:
        steps: optimiser steps: the budget, in steps so that every machine trains the
            same model (a wall-clock budget would train less on a slower or busier one).
        batch_size: windows per batch.
        block_size: tokens per window (the model reads ``block_size`` ids).
        lr: peak learning rate, reached after ``warmup_steps``.
        decay: how the learning rate falls after the warm-up: ``"cosine"`` (half a
            cosine, GPT-2's and nanoGPT's choice) or ``"linear"`` (a straight line).
        min_lr_ratio: the decay ends at ``lr * min_lr_ratio`` at the last step.
        warmup_steps: linear warm-up from ``lr / warmup_steps`` to ``lr``.
        weight_decay: AdamW's decoupled weight decay, on matrices only.
        betas: AdamW's moment decay rates.
        grad_clip: largest global gradient norm (``None``: no clipping).
        eval_every: evaluate both splits every this many steps (and at the first and
            last step).
        eval_batches: batches per split per evaluation (the same batches every time).
        seed: seeds the batch sampler (the model's initial weights are the caller's).
        precision: the forward pass's precision (:mod:`scratchformer.train.precision`):
            ``"auto"`` is bfloat16 (or float16) on a CUDA GPU and float32 elsewhere.
        compile: run the training steps through ``torch.compile``: faster steps on a GPU
            after a compilation of a minute or so (on a CPU it rarely pays for that). The
            compiled steps compute the loss from the logits, which the compiler fuses its
            own way, instead of through ``GPT2.loss``. The model itself is unchanged;
            evaluation runs it as it is.
    """

    steps: int = 1000
    batch_size: int = 32
    block_size: int = 128
    lr: float = 1e-3
    decay: Decay = "cosine"
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = 1.0
    eval_every: int = 100
    eval_batches: int = 10
    seed: int = 0
    precision: Precision = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}."
            )
        for name in ("steps", "batch_size", "block_size", "eval_every", "eval_batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1, got {value!r}.")
        if self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be >= 0, got {self.warmup_steps}.")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}.")
        if self.decay not in DECAYS:
            raise ValueError(f"TrainConfig.decay must be one of {DECAYS}, got {self.decay!r}.")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(
                f"TrainConfig.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}."
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip}.")


@dataclass
class TrainHistory:
    """What :func:`train_lm` records.

    Attributes:
        steps: the steps at which both splits were evaluated.
        train_loss: mean loss on the fixed training batches at those steps (nats/token).
        val_loss: the same on the validation batches.
        steps_done: optimiser steps actually taken.
        seconds: wall-clock time of the run, evaluations included.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    steps_done: int = 0
    seconds: float = 0.0

    @property
    def best_val_loss(self) -> float:
        """The lowest validation loss seen (``inf`` before any evaluation)."""
        return min(self.val_loss, default=math.inf)


def _check_stream(ids: object, name: str) -> torch.Tensor:
    """Return ``ids`` after checking it is a 1-D tensor of integer token ids."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"{name} must be a 1-D torch.Tensor of token ids, got {type(ids).__name__}; "
            "convert a list with torch.tensor(ids)."
        )
    if ids.ndim != 1:
        raise ValueError(
            f"{name} must be one 1-D stream (n_tokens,), got shape {tuple(ids.shape)}; "
            "flatten a batch of texts into one stream first (e.g. ids.flatten())."
        )
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer token ids, got dtype {ids.dtype}; use ids.long()."
        )
    return ids


def split_ids(ids: torch.Tensor, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D stream of ids into ``(train, val)``, validation being the last part.

    Args:
        ids: ``(n_tokens,)`` token ids.
        val_fraction: share of the stream held out, in ``(0, 1)``.

    Raises:
        TypeError: if ``ids`` is not a tensor of integers.
        ValueError: if it is not 1-D, or either side of the split would be too short.
    """
    _check_stream(ids, "ids")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.")
    n_train = int(len(ids) * (1 - val_fraction))
    if n_train < 2 or len(ids) - n_train < 2:
        raise ValueError(
            f"a stream of {len(ids)} ids split at {val_fraction} leaves fewer than 2 ids on one "
            "side; use a longer text or another val_fraction."
        )
    return ids[:n_train], ids[n_train:]


def random_batch(
    ids: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows from a 1-D stream: inputs and next-token targets.

    Args:
        ids: ``(n_tokens,)`` token ids, ``n_tokens > block_size``.
        batch_size: number of windows.
        block_size: tokens per window.
        generator: where the window starts come from (seed it to reproduce a batch).

    Returns:
        ``(inputs, targets)``, both ``(batch_size, block_size)``; ``targets[b, t]`` is the
        id that follows ``inputs[b, t]`` in the stream.

    Raises:
        TypeError: if ``ids`` is not a tensor of integers.
        ValueError: if it is not 1-D or is too short for one window.
    """
    _check_stream(ids, "ids")
    if len(ids) <= block_size:
        raise ValueError(
            f"the stream has {len(ids)} ids, too few for windows of block_size={block_size} "
            "plus one target; use a smaller block_size."
        )
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    windows = torch.stack([ids[s : s + block_size + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats/token) of ``model`` on ``(batch, seq)`` windows.

    ``model(inputs)`` may return the logits ``(batch, seq, vocab)`` or an object holding
    them as ``.logits`` (such as :class:`~scratchformer.models.GPT2Output`). A
    :class:`~scratchformer.models.GPT2` computes the same number with its output layer
    fused into the loss (:meth:`~scratchformer.models.GPT2.loss`). The windows are moved to
    the model's device (CPU or GPU) first.
    """
    device = next(model.parameters()).device
    inputs, targets = inputs.to(device), targets.to(device)
    if isinstance(model, GPT2):
        return model.loss(inputs, targets)
    out = model(inputs)
    logits = getattr(out, "logits", out).float()  # the loss in float32, also under autocast
    return cross_entropy(logits, targets)


def estimate_loss(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean loss over ``batches`` (a list of ``(inputs, targets)``), in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    if not batches:
        raise ValueError("estimate_loss needs at least one (inputs, targets) batch.")
    with evaluating(model):
        return sum(float(lm_loss(model, x, y)) for x, y in batches) / len(batches)


EvalCallback = Callable[[int, float, float], None]
"""``callback(step, train_loss, val_loss)``, called after each evaluation."""


def train_lm(
    model: nn.Module,
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    config: TrainConfig,
    on_eval: EvalCallback | None = None,
) -> TrainHistory:
    """Train a causal language model on random windows of ``train_ids``.

    Args:
        model: maps ``(batch, seq)`` ids to logits ``(batch, seq, vocab)`` (or an object
            with ``.logits``). Trained in place; left in eval mode.
        train_ids: ``(n_train,)`` the training stream.
        val_ids: ``(n_val,)`` the held-out stream.
        config: the :class:`TrainConfig`.
        on_eval: called as ``on_eval(step, train_loss, val_loss)`` after each evaluation
            (to print progress or sample text).

    Returns:
        The :class:`TrainHistory`.

    Raises:
        TypeError: if a stream is not a tensor of integer ids.
        ValueError: if a stream is not 1-D or is too short for one window of
            ``block_size + 1`` ids (the message names the stream).
    """
    for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
        _check_stream(ids, name)
        if len(ids) <= config.block_size:
            raise ValueError(
                f"{name} has {len(ids)} ids, too few for one window of block_size="
                f"{config.block_size} plus a target; use a smaller block_size or more text."
            )
    generator = torch.Generator().manual_seed(config.seed)
    eval_generator = torch.Generator().manual_seed(config.seed + 1)
    fixed = {
        name: [
            random_batch(ids, config.batch_size, config.block_size, eval_generator)
            for _ in range(config.eval_batches)
        ]
        for name, ids in (("train", train_ids), ("val", val_ids))
    }
    optimizer = make_optimizer(
        model, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
    )
    amp = MixedPrecision(config.precision, next(model.parameters()).device)
    # torch.compile wraps the model in a module that shares its parameters
    stepped = cast(nn.Module, torch.compile(model)) if config.compile else model
    history = TrainHistory()
    start = time.perf_counter()

    def evaluate(step: int) -> None:
        train_loss = estimate_loss(model, fixed["train"])
        val_loss = estimate_loss(model, fixed["val"])
        history.steps.append(step)
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        if on_eval is not None:
            on_eval(step, train_loss, val_loss)

    schedule = cosine_learning_rate if config.decay == "cosine" else linear_learning_rate
    model.train()
    evaluate(0)
    for step in range(config.steps):
        lr = schedule(step, config.lr, config.warmup_steps, config.steps, config.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = random_batch(train_ids, config.batch_size, config.block_size, generator)
        with amp.autocast():
            loss = lm_loss(stepped, inputs, targets)
        amp.step(loss, optimizer, model.parameters(), config.grad_clip)
        history.steps_done = step + 1
        if history.steps_done % config.eval_every == 0:
            evaluate(history.steps_done)
    if history.steps[-1] != history.steps_done:
        evaluate(history.steps_done)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


__all__ = [
    "DECAYS",
    "Decay",
    "EvalCallback",
    "TrainConfig",
    "TrainHistory",
    "estimate_loss",
    "lm_loss",
    "random_batch",
    "split_ids",
    "train_lm",
]
