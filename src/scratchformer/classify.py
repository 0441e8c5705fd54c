"""Text classification with a fine-tuned BERT: use it, save it, load it.

(Training it is :func:`scratchformer.train.fine_tune`'s job.)

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from scratchformer.checks import as_texts
from scratchformer.config import choose
from scratchformer.data.cache import cache_dir
from scratchformer.data.sources import install_atomically
from scratchformer.functional import softmax
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
    "TextClassifier",
    "model_dir",
]
