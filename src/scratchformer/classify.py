"""Text classification with a fine-tuned BERT: train it, use it, save it, load it.

* :func:`fine_tune` trains a :class:`~scratchformer.models.bert.BertForSequenceClassification`
  (usually a pretrained encoder under a fresh head, see its ``from_pretrained(...,
  new_head=True)``) on labelled texts: batches of similar length in a seeded random order,
  AdamW, a linear warm-up then a linear decay of the learning rate. Chapter 8 fine-tunes
  MiniLM to detect SMS spam with it; chapter 9 uses it when chapter 8's model is missing.
* :class:`TextClassifier` puts the fine-tuned model, its tokeniser and its class names
  together: texts in, class probabilities (and sentence embeddings of its encoder) out. It
  is what the service of :mod:`scratchformer.serve` answers with.
* :meth:`TextClassifier.save` writes a Hugging Face-format folder (``config.json`` with
  ``id2label``, ``model.safetensors``, ``vocab.txt``, ``tokenizer_config.json``) plus
  ``training.json``, a short record of how the model was trained, atomically: a reader
  never sees half a folder. :func:`model_dir` is where the course keeps such folders, in
  the scratchformer cache.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from scratchformer.batching import batches_by_length
from scratchformer.checks import as_texts
from scratchformer.config import choose
from scratchformer.data.cache import cache_dir
from scratchformer.data.sources import install_atomically
from scratchformer.functional import cross_entropy, softmax
from scratchformer.models.bert import BertForSequenceClassification
from scratchformer.models.sentence_encoder import (
    SentenceEncoder,
    SentenceEncoderConfig,
    l2_normalize,
    mean_pool,
)
from scratchformer.tokenizers.wordpiece import WordPiece
from scratchformer.tokenizers.wordpiece_files import (
    TOKENIZER_CONFIG_FILE,
    load_wordpiece,
    optional_json,
    save_wordpiece,
)
from scratchformer.train.optim import make_optimizer
from scratchformer.train.precision import PRECISIONS, MixedPrecision, Precision
from scratchformer.train.schedules import linear_learning_rate
from scratchformer.weights import CONFIG_FILE

SMS_SPAM_MODEL = "minilm-sms-spam"
"""The name of chapter 8's fine-tuned spam classifier under :func:`model_dir`."""

TRAINING_FILE = "training.json"


def model_dir(name: str | None = None) -> Path:
    """Where the course keeps the fine-tuned model ``name``: ``cache_dir()/models/name``
    (it may not exist yet).

    Without a name: chapter 8's spam classifier of the current run profile (see
    :mod:`scratchformer.config`), ``minilm-sms-spam-quick`` under ``quick`` and
    ``minilm-sms-spam`` under ``full``, what chapter 9 and ``python -m scratchformer.serve``
    serve.
    """
    if name is None:
        name = choose(quick=f"{SMS_SPAM_MODEL}-quick", full=SMS_SPAM_MODEL)
    return cache_dir() / "models" / name


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


class ClassifierOutput(NamedTuple):
    """What :meth:`TextClassifier.run` computes for ``n`` texts in one pass of the model.

    Attributes:
        embeddings: ``(n, d_model)`` unit-length mean-pooled token vectors of the encoder.
        probabilities: ``(n, n_labels)`` class probabilities, rows summing to 1.
    """

    embeddings: torch.Tensor
    probabilities: torch.Tensor


