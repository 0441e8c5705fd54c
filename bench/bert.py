"""Benchmark: our BERT's inference against transformers' on the same weights and text.

Both models load the same weights (``scratchformer.data.require("minilm")``) and encode
the same batches of real text: Shakespeare speeches of ``--max-len / 2`` to ``--max-len``
tokens (our WordPiece), ``--batch`` per batch, padded to the longest in the batch. The
outputs are checked to agree first. Then the two forward passes are timed alternately,
one batch each, so that drifting machine load hits both alike. Prints sentences per
second for each (median) and the median of the paired ratios ``ours / transformers``
(>= 1.0: ours is at least as fast).

The service (dynamic batching against none, latency percentiles) has its own bench,
``bench/serve.py``.

    python bench/bert.py                  # 32 sentences per batch, up to 128 tokens
    python bench/bert.py --quick          # fewer repeats
"""

from __future__ import annotations

import argparse
import statistics

import datasets
import torch

from scratchformer import data
from scratchformer.benchmark import paired_timings
from scratchformer.models.bert import BertModel
from scratchformer.tokenizers import WordPiece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch", type=int, default=32, help="sentences per batch (inference)")
    parser.add_argument("--max-len", type=int, default=128, help="tokens per sentence at most")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    inference(args)


def inference(args: argparse.Namespace) -> None:
    """Our BertModel against transformers' on the same weights and batches."""
    from transformers import AutoModel  # a reference, needed by this script only

    directory = data.require("minilm", download=True)
    ours = BertModel.from_pretrained(directory)
    theirs = AutoModel.from_pretrained(directory).eval()
    tokenizer = WordPiece.from_file(directory / "vocab.txt")

    # Speeches of half to all of --max-len tokens: batches hold some padding, as real ones do.
    n_batches = 4
    texts = [
        text
        for text in data.load_shakespeare(download=True)["text"]
        if args.max_len // 2 <= len(tokenizer.tokenize(text)) + 2 <= args.max_len
    ][: n_batches * args.batch]
    batches = [
        tokenizer.encode_batch(texts[i : i + args.batch], max_len=args.max_len)
        for i in range(0, len(texts), args.batch)
    ]
    with torch.inference_mode():
        for batch in batches:
            expected = theirs(**batch._asdict()).last_hidden_state
            torch.testing.assert_close(ours(*batch).hidden, expected, atol=1e-4, rtol=1e-4)

    def run(model, call):
        def step() -> None:
            with torch.inference_mode():
                for batch in batches:
                    call(model, batch)

        return step

    step_ours = run(ours, lambda model, batch: model(*batch))
    step_theirs = run(theirs, lambda model, batch: model(**batch._asdict()))
    warmup, repeats = (1, 5) if args.quick else (2, 15)
    t_ours, t_theirs = paired_timings(step_ours, step_theirs, warmup, repeats)
    n_sentences = sum(len(batch.input_ids) for batch in batches)
    seq = statistics.mean(batch.input_ids.shape[1] for batch in batches)
    real = statistics.mean(float(batch.attention_mask.float().mean()) for batch in batches)
    print(
        f"all-MiniLM-L6-v2 forward, batch {args.batch}, padded length {seq:.0f} tokens "
        f"({100 * real:.0f}% real tokens), {torch.get_num_threads()} threads, "
        f"medians of {repeats} paired runs of {len(batches)} batches"
    )
    print(f"{'ours sent/s':>12} {'transformers sent/s':>20} {'ours/transformers':>18}")
    print(
        f"{n_sentences / statistics.median(t_ours):>12.1f} "
        f"{n_sentences / statistics.median(t_theirs):>20.1f} "
        f"{statistics.median(b / a for a, b in zip(t_ours, t_theirs)):>18.2f}"
    )


if __name__ == "__main__":
    main()
