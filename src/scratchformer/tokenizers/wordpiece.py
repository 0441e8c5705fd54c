"""WordPiece: BERT's tokeniser, reading BERT's ``vocab.txt``.

Encoding runs in two stages.

1. **Basic tokenisation** turns raw text into words (:meth:`WordPiece.basic_tokenize`):

   * clean-up: drop NUL, U+FFFD and control, format, private-use and surrogate
     characters (Unicode categories ``Cc``, ``Cf``, ``Co``, ``Cs``; e.g. zero-width
     spaces), and turn every whitespace character (tab, newline, categories ``Z*``)
     into a space;
   * put spaces around CJK ideographs, so each becomes a word of its own;
   * strip accents (decompose to NFD, drop the combining marks, category ``Mn``) and
     lower-case, character by character (``"Σ"`` always becomes ``"σ"``);
   * split at whitespace, and make every punctuation character (ASCII symbols such as
     ``$`` and ``^`` included) a word of its own.

2. **WordPiece** cuts each word into vocabulary pieces, greedily taking the longest
   prefix in the vocabulary, then the longest continuation (spelled with a ``##``
   prefix) and so on. A word that cannot be cut this way, or is longer than
   ``max_word_chars`` characters, becomes the single ``[UNK]`` token.

Special tokens (``[CLS]``, ``[SEP]``, ``[MASK]``, ...) written in the text are kept whole,
so ``"Paris is the [MASK] of France."`` holds one ``[MASK]`` id.

The ids equal those of the reference BERT tokeniser (Hugging Face ``tokenizers``) for the
same ``vocab.txt``, with one known exception: characters added or reclassified in recent
Unicode versions (roughly since 2017) may be treated differently, because the reference's
character tables are older than Python's ``unicodedata``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import torch

from scratchformer.batching import pad_batch
from scratchformer.checks import check_text
from scratchformer.tokenizers.base import TokenizerFileError, check_ids, check_texts
from scratchformer.tokenizers.specials import SpecialTokenSplitter

VOCAB_FILE = "vocab.txt"
_CACHE_LIMIT = 100_000

# CJK Unified Ideographs (and extensions, compatibility ideographs): the blocks BERT's
# tokeniser treats as one word per character. Hangul, Hiragana and Katakana are not here.
# Google's original code starts the fifth extension block at U+2B820; the Hugging Face
# implementations that serve as the reference start it at U+2B920, and so do we, so that
# our ids agree with theirs.
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


@dataclass(frozen=True)
class WordPieceConfig:
    """How a :class:`WordPiece` tokeniser normalises text and which special tokens it uses.

    Defaults are those of the uncased BERT models (e.g. ``all-MiniLM-L6-v2``).

    Attributes:
        lowercase: lower-case the text (``False`` for cased models).
        strip_accents: remove accents; ``None`` follows ``lowercase`` (as BERT does).
        split_cjk: make every CJK ideograph a word of its own.
        max_word_chars: longer words become ``unk`` without being cut into pieces.
        continuation: the prefix that marks a piece continuing a word.
        unk, cls, sep, pad, mask: the special tokens; each must be in the vocabulary.
    """

    lowercase: bool = True
    strip_accents: bool | None = None
    split_cjk: bool = True
    max_word_chars: int = 100
    continuation: str = "##"
    unk: str = "[UNK]"
    cls: str = "[CLS]"
    sep: str = "[SEP]"
    pad: str = "[PAD]"
    mask: str = "[MASK]"

    def __post_init__(self) -> None:
        if self.max_word_chars < 1:
            raise ValueError(f"max_word_chars must be >= 1, got {self.max_word_chars}.")
        if not self.continuation:
            raise ValueError("continuation must be a non-empty prefix such as '##'.")

    @property
    def special_tokens(self) -> tuple[str, ...]:
        """The special tokens in the order ``pad, unk, cls, sep, mask``."""
        return (self.pad, self.unk, self.cls, self.sep, self.mask)


class Encoding(NamedTuple):
    """One encoded example: ``[CLS] text [SEP]`` or ``[CLS] text [SEP] pair [SEP]``.

    Attributes:
        tokens: the token strings.
        ids: their ids.
        token_type_ids: ``0`` for ``[CLS]``, the text and its ``[SEP]``; ``1`` for the
            pair and its ``[SEP]`` (BERT's segment embedding tells the two apart).
    """

    tokens: list[str]
    ids: list[int]
    token_type_ids: list[int]

    @property
    def attention_mask(self) -> list[int]:
        """``1`` per token: an unpadded example has no positions to ignore."""
        return [1] * len(self.ids)


class BertInputs(NamedTuple):
    """A padded batch, in the argument order of :class:`scratchformer.models.bert.BertModel`
    (so ``model(*inputs)`` works).

    Attributes:
        input_ids: ``LongTensor (batch, seq)``, padded with the ``[PAD]`` id.
        attention_mask: ``BoolTensor (batch, seq)``, ``True`` at real tokens (the
            convention of :func:`scratchformer.batching.pad_batch`).
        token_type_ids: ``LongTensor (batch, seq)``, padded with ``0``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor


# --------------------------------------------------------------------------- characters
@cache
def _category(char: str) -> str:
    return unicodedata.category(char)


_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})


