"""Every chapter 7 checker accepts independent correct solutions and rejects plausible wrong
ones with its hint."""

from __future__ import annotations

import functools
import math
from collections import Counter

import torch
import torch.nn.functional as F

from exercise_asserts import assert_rejected_with_hint
from scratchformer.batching import collate_pairs, length_buckets
from scratchformer.functional import cross_entropy
from scratchformer.train import noam_learning_rate
from scratchformer_course import assert_agrees, check


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


def written_out_training(
    model, train_pairs, config, *, schedule=True, clip=True, decay_everything=False
):
    """The training loop written out, independently of the package's code; the flags make
    the realistic mistakes: a constant learning rate, no clipping, weight decay on every
    parameter (LayerNorm gains and biases too). The loss is the package's ``cross_entropy``
    (chapter 7 checks it against its own): Adam turns even rounding differences in a
    gradient that should be zero (the attention's key bias) into full-size steps."""
    params = list(model.parameters())
    matrices = [p for p in params if p.ndim >= 2 or decay_everything]
    vectors = [p for p in params if p.ndim < 2 and not decay_everything]
    optimizer = torch.optim.AdamW(
        [
            {"params": matrices, "weight_decay": config.weight_decay},
            {"params": vectors, "weight_decay": 0.0},
        ],
        betas=config.betas,
        eps=config.eps,
    )
    lengths = [max(len(src), len(tgt) - 1) for src, tgt in train_pairs]
    pad, width = model.config.pad_id, model.config.d_model
    losses: list[float] = []
    model.train()
    for epoch in range(config.epochs):
        order = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        for indices in length_buckets(lengths, config.max_tokens, order):
            batch = collate_pairs([train_pairs[i] for i in indices], pad)
            step = len(losses) + 1 if schedule else config.warmup_steps
            for group in optimizer.param_groups:
                group["lr"] = noam_learning_rate(step, width, config.warmup_steps, config.lr_scale)
            logits = model(batch.src, batch.tgt_in)
            loss = cross_entropy(logits, batch.tgt_out, pad, label_smoothing=config.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            if clip and config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == config.max_steps:
                return losses, model.state_dict()
    return losses, model.state_dict()


def test_training_loop_agreement() -> None:
    name = "scratchformer.train.train_seq2seq"
    assert_agrees(written_out_training, name)
    for mistake in ({"schedule": False}, {"clip": False}, {"decay_everything": True}):
        assert_rejected_with_hint(name, functools.partial(written_out_training, **mistake))


def sorted_candidates_step(totals, log_probs, beam_size, eos_id, *, keep_late_eos=False):
    """One beam step written with plain Python sorting; ``keep_late_eos`` is the mistake
    of finishing every EOS among the 2k candidates, not only those among the best k."""
    candidates = sorted(
        (
            (total + lp, beam, token)
            for beam, total in enumerate(totals.tolist())
            for token, lp in enumerate(log_probs[beam].tolist())
            if total > -math.inf
        ),
        reverse=True,
    )[: 2 * beam_size]
    live, finished = [], []
    for rank, (total, beam, token) in enumerate(candidates):
        if len(live) == beam_size:
            break
        if token != eos_id:
            live.append((beam, token, total))
        elif rank < beam_size or keep_late_eos:
            finished.append((beam, total))
    return live, finished


def test_beam_step_exercise() -> None:
    name = "ch07.beam_step"
    assert check(name, sorted_candidates_step, verbose=False)

    def next_token_only(totals, log_probs, beam_size, eos_id):
        """Wrong: ranks the extensions by the next token's log-probability alone."""
        live_rows = totals > -math.inf
        return sorted_candidates_step(
            torch.where(live_rows, 0.0, -math.inf), log_probs, beam_size, eos_id
        )

    def beam_size_candidates(totals, log_probs, beam_size, eos_id):
        """Wrong: only the best beam_size candidates, so a finished one leaves a beam empty."""
        live, finished = sorted_candidates_step(totals, log_probs, beam_size, eos_id)
        kept = sum(1 for _ in live) + len(finished)
        return live[: max(0, beam_size - len(finished))] if kept > beam_size else live, finished

    def late_eos(totals, log_probs, beam_size, eos_id):
        return sorted_candidates_step(totals, log_probs, beam_size, eos_id, keep_late_eos=True)

    for wrong in (next_token_only, beam_size_candidates, late_eos):
        assert_rejected_with_hint(name, wrong)
