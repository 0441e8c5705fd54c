"""The service end to end on loopback: a tiny random BERT classifier saved as a classifier
folder, real HTTP requests. Also the batching rule, the batcher, the client's errors, the load
generator and the command line."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from scratchformer.classify import TextClassifier
from scratchformer.models.bert import BertModel
from scratchformer.serve import (
    BatcherClosedError,
    BatchingConfig,
    Client,
    DynamicBatcher,
    EmbeddingServer,
    LoadConfig,
    ServiceConfig,
    ServiceError,
    ServiceProcess,
    group_into_batches,
    percentile,
    run_load,
)
from tiny_bert import TEXTS, save_tiny_classifier


@pytest.fixture(scope="module")
def server(model_dir: Path):
    config = ServiceConfig(
        port=0, max_texts_per_request=5, max_chars_per_text=50, max_batch_size=16, max_wait_ms=20
    )
    with EmbeddingServer.from_pretrained(model_dir, config).start() as running:
        yield running


@pytest.fixture()
def client(server: EmbeddingServer) -> Client:
    return Client(server.url, timeout_s=30)


# ------------------------------------------------------------------ the batching rule
def test_group_into_batches_takes_whole_requests_in_order() -> None:
    assert group_into_batches([3, 2, 4, 1], 5) == [[0, 1], [2, 3]]
    assert group_into_batches([1, 1, 1], 1) == [[0], [1], [2]]
    assert group_into_batches([7, 1, 1], 4) == [[0], [1, 2]]  # too big: alone, not split
    assert group_into_batches([2, 2, 2], 6) == [[0, 1, 2]]
    assert group_into_batches([], 3) == []


def test_group_into_batches_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        group_into_batches([1], 0)
    with pytest.raises(ValueError, match="request 1 has size 0"):
        group_into_batches([1, 0], 3)


# ------------------------------------------------------------------ the batcher alone
def test_batcher_groups_waiting_requests_and_routes_results() -> None:
    calls: list[list[int]] = []
    busy, gate = threading.Event(), threading.Event()

    def process(items: list[int]) -> list[int]:
        busy.set()
        gate.wait(5)
        calls.append(items)
        return [10 * x for x in items]

    batcher = DynamicBatcher(process, BatchingConfig(max_batch_size=4, max_wait_ms=0))
    try:
        first = batcher.submit([-1])
        assert busy.wait(5)  # the worker is inside the model call with the first request
        futures = [batcher.submit([i, i + 100]) for i in range(3)]  # these queue meanwhile
        gate.set()
        assert first.result(5) == [-10]
        results = [f.result(5) for f in futures]
    finally:
        batcher.close()
    assert results == [[10 * i, 10 * (i + 100)] for i in range(3)]
    # the waiting requests were grouped by the rule: at most 4 texts, whole requests
    assert calls == [[-1], [0, 100, 1, 101], [2, 102]]
    assert batcher.stats().batches == 3 and batcher.stats().requests == 4


def test_batcher_without_batching_runs_requests_alone() -> None:
    calls: list[list[int]] = []
    batcher = DynamicBatcher(
        lambda items: calls.append(items) or items, BatchingConfig(enabled=False)
    )
    try:
        futures = [batcher.submit([i]) for i in range(6)]
        assert [f.result(5) for f in futures] == [[i] for i in range(6)]
    finally:
        batcher.close()
    assert calls == [[i] for i in range(6)]


def test_batcher_reports_model_errors_to_every_request_of_the_batch() -> None:
    def process(items: list[int]) -> list[int]:
        raise RuntimeError("model exploded")

    batcher = DynamicBatcher(process, BatchingConfig(max_wait_ms=50))
    try:
        futures = [batcher.submit([1]), batcher.submit([2])]
        for future in futures:
            with pytest.raises(RuntimeError, match="model exploded"):
                future.result(5)
    finally:
        batcher.close()


def test_closed_batcher_answers_queued_requests_then_refuses() -> None:
    gate = threading.Event()
    batcher = DynamicBatcher(lambda items: gate.wait(5) and items, BatchingConfig(max_batch_size=1))
    running, queued = batcher.submit([1]), batcher.submit([2])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    time.sleep(0.05)
    with pytest.raises(BatcherClosedError, match="closed"):
        batcher.submit([3])
    gate.set()
    closer.join(5)
    assert running.result(5) == [1] and queued.result(5) == [2]
    assert not batcher.running
    with pytest.raises(ValueError, match="at least one"):
        DynamicBatcher(lambda items: items).submit([])


def test_batcher_close_fails_requests_it_cannot_finish() -> None:
    gate = threading.Event()
    batcher = DynamicBatcher(lambda items: gate.wait(5) and items, BatchingConfig(max_batch_size=1))
    running, queued = batcher.submit([1]), batcher.submit([2])
    batcher.close(timeout_s=0.1)  # the worker is stuck in the model call
    with pytest.raises(BatcherClosedError):
        queued.result(1)
    gate.set()
    assert running.result(5) == [1]


# ------------------------------------------------------------------ the endpoints
def test_encode_answers_normalised_embeddings_equal_to_in_process(
    client: Client, model: TextClassifier, server: EmbeddingServer
) -> None:
    answer = client.post("/encode", {"texts": TEXTS[:3]})
    assert answer["model"] == server.model_name == "tiny-spam" and answer["dim"] == 16
    embeddings = torch.tensor(answer["embeddings"])
    torch.testing.assert_close(embeddings, model.encode(TEXTS[:3]), atol=1e-5, rtol=0)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))


def test_classify_answers_the_fine_tuned_heads_probabilities(
    client: Client, model: TextClassifier
) -> None:
    answer = client.classify(TEXTS[:4])
    expected = model.predict_proba(TEXTS[:4])
    probabilities = torch.tensor(answer["probabilities"])
    torch.testing.assert_close(probabilities, expected, atol=1e-5, rtol=0)
    assert answer["classes"] == ["spam", "ham"]
    assert answer["labels"] == [["spam", "ham"][i] for i in expected.argmax(-1).tolist()]


def test_health_reports_model_and_counters(client: Client) -> None:
    before = client.health()
    client.encode(["the spam"])
    after = client.health()
    assert after["status"] == "ok" and after["model"] == before["model"]
    assert after["requests_served"] == before["requests_served"] + 1
    assert after["batches_served"] == before["batches_served"] + 1
    assert after["queue_depth"] == 0 and after["uptime_s"] >= before["uptime_s"]
    assert after["classes"] == ["spam", "ham"]


BAD_REQUESTS = [
    ("POST", "/encode", b"{not json", 400, "not valid JSON"),
    ("POST", "/encode", b"", 400, "not valid JSON"),
    ("POST", "/encode", b'["a"]', 422, "expected a JSON object"),
    ("POST", "/encode", b'{"text": ["a"]}', 422, "'texts' is missing"),
    ("POST", "/encode", b'{"texts": ["a"], "x": 1}', 422, "unexpected field(s) ['x']"),
    ("POST", "/encode", b'{"texts": "a"}', 422, "must be a list of strings"),
    ("POST", "/encode", b'{"texts": []}', 422, "'texts' is empty"),
    ("POST", "/classify", b'{"texts": ["a", 3]}', 422, "texts[1] is a int"),
    ("POST", "/encode", json.dumps({"texts": ["a"] * 6}).encode(), 413, "6 texts in one request; the limit is 5"),
    ("POST", "/encode", json.dumps({"texts": ["ok", "x" * 51]}).encode(), 413, "texts[1] has 51 characters"),
    ("GET", "/nowhere", None, 404, "no endpoint '/nowhere'"),
    ("POST", "/health", b"{}", 405, "/health accepts GET, not POST"),
    ("GET", "/encode", None, 405, "/encode accepts POST, not GET"),
    ("DELETE", "/classify", None, 405, "/classify accepts POST, not DELETE"),
    ("POST", "/encode", b'{"texts": [["a"]]}', 422, "texts[0] is a list"),
    ("POST", "/encode", b'{"texts": [null]}', 422, "texts[0] is a NoneType"),
    ("POST", "/encode", b'{"texts": {"0": "a"}}', 422, "must be a list of strings, got dict"),
    ("POST", "/encode", b"\xff\xfe", 400, "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "phrase"), BAD_REQUESTS)
def test_bad_requests_get_4xx_with_a_useful_message(
    client: Client, method: str, path: str, body: bytes | None, status: int, phrase: str
) -> None:
    with pytest.raises(ServiceError) as caught:
        client.request(method, path, body)
    assert caught.value.status == status
    assert phrase in caught.value.message


def test_oversized_body_is_refused_before_parsing(client: Client, server: EmbeddingServer) -> None:
    body = b'{"texts": ["' + b"a" * (server.config.max_body_bytes + 10) + b'"]}'
    with pytest.raises(ServiceError) as caught:
        client.request("POST", "/encode", body)
    assert caught.value.status == 413 and "the limit is" in caught.value.message


def test_a_folder_without_a_fine_tuned_head_is_refused(
    model: TextClassifier, tmp_path: Path
) -> None:
    BertModel(model.model.config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no classifier layer"):
        EmbeddingServer.from_pretrained(tmp_path, ServiceConfig(port=0))


# ------------------------------------------------------------------ concurrency and load
def test_concurrent_clients_get_their_own_answers_and_are_batched(
    server: EmbeddingServer, model: TextClassifier
) -> None:
    expected = model.encode(TEXTS)
    before = server.batcher.stats()
    failures: list[str] = []

    def client_loop(index: int) -> None:
        client = Client(server.url, timeout_s=30)
        for r in range(10):
            chosen = [(index + r) % len(TEXTS), (index * 3 + r) % len(TEXTS)]
            got = client.encode([TEXTS[i] for i in chosen])
            if not torch.allclose(got, expected[chosen], atol=1e-5, rtol=0):
                failures.append(f"client {index} request {r}")

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = server.batcher.stats()
    assert failures == []
    assert after.requests - before.requests == 80
    assert after.batches - before.batches < 80  # some model calls served several requests


def test_load_of_200_requests_from_16_threads_drops_nothing(server: EmbeddingServer) -> None:
    result = run_load(
        server.url, TEXTS, LoadConfig(n_clients=16, requests_per_client=12, texts_per_request=2)
    )
    assert result.errors == ()
    assert result.answered == 16 * 12 >= 190
    assert result.throughput > 0 and result.latency_ms(95) >= result.latency_ms(50)


def test_shutdown_leaves_no_thread_running(model: TextClassifier) -> None:
    before = set(threading.enumerate())
    server = EmbeddingServer(model, ServiceConfig(port=0)).start()
    run_load(server.url, TEXTS, LoadConfig(n_clients=4, requests_per_client=3))
    server.shutdown()
    server.shutdown()  # a second call is harmless
    leftover = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []
    with pytest.raises(ServiceError) as caught:
        Client(server.url, timeout_s=2).health()
    assert caught.value.status is None and "cannot reach" in caught.value.message


# ------------------------------------------------------------------ client errors
def test_client_times_out_with_a_clear_error() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = Client(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.2)
        with pytest.raises(ServiceError, match="no answer .* within 0.2 s") as caught:
            client.health()
    assert caught.value.status is None


def test_a_single_string_is_one_text_without_the_batch_dimension(
    client: Client, model: TextClassifier
) -> None:
    embedding = client.encode("free cash")
    assert embedding.shape == (model.dim,)
    torch.testing.assert_close(embedding, model.encode(["free cash"])[0], atol=1e-5, rtol=0)
    one = client.classify("free cash")
    assert set(one) == {"label", "probabilities", "classes", "model"}
    expected = model.predict_proba(["free cash"])[0]
    torch.testing.assert_close(torch.tensor(one["probabilities"]), expected, atol=1e-5, rtol=0)
    assert one["label"] == ["spam", "ham"][int(expected.argmax())]
    many = client.classify(["free cash"])  # a list of one stays a batch
    assert set(many) == {"labels", "probabilities", "classes", "model"}
    assert many["labels"] == [one["label"]] and client.encode(("a", "b")).shape == (2, model.dim)


@pytest.mark.parametrize(
    ("texts", "phrase"),
    [(None, "texts must be a str (one text) or a list of str, got NoneType"),
     (b"free cash", "texts is bytes; decode it"), (3, "got int"), ({"texts": ["a"]}, "got dict"),
     (["ok", 3], "texts[1] must be a str, got int")],
)  # fmt: skip
@pytest.mark.parametrize("method", ["encode", "classify"])
def test_client_refuses_texts_that_are_not_strings_before_sending(
    method: str, texts: object, phrase: str
) -> None:
    client = Client("http://127.0.0.1:1")  # nothing listens: a request would fail otherwise
    with pytest.raises(TypeError, match=re.escape(phrase)):
        getattr(client, method)(texts)


class _Liar(BaseHTTPRequestHandler):
    """Answers every POST 200 with its path's canned body and declared Content-Length (the
    body's own when ``None``): a service that answers wrongly."""

    answers: ClassVar[dict[str, tuple[bytes, int | None]]] = {
        "/encode": (b'{"embeddings": [[1.0, 0.0]], "model": "m", "dim": 2}', None),
        "/classify": ((b'{"labels": ["a"], "probabilities": [[0.5, 0.5], [0.5, 0.5]], '
                       b'"classes": ["a", "b"], "model": "m"}'), None),
        "/not-json": (b"<html>proxy error</html>", None),
        "/cut": (b'{"embeddings": [[1.0', 500),
    }  # fmt: skip

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body, declared = self.answers[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(declared or len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def liar() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("call", "phrase"),
    [(lambda c: c.encode(["a", "b"]), "have shape (1, 2); expected (2, 2)"),
     (lambda c: c.classify(["a", "b"]), "no list of 2 labels"),
     (lambda c: c.classify(["a"]), "have shape (2, 2); expected (1, 2)"),
     (lambda c: c.post("/not-json", {}), "not a JSON object"),
     (lambda c: c.post("/cut", {}), "failed before the whole answer came")],
    ids=["embedding-missing", "label-missing", "extra-row", "not-json", "cut-off"],
)  # fmt: skip
def test_client_never_returns_a_wrong_answer_silently(liar: str, call, phrase: str) -> None:
    with pytest.raises(ServiceError, match=re.escape(phrase)) as caught:
        call(Client(liar, timeout_s=5))
    assert caught.value.status in (200, None)  # 200: it answered, but not what was asked


def test_client_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="http://"):
        Client("127.0.0.1:8000")
    with pytest.raises(ValueError, match="timeout_s"):
        Client("http://127.0.0.1:1", timeout_s=0)