def is_control(char: str) -> bool:
    """Control, format, private-use and surrogate characters, except tab/newline/CR.

    Clean-up deletes them: they carry no text (e.g. the zero-width space, U+200B).
    Unassigned code points (``Cn``) are kept, as the reference tokenisers do; they are in
    no vocabulary, so they end up as ``[UNK]``.
    """
    return char not in "\t\n\r" and _category(char) in _CONTROL_CATEGORIES


def is_whitespace(char: str) -> bool:
    """Tab, newline, carriage return and the separators (``Zs``, ``Zl``, ``Zp``)."""
    return char in "\t\n\r" or _category(char).startswith("Z")


def is_punctuation(char: str) -> bool:
    """Unicode punctuation (``P*``) plus every ASCII symbol (``$``, ``+``, ``^``, ...).

    Each becomes a word of its own, so ``"don't"`` gives ``don``, ``'``, ``t``.
    """
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return _category(char).startswith("P")


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph (see :data:`CJK_RANGES`)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


def strip_accents(text: str) -> str:
    """Remove accents: decompose (NFD) and drop the combining marks (``"Café"`` -> ``"Cafe"``)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if _category(c) != "Mn")


# --------------------------------------------------------------------------- tokeniser
class WordPiece:
    """BERT's WordPiece tokeniser.

    Args:
        vocab: the tokens in id order (token ``i`` has id ``i``), e.g. the lines of
            ``vocab.txt``.
        config: normalisation and special tokens (uncased BERT by default).
        source: how error messages name the vocabulary (:meth:`from_file` passes the path).

    Raises:
        ValueError: for an empty vocabulary, an empty or repeated token, or a missing
            special token, saying which.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        config: WordPieceConfig | None = None,
        *,
        source: str = "vocab",
    ) -> None:
        self.config = config if config is not None else WordPieceConfig()
        self._id_to_token = list(vocab)
        self._vocab = _index_vocab(self._id_to_token, source)
        missing = [t for t in self.config.special_tokens if t not in self._vocab]
        if missing:
            raise ValueError(
                f"{source}: special token(s) {missing} are not in the vocabulary; add them "
                "or name the vocabulary's own special tokens in WordPieceConfig"
            )
        self._splitter = SpecialTokenSplitter(self.config.special_tokens)
        self._strip = (
            self.config.lowercase
            if self.config.strip_accents is None
            else self.config.strip_accents
        )
        self._cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_file(cls, path: str | Path, config: WordPieceConfig | None = None) -> WordPiece:
        """Read a ``vocab.txt`` (one token per line, the line number is the id) or a
        directory holding one.

        Raises:
            TokenizerFileError: if the file is missing, not UTF-8 text, or malformed
                (empty, an empty line, a repeated token, a missing special token),
                naming the file and line.
        """
        path = Path(path)
        if path.is_dir():
            path = path / VOCAB_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TokenizerFileError(
                f"{path}: file not found; pass BERT's vocab.txt or the folder holding it"
            ) from None
        except UnicodeDecodeError as error:
            raise TokenizerFileError(f"{path}: not UTF-8 text ({error})") from None
        try:
            return cls(text.splitlines(), config, source=str(path))
        except ValueError as error:
            raise TokenizerFileError(str(error)) from None

    # ------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Number of ids (lines of ``vocab.txt``)."""
        return len(self._id_to_token)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token -> id."""
        return {token: self._vocab[token] for token in self.config.special_tokens}

    @property
    def pad_id(self) -> int:
        """The id of the padding token."""
        return self._vocab[self.config.pad]

    @property
    def mask_id(self) -> int:
        """The id of the mask token (what masked-language modelling predicts)."""
        return self._vocab[self.config.mask]

    def token_to_id(self, token: str) -> int:
        """Id of a vocabulary token such as ``"hello"`` or ``"##ing"``."""
        try:
            return self._vocab[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary of {self.vocab_size}") from None

    def id_to_token(self, token_id: int) -> str:
        """The token string of an id."""
        return self._id_to_token[check_ids([token_id], self.vocab_size)[0]]

    # ------------------------------------------------------------------ tokenising
    def normalize(self, text: str) -> str:
        """Clean-up, CJK spacing, accent stripping and lower-casing (see the module docs).

        Raises:
            TypeError: if ``text`` is not a str.
        """
        pieces = []
        for char in check_text(text):
            if char in "\x00\ufffd" or is_control(char):
                continue
            if is_whitespace(char):
                pieces.append(" ")
            elif self.config.split_cjk and is_cjk(char):
                pieces.append(f" {char} ")
            else:
                pieces.append(char)
        text = "".join(pieces)
        if self._strip:
            text = strip_accents(text)
        if self.config.lowercase:
            text = "".join(char.lower() for char in text)
        return text

    def basic_tokenize(self, text: str) -> list[str]:
        """The words of ``text``: normalised, split at whitespace and punctuation.

        Special tokens are not recognised here; :meth:`tokenize` cuts them out first.
        """
        words: list[str] = []
        for chunk in self.normalize(text).split(" "):
            start = 0
            for i, char in enumerate(chunk):
                if is_punctuation(char):
                    if i > start:
                        words.append(chunk[start:i])
                    words.append(char)
                    start = i + 1
            if start < len(chunk):
                words.append(chunk[start:])
        return words

    def word_pieces(self, word: str) -> tuple[str, ...]:
        """Cut one word into vocabulary pieces, longest match first, or ``(unk,)``.

        ``"unaffable"`` -> ``("una", "##ffa", "##ble")`` if those pieces are in the
        vocabulary; if at some point no prefix of the rest is, the whole word is ``unk``.
        """
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        pieces = self._greedy_pieces(word)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = pieces
        return pieces

    def _greedy_pieces(self, word: str) -> tuple[str, ...]:
        unknown = (self.config.unk,)
        if len(word) > self.config.max_word_chars:
            return unknown
        pieces = []
        start = 0
        while start < len(word):
            prefix = self.config.continuation if start else ""
            for end in range(len(word), start, -1):
                piece = prefix + word[start:end]
                if piece in self._vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return unknown
        return tuple(pieces)

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text``, without ``[CLS]``/``[SEP]``.

        Raises:
            TypeError: if ``text`` is not a str (``None``, bytes, a list of texts).
        """
        tokens: list[str] = []
        for chunk, is_special in self._splitter.split(check_text(text)):
            if is_special:
                tokens.append(chunk)
                continue
            for word in self.basic_tokenize(chunk):
                tokens.extend(self.word_pieces(word))
        return tokens

    # ------------------------------------------------------------------ encoding
    def encode_plus(
        self, text: str, pair: str | None = None, *, max_len: int | None = None
    ) -> Encoding:
        """Encode ``text`` (and optionally a second segment ``pair``) as BERT's input.

        The result is ``[CLS] text [SEP]`` or ``[CLS] text [SEP] pair [SEP]`` with token
        type ``0`` for the first part and ``1`` for the second.

        Truncation: with ``max_len``, the result has at most ``max_len`` tokens, the
        special ones included. A single text keeps its first ``max_len - 2`` tokens. A
        pair shares the ``max_len - 3`` places: the shorter segment (the first one if
        both are equally long) keeps at most half of them (rounded down) and the longer
        one gets the rest; each keeps its beginning.

        Raises:
            TypeError: if ``text`` (or a given ``pair``) is not a str.
            ValueError: if ``max_len`` leaves no room for the special tokens (below 2,
                or below 3 for a pair).
        """
        first = self.tokenize(check_text(text))
        second = None if pair is None else self.tokenize(check_text(pair, "pair"))
        if max_len is not None:
            first, second = _truncate(first, second, max_len)
        cfg = self.config
        tokens = [cfg.cls, *first, cfg.sep]
        types = [0] * len(tokens)
        if second is not None:
            tokens += [*second, cfg.sep]
            types += [1] * (len(second) + 1)
        return Encoding(tokens, [self._vocab[t] for t in tokens], types)

    def encode(
        self, text: str, pair: str | None = None, *, max_len: int | None = None
    ) -> list[int]:
        """The ids of :meth:`encode_plus` (``[CLS]`` and ``[SEP]`` included)."""
        return self.encode_plus(text, pair, max_len=max_len).ids

    def encode_batch(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
        *,
        max_len: int | None = None,
    ) -> BertInputs:
        """Encode ``texts`` (with ``pairs``, one per text, if given) and pad them to the
        longest, on the right.

        Truncation as in :meth:`encode_plus`: ``max_len`` caps every example.

        Returns:
            :class:`BertInputs` of shape ``(batch, seq)`` each.

        Raises:
            ValueError: for an empty batch, ``pairs`` of another length than ``texts``,
                or a ``max_len`` too small for the special tokens.
            TypeError: if ``texts`` is a single string (wrap it in a list) or holds
                something other than strings (naming its position).
        """
        if isinstance(texts, str) or (pairs is not None and isinstance(pairs, str)):
            raise TypeError("encode_batch expects a list of strings; wrap a single text in [ ]")
        texts = check_texts(texts)
        if pairs is not None:
            pairs = check_texts(pairs, "pairs")
        if not texts:
            raise ValueError("cannot encode an empty batch: pass at least one text")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(
                f"got {len(texts)} texts but {len(pairs)} pairs; pass one pair per text"
            )
        return self.pad(
            [
                self.encode_plus(text, None if pairs is None else pairs[i], max_len=max_len)
                for i, text in enumerate(texts)
            ]
        )

    def pad(self, encodings: Sequence[Encoding]) -> BertInputs:
        """Pad encoded examples to the longest, on the right: ``[PAD]`` ids, token type 0."""
        ids, mask = pad_batch([e.ids for e in encodings], self.pad_id)
        types, _ = pad_batch([e.token_type_ids for e in encodings], 0)
        return BertInputs(ids, mask, types)

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> str:
        """Text from ids: tokens joined by spaces, ``##`` pieces glued to the one before.

        Decoding undoes only the cutting into pieces, not the normalisation: the result is
        lower-cased, accent-free and has spaces around punctuation (``"hello , world !"``),
        and an ``[UNK]`` stays ``[UNK]``.
        """
        specials = set(self.config.special_tokens) if skip_special_tokens else set()
        prefix = self.config.continuation
        text = ""
        for token_id in check_ids(ids, self.vocab_size):
            token = self._id_to_token[token_id]
            if token in specials:
                continue
            if token.startswith(prefix) and text:
                text += token[len(prefix) :]
            else:
                text += (" " if text else "") + token
        return text

    def __repr__(self) -> str:
        return f"WordPiece(vocab_size={self.vocab_size}, config={self.config})"


