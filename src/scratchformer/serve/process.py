"""Running the service in a child process (``python -m scratchformer.serve``) on a free
loopback port: what the chapter, the benchmark and the command-line test do."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scratchformer.serve.client import Client
from scratchformer.serve.server import LOOPBACK

if TYPE_CHECKING:
    from typing_extensions import Self


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """``python -m scratchformer.serve --model DIR --port P [options]`` as a child process.

    Args:
        model_dir: the classifier folder to serve (:meth:`TextClassifier.save`); ``None``
            serves the run profile's default
            (:func:`~scratchformer.classify.model_dir`).
        options: more command-line options, e.g. ``["--no-batching"]``.
        ready_timeout_s: how long to wait for ``/health`` after starting.

    Use as a context manager: entering starts the process on a free port and waits until
    it answers (:attr:`client` then talks to it); leaving stops it with SIGTERM (SIGKILL
    if it does not exit within 10 s) and waits for it.
    """

    def __init__(
        self,
        model_dir: str | Path | None,
        options: Sequence[str] = (),
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.port = free_port()
        model = ["--model", str(model_dir)] if model_dir is not None else []
        self.command = [
            sys.executable, "-m", "scratchformer.serve", *model, "--port", str(self.port), *options,
        ]  # fmt: skip
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.client = Client(self.url)
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start the child and wait for its ``/health``; stop it again if that fails."""
        # its one line of output ("serving ... on ...") is not needed: /health says it is up
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        try:
            self.client.wait_until_ready(self.ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """SIGTERM, wait (SIGKILL after 10 s); the exit code (``None`` if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ServiceProcess", "free_port"]
