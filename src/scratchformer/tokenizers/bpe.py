"""Byte-level BPE: GPT-2's tokeniser, trainable from scratch and able to read GPT-2's files.

Text is cut at special tokens, each stretch is cut into pre-tokens
(:class:`~scratchformer.tokenizers.pretokenize.RegexPreTokenizer`), each pre-token is
turned into its UTF-8 bytes, and the learned merges are applied to those bytes, lowest
rank first. Because the base vocabulary holds all 256 bytes, *any* string can be
encoded, and decoding the ids gives the exact string back.

Tokens are stored as strings in the byte stand-in alphabet of
:func:`~scratchformer.tokenizers.byte_unicode.bytes_to_unicode` (a space is ``"Ġ"``),
exactly as in GPT-2's ``vocab.json`` and ``merges.txt``, so those files load here.

A tokeniser trained by :meth:`ByteLevelBPE.train` uses the id layout: bytes ``0..255``
(id = byte value), then one id per merge in the order learned, then the special tokens.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from scratchformer.checks import check_text
from scratchformer.tokenizers.base import (
    TokenizerFileError,
    check_ids,
    check_saved_file,
    read_json,
    write_json,
)
from scratchformer.tokenizers.bpe_files import (
    MERGES_FILE,
    VOCAB_FILE,
    read_merges,
    read_vocab,
    write_merges,
    write_vocab,
)
from scratchformer.tokenizers.bpe_train import (
    N_BYTES,
    Merge,
    learn_merges,
    merge_pair,
    word_counts_from_pieces,
)
from scratchformer.tokenizers.byte_unicode import (
    bytes_to_token_string,
    bytes_to_unicode,
    token_string_to_bytes,
)
from scratchformer.tokenizers.pretokenize import RegexPreTokenizer
from scratchformer.tokenizers.specials import SpecialTokenSplitter

CONFIG_FILE = "bpe_config.json"
_FORMAT = "scratchformer.ByteLevelBPE"
_VERSION = 1
_CONFIG_KEYS = ("format", "version", "special_tokens", "pretokenizer_pattern")
_CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class BPETrainConfig:
    """How to train a :class:`ByteLevelBPE`. Give exactly one of ``n_merges`` and ``vocab_size``.

    Attributes:
        n_merges: how many merges to learn.
        vocab_size: the wanted total vocabulary: 256 bytes + merges + special tokens.
        special_tokens: strings kept whole (never split, never learned from), given the
            last ids, e.g. ``("<|endoftext|>", "<pad>")``.
        pretokenizer: how text is cut into pieces before merging (GPT-2's rule by default).
    """

    n_merges: int | None = None
    vocab_size: int | None = None
    special_tokens: tuple[str, ...] = ()
    pretokenizer: RegexPreTokenizer = field(default_factory=RegexPreTokenizer)

    def __post_init__(self) -> None:
        if (self.n_merges is None) == (self.vocab_size is None):
            raise ValueError("give exactly one of n_merges and vocab_size")
        object.__setattr__(self, "special_tokens", tuple(self.special_tokens))
        if self.n_merges is not None and self.n_merges < 0:
            raise ValueError(f"n_merges must be >= 0, got {self.n_merges}")
        minimum = N_BYTES + len(self.special_tokens)
        if self.vocab_size is not None and self.vocab_size < minimum:
            raise ValueError(
                f"vocab_size={self.vocab_size} is too small: the 256 bytes and "
                f"{len(self.special_tokens)} special token(s) alone need {minimum}"
            )

    @property
    def merges_wanted(self) -> int:
        """The number of merges to learn (training may stop earlier on a small corpus)."""
        if self.n_merges is not None:
            return self.n_merges
        return self.vocab_size - N_BYTES - len(self.special_tokens)  # type: ignore[operator]


class ByteLevelBPE:
    """A byte-level BPE tokeniser (GPT-2 style).

    Args:
        vocab: token string (byte stand-in alphabet) -> id; ids must be ``0..N-1``.
        merges: the merges in rank order, each a pair of token strings.
        special_tokens: tokens of ``vocab`` to keep whole. ``None`` means: every token
            that is neither a single byte nor the result of a merge (GPT-2's
            ``"<|endoftext|>"``, for instance).
        pretokenizer: how text is cut before merging; GPT-2's rule by default.
        vocab_source, merge_source: how error messages name the vocabulary and the
            merge at a given rank (:meth:`from_files` passes the file names and lines).

    Raises:
        ValueError: if the vocabulary and merges are inconsistent (missing byte tokens,
            a merge whose parts or result are not in the vocabulary, repeated merges,
            ids that repeat or leave gaps, ...), saying which entry is wrong.
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        merges: Sequence[tuple[str, str]],
        special_tokens: Sequence[str] | None = None,
        pretokenizer: RegexPreTokenizer | None = None,
        *,
        vocab_source: str = "vocab",
        merge_source: Callable[[int], str] = lambda i: f"merges[{i}]",
    ) -> None:
        self.pretokenizer = pretokenizer if pretokenizer is not None else RegexPreTokenizer()
        self._vocab = dict(vocab)
        # pairs once _check_merges below has checked them
        self._merges = cast("list[tuple[str, str]]", [tuple(merge) for merge in merges])
        self._id_to_token = _check_vocab(self._vocab, vocab_source)
        self._ranks = _check_merges(self._vocab, self._merges, vocab_source, merge_source)
        specials = _resolve_special_tokens(self._vocab, self._merges, special_tokens, vocab_source)
        self._splitter = SpecialTokenSplitter(specials)
        stand_ins = bytes_to_unicode()
        self._byte_ids = [self._vocab[stand_ins[b]] for b in range(N_BYTES)]
        try:
            self._id_bytes = [
                token.encode("utf-8") if token in specials else token_string_to_bytes(token)
                for token in self._id_to_token
            ]
        except ValueError as error:
            raise ValueError(f"{vocab_source}: {error}") from None
        self._cache: dict[str, tuple[int, ...]] = {}
        self.trace: tuple[Merge, ...] = ()

    # ----------------------------------------------------------------- building
    @classmethod
    def train(cls, texts: str | Iterable[str], config: BPETrainConfig) -> ByteLevelBPE:
        """Learn a tokeniser from ``texts`` (one string or many).

        Special tokens occurring in the texts are cut out before counting, so they are
        never part of a merge. The merges are learned by
        :func:`~scratchformer.tokenizers.bpe_train.learn_merges` (most frequent pair
        first; ties to the smallest pair of ids), so the same corpus always gives the
        same tokeniser. The per-merge statistics are kept in :attr:`trace`.

        Raises:
            TypeError: if ``texts`` is not a str or an iterable of str (naming the first
                item that is not a str).
            ValueError: if there are no texts, or merges are wanted but the texts hold
                nothing to learn them from (all empty, or special tokens only).
        """
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
            hint = (
                '; decode bytes first: texts.decode("utf-8")'
                if isinstance(texts, (bytes, bytearray))
                else ""
            )
            raise TypeError(
                f"texts must be a str or a list of str, got {type(texts).__name__}{hint}"
            )
        n_texts = 0

        def checked_texts() -> Iterable[str]:
            nonlocal n_texts
            for i, text in enumerate(texts):
                n_texts += 1
                yield check_text(text, f"texts[{i}]")

        splitter = SpecialTokenSplitter(config.special_tokens)
        pieces = (
            piece
            for text in checked_texts()
            for chunk, is_special in splitter.split(text)
            if not is_special
            for piece in config.pretokenizer.split(chunk)
        )
        word_counts = word_counts_from_pieces(pieces)
        if n_texts == 0:
            raise ValueError("texts is empty: pass at least one training text.")
        if not word_counts and config.merges_wanted > 0:
            raise ValueError(
                f"the {n_texts} training text(s) hold no text to learn merges from (all "
                "empty, or special tokens only); pass the corpus itself."
            )
        merges = learn_merges(word_counts, config.merges_wanted)

        token_bytes = [bytes([b]) for b in range(N_BYTES)]
        for merge in merges:
            token_bytes.append(token_bytes[merge.pair[0]] + token_bytes[merge.pair[1]])
        names = [bytes_to_token_string(b) for b in token_bytes]
        vocab = {name: i for i, name in enumerate(names)}
        for offset, special in enumerate(config.special_tokens):
            if special in vocab:
                raise ValueError(
                    f"special token {special!r} is also a byte or merged token; pick a "
                    "special token that looks unlike text, e.g. '<|pad|>'"
                )
            vocab[special] = len(names) + offset
        tokenizer = cls(
            vocab,
            [(names[m.pair[0]], names[m.pair[1]]) for m in merges],
            config.special_tokens,
            config.pretokenizer,
        )
        tokenizer.trace = tuple(merges)
        return tokenizer

    @classmethod
    def from_files(
        cls,
        vocab_path: str | Path,
        merges_path: str | Path,
        special_tokens: Sequence[str] | None = None,
        pretokenizer: RegexPreTokenizer | None = None,
    ) -> ByteLevelBPE:
        """Load GPT-2-format ``vocab.json`` and ``merges.txt`` files.

        ``special_tokens=None`` treats every vocabulary entry that is neither a byte
        nor a merge result as special (for GPT-2: ``"<|endoftext|>"``).

        Raises:
            TokenizerFileError: for a malformed or inconsistent file, naming the file
                (and the line of ``merges.txt``) at fault.
        """
        vocab = read_vocab(vocab_path)
        merges, lines = read_merges(merges_path)
        try:
            return cls(
                vocab,
                merges,
                special_tokens,
                pretokenizer,
                vocab_source=str(vocab_path),
                merge_source=lambda i: f"{merges_path} line {lines[i]}",
            )
        except TokenizerFileError:
            raise
        except ValueError as error:
            raise TokenizerFileError(str(error)) from None

    def save(self, directory: str | Path) -> Path:
        """Write ``vocab.json``, ``merges.txt`` and ``bpe_config.json`` into ``directory``.

        The first two are in GPT-2's formats; the third records the special tokens and
        the pre-tokeniser pattern. Returns the directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_vocab(directory / VOCAB_FILE, self._vocab)
        write_merges(directory / MERGES_FILE, self._merges)
        write_json(
            directory / CONFIG_FILE,
            {
                "format": _FORMAT,
                "version": _VERSION,
                "special_tokens": list(self._splitter.tokens),
                "pretokenizer_pattern": self.pretokenizer.pattern,
            },
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ByteLevelBPE:
        """Read a tokeniser written by :meth:`save`.

        Raises:
            TokenizerFileError: if a file is missing, malformed or inconsistent.
        """
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        config = read_json(config_path)
        check_saved_file(config, _CONFIG_KEYS, config_path, _FORMAT, _VERSION)
        specials = config["special_tokens"]
        pattern = config["pretokenizer_pattern"]
        if not isinstance(specials, list) or not isinstance(pattern, str):
            raise TokenizerFileError(
                f"{config_path}: needs a 'special_tokens' list and a 'pretokenizer_pattern' string"
            )
        try:
            pretokenizer = RegexPreTokenizer(pattern)
        except (re.error, ValueError) as error:  # bad syntax or an unsupported \p{...}
            raise TokenizerFileError(f"{config_path}: bad pretokenizer_pattern ({error})") from None
        return cls.from_files(
            directory / VOCAB_FILE, directory / MERGES_FILE, specials, pretokenizer
        )

    # ----------------------------------------------------------------- using
    @property
    def vocab_size(self) -> int:
        """Number of ids (bytes + merges + special tokens)."""
        return len(self._id_to_token)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token -> id."""
        return {token: self._vocab[token] for token in self._splitter.tokens}

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The merges in rank order, as pairs of token strings (a copy)."""
        return list(self._merges)

    @property
    def vocab(self) -> dict[str, int]:
        """Token string -> id (a copy)."""
        return dict(self._vocab)

    def token_to_id(self, token: str) -> int:
        """Id of a token string such as ``"Ġthe"`` or ``"<|endoftext|>"``."""
        try:
            return self._vocab[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary of {self.vocab_size}") from None

    def id_to_token(self, token_id: int) -> str:
        """The token string of an id, in the byte stand-in alphabet (``"Ġthe"``)."""
        return self._id_to_token[check_ids([token_id], self.vocab_size)[0]]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; special tokens in it become their single id.

        Raises:
            TypeError: if ``text`` is not a str (``None``, bytes, a list of texts).
            UnicodeEncodeError: if ``text`` holds a lone surrogate (not valid Unicode text).
        """
        ids: list[int] = []
        for chunk, is_special in self._splitter.split(check_text(text)):
            if is_special:
                ids.append(self._vocab[chunk])
                continue
            for piece in self.pretokenizer.split(chunk):
                cached = self._cache.get(piece)
                if cached is None:
                    cached = self._merge_piece(piece)
                    if len(self._cache) >= _CACHE_LIMIT:
                        self._cache.clear()
                    self._cache[piece] = cached
                ids.extend(cached)
        return ids

    def _merge_piece(self, piece: str) -> tuple[int, ...]:
        """Apply the merges to one pre-token: repeatedly merge its lowest-rank pair."""
        ids = [self._byte_ids[b] for b in piece.encode("utf-8")]
        ranks = self._ranks
        while len(ids) > 1:
            candidates = [
                ranks[pair] + (pair,) for pair in itertools.pairwise(ids) if pair in ranks
            ]
            if not candidates:
                break
            _, new_id, pair = min(candidates)
            ids = merge_pair(ids, pair, new_id)
        return tuple(ids)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``. Byte sequences that are not valid UTF-8 (possible for an
        arbitrary list of ids, e.g. half of a multi-byte character) become ``"\\ufffd"``.
        """
        data = b"".join(self._id_bytes[i] for i in check_ids(ids, self.vocab_size))
        return data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return (
            f"ByteLevelBPE(vocab_size={self.vocab_size}, merges={len(self._merges)}, "
            f"special_tokens={list(self._splitter.tokens)})"
        )


def _check_vocab(vocab: Mapping[str, int], source: str) -> list[str]:
    """Check ids are distinct and run 0..N-1; return the id -> token list."""
    by_id: dict[int, str] = {}
    for token, token_id in vocab.items():
        if not isinstance(token, str) or not token:
            raise ValueError(f"{source}: tokens must be non-empty strings, got {token!r}")
        if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
            raise ValueError(
                f"{source}: token {token!r} has id {token_id!r}; ids must be integers >= 0"
            )
        if token_id in by_id:
            raise ValueError(
                f"{source}: id {token_id} is given to both {by_id[token_id]!r} and {token!r}; "
                "each id must name one token"
            )
        by_id[token_id] = token
    for expected in range(len(by_id)):
        if expected not in by_id:
            raise ValueError(
                f"{source}: ids must run from 0 to {len(by_id) - 1} without gaps, "
                f"but id {expected} is missing"
            )
    for byte, char in bytes_to_unicode().items():
        if char not in vocab:
            raise ValueError(
                f"{source}: the token {char!r} for byte {byte} is missing; a byte-level "
                "vocabulary must contain all 256 byte tokens"
            )
    return [by_id[i] for i in range(len(by_id))]


def _check_merges(
    vocab: Mapping[str, int],
    merges: Sequence[tuple[str, ...]],
    vocab_source: str,
    merge_source: Callable[[int], str],
) -> dict[tuple[int, int], tuple[int, int]]:
    """Check every merge against the vocabulary; return ``(left, right) ids -> (rank, new id)``."""
    ranks: dict[tuple[int, int], tuple[int, int]] = {}
    for rank, merge in enumerate(merges):
        where = merge_source(rank)
        if len(merge) != 2:
            raise ValueError(f"{where}: a merge is a pair of tokens, got {merge!r}")
        left, right = merge
        for part in (left, right):
            if part not in vocab:
                raise ValueError(
                    f"{where}: merge {left!r} + {right!r} uses {part!r}, which is not in {vocab_source}"
                )
        if left + right not in vocab:
            raise ValueError(
                f"{where}: merge {left!r} + {right!r} produces {left + right!r}, "
                f"which is not in {vocab_source}"
            )
        pair = (vocab[left], vocab[right])
        if pair in ranks:
            raise ValueError(f"{where}: merge {left!r} + {right!r} is listed twice")
        ranks[pair] = (rank, vocab[left + right])
    return ranks


def _resolve_special_tokens(
    vocab: Mapping[str, int],
    merges: Sequence[tuple[str, ...]],
    special_tokens: Sequence[str] | None,
    source: str,
) -> list[str]:
    """The special tokens, checked against (or, when ``None``, inferred from) the vocabulary."""
    regular = set(bytes_to_unicode().values()) | {left + right for left, right in merges}
    extra = sorted((t for t in vocab if t not in regular), key=vocab.__getitem__)
    if special_tokens is None:
        return extra
    for token in special_tokens:
        if token not in vocab:
            raise ValueError(f"{source}: special token {token!r} is not in the vocabulary")
        if token in regular:
            raise ValueError(
                f"{source}: special token {token!r} is also a byte or merge token; "
                "special tokens must be separate vocabulary entries"
            )
    for token in extra:
        if token not in special_tokens:
            raise ValueError(
                f"{source}: token {token!r} (id {vocab[token]}) is neither a byte, a merge "
                "result, nor one of the special tokens; list it in special_tokens or remove it"
            )
    return list(special_tokens)
