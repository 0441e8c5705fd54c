"""Training an encoder-decoder on sentence pairs, the recipe of the 2017 Transformer.

* batches of similar-length pairs up to a token budget
  (:func:`~scratchformer.batching.length_buckets`), regrouped every epoch;
* label-smoothed cross-entropy on the target tokens, padding ignored;
* AdamW with ``betas=(0.9, 0.98)`` and the warm-up-then-``1/sqrt(step)`` learning rate
  (:func:`~scratchformer.train.schedules.noam_learning_rate`);
* gradient clipping to a maximum global norm;
* a progress bar with the loss and tokens/s, and the validation loss (plain
  cross-entropy, no smoothing) after every epoch;
* a checkpoint every ``checkpoint_every`` steps and after every epoch, written atomically,
  a copy of the weights of the epoch with the lowest validation loss
  (:func:`restore_best_weights` loads them: early stopping without stopping), and, if
  asked, the weights at the end of the last few epochs (:func:`average_epoch_weights`
  loads their mean: checkpoint averaging).
  Given an existing checkpoint, :func:`train_seq2seq` resumes from it *exactly*: model,
  optimiser, position in the epoch, history and the random state of dropout are
  restored, so an interrupted and resumed run ends with the same weights as one that
  never stopped. The checkpoint records a fingerprint of the run (the training
  settings, the model's config and a SHA-256 of the training and validation pairs), and
  resuming refuses a checkpoint of another run instead of silently mixing the two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
import warnings
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from scratchformer.batching import PairBatch, TokenPair, collate_pairs, length_buckets
from scratchformer.checkpoints import CheckpointError, load_checkpoint
from scratchformer.functional import cross_entropy
from scratchformer.generate.lm import evaluating
from scratchformer.train.checkpoint import (
    read_checkpoint,
    remove_stale_temporaries,
    save_atomically,
)
from scratchformer.train.optim import make_optimizer
from scratchformer.train.precision import PRECISIONS, MixedPrecision, Precision
from scratchformer.train.schedules import noam_learning_rate


@dataclass(frozen=True)
class Seq2SeqTrainConfig:
    """How :func:`train_seq2seq` trains.

    Attributes:
        epochs: passes over the training pairs (the most; ``max_steps`` may stop
            earlier).
        max_tokens: padded tokens per batch (batch size times the longest side).
        warmup_steps: steps of learning-rate warm-up.
        lr_scale: multiplies the whole learning-rate curve.
        label_smoothing: probability mass spread over all tokens in the loss target.
        weight_decay: AdamW's decoupled weight decay, on matrices only.
        betas, eps: AdamW's moment decay rates and denominator term (the paper's).
        grad_clip: largest global gradient norm (``None``: no clipping).
        max_steps: stop after this many optimiser steps (``None``: no limit), counted
            across resumptions. A budget in steps, not seconds, makes a run give the same
            model on every machine, however fast or loaded.
        checkpoint_every: also checkpoint every this many steps (besides every epoch).
        keep_epochs: keep the weights of the last this many epochs next to the
            checkpoint (:func:`epoch_weights_path`), for :func:`average_epoch_weights`;
            0 keeps none.
        seed: seeds the batch grouping and order of every epoch.
        progress: show a progress bar.
        precision: the forward pass's precision (:mod:`scratchformer.train.precision`):
            ``"auto"`` is bfloat16 (or float16) on a CUDA GPU and float32 elsewhere.
    """

    epochs: int = 10
    max_tokens: int = 3000
    warmup_steps: int = 1000
    lr_scale: float = 1.0
    label_smoothing: float = 0.1
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    grad_clip: float | None = 1.0
    max_steps: int | None = None
    checkpoint_every: int = 500
    keep_epochs: int = 0
    seed: int = 0
    progress: bool = True
    precision: Precision = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        for name in ("epochs", "max_tokens", "warmup_steps", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Seq2SeqTrainConfig.{name} must be an integer >= 1, got {value!r}."
                )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}.")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or self.max_steps < 1):
            raise ValueError(f"max_steps must be an integer >= 1 or None, got {self.max_steps!r}.")
        if self.keep_epochs < 0:
            raise ValueError(f"keep_epochs must be >= 0, got {self.keep_epochs}.")


# Settings that may change between a run and its resumption: they do not change what
# the finished steps computed.
_RESUMABLE_CHANGES = {
    "epochs",
    "max_steps",
    "checkpoint_every",
    "keep_epochs",
    "progress",
    "precision",  # e.g. a run begun on the CPU and continued on a GPU
}

# What a training checkpoint of train_seq2seq holds besides its fingerprint.
_CHECKPOINT_KEYS = ("model", "optimizer", "config", "epoch", "batch", "history", "rng", "cuda_rng")


@dataclass
class Seq2SeqHistory:
    """What :func:`train_seq2seq` records.

    Attributes:
        step_loss: the training loss (label-smoothed) of every step.
        step_lr: the learning rate of every step.
        epoch_steps: the step count at the end of each epoch (or where ``max_steps``
            stopped the last one).
        train_loss: mean training loss over each epoch's steps.
        val_loss: validation cross-entropy (nats per target token) after each epoch.
        tokens: real tokens trained on (source + predicted target).
        seconds: training time (validation and checkpoints excluded).
    """

    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Optimiser steps taken."""
        return len(self.step_loss)

    @property
    def tokens_per_second(self) -> float:
        """Training throughput (``nan`` before any step)."""
        return self.tokens / self.seconds if self.seconds else math.nan


