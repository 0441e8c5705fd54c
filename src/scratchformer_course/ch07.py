"""Checks for chapter 7, "Training a translator".

Agreement tasks (the notebook builds them in the open and compares with the package):

* ``scratchformer.batching.length_buckets`` — ``fn(lengths, max_tokens)``: batches of
  indices, shortest first, each within the padded-token budget.
* ``scratchformer.train.noam_learning_rate`` — ``fn(step, d_model, warmup_steps)``.
* ``scratchformer.functional.cross_entropy[label_smoothing]`` —
  ``fn(logits, targets, pad_id, eps)``: the mean label-smoothed cross-entropy over
  non-padding targets, logits ``(batch, seq, vocab)``.
* ``scratchformer.train.train_seq2seq`` — ``fn(model, train_pairs, config)``: the
  training loop written out, returning ``(loss of every step, final state dict)``; it must
  take the same steps as the package's loop from the same seed (a tiny model, dropout 0).

Exercise tasks: ``ch07.clipped_matches`` (BLEU's clipped n-gram matches of one sentence),
``ch07.brevity_penalty``, ``ch07.smoothed_optimum`` (the probability of the true token
that minimises the label-smoothed loss) and ``ch07.beam_step`` (one step of batched beam
search for one sentence, on tensors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from scratchformer.batching import TokenPair, length_buckets
from scratchformer.functional import cross_entropy
from scratchformer.metrics.bleu import brevity_penalty, ngram_counts
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.train import Seq2SeqTrainConfig, noam_learning_rate, train_seq2seq
from scratchformer_course.ch06 import seeded_model
from scratchformer_course.core import Inputs, Task, random_int, register


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


def train_steps(
    model: Transformer, train_pairs: Sequence[TokenPair], config: Seq2SeqTrainConfig
) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The loss of every step and the final weights of :func:`train_seq2seq` (no checkpoint;
    validation on the first pair, which changes no weight)."""
    history = train_seq2seq(model, train_pairs, train_pairs[:1], config)
    return history.step_loss, model.state_dict()


def _training_inputs(generator: torch.Generator) -> Inputs:
    """A tiny seeded encoder-decoder without dropout, a few pairs and training settings."""
    vocab = random_int(generator, 6, 12)
    model_config = Seq2SeqConfig(
        src_vocab_size=vocab,
        tgt_vocab_size=vocab,
        pad_id=0,
        max_len=16,
        d_model=8,
        n_heads=2,
        d_ff=16,
        n_encoder_layers=1,
        n_decoder_layers=1,
        dropout=0.0,  # no random draws inside the step: both loops must see the same numbers
        share_embeddings=bool(random_int(generator, 0, 1)),
    )
    model = seeded_model(generator, model_config)  # the global random state is left alone

    def ids(low_len: int, high_len: int) -> list[int]:
        return [
            random_int(generator, 3, vocab - 1)
            for _ in range(random_int(generator, low_len, high_len))
        ]

    pairs = [(ids(1, 8), [1, *ids(0, 7), 2]) for _ in range(random_int(generator, 3, 12))]
    config = Seq2SeqTrainConfig(
        epochs=random_int(generator, 1, 2),
        max_tokens=random_int(generator, 8, 40),
        warmup_steps=random_int(generator, 1, 4),
        lr_scale=[0.5, 1.0, 2.0][random_int(generator, 0, 2)],
        label_smoothing=[0.0, 0.1][random_int(generator, 0, 1)],
        weight_decay=[0.0, 1e-4, 0.1][random_int(generator, 0, 2)],
        grad_clip=[None, 0.5, 1.0][random_int(generator, 0, 2)],
        max_steps=[None, random_int(generator, 1, 6)][random_int(generator, 0, 1)],
        seed=random_int(generator, 0, 1000),
        progress=False,
        precision="float32",
    )
    return (model, pairs, config), {}


BeamStep = tuple[list[tuple[int, int, float]], list[tuple[int, float]]]


