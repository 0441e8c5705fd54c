"""The building blocks of a Transformer: normalisation, dropout, feed-forward, layers, stacks.

Every layer maps ``(batch, seq, d_model) -> (batch, seq, d_model)``. Each sub-layer
(attention or feed-forward) sits in a residual connection, in one of two arrangements:

* **post-LN** (the 2017 paper, ``norm_first=False``): ``x = norm(x + dropout(f(x)))``;
* **pre-LN** (``norm_first=True``): ``x = x + dropout(f(norm(x)))``, which keeps an
  un-normalised path from input to output and trains deep stacks more stably. A pre-LN
  stack ends with one more :class:`LayerNorm`.

Padding masks follow :mod:`scratchformer.attention`: bool ``(batch, seq)``, ``True`` at
padding positions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import AttentionConfig, KVCache, MultiHeadAttention
from scratchformer.checks import warn_if_a_row_is_all_padding

Activation = Literal["relu", "gelu", "gelu_tanh"]
# "gelu_tanh" is GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
# the one GPT-2 was trained with.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": partial(F.gelu, approximate="tanh"),
}


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of an :class:`Encoder` or :class:`Decoder` stack (defaults: the base model).

    Attributes:
        d_model: width of every token vector.
        n_heads: attention heads per attention block; must divide ``d_model``.
        d_ff: hidden width of the feed-forward block (the paper uses ``4 * d_model``).
        n_layers: number of layers in the stack.
        dropout: dropout probability on attention weights, inside the feed-forward block
            and on every sub-layer output before the residual addition.
        activation: ``"relu"`` (the paper), ``"gelu"`` or ``"gelu_tanh"`` (GPT-2).
        norm_first: ``False`` for post-LN (the paper), ``True`` for pre-LN.
        eps: the :class:`LayerNorm` epsilon.
        bias: whether linear layers have biases.
        activation_dropout: dropout on the feed-forward block's hidden activations;
            ``None`` means ``dropout`` (as in ``torch.nn.TransformerEncoderLayer``).
            GPT-2 has none there (``0.0``).
    """

    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    n_layers: int = 6
    dropout: float = 0.1
    activation: Activation = "relu"
    norm_first: bool = False
    eps: float = 1e-5
    bias: bool = True
    activation_dropout: float | None = None

    def __post_init__(self) -> None:
        self.attention_config()  # validates d_model, n_heads and dropout
        if self.d_ff < 1 or self.n_layers < 1:
            raise ValueError(
                f"d_ff and n_layers must be >= 1, got d_ff={self.d_ff}, n_layers={self.n_layers}."
            )
        _check_activation(self.activation)
        if self.activation_dropout is not None and not 0.0 <= self.activation_dropout < 1.0:
            raise ValueError(
                f"activation_dropout must lie in [0, 1) (or be None), got {self.activation_dropout}."
            )

    def attention_config(self) -> AttentionConfig:
        """The :class:`AttentionConfig` every attention block of the stack uses."""
        return AttentionConfig(self.d_model, self.n_heads, self.dropout, self.bias)


def _check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}.")


class LayerNorm(nn.Module):
    """Normalise each token vector to mean 0, variance 1, then apply a learned gain and bias.

    ``y = standardize(x) * weight + bias`` over the last dimension (``d_model``), where
    :func:`scratchformer.functional.standardize` uses the biased variance plus ``eps``.
    ``weight`` starts at ones and ``bias`` at zeros, so a fresh layer only standardises.

    The forward pass computes exactly this formula with PyTorch's fused kernel
    (``F.layer_norm``), one pass over the data instead of several: about ten times faster
    on the CPU, which makes a BERT forward several percent faster. Tests check it against the
    ``standardize`` formula.
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.d_model = d_model
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., d_model) -> (..., d_model)``."""
        if x.shape[-1] != self.d_model:
            raise ValueError(
                f"LayerNorm expects a last dimension of {self.d_model}, got input {tuple(x.shape)}."
            )
        return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"


class Dropout(nn.Module):
    """Inverted dropout: zero each element with probability ``p`` while training.

    Kept elements are scaled by ``1 / (1 - p)`` so every element's expected value is
    unchanged; at evaluation time the module is the identity (no rescaling needed).
    """

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must lie in [0, 1), got {p}.")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape as ``x``."""
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FeedForward(nn.Module):
    """The position-wise feed-forward block ``W2 · act(W1 · x + b1) + b2``.

    Applied to every token independently: widen from ``d_model`` to ``d_ff``, apply the
    non-linearity (and dropout), project back to ``d_model``.
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        activation: Activation = "relu",
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        _check_activation(activation)
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model) -> (batch, seq, d_model)``."""
        return self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(x))))


