"""Classification metrics: counts, precision/recall/F1, ROC curve and its area.

Chapter 8 evaluates a spam classifier with these. They work on 1-D tensors (or
anything ``torch.as_tensor`` accepts) of integer labels and, for the ROC functions, real
scores (a higher score means "more likely positive", e.g. the predicted probability).

Conventions follow the usual textbook (and scikit-learn's) definitions:

* the confusion matrix has one row per *true* class and one column per *predicted* class;
* a ratio whose denominator is zero (precision with no positive prediction, recall with
  no positive example, F1 when both are zero) is ``0.0`` rather than an error, since an
  empty class is a legitimate outcome of a small evaluation set;
* the area under the ROC curve is computed from the curve with the trapezoid rule, which
  for tied scores counts half a pair: it equals the Mann–Whitney statistic, the
  probability that a random positive scores above a random negative (ties: one half).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

ArrayLike = torch.Tensor | Sequence[int] | Sequence[float]


def _as_labels(values: ArrayLike, name: str) -> torch.Tensor:
    """``values`` as a 1-D int64 tensor, or a clear error."""
    tensor = torch.as_tensor(values)
    if tensor.dim() != 1:
        raise ValueError(
            f"{name} must be 1-D (one label per example), got shape {tuple(tensor.shape)}."
        )
    if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
        raise ValueError(
            f"{name} must hold integer class labels, got non-integer values; "
            "pass predicted classes (e.g. scores.argmax(-1)), not scores."
        )
    return tensor.long()


def _check_pair(y_true: torch.Tensor, other: torch.Tensor, other_name: str) -> None:
    if len(y_true) != len(other):
        raise ValueError(
            f"y_true has {len(y_true)} examples but {other_name} has {len(other)}; "
            "pass one entry per example in both."
        )
    if len(y_true) == 0:
        raise ValueError("no examples: y_true is empty.")


def _labels_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    true, pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    _check_pair(true, pred, "y_pred")
    return true, pred


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, or 0.0 for an empty denominator."""
    return numerator / denominator if denominator else 0.0


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``.

    Args:
        y_true, y_pred: ``(n,)`` integer labels in ``[0, n_classes)``.
        n_classes: number of classes (rows and columns of the result).

    Returns:
        ``LongTensor (n_classes, n_classes)``; the diagonal counts correct predictions.

    Raises:
        ValueError: for lengths that differ, no examples, non-integer labels or a
            label outside ``[0, n_classes)``.
    """
    true, pred = _labels_pair(y_true, y_pred)
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}.")
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
            raise ValueError(
                f"{name} holds labels from {int(labels.min())} to {int(labels.max())}, "
                f"outside [0, {n_classes}); is n_classes={n_classes} right?"
            )
    flat = true * n_classes + pred
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The fraction of examples whose predicted label equals the true one."""
    true, pred = _labels_pair(y_true, y_pred)
    return float((true == pred).double().mean())


