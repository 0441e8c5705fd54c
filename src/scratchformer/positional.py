"""Positional information: sinusoidal encodings (fixed) and learned position embeddings.

Attention treats its input as a set: shuffle the tokens and the outputs shuffle the same
way. Adding a vector that depends on the position breaks that symmetry so word order can
matter. Both modules here map ``(batch, seq, d_model) -> (batch, seq, d_model)`` by adding
the vector of position ``0, 1, ..., seq - 1`` to each token.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_even(d_model: int) -> None:
    if d_model < 2 or d_model % 2:
        raise ValueError(
            f"sinusoidal encodings pair dimensions (sin, cos), so d_model must be even and "
            f">= 2, got {d_model}."
        )


def _frequencies(d_model: int) -> torch.Tensor:
    """``omega_i = 1 / 10000^(2i / d_model)`` for ``i = 0 .. d_model/2 - 1``, float64."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return torch.pow(10000.0, -two_i / d_model)


def sinusoidal_encoding(
    max_len: int,
    d_model: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The fixed encodings of Vaswani et al. (2017), shape ``(max_len, d_model)``.

    ``PE[pos, 2i] = sin(pos * omega_i)`` and ``PE[pos, 2i + 1] = cos(pos * omega_i)`` with
    ``omega_i = 1 / 10000^(2i / d_model)``: each pair of dimensions is a point turning on a
    circle, fast for small ``i`` and slow for large ``i``, so every position gets a
    distinct pattern and a shift by ``k`` is a rotation (see :func:`relative_offset_matrix`).
    Computed in float64, then cast to ``dtype``.
    """
    _check_even(d_model)
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}.")
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * _frequencies(d_model)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype=dtype, device=device)


def relative_offset_matrix(
    k: int, d_model: int, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The ``(d_model, d_model)`` matrix ``M_k`` with ``PE(pos + k) = M_k @ PE(pos)`` for every pos.

    ``M_k`` is block-diagonal: the 2x2 block of pair ``i`` is the rotation
    ``[[cos(k w_i), sin(k w_i)], [-sin(k w_i), cos(k w_i)]]`` (from the angle-addition
    formulas). It does not depend on ``pos``, which is why a linear layer can learn to
    look ``k`` positions back or ahead. For a table of row vectors ``pe`` from
    :func:`sinusoidal_encoding`: ``pe[pos + k] == pe[pos] @ M_k.T``. ``k`` may be negative.
    """
    _check_even(d_model)
    angle = k * _frequencies(d_model)
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    even = torch.arange(0, d_model, 2)
    m[even, even] = cos
    m[even, even + 1] = sin
    m[even + 1, even] = -sin
    m[even + 1, even + 1] = cos
    return m.to(dtype)


class _PositionalBase(nn.Module):
    """Shared input checks: ``(batch, seq, d_model)`` with ``seq <= max_len``."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        if max_len < 1 or d_model < 1:
            raise ValueError(f"max_len and d_model must be >= 1, got {max_len} and {d_model}.")
        self.max_len = max_len
        self.d_model = d_model

    def _check(self, x: torch.Tensor, offset: int) -> int:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"expected input of shape (batch, seq, d_model={self.d_model}), "
                f"got {tuple(x.shape)}."
            )
        seq = x.shape[1]
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}.")
        if offset + seq > self.max_len:
            start = f" starting at position {offset}" if offset else ""
            raise ValueError(
                f"sequence length {seq}{start} exceeds max_len {self.max_len} of "
                f"{type(self).__name__}; truncate the input or build the model with a larger "
                "max_len."
            )
        return seq

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"


class SinusoidalPositionalEncoding(_PositionalBase):
    """Adds :func:`sinusoidal_encoding` to ``(batch, seq, d_model)`` inputs (no parameters).

    The table is a non-persistent buffer: it moves with ``.to(device)`` but is not saved in
    the ``state_dict`` (it is recomputed from ``max_len`` and ``d_model``).
    """

    pe: torch.Tensor

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__(max_len, d_model)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``x + PE[offset : offset + seq]`` for ``x`` of shape ``(batch, seq, d_model)``.

        ``offset`` is the position of ``x``'s first token (non-zero when earlier tokens
        were processed before, as with a KV cache).
        """
        seq = self._check(x, offset)
        return x + self.pe[offset : offset + seq].to(x.dtype)


class LearnedPositionalEmbedding(_PositionalBase):
    """Adds a trained vector per position (``max_len`` of them) to ``(batch, seq, d_model)`` inputs.

    ``weight`` has shape ``(max_len, d_model)``, initialised from ``N(0, 0.02^2)`` as in
    BERT and GPT-2; positions beyond ``max_len`` cannot be represented.
    """

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__(max_len, d_model)
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``x + weight[offset : offset + seq]`` for ``x`` of shape ``(batch, seq, d_model)``.

        ``offset`` is the position of ``x``'s first token (non-zero when earlier tokens
        were processed before, as with a KV cache).
        """
        seq = self._check(x, offset)
        return x + self.weight[offset : offset + seq]


__all__ = [
    "LearnedPositionalEmbedding",
    "SinusoidalPositionalEncoding",
    "relative_offset_matrix",
    "sinusoidal_encoding",
]
