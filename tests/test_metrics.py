"""scratchformer.metrics against scikit-learn (a test-only reference) and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as sklearn_metrics
import torch

from scratchformer.metrics import (
    ClassificationReport,
    accuracy,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)

SEEDS = range(200)


def random_labels(rng: np.random.Generator, n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """True labels and noisy predictions of random length and balance (tiny sizes included)."""
    n = int(rng.integers(1, 40))
    y_true = rng.integers(0, n_classes, n)
    y_pred = np.where(rng.random(n) < rng.random(), y_true, rng.integers(0, n_classes, n))
    return y_true, y_pred


def random_scores(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels with both classes present, and scores with ties half of the time."""
    n = int(rng.integers(2, 60))
    y_true = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int64)
    y_true[:2] = [0, 1]
    scores = rng.random(n) + rng.uniform(-0.5, 1.5) * y_true
    if rng.random() < 0.5:
        scores = np.round(scores * int(rng.integers(1, 5))) / 4
    return y_true, scores


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_confusion_matrix_accuracy_match_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    for _ in SEEDS:
        y_true, y_pred = random_labels(rng, n_classes)
        ours = confusion_matrix(torch.from_numpy(y_true), torch.from_numpy(y_pred), n_classes)
        theirs = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
        assert ours.dtype == torch.int64
        np.testing.assert_array_equal(ours.numpy(), theirs)
        assert accuracy(y_true, y_pred) == pytest.approx(
            sklearn_metrics.accuracy_score(y_true, y_pred)
        )


@pytest.mark.parametrize("positive", [0, 1, 2])
def test_precision_recall_f1_match_sklearn_including_empty_classes(positive):
    rng = np.random.default_rng(10 + positive)
    for _ in SEEDS:
        y_true, y_pred = random_labels(rng, 3)
        ours = precision_recall_f1(y_true.tolist(), y_pred.tolist(), positive=positive)
        theirs = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=[positive], average=None, zero_division=0.0
        )[:3]
        assert ours == pytest.approx([float(t[0]) for t in theirs])


def test_empty_denominators_give_zero():
    assert precision_recall_f1([1, 1, 0], [0, 0, 0]) == (0.0, 0.0, 0.0)  # no positive prediction
    assert precision_recall_f1([0, 0], [0, 0]) == (0.0, 0.0, 0.0)  # no positive at all
    assert precision_recall_f1([0, 1], [1, 1]) == pytest.approx((0.5, 1.0, 2 / 3))


def test_roc_curve_matches_sklearn_with_ties():
    rng = np.random.default_rng(20)
    for _ in SEEDS:
        y_true, scores = random_scores(rng)
        fpr, tpr, thresholds = roc_curve(torch.from_numpy(y_true), torch.from_numpy(scores))
        s_fpr, s_tpr, s_thresholds = sklearn_metrics.roc_curve(
            y_true, scores, drop_intermediate=False
        )
        np.testing.assert_allclose(fpr.numpy(), s_fpr)
        np.testing.assert_allclose(tpr.numpy(), s_tpr)
        np.testing.assert_allclose(thresholds.numpy(), s_thresholds)


def mann_whitney(y_true: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative), ties counting 1/2."""
    positive, negative = scores[y_true == 1], scores[y_true == 0]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (
        positive[:, None] == negative[None, :]
    ).sum()
    return float(wins / (len(positive) * len(negative)))


def test_roc_auc_matches_sklearn_and_the_mann_whitney_statistic():
    rng = np.random.default_rng(30)
    for _ in SEEDS:
        y_true, scores = random_scores(rng)
        ours = roc_auc(y_true, scores)
        assert ours == pytest.approx(sklearn_metrics.roc_auc_score(y_true, scores), abs=1e-12)
        assert ours == pytest.approx(mann_whitney(y_true, scores), abs=1e-12)


def test_roc_auc_extremes_and_invariance_to_monotone_rescaling():
    y_true = torch.tensor([0, 0, 1, 1])
    assert roc_auc(y_true, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(y_true, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(y_true, [0.5, 0.5, 0.5, 0.5]) == 0.5
    scores = torch.tensor([0.3, 0.7, 0.4, 0.9])
    assert roc_auc(y_true, scores) == roc_auc(y_true, torch.exp(5 * scores) - 3)


@pytest.mark.parametrize("function", [roc_auc, roc_curve])
@pytest.mark.parametrize(
    ("y_true", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.5, 0.9], "only positive"),
        ([0, 0], [0.1, 0.5], "only negative"),
        ([0, 1, 1], [0.1, 0.5], "y_true has 3 examples but scores has 2"),
        ([0, 2, 1], [0.1, 0.5, 0.3], "0 \\(negative\\) and 1 \\(positive\\)"),
        ([0, 1], [[0.2, 0.8], [0.6, 0.4]], "scores must be 1-D"),
        ([0, 1], [0.2, math.nan], "NaN"),
        ([], [], "empty"),
    ],
)
def test_roc_functions_reject_bad_input(function, y_true, scores, message):
    with pytest.raises(ValueError, match=message):
        function(y_true, scores)


def test_label_functions_reject_bad_input():
    with pytest.raises(ValueError, match="y_true has 2 examples but y_pred has 3"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="outside \\[0, 2\\)"):
        confusion_matrix([0, 1, 2], [0, 1, 1], 2)
    with pytest.raises(ValueError, match="integer class labels"):
        precision_recall_f1([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="1-D"):
        accuracy([[0, 1]], [[0, 1]])


def test_classification_report_from_scores():
    y_true = [0, 0, 0, 1, 1, 0]
    scores = [0.1, 0.6, 0.2, 0.9, 0.4, 0.3]
    report = ClassificationReport.from_scores(y_true, scores, threshold=0.5)
    assert torch.equal(report.confusion, torch.tensor([[3, 1], [1, 1]]))
    assert (report.accuracy, report.precision, report.recall, report.f1) == pytest.approx(
        (4 / 6, 0.5, 0.5, 0.5)
    )
    assert report.roc_auc == pytest.approx(sklearn_metrics.roc_auc_score(y_true, scores))
    assert "F1 0.5000" in str(report)
    lower = ClassificationReport.from_scores(y_true, scores, threshold=0.35)
    assert lower.recall == 1.0 and lower.roc_auc == report.roc_auc
