"""Timing helpers shared by the ``bench/`` scripts and the chapters that measure speed.

Timings on a shared machine drift, so comparisons run the two contenders *alternately*,
one step each, and report the median of the paired ratios: a load spike then slows both
sides of a pair alike instead of biasing one of them.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import AttentionConfig, MultiHeadAttention

Step = Callable[[], None]
Batch = TypeVar("Batch")


def bench_parser(description: str, quick_help: str = "fewer repeats") -> argparse.ArgumentParser:
    """The command line every ``bench/`` script takes: ``--quick`` and ``--threads N``.

    A script with more options adds them to the returned parser, then calls
    :func:`parse_bench_args`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    return parser


def parse_bench_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse ``argv`` (default: the command line) and apply ``--threads`` to torch."""
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(
                f"--threads must be >= 1, got {args.threads}; leave it out for torch's default."
            )
        torch.set_num_threads(args.threads)
    return args


def forward_backward(module: nn.Module, x: torch.Tensor, need_weights: bool = False) -> Step:
    """One training step's attention work on ``x`` ``(batch, seq, d_model)``: self-attention
    forward, then backward. Works for ours and for ``torch.nn.MultiheadAttention``."""

    def step() -> None:
        out, _ = module(x, x, x, need_weights=need_weights)
        out.sum().backward()
        module.zero_grad(set_to_none=True)
        x.grad = None

    return step


def language_model_step(
    model: nn.Module,
    ids: torch.Tensor,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> Step:
    """One training step's model work for a language model on ``ids`` ``(batch, seq + 1)``:
    forward on ``ids[:, :-1]``, next-token cross-entropy against ``ids[:, 1:]``, backward.

    ``loss(inputs, targets)`` computes the loss; by default ``F.cross_entropy`` of
    ``model(inputs)``'s logits, which ``model`` may return as they are or as ``.logits``
    (such as :class:`~scratchformer.models.GPT2Output`). Gradients are cleared after each
    step.
    """
    inputs, targets = ids[:, :-1], ids[:, 1:]

    def logits_loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = model(inputs)
        logits = getattr(out, "logits", out)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    step_loss = logits_loss if loss is None else loss

    def step() -> None:
        step_loss(inputs, targets).backward()
        model.zero_grad(set_to_none=True)

    return step


def training_step(
    loss: Callable[[Batch], torch.Tensor],
    batches: Sequence[Batch],
    optimizer: torch.optim.Optimizer,
) -> Step:
    """One whole optimiser step per call, on the next of ``batches`` (cycling through them).

    Each call clears the gradients, computes ``loss(batch)``, back-propagates and calls
    ``optimizer.step()``: what a training loop spends per batch, minus data loading. Two
    steps built on the same ``batches`` and timed by :func:`paired_timings` (or
    :func:`compare`) see the same batch in every pair, so real batches of different
    shapes can be compared fairly.
    """
    if not batches:
        raise ValueError("training_step needs at least one batch to cycle through.")
    upcoming = itertools.cycle(batches)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss(next(upcoming)).backward()
        optimizer.step()

    return step


def wait_for_accelerators() -> None:
    """Block until the work queued on a CUDA or MPS device is done.

    Those devices run asynchronously: a call that queues work returns before the work
    ends, so a clock read right after it would time the queueing, not the work.
    """
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    if torch.backends.mps.is_available():
        torch.mps.synchronize()


def seconds(step: Step) -> float:
    """Wall-clock seconds of one call of ``step``, including its GPU work (if any)."""
    wait_for_accelerators()
    start = time.perf_counter()
    step()
    wait_for_accelerators()
    return time.perf_counter() - start


def best_time_ms(step: Step, repeats: int, warmup: int = 1) -> float:
    """The fastest of ``repeats`` calls, in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    return 1e3 * min(seconds(step) for _ in range(repeats))


def paired_timings(
    first: Step, second: Step, warmup: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Time two steps alternately (swapping which goes first each round); seconds per call."""
    for _ in range(warmup):
        first()
        second()
    t_first, t_second = [], []
    for i in range(repeats):
        if i % 2:
            t_second.append(seconds(second))
            t_first.append(seconds(first))
        else:
            t_first.append(seconds(first))
            t_second.append(seconds(second))
    return t_first, t_second


@dataclass(frozen=True)
class Comparison:
    """Two steps timed alternately (:func:`compare`).

    Attributes:
        first_s, second_s: median seconds per call of each.
        ratio: median of the paired ratios ``second / first``: ``>= 1.0`` means the first
            step is at least as fast as the second.
    """

    first_s: float
    second_s: float
    ratio: float


def compare(first: Step, second: Step, warmup: int, repeats: int) -> Comparison:
    """Time ``first`` and ``second`` alternately (:func:`paired_timings`); medians and ratio."""
    t_first, t_second = paired_timings(first, second, warmup, repeats)
    return Comparison(
        first_s=statistics.median(t_first),
        second_s=statistics.median(t_second),
        ratio=statistics.median(b / a for a, b in zip(t_first, t_second)),
    )


def torch_twin(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """``torch.nn.MultiheadAttention`` holding the same weights as ``ours`` (same layout)."""
    config = ours.config
    twin = nn.MultiheadAttention(config.d_model, config.n_heads, bias=config.bias, batch_first=True)
    state = {name.replace("in_proj.", "in_proj_"): p for name, p in ours.state_dict().items()}
    twin.load_state_dict(state)
    return twin


@dataclass(frozen=True)
class SpeedRow:
    """One sequence length of an attention speed comparison (times are medians, in ms)."""

    seq: int
    ours_ms: float
    torch_ms: float
    ratio: float  # median of paired torch/ours ratios: >= 1.0 means ours is at least as fast


def compare_attention_speed(
    lengths: list[int],
    batch: int = 8,
    d_model: int = 256,
    n_heads: int = 8,
    warmup: int = 5,
    repeats: int = 40,
    seed: int = 0,
) -> list[SpeedRow]:
    """Forward+backward self-attention: our ``MultiHeadAttention`` vs PyTorch's, same weights.

    Before timing each length, checks that both modules compute the same output, so the
    comparison is of the same work.
    """
    torch.manual_seed(seed)
    ours = MultiHeadAttention(AttentionConfig(d_model, n_heads))
    theirs = torch_twin(ours)
    rows = []
    for seq in lengths:
        x = torch.randn(batch, seq, d_model, requires_grad=True)
        with torch.no_grad():
            torch.testing.assert_close(ours(x, x, x)[0], theirs(x, x, x, need_weights=False)[0])
        result = compare(forward_backward(ours, x), forward_backward(theirs, x), warmup, repeats)
        rows.append(
            SpeedRow(
                seq=seq,
                ours_ms=1e3 * result.first_s,
                torch_ms=1e3 * result.second_s,
                ratio=result.ratio,
            )
        )
    return rows


def format_speed_table(rows: list[SpeedRow]) -> str:
    """The rows of :func:`compare_attention_speed` as an aligned text table."""
    lines = [f"{'seq':>6} {'ours ms':>10} {'torch ms':>10} {'torch/ours':>11}"]
    lines += [f"{r.seq:>6} {r.ours_ms:>10.2f} {r.torch_ms:>10.2f} {r.ratio:>11.2f}" for r in rows]
    return "\n".join(lines)
