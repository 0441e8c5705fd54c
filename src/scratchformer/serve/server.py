"""An HTTP JSON service for a fine-tuned BERT classifier, standard library only.

It serves one :class:`~scratchformer.classify.TextClassifier` (such as chapter 8's
MiniLM fine-tuned on SMS spam). Endpoints (request and response bodies are JSON objects):

* ``POST /encode`` ``{"texts": [...]}`` -> ``{"embeddings": [[...], ...], "model", "dim"}``:
  the encoder's unit-length mean-pooled sentence embeddings, one per text, in order;
* ``POST /classify`` ``{"texts": [...]}`` -> ``{"labels": [...], "probabilities": [[...]],
  "classes": [...], "model"}``: the most likely class of each text and the fine-tuned
  head's probabilities over ``classes``;
* ``GET /health`` -> status, model, uptime, queue depth, connections open and refused (past
  ``max_connections``), counters of the batcher (``HEAD /health``: the same headers, no body);
* ``OPTIONS <path>`` -> ``{"path", "allow": [...]}``, the methods the path accepts (also in
  the ``Allow`` header; ``OPTIONS *``: every method the service knows).

One forward pass gives both answers for a text (embedding and probabilities), so the
two endpoints share the batches.

Every answer, errors included, is JSON. Errors are ``{"error": message, "status": code}``
whose message says what was wrong: 400 (not JSON, JSON nested too deeply, a bad
``Content-Length``, a body shorter than announced, a malformed request line), 404 (unknown
path), 405 (wrong method), 408 (the request did not arrive within ``read_deadline_s``), 411
(no ``Content-Length``: chunked bodies are not accepted), 413 (too many texts, a text or
body too long), 422 (JSON of the wrong shape), 501 (a method the service does not know),
503 (too many connections open, no result within ``request_timeout_s``, or shutting down).

Each connection is handled on its own thread; those threads only read, parse and validate,
then wait on a future while the :class:`DynamicBatcher`'s single worker runs the model on
batches of texts from all of them. Hostile clients are bounded: a request must arrive whole
within ``read_deadline_s`` (a client trickling a byte at a time is cut off), at most
``max_connections`` connections are served at once (as many again are answered 503, more
are closed at once), and :meth:`EmbeddingServer.shutdown` finishes within
``shutdown_timeout_s`` whatever the clients do.
"""

from __future__ import annotations

import io
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from scratchformer.classify import TextClassifier
from scratchformer.serve.batching import BatcherClosedError, BatchingConfig, DynamicBatcher

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger("scratchformer.serve")

LOOPBACK = "127.0.0.1"
_ROUTES: dict[str, str] = {"/encode": "POST", "/classify": "POST", "/health": "GET"}
_WIDEST_CHARACTER = "\U0001f600"
"""A character outside the Basic Multilingual Plane: ``json.dumps`` writes it as a
surrogate pair of escapes (``\\ud83d\\ude00``), 12 bytes, the most any character takes."""
_POLL_S = 0.2
"""How often a thread waiting for a client's bytes checks whether the service is stopping."""
_MAX_DISCARD_BYTES = 1 << 26
"""The most bytes of a refused body read (and dropped) so that the client gets its answer."""


def allowed_methods(path: str) -> list[str]:
    """The methods ``path`` accepts (``OPTIONS`` always, ``HEAD`` wherever ``GET``); for
    ``"*"`` every method the service knows; empty for an unknown path."""
    if path == "*":
        methods = set(_ROUTES.values()) | {"HEAD"}
    elif path in _ROUTES:
        methods = {_ROUTES[path]} | ({"HEAD"} if _ROUTES[path] == "GET" else set())
    else:
        return []
    return sorted(methods | {"OPTIONS"})