# ------------------------------------------------------------------ configuration and pieces
@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [("port", 70000, "port"), ("max_texts_per_request", 0, "max_texts_per_request"),
     ("max_batch_size", 0, "max_batch_size"), ("max_wait_ms", -1.0, "max_wait_ms"),
     ("request_timeout_s", 0.0, "request_timeout_s"), ("read_deadline_s", 0, "read_deadline_s"),
     ("max_connections", 0, "max_connections"), ("shutdown_timeout_s", -1, "shutdown_timeout_s")],
)  # fmt: skip
def test_service_config_rejects_bad_values(field: str, value: object, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        ServiceConfig(**{field: value})


def test_service_config_binds_loopback_by_default() -> None:
    assert ServiceConfig().host == "127.0.0.1"


@pytest.mark.parametrize(("n", "chars"), [(1, 1), (5, 50), (64, 2000)])
def test_body_limit_fits_the_largest_valid_request_as_json_dumps_writes_it(
    n: int, chars: int
) -> None:
    config = ServiceConfig(max_texts_per_request=n, max_chars_per_text=chars)
    for character in ("a", "\n", "\u00e9", "\U0001f600"):  # 1, 2, 6 and 12 bytes escaped
        largest = {"texts": [character * chars] * n}
        assert len(json.dumps(largest, indent=4)) <= config.max_body_bytes
    room_for_whitespace = 8 * n + 1024  # bounded: the limit is not a guess far above it
    widest = len(json.dumps({"texts": ["\U0001f600" * chars] * n}))
    assert config.max_body_bytes <= widest + room_for_whitespace


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        values = rng.exponential(size=n).tolist()
        for q in (0, 5, 50, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q), abs=1e-12)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 101)


