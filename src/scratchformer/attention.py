"""Scaled dot-product attention and multi-head attention, written from scratch.

Masks: one rule for the whole package, where each name says what ``True`` marks.

* ``attention_mask`` ``(batch, seq)``: ``True`` (or ``1``) at **real tokens**, ``False``
  at padding. This is what the data side produces (:func:`scratchformer.batching.pad_batch`,
  the tokenizers' batches) and what the token-id models take (BERT, as in Hugging Face).
* ``key_padding_mask`` ``(batch, seq_k)``: ``True`` at **padding** (keys to ignore), as
  in PyTorch. This is what the layers take (:class:`MultiHeadAttention`, the encoder and
  decoder stacks); from a batch it is ``~attention_mask``.
* ``attn_mask``, broadcastable to the scores ``(batch, heads, seq_q, seq_k)``: ``True``
  where a query **may attend** to a key. :func:`causal_mask` and :func:`padding_attn_mask`
  build the two a Transformer needs.

No argument of the package takes a mask positionally where two of these could be
confused: the layers take theirs by keyword.

A query whose whole row is masked (every key forbidden) has nothing to average. Here it
gets **zero weights and a zero output** (and zero gradients), never ``NaN``.

Two paths compute the same numbers:

* :func:`scaled_dot_product_attention` is the teaching path: ``softmax(Q K^T / sqrt(d_k)) V``
  spelled out, returning the weights too.
* :class:`MultiHeadAttention` uses PyTorch's fused kernel
  (``torch.nn.functional.scaled_dot_product_attention``) when the weights are not needed,
  and the teaching path when they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.checks import check_input_dtype


def _check_bool_dtype(name: str, mask: object, meaning: str) -> None:
    """Raise ``TypeError`` unless ``mask`` is a bool tensor."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(
            f"{name} must be a bool tensor ({meaning}), got {got}. Convert a 0/1 mask with "
            "`mask.bool()`, or build one with causal_mask()/padding_attn_mask()."
        )