def _index_vocab(tokens: list[str], source: str) -> dict[str, int]:
    """Token -> id, checking that tokens are non-empty and listed once."""
    if not tokens:
        raise ValueError(f"{source}: the vocabulary is empty; expected one token per line")
    index: dict[str, int] = {}
    for token_id, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise ValueError(
                f"{source}: line {token_id + 1} is empty (token id {token_id}); "
                "every line must hold one token"
            )
        if token in index:
            raise ValueError(
                f"{source}: token {token!r} appears twice, on lines {index[token] + 1} and "
                f"{token_id + 1}; each token must be listed once"
            )
        index[token] = token_id
    return index


def _truncate(
    first: list[str], second: list[str] | None, max_len: int
) -> tuple[list[str], list[str] | None]:
    """Cut the segments so that they and the special tokens fit in ``max_len``."""
    if second is None:
        if max_len < 2:
            raise ValueError(f"max_len={max_len} leaves no room for [CLS] and [SEP]; use >= 2")
        return first[: max_len - 2], None
    if max_len < 3:
        raise ValueError(
            f"max_len={max_len} leaves no room for a pair's [CLS] and two [SEP]; use >= 3"
        )
    budget = max_len - 3
    if len(first) + len(second) <= budget:
        return first, second
    first_is_shorter = len(first) <= len(second)
    shorter = min(len(first), len(second), budget // 2)
    longer = budget - shorter
    if first_is_shorter:
        return first[:shorter], second[:longer]
    return first[:longer], second[:shorter]


__all__ = [
    "CJK_RANGES",
    "BertInputs",
    "Encoding",
    "WordPiece",
    "WordPieceConfig",
    "is_cjk",
    "is_control",
    "is_punctuation",
    "is_whitespace",
    "strip_accents",
]
