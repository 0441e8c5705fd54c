"""The simplest tokeniser: one id per character.

The vocabulary is the sorted set of characters of a training text, after any special
tokens (which take the first ids). A character that never occurred in the training text
has no id: encoding it raises a clear error, unless the tokeniser was built with an
``unk_token``, in which case every unknown character becomes that token's id (and the
original character is lost on decoding).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from scratchformer.checks import check_text
from scratchformer.tokenizers.base import (
    TokenizerFileError,
    check_ids,
    check_saved_file,
    read_json,
    write_json,
)
from scratchformer.tokenizers.specials import SpecialTokenSplitter

_FORMAT = "scratchformer.CharTokenizer"
_VERSION = 1
_KEYS = ("format", "version", "chars", "special_tokens", "unk_token")


class CharTokenizer:
    """Map each character to an id and back.

    Args:
        chars: the vocabulary characters, in id order (after the special tokens).
        special_tokens: strings kept whole when encoding, e.g. ``("<pad>",)``; they get
            ids ``0 .. len(special_tokens) - 1``.
        unk_token: if given, unknown characters encode to this token's id instead of
            raising; it is added to the special tokens if not already among them.

    Raises:
        ValueError: if ``chars`` holds something other than single characters, repeats
            a character, or a one-character special token collides with a character.
    """

    def __init__(
        self,
        chars: Sequence[str],
        special_tokens: Sequence[str] = (),
        unk_token: str | None = None,
    ) -> None:
        specials = list(special_tokens)
        if unk_token is not None and unk_token not in specials:
            specials.append(unk_token)
        self._splitter = SpecialTokenSplitter(specials)
        self.unk_token = unk_token
        vocab = list(self._splitter.tokens)
        seen = set(vocab)
        for char in chars:
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"chars must be single characters, got {char!r}")
            if char in seen:
                raise ValueError(
                    f"character {char!r} appears twice (or is also a special token); "
                    "each vocabulary entry must be unique"
                )
            seen.add(char)
            vocab.append(char)
        self._id_to_token = vocab
        self._token_to_id = {token: i for i, token in enumerate(vocab)}
        self.chars: tuple[str, ...] = tuple(chars)

    @classmethod
    def from_text(
        cls, text: str, special_tokens: Sequence[str] = (), unk_token: str | None = None
    ) -> CharTokenizer:
        """Build the vocabulary from the sorted unique characters of ``text``.

        Raises:
            TypeError: if ``text`` is not one string (a list of texts: join them first).
            ValueError: if ``text`` is empty (there would be no characters to learn).
        """
        if isinstance(text, (list, tuple)):
            raise TypeError(
                "from_text takes one str; join a list of texts first: "
                "CharTokenizer.from_text(''.join(texts))"
            )
        if not check_text(text):
            raise ValueError("cannot build a character vocabulary from empty text")
        return cls(sorted(set(text)), special_tokens=special_tokens, unk_token=unk_token)

    @property
    def vocab_size(self) -> int:
        """Number of ids: special tokens plus characters."""
        return len(self._id_to_token)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token -> id (the first ids of the vocabulary)."""
        return {token: self._token_to_id[token] for token in self._splitter.tokens}

    def token_to_id(self, token: str) -> int:
        """Id of a character or special token; ``KeyError`` with a hint if unknown."""
        try:
            return self._token_to_id[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary of {self.vocab_size}") from None

    def id_to_token(self, token_id: int) -> str:
        """The character or special token with id ``token_id``."""
        return self._id_to_token[check_ids([token_id], self.vocab_size)[0]]

    def encode(self, text: str) -> list[int]:
        """One id per character; special tokens found in ``text`` become their single id.

        Raises:
            TypeError: if ``text`` is not a str (``None``, bytes, a list of texts).
            ValueError: for a character outside the vocabulary when there is no
                ``unk_token``, naming the character and its position.
        """
        ids: list[int] = []
        position = 0
        for chunk, is_special in self._splitter.split(check_text(text)):
            if is_special:
                ids.append(self._token_to_id[chunk])
            else:
                ids.extend(self._encode_plain(chunk, position))
            position += len(chunk)
        return ids

    def _encode_plain(self, chunk: str, offset: int) -> list[int]:
        lookup = self._token_to_id
        unk_id = None if self.unk_token is None else lookup[self.unk_token]
        ids = []
        for i, char in enumerate(chunk):
            token_id = lookup.get(char, unk_id)
            if token_id is None:
                raise ValueError(
                    f"character {char!r} (U+{ord(char):04X}) at position {offset + i} is not "
                    f"in the vocabulary of {self.vocab_size}; build the tokeniser from a text "
                    "that contains it, or pass unk_token='<unk>' to map unknown characters "
                    "to one id"
                )
            ids.append(token_id)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Concatenate the characters (and special tokens) of ``ids``."""
        return "".join(self._id_to_token[i] for i in check_ids(ids, self.vocab_size))

    def save(self, path: str | Path) -> Path:
        """Write the tokeniser to one JSON file and return its path."""
        path = Path(path)
        write_json(
            path,
            {
                "format": _FORMAT,
                "version": _VERSION,
                "chars": list(self.chars),
                "special_tokens": list(self._splitter.tokens),
                "unk_token": self.unk_token,
            },
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        """Read a tokeniser written by :meth:`save`.

        Raises:
            TokenizerFileError: if the file is not valid JSON or not a CharTokenizer file.
        """
        data = read_json(Path(path))
        check_saved_file(data, _KEYS, Path(path), _FORMAT, _VERSION)
        try:
            return cls(data["chars"], data["special_tokens"], data["unk_token"])
        except (TypeError, ValueError) as error:
            raise TokenizerFileError(f"{path}: {error}") from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, special_tokens={self.special_tokens})"
