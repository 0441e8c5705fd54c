"""The service against slow, hostile and heavy clients, on loopback: a request that never
finishes arriving, deep JSON, the largest valid request, a flood of connections, HEAD and
OPTIONS, clients that hang up, SIGTERM with clients still connected, and a mixed load."""

from __future__ import annotations

import json
import logging
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from scratchformer.classify import TextClassifier
from scratchformer.serve import (
    Client,
    EmbeddingServer,
    ServiceConfig,
    ServiceError,
    ServiceProcess,
)
from tiny_bert import TEXTS

READ_DEADLINE_S = 1.0


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[EmbeddingServer]:
    config = ServiceConfig(
        port=0, max_texts_per_request=5, max_chars_per_text=20_000, max_wait_ms=10,
        read_deadline_s=READ_DEADLINE_S, max_connections=32,
    )  # fmt: skip
    with EmbeddingServer.from_pretrained(model_dir, config).start() as running:
        yield running


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)  # a guard against a hanging test, never reached when all is well
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read until the server closes: ``(status, headers with lower-case names, body)``."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(port) as sock:
        sock.sendall(data)
        return read_answer(sock)


def post_bytes(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def wait_for_open_connections(server: EmbeddingServer, count: int) -> None:
    """Poll until the server has exactly ``count`` connections open (threads finished)."""
    for _ in range(500):
        if server.health()["open_connections"] == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{server.health()['open_connections']} connections open, not {count}")


# ------------------------------------------------------------------ slow clients
TRICKLED = {
    "nothing at all": b"",
    "the request line": b"POST /encode HTTP/1.0\r\nContent-Le",
    "the body": post_bytes("/encode", b'{"texts": ["a slow text"]}'),
}


@pytest.mark.parametrize("part", list(TRICKLED))
def test_a_trickling_client_is_answered_408_at_the_read_deadline(
    server: EmbeddingServer, part: str
) -> None:
    """One byte every 0.2 s, and the request never completes: each byte would restart a
    per-recv timeout, but the deadline is on the whole request. Any answer at all proves it."""
    sent = TRICKLED[part][:-8] if part == "the body" else TRICKLED[part]
    answered = threading.Event()

    def trickle(sock: socket.socket) -> None:
        for index in range(len(sent)):
            if answered.is_set():
                return
            try:
                sock.sendall(sent[index : index + 1])
            except OSError:
                return  # the server answered and closed
            time.sleep(0.2)

    with connect(server.port) as sock:
        trickler = threading.Thread(target=trickle, args=(sock,))
        trickler.start()
        try:
            status, headers, body = read_answer(sock)
        finally:
            answered.set()
            trickler.join(30)
    assert status == 408 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": f"the request did not arrive within {READ_DEADLINE_S} s; send it whole and "
        "at once.",
        "status": 408,
    }
    wait_for_open_connections(server, 0)


