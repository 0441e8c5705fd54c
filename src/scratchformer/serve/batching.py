"""Dynamic batching: many small requests in, few large model calls out.

A model answers one text in nearly the time it takes for several: the weights are read
once per call and the matrix products get wider, not longer. A service that runs every
request on its own therefore wastes most of its machine when many clients call at once.
:class:`DynamicBatcher` puts requests in a queue; one worker thread takes the first,
waits at most ``max_wait_ms`` for more, runs the model once on all their texts and routes
each request's share of the results back to it through a
:class:`concurrent.futures.Future`.

How waiting requests are cut into batches is :func:`group_into_batches`: whole requests,
in arrival order, at most ``max_batch_size`` texts per batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def group_into_batches(sizes: Sequence[int], max_batch_size: int) -> list[list[int]]:
    """Cut waiting requests into batches: the batching rule.

    Requests are taken whole and in arrival order; a batch is closed when the next
    request would take it past ``max_batch_size`` texts. A request larger than
    ``max_batch_size`` on its own makes a batch of its own (it is never split, so its
    texts stay together).

    Args:
        sizes: the number of texts of each waiting request, in arrival order.
        max_batch_size: the most texts a batch may hold (when requests allow).

    Returns:
        Lists of request indices, one list per batch, e.g. sizes ``[3, 2, 4, 1]`` with
        ``max_batch_size=5`` give ``[[0, 1], [2, 3]]``.

    Raises:
        ValueError: for ``max_batch_size < 1`` or a size below 1.
    """
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or max_batch_size < 1
    ):
        raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}.")
    batches: list[list[int]] = []
    total = 0
    for index, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"request {index} has size {size!r}; every request holds >= 1 text.")
        if batches and total + size <= max_batch_size:
            batches[-1].append(index)
            total += size
        else:
            batches.append([index])
            total = size
    return batches


@dataclass(frozen=True)
class BatchingConfig:
    """How :class:`DynamicBatcher` groups requests.

    Attributes:
        max_batch_size: the most texts per model call.
        max_wait_ms: how long the first request of a batch may wait for company.
        enabled: ``False`` runs every request on its own, at once (the baseline).
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}.")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}.")


@dataclass(frozen=True)
class BatcherStats:
    """Counters of a :class:`DynamicBatcher` (requests and texts answered, model calls)."""

    requests: int
    batches: int
    texts: int


class BatcherClosedError(RuntimeError):
    """The batcher was closed before (or while) the request was waiting."""


@dataclass
class _Request(Generic[T, R]):
    items: list[T]
    future: Future[list[R]]
    enqueued: float


class DynamicBatcher(Generic[T, R]):
    """Groups concurrent requests into batches for one worker thread.

    Args:
        process: the model call, ``items -> results`` with one result per item, in
            order. It runs on the worker thread only, so it needs no locking.
        config: batch size, waiting time, on/off.
        name: the worker thread's name.

    Use :meth:`submit` from any thread; :meth:`close` stops the worker.
    """

    def __init__(
        self,
        process: Callable[[list[T]], Sequence[R]],
        config: BatchingConfig | None = None,
        name: str = "batcher",
    ) -> None:
        self.config = config if config is not None else BatchingConfig()
        self._process = process
        self._queue: queue.Queue[_Request[T, R] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._requests = self._batches = self._texts = 0
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[T]) -> Future[list[R]]:
        """Queue one request; its future gets the results for ``items``, in order.

        Raises:
            ValueError: for an empty request.
            BatcherClosedError: after :meth:`close`.
        """
        if len(items) == 0:
            raise ValueError("a request needs at least one item.")
        future: Future[list[R]] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosedError("the batcher is closed; it takes no more requests.")
            self._queue.put(_Request(list(items), future, time.monotonic()))
        return future

    @property
    def queue_depth(self) -> int:
        """Requests waiting for the worker (not counting the batch it is running)."""
        return self._queue.qsize()

    def stats(self) -> BatcherStats:
        """Requests and texts answered so far and the number of model calls it took."""
        with self._lock:
            return BatcherStats(self._requests, self._batches, self._texts)

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread.is_alive()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking requests, answer those already queued, stop the worker.

        Later :meth:`submit` calls raise :class:`BatcherClosedError`, and so do the
        futures of requests still queued if the worker does not finish within
        ``timeout_s``. Calling it twice is fine.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join(timeout_s)
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None and not request.future.done():
                request.future.set_exception(BatcherClosedError("the batcher was closed."))

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            waiting = [first]
            if self.config.enabled:
                stopping = self._gather(waiting)
            limit = self.config.max_batch_size if self.config.enabled else 1
            for group in group_into_batches([len(r.items) for r in waiting], limit):
                self._run([waiting[i] for i in group])

    def _gather(self, waiting: list[_Request[T, R]]) -> bool:
        """Add requests to ``waiting`` until it holds ``max_batch_size`` texts or the
        first request has waited ``max_wait_ms``; ``True`` if the stop signal came."""
        deadline = waiting[0].enqueued + self.config.max_wait_ms / 1e3
        total = len(waiting[0].items)
        while total < self.config.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                request = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                return False
            if request is None:
                return True
            waiting.append(request)
            total += len(request.items)
        return False

    def _run(self, requests: list[_Request[T, R]]) -> None:
        items = [item for request in requests for item in request.items]
        try:
            results = list(self._process(items))
            if len(results) != len(items):
                raise RuntimeError(
                    f"the model call returned {len(results)} results for {len(items)} items."
                )
        except Exception as error:  # noqa: BLE001 -- a model failure belongs to every request
            for request in requests:
                request.future.set_exception(error)
            return
        start = 0
        for request in requests:
            request.future.set_result(results[start : start + len(request.items)])
            start += len(request.items)
        with self._lock:
            self._requests += len(requests)
            self._batches += 1
            self._texts += len(items)


__all__ = [
    "BatcherClosedError",
    "BatcherStats",
    "BatchingConfig",
    "DynamicBatcher",
    "group_into_batches",
]
