"""Toy sequence-to-sequence tasks (copy, reverse): their data, model size and run settings.

(Training on them is :func:`scratchformer.train.train_toy`'s job.)

Random strings of symbols are cheap, infinite and have a known answer, so they show in
seconds whether a :class:`~scratchformer.models.Transformer` can learn to move
information from the source to the right target position. Reversal needs attention
to look at the mirrored position, copying at the same one.

Ids ``0, 1, 2`` are PAD, BOS and EOS; ids ``3 .. vocab_size - 1`` are symbols. A batch is
padded on the right to its longest sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
N_SPECIAL = 3
ToyTask = Literal["copy", "reverse"]


class ToyBatch(NamedTuple):
    """One batch of a toy task, all ``torch.long``.

    Attributes:
        src: ``(batch, src_seq)`` symbols, then PAD.
        tgt_in: ``(batch, src_seq + 1)`` BOS, the answer, then PAD (the decoder input).
        tgt_out: ``(batch, src_seq + 1)`` the answer, EOS, then PAD (what to predict).
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    def to(self, device: torch.device | str) -> ToyBatch:
        """The same batch on ``device`` (e.g. the model's GPU)."""
        return ToyBatch(*(t.to(device) for t in self))


@dataclass(frozen=True)
class ToyDataConfig:
    """Shape of the random sequences.

    Attributes:
        vocab_size: number of ids including the three special ones (so
            ``vocab_size - 3`` symbols).
        min_len, max_len: sequence lengths are drawn uniformly from ``[min_len, max_len]``.
    """

    vocab_size: int = 13
    min_len: int = 1
    max_len: int = 10

    def __post_init__(self) -> None:
        if self.vocab_size <= N_SPECIAL:
            raise ValueError(
                f"vocab_size must exceed the {N_SPECIAL} special ids, got {self.vocab_size}."
            )
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(
                f"need 1 <= min_len <= max_len, got min_len={self.min_len}, max_len={self.max_len}."
            )


def _make_batch(
    batch_size: int,
    data: ToyDataConfig,
    generator: torch.Generator | None,
    answer: Callable[[torch.Tensor], torch.Tensor],
) -> ToyBatch:
    """Draw ``batch_size`` random sequences and build the batch for ``answer(sequence)``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    lengths = torch.randint(data.min_len, data.max_len + 1, (batch_size,), generator=generator)
    width = int(lengths.max())
    symbols = torch.randint(N_SPECIAL, data.vocab_size, (batch_size, width), generator=generator)
    src = torch.full((batch_size, width), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((batch_size, width + 1), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((batch_size, width + 1), PAD_ID, dtype=torch.long)
    for row, n in enumerate(lengths.tolist()):
        sequence = symbols[row, :n]
        src[row, :n] = sequence
        tgt_in[row, 0] = BOS_ID
        tgt_in[row, 1 : n + 1] = answer(sequence)
        tgt_out[row, :n] = answer(sequence)
        tgt_out[row, n] = EOS_ID
    return ToyBatch(src, tgt_in, tgt_out)


def make_copy_batch(
    batch_size: int, data: ToyDataConfig = ToyDataConfig(), generator: torch.Generator | None = None
) -> ToyBatch:
    """A batch of the copy task: the target equals the source."""
    return _make_batch(batch_size, data, generator, lambda s: s)


def make_reverse_batch(
    batch_size: int, data: ToyDataConfig = ToyDataConfig(), generator: torch.Generator | None = None
) -> ToyBatch:
    """A batch of the reversal task: the target is the source backwards."""
    return _make_batch(batch_size, data, generator, lambda s: s.flip(0))


MAKERS: dict[str, Callable[..., ToyBatch]] = {
    "copy": make_copy_batch,
    "reverse": make_reverse_batch,
}


def toy_model_config(data: ToyDataConfig = ToyDataConfig(), **overrides: object) -> Seq2SeqConfig:
    """A small :class:`Seq2SeqConfig` sized for the toy tasks (override any field by keyword).

    Defaults: ``d_model=64``, 4 heads, ``d_ff=128``, 2 + 2 layers, no dropout, shared and
    tied embeddings, ``max_len = data.max_len + 1`` (room for EOS).
    """
    fields: dict[str, object] = {
        "src_vocab_size": data.vocab_size,
        "tgt_vocab_size": data.vocab_size,
        "pad_id": PAD_ID,
        "max_len": data.max_len + 1,
        "d_model": 64,
        "n_heads": 4,
        "d_ff": 128,
        "n_encoder_layers": 2,
        "n_decoder_layers": 2,
        "dropout": 0.0,
        "share_embeddings": True,
        "tie_output": True,
    }
    fields.update(overrides)
    return Seq2SeqConfig(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ToyTrainConfig:
    """A run on a toy task, as :func:`scratchformer.train.train_toy` trains it.

    Attributes:
        task: ``"copy"`` or ``"reverse"``.
        data: the sequence shape.
        steps: optimiser steps (one fresh random batch each).
        batch_size: sequences per batch.
        lr: peak learning rate of Adam; it rises linearly over ``warmup`` steps and then
            falls linearly to zero at the last step.
        warmup: warm-up steps.
        seed: seeds the data and, via ``torch.manual_seed``, dropout.
    """

    task: ToyTask = "copy"
    data: ToyDataConfig = field(default_factory=ToyDataConfig)
    steps: int = 300
    batch_size: int = 64
    lr: float = 5e-3
    warmup: int = 40
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in MAKERS:
            raise ValueError(f"task must be one of {sorted(MAKERS)}, got {self.task!r}.")
        if self.steps < 1 or self.batch_size < 1 or not 0 <= self.warmup < self.steps:
            raise ValueError(
                f"need steps >= 1, batch_size >= 1 and 0 <= warmup < steps, got "
                f"steps={self.steps}, batch_size={self.batch_size}, warmup={self.warmup}."
            )


def make_batch(config: ToyTrainConfig, batch_size: int, generator: torch.Generator) -> ToyBatch:
    """A batch of ``config.task`` with ``config.data``'s shape."""
    return MAKERS[config.task](batch_size, config.data, generator)


def sequence_accuracy(model: Transformer, batch: ToyBatch) -> float:
    """Fraction of rows that :meth:`Transformer.greedy_decode` gets exactly right (EOS included)."""
    batch = batch.to(next(model.parameters()).device)
    predicted = model.greedy_decode(batch.src, batch.tgt_out.shape[1], BOS_ID, EOS_ID)
    target = batch.tgt_out
    width = max(predicted.shape[1], target.shape[1])
    predicted = F.pad(predicted, (0, width - predicted.shape[1]), value=PAD_ID)
    target = F.pad(target, (0, width - target.shape[1]), value=PAD_ID)
    return (predicted == target).all(dim=1).float().mean().item()


__all__ = [
    "BOS_ID",
    "EOS_ID",
    "MAKERS",
    "N_SPECIAL",
    "PAD_ID",
    "ToyBatch",
    "ToyDataConfig",
    "ToyTask",
    "ToyTrainConfig",
    "make_batch",
    "make_copy_batch",
    "make_reverse_batch",
    "sequence_accuracy",
    "toy_model_config",
]
