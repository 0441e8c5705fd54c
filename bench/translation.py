"""Benchmark: chapter 7's full-profile translator, trained and scored on Multi30k in one run.

Trains the chapter's German->English Transformer on Multi30k's 29,000 training pairs with
the chapter's recipe and budget (in epochs, so every machine trains the same model), then
decodes as the chapter does: the last epoch's weights or their mean over the last epochs,
and the length penalty of beam search, each chosen on the validation split; then BLEU
(sacreBLEU's, detokenised and cased, from ``scratchformer.metrics.corpus_bleu``) on
``test_2016_flickr``, the test set published results use. Prints one line per epoch, then the result on one line:

    train minutes, steps, tokens/s, greedy and beam test BLEU, decoding seconds

    python bench/translation.py              # the chapter's full profile (about half an hour)
    python bench/translation.py --quick      # one short epoch on a tenth of the data
    python bench/translation.py --d-ff 512   # a variant (see --help)

The decoding seconds measure the batched greedy and beam searches (beam 4) over the
1,000 test sentences, with the decoder's key/value cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from scratchformer.benchmark import bench_parser, parse_bench_args
from scratchformer.config import default_device
from scratchformer.data import load_de_en
from scratchformer.metrics import corpus_bleu
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.train import (
    Seq2SeqHistory,
    Seq2SeqTrainConfig,
    average_epoch_weights,
    train_seq2seq,
)
from scratchformer.translation import SpecialIds, Translator, encode_pairs, train_shared_tokenizer

# Chapter 7's full profile.
VOCAB_SIZE, MAX_LEN = 8000, 64
D_MODEL, N_HEADS, D_FF, N_LAYERS, DROPOUT = 256, 4, 512, 3, 0.1
EPOCHS, MAX_TOKENS, WARMUP, LR_SCALE, AVERAGE_LAST = 7, 1500, 1000, 1.0, 3
LENGTH_PENALTIES = (0.0, 0.5, 1.0, 1.5)
BEAM = 4


def parse_args() -> argparse.Namespace:
    parser = bench_parser(__doc__.splitlines()[0], "one epoch on a tenth of the data")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--d-model", type=int, default=D_MODEL)
    parser.add_argument("--heads", type=int, default=N_HEADS)
    parser.add_argument("--d-ff", type=int, default=D_FF)
    parser.add_argument("--layers", type=int, default=N_LAYERS)
    parser.add_argument("--dropout", type=float, default=DROPOUT)
    parser.add_argument("--vocab", type=int, default=VOCAB_SIZE)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--lr-scale", type=float, default=LR_SCALE)
    parser.add_argument("--average", type=int, default=AVERAGE_LAST, help="epochs averaged")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and dropout")
    return parse_bench_args(parser)


def main() -> None:
    args = parse_args()
    splits = load_de_en("multi30k", download=True)
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    if args.quick:
        train = train.select(range(len(train) // 10))
        args.epochs, args.average = 1, 1
    torch.manual_seed(args.seed)
    tokenizer = train_shared_tokenizer(list(train["de"]) + list(train["en"]), args.vocab)
    ids = SpecialIds.of(tokenizer)
    pairs = {
        name: encode_pairs(tokenizer, split["de"], split["en"], MAX_LEN)
        for name, split in (("train", train), ("validation", validation))
    }
    config = Seq2SeqConfig(
        src_vocab_size=tokenizer.vocab_size,
        tgt_vocab_size=tokenizer.vocab_size,
        pad_id=ids.pad,
        max_len=MAX_LEN,
        d_model=args.d_model,
        n_heads=args.heads,
        d_ff=args.d_ff,
        n_encoder_layers=args.layers,
        n_decoder_layers=args.layers,
        dropout=args.dropout,
        share_embeddings=True,
    )
    model = Transformer(config).to(default_device())
    training = Seq2SeqTrainConfig(
        epochs=args.epochs,
        max_tokens=args.max_tokens,
        warmup_steps=args.warmup,
        lr_scale=args.lr_scale,
        keep_epochs=args.average,
        progress=False,
    )
    print(
        f"translation benchmark: Multi30k de->en, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, device {default_device()}\n{config}\n{training}\n"
        f"{sum(p.numel() for p in model.parameters()):,} parameters",
        flush=True,
    )

    def report(epoch: int, history: Seq2SeqHistory) -> None:
        print(
            f"epoch {epoch:2}: step {history.steps:5}, train loss {history.train_loss[-1]:.3f}, "
            f"val loss {history.val_loss[-1]:.3f}, {history.tokens_per_second:,.0f} tokens/s",
            flush=True,
        )

    translator = Translator(model, tokenizer)
    sources, references = list(validation["de"]), list(validation["en"])
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = Path(directory) / "translator.pt"
        history = train_seq2seq(
            model, pairs["train"], pairs["validation"], training, checkpoint, report
        )
        # As the chapter does: the last epoch's weights or the mean of the last few,
        # whichever translates the validation split better (greedy BLEU).
        last_epoch = {name: t.clone() for name, t in model.state_dict().items()}
        last = corpus_bleu(translator.translate(sources), references).score
        average_epoch_weights(
            model, checkpoint, range(args.epochs - args.average + 1, args.epochs + 1)
        )
        averaged = corpus_bleu(translator.translate(sources), references).score
        weights = f"mean of the last {args.average} epochs"
        if averaged <= last:
            model.load_state_dict(last_epoch)
            weights = "last epoch"
    print(
        f"validation greedy BLEU: last epoch {last:.2f}, mean of the last {args.average} "
        f"epochs {averaged:.2f}; translating with the {weights}",
        flush=True,
    )
    scores = {
        alpha: corpus_bleu(translator.translate(sources, BEAM, alpha), references).score
        for alpha in LENGTH_PENALTIES
    }
    alpha = max(scores, key=scores.__getitem__)
    print(
        f"validation beam-{BEAM} BLEU by length penalty ({len(sources)} sentences): "
        + ", ".join(f"{a}: {s:.2f}" for a, s in scores.items()),
        flush=True,
    )
    sources, references = list(test["de"]), list(test["en"])
    started = time.perf_counter()
    greedy = corpus_bleu(translator.translate(sources), references).score
    greedy_seconds, started = time.perf_counter() - started, time.perf_counter()
    beam = corpus_bleu(translator.translate(sources, BEAM, alpha), references).score
    beam_seconds = time.perf_counter() - started
    print(
        f"RESULT train {history.seconds / 60:.1f} min, {history.steps} steps, "
        f"{history.tokens_per_second:,.0f} tokens/s | {weights} | "
        f"test_2016_flickr BLEU greedy {greedy:.2f}, beam {BEAM} (length penalty {alpha}) "
        f"{beam:.2f} | decoding {len(sources)} sentences: greedy {greedy_seconds:.0f} s, "
        f"beam {beam_seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
