"""Every chapter 2 checker accepts its reference and rejects plausible wrong solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from scratchformer.batching import pad_batch
from scratchformer.tokenizers import count_pairs, merge_pair, most_frequent_pair
from scratchformer_course import check, forget_failures, get_task


# ---------------------------------------------------------------- right, written differently
def utf8_by_hand(text: str) -> list[int]:
    out: list[int] = []
    for char in text:
        cp = ord(char)
        if cp < 0x80:
            out.append(cp)
        elif cp < 0x800:
            out += [0xC0 | cp >> 6, 0x80 | cp & 0x3F]
        elif cp < 0x10000:
            out += [0xE0 | cp >> 12, 0x80 | cp >> 6 & 0x3F, 0x80 | cp & 0x3F]
        else:
            out += [
                0xF0 | cp >> 18,
                0x80 | cp >> 12 & 0x3F,
                0x80 | cp >> 6 & 0x3F,
                0x80 | cp & 0x3F,
            ]
    return out


def naive_learn_merges(word_counts, n_merges, first_id=256):
    words = dict(word_counts)
    merges = []
    while len(merges) < n_merges:
        counts = count_pairs(words)
        if not counts:
            break
        pair = most_frequent_pair(counts)
        new_id = first_id + len(merges)
        words = {tuple(merge_pair(w, pair, new_id)): n for w, n in words.items()}
        merges.append((pair, new_id, counts[pair], sum(len(w) * n for w, n in words.items())))
    return merges


def bytes_to_unicode_by_hand() -> dict[int, str]:
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    shifted = [b for b in range(256) if b not in keep]
    return {b: chr(b) if b in keep else chr(256 + shifted.index(b)) for b in range(256)}


RIGHT: dict[str, Callable[..., Any]] = {
    "ch02.utf8_encode": utf8_by_hand,
    "ch02.lengths_to_mask": lambda lengths, max_len: torch.stack(
        [torch.tensor([i < n for i in range(max_len)]) for n in lengths.tolist()]
    ),
    "scratchformer.tokenizers.learn_merges": naive_learn_merges,
    "scratchformer.tokenizers.bytes_to_unicode": bytes_to_unicode_by_hand,
}


@pytest.mark.parametrize("name", list(RIGHT))
def test_independent_correct_solutions_pass(name: str) -> None:
    assert check(name, RIGHT[name], verbose=False).passed


# ---------------------------------------------------------------- plausible mistakes
def utf8_wrong_two_byte_limit(text: str) -> list[int]:
    """Uses 3 bytes already from 0x7FF (off by one at the 2-byte/3-byte boundary)."""
    if any(ord(c) == 0x7FF for c in text):
        return utf8_by_hand(text.replace("\u07ff", "\u0800"))
    return utf8_by_hand(text)


def merge_pair_right_to_left(ids, pair, new_id):
    return merge_pair(ids[::-1], pair[::-1], new_id)[::-1]


def merge_pair_without_skipping(ids, pair, new_id):
    out = []
    for i, token in enumerate(ids):
        if i + 1 < len(ids) and (token, ids[i + 1]) == pair:
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], token) == pair):
            out.append(token)
    return out


def learn_merges_first_seen_tie(word_counts, n_merges, first_id=256):
    words = dict(word_counts)
    merges = []
    while len(merges) < n_merges:
        counts = count_pairs(words)
        if not counts:
            break
        pair = max(counts, key=counts.get)  # ties: whichever pair was counted first
        new_id = first_id + len(merges)
        words = {tuple(merge_pair(w, pair, new_id)): n for w, n in words.items()}
        merges.append((pair, new_id, counts[pair], sum(len(w) * n for w, n in words.items())))
    return merges


WRONG: dict[str, Callable[..., Any]] = {
    "ch02.utf8_encode (latin-1)": lambda text: [ord(c) % 256 for c in text],
    "ch02.utf8_encode (utf-16)": lambda text: list(text.encode("utf-16-le", "surrogatepass")),
    "ch02.utf8_encode (off by one)": utf8_wrong_two_byte_limit,
    "ch02.apply_merges (reverse order)": lambda ids, merges: get_task(
        "ch02.apply_merges"
    ).reference(ids, merges[::-1]),
    "ch02.apply_merges (one pass each, no repeat)": lambda ids, merges: get_task(
        "ch02.apply_merges"
    ).reference(ids, merges[: len(merges) // 2]),
    "ch02.lengths_to_mask (<=)": lambda lengths, max_len: (
        torch.arange(max_len)[None] <= lengths[:, None]
    ),
    "ch02.lengths_to_mask (inverted)": lambda lengths, max_len: (
        torch.arange(max_len)[None] >= lengths[:, None]
    ),
    "scratchformer.batching.pad_batch (left)": lambda s, p: pad_batch(s, p, side="left"),
    "scratchformer.batching.pad_batch (inverted mask)": lambda s, p: (
        pad_batch(s, p)[0],
        ~pad_batch(s, p)[1],
    ),
    "scratchformer.batching.pad_batch (pads with 0)": lambda s, p: pad_batch(s, 0),
    "scratchformer.tokenizers.bytes_to_unicode (256 + byte)": lambda: {
        b: c if ord(c) < 256 else chr(256 + b) for b, c in bytes_to_unicode_by_hand().items()
    },
    "scratchformer.tokenizers.count_pairs (ignores counts)": lambda wc: count_pairs(
        dict.fromkeys(wc, 1)
    ),
    "scratchformer.tokenizers.count_pairs (no overlaps)": lambda wc: {
        p: c for p, c in count_pairs(wc).items() if p[0] != p[1]
    },
    "scratchformer.tokenizers.merge_pair (right to left)": merge_pair_right_to_left,
    "scratchformer.tokenizers.merge_pair (no skipping)": merge_pair_without_skipping,
    "scratchformer.tokenizers.most_frequent_pair (largest pair wins ties)": lambda counts: max(
        counts, key=lambda p: (counts[p], p)
    ),
    "scratchformer.tokenizers.most_frequent_pair (first seen wins ties)": lambda counts: max(
        counts, key=counts.get
    ),
    "scratchformer.tokenizers.learn_merges (first-seen ties)": learn_merges_first_seen_tie,
    "scratchformer.tokenizers.learn_merges (counts before merging missing)": lambda wc, n: [
        (m[0], m[1], m[2], m[3] + 1) for m in naive_learn_merges(wc, n)
    ],
}


@pytest.mark.parametrize("label", list(WRONG))
def test_plausible_wrong_solutions_fail(label: str) -> None:
    name = label.split(" (")[0]
    assert not check(name, WRONG[label], verbose=False).passed


def test_utf8_hints_go_from_a_nudge_to_the_bit_patterns() -> None:
    task = get_task("ch02.utf8_encode")
    forget_failures("ch02.utf8_encode")
    latin1 = lambda text: [ord(char) % 256 for char in text]  # one wrong answer: Latin-1
    first = check("ch02.utf8_encode", latin1, verbose=False).message
    assert task.hint in first and "110xxxxx" not in first
    assert "first difference at [0]" in first
    check("ch02.utf8_encode", latin1, verbose=False)
    third = check("ch02.utf8_encode", latin1, verbose=False).message
    assert "hint 2: the first byte's leading 1s count ALL the bytes" in third
    assert "hint 3: below 0x80: 1 byte; below 0x800: 110xxxxx 10xxxxxx" in third
    forget_failures("ch02.utf8_encode")
