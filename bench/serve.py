"""Benchmark: the classification service's latency and throughput, with dynamic batching and without.

Starts two services on free loopback ports (``python -m scratchformer.serve``) serving the
same classifier: ``--model`` if given, else the one chapter 8 saves for the run profile
(``scratchformer.classify.model_dir()``), else MiniLM under a fresh, untrained head
(speed does not depend on the head's weights). One has batching on, the other
``--no-batching``. ``--clients`` concurrent clients each send ``--requests`` one-text
``/classify`` requests (SMS messages of 60 to 80 characters, so that padding does not hide
batching), one after the other; the two services are measured alternately, after a warm-up.
Prints one line per service: requests per second and latency p50/p99 in milliseconds.

    python bench/serve.py                          # 16 clients, 16 requests each
    python bench/serve.py --clients 4 --requests 8
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import datasets
import torch

from scratchformer import classify, data
from scratchformer.models.bert import BertForSequenceClassification
from scratchformer.models.sentence_encoder import SentenceEncoderConfig
from scratchformer.serve import LoadConfig, ServiceProcess, compare_batching
from scratchformer.tokenizers import load_wordpiece


def model_to_serve(given: Path | None, scratch: Path) -> tuple[Path, str]:
    """The folder to serve and how to describe it (see the module docstring)."""
    if given is not None:
        return given, str(given)
    chapter_8 = classify.model_dir()
    if (chapter_8 / "config.json").is_file():
        return chapter_8, f"chapter 8's {chapter_8.name}"
    minilm = data.require("minilm", download=True)
    torch.manual_seed(0)
    untrained = classify.TextClassifier(
        BertForSequenceClassification.from_pretrained(minilm, new_head=True, n_labels=2),
        load_wordpiece(minilm),
        ["ham", "spam"],
        SentenceEncoderConfig(max_len=64),
    )
    return untrained.save(scratch / "minilm-untrained-head"), "MiniLM under an untrained head"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a classifier folder")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=16, help="requests per client")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the batcher's wait")
    args = parser.parse_args()
    datasets.disable_progress_bars()
    texts = [t for t in data.load_sms_spam(download=True)["text"] if 60 <= len(t) <= 80]
    load = LoadConfig(requests_per_client=args.requests, endpoint="/classify")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, described = model_to_serve(args.model, Path(scratch))
        with (
            ServiceProcess(model_dir, ["--max-wait-ms", str(args.max_wait_ms)]) as batched,
            ServiceProcess(model_dir, ["--no-batching"]) as unbatched,
        ):
            warm_up = LoadConfig(n_clients=2, requests_per_client=3, endpoint="/classify")
            compare_batching(batched.url, unbatched.url, texts, [2], warm_up)
            (row,) = compare_batching(batched.url, unbatched.url, texts, [args.clients], load)
    print(
        f"service: {described}, {args.clients} clients x {args.requests} one-text /classify "
        f"requests, max_wait_ms={args.max_wait_ms}, {torch.get_num_threads()} torch threads"
    )
    for name, result in (("batched", row.batched), ("unbatched", row.unbatched)):
        print(
            f"{name:>9}: {result.throughput:7.1f} requests/s  p50 {result.latency_ms(50):7.1f} ms"
            f"  p99 {result.latency_ms(99):7.1f} ms  errors {len(result.errors)}"
        )


if __name__ == "__main__":
    main()
