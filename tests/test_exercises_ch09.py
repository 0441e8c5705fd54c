"""Every chapter 9 checker accepts its reference and independent correct solutions, and
rejects plausible wrong ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchformer_course import assert_agrees, check, get_task


def quiet(name: str, fn) -> bool:
    return check(name, fn, verbose=False).passed


# -- the references mean what they say ------------------------------------------------------


def test_group_by_padded_tokens_reference_on_examples() -> None:
    reference = get_task("ch09.group_by_padded_tokens").reference
    assert reference([3, 3, 3, 3], 9) == [[0, 1, 2], [3]]
    assert reference([2, 10, 2], 12) == [[0], [1], [2]]  # 2 x 10 = 20 > 12
    assert reference([50, 1, 1], 10) == [[0], [1, 2]]  # too long alone: a batch of its own
    assert reference([], 10) == []


# -- correct solutions pass, wrong ones fail -------------------------------------------------


def test_percentile_accepts_numpy_and_rejects_nearest_rank() -> None:
    assert quiet("ch09.percentile", lambda values, q: float(np.percentile(values, q)))

    def nearest_rank(values, q):
        ordered = sorted(values)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def unsorted(values, q):
        rank = q / 100 * (len(values) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(values) - 1)
        return values[low] + (rank - low) * (values[high] - values[low])

    assert not quiet("ch09.percentile", nearest_rank)
    assert not quiet("ch09.percentile", unsorted)


def test_group_by_padded_tokens_rejects_counting_real_tokens() -> None:
    def real_tokens(lengths, budget):  # ignores padding: sum instead of count x longest
        batches, total = [], 0
        for i, n in enumerate(lengths):
            if batches and total + n <= budget:
                batches[-1].append(i)
                total += n
            else:
                batches.append([i])
                total = n
        return batches

    def drops_long_texts(lengths, budget):
        reference = get_task("ch09.group_by_padded_tokens").reference
        return [b for b in reference(lengths, budget) if lengths[b[0]] <= budget]

    assert not quiet("ch09.group_by_padded_tokens", real_tokens)
    assert not quiet("ch09.group_by_padded_tokens", drops_long_texts)


def test_group_into_batches_agreement_rejects_splitting_requests() -> None:
    def by_texts(sizes, max_batch_size):  # fills batches text by text, splitting requests
        batches, total = [], 0
        for i, n in enumerate(sizes):
            if not batches or total >= max_batch_size:
                batches.append([i])
                total = n
            else:
                batches[-1].append(i)
                total += n
        return batches

    with pytest.raises(AssertionError):
        assert_agrees(by_texts, "scratchformer.serve.batching.group_into_batches")