class TextClassifier:
    """A fine-tuned BERT classifier with its tokeniser and class names: texts in, answers out.

    Args:
        model: the fine-tuned :class:`BertForSequenceClassification`.
        tokenizer: its tokeniser.
        labels: the class names in the order of the model's scores (e.g. ``["ham", "spam"]``).
        config: ``max_len`` (texts are cut there, as in training) and ``batch_size``.
        training: a record of how the model was trained (saved as ``training.json``).

    Raises:
        ValueError: for a number of labels other than the model's classes, repeated
            labels, or a tokeniser of another vocabulary size.
    """

    def __init__(
        self,
        model: BertForSequenceClassification,
        tokenizer: WordPiece,
        labels: Sequence[str],
        config: SentenceEncoderConfig | None = None,
        training: Mapping[str, Any] | None = None,
    ) -> None:
        labels = list(labels)
        if len(labels) != model.config.n_labels or len(set(labels)) != len(labels):
            raise ValueError(
                f"labels must be {model.config.n_labels} distinct names (one per class of "
                f"the model), got {labels}."
            )
        self.model = model
        self.labels = labels
        self.training = dict(training or {})
        self._encoder = SentenceEncoder(model.bert, tokenizer, config)

    @property
    def tokenizer(self) -> WordPiece:
        """The tokeniser."""
        return self._encoder.tokenizer

    @property
    def config(self) -> SentenceEncoderConfig:
        """``max_len`` and ``batch_size``."""
        return self._encoder.config

    @property
    def dim(self) -> int:
        """The width of the embeddings (``d_model``)."""
        return self.model.config.d_model

    def run(self, texts: str | Sequence[str]) -> ClassifierOutput:
        """Embeddings and class probabilities of ``texts``, from one forward pass per batch.

        The classifier reads the pooled ``[CLS]`` vector (no dropout: evaluation mode);
        the embeddings are the mean of the real tokens' vectors, normalised, as
        :class:`SentenceEncoder` computes them. One string is one text: its answer has
        no batch axis (``(d_model,)`` and ``(n_labels,)``).
        """
        batch, single = as_texts(texts)
        d = self.dim

        def both(output: Any, mask: torch.Tensor) -> torch.Tensor:
            embeddings = l2_normalize(mean_pool(output.hidden, mask))
            probabilities = softmax(self.model.classifier(output.pooled), dim=-1)
            return torch.cat([embeddings, probabilities], dim=-1)

        rows = self._encoder.map_texts(batch, both, d + len(self.labels))
        if single:
            return ClassifierOutput(rows[0, :d], rows[0, d:])
        return ClassifierOutput(rows[:, :d], rows[:, d:])

    def predict_proba(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Class probabilities ``(n_texts, n_labels)`` (``(n_labels,)`` for one string)."""
        return self.run(texts).probabilities

    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Unit-length sentence embeddings ``(n_texts, d_model)`` of the fine-tuned encoder
        (``(d_model,)`` for one string)."""
        return self.run(texts).embeddings

    def save(self, directory: str | Path) -> Path:
        """Write the classifier as a folder, atomically (a folder already there is replaced
        only once the new one is complete); returns it.

        Files: ``config.json`` (with ``id2label``/``label2id``) and ``model.safetensors``
        in Hugging Face's format (``transformers.BertForSequenceClassification`` reads
        them), ``vocab.txt`` and ``tokenizer_config.json``, and ``training.json``.
        """

        def build(staging: Path) -> None:
            self.model.save_pretrained(
                staging,
                {
                    "id2label": dict(enumerate(self.labels)),
                    "label2id": {label: i for i, label in enumerate(self.labels)},
                },
            )
            save_wordpiece(self.tokenizer, staging, self.config.max_len)
            (staging / TRAINING_FILE).write_text(
                json.dumps(self.training, indent=2), encoding="utf-8"
            )

        return install_atomically(Path(directory), build)

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        """Read a folder written by :meth:`save` (or any Hugging Face BERT classifier
        folder with a ``vocab.txt``); the model is in evaluation mode.

        Raises:
            FileNotFoundError: if there is no ``config.json`` (the message says how to
                make the folder).
            scratchformer.checkpoints.CheckpointError: for weights without a classifier
                layer, or that do not match the config.
        """
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"{directory}: no fine-tuned classifier here ({CONFIG_FILE} is missing). Run "
                "chapter 8, which fine-tunes MiniLM on SMS spam and saves it to "
                f"{model_dir()}, or save one with TextClassifier.save."
            )
        model = BertForSequenceClassification.from_pretrained(directory)
        id2label = optional_json(directory / CONFIG_FILE).get("id2label", {})
        labels = [id2label.get(str(i), f"LABEL_{i}") for i in range(model.config.n_labels)]
        tokenizer = load_wordpiece(directory)
        settings = optional_json(directory / TOKENIZER_CONFIG_FILE)
        max_len = min(settings.get("model_max_length", model.config.max_len), model.config.max_len)
        training = optional_json(directory / TRAINING_FILE)
        return cls(model, tokenizer, labels, SentenceEncoderConfig(max_len=max_len), training)


__all__ = [
    "SMS_SPAM_MODEL",
    "TRAINING_FILE",
    "ClassifierOutput",
    "FineTuneConfig",
    "FineTuneHistory",
    "TextClassifier",
    "fine_tune",
    "model_dir",
]
