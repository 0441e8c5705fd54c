"""Reading and writing GPT-2's tokeniser files: ``vocab.json`` and ``merges.txt``.

* ``vocab.json`` is one JSON object, token string -> id, tokens written in the byte
  stand-in alphabet of :mod:`~scratchformer.tokenizers.byte_unicode` (``"Ġthe": 262``).
* ``merges.txt`` starts with a ``#version: 0.2`` line, then one merge per line, best
  (lowest rank) first, as the two token strings separated by a single space
  (``Ġ t``). Stand-in tokens never contain a space, so the split is unambiguous.

The readers check the *syntax* of each file and report the file and line of any
problem; whether the two files agree is checked when the tokeniser is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scratchformer.tokenizers.base import TokenizerFileError, read_json, write_json

MERGES_HEADER = "#version: 0.2"

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"


def read_vocab(path: str | Path) -> dict[str, int]:
    """Read ``vocab.json``: a JSON object mapping token strings to integer ids.

    Raises:
        TokenizerFileError: for invalid JSON, duplicate tokens, or an id that is not a
            non-negative integer, naming the file and the token.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise TokenizerFileError(
            f"{path}: expected a JSON object mapping tokens to ids, got {type(data).__name__}"
        )
    for token, token_id in data.items():
        if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
            raise TokenizerFileError(
                f"{path}: token {token!r} has id {token_id!r}; ids must be integers >= 0"
            )
    return data


def read_merges(path: str | Path) -> tuple[list[tuple[str, str]], list[int]]:
    """Read ``merges.txt``; returns the merges in rank order and the line number of each.

    An optional first line starting with ``#version`` is skipped, as is the final
    newline.

    Raises:
        TokenizerFileError: for a line that is not exactly two non-empty tokens
            separated by one space, naming the file and line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise TokenizerFileError(f"{path}: not UTF-8 text ({error})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    merges: list[tuple[str, str]] = []
    line_numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if number == 1 and line.startswith("#version"):
            continue
        fields = line.split(" ")
        if len(fields) != 2 or not all(fields):
            raise TokenizerFileError(
                f"{path} line {number}: expected two tokens separated by one space, "
                f"got {len(fields)} field(s): {line!r}"
            )
        merges.append((fields[0], fields[1]))
        line_numbers.append(number)
    return merges, line_numbers


def write_vocab(path: str | Path, vocab: dict[str, int]) -> None:
    """Write ``vocab.json`` with the tokens in id order."""
    write_json(Path(path), dict(sorted(vocab.items(), key=lambda item: item[1])))


def write_merges(path: str | Path, merges: Sequence[tuple[str, str]]) -> None:
    """Write ``merges.txt``: the version header, then ``left right`` per line."""
    lines = [MERGES_HEADER] + [f"{left} {right}" for left, right in merges]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
