"""A small client for the service, standard library only (``urllib``).

>>> client = Client("http://127.0.0.1:8000")          # doctest: +SKIP
>>> client.encode(["a text", "another"]).shape        # doctest: +SKIP
torch.Size([2, 384])
>>> client.encode("one text").shape                   # doctest: +SKIP
torch.Size([384])

Texts follow the package's single-string rule (:func:`scratchformer.checks.as_texts`): a
list (or tuple) of strings is a batch; a single ``str`` is one text, and its answer has no
batch dimension. Anything else is a :class:`TypeError` before anything is sent.

Every failure raises :class:`ServiceError`: an error answer of the service (with its HTTP
status and message), an answer that is not what was asked for (cut off, not JSON, rows
missing: the client never returns a wrong answer silently), no answer within the timeout,
or no service at the address (``status`` is ``None`` when no complete answer came).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import torch

from scratchformer.checks import as_texts


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
        """Send one request with a raw body; the decoded JSON answer (for ``HEAD``, which
        has no body, the answer's headers, names in lower case).

        The endpoint methods below build the body for you; this one exists to send
        anything at all (malformed JSON included).

        Raises:
            ServiceError: for a 4xx/5xx answer, an answer that is not a JSON object, a
                timeout, a connection cut before the whole answer came, or an unreachable
                service.
        """
        url = self.base_url + path
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if method == "HEAD":
                    return {name.lower(): value for name, value in response.headers.items()}
                raw = response.read()
                status = response.status
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
        except (OSError, http.client.HTTPException) as error:  # broke after it was made
            raise ServiceError(
                None, f"the connection to {url} failed before the whole answer came: {error!r}"
            ) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ServiceError(status, f"the answer from {url} is not a JSON object: {raw[:200]!r}")
        return answer

    def post(self, path: str, payload: Any) -> dict[str, Any]:
        """``POST`` ``payload`` as JSON to ``path``; the decoded answer."""
        return self.request("POST", path, json.dumps(payload).encode("utf-8"))

    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings from ``POST /encode``: ``(len(texts), dim)`` for a list of
        texts, ``(dim,)`` for a single string.

        Raises:
            TypeError: if ``texts`` is neither a string nor a list of strings.
            ServiceError: if the service refuses, fails, or answers other than one
                embedding of ``dim`` numbers per text.
        """
        batch, single = as_texts(texts)
        answer = self.post("/encode", {"texts": batch})
        embeddings = _rows(answer, "embeddings", len(batch), answer.get("dim"), "/encode")
        return embeddings[0] if single else embeddings

    def classify(self, texts: str | Sequence[str]) -> dict[str, Any]:
        """``POST /classify``: ``{"labels", "probabilities", "classes", "model"}`` for a list
        of texts (one label and one row of probabilities per text); for a single string
        ``{"label", "probabilities", "classes", "model"}`` with one label and one row.

        Raises:
            TypeError: if ``texts`` is neither a string nor a list of strings.
            ServiceError: if the service refuses, fails, or answers other than one label
                and one row of probabilities over ``classes`` per text.
        """
        batch, single = as_texts(texts)
        answer = self.post("/classify", {"texts": batch})
        classes = answer.get("classes")
        if not isinstance(classes, list):
            raise ServiceError(200, f"the /classify answer has no list of classes: {answer!r:.200}")
        _rows(answer, "probabilities", len(batch), len(classes), "/classify")
        labels = answer.get("labels")
        if not isinstance(labels, list) or len(labels) != len(batch):
            raise ServiceError(
                200, f"the /classify answer has no list of {len(batch)} labels: {labels!r:.200}"
            )
        if not single:
            return answer
        rest = {
            key: value for key, value in answer.items() if key not in ("labels", "probabilities")
        }
        return {"label": labels[0], "probabilities": answer["probabilities"][0], **rest}

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


def _rows(answer: dict[str, Any], key: str, n: int, width: object, path: str) -> torch.Tensor:
    """``answer[key]`` as a ``(n, width)`` float tensor.

    Raises:
        ServiceError: if it is missing or of another shape (a row short, a text left out).
    """
    try:
        rows = torch.tensor(answer[key], dtype=torch.float32)
    except (KeyError, TypeError, ValueError) as error:
        raise ServiceError(
            200, f"the {path} answer has no table of numbers {key!r}: {error}"
        ) from None
    if rows.dim() != 2 or rows.shape[0] != n or rows.shape[1] != width:
        raise ServiceError(
            200,
            f"the {path} answer's {key!r} have shape {tuple(rows.shape)}; "
            f"expected ({n}, {width}), one row per text.",
        )
    return rows


def _error_message(error: urllib.error.HTTPError) -> str:
    """The ``"error"`` field of an error answer, or its raw text if it is not our JSON."""
    raw = error.read()
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", errors="replace").strip() or str(error.reason)


__all__ = ["Client", "ServiceError"]
