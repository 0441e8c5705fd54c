"""Turning token-id lists of different lengths into rectangular tensors.

A model eats tensors of shape ``(batch, seq)``, but sentences have different lengths.
:func:`pad_batch` fills the short ones up with a padding id and returns a *padding mask*
saying which positions hold real tokens.

Mask convention (used throughout the package): ``True`` = a real token, ``False`` =
padding. Attention and losses use it to ignore the padded positions.

Padding costs compute, so examples of similar length are batched together. Both ways take
the examples' lengths and return lists of indices: :func:`batches_by_length` puts a fixed
number of examples in each batch (BERT's fine-tuning and sentence embeddings);
:func:`length_buckets` fills each batch up to a budget of padded tokens (translation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

Side = Literal["right", "left"]


def _check_options(pad_id: int, max_len: int | None, side: str) -> None:
    if isinstance(pad_id, bool) or not isinstance(pad_id, int):
        raise TypeError(f"pad_id must be an int, got {pad_id!r}")
    if pad_id < 0:
        raise ValueError(
            f"pad_id must be a valid token id (>= 0), got {pad_id}; use the tokenizer's "
            "pad token id, e.g. tokenizer.special_tokens['<pad>']"
        )
    if max_len is not None and (
        isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1
    ):
        raise ValueError(f"max_len must be None or an int >= 1, got {max_len!r}")
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")


def _as_id_list(sequence: Any, index: int) -> list[int]:
    if isinstance(sequence, torch.Tensor):
        if sequence.dim() != 1 or sequence.dtype.is_floating_point or sequence.dtype == torch.bool:
            raise ValueError(
                f"sequence {index} is a tensor of shape {tuple(sequence.shape)} and dtype "
                f"{sequence.dtype}; each sequence must be 1-D integer token ids"
            )
        return sequence.tolist()
    if isinstance(sequence, (str, bytes)) or not isinstance(sequence, Sequence):
        raise TypeError(
            f"sequence {index} is a {type(sequence).__name__}; each sequence must be a list "
            "of token ids (encode text with a tokenizer first)"
        )
    for token in sequence:
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"sequence {index} contains {token!r}; token ids must be ints")
    return list(sequence)


def pad_batch(
    sequences: Sequence[Sequence[int] | torch.Tensor],
    pad_id: int,
    max_len: int | None = None,
    *,
    truncate: bool = False,
    side: Side = "right",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id sequences to one length.

    Args:
        sequences: ``batch`` lists (or 1-D integer tensors) of token ids.
        pad_id: the id written into padded positions (the tokenizer's pad token).
        max_len: the length to pad to; ``None`` pads to the longest sequence.
        truncate: cut sequences longer than ``max_len`` (keeping the start) instead of
            raising.
        side: ``"right"`` puts padding after the tokens (training); ``"left"`` puts it
            before them, so the last real tokens line up (batched generation).

    Returns:
        ``(ids, attention_mask)``: ``ids`` is a ``LongTensor (batch, seq)``;
        ``attention_mask`` is a ``BoolTensor (batch, seq)``, ``True`` at real tokens (the
        package's mask convention, see :mod:`scratchformer.attention`: a model that takes
        token ids takes it as it is; a layer's ``key_padding_mask`` is ``~attention_mask``).

    Raises:
        ValueError: for an empty batch, a negative ``pad_id``, a bad ``max_len`` or
            ``side``, or a sequence longer than ``max_len`` without ``truncate=True``.
        TypeError: for a sequence that is not a list of integer ids.
    """
    _check_options(pad_id, max_len, side)
    if len(sequences) == 0:
        raise ValueError("cannot pad an empty batch: pass at least one sequence")
    rows = [_as_id_list(sequence, i) for i, sequence in enumerate(sequences)]
    if max_len is None:
        length = max(len(row) for row in rows)
    else:
        length = max_len
        for i, row in enumerate(rows):
            if len(row) > max_len:
                if not truncate:
                    raise ValueError(
                        f"sequence {i} has {len(row)} tokens, more than max_len={max_len}; "
                        "pass truncate=True to cut it, or a larger max_len"
                    )
                rows[i] = row[:max_len]
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, row in enumerate(rows):
        if not row:
            continue
        start = 0 if side == "right" else length - len(row)
        ids[i, start : start + len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, start : start + len(row)] = True
    return ids, mask


