"""An HTTP JSON service for a fine-tuned BERT classifier, standard library only.

It serves one :class:`~scratchformer.classify.TextClassifier` (such as chapter 8's
MiniLM fine-tuned on SMS spam). Endpoints (request and response bodies are JSON objects):

* ``POST /encode`` ``{"texts": [...]}`` -> ``{"embeddings": [[...], ...], "model", "dim"}``:
  the encoder's unit-length mean-pooled sentence embeddings, one per text, in order;
* ``POST /classify`` ``{"texts": [...]}`` -> ``{"labels": [...], "probabilities": [[...]],
  "classes": [...], "model"}``: the most likely class of each text and the fine-tuned
  head's probabilities over ``classes``;
* ``GET /health`` -> status, model, uptime, queue depth and counters of the batcher.

One forward pass gives both answers for a text (embedding and probabilities), so the
two endpoints share the batches.

Bad requests get a 4xx answer ``{"error": message, "status": code}`` whose message says
what was wrong: 400 (not JSON), 404 (unknown path), 405 (wrong method), 413 (too many
texts, a text or body too long), 422 (JSON of the wrong shape).

Each connection is handled on its own thread (``ThreadingHTTPServer``); those threads only
parse and validate, then wait on a future while the :class:`DynamicBatcher`'s single worker
runs the model on batches of texts from all of them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch

from scratchformer.classify import TextClassifier
from scratchformer.serve.batching import BatcherClosedError, BatchingConfig, DynamicBatcher

logger = logging.getLogger("scratchformer.serve")

LOOPBACK = "127.0.0.1"
_ROUTES: dict[str, str] = {"/encode": "POST", "/classify": "POST", "/health": "GET"}


@dataclass(frozen=True)
class ServiceConfig:
    """Everything about how the service listens, limits and batches.

    Attributes:
        host: the address to bind; loopback by default, so nothing outside this
            machine can reach the service unless you ask for it.
        port: the TCP port; ``0`` lets the system pick a free one (see ``.port``).
        max_texts_per_request: more texts in one request are refused (413).
        max_chars_per_text: a longer text is refused (413); the encoder would cut it at
            its ``max_len`` tokens anyway.
        max_batch_size: the most texts per model call.
        max_wait_ms: how long a request may wait for others to join its batch.
        batching: ``False`` runs each request alone, in arrival order (the baseline).
        request_timeout_s: how long a request waits for its result before a 503.
    """

    host: str = LOOPBACK
    port: int = 8000
    max_texts_per_request: int = 64
    max_chars_per_text: int = 2000
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    batching: bool = True
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535] (0: any free port), got {self.port}.")
        for name in ("max_texts_per_request", "max_chars_per_text"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s}.")
        self.batching_config()  # validates max_batch_size and max_wait_ms

    def batching_config(self) -> BatchingConfig:
        """The :class:`BatchingConfig` of the service's batcher."""
        return BatchingConfig(self.max_batch_size, self.max_wait_ms, self.batching)

    @property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: the most texts at the longest length,
        each character escaped (``\\uXXXX``, 6 bytes), plus room for the JSON around them."""
        return self.max_texts_per_request * (6 * self.max_chars_per_text + 8) + 1024


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_texts(body: bytes, config: ServiceConfig) -> list[str]:
    """Validate a request body ``{"texts": [str, ...]}`` and return the texts.

    Raises:
        RequestError: 400 for a body that is not JSON, 422 for JSON of another shape (not an
            object, a missing or extra field, not a list, an empty list, a non-string
            text), 413 for too many texts or a text that is too long. Messages name the
            offending text by index.
    """
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the body is not valid JSON ({error}).") from None
    example = 'send {"texts": ["first text", "second text"]}'
    if not isinstance(payload, dict):
        raise RequestError(422, f"expected a JSON object, got {type(payload).__name__}; {example}.")
    if "texts" not in payload:
        raise RequestError(422, f"the field 'texts' is missing; {example}.")
    extra = sorted(set(payload) - {"texts"})
    if extra:
        raise RequestError(422, f"unexpected field(s) {extra}; {example}.")
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise RequestError(422, f"'texts' must be a list of strings, got {type(texts).__name__}.")
    if not texts:
        raise RequestError(422, "'texts' is empty; send at least one text.")
    if len(texts) > config.max_texts_per_request:
        raise RequestError(
            413,
            f"{len(texts)} texts in one request; the limit is {config.max_texts_per_request}. "
            "Split them over several requests.",
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(
                422, f"texts[{index}] is a {type(text).__name__}; every text must be a string."
            )
        if len(text) > config.max_chars_per_text:
            raise RequestError(
                413,
                f"texts[{index}] has {len(text)} characters; the limit is "
                f"{config.max_chars_per_text}. Shorten it.",
            )
    return texts


class EmbeddingServer:
    """The service: an HTTP server, a dynamic batcher and the model behind them.

    Args:
        model: the fine-tuned classifier (it runs on the batcher's thread only).
        config: address, limits, batching.
        model_name: how responses and ``/health`` name the model.

    The socket is bound at construction (so :attr:`port` is known, also for port 0);
    :meth:`start` serves on a background thread, :meth:`serve_forever` on the calling
    one. :meth:`shutdown` stops everything and joins every thread it started. Use it as
    a context manager to make sure of that.
    """

    def __init__(
        self,
        model: TextClassifier,
        config: ServiceConfig | None = None,
        *,
        model_name: str = "model",
    ) -> None:
        self.config = config if config is not None else ServiceConfig()
        self.model = model
        self.dim = model.dim
        self.model_name = model_name
        self.batcher: DynamicBatcher[str, tuple[torch.Tensor, torch.Tensor]] = DynamicBatcher(
            self._run, self.config.batching_config(), name="serve-batcher"
        )
        try:
            self._httpd = _HTTPServer((self.config.host, self.config.port), _Handler, self)
        except OSError:
            self.batcher.close()
            raise
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._closed = False

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, config: ServiceConfig | None = None
    ) -> EmbeddingServer:
        """Load a classifier folder (:meth:`TextClassifier.load`) and bind.

        The model is named after its folder (e.g. ``minilm-sms-spam``).
        """
        return cls(TextClassifier.load(model_dir), config, model_name=Path(model_dir).name)

    # ------------------------------------------------------------------ life cycle
    @property
    def port(self) -> int:
        """The port the server listens on (the chosen one when ``config.port`` is 0)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """``http://host:port``, the base URL for :class:`~scratchformer.serve.client.Client`."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> EmbeddingServer:
        """Serve on a background thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("the server is already started.")
        self._thread = threading.Thread(target=self.serve_forever, name="serve-http", daemon=True)
        self._thread.start()
        self._serving.wait(5.0)
        return self

    def serve_forever(self) -> None:
        """Answer requests on this thread until :meth:`shutdown` (from another thread)."""
        self._serving.set()
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._serving.clear()

    def shutdown(self) -> None:
        """Stop accepting connections, let the requests in progress finish, stop the
        batcher, and join the threads. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._serving.is_set():
            self._httpd.shutdown()  # returns once serve_forever has left its loop
        self._httpd.server_close()  # joins the request threads
        self.batcher.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def __enter__(self) -> EmbeddingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ endpoints
    def _run(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The batcher's model call: per text, its embedding ``(dim,)`` and its class
        probabilities ``(n_classes,)``."""
        output = self.model.run(texts)
        return list(zip(output.embeddings, output.probabilities))

    def _answers(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Queue ``texts`` with the batcher and wait: embeddings ``(n, dim)`` and class
        probabilities ``(n, n_classes)``."""
        try:
            future = self.batcher.submit(texts)
        except BatcherClosedError:
            raise RequestError(503, "the service is shutting down.") from None
        try:
            rows = future.result(timeout=self.config.request_timeout_s)
        except TimeoutError:
            raise RequestError(
                503,
                f"no result within {self.config.request_timeout_s} s; the service is "
                "overloaded, try again later.",
            ) from None
        except BatcherClosedError:
            raise RequestError(503, "the service is shutting down.") from None
        embeddings, probabilities = zip(*rows)
        return torch.stack(embeddings), torch.stack(probabilities)

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        stats = self.batcher.stats()
        return {
            "status": "ok" if self.batcher.running else "stopping",
            "model": self.model_name,
            "dim": self.dim,
            "classes": self.model.labels,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "queue_depth": self.batcher.queue_depth,
            "batches_served": stats.batches,
            "requests_served": stats.requests,
            "texts_served": stats.texts,
            "batching": self.config.batching,
            "max_batch_size": self.config.max_batch_size,
            "max_wait_ms": self.config.max_wait_ms,
        }

    def encode(self, texts: list[str]) -> dict[str, Any]:
        """What ``POST /encode`` answers for validated ``texts``."""
        return {
            "embeddings": self._answers(texts)[0].tolist(),
            "model": self.model_name,
            "dim": self.dim,
        }

    def classify(self, texts: list[str]) -> dict[str, Any]:
        """What ``POST /classify`` answers for validated ``texts``."""
        probabilities = self._answers(texts)[1]
        return {
            "labels": [self.model.labels[i] for i in probabilities.argmax(dim=-1).tolist()],
            "probabilities": probabilities.tolist(),
            "classes": self.model.labels,
            "model": self.model_name,
        }

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Route one request: ``(status, JSON payload)``. Never raises for a bad request."""
        path = path.split("?", 1)[0]
        try:
            if path not in _ROUTES:
                raise RequestError(
                    404, f"no endpoint {path!r}; the endpoints are {sorted(_ROUTES)}."
                )
            if method != _ROUTES[path]:
                raise RequestError(405, f"{path} accepts {_ROUTES[path]}, not {method}.")
            if path == "/health":
                return 200, self.health()
            texts = parse_texts(body, self.config)
            return 200, self.encode(texts) if path == "/encode" else self.classify(texts)
        except RequestError as error:
            return error.status, {"error": error.message, "status": error.status}
        except Exception as error:  # a failing model must answer, not hang the client
            logger.exception("error while answering %s %s", method, path)
            return 500, {"error": f"internal error: {type(error).__name__}: {error}", "status": 500}


class _HTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that knows its :class:`EmbeddingServer` and joins its
    request threads on close (non-daemon threads, ``block_on_close``)."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128  # connections waiting to be accepted (the default, 5, resets bursts)

    def __init__(self, address: tuple[str, int], handler: type, service: EmbeddingServer) -> None:
        self.service = service
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP/1.0 request, lets :meth:`EmbeddingServer.handle` answer it."""

    server: _HTTPServer
    timeout = 30  # seconds a slow client may take to send its request
    disable_nagle_algorithm = True  # send each answer at once (TCP_NODELAY)
    server_version = "scratchformer-serve"

    def _respond(self) -> None:
        start = time.perf_counter()
        service = self.server.service
        status, payload = self._read_and_handle(service)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 405:
            self.send_header("Allow", _ROUTES.get(self.path.split("?", 1)[0], ""))
        self.end_headers()
        self.wfile.write(data)
        logger.info(
            "%s %s %d %.1f ms", self.command, self.path, status, 1e3 * (time.perf_counter() - start)
        )

    def _read_and_handle(self, service: EmbeddingServer) -> tuple[int, dict[str, Any]]:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return 400, {"error": "the Content-Length header is not a number.", "status": 400}
        if length > service.config.max_body_bytes:
            self._discard(length)
            return 413, {
                "error": f"the body has {length} bytes; the limit is "
                f"{service.config.max_body_bytes}.",
                "status": 413,
            }
        body = self.rfile.read(length) if length > 0 else b""
        return service.handle(self.command, self.path, body)

    def _discard(self, length: int, chunk: int = 1 << 16) -> None:
        """Read and drop a refused body (up to 64 MiB), so the client, still sending,
        gets the answer rather than a reset connection."""
        left = min(length, 1 << 26)
        while left > 0:
            data = self.rfile.read(min(chunk, left))
            if not data:
                break
            left -= len(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _respond

    def log_message(self, format: str, *args: Any) -> None:
        """Route the base class's own messages (errors) to logging instead of stderr."""
        logger.debug(format, *args)


__all__ = ["LOOPBACK", "EmbeddingServer", "RequestError", "ServiceConfig", "parse_texts"]