def _check_attention_mask(
    name: str, mask: torch.Tensor, target: tuple[int, ...], hint: str
) -> None:
    """Raise unless ``mask`` is a bool attention mask broadcastable to ``target``."""
    _check_bool_dtype(name, mask, "True = may attend")
    try:
        fits = torch.broadcast_shapes(tuple(mask.shape), target) == target
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} has shape {tuple(mask.shape)}, which does not broadcast to {target}; "
            f"expected {hint}."
        )


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention, the teaching path: ``softmax(q k^T / sqrt(d_k)) v``.

    Every query scores every key by a dot product; dividing by ``sqrt(d_k)`` keeps the
    scores' spread independent of the head size so the softmax does not saturate; the
    softmax turns a row of scores into weights that sum to 1; the output is the weighted
    average of the values.

    Args:
        q: queries ``(batch, heads, seq_q, d_k)`` (any leading dims work).
        k: keys ``(batch, heads, seq_k, d_k)``.
        v: values ``(batch, heads, seq_k, d_v)``.
        attn_mask: bool, ``True`` = may attend, broadcastable to ``(batch, heads, seq_q, seq_k)``.
            Forbidden scores are pushed to the most negative float before the softmax
            and their weights are set to exactly 0 after it, so a fully masked row gives
            zero weights and a zero output instead of ``NaN``.
        dropout_p: probability of dropping an attention weight (inverted dropout).
        training: apply dropout only when ``True``.

    Returns:
        ``(output, weights)``: output ``(batch, heads, seq_q, d_v)`` and the attention
        weights ``(batch, heads, seq_q, seq_k)`` *before* dropout (each row sums to 1,
        or to 0 for a fully masked row).
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share their last dimension d_k, got q {tuple(q.shape)} and "
            f"k {tuple(k.shape)}."
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of positions (dim -2), got k "
            f"{tuple(k.shape)} and v {tuple(v.shape)}."
        )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attn_mask is not None:
        _check_attention_mask(
            "attn_mask", attn_mask, tuple(scores.shape), "(batch, heads, seq_q, seq_k)"
        )
        scores = scores.masked_fill(~attn_mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if attn_mask is not None:
        weights = weights.masked_fill(~attn_mask, 0.0)
    return F.dropout(weights, dropout_p, training=training) @ v, weights


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The ``(seq_len, seq_len)`` bool mask that lets position ``i`` see positions ``<= i``.

    A decoder predicting token ``i + 1`` from tokens ``0..i`` must not peek at the answer;
    this lower-triangular mask (diagonal included) forbids every later key. It broadcasts
    over ``(batch, heads, seq, seq)``.
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"causal_mask needs an integer seq_len >= 1, got {seq_len!r}.")
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def padding_attn_mask(
    lengths_or_key_padding: torch.Tensor, max_len: int | None = None
) -> torch.Tensor:
    """The attention mask ``(batch, 1, 1, seq_k)`` that hides padded keys.

    Accepts either

    * a key padding mask: bool ``(batch, seq_k)``, ``True`` at padding positions
      (e.g. ``tokens == pad_id``), or
    * the true lengths: integer ``(batch,)``; positions ``>= length`` are padding. The
      sequence length is ``max_len`` (default: the largest length).

    The result follows the attention-mask convention (``True`` = may attend) and
    broadcasts over heads and queries.
    """
    x = lengths_or_key_padding
    if x.dtype == torch.bool:
        if x.dim() != 2:
            raise ValueError(
                f"a key padding mask must have shape (batch, seq_k), got {tuple(x.shape)}."
            )
        if max_len is not None and max_len != x.shape[1]:
            raise ValueError(
                f"max_len={max_len} disagrees with the key padding mask's seq_k={x.shape[1]}; "
                "leave max_len out when passing a bool mask."
            )
        return (~x)[:, None, None, :]
    if x.is_floating_point() or x.is_complex() or x.dim() != 1:
        raise TypeError(
            "padding_attn_mask expects a bool key padding mask (batch, seq_k) or integer lengths "
            f"(batch,), got dtype {x.dtype} with shape {tuple(x.shape)}."
        )
    longest = int(x.max()) if x.numel() else 0
    seq_k = longest if max_len is None else max_len
    if longest > seq_k or (x.numel() and int(x.min()) < 0):
        raise ValueError(
            f"lengths must lie in [0, max_len={seq_k}], got min {int(x.min())} and max {longest}."
        )
    positions = torch.arange(seq_k, device=x.device)
    return (positions[None, :] < x[:, None])[:, None, None, :]


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``(batch, seq, d_model) -> (batch, n_heads, seq, d_model // n_heads)`` (a view).

    Each head sees its own slice of the feature dimension; moving heads next to batch lets
    one batched matrix product serve all heads at once.
    """
    return x.unflatten(-1, (n_heads, -1)).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, n_heads, seq, d_head) -> (batch, seq, n_heads * d_head)``.

    Undoes :func:`split_heads`: the heads' outputs are laid side by side again.
    """
    return x.transpose(1, 2).flatten(2)


@dataclass(frozen=True)
class AttentionConfig:
    """Hyper-parameters of one :class:`MultiHeadAttention` block.

    Attributes:
        d_model: width of the token vectors going in and out.
        n_heads: number of heads; must divide ``d_model`` (each head gets
            ``d_model // n_heads`` features).
        dropout: probability of dropping an attention weight during training.
        bias: whether the input and output projections have biases.
    """

    d_model: int
    n_heads: int
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.n_heads < 1:
            raise ValueError(
                f"d_model and n_heads must be positive, got d_model={self.d_model}, "
                f"n_heads={self.n_heads}."
            )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; pick "
                f"n_heads among the divisors of d_model (e.g. "
                f"{[h for h in range(1, 17) if self.d_model % h == 0]})."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}.")

    @property
    def d_head(self) -> int:
        """Features per head, ``d_model // n_heads``."""
        return self.d_model // self.n_heads


