"""Masked-language-model inputs: BERT's 80/10/10 masking rule.

BERT learns by filling in blanks. Of the tokens of a batch, a fraction
``mlm_probability`` (15 %) is *selected* for prediction; special tokens (``[CLS]``,
``[SEP]``) and padding never are. Each selected token is then

* replaced by ``[MASK]`` with probability 0.8,
* replaced by a random token with probability 0.1,
* left as it is with probability 0.1.

The loss is computed at the selected positions only: their labels are the original ids,
every other label is ``IGNORE_INDEX`` (-100, the value ``cross_entropy`` skips). Because
the model cannot tell which unmasked tokens were selected, it must keep a good
representation of every token, not only of ``[MASK]``; and since ``[MASK]`` never
appears after pre-training, the 20 % of unmasked selections soften that mismatch.

The random draws are made in a fixed order from one generator, so the same generator
state always gives the same masking (the notebook of chapter 8 relies on that):

1. ``u1 = rand(shape)``: a token is selected where ``u1 < mlm_probability`` (and it is
   not special);
2. ``u2 = rand(shape)``: a selected token becomes ``[MASK]`` where ``u2 < mask_fraction``;
3. ``u3 = rand(shape)``: a selected token not masked becomes random where
   ``u3 < random_fraction / (1 - mask_fraction)``;
4. ``randint(vocab_size, shape)``: the random tokens, uniform over the whole vocabulary
   (as in the original BERT code).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from scratchformer.checks import check_token_ids

IGNORE_INDEX = -100


@dataclass(frozen=True)
class MaskingConfig:
    """How many tokens to select and what to do with them.

    Attributes:
        mlm_probability: chance that a (non-special) token is selected for prediction.
        mask_fraction: of the selected tokens, the share replaced by ``[MASK]``.
        random_fraction: of the selected tokens, the share replaced by a random token;
            the rest (``1 - mask_fraction - random_fraction``) is kept unchanged.
    """

    mlm_probability: float = 0.15
    mask_fraction: float = 0.8
    random_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("mlm_probability", "mask_fraction", "random_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}.")
        if self.mask_fraction + self.random_fraction > 1.0:
            raise ValueError(
                f"mask_fraction + random_fraction = {self.mask_fraction + self.random_fraction} "
                "exceeds 1; they are shares of the same selected tokens."
            )


class MaskedBatch(NamedTuple):
    """What :func:`mask_tokens` returns.

    Attributes:
        input_ids: ``LongTensor (batch, seq)``, the corrupted ids the model reads.
        labels: ``LongTensor (batch, seq)``, the original id at selected positions and
            :data:`IGNORE_INDEX` everywhere else.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor


def special_tokens_mask(input_ids: torch.Tensor, special_ids: Iterable[int]) -> torch.Tensor:
    """``True`` where ``input_ids`` ``(batch, seq)`` holds one of ``special_ids`` (e.g. the
    ids of ``[CLS]``, ``[SEP]`` and ``[PAD]``): the positions :func:`mask_tokens` must skip."""
    return torch.isin(input_ids, torch.tensor(sorted(set(special_ids)), dtype=input_ids.dtype))


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    config: MaskingConfig | None = None,
    generator: torch.Generator | None = None,
) -> MaskedBatch:
    """Corrupt a batch for masked-language-model training (the 80/10/10 rule).

    Args:
        input_ids: ``LongTensor (batch, seq)``, the original ids (not changed).
        special_mask: ``BoolTensor (batch, seq)``, ``True`` at positions that must never
            be selected: special tokens and padding (see :func:`special_tokens_mask`; the
            inverse of an attention mask covers padding alone).
        mask_id: the id of ``[MASK]``.
        vocab_size: random replacements are drawn from ``[0, vocab_size)``.
        config: the three probabilities (default: BERT's 0.15 and 80/10/10).
        generator: the source of randomness (the draws are listed in the module notes).

    Returns:
        :class:`MaskedBatch` with the corrupted ids and the labels.

    Raises:
        ValueError / TypeError: for a wrong shape or dtype, or ids outside the vocabulary.
    """
    config = config if config is not None else MaskingConfig()
    check_token_ids("input_ids", input_ids, vocab_size)  # the masking runs on the CPU
    if tuple(special_mask.shape) != tuple(input_ids.shape) or special_mask.dtype != torch.bool:
        raise ValueError(
            f"special_mask must be a bool tensor shaped like input_ids {tuple(input_ids.shape)}, "
            f"got {special_mask.dtype} {tuple(special_mask.shape)}; build it with "
            "special_tokens_mask(...) or ~attention_mask.bool()."
        )
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"mask_id={mask_id} must be an id in [0, vocab_size={vocab_size}).")
    shape = input_ids.shape
    selected = (torch.rand(shape, generator=generator) < config.mlm_probability) & ~special_mask
    masked = selected & (torch.rand(shape, generator=generator) < config.mask_fraction)
    rest = 1.0 - config.mask_fraction
    random_share = config.random_fraction / rest if rest > 0 else 0.0
    randomized = selected & ~masked & (torch.rand(shape, generator=generator) < random_share)
    random_ids = torch.randint(vocab_size, shape, generator=generator, dtype=input_ids.dtype)
    corrupted = input_ids.masked_fill(masked, mask_id)
    corrupted = torch.where(randomized, random_ids, corrupted)
    labels = input_ids.masked_fill(~selected, IGNORE_INDEX)
    return MaskedBatch(corrupted, labels)


__all__ = ["IGNORE_INDEX", "MaskedBatch", "MaskingConfig", "mask_tokens", "special_tokens_mask"]
