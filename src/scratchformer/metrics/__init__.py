"""Evaluation metrics, one module per kind of task.

* :mod:`scratchformer.metrics.classification` — confusion matrix, accuracy,
  precision/recall/F1, ROC curve and its area (chapter 8's spam classifier);
* :mod:`scratchformer.metrics.bleu` — corpus BLEU with the ``13a`` tokenisation, the score
  machine translation is reported in (equal to sacreBLEU's).

Everything is re-exported here, so ``from scratchformer.metrics import roc_auc`` works.
"""

from scratchformer.metrics.bleu import BLEUScore, corpus_bleu, sentence_bleu, tokenize_13a
from scratchformer.metrics.classification import (
    ClassificationReport,
    accuracy,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)

__all__ = [
    "BLEUScore",
    "ClassificationReport",
    "accuracy",
    "confusion_matrix",
    "corpus_bleu",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
    "sentence_bleu",
    "tokenize_13a",
]
