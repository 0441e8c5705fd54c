"""``python -m scratchformer.serve [--model DIR] [--port N] ...``

Serves a fine-tuned classifier folder (by default the one chapter 8 saves in the current run
profile, :func:`~scratchformer.classify.model_dir`). Starts the service, prints
one line with its URL once it listens, and runs until SIGTERM or SIGINT (Ctrl-C), then shuts
down within ``--shutdown-timeout-s`` (requests already received are answered).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from scratchformer.classify import model_dir
from scratchformer.serve.server import (
    LOOPBACK,
    EmbeddingServer,
    ServiceConfig,
    logger,
)

_DEFAULTS = ServiceConfig()


def build_parser() -> argparse.ArgumentParser:
    """The command line, its defaults taken from :class:`ServiceConfig`."""
    parser = argparse.ArgumentParser(
        prog="python -m scratchformer.serve",
        description="Serve a fine-tuned BERT classifier over HTTP: /classify (class "
        "probabilities), /encode (its encoder's sentence embeddings), /health.",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a folder written by TextClassifier.save (default: chapter 8's fine-tuned spam "
        f"classifier of the run profile, {model_dir()})",
    )
    parser.add_argument(
        "--host", default=_DEFAULTS.host, help="address to bind (default: loopback only)"
    )
    parser.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="TCP port (0: any free port)"
    )
    parser.add_argument(
        "--max-texts-per-request", type=int, default=_DEFAULTS.max_texts_per_request
    )
    parser.add_argument("--max-chars-per-text", type=int, default=_DEFAULTS.max_chars_per_text)
    parser.add_argument("--max-batch-size", type=int, default=_DEFAULTS.max_batch_size)
    parser.add_argument("--max-wait-ms", type=float, default=_DEFAULTS.max_wait_ms)
    parser.add_argument("--no-batching", action="store_true", help="run every request on its own")
    parser.add_argument(
        "--read-deadline-s",
        type=float,
        default=_DEFAULTS.read_deadline_s,
        help="seconds a client has to send its whole request (else 408)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        help="connections served at once (past it: 503)",
    )
    parser.add_argument(
        "--shutdown-timeout-s",
        type=float,
        default=_DEFAULTS.shutdown_timeout_s,
        help="seconds a shutdown may take, whatever the clients do",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="'info' logs one line per request",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM/SIGINT; the exit status (0 after a clean shutdown)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        config = ServiceConfig(
            host=args.host,
            port=args.port,
            max_texts_per_request=args.max_texts_per_request,
            max_chars_per_text=args.max_chars_per_text,
            max_batch_size=args.max_batch_size,
            max_wait_ms=args.max_wait_ms,
            batching=not args.no_batching,
            read_deadline_s=args.read_deadline_s,
            max_connections=args.max_connections,
            shutdown_timeout_s=args.shutdown_timeout_s,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if config.host != LOOPBACK:
        logger.warning("binding to %s: other machines may reach this service", config.host)
    try:
        server = EmbeddingServer.from_pretrained(args.model or model_dir(), config)
    except (FileNotFoundError, ValueError) as error:  # no folder, or not a classifier's
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    print(f"serving {server.model_name} on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
