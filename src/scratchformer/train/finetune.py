"""Fine-tuning a BERT classifier: the training loop of chapters 8 and 9.

:func:`fine_tune` trains a :class:`~scratchformer.models.bert.BertForSequenceClassification`
(usually a pretrained encoder under a fresh head, see its ``from_pretrained(...,
new_head=True)``) on labelled texts: batches of similar length in a seeded random order,
AdamW, a linear warm-up then a linear decay of the learning rate
(:func:`~scratchformer.train.schedules.linear_learning_rate`). Chapter 8 fine-tunes MiniLM
to detect SMS spam with it; chapter 9 fine-tunes a small filter with it in the quick
profile. :class:`~scratchformer.classify.TextClassifier` then serves the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from scratchformer.batching import batches_by_length
from scratchformer.functional import cross_entropy
from scratchformer.models.bert import BertForSequenceClassification
from scratchformer.tokenizers.wordpiece import WordPiece
from scratchformer.train.optim import make_optimizer
from scratchformer.train.precision import PRECISIONS, MixedPrecision, Precision
from scratchformer.train.schedules import linear_learning_rate


@dataclass(frozen=True)
class FineTuneConfig:
    """How :func:`fine_tune` trains.

    Attributes:
        epochs: passes over the training texts.
        batch_size: texts per step.
        lr: the peak learning rate (small: the encoder already knows a lot).
        weight_decay: AdamW's decoupled weight decay, on matrices only.
        warmup_fraction: share of the steps over which the learning rate rises from
            near 0 to ``lr``; it then falls linearly to 0 at the last step.
        max_len: tokens per text, ``[CLS]`` and ``[SEP]`` included; longer texts are cut.
        freeze_word_embeddings: leave the word-embedding matrix as it is. It holds about
            half of a small BERT's weights, most rows belong to words the task never
            shows, and freezing it makes every step cheaper.
        seed: seeds the batch order and dropout, so a run is repeatable.
        precision: the forward pass's precision (:mod:`scratchformer.train.precision`):
            ``"auto"`` is bfloat16 (or float16) on a CUDA GPU and float32 elsewhere.
    """

    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_len: int = 64
    freeze_word_embeddings: bool = True
    seed: int = 0
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"FineTuneConfig.precision must be one of {PRECISIONS}, got {self.precision!r}."
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"FineTuneConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.max_len < 2:
            raise ValueError(f"FineTuneConfig.max_len must be >= 2, got {self.max_len}.")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(
                f"FineTuneConfig needs lr > 0 and weight_decay >= 0, got {self.lr} and "
                f"{self.weight_decay}."
            )
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"FineTuneConfig.warmup_fraction must lie in [0, 1), got {self.warmup_fraction}."
            )


@dataclass
class FineTuneHistory:
    """What :func:`fine_tune` records.

    Attributes:
        losses: the training loss of every step (nats, mean over the batch).
        trained_parameters: how many weights were updated.
        seconds: wall-clock time of the run.
    """

    losses: list[float] = field(default_factory=list)
    trained_parameters: int = 0
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Optimiser steps taken."""
        return len(self.losses)


def fine_tune(
    model: BertForSequenceClassification,
    tokenizer: WordPiece,
    texts: Sequence[str],
    labels: Sequence[int] | torch.Tensor,
    config: FineTuneConfig | None = None,
) -> FineTuneHistory:
    """Fine-tune ``model`` in place on labelled texts; the model ends in evaluation mode.

    Every epoch visits the same batches (texts sorted by length, cut into batches of
    ``batch_size``, so little is spent on padding) in a new random order. The loss is the
    cross-entropy of the class scores. With the same model, data and ``config.seed`` the
    run is repeatable (the global generators are seeded inside and restored afterwards).

    Args:
        model: the classifier, e.g. ``BertForSequenceClassification.from_pretrained(dir,
            new_head=True, n_labels=2)``.
        tokenizer: the encoder's own tokeniser.
        texts: the training texts.
        labels: their class indices, in ``[0, model.config.n_labels)``.
        config: epochs, batch size, learning rate, ...

    Raises:
        ValueError: for no texts, a number of labels other than of texts, or a label out
            of range.
    """
    config = config if config is not None else FineTuneConfig()
    targets = torch.as_tensor(labels, dtype=torch.long)
    if len(texts) == 0 or targets.shape != (len(texts),):
        raise ValueError(
            f"fine_tune needs one label per text and at least one text, got {len(texts)} "
            f"texts and labels of shape {tuple(targets.shape)}."
        )
    n_labels = model.config.n_labels
    if int(targets.min()) < 0 or int(targets.max()) >= n_labels:
        raise ValueError(
            f"labels must be class indices in [0, {n_labels}) (the model's n_labels), got "
            f"values from {int(targets.min())} to {int(targets.max())}."
        )
    encodings = [tokenizer.encode_plus(text, max_len=config.max_len) for text in texts]
    batches = batches_by_length([len(e.ids) for e in encodings], config.batch_size)
    total = config.epochs * len(batches)
    warmup = max(1, math.ceil(config.warmup_fraction * total))
    device = model.bert.embeddings.word.weight.device
    word = model.bert.embeddings.word.weight
    word_was_trainable = word.requires_grad
    word.requires_grad_(not config.freeze_word_embeddings)
    history = FineTuneHistory(
        trained_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad)
    )
    optimizer = make_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    order = torch.Generator().manual_seed(config.seed)
    amp = MixedPrecision(config.precision, device)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(config.seed)  # dropout
            model.train()
            for epoch in range(config.epochs):
                for i, b in enumerate(torch.randperm(len(batches), generator=order).tolist()):
                    step = epoch * len(batches) + i
                    for group in optimizer.param_groups:
                        group["lr"] = linear_learning_rate(step, config.lr, warmup, total)
                    rows = batches[b]
                    inputs = tokenizer.pad([encodings[i] for i in rows])
                    with amp.autocast():
                        logits = model(*(t.to(device) for t in inputs)).float()
                        loss = cross_entropy(logits, targets[rows].to(device))
                    amp.step(loss, optimizer, model.parameters(), grad_clip=None)
                    history.losses.append(loss.item())
    finally:
        word.requires_grad_(word_was_trainable)
        model.eval()
    history.seconds = time.perf_counter() - start
    return history


__all__ = ["FineTuneConfig", "FineTuneHistory", "fine_tune"]
