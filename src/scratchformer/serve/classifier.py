"""A linear classifier on sentence embeddings: what ``/classify`` serves.

Unit-length sentence embeddings (:class:`~scratchformer.models.bert.SentenceEncoder`)
already place texts of a kind near each other, so a single linear layer on top of the
*frozen* encoder (multinomial logistic regression) is a strong classifier that trains in
seconds. The service computes one embedding per text for ``/encode`` and ``/classify``
alike; the head adds a matrix product.

A classifier is saved as a folder: ``classifier.json`` (the labels and the embedding
width) and ``classifier.safetensors`` (the weight ``(n_labels, dim)`` and bias
``(n_labels,)``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from scratchformer.checkpoints import load_safetensors
from scratchformer.functional import cross_entropy, softmax

CLASSIFIER_CONFIG = "classifier.json"
CLASSIFIER_WEIGHTS = "classifier.safetensors"
_FORMAT = "scratchformer-embedding-classifier"


class EmbeddingClassifier(nn.Module):
    """Embeddings ``(batch, dim)`` -> logits ``(batch, n_labels)`` through one linear layer.

    Args:
        dim: the embedding width (384 for all-MiniLM-L6-v2).
        labels: the class names, in logit order (e.g. ``["ham", "spam"]``).

    Raises:
        ValueError: for ``dim < 1``, fewer than two labels, or repeated labels.
    """

    def __init__(self, dim: int, labels: Sequence[str]) -> None:
        super().__init__()
        labels = list(labels)
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}.")
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least two distinct names, got {labels}.")
        self.dim = dim
        self.labels = labels
        self.linear = nn.Linear(dim, len(labels))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(batch, dim)`` -> logits ``(batch, n_labels)``."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.dim:
            raise ValueError(
                f"expected embeddings (batch, {self.dim}), got {tuple(embeddings.shape)}; "
                "was the classifier trained on another encoder?"
            )
        return self.linear(embeddings)

    @torch.inference_mode()
    def predict_proba(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(batch, n_labels)``, rows summing to 1."""
        return softmax(self(embeddings), dim=-1)

    def save(self, directory: str | Path) -> Path:
        """Write ``classifier.json`` and ``classifier.safetensors`` into ``directory``
        (created if needed); returns the folder."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "dim": self.dim, "labels": self.labels}
        (directory / CLASSIFIER_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        state = {name: t.detach().contiguous() for name, t in self.state_dict().items()}
        save_file(state, directory / CLASSIFIER_WEIGHTS)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> EmbeddingClassifier:
        """Read a folder written by :meth:`save`; the model is in evaluation mode.

        Raises:
            FileNotFoundError: if ``classifier.json`` is missing.
            ValueError: if it is not a classifier folder of this format.
            scratchformer.checkpoints.CheckpointError: for missing or misshapen weights.
        """
        directory = Path(directory)
        path = directory / CLASSIFIER_CONFIG
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: file not found; pass a folder written by EmbeddingClassifier.save"
            )
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a {_FORMAT} config (its 'format' field differs)")
        model = cls(int(meta["dim"]), meta["labels"])
        load_safetensors(model, directory / CLASSIFIER_WEIGHTS)
        return model.eval()


@dataclass(frozen=True)
class FitConfig:
    """How :func:`fit_classifier` trains (full-batch AdamW on the cross-entropy).

    Attributes:
        steps: optimisation steps over all examples.
        lr: the learning rate.
        weight_decay: AdamW's decoupled weight decay (keeps probabilities from saturating).
        seed: seeds the initial weights.
    """

    steps: int = 300
    lr: float = 0.05
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"need steps >= 1, lr > 0, weight_decay >= 0; got {self.steps}, {self.lr}, "
                f"{self.weight_decay}."
            )


def fit_classifier(
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    labels: Sequence[str],
    config: FitConfig | None = None,
) -> EmbeddingClassifier:
    """Train an :class:`EmbeddingClassifier` (logistic regression) on fixed embeddings.

    Args:
        embeddings: ``(n, dim)``, e.g. ``SentenceEncoder.encode(texts)``.
        targets: ``(n,)`` class indices into ``labels``.
        labels: the class names.
        config: steps, learning rate, weight decay, seed.

    Returns:
        The trained classifier, in evaluation mode.

    Raises:
        ValueError: if the shapes disagree or a target is not a class index.
    """
    config = config if config is not None else FitConfig()
    if embeddings.dim() != 2 or targets.shape != (embeddings.shape[0],):
        raise ValueError(
            f"expected embeddings (n, dim) and targets (n,), got {tuple(embeddings.shape)} "
            f"and {tuple(targets.shape)}."
        )
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= len(labels)):
        raise ValueError(f"targets must be class indices in [0, {len(labels)}).")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = EmbeddingClassifier(embeddings.shape[1], labels)
    # clone: embeddings made under inference_mode (SentenceEncoder.encode) cannot enter autograd
    x, y = embeddings.detach().float().clone(), targets.long()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    model.train()
    for _ in range(config.steps):
        optimizer.zero_grad()
        cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


__all__ = [
    "CLASSIFIER_CONFIG",
    "CLASSIFIER_WEIGHTS",
    "EmbeddingClassifier",
    "FitConfig",
    "fit_classifier",
]