class KVCache:
    """The keys and values one attention layer has already computed.

    A decoder generating token ``t + 1`` needs the keys and values of tokens ``0..t``;
    they do not change once computed (each depends only on its own token and the tokens
    before it), so keeping them makes each new token cost one projection and one
    ``O(t)`` attention row instead of a pass over all ``t`` tokens.
    :meth:`MultiHeadAttention.forward` extends a self-attention cache *in place* when
    given one. A cross-attention cache holds the projected encoder output instead: filled
    on the first call, reused unchanged on every later one.

    Attributes:
        keys, values: ``(batch, n_heads, seq, d_head)`` tensors, or ``None`` while empty.
    """

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def __len__(self) -> int:
        """How many positions are cached."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def update(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append new ``(batch, n_heads, seq_new, d_head)`` keys and values; return all of them."""
        if self.keys is not None and self.values is not None:
            keys = torch.cat([self.keys, keys], dim=-2)
            values = torch.cat([self.values, values], dim=-2)
        self.keys, self.values = keys, values
        return keys, values

    def select(self, rows: torch.Tensor) -> None:
        """Keep the cached rows ``rows`` ``(new_batch,)``, in that order (beam search
        reorders its hypotheses every step)."""
        if self.keys is not None and self.values is not None:
            self.keys, self.values = self.keys[rows], self.values[rows]

    def __repr__(self) -> str:
        return f"KVCache(length={len(self)})"


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project, split into heads, attend, merge, project.

    Parameters (same layout as ``torch.nn.MultiheadAttention``, so weights can be copied):
    ``in_proj`` is one ``Linear(d_model, 3 * d_model)`` whose rows are the query, key and
    value projections stacked, and ``out_proj`` is ``Linear(d_model, d_model)``. For
    self-attention one matrix product computes all three projections.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.in_proj = nn.Linear(d, 3 * d, bias=config.bias)
        self.out_proj = nn.Linear(d, d, bias=config.bias)
        nn.init.xavier_uniform_(self.in_proj.weight)
        if config.bias:
            nn.init.zeros_(self.in_proj.bias)
            nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            query: ``(batch, seq_q, d_model)``.
            key: ``(batch, seq_k, d_model)``; pass the same tensor as ``query`` for
                self-attention (one fused projection is used then).
            value: ``(batch, seq_k, d_model)``, usually the same tensor as ``key``.
            key_padding_mask: bool ``(batch, seq_k)``, ``True`` at padding keys to ignore.
            attn_mask: bool, ``True`` = may attend, shape ``(seq_q, seq_k)`` or
                ``(batch or 1, n_heads or 1, seq_q, seq_k)``.
            causal: also forbid each query to see later keys (needs as many queries as
                new keys).
            need_weights: return the per-head attention weights (uses the teaching path,
                slower); otherwise the fused kernel runs and ``None`` is returned.
            kv_cache: for self-attention (``query is key is value``), the new keys and
                values are appended to the cache and the queries attend to every cached
                position too: they are the last ``seq_q`` of ``len(kv_cache) + seq_q``
                positions, and ``causal``, ``key_padding_mask`` and ``attn_mask`` refer
                to all of those keys. For cross-attention (``key is value``, another
                tensor) an empty cache is filled with the projected ``key`` and ``value``,
                and a filled one is used instead of projecting them again (so it must
                have been filled from the same tensor).

        Returns:
            ``(output, weights)``: output ``(batch, seq_q, d_model)``; weights
            ``(batch, n_heads, seq_q, seq_k)`` (before dropout) or ``None``. All masks are
            combined (a key must be allowed by every one); a fully masked query's attention
            output is zero, so its row of ``output`` is just ``out_proj``'s bias.
        """
        cfg = self.config
        self._check_inputs(query, key, value)
        self_attention = query is key and key is value
        if kv_cache is not None and not (self_attention or key is value):
            raise ValueError(
                "kv_cache needs self-attention (the same tensor as query, key and value) or "
                "cross-attention to one tensor (the same tensor as key and value)."
            )
        if kv_cache is not None and not self_attention and causal:
            raise ValueError(
                "causal=True is for self-attention; a cross-attention cache cannot be causal."
            )
        if kv_cache is not None and kv_cache.keys is not None and len(kv_cache.keys) != len(query):
            raise ValueError(
                f"the kv_cache holds {len(kv_cache.keys)} rows but the batch has {len(query)}: "
                "start a new KVCache for another batch (or keep some rows with KVCache.select)."
            )
        cached = 0 if kv_cache is None or not self_attention else len(kv_cache)
        seq_q, seq_k = query.shape[1], cached + key.shape[1]
        if causal and seq_q != key.shape[1]:
            raise ValueError(
                f"causal=True needs as many queries as keys, got seq_q={seq_q}, "
                f"seq_k={key.shape[1]}."
            )
        # A causal mask on its own is cheapest inside the fused kernel (is_causal=True).
        # Behind a cache the queries are the *last* positions, which is_causal cannot
        # express; but a single such query may see every key, so it needs no mask at all.
        only_causal = causal and not need_weights and key_padding_mask is None and attn_mask is None
        fused_causal = only_causal and cached == 0
        no_causal_mask_needed = fused_causal or (only_causal and seq_q == 1)
        mask = self._combine_masks(
            key_padding_mask,
            attn_mask,
            causal and not no_causal_mask_needed,
            query.shape,
            seq_k,
            query.device,
        )
        if kv_cache is not None and not self_attention and kv_cache.keys is not None:
            q = split_heads(self._project_query(query), cfg.n_heads)
            assert kv_cache.values is not None  # filled together with the keys
            k, v = kv_cache.keys, kv_cache.values  # the memory's, projected on the first call
        else:
            q, k, v = (split_heads(t, cfg.n_heads) for t in self._project(query, key, value))
            if kv_cache is not None:
                k, v = kv_cache.update(k, v)
        dropout_p = cfg.dropout if self.training else 0.0
        weights = None
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, self.training)
        elif mask is None:
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=dropout_p, is_causal=fused_causal
            )
        else:
            # Let fully masked rows attend everywhere (so no kernel divides by zero), then
            # zero their output: the documented result, the same on every backend.
            has_key = mask.any(dim=-1, keepdim=True)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask | ~has_key, dropout_p=dropout_p
            )
            out = out * has_key
        return self.out_proj(merge_heads(out)), weights

    def _project(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Apply the query/key/value projections, fusing the matrix products that share an input."""
        d = self.config.d_model
        w, b = self.in_proj.weight, self.in_proj.bias
        if query is key and key is value:
            return self.in_proj(query).chunk(3, dim=-1)
        b_kv = None if b is None else b[d:]
        q = self._project_query(query)
        if key is value:
            k, v = F.linear(key, w[d:], b_kv).chunk(2, dim=-1)
            return q, k, v
        b_k, b_v = (None, None) if b is None else (b[d : 2 * d], b[2 * d :])
        return q, F.linear(key, w[d : 2 * d], b_k), F.linear(value, w[2 * d :], b_v)

    def _project_query(self, query: torch.Tensor) -> torch.Tensor:
        d, b = self.config.d_model, self.in_proj.bias
        return F.linear(query, self.in_proj.weight[:d], None if b is None else b[:d])

    def _check_inputs(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        d = self.config.d_model
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"{name} must be a torch.Tensor (batch, seq, d_model={d}), got "
                    f"{type(t).__name__}."
                )
            if t.dim() != 3 or t.shape[-1] != d:
                raise ValueError(
                    f"{name} must have shape (batch, seq, d_model={d}), got {tuple(t.shape)}."
                )
            check_input_dtype(name, t, self.in_proj.weight)
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must share the batch size, got {query.shape[0]}, "
                f"{key.shape[0]} and {value.shape[0]}."
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length, got key {tuple(key.shape)} and "
                f"value {tuple(value.shape)}."
            )

    def _combine_masks(
        self,
        key_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None,
        causal: bool,
        query_shape: torch.Size,
        seq_k: int,
        device: torch.device,
    ) -> torch.Tensor | None:
        """AND together every mask given into one bool attention mask, or ``None`` if none."""
        batch, seq_q = query_shape[0], query_shape[1]
        masks = []
        if key_padding_mask is not None:
            _check_bool_dtype("key_padding_mask", key_padding_mask, "True = padding key")
            if tuple(key_padding_mask.shape) != (batch, seq_k):
                raise ValueError(
                    f"key_padding_mask must have shape (batch, seq_k) = ({batch}, {seq_k}), "
                    f"got {tuple(key_padding_mask.shape)}."
                )
            masks.append(padding_attn_mask(key_padding_mask))
        if attn_mask is not None:
            expected = (
                f"(seq_q, seq_k) = ({seq_q}, {seq_k}) or (batch or 1, n_heads or 1, seq_q, seq_k)"
            )
            _check_bool_dtype("attn_mask", attn_mask, "True = may attend")
            if attn_mask.dim() not in (2, 4):
                raise ValueError(
                    f"attn_mask must be 2-D or 4-D, got shape {tuple(attn_mask.shape)}; "
                    f"expected {expected}."
                )
            target = (batch, self.config.n_heads, seq_q, seq_k)
            _check_attention_mask("attn_mask", attn_mask, target, expected)
            masks.append(attn_mask)
        if causal:  # the queries are the last seq_q positions (earlier ones may be cached)
            masks.append(causal_mask(seq_k, device=device)[seq_k - seq_q :])
        if not masks:
            return None
        combined = masks[0]
        for m in masks[1:]:
            combined = combined & m
        return combined


__all__ = [
    "AttentionConfig",
    "KVCache",
    "MultiHeadAttention",
    "causal_mask",
    "merge_heads",
    "padding_attn_mask",
    "scaled_dot_product_attention",
    "split_heads",
]