def beam_step(
    beam_log_probs: torch.Tensor, next_log_probs: torch.Tensor, beam_size: int, eos_id: int
) -> BeamStep:
    """One step of batched beam search for one sentence, as ``beam_search`` takes it.

    Every live beam ``b`` (total log-probability ``beam_log_probs[b]``, ``-inf`` for an
    empty slot) is extended by every token ``t`` (``next_log_probs[b, t]``). The ``2 *
    beam_size`` best totals are read in order: an EOS among the first ``beam_size`` finishes
    its hypothesis, a later EOS is dropped, and the other extensions fill the next beams
    until there are ``beam_size``. Twice as many candidates as beams are enough, since at
    most ``beam_size`` of them can end in EOS.

    Args:
        beam_log_probs: ``(beams,)`` the totals of the live hypotheses.
        next_log_probs: ``(beams, vocab)`` the next token's log-probabilities after each.
        beam_size: the number of hypotheses kept.
        eos_id: the end-of-sequence id.

    Returns:
        ``(live, finished)``: ``live`` holds ``(beam, token, total)`` of the new beams, best
        first; ``finished`` holds ``(beam, total)`` of the hypotheses that end here with EOS.
    """
    vocab = next_log_probs.shape[-1]
    candidates = (beam_log_probs[:, None] + next_log_probs).flatten()
    totals, indices = candidates.topk(min(2 * beam_size, candidates.numel()))
    live: list[tuple[int, int, float]] = []
    finished: list[tuple[int, float]] = []
    for rank, (total, index) in enumerate(zip(totals.tolist(), indices.tolist())):
        if total == -math.inf or len(live) == beam_size:
            break
        beam, token = divmod(index, vocab)
        if token != eos_id:
            live.append((beam, token, total))
        elif rank < beam_size:
            finished.append((beam, total))
    return live, finished


def _beam_step_inputs(generator: torch.Generator) -> Inputs:
    beam_size = random_int(generator, 1, 4)
    vocab = random_int(generator, 2, 9)
    beams = random_int(generator, 1, beam_size)
    totals = -torch.rand(beams, generator=generator, dtype=torch.float64) * 5
    if beams > 1 and random_int(generator, 0, 2) == 0:
        totals[-1] = -math.inf  # an empty slot, as on the first step
    logits = torch.randn(beams, vocab, generator=generator, dtype=torch.float64) * 2
    eos_id = random_int(generator, 0, vocab - 1)
    logits[:, eos_id] += 2 * random_int(generator, 0, 1)  # often EOS among the best
    return (totals, logits.log_softmax(dim=-1), beam_size, eos_id), {}


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
    Task(
        name="scratchformer.train.train_seq2seq",
        reference=train_steps,
        make_inputs=_training_inputs,
        trials=8,
        hint="per epoch, batches from length_buckets(max(len(src), len(tgt) - 1) per pair, "
        "max_tokens, torch.Generator().manual_seed(seed * 100_003 + epoch)); per batch: set "
        "every group's lr to noam_learning_rate(step, d_model, warmup_steps, lr_scale) with "
        "step counted from 1, the loss scratchformer.functional.cross_entropy(model(src, tgt_in), "
        "tgt_out, pad_id, label_smoothing=...) (another formula's rounding differs, and Adam "
        "turns rounding in a zero gradient into full steps), zero_grad, backward, clip_grad_norm_ unless grad_clip is None, "
        "step; AdamW(betas, eps) with weight decay on tensors of 2 or more dimensions only; "
        "stop after max_steps steps.",
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
    Task(
        name="ch07.beam_step",
        reference=beam_step,
        make_inputs=_beam_step_inputs,
        hint="rank the totals beam_log_probs[b] + next_log_probs[b, t] of ALL beams and tokens "
        "together (flatten, topk of 2 * beam_size, divmod(index, vocab) gives beam and "
        "token); read them best first: EOS within the first beam_size ranks finishes, a later "
        "EOS is dropped, other tokens fill the new beams until there are beam_size; stop at "
        "-inf.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
