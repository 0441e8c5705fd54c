"""Benchmark: the embedding service with dynamic batching against without, on loopback.

Starts two services on free loopback ports (``python -m scratchformer.serve``), both
serving all-MiniLM-L6-v2 (``scratchformer.data.require("minilm")``), one with batching
and one with ``--no-batching``. For each number of concurrent clients, every client sends
``--requests`` one-text ``/encode`` requests (real SMS messages of 60 to 80 characters, so
that padding does not mask batching; ``--mixed-lengths`` sends messages of any length) one
after the other; the two services are measured alternately. Prints requests per second and latency p50/p95
for each, and the throughput ratio batched / unbatched (> 1: batching serves more).

    python bench/serve.py              # 1, 2, 4, 8, 16, 32 clients, 16 requests each
    python bench/serve.py --quick      # 1, 4, 16 clients, 6 requests each
"""

from __future__ import annotations

import argparse
import time

import datasets

from scratchformer import data
from scratchformer.serve import LoadConfig, ServiceProcess, compare_batching, format_batching_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clients and requests")
    parser.add_argument("--requests", type=int, default=None, help="requests per client")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the batcher's wait")
    parser.add_argument("--mixed-lengths", action="store_true", help="messages of any length")
    args = parser.parse_args()
    client_counts = [1, 4, 16] if args.quick else [1, 2, 4, 8, 16, 32]
    requests = args.requests or (6 if args.quick else 16)
    datasets.disable_progress_bars()
    texts = data.load_sms_spam(download=True)["text"]
    if not args.mixed_lengths:
        texts = [text for text in texts if 60 <= len(text) <= 80]
    model_dir = data.require("minilm", download=True)
    started = time.perf_counter()
    batched_options = ["--max-wait-ms", str(args.max_wait_ms)]
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
    print(f"all-MiniLM-L6-v2, one text ({lengths}) per request, {requests} requests per client, "
          f"max_wait_ms={args.max_wait_ms}")  # fmt: skip
    print(format_batching_table(rows))
    print(
        f"batched service: {health['requests_served']} requests in "
        f"{health['batches_served']} model calls; {time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
