"""Benchmark: our MultiHeadAttention against torch.nn.MultiheadAttention (forward + backward).

Self-attention at batch 8, d_model 256, 8 heads, no weights returned, float32 on the CPU.
Both modules hold the same weights (checked to give the same output). After warm-up the
two are timed alternately, one step each, many times, so that drifting machine load hits
both alike. Prints the median time of each and the median of the paired ratios
``theirs / ours`` (>= 1.0: ours is at least as fast).

    python bench/attention.py            # lengths 64..1024
    python bench/attention.py --quick    # fewer lengths and repeats
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from scratchformer.attention import AttentionConfig, MultiHeadAttention

BATCH, D_MODEL, N_HEADS = 8, 256, 8


def forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One training step's attention work: self-attention forward, then backward."""

    def step() -> None:
        out, _ = module(x, x, x, need_weights=False)
        out.sum().backward()
        module.zero_grad(set_to_none=True)
        x.grad = None

    return step


def seconds(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def paired_timings(
    ours: Callable[[], None], theirs: Callable[[], None], warmup: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Alternate the two steps (swapping which goes first) and time each call."""
    for _ in range(warmup):
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for i in range(repeats):
        if i % 2:
            t_theirs.append(seconds(theirs))
            t_ours.append(seconds(ours))
        else:
            t_ours.append(seconds(ours))
            t_theirs.append(seconds(theirs))
    return t_ours, t_theirs


def build_pair() -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    ours = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS))
    theirs = nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.in_proj.weight)
        theirs.in_proj_bias.copy_(ours.in_proj.bias)
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lengths and repeats")
    args = parser.parse_args()
    lengths = (64, 256) if args.quick else (64, 128, 256, 512, 1024)
    warmup, repeats = (2, 10) if args.quick else (5, 40)

    torch.manual_seed(0)
    ours, theirs = build_pair()
    print(
        f"batch {BATCH}, d_model {D_MODEL}, {N_HEADS} heads, forward+backward, "
        f"{torch.get_num_threads()} threads, medians of {repeats} paired runs"
    )
    print(f"{'seq':>6} {'ours ms':>10} {'torch ms':>10} {'ratio':>7}")
    for seq in lengths:
        x = torch.randn(BATCH, seq, D_MODEL, requires_grad=True)
        with torch.no_grad():  # same numbers, or the timing compares different work
            torch.testing.assert_close(ours(x, x, x)[0], theirs(x, x, x, need_weights=False)[0])
        t_ours, t_theirs = paired_timings(
            forward_backward(ours, x), forward_backward(theirs, x), warmup, repeats
        )
        ratio = statistics.median(b / a for a, b in zip(t_ours, t_theirs))
        a, b = 1e3 * statistics.median(t_ours), 1e3 * statistics.median(t_theirs)
        print(f"{seq:>6} {a:>10.2f} {b:>10.2f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