def precision_recall_f1(
    y_true: ArrayLike, y_pred: ArrayLike, positive: int = 1
) -> tuple[float, float, float]:
    """Precision, recall and F1 of the class ``positive`` (one class against the rest).

    * precision = TP / (TP + FP): of the examples predicted ``positive``, the share that is;
    * recall = TP / (TP + FN): of the ``positive`` examples, the share that was found;
    * F1 = 2 TP / (2 TP + FP + FN), the harmonic mean of the two.

    An empty denominator gives ``0.0`` (see the module notes).
    """
    true, pred = _labels_pair(y_true, y_pred)
    is_true, is_pred = true == positive, pred == positive
    tp = int((is_true & is_pred).sum())
    fp = int((~is_true & is_pred).sum())
    fn = int((is_true & ~is_pred).sum())
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _binary_scores(y_true: ArrayLike, scores: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(labels, scores)`` for the ROC functions: labels 0/1 with both present."""
    true = _as_labels(y_true, "y_true")
    score = torch.as_tensor(scores).double()
    if score.dim() != 1:
        raise ValueError(
            f"scores must be 1-D (one score per example), got shape {tuple(score.shape)}; "
            "for a (n, 2) matrix of probabilities pass its column for the positive class."
        )
    _check_pair(true, score, "scores")
    if not bool(((true == 0) | (true == 1)).all()):
        raise ValueError("y_true must hold 0 (negative) and 1 (positive) only for ROC analysis.")
    if bool(score.isnan().any()):
        raise ValueError("scores contain NaN; every example needs a real score.")
    n_positive = int(true.sum())
    if n_positive in (0, len(true)):
        only = "positive" if n_positive else "negative"
        raise ValueError(
            f"y_true holds only {only} examples: the ROC curve and its area need at least "
            "one positive and one negative example."
        )
    return true, score


def roc_curve(
    y_true: ArrayLike, scores: ArrayLike
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ROC curve: false and true positive rates as the decision threshold falls.

    Predicting "positive" when ``score >= t``, each distinct score ``t`` (from the highest
    down) gives one point ``(FPR(t), TPR(t))``; a first point at ``t = +inf`` (nothing
    predicted positive) starts the curve at ``(0, 0)``, and the lowest score ends it at
    ``(1, 1)``. Examples with equal scores enter together, so ties make a diagonal step.

    Args:
        y_true: ``(n,)`` labels, 0 or 1, with both present.
        scores: ``(n,)`` real scores, higher meaning more likely positive.

    Returns:
        ``(fpr, tpr, thresholds)``, float64 tensors of shape ``(n_distinct_scores + 1,)``;
        thresholds fall, fpr and tpr rise.

    Raises:
        ValueError: for lengths that differ, labels other than 0/1, NaN scores, or a
            single class (the curve is then undefined).
    """
    true, score = _binary_scores(y_true, scores)
    order = torch.argsort(score, descending=True, stable=True)
    score, true = score[order], true[order].double()
    # The last example of each run of equal scores: the curve's points.
    last = torch.ones(len(score), dtype=torch.bool)
    last[:-1] = score[1:] != score[:-1]
    true_positives = true.cumsum(0)[last]
    false_positives = (1.0 - true).cumsum(0)[last]
    zero = torch.zeros(1, dtype=torch.float64)
    tpr = torch.cat([zero, true_positives / true_positives[-1]])
    fpr = torch.cat([zero, false_positives / false_positives[-1]])
    thresholds = torch.cat([torch.tensor([float("inf")], dtype=torch.float64), score[last]])
    return fpr, tpr, thresholds


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random positive example scores
    higher than a random negative one, ties counting one half.

    1.0 is a perfect ranking, 0.5 is chance. Only the *order* of the scores matters, so
    the area does not depend on a threshold. Same inputs and errors as :func:`roc_curve`.
    """
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(torch.trapezoid(tpr, fpr))


@dataclass(frozen=True)
class ClassificationReport:
    """The usual numbers for a binary classifier, at one decision threshold.

    Attributes:
        accuracy: fraction of correct predictions.
        precision, recall, f1: of the positive class (see :func:`precision_recall_f1`).
        roc_auc: area under the ROC curve of the scores (threshold-free).
        confusion: ``LongTensor (2, 2)``, rows true class, columns predicted class.
        threshold: scores ``>= threshold`` were predicted positive.
    """

    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    confusion: torch.Tensor
    threshold: float

    @classmethod
    def from_scores(
        cls, y_true: ArrayLike, scores: ArrayLike, threshold: float = 0.5
    ) -> ClassificationReport:
        """Evaluate scores (e.g. probabilities of the positive class ``1``) against 0/1 labels,
        predicting positive where ``score >= threshold``."""
        true, score = _binary_scores(y_true, scores)
        pred = (score >= threshold).long()
        precision, recall, f1 = precision_recall_f1(true, pred)
        return cls(
            accuracy=accuracy(true, pred),
            precision=precision,
            recall=recall,
            f1=f1,
            roc_auc=roc_auc(true, score),
            confusion=confusion_matrix(true, pred, 2),
            threshold=threshold,
        )

    def __str__(self) -> str:
        return (
            f"accuracy {self.accuracy:.4f}  precision {self.precision:.4f}  "
            f"recall {self.recall:.4f}  F1 {self.f1:.4f}  ROC-AUC {self.roc_auc:.4f}"
        )


__all__ = [
    "ClassificationReport",
    "accuracy",
    "confusion_matrix",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
]
