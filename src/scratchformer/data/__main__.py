"""Command line: ``python -m scratchformer.data {fetch,list} [NAME ...]``."""

from __future__ import annotations

import argparse
import sys

from scratchformer.data.cache import cache_dir
from scratchformer.data.corpora import CORPORA, fetch, is_fetched
from scratchformer.data.sources import FetchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scratchformer.data",
        description="Fetch the course's corpora into the cache.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="fetch corpora (all when none is named)")
    fetch_cmd.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of: {', '.join(CORPORA)} (default: all)"
    )
    fetch_cmd.add_argument("--force", action="store_true", help="fetch again even if cached")
    commands.add_parser("list", help="list corpora and whether they are fetched")
    args = parser.parse_args(argv)

    if args.command == "list":
        print(f"cache: {cache_dir()}")
        for name, corpus in CORPORA.items():
            state = "fetched" if is_fetched(name) else "missing"
            print(f"  {name:<12} [{state}] {corpus.description}")
        return 0

    unknown = [name for name in args.names if name not in CORPORA]
    if unknown:
        parser.error(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(CORPORA)}")
    failures = 0
    for name in args.names or list(CORPORA):
        try:
            path = fetch(name, force=args.force)
            print(f"{name}: {path}")
        except FetchError as error:
            failures += 1
            print(f"{name}: FAILED\n  {error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
