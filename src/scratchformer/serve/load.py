"""Load testing: many concurrent clients, latency percentiles and throughput.

Each of ``n_clients`` threads sends its requests one after the other, as fast as the
answers come (a *closed loop*: a client waits for its answer before the next request).
Throughput is answered requests per second of wall-clock time; latency is each request's
time from sending to the full answer, summarised by percentiles (the median ``p50`` says
what a typical request feels, ``p95`` what the unlucky one in twenty does).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scratchformer.serve.client import Client, ServiceError


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (``0 <= q <= 100``) with linear interpolation between ranks.

    Sorted values ``v[0] <= ... <= v[n-1]`` sit at ranks ``0 .. n-1``; the percentile is
    read at rank ``q / 100 * (n - 1)``, interpolating between its two neighbours (as
    ``numpy.percentile`` does by default). ``q=50`` is the median, ``q=0`` the minimum.

    Raises:
        ValueError: for no values or ``q`` outside ``[0, 100]``.
    """
    if len(values) == 0:
        raise ValueError("percentile of no values; measure something first.")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}.")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class LoadConfig:
    """The shape of a load test.

    Attributes:
        n_clients: concurrent client threads.
        requests_per_client: requests each client sends, one after the other.
        texts_per_request: texts in each request.
        endpoint: ``"/encode"`` or ``"/classify"``.
        timeout_s: each client's timeout per request.
    """

    n_clients: int = 8
    requests_per_client: int = 10
    texts_per_request: int = 1
    endpoint: str = "/encode"
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("n_clients", "requests_per_client", "texts_per_request"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.endpoint not in ("/encode", "/classify"):
            raise ValueError(f"endpoint must be '/encode' or '/classify', got {self.endpoint!r}.")


@dataclass(frozen=True)
class LoadResult:
    """What :func:`run_load` measured.

    Attributes:
        config: the load test's shape.
        latencies_s: seconds of every answered request.
        errors: the :class:`ServiceError` messages of the failed ones.
        seconds: wall-clock time from the first request to the last answer.
    """

    config: LoadConfig
    latencies_s: tuple[float, ...]
    errors: tuple[str, ...]
    seconds: float

    @property
    def answered(self) -> int:
        """Requests answered with 200."""
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        """Answered requests per second."""
        return self.answered / self.seconds

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile of the latencies, in milliseconds."""
        return 1e3 * percentile(self.latencies_s, q)


def run_load(base_url: str, texts: Sequence[str], config: LoadConfig) -> LoadResult:
    """Send ``n_clients x requests_per_client`` requests from concurrent threads.

    Request ``r`` of client ``c`` carries ``texts_per_request`` consecutive texts of
    ``texts`` (cycled) starting at a position set by ``c`` and ``r``, so the load is the
    same from run to run. All clients start together (a barrier).

    Returns:
        A :class:`LoadResult`; failed requests are counted in ``errors``, not raised.
    """
    if not texts:
        raise ValueError("texts is empty; give the clients something to send.")
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start_line = threading.Barrier(config.n_clients + 1)

    def client_loop(index: int) -> None:
        client = Client(base_url, timeout_s=config.timeout_s)
        start_line.wait()
        for r in range(config.requests_per_client):
            first = (index * config.requests_per_client + r) * config.texts_per_request
            chosen = [texts[(first + k) % len(texts)] for k in range(config.texts_per_request)]
            sent = time.perf_counter()
            try:
                client.post(config.endpoint, {"texts": chosen})
            except ServiceError as error:
                with lock:
                    errors.append(str(error))
                continue
            with lock:
                latencies.append(time.perf_counter() - sent)

    threads = [
        threading.Thread(target=client_loop, args=(i,), name=f"load-client-{i}")
        for i in range(config.n_clients)
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadResult(config, tuple(latencies), tuple(errors), time.perf_counter() - start)


@dataclass(frozen=True)
class BatchingRow:
    """One number of clients, measured against a batching and a non-batching service."""

    clients: int
    batched: LoadResult
    unbatched: LoadResult

    @property
    def speedup(self) -> float:
        """Throughput with batching / without (> 1: batching serves more requests per second)."""
        return self.batched.throughput / self.unbatched.throughput


def compare_batching(
    batched_url: str,
    unbatched_url: str,
    texts: Sequence[str],
    client_counts: Sequence[int],
    config: LoadConfig,
) -> list[BatchingRow]:
    """:func:`run_load` on both services for each number of clients (``config``'s
    ``n_clients`` replaced), alternating between them so that drifting machine load hits
    both alike. Both services should serve the same model."""
    rows = []
    for clients in client_counts:
        shaped = replace(config, n_clients=clients)
        batched = run_load(batched_url, texts, shaped)
        unbatched = run_load(unbatched_url, texts, shaped)
        rows.append(BatchingRow(clients, batched, unbatched))
    return rows


def format_batching_table(rows: Sequence[BatchingRow]) -> str:
    """The rows of :func:`compare_batching` as an aligned table: requests/s and latency
    percentiles (ms) with and without batching, and the throughput ratio."""
    header = (
        f"{'clients':>7} | {'batched req/s':>13} {'p50 ms':>7} {'p95 ms':>7} | "
        f"{'unbatched req/s':>15} {'p50 ms':>7} {'p95 ms':>7} | {'ratio':>5} | errors"
    )
    lines = [header]
    for row in rows:
        b, u = row.batched, row.unbatched
        lines.append(
            f"{row.clients:>7} | {b.throughput:>13.1f} {b.latency_ms(50):>7.1f} "
            f"{b.latency_ms(95):>7.1f} | {u.throughput:>15.1f} {u.latency_ms(50):>7.1f} "
            f"{u.latency_ms(95):>7.1f} | {row.speedup:>5.2f} | {len(b.errors) + len(u.errors)}"
        )
    return "\n".join(lines)


__all__ = [
    "BatchingRow",
    "LoadConfig",
    "LoadResult",
    "compare_batching",
    "format_batching_table",
    "percentile",
    "run_load",
]
