"""What every tokeniser in this package offers, and the checks they share."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from scratchformer.checks import as_texts


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


def check_texts(texts: object, name: str = "texts") -> list[str]:
    """Return ``texts`` as a list after checking it is a list of strings, none missing.

    A batch method's variant of :func:`scratchformer.checks.as_texts`: its name says
    "batch", so one string is refused rather than read as a batch of one.

    Raises:
        TypeError: for a single string (wrap it in a list) or an item that is not a str,
            naming its position.
    """
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of str, got one str; wrap it in a list: [text]")
    return as_texts(texts, name)[0]


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Return ``ids`` as a list of Python ints after checking each is a valid id.

    Accepts any iterable of integers, including a 1-D tensor or array and NumPy or
    0-d tensor integers.

    Raises:
        TypeError: if ``ids`` is not a sequence of ids (one int, a string, a batch of
            sequences), or naming the first id that is not an integer.
        ValueError: naming the first id outside ``range(vocab_size)``.
    """
    if hasattr(ids, "tolist"):
        ids = ids.tolist()  # tensors and arrays
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        one = " (for one id, pass [id])" if isinstance(ids, int) else ""
        raise TypeError(
            f"ids must be a list of ints or a 1-D integer tensor, got {type(ids).__name__} "
            f"{ids!r:.60}{one}; decode turns ids into text, encode turns text into ids"
        )
    checked: list[int] = []
    for position, item in enumerate(ids):
        if isinstance(item, (list, tuple)):
            raise TypeError(
                f"the id at position {position} is a sequence, {item!r:.60}: decode takes "
                "one sequence of ids; decode a batch row by row"
            )
        token_id = None if isinstance(item, bool) else _as_int(item)
        if token_id is None:
            raise TypeError(
                f"token id at position {position} is {item!r}; ids must be integers "
                "(pass a list of ints or a 1-D integer tensor)"
            )
        if not 0 <= token_id < vocab_size:
            raise ValueError(
                f"token id {token_id} at position {position} is out of range for a "
                f"vocabulary of {vocab_size} ids (valid ids: 0..{vocab_size - 1})"
            )
        checked.append(token_id)
    return checked


def _as_int(item: object) -> int | None:
    """``item`` as an int if it is an integer of any kind (NumPy, a 0-d tensor), else None."""
    try:
        return operator.index(item)  # type: ignore[arg-type]
    except TypeError:
        return None


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


def check_saved_file(
    data: Any, keys: Sequence[str], path: Path, file_format: str, version: int
) -> None:
    """Check a JSON file written by a tokeniser's ``save``: an object tagged
    ``"format": file_format`` and ``"version": version`` that holds every key of ``keys``.

    Raises:
        TokenizerFileError: naming the file and either the foreign format, the
            unsupported version or every missing key, so a hand-edited or foreign file
            is found at once.
    """
    if not isinstance(data, dict):
        raise TokenizerFileError(
            f"{path}: not a {file_format} file (a JSON object), got {type(data).__name__}"
        )
    if data.get("format", file_format) != file_format:
        raise TokenizerFileError(
            f"{path}: not a {file_format} file ('format' is {data['format']!r})"
        )
    if data.get("version") != version:
        raise TokenizerFileError(
            f"{path}: unsupported version {data.get('version')!r} (this code reads {version})"
        )
    missing = [key for key in keys if key not in data]
    if missing:
        raise TokenizerFileError(
            f"{path}: missing field(s) {', '.join(map(repr, missing))}; a {file_format} file "
            f"written by its save() has {', '.join(map(repr, keys))}"
        )


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON (non-ASCII characters kept readable)."""
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
