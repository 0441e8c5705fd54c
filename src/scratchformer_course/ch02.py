"""Checks for chapter 2, "Text as numbers".

Agreement tasks (the notebook builds these in the open and compares with the package):
``scratchformer.tokenizers.bytes_to_unicode``, ``.count_pairs``, ``.merge_pair``,
``.most_frequent_pair``, ``.learn_merges`` (a naive recount-everything trainer must
learn the same merges as the package's incremental one) and
``scratchformer.batching.pad_batch``.

Exercise tasks: ``ch02.utf8_encode`` (UTF-8 by hand), ``ch02.apply_merges`` (encode a
word with learned merges) and ``ch02.lengths_to_mask`` (a padding mask from lengths).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchformer.batching import pad_batch
from scratchformer.tokenizers import (
    bytes_to_unicode,
    count_pairs,
    learn_merges,
    merge_pair,
    most_frequent_pair,
)
from scratchformer_course.core import Inputs, Task, register

# A few byte values, so that random words share many pairs: "a", "b", "c", " ", and the
# two UTF-8 bytes of "é"; or just "a" and "b", so that runs such as "aaa" are common.
_SMALL_ALPHABET = (97, 98, 99, 32, 195, 169)
_TINY_ALPHABET = (97, 98)


def _ints(generator: torch.Generator, low: int, high: int, n: int = 1) -> list[int]:
    """``n`` random integers in ``[low, high]`` (both ends included)."""
    return torch.randint(low, high + 1, (n,), generator=generator).tolist()


def _random_alphabet(generator: torch.Generator) -> tuple[int, ...]:
    return (_SMALL_ALPHABET, _TINY_ALPHABET)[_ints(generator, 0, 1)[0]]


def _random_word(
    generator: torch.Generator, alphabet: tuple[int, ...], max_len: int = 8
) -> tuple[int, ...]:
    (length,) = _ints(generator, 1, max_len)
    return tuple(alphabet[i] for i in _ints(generator, 0, len(alphabet) - 1, length))


def _random_word_counts(
    generator: torch.Generator, alphabet: tuple[int, ...], min_words: int = 0
) -> dict[tuple[int, ...], int]:
    """A small corpus as word -> count, built from a few byte values so pairs repeat."""
    (n_words,) = _ints(generator, min_words, 12)
    word_counts: dict[tuple[int, ...], int] = {}
    for _ in range(n_words):
        word = _random_word(generator, alphabet)
        word_counts[word] = word_counts.get(word, 0) + _ints(generator, 1, 5)[0]
    return word_counts


def _no_inputs(generator: torch.Generator) -> Inputs:
    return (), {}


def _count_pairs_inputs(generator: torch.Generator) -> Inputs:
    return (_random_word_counts(generator, _random_alphabet(generator)),), {}


def _merge_pair_inputs(generator: torch.Generator) -> Inputs:
    alphabet = _random_alphabet(generator)
    ids = list(_random_word(generator, alphabet, max_len=12))
    if len(ids) >= 2 and _ints(generator, 0, 3)[0] > 0:  # usually a pair that occurs
        (start,) = _ints(generator, 0, len(ids) - 2)
        pair = (ids[start], ids[start + 1])
    else:
        first, second = _ints(generator, 0, len(alphabet) - 1, 2)
        pair = (alphabet[first], alphabet[second])
    return (ids, pair, 256 + _ints(generator, 0, 50)[0]), {}


def _most_frequent_pair_inputs(generator: torch.Generator) -> Inputs:
    (n_pairs,) = _ints(generator, 1, 8)
    counts = {}
    for _ in range(n_pairs):  # counts from a small range, so ties are common
        pair = tuple(_SMALL_ALPHABET[i] for i in _ints(generator, 0, len(_SMALL_ALPHABET) - 1, 2))
        counts[pair] = _ints(generator, 1, 3)[0]
    return (counts,), {}


def _learn_merges_inputs(generator: torch.Generator) -> Inputs:
    word_counts = _random_word_counts(generator, _random_alphabet(generator))
    return (word_counts, _ints(generator, 0, 25)[0]), {}


def _pad_batch_inputs(generator: torch.Generator) -> Inputs:
    (batch,) = _ints(generator, 1, 5)
    sequences = [_ints(generator, 0, 99, _ints(generator, 0, 7)[0]) for _ in range(batch)]
    return (sequences, _ints(generator, 0, 3)[0]), {}


def utf8_encode_reference(text: str) -> list[int]:
    """The UTF-8 bytes of ``text`` as a list of ints (what ``list(text.encode())`` gives)."""
    return list(text.encode("utf-8"))


# Code points at every boundary between 1-, 2-, 3- and 4-byte UTF-8 sequences.
_BOUNDARIES = (0x00, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF)
# Ranges of code points needing 1, 2, 3 (surrogates excluded) and 4 bytes.
_CODE_POINT_RANGES = (
    (0x20, 0x7E),
    (0x80, 0x7FF),
    (0x800, 0xD7FF),
    (0xE000, 0xFFFF),
    (0x10000, 0x10FFFF),
)


def _utf8_inputs(generator: torch.Generator) -> Inputs:
    (length,) = _ints(generator, 0, 10)
    chars = []
    for _ in range(length):
        (choice,) = _ints(generator, 0, len(_CODE_POINT_RANGES))
        if choice == len(_CODE_POINT_RANGES):
            code_point = _BOUNDARIES[_ints(generator, 0, len(_BOUNDARIES) - 1)[0]]
        else:
            code_point = _ints(generator, *_CODE_POINT_RANGES[choice])[0]
        chars.append(chr(code_point))
    return ("".join(chars),), {}


def apply_merges_reference(
    ids: Sequence[int], merges: Sequence[tuple[tuple[int, int], int]]
) -> list[int]:
    """Apply ``merges`` (``((left, right), new_id)`` in the order learned) to ``ids``.

    Each merge rewrites the whole sequence before the next one is tried, which is
    exactly how training rewrote every word.
    """
    result = list(ids)
    for pair, new_id in merges:
        result = merge_pair(result, pair, new_id)
    return result


def _apply_merges_inputs(generator: torch.Generator) -> Inputs:
    alphabet = _random_alphabet(generator)
    word_counts = _random_word_counts(generator, alphabet, min_words=1)
    learned = learn_merges(word_counts, _ints(generator, 1, 15)[0])
    merges = [(merge.pair, merge.new_id) for merge in learned]
    # Usually two training words glued together (so many merges apply), else a fresh word.
    words = list(word_counts)
    if _ints(generator, 0, 3)[0] > 0:
        first, second = _ints(generator, 0, len(words) - 1, 2)
        ids = list(words[first] + words[second])
    else:
        ids = list(_random_word(generator, alphabet, max_len=12))
    return (ids, merges), {}


def lengths_to_mask_reference(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Padding mask ``(batch, max_len)`` from ``lengths`` ``(batch,)``: ``True`` at real
    tokens, i.e. at positions ``< length`` of each row (right padding)."""
    return torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)


