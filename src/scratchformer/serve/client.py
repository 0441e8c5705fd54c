"""A small client for the service, standard library only (``urllib``).

>>> client = Client("http://127.0.0.1:8000")          # doctest: +SKIP
>>> client.encode(["a text", "another"]).shape        # doctest: +SKIP
torch.Size([2, 384])

Every failure raises :class:`ServiceError`: an error answer of the service (with its HTTP
status and message), no answer within the timeout, or no service at the address
(``status`` is ``None`` for the last two).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import torch


class ServiceError(Exception):
    """The service refused or failed a request, or could not be reached.

    Attributes:
        status: the HTTP status (e.g. 422), or ``None`` when no answer came.
        message: the service's explanation (or what went wrong on the way).
    """

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status
        self.message = message


class Client:
    """Calls one service at ``base_url`` (e.g. ``"http://127.0.0.1:8000"``).

    Args:
        base_url: scheme, host and port of the service.
        timeout_s: how long to wait for each answer.
    """

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}.")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}.")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        """Send one request with a raw body; the decoded JSON answer.

        The endpoint methods below build the body for you; this one exists to send
        anything at all (malformed JSON included).

        Raises:
            ServiceError: for a 4xx/5xx answer, a timeout or an unreachable service.
        """
        url = self.base_url + path
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ServiceError(error.code, _error_message(error)) from None
        except TimeoutError:
            raise ServiceError(None, f"no answer from {url} within {self.timeout_s} s.") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise ServiceError(
                    None, f"no answer from {url} within {self.timeout_s} s."
                ) from None
            raise ServiceError(None, f"cannot reach {url}: {error.reason}") from None
        except OSError as error:  # the connection broke after it was made
            raise ServiceError(None, f"the connection to {url} failed: {error}") from None

    def post(self, path: str, payload: Any) -> dict[str, Any]:
        """``POST`` ``payload`` as JSON to ``path``; the decoded answer."""
        return self.request("POST", path, json.dumps(payload).encode("utf-8"))

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings ``(len(texts), dim)`` from ``POST /encode``."""
        answer = self.post("/encode", {"texts": list(texts)})
        return torch.tensor(answer["embeddings"], dtype=torch.float32)

    def classify(self, texts: Sequence[str]) -> dict[str, Any]:
        """``POST /classify``: ``{"labels", "probabilities", "classes", "model"}``."""
        return self.post("/classify", {"texts": list(texts)})

    def health(self) -> dict[str, Any]:
        """``GET /health``: status, model, uptime, queue depth, batches served, ..."""
        return self.request("GET", "/health")

    def wait_until_ready(self, timeout_s: float = 60.0, interval_s: float = 0.1) -> dict[str, Any]:
        """Poll ``/health`` until the service answers (a freshly started one first loads
        its model); returns the first health answer.

        Raises:
            ServiceError: if it does not answer within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.health()
            except ServiceError as error:
                if error.status is not None or time.monotonic() >= deadline:
                    raise ServiceError(
                        error.status,
                        f"the service at {self.base_url} is not ready after {timeout_s} s "
                        f"({error.message})",
                    ) from None
            time.sleep(interval_s)


def _error_message(error: urllib.error.HTTPError) -> str:
    """The ``"error"`` field of an error answer, or its raw text if it is not our JSON."""
    raw = error.read()
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", errors="replace").strip() or str(error.reason)


__all__ = ["Client", "ServiceError"]
