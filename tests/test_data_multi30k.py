"""Multi30k: mirror -> cache -> loader on the real files, and the download path for real,
against a loopback HTTP server (bad checksum, 404 and a cut connection leave nothing in
the cache)."""

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scratchformer import data
from scratchformer.data import corpora, sources


@pytest.fixture(scope="module")
def real_files() -> Path:
    """The course's Multi30k files, as set-up fetched them (mirror or web)."""
    return data.require("multi30k")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(cache))
    monkeypatch.delenv(sources.MIRROR_ENV_VAR, raising=False)
    return cache


def _copy_files(real: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    for name in corpora.MULTI30K_SHA256:
        shutil.copyfile(real / name, into / name)
    return into


def _assert_nothing_cached(cache: Path) -> None:
    assert not data.is_fetched("multi30k")
    leftovers = list(cache.rglob("*")) if cache.exists() else []
    assert leftovers == [], f"a failed fetch left {leftovers} in the cache"


def test_split_sizes_and_languages():
    splits = data.load_de_en("multi30k")
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes == {
        "train": 29_000,
        "validation": 1_014,
        "test": 1_000,
        "test_2017_flickr": 1_000,
        "test_2017_mscoco": 461,
        "test_2018_flickr": 1_071,
    }
    assert all(split.column_names == ["de", "en"] for split in splits.values())
    test = splits["test"][0]  # test is test_2016_flickr, the one published results use
    assert test["de"].startswith("Ein Mann mit einem orangefarbenen Hut")
    assert test["en"] == "A man in an orange hat starring at something."
    french = data.load_multi30k(["fr", "en"])["validation"]
    assert french.column_names == ["fr", "en"] and len(french) == 1_014
    assert all(text == text.strip() and text for text in french["fr"])
    with pytest.raises(ValueError, match="languages"):
        data.load_multi30k(["de", "es"])


def test_mirror_to_cache_to_loader(real_files, empty_cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _copy_files(real_files, mirror / "multi30k")
    monkeypatch.setenv(sources.MIRROR_ENV_VAR, str(mirror))
    monkeypatch.setattr(corpora, "MULTI30K_URL", "http://127.0.0.1:9/unreachable/")  # never used
    with pytest.raises(data.CorpusNotFetchedError, match="fetch multi30k"):
        data.load_de_en("multi30k")
    assert data.load_de_en("multi30k", download=True)["train"].num_rows == 29_000
    assert (empty_cache / "multi30k" / "train.en.gz").read_bytes() == (
        real_files / "train.en.gz"
    ).read_bytes()


def test_a_damaged_mirror_file_is_refused(real_files, empty_cache, tmp_path, monkeypatch):
    mirror = _copy_files(real_files, tmp_path / "mirror" / "multi30k").parent
    with (mirror / "multi30k" / "val.de.gz").open("ab") as handle:
        handle.write(b"\0")
    monkeypatch.setenv(sources.MIRROR_ENV_VAR, str(mirror))
    with pytest.raises(sources.FetchError, match=r"val\.de\.gz has SHA-256 .* expected"):
        data.fetch("multi30k")
    _assert_nothing_cached(empty_cache)


class _Server:
    """Serves a directory on 127.0.0.1; ``cut`` names files sent half, then hung up."""

    def __init__(self, root: Path) -> None:
        self.root, self.cut = root, set()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, *args):  # keep pytest's output clean
                pass

            def do_GET(self):  # the name http.server calls
                name = self.path.rsplit("/", 1)[-1]
                if name not in server.cut:
                    return super().do_GET()
                body = (server.root / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(real_files, empty_cache, tmp_path, monkeypatch) -> Iterator[_Server]:
    served = _Server(_copy_files(real_files, tmp_path / "served"))
    monkeypatch.setattr(corpora, "MULTI30K_URL", served.url)
    yield served
    served.close()


def test_download_from_the_web(server, empty_cache, real_files):
    assert data.fetch("multi30k") == empty_cache / "multi30k"
    for name in corpora.MULTI30K_SHA256:
        assert (empty_cache / "multi30k" / name).read_bytes() == (real_files / name).read_bytes()
    assert len(data.load_multi30k()["test_2018_flickr"]) == 1_071


def test_download_with_a_bad_checksum(server, empty_cache):
    (server.root / "test_2017_mscoco.fr.gz").write_bytes(b"not the file")
    with pytest.raises(
        sources.FetchError, match=r"test_2017_mscoco\.fr\.gz has SHA-256 .* expected"
    ):
        data.fetch("multi30k")
    _assert_nothing_cached(empty_cache)


def test_download_of_a_missing_file(server, empty_cache):
    (server.root / "val.en.gz").unlink()
    with pytest.raises(
        sources.FetchError, match=r"val\.en\.gz failed: HTTP 404 .*SCRATCHFORMER_DATA_MIRROR"
    ):
        data.fetch("multi30k")
    _assert_nothing_cached(empty_cache)


def test_download_cut_short(server, empty_cache):
    server.cut.add("train.de.gz")
    with pytest.raises(
        sources.FetchError, match=r"train\.de\.gz stopped after [\d,]+ of [\d,]+ bytes"
    ):
        data.fetch("multi30k")
    _assert_nothing_cached(empty_cache)


def test_unreachable_server_says_what_to_do(empty_cache, monkeypatch):
    monkeypatch.setattr(corpora, "MULTI30K_URL", "http://127.0.0.1:9/raw/")  # the discard port
    with pytest.raises(sources.FetchError, match=r"failed: .*point SCRATCHFORMER_DATA_MIRROR"):
        data.fetch("multi30k")
    _assert_nothing_cached(empty_cache)