@dataclass(frozen=True)
class ServiceConfig:
    """Everything about how the service listens, limits and batches.

    Attributes:
        host: the address to bind; loopback by default, so nothing outside this
            machine can reach the service unless you ask for it.
        port: the TCP port; ``0`` lets the system pick a free one (see ``.port``).
        max_texts_per_request: more texts in one request are refused (413).
        max_chars_per_text: a longer text (in characters, as Python counts them) is
            refused (413); the encoder would cut it at its ``max_len`` tokens anyway.
        max_batch_size: the most texts per model call.
        max_wait_ms: how long a request may wait for others to join its batch.
        batching: ``False`` runs each request alone, in arrival order (the baseline).
        request_timeout_s: how long a request waits for its result before a 503.
        read_deadline_s: the whole request (request line, headers, body) must arrive
            within this many seconds of the connection being accepted, or it is answered
            408; sending the answer is bounded by it too. A client that sends one byte every
            few seconds cannot hold a thread longer.
        max_connections: connections served at once; past it, a connection is answered
            503 (as many again at most; any more are closed unanswered), so a flood of
            clients cannot start unbounded threads.
        shutdown_timeout_s: :meth:`EmbeddingServer.shutdown` returns within about this
            long: requests still arriving get half of it to finish (else 503), the
            answers being computed are sent, and connections still open at the end are
            closed.
    """

    host: str = LOOPBACK
    port: int = 8000
    max_texts_per_request: int = 64
    max_chars_per_text: int = 2000
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    batching: bool = True
    request_timeout_s: float = 30.0
    read_deadline_s: float = 30.0
    max_connections: int = 64
    shutdown_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535] (0: any free port), got {self.port}.")
        for name in ("max_texts_per_request", "max_chars_per_text", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("request_timeout_s", "read_deadline_s", "shutdown_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}.")
        self.batching_config()  # validates max_batch_size and max_wait_ms

    def batching_config(self) -> BatchingConfig:
        """The :class:`BatchingConfig` of the service's batcher."""
        return BatchingConfig(self.max_batch_size, self.max_wait_ms, self.batching)

    @cached_property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: what ``json.dumps`` writes for the largest
        valid request (the most texts, each of the most characters, every character one
        that takes 12 bytes escaped), plus 8 bytes per text and 1 KiB of room for the
        whitespace of pretty-printing writers (``indent=4`` fits)."""
        largest = {
            "texts": [_WIDEST_CHARACTER * self.max_chars_per_text] * self.max_texts_per_request
        }
        return len(json.dumps(largest)) + 8 * self.max_texts_per_request + 1024


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_texts(body: bytes, config: ServiceConfig) -> list[str]:
    """Validate a request body ``{"texts": [str, ...]}`` and return the texts.

    Raises:
        RequestError: 400 for a body that is not JSON (or nested too deeply to parse), 422
            for JSON of another shape (not an object, a missing or extra field, ``texts``
            not a list, a single string included, an empty list, a non-string text), 413
            for too many texts or a text that is too long. Messages name the offending text
            by index.
    """
    try:
        payload = json.loads(body)
    except RecursionError:
        raise RequestError(
            400, "the body's JSON is nested too deeply to parse; send a flat request."
        ) from None
    except ValueError as error:  # bad JSON, bad UTF-8, an integer of thousands of digits
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


def _error(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": message, "status": status}


class EmbeddingServer:
    """The service: an HTTP server, a dynamic batcher and the model behind them.

    Args:
        model: the fine-tuned classifier (it runs on the batcher's thread only).
        config: address, limits, batching.
        model_name: how responses and ``/health`` name the model.

    The socket is bound at construction (so :attr:`port` is known, also for port 0);
    :meth:`start` serves on a background thread, :meth:`serve_forever` on the calling
    one. :meth:`shutdown` stops everything within ``config.shutdown_timeout_s``. Use it
    as a context manager to make sure of that.
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
            self._httpd = _HTTPServer((self.config.host, self.config.port), self)
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
        """Stop accepting connections, finish the open ones, stop the batcher, join the
        threads; within about ``config.shutdown_timeout_s``. Safe to call more than once.

        Requests already received are answered. Requests still arriving get half of
        ``shutdown_timeout_s`` to finish, then are answered 503 (the service is shutting
        down: not processed, safe to send again elsewhere). Connections still open when the
        time is up (a client that does not read its answer) are closed.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.config.shutdown_timeout_s
        if self._serving.is_set():
            self._httpd.shutdown()  # returns once serve_forever has left its loop
        self._httpd.accept_waiting()  # connected already: they get an answer too
        self._httpd.server_close()  # later ones are refused: the client knows at once
        self._httpd.close_connections(deadline)
        self.batcher.close(timeout_s=max(deadline - time.monotonic(), 0.1))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(deadline - time.monotonic(), 0.1))

    def __enter__(self) -> Self:
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
            "status": "ok" if self.batcher.running and not self._closed else "stopping",
            "model": self.model_name,
            "dim": self.dim,
            "classes": self.model.labels,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "queue_depth": self.batcher.queue_depth,
            "open_connections": self._httpd.open_connections,
            "refused_connections": self._httpd.refused_connections,
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
        """Route one request: ``(status, JSON payload)``. Never raises for a bad request.

        ``HEAD`` is routed as ``GET`` (the handler sends the headers only)."""
        path = path.split("?", 1)[0]
        try:
            allowed = allowed_methods(path)
            if not allowed:
                raise RequestError(
                    404, f"no endpoint {path!r}; the endpoints are {sorted(_ROUTES)}."
                )
            if method == "OPTIONS":
                return 200, {"path": path, "allow": allowed}
            if method not in allowed:
                raise RequestError(405, f"{path} accepts {_ROUTES[path]}, not {method}.")
            if path == "/health":
                return 200, self.health()
            texts = parse_texts(body, self.config)
            return 200, self.encode(texts) if path == "/encode" else self.classify(texts)
        except RequestError as error:
            return error.status, _error(error.status, error.message)
        except Exception as error:  # a failing model must answer, not hang the client
            logger.exception("error while answering %s %s", method, path)
            return 500, _error(500, f"internal error: {type(error).__name__}: {error}")


class _ReadDeadlineError(Exception):
    """The request did not arrive in time: its deadline passed (408) or the service is
    shutting down (503). Not an ``OSError``, so the standard library's handlers do not
    swallow it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _DeadlineReader(io.RawIOBase):
    """The receiving side of a socket that gives up at a deadline, however the bytes come.

    A socket timeout bounds each ``recv`` alone, so a client sending a byte just before
    each timeout keeps a thread forever. Here every ``recv`` waits at most until the
    deadline, and at most :data:`_POLL_S` at a time, so that a shutdown (which moves the
    deadline closer) is noticed at once.
    """

    def __init__(self, sock: socket.socket, deadline: Callable[[], tuple[float, int, str]]):
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            deadline, status, message = self._deadline()
            left = deadline - time.monotonic()
            if left <= 0:
                raise _ReadDeadlineError(status, message)
            self._sock.settimeout(min(left, _POLL_S))
            try:
                return self._sock.recv_into(buffer)
            except TimeoutError:
                continue


@dataclass
class _Connection:
    """An open connection: its socket, its thread, and whether it is over the cap."""

    sock: socket.socket
    thread: threading.Thread
    refused: bool
    accepted: float = field(default_factory=time.monotonic)


class _HTTPServer(HTTPServer):
    """An ``HTTPServer`` with one thread per connection, a cap on open connections, and
    a bounded way to close them all (:meth:`close_connections`)."""

    request_queue_size = 128  # connections waiting to be accepted (the default, 5, resets bursts)

    def __init__(self, address: tuple[str, int], service: EmbeddingServer) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, _Connection] = {}
        self.stop_reading_at = math.inf  # set by close_connections: reads end there, 503
        self.refused_connections = 0  # answered 503 or closed for being past the cap
        super().__init__(address, _Handler)

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        with self._lock:
            return len(self._connections)

    def connection(self, sock: socket.socket) -> _Connection:
        """The record of an open connection."""
        with self._lock:
            return self._connections[sock]

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a new thread; past the cap, a thread that answers 503;
        past twice the cap, close it unanswered."""
        cap = self.service.config.max_connections
        with self._lock:
            open_now = len(self._connections)
            self.refused_connections += open_now >= cap
            if open_now < 2 * cap:
                thread = threading.Thread(
                    target=self._serve, args=(request, client_address), daemon=True,
                    name=f"serve-connection-{client_address[1]}",
                )  # fmt: skip
                self._connections[request] = _Connection(request, thread, open_now >= cap)
        if open_now >= 2 * cap:
            logger.debug("%d connections open: closing a new one unanswered", open_now)
            self.shutdown_request(request)
            return
        thread.start()

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a bug, not a client: log it, keep serving the others
            logger.exception("error while serving %s", client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                del self._connections[request]

    def accept_waiting(self) -> None:
        """Serve the connections the system has accepted but this server has not taken
        yet (once it has stopped taking them), rather than reset them when it closes."""
        self.socket.setblocking(False)
        while True:
            try:
                request, client_address = self.socket.accept()
            except OSError:  # none left (BlockingIOError), or the socket is closed
                return
            request.setblocking(True)
            self.process_request(request, client_address)

    def close_connections(self, deadline: float) -> None:
        """After accepting has stopped: end the reads still in progress at the midpoint
        between now and ``deadline`` (503), wait for the connections' threads, close the
        sockets of those still open at ``deadline``, and wait briefly once more."""
        now = time.monotonic()
        self.stop_reading_at = now + (deadline - now) / 2
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.thread.join(max(deadline - time.monotonic(), 0))
        stuck = [c for c in connections if c.thread.is_alive()]
        for connection in stuck:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked send or recv
            except OSError:
                pass  # already closed
        for connection in stuck:
            connection.thread.join(_POLL_S)
        if any(c.thread.is_alive() for c in stuck):
            logger.warning("shutdown: connection threads still waiting for the model")


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP/1.0 request within the read deadline, lets
    :meth:`EmbeddingServer.handle` answer it, always in JSON and at most once."""

    server: _HTTPServer
    disable_nagle_algorithm = True  # send each answer at once (TCP_NODELAY)
    server_version = "scratchformer-serve"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: replaced by one with a deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self._read_deadline))
        self._record = self.server.connection(self.connection)
        self._config = self.server.service.config
        self._answered = False
        # what send_error needs if the request line never arrives
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"

    def _read_deadline(self) -> tuple[float, int, str]:
        """``(deadline, status, message)`` for the request being read now."""
        own = self._record.accepted + self._config.read_deadline_s
        if self.server.stop_reading_at < own:
            return self.server.stop_reading_at, 503, "the service is shutting down; try again."
        return (
            own,
            408,
            (
                f"the request did not arrive within {self._config.read_deadline_s} s; send it "
                "whole and at once."
            ),
        )

    def handle(self) -> None:
        """One request per connection (HTTP/1.0); a client that is too slow gets 408 (503
        when the service is stopping), one that goes away is let go without a traceback."""
        try:
            self.handle_one_request()
        except _ReadDeadlineError as late:
            if not self._answered:
                self._send_json(late.status, _error(late.status, late.message))
        except OSError as error:  # the client closed or reset the connection, or stopped reading
            logger.debug("connection from %s ended early: %r", self.client_address, error)

    def _respond(self) -> None:
        start = time.perf_counter()
        status, payload, unread = self._read_and_handle()
        says_allow = status == 405 or (status == 200 and self.command == "OPTIONS")
        allow = allowed_methods(self.path.split("?", 1)[0]) if says_allow else []
        self._send_json(status, payload, allow)
        if unread:
            self._discard(unread)
        logger.info(
            "%s %s %d %.1f ms", self.command, self.path, status, 1e3 * (time.perf_counter() - start)
        )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _respond

    def _read_and_handle(self) -> tuple[int, dict[str, Any], int]:
        """``(status, payload, body bytes left to drop after answering)``."""
        if "Transfer-Encoding" in self.headers:
            message = "send the body with a Content-Length header (chunked bodies are refused)."
            return 411, _error(411, message), 0
        raw = self.headers.get("Content-Length", "0").strip()
        if not raw.isdigit():
            message = f"the Content-Length header must be a number of bytes >= 0, got {raw!r}."
            return 400, _error(400, message), 0
        length = int(raw)
        if self._record.refused:
            cap = self._config.max_connections
            message = f"{cap} connections are open, the most this service serves; try again."
            return 503, _error(503, message), length
        if length > self._config.max_body_bytes:
            message = f"the body has {length} bytes; the limit is {self._config.max_body_bytes}."
            return 413, _error(413, message), length
        try:
            body = self.rfile.read(length) if length > 0 else b""
        except _ReadDeadlineError as late:
            return late.status, _error(late.status, late.message), 0
        if len(body) < length:
            message = f"the body ended after {len(body)} of the {length} bytes announced."
            return 400, _error(400, message), 0
        status, payload = self.server.service.handle(self.command, self.path, body)
        return status, payload, 0

    def _send_json(self, status: int, payload: dict[str, Any], allow: Sequence[str] = ()) -> None:
        """Send the answer once (headers only for ``HEAD``), with the write bounded by the
        read deadline; a client that does not read it is cut off."""
        if self._answered:
            return
        self._answered = True
        data = json.dumps(payload).encode("utf-8")
        self.connection.settimeout(self._config.read_deadline_s)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", ", ".join(allow))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, headers too long,
        an unknown method: 501) in JSON like every other answer."""
        text = message or explain or self.responses.get(code, ("error",))[0]
        if code == 501:
            text += f"; the service accepts {', '.join(allowed_methods('*'))}"
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # a garbage request line reads as HTTP/0.9: no headers
        self._send_json(code, _error(code, f"{text}."))

    def _discard(self, length: int, chunk: int = 1 << 16) -> None:
        """Read and drop a refused body (up to :data:`_MAX_DISCARD_BYTES`, within the read
        deadline), so the client, still sending, gets the answer rather than a reset."""
        left = min(length, _MAX_DISCARD_BYTES)
        try:
            while left > 0:
                data = self.rfile.read(min(chunk, left))
                if not data:
                    break
                left -= len(data)
        except _ReadDeadlineError:
            pass  # answered already; the connection closes now

    def log_message(self, format: str, *args: Any) -> None:
        """Route the base class's own messages (errors) to logging instead of stderr."""
        logger.debug(format, *args)


__all__ = [
    "LOOPBACK",
    "EmbeddingServer",
    "RequestError",
    "ServiceConfig",
    "allowed_methods",
    "parse_texts",
]
