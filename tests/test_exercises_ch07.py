"""Every chapter 7 checker accepts independent correct solutions and rejects plausible wrong
ones with its hint."""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from exercise_asserts import assert_rejected_with_hint
from scratchformer.exercises import assert_agrees


def buckets_by_count(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Wrong: a fixed number of examples per batch, ignoring lengths."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    size = max(1, max_tokens // 30)
    return [order[i : i + size] for i in range(0, len(order), size)]


def test_length_buckets_agreement() -> None:
    def greedy_fill(lengths, max_tokens):
        batches: list[list[int]] = []
        for i in sorted(range(len(lengths)), key=lengths.__getitem__):
            if batches and (len(batches[-1]) + 1) * lengths[i] <= max_tokens:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    assert_agrees(greedy_fill, "scratchformer.batching.length_buckets")
    assert_rejected_with_hint("scratchformer.batching.length_buckets", buckets_by_count)


def test_noam_agreement() -> None:
    assert_agrees(
        lambda s, d, w: d**-0.5 * min(s**-0.5, s * w**-1.5),
        "scratchformer.train.noam_learning_rate",
    )
    no_width_factor = lambda s, d, w: min(s**-0.5, s * w**-1.5)
    assert_rejected_with_hint("scratchformer.train.noam_learning_rate", no_width_factor)


def test_label_smoothing_agreement() -> None:
    name = "scratchformer.functional.cross_entropy[label_smoothing]"

    def torch_smoothing(logits, targets, pad_id, eps):
        return F.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=pad_id, label_smoothing=eps
        )

    def spread_over_the_others(
        logits, targets, pad_id, eps
    ):  # wrong: eps/(V-1) on wrong tokens only
        log_probs = logits.log_softmax(-1)
        vocab = logits.shape[-1]
        target = torch.full_like(log_probs, eps / (vocab - 1)).scatter(
            -1, targets[..., None], 1 - eps
        )
        loss = -(target * log_probs).sum(-1)
        return loss[targets != pad_id].mean()

    assert_agrees(torch_smoothing, name)
    assert_rejected_with_hint(name, spread_over_the_others)


def test_clipped_matches_exercise() -> None:
    def unclipped(hypothesis, references, n):
        grams = [tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1)]
        allowed = {tuple(r[i : i + n]) for r in references for i in range(len(r) - n + 1)}
        return sum(g in allowed for g in grams), len(grams)

    def first_reference_only(hypothesis, references, n):
        ours = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
        ref = Counter(tuple(references[0][i : i + n]) for i in range(len(references[0]) - n + 1))
        return sum((ours & ref).values()), sum(ours.values())

    assert_rejected_with_hint("ch07.clipped_matches", unclipped)
    assert_rejected_with_hint("ch07.clipped_matches", first_reference_only)


def test_brevity_penalty_exercise() -> None:
    def inverted(c, r):
        return 1.0 if c >= r else math.exp(1 - c / r)

    assert_rejected_with_hint("ch07.brevity_penalty", inverted)


def test_smoothed_optimum_exercise() -> None:
    assert_rejected_with_hint("ch07.smoothed_optimum", lambda eps, v: 1 - eps)
