"""Learning byte-pair-encoding merges from word counts.

A corpus is first cut into pre-tokens ("words") and counted, so ``{(104, 105): 3}``
means the two-byte word ``b"hi"`` occurs three times. Training then repeats one step:

1. count every adjacent pair of token ids, weighting each word by its count
   (:func:`count_pairs`);
2. pick the most frequent pair (:func:`most_frequent_pair`; ties go to the smallest
   pair ``(a, b)`` compared as a tuple of ids, so training is deterministic and does
   not depend on dictionary order);
3. give the pair a new id and replace it in every word, left to right
   (:func:`merge_pair`).

Every merge creates a new string of bytes, so each id has a distinct byte string and
the vocabulary can be written as GPT-2's ``vocab.json`` (token string -> id). The reason:
a stretch of a word that is a whole number of tokens is always split exactly as that
stretch would be split on its own (merging left to right never looks past a token
boundary), so a byte string can only ever be assembled from one pair of tokens.

:func:`learn_merges` gives the same result as repeating those three steps, but fast: it
counts pairs once, then updates the counts of only the words a merge touches and keeps
the candidates in a heap.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

Pair = tuple[int, int]
Word = tuple[int, ...]

N_BYTES = 256


class Merge(NamedTuple):
    """One training step.

    Attributes:
        pair: the two ids that were merged, ``(left, right)``.
        new_id: the id of the merged token.
        count: how often the pair occurred in the corpus when it was chosen.
        n_tokens: total tokens in the corpus (each word times its count) after the merge.
    """

    pair: Pair
    new_id: int
    count: int  # type: ignore[assignment]  # shadows tuple.count, on purpose: the pair's count
    n_tokens: int


def count_pairs(word_counts: Mapping[Word, int]) -> dict[Pair, int]:
    """Count adjacent id pairs over all words, each word weighted by how often it occurs.

    Overlapping pairs all count: the word ``(7, 7, 7)`` contains the pair ``(7, 7)`` twice.

    Example:
        >>> count_pairs({(1, 2, 3): 2, (2, 3): 1})
        {(1, 2): 2, (2, 3): 3}
    """
    counts: dict[Pair, int] = defaultdict(int)
    for word, count in word_counts.items():
        for pair in itertools.pairwise(word):
            counts[pair] += count
    return dict(counts)


def merge_pair(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    Occurrences do not overlap: ``merge_pair([7, 7, 7], (7, 7), 9) == [9, 7]``.
    """
    first, second = pair
    merged: list[int] = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == first and ids[i + 1] == second:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def most_frequent_pair(pair_counts: Mapping[Pair, int]) -> Pair:
    """The pair with the highest count; ties go to the smallest pair ``(a, b)``.

    Raises:
        ValueError: if ``pair_counts`` is empty (no word has two tokens left).
    """
    if not pair_counts:
        raise ValueError("no pairs to choose from: every word is a single token")
    return min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))


def word_counts_from_pieces(pieces: Iterable[str]) -> dict[Word, int]:
    """Count pre-tokens and write each as the tuple of its UTF-8 bytes (the base ids)."""
    return {tuple(piece.encode("utf-8")): n for piece, n in Counter(pieces).items()}


def _check_word_counts(word_counts: Mapping[Word, int], first_id: int) -> None:
    for word, count in word_counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"word {word!r} has count {count!r}; counts must be integers >= 1")
        for token in word:
            if not 0 <= token < N_BYTES:
                raise ValueError(
                    f"word {word!r} contains id {token}; training starts from byte ids 0..255"
                )
    if first_id < N_BYTES:
        raise ValueError(f"first_id is {first_id}; new ids must start at {N_BYTES} or above")


def learn_merges(
    word_counts: Mapping[Word, int], n_merges: int, first_id: int = N_BYTES
) -> list[Merge]:
    """Learn up to ``n_merges`` merges from byte-id words; new ids count up from ``first_id``.

    Stops early when every word is a single token. The result equals repeating
    :func:`count_pairs`, :func:`most_frequent_pair` and :func:`merge_pair`, but each
    merge only recounts the words that contain the merged pair.

    Args:
        word_counts: word (tuple of byte values 0..255) -> how often it occurs.
        n_merges: the most merges to learn (>= 0).
        first_id: the id of the first new token (>= 256).

    Returns:
        One :class:`Merge` per step, in the order learned (the merge ranks).

    Raises:
        ValueError: for a negative ``n_merges``, a count below 1, or ids outside 0..255.
    """
    if n_merges < 0:
        raise ValueError(f"n_merges must be >= 0, got {n_merges}")
    _check_word_counts(word_counts, first_id)

    words = [list(word) for word in word_counts]
    freqs = list(word_counts.values())

    pair_counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)  # may also list words that lost the pair
    for index, word in enumerate(words):
        for pair in itertools.pairwise(word):
            pair_counts[pair] += freqs[index]
            where[pair].add(index)
    # Heap of (-count, pair): the top is the most frequent pair, ties the smallest pair.
    # Entries go stale when a count changes; a fresh entry is pushed and stale ones skipped.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    n_tokens = sum(len(word) * freq for word, freq in zip(words, freqs))

    merges: list[Merge] = []
    while len(merges) < n_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count:
            continue  # stale entry
        new_id = first_id + len(merges)

        delta: dict[Pair, int] = defaultdict(int)
        for index in where.pop(pair):
            old = words[index]
            new = merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue  # this word lost the pair to an earlier merge
            freq = freqs[index]
            for old_pair in itertools.pairwise(old):
                delta[old_pair] -= freq
            for new_pair in itertools.pairwise(new):
                delta[new_pair] += freq
                where[new_pair].add(index)
            n_tokens -= (len(old) - len(new)) * freq
            words[index] = new
        merges.append(Merge(pair, new_id, -negative_count, n_tokens))

        for changed, change in delta.items():
            if change == 0:
                continue
            count = pair_counts.get(changed, 0) + change
            if count > 0:
                pair_counts[changed] = count
                heapq.heappush(heap, (-count, changed))
            else:
                pair_counts.pop(changed, None)
    return merges
