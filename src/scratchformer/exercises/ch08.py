"""Checks for chapter 8, "BERT".

Agreement tasks (the notebook builds these in the open and compares with the package):

* ``scratchformer.mlm.mask_tokens`` — ``fn(input_ids, special_mask, mask_id, vocab_size,
  generator) -> (masked_ids, labels)``, the 80/10/10 rule with the draws in the order the
  module documents;
* ``scratchformer.models.bert.mean_pool`` — ``fn(hidden, attention_mask)``, with bool or
  0/1 integer masks;
* ``scratchformer.metrics.roc_auc`` — ``fn(y_true, scores) -> float`` on scores with ties.

Exercise tasks: ``ch08.f1_score`` (F1 of the positive class from two label tensors) and
``ch08.masked_accuracy`` (the share of selected positions a masked LM predicts right).
"""

from __future__ import annotations

import torch

from scratchformer.exercises.ch05 import coin
from scratchformer.exercises.core import Inputs, Task, random_int, register
from scratchformer.metrics import precision_recall_f1, roc_auc
from scratchformer.mlm import IGNORE_INDEX, mask_tokens, special_tokens_mask
from scratchformer.models.bert import mean_pool

# -- agreement tasks ----------------------------------------------------------------------


def mask_tokens_reference(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`scratchformer.mlm.mask_tokens` with BERT's default probabilities."""
    masked = mask_tokens(
        input_ids, special_mask, mask_id=mask_id, vocab_size=vocab_size, generator=generator
    )
    return masked.input_ids, masked.labels


def _mask_tokens_inputs(generator: torch.Generator) -> Inputs:
    vocab_size = random_int(generator, 6, 40)
    batch, seq = random_int(generator, 1, 4), random_int(generator, 2, 30)
    pad_id, cls_id, sep_id, mask_id = 0, 1, 2, 3
    ids = torch.randint(4, vocab_size, (batch, seq), generator=generator)
    lengths = torch.randint(2, seq + 1, (batch,), generator=generator)
    positions = torch.arange(seq)[None, :]
    ids[:, 0] = cls_id
    ids[positions == (lengths[:, None] - 1)] = sep_id
    ids = ids.masked_fill(positions >= lengths[:, None], pad_id)
    special = special_tokens_mask(ids, [pad_id, cls_id, sep_id])
    seed = random_int(generator, 0, 2**31 - 1)
    return (ids, special, mask_id, vocab_size, torch.Generator().manual_seed(seed)), {}


def mean_pool_reference(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """:func:`scratchformer.models.bert.mean_pool`: ``(batch, d_model)``."""
    return mean_pool(hidden, attention_mask)


def _mean_pool_inputs(generator: torch.Generator) -> Inputs:
    batch, seq, d_model = (
        random_int(generator, 1, 4),
        random_int(generator, 1, 8),
        random_int(generator, 1, 6),
    )
    hidden = 3.0 * torch.randn(batch, seq, d_model, generator=generator) + 1.0
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    mask = torch.arange(seq)[None, :] < lengths[:, None]
    return (hidden, mask if coin(generator) else mask.long()), {}


def roc_auc_reference(y_true: torch.Tensor, scores: torch.Tensor) -> float:
    """:func:`scratchformer.metrics.roc_auc`."""
    return roc_auc(y_true, scores)


def _binary_labels(generator: torch.Generator, n: int) -> torch.Tensor:
    """``n >= 2`` labels, 0/1, with both classes present, at a random balance."""
    labels = (
        torch.rand(n, generator=generator) < float(torch.rand((), generator=generator))
    ).long()
    labels[0], labels[1] = 0, 1
    return labels[torch.randperm(n, generator=generator)]


def _roc_auc_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 2, 40)
    y_true = _binary_labels(generator, n)
    scores = torch.rand(n, generator=generator) + 0.5 * y_true  # positives score a bit higher
    if coin(generator):  # few distinct values: many ties
        scores = (scores * 3).round() / 3
    return (y_true, scores), {}


for _task in (
    Task(
        name="scratchformer.mlm.mask_tokens",
        reference=mask_tokens_reference,
        make_inputs=_mask_tokens_inputs,
        hint="draw rand (select), rand (mask?), rand (random?) and randint (the random ids) in "
        "that order, each over the whole (batch, seq) shape, from the given generator; never "
        "select a special position; labels are -100 wherever a token was not selected.",
    ),
    Task(
        name="scratchformer.models.bert.mean_pool",
        reference=mean_pool_reference,
        make_inputs=_mean_pool_inputs,
        hint="sum the vectors of the real tokens only (multiply by the mask) and divide by the "
        "number of real tokens, not by seq.",
    ),
    Task(
        name="scratchformer.metrics.roc_auc",
        reference=roc_auc_reference,
        make_inputs=_roc_auc_inputs,
        hint="count, over all (positive, negative) pairs, 1 when the positive scores higher "
        "and 1/2 for a tie; divide by the number of pairs.",
    ),
):
    register(_task)


# -- exercise tasks -----------------------------------------------------------------------


def f1_score_reference(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """F1 of class 1: ``2 TP / (2 TP + FP + FN)``, and 0.0 when that is ``0 / 0``."""
    return precision_recall_f1(y_true, y_pred, positive=1)[2]


def _f1_score_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 1, 30)
    y_true = (torch.rand(n, generator=generator) < 0.3).long()
    y_pred = torch.where(torch.rand(n, generator=generator) < 0.7, y_true, 1 - y_true)
    if coin(generator, 0.15):  # a classifier that never says "positive"
        y_pred = torch.zeros_like(y_pred)
    if coin(generator, 0.1):  # no positive example and no positive prediction
        y_true, y_pred = torch.zeros_like(y_true), torch.zeros_like(y_pred)
    return (y_true, y_pred), {}


def masked_accuracy_reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of positions with a label (not ``-100``) whose arg-max logit is the label.

    ``logits``: ``(batch, seq, vocab)``; ``labels``: ``(batch, seq)``.
    """
    selected = labels != IGNORE_INDEX
    return float((logits.argmax(dim=-1)[selected] == labels[selected]).double().mean())


def _masked_accuracy_inputs(generator: torch.Generator) -> Inputs:
    batch, seq, vocab = (
        random_int(generator, 1, 3),
        random_int(generator, 1, 10),
        random_int(generator, 2, 12),
    )
    logits = torch.randn(batch, seq, vocab, generator=generator)
    labels = torch.randint(vocab, (batch, seq), generator=generator)
    # Make about half of the labels the arg-max, so right and wrong answers both occur.
    right = torch.rand(batch, seq, generator=generator) < 0.5
    labels = torch.where(right, logits.argmax(dim=-1), labels)
    ignored = torch.rand(batch, seq, generator=generator) < 0.6
    ignored.view(-1)[random_int(generator, 0, batch * seq - 1)] = False  # at least one label
    return (logits, labels.masked_fill(ignored, IGNORE_INDEX)), {}


for _task in (
    Task(
        name="ch08.f1_score",
        reference=f1_score_reference,
        make_inputs=_f1_score_inputs,
        hint="count TP, FP and FN for class 1; F1 = 2TP / (2TP + FP + FN), and return 0.0 "
        "when there is no positive example and no positive prediction.",
    ),
    Task(
        name="ch08.masked_accuracy",
        reference=masked_accuracy_reference,
        make_inputs=_masked_accuracy_inputs,
        hint="average only over positions whose label is not -100; compare the arg-max over "
        "the last (vocabulary) axis with the label.",
    ),
):
    register(_task)
