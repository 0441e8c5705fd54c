"""Benchmark: chapter 10's full-profile character-level GPT on Shakespeare, trained in one run.

Trains the chapter's real run (four blocks of width 128, batches of 16 windows of 128
characters, learning rate 0.004 falling along a straight line to zero, a budget in steps, so
every machine trains the same model) on the first 90% of the text, evaluating on the last
10% every 1,000 steps. Prints one line per evaluation, then the result on one line:

    steps, train minutes, ms per step, best validation loss (nats per character)

The project's goal: a validation loss of at most 1.50 within 15 minutes on a 2-core CPU.

    python bench/shakespeare.py                    # the chapter's full profile (about 13 minutes)
    python bench/shakespeare.py --quick            # 30 steps
    python bench/shakespeare.py --lr 3e-3 --batch 16 --steps 6000   # a variant (see --help)
    python bench/shakespeare.py --decay cosine --min-lr-ratio 0.1     # the schedule it replaced
    python bench/shakespeare.py --batch 32 --steps 3600               # twice the batch, same work
"""

from __future__ import annotations

import argparse
import time

import torch

from scratchformer.benchmark import bench_parser, parse_bench_args
from scratchformer.config import default_device
from scratchformer.data import shakespeare_text
from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.tokenizers import CharTokenizer
from scratchformer.train import DECAYS, TrainConfig, split_ids, train_lm

# Chapter 10's full profile.
N_LAYERS, D_MODEL, N_HEADS = 4, 128, 4
LR, DECAY, MIN_LR_RATIO, BATCH, BLOCK, STEPS = 4e-3, "linear", 0.0, 16, 128, 7_200
WARMUP, EVAL_EVERY, EVAL_BATCHES = 100, 1_000, 20


def parse_args() -> argparse.Namespace:
    parser = bench_parser(__doc__.splitlines()[0], "30 steps")
    parser.add_argument("--layers", type=int, default=N_LAYERS)
    parser.add_argument("--d-model", type=int, default=D_MODEL)
    parser.add_argument("--heads", type=int, default=N_HEADS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--decay", choices=DECAYS, default=DECAY, help="after the warm-up")
    parser.add_argument("--min-lr-ratio", type=float, default=MIN_LR_RATIO)
    parser.add_argument("--batch", type=int, default=BATCH, help="windows per step")
    parser.add_argument("--block", type=int, default=BLOCK, help="characters per window")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument(
        "--eval-every", type=int, default=EVAL_EVERY, help="steps between evaluations"
    )
    return parse_bench_args(parser)


def main() -> None:
    args = parse_args()
    if args.quick:
        args.steps = 30
    text = shakespeare_text()
    chars = CharTokenizer.from_text(text)
    train_ids, val_ids = split_ids(torch.tensor(chars.encode(text)), val_fraction=0.1)
    torch.manual_seed(0)
    model_config = GPT2Config.named(
        "gpt2-tiny",
        vocab_size=chars.vocab_size,
        max_len=args.block,
        n_layers=args.layers,
        d_model=args.d_model,
        n_heads=args.heads,
        dropout=args.dropout,
    )
    model = GPT2(model_config).to(default_device())
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch,
        block_size=args.block,
        lr=args.lr,
        decay=args.decay,
        min_lr_ratio=args.min_lr_ratio,
        warmup_steps=min(WARMUP, args.steps // 10),
        weight_decay=args.weight_decay,
        eval_every=min(args.eval_every, args.steps),
        eval_batches=EVAL_BATCHES,
    )
    print(f"{model.num_parameters():,} parameters, {torch.get_num_threads()} threads; {config}")
    start = time.perf_counter()

    def report(step: int, train_loss: float, val_loss: float) -> None:
        elapsed = time.perf_counter() - start
        print(
            f"step {step:5d}  train {train_loss:.3f}  val {val_loss:.3f}  {elapsed / 60:5.1f} min",
            flush=True,
        )

    history = train_lm(model, train_ids, val_ids, config, on_eval=report)
    print(
        f"RESULT {history.steps_done} steps in {history.seconds / 60:.1f} min "
        f"({1000 * history.seconds / history.steps_done:.0f} ms/step, evaluations included); "
        f"best validation loss {history.best_val_loss:.3f} (bar: <= 1.50 in <= 15 min)"
    )


if __name__ == "__main__":
    main()
