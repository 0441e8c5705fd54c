"""Benchmark: our MultiHeadAttention against torch.nn.MultiheadAttention (forward + backward).

Self-attention at batch 8, d_model 256, 8 heads, no weights returned, float32 on the CPU.
Both modules hold the same weights (checked to give the same output). After warm-up the
two are timed alternately, one step each, many times, so that drifting machine load hits
both alike. Prints the median time of each and the median of the paired ratios
``torch / ours`` (>= 1.0: ours is at least as fast). Chapter 3 runs the same comparison.

    python bench/attention.py            # lengths 64..1024
    python bench/attention.py --quick    # fewer lengths and repeats
"""

from __future__ import annotations

import torch

from scratchformer.benchmark import (
    bench_parser,
    compare_attention_speed,
    format_speed_table,
    parse_bench_args,
)


def main() -> None:
    args = parse_bench_args(bench_parser(__doc__.splitlines()[0], "fewer lengths and repeats"))
    lengths = [64, 256] if args.quick else [64, 128, 256, 512, 1024]
    warmup, repeats = (2, 10) if args.quick else (5, 40)
    print(
        f"batch 8, d_model 256, 8 heads, forward+backward, {torch.get_num_threads()} threads, "
        f"medians of {repeats} paired runs"
    )
    print(format_speed_table(compare_attention_speed(lengths, warmup=warmup, repeats=repeats)))


if __name__ == "__main__":
    main()