def translation_loss(
    model: nn.Module, batch: PairBatch, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean (label-smoothed) cross-entropy of ``batch.tgt_out`` given teacher-forced input.

    ``model(src, tgt_in)`` must return logits ``(batch, tgt_seq, vocab)``; padding
    positions are ignored.
    """
    logits = model(batch.src, batch.tgt_in).float()  # the loss in float32, also under autocast
    return cross_entropy(
        logits, batch.tgt_out, ignore_index=batch.pad_id, label_smoothing=label_smoothing
    )


def evaluate_loss(
    model: nn.Module, pairs: Sequence[TokenPair], pad_id: int, max_tokens: int
) -> float:
    """Cross-entropy per target token (nats, no smoothing) over ``pairs``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    if not pairs:
        raise ValueError("evaluate_loss needs at least one pair.")
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with evaluating(model):
        for indices in length_buckets(_pair_lengths(pairs), max_tokens):
            batch = collate_pairs([pairs[i] for i in indices], pad_id).to(device)
            logits = model(batch.src, batch.tgt_in)
            total += float(cross_entropy(logits, batch.tgt_out, pad_id, reduction="sum"))
            count += int((batch.tgt_out != pad_id).sum())
    return total / count


EpochCallback = Callable[[int, Seq2SeqHistory], None]
"""``callback(epoch, history)``, called after each epoch's validation (epochs from 1)."""


def train_seq2seq(
    model: nn.Module,
    train_pairs: Sequence[TokenPair],
    val_pairs: Sequence[TokenPair],
    config: Seq2SeqTrainConfig,
    checkpoint: str | Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> Seq2SeqHistory:
    """Train ``model`` on tokenised sentence pairs; resume from ``checkpoint`` if it exists.

    Args:
        model: maps ``(src, tgt_in)`` ids to logits ``(batch, tgt_seq, vocab)`` and has
            ``model.config.pad_id`` and ``model.config.d_model`` (as
            :class:`~scratchformer.models.seq2seq.Transformer`). Trained in place; left
            in eval mode.
        train_pairs, val_pairs: ``(source ids, target ids)`` with targets ``BOS ... EOS``.
        config: the :class:`Seq2SeqTrainConfig`.
        checkpoint: file to save the training state to (and resume from when it
            exists), next to the best epoch's weights (:func:`best_weights_path`) and
            the last ``keep_epochs`` epochs' weights; ``None``: no checkpoints.
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch.

    Returns:
        The :class:`Seq2SeqHistory` (of the whole run, across resumptions).

    Raises:
        ValueError: a pair is malformed (not two id sequences, an empty source, a target
            shorter than ``BOS EOS``, an id outside the model's vocabulary).
        TypeError: a pair holds text instead of token ids.
        CheckpointError: the checkpoint is unreadable, is not a training checkpoint, or
            was written by another run (other pairs, model config or training settings;
            the message lists what differs); or its weights do not fit the model.
    """
    if not train_pairs or not val_pairs:
        raise ValueError("train_seq2seq needs at least one training and one validation pair.")
    model_config: Any = model.config  # a Seq2SeqConfig
    for name, pairs in (("train_pairs", train_pairs), ("val_pairs", val_pairs)):
        _check_pairs(pairs, name, model_config)
    pad_id, d_model = model_config.pad_id, model_config.d_model
    optimizer = make_optimizer(
        model, lr=0.0, weight_decay=config.weight_decay, betas=config.betas, eps=config.eps
    )
    lengths = _pair_lengths(train_pairs)
    device = next(model.parameters()).device  # batches go where the model is (CPU or GPU)
    amp = MixedPrecision(config.precision, device)
    state: dict[str, Any] = {"epoch": 0, "batch": 0, "history": Seq2SeqHistory()}
    fingerprint: dict[str, Any] = {}
    if checkpoint is not None:
        if Path(checkpoint).is_dir():
            raise ValueError(
                f"checkpoint={str(checkpoint)!r} is a folder; pass a file path inside it, "
                f"e.g. {str(Path(checkpoint) / 'translator.pt')!r}."
            )
        remove_stale_temporaries(checkpoint)
        fingerprint = run_fingerprint(model_config, train_pairs, val_pairs)
        if Path(checkpoint).is_file():
            state = _resume(Path(checkpoint), model, optimizer, amp.scaler, config, fingerprint)
        else:
            _remove_weights_of_an_earlier_run(Path(checkpoint))
    history: Seq2SeqHistory = state["history"]

    def save(epoch: int, batch: int) -> None:
        if checkpoint is not None:
            save_atomically(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "config": dataclasses.asdict(config),
                    "epoch": epoch,
                    "batch": batch,
                    "history": dataclasses.asdict(history),
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                    "scaler": amp.scaler.state_dict(),  # empty unless float16
                    "fingerprint": fingerprint,
                },
                checkpoint,
            )

    model.train()
    out_of_steps = False
    for epoch in range(state["epoch"], config.epochs):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        batches = length_buckets(lengths, config.max_tokens, generator)
        first = state["batch"] if epoch == state["epoch"] else 0
        epoch_start = history.steps - first
        bar = tqdm(
            batches[first:],
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not config.progress,
            mininterval=2.0,
            leave=False,
        )
        for position, indices in enumerate(bar, start=first):
            started = time.perf_counter()
            batch = collate_pairs([train_pairs[i] for i in indices], pad_id).to(device)
            lr = noam_learning_rate(
                history.steps + 1, d_model, config.warmup_steps, config.lr_scale
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            with amp.autocast():
                loss = translation_loss(model, batch, config.label_smoothing)
            amp.step(loss, optimizer, model.parameters(), config.grad_clip)
            history.step_loss.append(loss.item())
            history.step_lr.append(lr)
            history.tokens += batch.n_tokens
            history.seconds += time.perf_counter() - started
            bar.set_postfix(
                loss=f"{history.step_loss[-1]:.3f}",
                tok_s=f"{history.tokens_per_second:,.0f}",
                refresh=False,
            )
            out_of_steps = config.max_steps is not None and history.steps >= config.max_steps
            if out_of_steps or history.steps % config.checkpoint_every == 0:
                save(epoch, position + 1)
            if out_of_steps:
                break
        bar.close()
        history.epoch_steps.append(history.steps)
        history.train_loss.append(
            sum(history.step_loss[epoch_start:]) / max(history.steps - epoch_start, 1)
        )
        history.val_loss.append(evaluate_loss(model, val_pairs, pad_id, config.max_tokens))
        if checkpoint is not None:
            _save_epoch_weights(model, checkpoint, epoch + 1, history.val_loss, config.keep_epochs)
        if not out_of_steps:
            save(epoch + 1, 0)
        if on_epoch is not None:
            on_epoch(epoch + 1, history)
        if out_of_steps:
            break
    model.eval()
    return history


def _save_epoch_weights(
    model: nn.Module, checkpoint: str | Path, epoch: int, val_losses: list[float], keep: int
) -> None:
    """After an epoch: the best epoch's weights, and the last ``keep`` epochs' weights."""
    weights = {"model": model.state_dict(), "epoch": epoch, "val_loss": val_losses[-1]}
    if val_losses[-1] <= min(val_losses):
        save_atomically(weights, best_weights_path(checkpoint))
    if keep > 0:
        save_atomically(weights, epoch_weights_path(checkpoint, epoch))
        epoch_weights_path(checkpoint, epoch - keep).unlink(missing_ok=True)


def _remove_weights_of_an_earlier_run(checkpoint: Path) -> None:
    """Delete ``<name>.best.pt`` and ``<name>.epoch<N>.pt`` left by an earlier run whose
    checkpoint is gone: a fresh run writes its own, and averaging a stale epoch's weights
    with this run's would silently mix two models."""
    pattern = re.compile(
        re.escape(checkpoint.stem) + r"\.(best|epoch\d+)" + re.escape(checkpoint.suffix)
    )
    stale = sorted(
        path
        for path in checkpoint.parent.glob(f"{checkpoint.stem}.*")
        if pattern.fullmatch(path.name) and path.is_file()
    )
    if stale:
        warnings.warn(
            f"starting a new run at {checkpoint}: removing the weights an earlier run left "
            f"there ({', '.join(path.name for path in stale)}).",
            stacklevel=3,
        )
        for path in stale:
            path.unlink()


def best_weights_path(checkpoint: str | Path) -> Path:
    """Where :func:`train_seq2seq` keeps the weights of its best epoch: ``<name>.best.pt``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.best{checkpoint.suffix}")


def restore_best_weights(model: nn.Module, checkpoint: str | Path) -> dict[str, Any]:
    """Load the weights of the epoch with the lowest validation loss into ``model``.

    A model trained a little too long has begun to overfit: its last weights are not
    its best. Returns ``{"epoch": ..., "val_loss": ...}`` of the restored epoch.
    """
    path = best_weights_path(checkpoint)
    saved = read_checkpoint(path)
    load_checkpoint(model, saved["model"], source=f"best weights {path}")
    return {"epoch": saved["epoch"], "val_loss": saved["val_loss"]}


def epoch_weights_path(checkpoint: str | Path, epoch: int) -> Path:
    """Where :func:`train_seq2seq` keeps the weights at the end of ``epoch`` (from 1):
    ``<name>.epoch<N>.pt`` (only for the last ``keep_epochs`` epochs)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.epoch{epoch}{checkpoint.suffix}")


def average_weights(state_dicts: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of several state dicts of one model.

    Checkpoint averaging (Vaswani et al., 2017, section 6.1): the weights at the ends of
    the last few epochs lie around a valley of the loss; their mean often lies nearer its
    floor than any of them, and it costs no training. Tensors that are not floating
    point (step counters, say) are taken from the last state dict.
    """
    if not state_dicts:
        raise ValueError("average_weights needs at least one state dict.")
    names = list(state_dicts[-1])
    for other in state_dicts[:-1]:
        if list(other) != names:
            raise ValueError("the state dicts hold different parameters: not one model's weights.")
    return {
        name: torch.stack([s[name] for s in state_dicts]).mean(dim=0)
        if state_dicts[-1][name].is_floating_point()
        else state_dicts[-1][name]
        for name in names
    }


def average_epoch_weights(model: nn.Module, checkpoint: str | Path, epochs: Sequence[int]) -> None:
    """Load the mean of the weights kept at the end of ``epochs`` into ``model``.

    Raises:
        FileNotFoundError: an epoch's weights were not kept (train with ``keep_epochs``
            at least as large as the span of ``epochs``).
    """
    paths = [epoch_weights_path(checkpoint, epoch) for epoch in epochs]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"no weights kept for epochs {list(epochs)}: {', '.join(missing)} missing. Train "
            "with Seq2SeqTrainConfig(keep_epochs=...) covering those epochs."
        )
    averaged = average_weights([read_checkpoint(path)["model"] for path in paths])
    load_checkpoint(model, averaged, source=f"the mean of epochs {list(epochs)}")


def _pair_lengths(pairs: Sequence[TokenPair]) -> list[int]:
    return [max(len(src), len(tgt) - 1) for src, tgt in pairs]


def _check_pairs(pairs: Sequence[TokenPair], name: str, model_config: Any) -> None:
    """Check every pair before training, so that a bad one is named instead of failing
    deep inside a batch (or, for an id outside the vocabulary, inside an embedding)."""
    vocab_sizes = {
        "source": getattr(model_config, "src_vocab_size", None),
        "target": getattr(model_config, "tgt_vocab_size", None),
    }
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(
                f"{name}[{i}] is {pair!r}; every pair must be (source ids, target ids), "
                "two lists of token ids."
            )
        for side, ids in zip(("source", "target"), pair):
            if isinstance(ids, str):
                raise TypeError(
                    f"the {side} of {name}[{i}] is the string {ids!r}; tokenise the text "
                    "first (pairs hold token ids, not text)."
                )
            if len(ids) == 0:
                raise ValueError(f"the {side} of {name}[{i}] is empty; drop that pair.")
            size = vocab_sizes[side]
            if size is not None and not 0 <= min(ids) <= max(ids) < size:
                bad = next(int(t) for t in ids if not 0 <= t < size)
                raise ValueError(
                    f"the {side} of {name}[{i}] holds id {bad}, outside the model's "
                    f"{side} vocabulary of {size} ids (0..{size - 1}); tokenise with the "
                    "tokeniser the model was built for."
                )
        if len(pair[1]) < 2:
            raise ValueError(
                f"the target of {name}[{i}] has {len(pair[1])} id; a target must be "
                "BOS ... EOS (at least 2 ids): add the tokeniser's BOS and EOS ids."
            )


def pairs_fingerprint(pairs: Sequence[TokenPair]) -> str:
    """SHA-256 (hex) of tokenised pairs, in order: equal exactly when the pairs are.

    Each sequence is hashed as its length and its ids as 64-bit integers, so ``([1, 2],
    [3])`` and ``([1], [2, 3])`` differ. Linear in the number of ids, fast enough to run on
    every start of a training run.
    """
    digest = hashlib.sha256()
    for pair in pairs:
        for ids in pair:
            values = ids.tolist() if hasattr(ids, "tolist") else ids
            digest.update(len(values).to_bytes(8, "little"))
            digest.update(array("q", values).tobytes())
    return digest.hexdigest()


def run_fingerprint(
    model_config: Any, train_pairs: Sequence[TokenPair], val_pairs: Sequence[TokenPair]
) -> dict[str, Any]:
    """What makes a run of :func:`train_seq2seq` the run it is, besides its training
    settings: the model's config (as a dict, when it is a dataclass) and the count and
    :func:`pairs_fingerprint` of the training and validation pairs.

    Stored in every checkpoint; resuming compares it with the new call's.
    """
    return {
        "model_config": dataclasses.asdict(model_config)
        if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type)
        else None,
        "train_pairs": {"count": len(train_pairs), "sha256": pairs_fingerprint(train_pairs)},
        "val_pairs": {"count": len(val_pairs), "sha256": pairs_fingerprint(val_pairs)},
    }


def _changed_fields(saved: Mapping[str, Any], ours: Mapping[str, Any], ignore: set[str]) -> str:
    """``"name: old -> new, ..."`` for the fields that differ (``""`` if none)."""
    names = sorted(
        name
        for name in {*saved, *ours}
        if name not in ignore and _as_plain(saved.get(name)) != _as_plain(ours.get(name))
    )
    return ", ".join(f"{n}: {saved.get(n)!r} -> {ours.get(n)!r}" for n in names)


def _run_differences(
    saved: Mapping[str, Any], config: Seq2SeqTrainConfig, fingerprint: Mapping[str, Any]
) -> list[str]:
    """How the run that wrote ``saved`` differs from this one, one phrase per difference."""
    differences = []
    settings = _changed_fields(saved["config"], dataclasses.asdict(config), _RESUMABLE_CHANGES)
    if settings:
        differences.append(f"other training settings ({settings})")
    theirs = saved.get("fingerprint")
    if theirs is None:  # written before checkpoints carried a fingerprint
        warnings.warn(
            "the checkpoint has no fingerprint (it predates them), so resuming cannot check "
            "that it was made with these pairs and this model; delete it to be sure.",
            stacklevel=4,
        )
        return differences
    if theirs["model_config"] is not None and fingerprint["model_config"] is not None:
        model = _changed_fields(theirs["model_config"], fingerprint["model_config"], set())
        if model:
            differences.append(f"another model configuration ({model})")
    for key, what in (("train_pairs", "training pairs"), ("val_pairs", "validation pairs")):
        old, new = theirs[key], fingerprint[key]
        if old != new:
            differences.append(
                f"other {what} ({old['count']} pairs, SHA-256 {old['sha256'][:12]}... -> "
                f"{new['count']} pairs, SHA-256 {new['sha256'][:12]}...)"
            )
    return differences


def _resume(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    config: Seq2SeqTrainConfig,
    fingerprint: Mapping[str, Any],
) -> dict[str, Any]:
    saved = read_checkpoint(path)
    missing = [key for key in _CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise CheckpointError(
            f"{path} is not a training checkpoint of train_seq2seq (it lacks the keys "
            f"{', '.join(missing)}). A file of weights only (such as "
            f"{best_weights_path(path).name}) is loaded with restore_best_weights or "
            "load_checkpoint; to train, pass another checkpoint path."
        )
    differences = _run_differences(saved, config, fingerprint)
    if differences:
        raise CheckpointError(
            f"the checkpoint {path} was written by another run: {'; '.join(differences)}. "
            "Resume with the same pairs, model and settings (only epochs, max_steps, "
            "checkpoint_every, keep_epochs and progress may change), or start afresh: "
            f"delete {path} (with its {best_weights_path(path).name} and "
            f"{path.stem}.epoch<N>{path.suffix} files) or pass another checkpoint path."
        )
    load_checkpoint(model, saved["model"], source=f"checkpoint {path}")
    optimizer.load_state_dict(saved["optimizer"])
    if saved.get("scaler"):  # a float16 run's loss scale
        scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"])
    if saved["cuda_rng"] and torch.cuda.is_available():  # dropout on a GPU draws from these
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    return {
        "epoch": saved["epoch"],
        "batch": saved["batch"],
        "history": Seq2SeqHistory(**saved["history"]),
    }


def _as_plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


__all__ = [
    "EpochCallback",
    "Seq2SeqHistory",
    "Seq2SeqTrainConfig",
    "average_epoch_weights",
    "average_weights",
    "best_weights_path",
    "epoch_weights_path",
    "evaluate_loss",
    "pairs_fingerprint",
    "restore_best_weights",
    "run_fingerprint",
    "train_seq2seq",
    "translation_loss",
]
