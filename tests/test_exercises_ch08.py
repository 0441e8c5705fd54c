"""Every chapter 8 checker accepts correct rewrites and rejects plausible wrong solutions."""

from __future__ import annotations

import torch

from scratchformer.exercises import check
from scratchformer.mlm import IGNORE_INDEX


def quiet(name, fn) -> bool:
    return check(name, fn, verbose=False).passed


# -- scratchformer.mlm.mask_tokens ----------------------------------------------------------


def mask_by_hand(input_ids, special_mask, mask_id, vocab_size, generator, *, random_first=False):
    """The 80/10/10 rule written independently (or with the last two draws swapped)."""
    shape = input_ids.shape
    selected = (torch.rand(shape, generator=generator) < 0.15) & ~special_mask
    u_mask = torch.rand(shape, generator=generator)
    u_random = torch.rand(shape, generator=generator)
    if random_first:
        u_mask, u_random = u_random, u_mask
    random_ids = torch.randint(vocab_size, shape, generator=generator)
    out = input_ids.clone()
    to_mask = selected & (u_mask < 0.8)
    to_random = selected & ~to_mask & (u_random < 0.5)
    out[to_mask] = mask_id
    out[to_random] = random_ids[to_random]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[selected] = input_ids[selected]
    return out, labels


def test_mask_tokens_accepts_an_independent_version():
    assert quiet("scratchformer.mlm.mask_tokens", mask_by_hand)


def test_mask_tokens_rejects_wrong_draw_order_specials_and_labels():
    def swapped(*args):
        return mask_by_hand(*args, random_first=True)

    def selects_specials(input_ids, special_mask, mask_id, vocab_size, generator):
        return mask_by_hand(
            input_ids, torch.zeros_like(special_mask), mask_id, vocab_size, generator
        )

    def labels_everywhere(*args):
        out, labels = mask_by_hand(*args)
        return out, torch.where(labels == IGNORE_INDEX, args[0], labels)

    def always_mask(input_ids, special_mask, mask_id, vocab_size, generator):
        selected = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_mask
        return input_ids.masked_fill(selected, mask_id), input_ids.masked_fill(
            ~selected, IGNORE_INDEX
        )

    for wrong in (swapped, selects_specials, labels_everywhere, always_mask):
        assert not quiet("scratchformer.mlm.mask_tokens", wrong), wrong.__name__


# -- scratchformer.models.bert.mean_pool ----------------------------------------------------


def test_mean_pool_accepts_a_loop_and_rejects_the_plain_mean():
    def loop(hidden, mask):
        return torch.stack([h[m.bool()].mean(dim=0) for h, m in zip(hidden, mask)])

    assert quiet("scratchformer.models.bert.mean_pool", loop)
    assert not quiet("scratchformer.models.bert.mean_pool", lambda hidden, mask: hidden.mean(dim=1))
    assert not quiet(
        "scratchformer.models.bert.mean_pool",
        lambda hidden, mask: (hidden * mask[..., None]).sum(dim=1) / hidden.shape[1],
    )


# -- scratchformer.metrics.roc_auc ----------------------------------------------------------


def test_roc_auc_accepts_pair_counting_and_rejects_ties_counted_wrong():
    def pairs(y_true, scores, tie=0.5):
        pos, neg = scores[y_true == 1], scores[y_true == 0]
        diff = pos[:, None] - neg[None, :]
        return float(((diff > 0).double() + tie * (diff == 0).double()).mean())

    assert quiet("scratchformer.metrics.roc_auc", pairs)
    assert not quiet("scratchformer.metrics.roc_auc", lambda y, s: pairs(y, s, tie=0.0))
    assert not quiet("scratchformer.metrics.roc_auc", lambda y, s: pairs(y, s, tie=1.0))


# -- ch08.f1_score --------------------------------------------------------------------------


def test_f1_score_accepts_the_harmonic_mean_and_rejects_near_misses():
    def harmonic(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        precision = tp / max(int((y_pred == 1).sum()), 1)
        recall = tp / max(int((y_true == 1).sum()), 1)
        return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

    def accuracy(y_true, y_pred):
        return float((y_true == y_pred).double().mean())

    def arithmetic_mean(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        precision = tp / max(int((y_pred == 1).sum()), 1)
        recall = tp / max(int((y_true == 1).sum()), 1)
        return (precision + recall) / 2

    def crashes_on_empty(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        return 2 * tp / (2 * tp + int((y_true != y_pred).sum()))

    assert quiet("ch08.f1_score", harmonic)
    for wrong in (accuracy, arithmetic_mean, crashes_on_empty):
        assert not quiet("ch08.f1_score", wrong), wrong.__name__


# -- ch08.masked_accuracy -------------------------------------------------------------------


def test_masked_accuracy_accepts_a_loop_and_rejects_counting_every_position():
    def loop(logits, labels):
        hits = total = 0
        for row_logits, row_labels in zip(logits, labels):
            for scores, label in zip(row_logits, row_labels):
                if label != IGNORE_INDEX:
                    hits += int(scores.argmax() == label)
                    total += 1
        return hits / total

    def every_position(logits, labels):
        return float((logits.argmax(-1) == labels).double().mean())

    def divides_by_every_position(logits, labels):
        selected = labels != IGNORE_INDEX
        return int((logits.argmax(-1)[selected] == labels[selected]).sum()) / labels.numel()

    assert quiet("ch08.masked_accuracy", loop)
    assert not quiet("ch08.masked_accuracy", every_position)
    assert not quiet("ch08.masked_accuracy", divides_by_every_position)