def _lengths_to_mask_inputs(generator: torch.Generator) -> Inputs:
    (max_len,) = _ints(generator, 1, 8)
    (batch,) = _ints(generator, 1, 5)
    return (torch.tensor(_ints(generator, 0, max_len, batch)), max_len), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.tokenizers.bytes_to_unicode",
        reference=bytes_to_unicode,
        make_inputs=_no_inputs,
        trials=1,
        hint="printable bytes stand for themselves; every other byte gets a fresh character above "
        "255, in byte order.",
        more_hints=(
            (
                "the printable bytes 33..126, 161..172 and 174..255 map to chr(byte); the others,"
                " in increasing byte order, to chr(256), chr(257), ..."
            ),
        ),
    ),
    Task(
        name="scratchformer.tokenizers.count_pairs",
        reference=count_pairs,
        make_inputs=_count_pairs_inputs,
        hint="every adjacent pair of every word counts, once per occurrence of the word.",
        more_hints=(
            (
                "for each word, add its count to every adjacent pair zip(word, word[1:]); "
                "overlapping pairs such as the two (7, 7) in (7, 7, 7) both count."
            ),
        ),
    ),
    Task(
        name="scratchformer.tokenizers.merge_pair",
        reference=merge_pair,
        make_inputs=_merge_pair_inputs,
        hint="a merged pair uses up both of its ids: they cannot start another pair.",
        more_hints=(
            (
                "scan left to right; after replacing a pair, skip both of its ids, so [7, 7, 7] "
                "with pair (7, 7) becomes [new, 7]."
            ),
        ),
    ),
    Task(
        name="scratchformer.tokenizers.most_frequent_pair",
        reference=most_frequent_pair,
        make_inputs=_most_frequent_pair_inputs,
        hint="ties must be broken by a fixed rule, or two runs could learn different merges.",
        more_hints=(
            (
                "highest count wins; among equal counts the smallest pair (a, b) wins, e.g. "
                "min(counts, key=lambda p: (-counts[p], p))."
            ),
        ),
    ),
    Task(
        name="scratchformer.tokenizers.learn_merges",
        reference=learn_merges,
        make_inputs=_learn_merges_inputs,
        hint="after each merge, count the pairs again on the merged words and record what was "
        "merged.",
        more_hints=(
            (
                "return one (pair, new_id, count, n_tokens) per merge, new ids counting up from "
                "256, count = the pair's count when chosen; stop early when no pair is left."
            ),
        ),
    ),
    Task(
        name="scratchformer.batching.pad_batch",
        reference=pad_batch,
        make_inputs=_pad_batch_inputs,
        hint="pad on the right to the longest sequence; the mask marks the real tokens.",
        more_hints=(
            (
                "pad every sequence on the right to the longest length with pad_id; the mask is "
                "True at real tokens; return (LongTensor ids, BoolTensor mask)."
            ),
        ),
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch02.utf8_encode",
        reference=utf8_encode_reference,
        make_inputs=_utf8_inputs,
        hint="the number of bytes depends only on the size of the code point; every byte after the"
        " first starts with the bits 10.",
        more_hints=(
            (
                "the first byte's leading 1s count ALL the bytes of the character (110: two, "
                "1110: three, 11110: four); each byte carries 6 bits of the code point after its "
                "10."
            ),
            (
                "below 0x80: 1 byte; below 0x800: 110xxxxx 10xxxxxx; below 0x10000: 1110xxxx then"
                " two 10xxxxxx; else 11110xxx then three 10xxxxxx (6 payload bits each)."
            ),
        ),
    ),
    Task(
        name="ch02.apply_merges",
        reference=apply_merges_reference,
        make_inputs=_apply_merges_inputs,
        hint="encoding replays training: the order in which the merges were learned matters.",
        more_hints=(
            (
                "go through the merges in the order they were learned and apply each one to the "
                "whole sequence (merge_pair) before trying the next."
            ),
        ),
    ),
    Task(
        name="ch02.lengths_to_mask",
        reference=lengths_to_mask_reference,
        make_inputs=_lengths_to_mask_inputs,
        hint="no loop needed: broadcast a row of positions against a column of lengths.",
        more_hints=(
            (
                "compare torch.arange(max_len) with each length: position i is real when i < "
                "length (not <=); the result is a bool tensor (batch, max_len)."
            ),
        ),
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
