"""What every tokeniser in this package offers, and the checks they share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol


class Tokenizer(Protocol):
    """Text <-> list of integer ids. Both :class:`CharTokenizer` and :class:`ByteLevelBPE` fit.

    Later chapters only rely on this interface, so either tokeniser can feed a model.
    """

    @property
    def vocab_size(self) -> int:
        """Number of ids; every id is in ``range(vocab_size)``."""
        ...

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token string -> id."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...

    def decode(self, ids: Iterable[int]) -> str:
        """The text that ``ids`` stand for."""
        ...


class TokenizerFileError(ValueError):
    """A tokeniser file is malformed or inconsistent; the message names the file and place."""


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Return ``ids`` as a list of Python ints after checking each is a valid id.

    Accepts any iterable of integers, including a 1-D tensor or array.

    Raises:
        TypeError: naming the first id that is not an integer.
        ValueError: naming the first id outside ``range(vocab_size)``.
    """
    if hasattr(ids, "tolist"):
        ids = ids.tolist()  # tensors and arrays
    checked: list[int] = []
    for position, token_id in enumerate(ids):
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            raise TypeError(
                f"token id at position {position} is {token_id!r}; ids must be integers "
                "(pass a list of ints or a 1-D integer tensor)"
            )
        if not 0 <= token_id < vocab_size:
            raise ValueError(
                f"token id {token_id} at position {position} is out of range for a "
                f"vocabulary of {vocab_size} ids (valid ids: 0..{vocab_size - 1})"
            )
        checked.append(token_id)
    return checked


def read_json(path: Path) -> Any:
    """Load a JSON file, turning every problem into a :class:`TokenizerFileError`.

    Duplicate keys in one object are an error too (``json`` would silently keep the
    last one, hiding a corrupt vocabulary).
    """

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise TokenizerFileError(f"{path}: key {key!r} appears more than once")
            result[key] = value
        return result

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenizerFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise TokenizerFileError(f"{path}: not UTF-8 text ({error})") from None
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise TokenizerFileError(
            f"{path}: line {error.lineno} column {error.colno}: invalid JSON ({error.msg})"
        ) from None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON (non-ASCII characters kept readable)."""
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
