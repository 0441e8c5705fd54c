"""Checks for chapter 7, "Training a translator".

Agreement tasks (the notebook builds them in the open and compares with the package):

* ``scratchformer.batching.length_buckets`` — ``fn(lengths, max_tokens)``: batches of
  indices, shortest first, each within the padded-token budget.
* ``scratchformer.train.noam_learning_rate`` — ``fn(step, d_model, warmup_steps)``.
* ``scratchformer.functional.cross_entropy[label_smoothing]`` —
  ``fn(logits, targets, pad_id, eps)``: the mean label-smoothed cross-entropy over
  non-padding targets, logits ``(batch, seq, vocab)``.

Exercise tasks: ``ch07.clipped_matches`` (BLEU's clipped n-gram matches of one sentence),
``ch07.brevity_penalty`` and ``ch07.smoothed_optimum`` (the probability of the true token
that minimises the label-smoothed loss).
"""

from __future__ import annotations

import torch

from scratchformer.batching import length_buckets
from scratchformer.exercises.core import Inputs, Task, random_int, register
from scratchformer.functional import cross_entropy
from scratchformer.metrics.bleu import brevity_penalty, ngram_counts
from scratchformer.train import noam_learning_rate


def _buckets_inputs(generator: torch.Generator) -> Inputs:
    lengths = [random_int(generator, 1, 30) for _ in range(random_int(generator, 1, 60))]
    return (lengths, random_int(generator, max(lengths), 200)), {}


def _noam_inputs(generator: torch.Generator) -> Inputs:
    return (
        random_int(generator, 1, 20_000),
        32 * random_int(generator, 1, 32),
        random_int(generator, 1, 8000),
    ), {}


def smoothed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, pad_id: int, eps: float
) -> torch.Tensor:
    """Mean label-smoothed cross-entropy over the targets that are not ``pad_id``."""
    return cross_entropy(logits, targets, ignore_index=pad_id, label_smoothing=eps)


def _smoothing_inputs(generator: torch.Generator) -> Inputs:
    batch, seq, vocab = (
        random_int(generator, 1, 3),
        random_int(generator, 1, 6),
        random_int(generator, 2, 9),
    )
    logits = torch.randn(batch, seq, vocab, generator=generator, dtype=torch.float64) * 3
    targets = torch.randint(1, vocab, (batch, seq), generator=generator)
    targets[:, 1:][torch.rand(batch, seq - 1, generator=generator) < 0.3] = 0  # padding
    eps = [0.0, 0.1, 0.2, 0.5][random_int(generator, 0, 3)]
    return (logits, targets, 0, eps), {}


def clipped_matches(hypothesis: list[str], references: list[list[str]], n: int) -> tuple[int, int]:
    """BLEU's clipped n-gram matches of one sentence, and its number of n-grams.

    Each n-gram of ``hypothesis`` counts at most as often as it occurs in the reference
    that has it most often.
    """
    ours = _ngrams_of_order(hypothesis, n)
    allowed: dict[tuple[str, ...], int] = {}
    for reference in references:
        for ngram, count in _ngrams_of_order(reference, n).items():
            allowed[ngram] = max(allowed.get(ngram, 0), count)
    matches = sum(min(count, allowed.get(ngram, 0)) for ngram, count in ours.items())
    return matches, max(0, len(hypothesis) - n + 1)


def _ngrams_of_order(words: list[str], n: int) -> dict[tuple[str, ...], int]:
    """The n-grams of exactly order ``n`` in ``words`` with their counts."""
    return {g: c for g, c in ngram_counts(words, n).items() if len(g) == n}


def _matches_inputs(generator: torch.Generator) -> Inputs:
    words = ["the", "cat", "sat", "on", "mat", "a", "dog"]

    def sentence() -> list[str]:
        return [
            words[random_int(generator, 0, len(words) - 1)]
            for _ in range(random_int(generator, 0, 9))
        ]

    references = [sentence() for _ in range(random_int(generator, 1, 3))]
    return (sentence(), references, random_int(generator, 1, 4)), {}


def _penalty_inputs(generator: torch.Generator) -> Inputs:
    return (random_int(generator, 0, 40), random_int(generator, 1, 40)), {}


def smoothed_optimum(eps: float, vocab_size: int) -> float:
    """The probability of the true token that minimises the label-smoothed loss.

    The smoothed target gives the true token ``1 - eps + eps / V`` and every other token
    ``eps / V``; cross-entropy against a distribution is lowest when the model predicts
    exactly that distribution.
    """
    return 1 - eps + eps / vocab_size


def _optimum_inputs(generator: torch.Generator) -> Inputs:
    return (
        round(float(torch.rand(1, generator=generator)) * 0.9, 3),
        random_int(generator, 2, 50_000),
    ), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.batching.length_buckets",
        reference=length_buckets,
        make_inputs=_buckets_inputs,
        hint="sort the indices by length (stable), then start a new batch whenever one more "
        "example would make (batch size) x (its length) exceed max_tokens.",
    ),
    Task(
        name="scratchformer.train.noam_learning_rate",
        reference=noam_learning_rate,
        make_inputs=_noam_inputs,
        hint="d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5), with steps "
        "counted from 1.",
    ),
    Task(
        name="scratchformer.functional.cross_entropy[label_smoothing]",
        reference=smoothed_cross_entropy,
        make_inputs=_smoothing_inputs,
        hint="per position: (1 - eps) * (-log p_target) + eps * mean over ALL vocab entries "
        "of (-log p); then average over the positions whose target is not pad_id.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch07.clipped_matches",
        reference=clipped_matches,
        make_inputs=_matches_inputs,
        hint="count each n-gram of the hypothesis at most as often as it occurs in the "
        "reference where it occurs most often; the total is len(hypothesis) - n + 1 (never "
        "negative).",
    ),
    Task(
        name="ch07.brevity_penalty",
        reference=brevity_penalty,
        make_inputs=_penalty_inputs,
        hint="1 when the hypothesis is at least as long as the reference, exp(1 - r / c) "
        "when shorter, and 0 for an empty hypothesis (c = 0).",
    ),
    Task(
        name="ch07.smoothed_optimum",
        reference=smoothed_optimum,
        make_inputs=_optimum_inputs,
        hint="the smoothed target spreads eps over ALL V tokens, the true one included: it "
        "gets 1 - eps + eps / V.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
