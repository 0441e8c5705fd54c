"""Training loops, one per kind of model, with what they share.

* :mod:`scratchformer.train.toy` — chapter 6's toy tasks (copy, reverse): the smallest
  complete loop.
* :mod:`scratchformer.train.seq2seq` — an encoder-decoder on sentence pairs (chapter 7's
  translator): length-bucketed batches, label smoothing, the 2017 warm-up schedule,
  progress bar, atomic checkpoints (:mod:`scratchformer.train.checkpoint`) that resume
  exactly.
* :mod:`scratchformer.train.finetune` — a BERT classifier on labelled texts (chapters 8
  and 9).
* :mod:`scratchformer.train.lm` — a causal language model on one long stream of ids
  (chapter 10's GPT).
* :mod:`scratchformer.train.schedules` — every learning-rate schedule, a plain function
  of the step that the loops call before each optimiser step.
* :func:`make_optimizer` — AdamW without weight decay on biases and norms.
* :mod:`scratchformer.train.precision` — mixed precision (bfloat16, or float16 with a
  gradient scaler) on a CUDA GPU, float32 elsewhere, for every loop (``precision="auto"``).

Each loop takes its seed in its config and draws its batches from its own
``torch.Generator``. Dropout draws from torch's global generator: the toy and fine-tuning
loops seed it inside ``torch.random.fork_rng`` (the caller's random state is left as it
was); the language-model and translation loops leave it to the caller.
"""

from scratchformer.train.checkpoint import (
    read_checkpoint,
    remove_stale_temporaries,
    save_atomically,
)
from scratchformer.train.finetune import FineTuneConfig, FineTuneHistory, fine_tune
from scratchformer.train.lm import (
    DECAYS,
    Decay,
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
from scratchformer.train.toy import train_toy

__all__ = [
    "DECAYS",
    "Decay",
    "EpochCallback",
    "EvalCallback",
    "FineTuneConfig",
    "FineTuneHistory",
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
    "fine_tune",
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
    "train_toy",
    "translation_loss",
]
