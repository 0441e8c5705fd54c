"""Benchmark: our BERT's inference against transformers', and the service with batching vs without.

**Inference.** Both models load the same weights (``scratchformer.data.require("minilm")``) and encode
the same batches of real text: Shakespeare speeches of ``--max-len / 2`` to ``--max-len``
tokens (our WordPiece), ``--batch`` per batch, padded to the longest in the batch. The
outputs are checked to agree first. Then the two forward passes are timed alternately,
one batch each, so that drifting machine load hits both alike. Prints sentences per
second for each (median) and the median of the paired ratios ``ours / transformers``
(>= 1.0: ours is at least as fast).

**Service.** Starts two services on free loopback ports (``python -m scratchformer.serve``)
serving the same fine-tuned classifier, chapter 8's (``scratchformer.classify.model_dir()``)
if it is in the cache, otherwise MiniLM under a fresh, untrained head (the speed does not
depend on the head's weights), one with batching and one with ``--no-batching``. For each
number of concurrent clients, every client sends ``--requests`` one-text ``/encode``
requests (real SMS messages of 60 to 80 characters, so that padding does not mask batching;
``--mixed-lengths`` sends messages of any length) one after the other; the two services are
measured alternately. Prints requests per second and latency p50/p95 for each, and the
throughput ratio batched / unbatched (> 1: batching serves more).

    python bench/bert.py                  # both parts; 1..32 clients, 16 requests each
    python bench/bert.py --quick          # fewer repeats, 1/4/16 clients, 6 requests each
    python bench/bert.py --part service   # only the service (or: --part inference)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import torch

from scratchformer import classify, data
from scratchformer.benchmark import paired_timings
from scratchformer.models.bert import (
    BertForSequenceClassification,
    BertModel,
    SentenceEncoderConfig,
    load_wordpiece,
)
from scratchformer.serve import LoadConfig, ServiceProcess, compare_batching, format_batching_table
from scratchformer.tokenizers import WordPiece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, clients, requests")
    parser.add_argument("--part", choices=["all", "inference", "service"], default="all")
    parser.add_argument("--batch", type=int, default=32, help="sentences per batch (inference)")
    parser.add_argument("--max-len", type=int, default=128, help="tokens per sentence at most")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--requests", type=int, default=None, help="requests per client")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the batcher's wait")
    parser.add_argument("--mixed-lengths", action="store_true", help="messages of any length")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    if args.part in ("all", "inference"):
        inference(args)
    if args.part in ("all", "service"):
        service(args)


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


def served_model(scratch: Path) -> tuple[Path, str]:
    """Chapter 8's classifier folder if it is in the cache; otherwise MiniLM under a fresh
    head, saved into ``scratch``. Returns the folder and how to describe it."""
    if (classify.model_dir() / "config.json").is_file():
        return classify.model_dir(), "chapter 8's fine-tuned classifier"
    minilm = data.require("minilm", download=True)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(minilm, new_head=True, n_labels=2)
    fresh = classify.TextClassifier(
        model, load_wordpiece(minilm), ["ham", "spam"], SentenceEncoderConfig(max_len=64)
    )
    return fresh.save(scratch / "minilm-fresh-head"), "MiniLM under an untrained head"


def service(args: argparse.Namespace) -> None:
    """The service's requests/s and latency with dynamic batching against without."""
    client_counts = [1, 4, 16] if args.quick else [1, 2, 4, 8, 16, 32]
    requests = args.requests or (6 if args.quick else 16)
    texts = data.load_sms_spam(download=True)["text"]
    if not args.mixed_lengths:
        texts = [text for text in texts if 60 <= len(text) <= 80]
    started = time.perf_counter()
    batched_options = ["--max-wait-ms", str(args.max_wait_ms)]
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, described = served_model(Path(scratch))
        with (
            ServiceProcess(model_dir, batched_options) as batched,
            ServiceProcess(model_dir, ["--no-batching"]) as unbatched,
        ):
            warm_up = LoadConfig(n_clients=2, requests_per_client=3)
            compare_batching(batched.url, unbatched.url, texts, [2], warm_up)
            rows = compare_batching(
                batched.url,
                unbatched.url,
                texts,
                client_counts,
                LoadConfig(requests_per_client=requests),
            )
            health = batched.client.health()
    lengths = "mixed lengths" if args.mixed_lengths else "60-80 characters"
    print(f"\nservice: {described}, one text ({lengths}) per /encode request, {requests} requests "
          f"per client, max_wait_ms={args.max_wait_ms}")  # fmt: skip
    print(format_batching_table(rows))
    print(
        f"batched service: {health['requests_served']} requests in "
        f"{health['batches_served']} model calls; {time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
