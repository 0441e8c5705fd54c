"""Training loops, one per kind of model, with what they share.

* :mod:`scratchformer.train.lm` — a causal language model on one long stream of ids
  (chapter 10's GPT), cosine learning-rate schedule.
* :mod:`scratchformer.train.seq2seq` — an encoder-decoder on sentence pairs (chapter 7's
  translator): length-bucketed batches, label smoothing, the 2017 warm-up schedule
  (:mod:`scratchformer.train.schedules`, where every schedule lives), progress bar, atomic checkpoints
  (:mod:`scratchformer.train.checkpoint`) that resume exactly.
* :func:`make_optimizer` — AdamW without weight decay on biases and norms, for both.
* :mod:`scratchformer.train.precision` — mixed precision (bfloat16, or float16 with a
  gradient scaler) on a CUDA GPU, float32 elsewhere, for every loop (``precision="auto"``).
"""

from scratchformer.train.checkpoint import (
    read_checkpoint,
    remove_stale_temporaries,
    save_atomically,
)
from scratchformer.train.lm import (
    EvalCallback,
    TrainConfig,
    TrainHistory,
    estimate_loss,
    lm_loss,
    random_batch,
    split_ids,
    train_lm,
)
from scratchformer.train.optim import make_optimizer
from scratchformer.train.schedules import (
    cosine_learning_rate,
    linear_learning_rate,
    noam_learning_rate,
)
from scratchformer.train.seq2seq import (
    EpochCallback,
    Seq2SeqHistory,
    Seq2SeqTrainConfig,
    average_epoch_weights,
    average_weights,
    best_weights_path,
    epoch_weights_path,
    evaluate_loss,
    pairs_fingerprint,
    restore_best_weights,
    run_fingerprint,
    train_seq2seq,
    translation_loss,
)

__all__ = [
    "EpochCallback",
    "EvalCallback",
    "Seq2SeqHistory",
    "Seq2SeqTrainConfig",
    "TrainConfig",
    "TrainHistory",
    "average_epoch_weights",
    "average_weights",
    "best_weights_path",
    "cosine_learning_rate",
    "epoch_weights_path",
    "estimate_loss",
    "evaluate_loss",
    "linear_learning_rate",
    "lm_loss",
    "make_optimizer",
    "noam_learning_rate",
    "pairs_fingerprint",
    "random_batch",
    "read_checkpoint",
    "remove_stale_temporaries",
    "restore_best_weights",
    "run_fingerprint",
    "save_atomically",
    "split_ids",
    "train_lm",
    "train_seq2seq",
    "translation_loss",
]