def test_a_slow_client_within_the_deadline_is_answered(
    server: EmbeddingServer, model: TextClassifier
) -> None:
    message = post_bytes("/encode", json.dumps({"texts": TEXTS[:2]}).encode())
    with connect(server.port) as sock:
        for start in range(0, len(message), len(message) // 3 + 1):
            sock.sendall(message[start : start + len(message) // 3 + 1])
            time.sleep(0.1)
        status, _, body = read_answer(sock)
    assert status == 200
    torch.testing.assert_close(
        torch.tensor(json.loads(body)["embeddings"]), model.encode(TEXTS[:2]), atol=1e-5, rtol=0
    )


# ------------------------------------------------------------------ bodies and headers
@pytest.mark.parametrize(
    ("request_bytes", "status", "phrase"),
    [
        (post_bytes("/encode", b"[" * 100_000 + b"]" * 100_000), 400, "nested too deeply"),
        (post_bytes("/encode", b'{"texts": [' + b"7" * 5000 + b"]}"), 400, "not valid JSON"),
        (b"POST /encode HTTP/1.0\r\nContent-Length: -1\r\n\r\n{}", 400, "got '-1'"),
        (b"POST /encode HTTP/1.0\r\nContent-Length: 1e3\r\n\r\n{}", 400, "got '1e3'"),
        (b"POST /encode HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         411, "Content-Length"),
        (b"hello\r\n\r\n", 400, "Bad request syntax"),
        (b"BREW /encode HTTP/1.0\r\n\r\n", 501, "the service accepts GET, HEAD, OPTIONS, POST"),
        (b"GET /health HTTP/1.0\r\n" + b"X-Padding: y\r\n" * 120 + b"\r\n", 431, "Too many"),
    ],
    ids=["nested", "huge-integer", "negative-length", "float-length", "chunked",
         "garbage-request-line", "unknown-method", "too-many-headers"],
)  # fmt: skip
def test_malformed_requests_get_a_json_4xx_or_501(
    server: EmbeddingServer, request_bytes: bytes, status: int, phrase: str
) -> None:
    got, headers, body = exchange(server.port, request_bytes)
    assert got == status and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["status"] == status and phrase in answer["error"]


def test_a_body_shorter_than_announced_is_400_not_parsed(server: EmbeddingServer) -> None:
    with connect(server.port) as sock:  # '{"texts": ["a"]}' is valid JSON: it must not count
        sock.sendall(b'POST /encode HTTP/1.0\r\nContent-Length: 30\r\n\r\n{"texts": ["a"]}')
        sock.shutdown(socket.SHUT_WR)  # the client is done sending, but still reads
        status, _, body = read_answer(sock)
    assert status == 400
    assert json.loads(body)["error"] == "the body ended after 16 of the 30 bytes announced."


def test_the_largest_valid_request_as_the_client_writes_it_is_answered(
    model: TextClassifier,
) -> None:
    """64 texts of 2,000 emoji: json.dumps escapes each emoji as 12 bytes, 1.5 MB in all."""
    config = ServiceConfig(port=0)
    largest = {"texts": ["\U0001f600" * config.max_chars_per_text] * config.max_texts_per_request}
    assert len(json.dumps(largest)) > 12 * 64 * 2000  # what the old 6-byte guess refused
    assert len(json.dumps(largest, indent=4)) <= config.max_body_bytes
    with EmbeddingServer(model, config).start() as running:
        embeddings = Client(running.url).encode(largest["texts"])
        assert embeddings.shape == (64, model.dim)
        with pytest.raises(ServiceError) as caught:  # one character more is refused by count
            Client(running.url).encode(["\U0001f600" * 2001])
    assert caught.value.status == 413 and "2001 characters" in caught.value.message


# ------------------------------------------------------------------ HEAD and OPTIONS
def test_head_sends_the_headers_of_get_without_a_body(server: EmbeddingServer) -> None:
    status, headers, body = exchange(server.port, b"HEAD /health HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b""
    assert headers["content-type"] == "application/json" and int(headers["content-length"]) > 50
    status, headers, body = exchange(server.port, b"HEAD /encode HTTP/1.0\r\n\r\n")
    assert status == 405 and body == b"" and headers["allow"] == "OPTIONS, POST"
    assert Client(server.url).request("HEAD", "/health")["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/encode", ["OPTIONS", "POST"]), ("/health", ["GET", "HEAD", "OPTIONS"]),
     ("*", ["GET", "HEAD", "OPTIONS", "POST"])],
)  # fmt: skip
def test_options_lists_the_allowed_methods_in_json(
    server: EmbeddingServer, path: str, allow: list[str]
) -> None:
    status, headers, body = exchange(server.port, f"OPTIONS {path} HTTP/1.0\r\n\r\n".encode())
    assert status == 200 and json.loads(body) == {"path": path, "allow": allow}
    assert headers["allow"] == ", ".join(allow)


def test_options_of_an_unknown_path_is_404(server: EmbeddingServer) -> None:
    with pytest.raises(ServiceError) as caught:
        Client(server.url).request("OPTIONS", "/nowhere")
    assert caught.value.status == 404


# ------------------------------------------------------------------ many and rude clients
def test_connections_past_the_cap_get_a_json_503_then_are_closed(model: TextClassifier) -> None:
    config = ServiceConfig(port=0, max_connections=2, read_deadline_s=20)
    with EmbeddingServer(model, config).start() as running:
        idle = [connect(running.port) for _ in range(2)]  # connected, sending nothing
        wait_for_open_connections(running, 2)
        with pytest.raises(ServiceError) as caught:
            Client(running.url).encode(["over the cap"])
        assert caught.value.status == 503
        assert "2 connections are open, the most this service serves" in caught.value.message
        idle += [connect(running.port) for _ in range(2)]  # now 4 open: twice the cap
        wait_for_open_connections(running, 4)
        with pytest.raises(ServiceError) as caught:
            Client(running.url).health()
        assert caught.value.status is None  # closed unanswered: no thread started for it
        for sock in idle:
            sock.close()
        wait_for_open_connections(running, 0)
        assert Client(running.url).encode("served again").shape == (running.dim,)
        assert running.health()["refused_connections"] == 4  # the 503, 2 idle, the closed one


@pytest.mark.parametrize("how", ["mid-body", "reset-before-the-answer"])
def test_a_client_that_hangs_up_leaves_no_traceback(
    server: EmbeddingServer,
    how: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="scratchformer.serve"):
        for _ in range(5):
            with connect(server.port) as sock:
                if how == "mid-body":
                    sock.sendall(b'POST /classify HTTP/1.0\r\nContent-Length: 100\r\n\r\n{"te')
                else:  # the whole request, then a reset (RST) instead of reading the answer
                    sock.sendall(post_bytes("/classify", b'{"texts": ["bye"]}'))
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        wait_for_open_connections(server, 0)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert Client(server.url).health()["status"] == "ok"


# ------------------------------------------------------------------ shutdown
@pytest.mark.slow
def test_sigterm_stops_the_process_promptly_whatever_its_clients_do(
    model_dir: Path, model: TextClassifier
) -> None:
    """Slow and idle clients are connected and answers are being computed when SIGTERM
    comes: the process exits by itself (not killed after 10 s); every request gets exactly
    one outcome: a correct answer, a JSON 503, or a refused connection once it is gone."""
    options = ["--read-deadline-s", "60", "--shutdown-timeout-s", "2", "--max-wait-ms", "20"]
    service = ServiceProcess(model_dir, options).start()
    expected = model.predict_proba(TEXTS)
    outcomes: list[str] = []
    stop_sending = threading.Event()

    def busy_client(index: int) -> None:
        client = Client(service.url, timeout_s=30)
        while not stop_sending.is_set():
            chosen = [(index + k) % len(TEXTS) for k in range(3)]
            try:
                answer = client.classify([TEXTS[i] for i in chosen])
            except ServiceError as error:
                if error.status == 503 and "shutting down" in error.message:
                    outcomes.append("503")
                elif error.status is None and "cannot reach" in error.message:
                    outcomes.append("gone")
                    return
                else:
                    outcomes.append(f"unexpected: {error}")
                continue
            got = torch.tensor(answer["probabilities"])
            right = torch.allclose(got, expected[chosen], atol=1e-5, rtol=0)
            outcomes.append("200" if right else f"wrong answer for {chosen}")

    try:
        slow = connect(service.port)  # half a request, then nothing
        slow.sendall(b'POST /encode HTTP/1.0\r\nContent-Length: 40\r\n\r\n{"texts": [')
        idle = connect(service.port)
        threads = [threading.Thread(target=busy_client, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        while outcomes.count("200") < 8:
            time.sleep(0.01)
        service.process.send_signal(signal.SIGTERM)
        slow_status, _, slow_body = read_answer(slow)
        idle_status, _, _ = read_answer(idle)
    finally:
        code = service.stop()  # SIGKILL (code -9) only if it has not exited within 10 s
        stop_sending.set()
        for thread in threads:
            thread.join(30)
    assert code == 0
    assert slow_status == 503 and "shutting down" in json.loads(slow_body)["error"]
    assert idle_status == 503
    assert set(outcomes) <= {"200", "503", "gone"}, outcomes
    assert outcomes.count("gone") == 4  # every client saw the end, none hung on an answer


# ------------------------------------------------------------------ a mixed load
def test_mixed_load_of_valid_malformed_and_slow_requests(
    server: EmbeddingServer, model: TextClassifier
) -> None:
    """8 clients x 8 requests: valid ones (lists and single strings, both endpoints),
    malformed ones, slow ones within the deadline, and trickles past it. Every valid one
    is answered as the model answers it directly, every bad one gets its 4xx, nothing is
    dropped or answered twice (the server counted exactly the valid ones)."""
    probabilities = model.predict_proba(TEXTS)
    embeddings = model.encode(TEXTS)
    before = server.health()
    bad_bodies = [
        (b'{"texts": "one string"}', 422), (b'{"texts": [1, 2]}', 422), (b"{oops", 400),
        (json.dumps({"texts": ["x"] * 6}).encode(), 413), (b"[" * 50_000, 400),
    ]  # fmt: skip
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def record(kind: str, ok: bool) -> None:
        with lock:
            results.append((kind, ok))

    def client_loop(index: int) -> None:
        client = Client(server.url, timeout_s=30)
        for r in range(8):
            kind = ("valid", "valid", "single", "bad", "slow", "valid", "late", "bad")[
                (index + r) % 8
            ]
            chosen = [(index * 3 + r + k) % len(TEXTS) for k in range(1 + r % 3)]
            if kind == "valid" and r % 2 == 0:
                got = client.encode([TEXTS[i] for i in chosen])
                record(kind, torch.allclose(got, embeddings[chosen], atol=1e-5, rtol=0))
            elif kind == "valid":
                answer = client.classify([TEXTS[i] for i in chosen])
                got = torch.tensor(answer["probabilities"])
                record(kind, torch.allclose(got, probabilities[chosen], atol=1e-5, rtol=0))
            elif kind == "single":
                answer = client.classify(TEXTS[chosen[0]])
                got = torch.tensor(answer["probabilities"])
                record(kind, torch.allclose(got, probabilities[chosen[0]], atol=1e-5, rtol=0))
            elif kind == "bad":
                body, status = bad_bodies[(index + r) % len(bad_bodies)]
                try:
                    client.request("POST", "/classify", body)
                    record(kind, False)
                except ServiceError as error:
                    record(kind, error.status == status)
            elif kind == "slow":  # in three pieces, well within the deadline
                message = post_bytes("/encode", json.dumps({"texts": [TEXTS[chosen[0]]]}).encode())
                with connect(server.port) as sock:
                    for piece in (message[:20], message[20:-5], message[-5:]):
                        sock.sendall(piece)
                        time.sleep(0.05)
                    status, _, body = read_answer(sock)
                got = torch.tensor(json.loads(body)["embeddings"]) if status == 200 else None
                record(kind, got is not None and torch.allclose(got, embeddings[chosen[:1]]))
            else:  # late: half a request, then silence until the deadline
                with connect(server.port) as sock:
                    sock.sendall(b"POST /encode HTTP/1.0\r\nContent-Length: 50\r\n\r\n{")
                    status, _, _ = read_answer(sock)
                record(kind, status == 408)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 64 and [kind for kind, ok in results if not ok] == []
    wait_for_open_connections(server, 0)
    after = Client(server.url).health()
    served = sum(kind in ("valid", "single", "slow") for kind, _ in results)
    assert after["requests_served"] - before["requests_served"] == served
    assert after["status"] == "ok" and after["open_connections"] == 1  # this /health itself