@dataclass(frozen=True)
class PadCollator:
    """Pad one column of a batch; use it as a ``DataLoader`` ``collate_fn`` or with
    ``datasets.Dataset.map(..., batched=True)``.

    It accepts a batch in either shape:

    * a list of examples (what a ``DataLoader`` hands over), e.g.
      ``[{"input_ids": [5, 6]}, {"input_ids": [7]}]``;
    * a dict of columns (what ``Dataset.map(batched=True)`` and ``Dataset.iter`` hand
      over), e.g. ``{"input_ids": [[5, 6], [7]]}``.

    It returns a dict with ``key`` -> ids ``(batch, seq)``, ``"attention_mask"`` ->
    ``(batch, seq)`` (``True`` = real token) and every other column as a list.

    Attributes:
        pad_id, max_len, truncate, side: as in :func:`pad_batch`.
        key: the column holding the token ids.
    """

    pad_id: int
    key: str = "input_ids"
    max_len: int | None = None
    truncate: bool = False
    side: Side = "right"

    def __post_init__(self) -> None:
        _check_options(self.pad_id, self.max_len, self.side)

    def __call__(
        self, batch: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
    ) -> dict[str, Any]:
        """Pad ``batch[key]``; see the class docstring for the accepted shapes."""
        if isinstance(batch, Mapping):
            columns = {name: list(values) for name, values in batch.items()}
        else:
            if len(batch) == 0:
                raise ValueError("cannot collate an empty batch")
            columns = {name: [example[name] for example in batch] for name in batch[0]}
        if self.key not in columns:
            raise KeyError(
                f"the batch has no column {self.key!r} (it has {sorted(columns)}); "
                "tokenize first, or set PadCollator(key=...) to the column with the ids"
            )
        ids, mask = pad_batch(
            columns[self.key], self.pad_id, self.max_len, truncate=self.truncate, side=self.side
        )
        return {**columns, self.key: ids, "attention_mask": mask}


# --- batches of similar length ---------------------------------------------------------


def batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Example indices sorted by length and cut into batches of ``batch_size`` (the last
    may be shorter): a fixed number of examples per batch.

    A batch is padded to its longest example; batching examples of similar length wastes
    little on padding. Equal lengths keep their input order, so the result is the same on
    every call (for encoding, evaluation, or a training loop that shuffles the batches).

    Args:
        lengths: one length per example (e.g. its number of tokens).
        batch_size: examples per batch.

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def length_buckets(
    lengths: Sequence[int], max_tokens: int, generator: torch.Generator | None = None
) -> list[list[int]]:
    """Group example indices into batches of similar length, at most ``max_tokens`` each.

    Padding a short sentence to a long one's length wastes compute, so examples are
    sorted by length and cut into consecutive runs. A batch holds as many examples as fit
    ``batch_size * longest_length <= max_tokens``: short sentences make big batches,
    long ones small batches, and every step costs about the same.

    Args:
        lengths: one length per example (for a pair, the longer side).
        max_tokens: the budget of padded tokens per batch.
        generator: when given, examples of equal length are shuffled before sorting and
            the batches come out in random order (a new grouping every epoch); ``None``
            gives a fixed order, shortest batch first (for evaluation).

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}.")
    too_long = [i for i, n in enumerate(lengths) if n > max_tokens]
    if too_long:
        i = too_long[0]
        raise ValueError(
            f"example {i} has {lengths[i]} tokens, more than max_tokens={max_tokens}: it fits "
            "no batch. Raise max_tokens or drop examples that long."
        )
    order = list(range(len(lengths)))
    if generator is not None:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    order.sort(key=lambda i: lengths[i])  # stable: equal lengths keep the shuffled order
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending length: the newest example is the batch's longest
        if current and (len(current) + 1) * lengths[i] > max_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    if generator is not None:
        batches = [batches[j] for j in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


# --- sentence pairs (translation) -------------------------------------------------------

TokenPair = tuple[Sequence[int], Sequence[int]]
"""A tokenised sentence pair: source ids and target ids (``BOS ... EOS``)."""


@dataclass(frozen=True)
class PairBatch:
    """A padded batch of sentence pairs for teacher-forced training.

    Attributes:
        src: source ids ``(batch, src_seq)``.
        tgt_in: decoder input ``(batch, tgt_seq)``: the target without its last token
            (``BOS y1 ... yn``).
        tgt_out: what the decoder must predict at each position ``(batch, tgt_seq)``: the
            target without its first token (``y1 ... yn EOS``).
        pad_id: the padding id of all three.
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    pad_id: int

    def to(self, device: torch.device | str) -> PairBatch:
        """The same batch on ``device`` (e.g. the model's GPU)."""
        return PairBatch(
            self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device), self.pad_id
        )

    @property
    def n_tokens(self) -> int:
        """Real (non-padding) tokens read and predicted: source plus predicted target."""
        return int((self.src != self.pad_id).sum()) + int((self.tgt_out != self.pad_id).sum())


def collate_pairs(pairs: Sequence[TokenPair], pad_id: int) -> PairBatch:
    """Pad tokenised pairs into a :class:`PairBatch` (targets must be ``BOS ... EOS``)."""
    if any(len(tgt) < 2 for _, tgt in pairs):
        raise ValueError("every target needs at least BOS and EOS (2 ids) to be trained on.")
    src, _ = pad_batch([s for s, _ in pairs], pad_id)
    tgt, _ = pad_batch([t for _, t in pairs], pad_id)
    return PairBatch(src, tgt[:, :-1], tgt[:, 1:], pad_id)