# ------------------------------------------------------------------ the command line
@pytest.mark.slow
def test_cli_starts_answers_health_and_stops_on_sigterm(
    model_dir: Path, model: TextClassifier
) -> None:
    service = ServiceProcess(model_dir, ["--no-batching"])
    try:
        service.start()
        health = service.client.health()
        assert health["status"] == "ok" and health["model"] == model_dir.name
        assert health["batching"] is False and health["classes"] == ["spam", "ham"]
        answer = service.client.classify(["free cash"])
        torch.testing.assert_close(
            torch.tensor(answer["probabilities"]), model.predict_proba(["free cash"]),
            atol=1e-5, rtol=0,
        )  # fmt: skip
    finally:
        code = service.stop()
    assert code == 0  # SIGTERM led to a clean shutdown, not a kill


@pytest.mark.slow
def test_cli_without_model_serves_the_quick_profiles_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(tmp_path))
    monkeypatch.setenv("SCRATCHFORMER_PROFILE", "quick")
    save_tiny_classifier(tmp_path / "models" / "minilm-sms-spam-quick")
    with ServiceProcess(None) as service:
        assert service.client.health()["model"] == "minilm-sms-spam-quick"


@pytest.mark.slow
def test_cli_without_a_model_says_how_to_make_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scratchformer.serve", "--model", str(tmp_path / "none")],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no fine-tuned classifier here" in done.stderr and "chapter 8" in done.stderr