Sublayer = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def _residual(
    x: torch.Tensor, sublayer: Sublayer, norm: LayerNorm, dropout: Dropout, norm_first: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Wrap ``sublayer`` (which returns ``(output, weights or None)``) in a residual connection."""
    if norm_first:
        out, weights = sublayer(norm(x))
        return x + dropout(out), weights
    out, weights = sublayer(x)
    return norm(x + dropout(out)), weights


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each in a residual connection.

    Attributes ``self_attn``, ``feed_forward``, ``norm1``/``norm2`` and
    ``dropout1``/``dropout2`` name the same pieces as ``torch.nn.TransformerEncoderLayer``.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.self_attn = MultiHeadAttention(config.attention_config())
        self.feed_forward = _feed_forward(config)
        self.norm1 = LayerNorm(config.d_model, config.eps)
        self.norm2 = LayerNorm(config.d_model, config.eps)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode ``x`` ``(batch, seq, d_model)``.

        Args:
            key_padding_mask: bool ``(batch, seq)``, ``True`` at padding tokens (a batch's
                ``~attention_mask``).
            causal: let each token see only itself and earlier tokens (a decoder-only
                model's block); ``False`` for an encoder.
            need_weights: also return the self-attention weights.
            kv_cache: the keys and values of earlier positions (a decoder-only model
                generating text); extended in place, see
                :meth:`~scratchformer.attention.MultiHeadAttention.forward`.

        Returns:
            ``(hidden, weights)``: hidden ``(batch, seq, d_model)``; weights
            ``(batch, n_heads, seq, seq)`` or ``None``.
        """
        norm_first = self.config.norm_first
        x, weights = _residual(
            x,
            lambda h: self.self_attn(
                h,
                h,
                h,
                key_padding_mask=key_padding_mask,
                causal=causal,
                need_weights=need_weights,
                kv_cache=kv_cache,
            ),
            self.norm1,
            self.dropout1,
            norm_first,
        )
        x, _ = _residual(x, _no_weights(self.feed_forward), self.norm2, self.dropout2, norm_first)
        return x, weights


class DecoderLayer(nn.Module):
    """Masked self-attention, then cross-attention to the encoder output, then feed-forward.

    Attributes ``self_attn``, ``cross_attn``, ``feed_forward``, ``norm1..3`` and
    ``dropout1..3`` name the pieces in that order.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.self_attn = MultiHeadAttention(config.attention_config())
        self.cross_attn = MultiHeadAttention(config.attention_config())
        self.feed_forward = _feed_forward(config)
        self.norm1 = LayerNorm(config.d_model, config.eps)
        self.norm2 = LayerNorm(config.d_model, config.eps)
        self.norm3 = LayerNorm(config.d_model, config.eps)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)
        self.dropout3 = Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        *,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
        kv_caches: tuple[KVCache, KVCache] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Decode ``x`` ``(batch, tgt_seq, d_model)`` with ``memory`` ``(batch, src_seq, d_model)``.

        Self-attention is always causal (position ``i`` sees ``0..i``).

        Args:
            tgt_key_padding_mask: bool ``(batch, tgt_seq)``, ``True`` at target padding
                (with ``kv_caches``: over the cached positions and ``x``'s).
            memory_key_padding_mask: bool ``(batch, src_seq)``, ``True`` at source padding.
            need_weights: also return the attention weights.
            kv_caches: ``(self_attention, cross_attention)`` caches for decoding one
                step at a time: ``x`` holds the newest positions only; see
                :meth:`~scratchformer.attention.MultiHeadAttention.forward`.

        Returns:
            ``(hidden, self_weights, cross_weights)``: hidden ``(batch, tgt_seq, d_model)``;
            self weights ``(batch, n_heads, tgt_seq, tgt_seq)`` and cross weights
            ``(batch, n_heads, tgt_seq, src_seq)``, or ``None`` each.
        """
        norm_first = self.config.norm_first
        self_cache, cross_cache = (None, None) if kv_caches is None else kv_caches
        x, self_weights = _residual(
            x,
            lambda h: self.self_attn(
                h,
                h,
                h,
                key_padding_mask=tgt_key_padding_mask,
                causal=True,
                need_weights=need_weights,
                kv_cache=self_cache,
            ),
            self.norm1,
            self.dropout1,
            norm_first,
        )
        x, cross_weights = _residual(
            x,
            lambda h: self.cross_attn(
                h,
                memory,
                memory,
                key_padding_mask=memory_key_padding_mask,
                need_weights=need_weights,
                kv_cache=cross_cache,
            ),
            self.norm2,
            self.dropout2,
            norm_first,
        )
        x, _ = _residual(x, _no_weights(self.feed_forward), self.norm3, self.dropout3, norm_first)
        return x, self_weights, cross_weights


def _feed_forward(config: TransformerConfig) -> FeedForward:
    hidden_dropout = (
        config.dropout if config.activation_dropout is None else config.activation_dropout
    )
    return FeedForward(config.d_model, config.d_ff, config.activation, hidden_dropout, config.bias)


def _no_weights(module: nn.Module) -> Sublayer:
    return lambda h: (module(h), None)


class EncoderOutput(NamedTuple):
    """What :class:`Encoder` returns.

    Attributes:
        hidden: ``(batch, seq, d_model)``, the encoder output ("memory").
        self_weights: one ``(batch, n_heads, seq, seq)`` tensor per layer, or ``None``
            unless ``need_weights=True``.
    """

    hidden: torch.Tensor
    self_weights: tuple[torch.Tensor, ...] | None


class DecoderOutput(NamedTuple):
    """What :class:`Decoder` returns.

    Attributes:
        hidden: ``(batch, tgt_seq, d_model)``.
        self_weights: one ``(batch, n_heads, tgt_seq, tgt_seq)`` tensor per layer, or ``None``.
        cross_weights: one ``(batch, n_heads, tgt_seq, src_seq)`` tensor per layer, or ``None``.
    """

    hidden: torch.Tensor
    self_weights: tuple[torch.Tensor, ...] | None
    cross_weights: tuple[torch.Tensor, ...] | None


def _final_norm(config: TransformerConfig) -> LayerNorm | None:
    """Pre-LN stacks end with a LayerNorm (their residual stream is never normalised otherwise)."""
    return LayerNorm(config.d_model, config.eps) if config.norm_first else None


class Encoder(nn.Module):
    """``config.n_layers`` :class:`EncoderLayer` s, plus a final :class:`LayerNorm` when pre-LN."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.norm = _final_norm(config)

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        kv_caches: Sequence[KVCache] | None = None,
    ) -> EncoderOutput:
        """Run every layer on ``x`` ``(batch, seq, d_model)``.

        Arguments as in :meth:`EncoderLayer.forward`; ``kv_caches`` holds one
        :class:`~scratchformer.attention.KVCache` per layer.
        """
        warn_if_a_row_is_all_padding("key_padding_mask", key_padding_mask)
        if kv_caches is not None and len(kv_caches) != len(self.layers):
            raise ValueError(
                f"kv_caches must hold one KVCache per layer ({len(self.layers)}), "
                f"got {len(kv_caches)}."
            )
        all_weights = []
        for i, layer in enumerate(self.layers):
            x, weights = layer(
                x,
                key_padding_mask=key_padding_mask,
                causal=causal,
                need_weights=need_weights,
                kv_cache=None if kv_caches is None else kv_caches[i],
            )
            all_weights.append(weights)
        if self.norm is not None:
            x = self.norm(x)
        return EncoderOutput(x, tuple(all_weights) if need_weights else None)


@dataclass
class DecoderCache:
    """What a :class:`Decoder` keeps while it writes one token at a time.

    Per layer, a self-attention :class:`~scratchformer.attention.KVCache` (the keys and
    values of the target tokens written so far) and a cross-attention one (the encoder
    output projected to keys and values once, not at every step). With it each new
    token costs one position's work instead of a pass over the whole prefix.
    """

    self_attn: list[KVCache] = field(default_factory=list)
    cross_attn: list[KVCache] = field(default_factory=list)

    @classmethod
    def empty(cls, n_layers: int) -> DecoderCache:
        """A cache for a decoder of ``n_layers`` layers, holding nothing yet."""
        return cls([KVCache() for _ in range(n_layers)], [KVCache() for _ in range(n_layers)])

    def __len__(self) -> int:
        """Target positions cached."""
        return len(self.self_attn[0]) if self.self_attn else 0

    def select(self, rows: torch.Tensor) -> None:
        """Keep the rows ``rows`` of every cache, in that order (beam search's reordering)."""
        for cache in self.self_attn + self.cross_attn:
            cache.select(rows)


class Decoder(nn.Module):
    """``config.n_layers`` :class:`DecoderLayer` s, plus a final :class:`LayerNorm` when pre-LN."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.norm = _final_norm(config)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        *,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
        cache: DecoderCache | None = None,
    ) -> DecoderOutput:
        """Run every layer on ``x`` ``(batch, tgt_seq, d_model)``.

        Arguments as in :meth:`DecoderLayer.forward`; with a ``cache``
        (:meth:`DecoderCache.empty`), ``x`` holds the newest positions only and the
        cache is extended in place.
        """
        warn_if_a_row_is_all_padding("tgt_key_padding_mask", tgt_key_padding_mask)
        warn_if_a_row_is_all_padding("memory_key_padding_mask", memory_key_padding_mask)
        if cache is not None and len(cache.self_attn) != len(self.layers):
            raise ValueError(
                f"the cache has {len(cache.self_attn)} layers, the decoder {len(self.layers)}: "
                "make it with DecoderCache.empty(n_layers)."
            )
        self_weights, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            x, s, c = layer(
                x,
                memory,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                need_weights=need_weights,
                kv_caches=None if cache is None else (cache.self_attn[i], cache.cross_attn[i]),
            )
            self_weights.append(s)
            cross_weights.append(c)
        if self.norm is not None:
            x = self.norm(x)
        if not need_weights:
            return DecoderOutput(x, None, None)
        return DecoderOutput(x, tuple(self_weights), tuple(cross_weights))


__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Decoder",
    "DecoderCache",
    "DecoderLayer",
    "DecoderOutput",
    "Dropout",
    "Encoder",
    "EncoderLayer",
    "EncoderOutput",
    "FeedForward",
    "LayerNorm",
    "TransformerConfig",
]
