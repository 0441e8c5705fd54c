"""Checks for chapter 3, "Attention".

Agreement tasks (the notebook builds these in the open and compares with the package):
``scratchformer.attention.scaled_dot_product_attention``, ``.causal_mask``,
``.padding_attn_mask`` (its key-padding-mask form), ``.split_heads``, ``.merge_heads`` and
``.MultiHeadAttention`` (self-attention through a seeded state dict, see
:func:`multi_head_self_attention_reference`).

Exercise tasks: ``ch03.sliding_window_mask`` (a causal mask that also forgets keys more
than ``window - 1`` steps back) and ``ch03.chunked_attention`` (attention computed one
block of keys at a time with a running softmax, never holding the whole score matrix).
"""

from __future__ import annotations

import torch

from scratchformer.attention import (
    AttentionConfig,
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_attn_mask,
    scaled_dot_product_attention,
    split_heads,
)
from scratchformer_course.core import Inputs, Task, random_int, register


def _coin(generator: torch.Generator, p: float = 0.5) -> bool:
    """``True`` with probability ``p``."""
    return bool(torch.rand((), generator=generator) < p)


def _attention_mask(
    generator: torch.Generator, batch: int, heads: int, seq_q: int, seq_k: int
) -> torch.Tensor:
    """A random bool attention mask (``True`` = may attend) in one of the shapes that
    broadcast to ``(batch, heads, seq_q, seq_k)``; sometimes with fully masked rows."""
    shape = [
        (seq_q, seq_k),
        (batch, 1, 1, seq_k),
        (batch, heads, seq_q, seq_k),
    ][random_int(generator, 0, 2)]
    mask = torch.rand(shape, generator=generator) < 0.7
    if _coin(generator, 0.3):  # forbid every key for some query rows
        mask[..., random_int(generator, 0, mask.shape[-2] - 1), :] = False
    return mask


def _attention_inputs(generator: torch.Generator) -> Inputs:
    batch, heads = random_int(generator, 1, 3), random_int(generator, 1, 4)
    seq_q, seq_k = random_int(generator, 1, 7), random_int(generator, 1, 7)
    d_k, d_v = random_int(generator, 1, 16), random_int(generator, 1, 8)
    q = torch.randn(batch, heads, seq_q, d_k, generator=generator)
    k = torch.randn(batch, heads, seq_k, d_k, generator=generator)
    v = torch.randn(batch, heads, seq_k, d_v, generator=generator)
    if _coin(generator, 0.6):
        return (q, k, v), {"attn_mask": _attention_mask(generator, batch, heads, seq_q, seq_k)}
    return (q, k, v), {}


def _causal_mask_inputs(generator: torch.Generator) -> Inputs:
    return (random_int(generator, 1, 12),), {}


def _key_padding_inputs(generator: torch.Generator) -> Inputs:
    batch, seq_k = random_int(generator, 1, 4), random_int(generator, 1, 9)
    lengths = torch.randint(0, seq_k + 1, (batch,), generator=generator)
    key_padding = torch.arange(seq_k)[None, :] >= lengths[:, None]
    return (key_padding,), {}


def _split_heads_inputs(generator: torch.Generator) -> Inputs:
    n_heads, d_head = random_int(generator, 1, 4), random_int(generator, 1, 5)
    x = torch.randn(
        random_int(generator, 1, 3),
        random_int(generator, 1, 6),
        n_heads * d_head,
        generator=generator,
    )
    return (x, n_heads), {}


def _merge_heads_inputs(generator: torch.Generator) -> Inputs:
    shape = (
        random_int(generator, 1, 3),
        random_int(generator, 1, 4),
        random_int(generator, 1, 6),
        random_int(generator, 1, 5),
    )
    return (torch.randn(shape, generator=generator),), {}


def multi_head_self_attention_reference(
    x: torch.Tensor, state_dict: dict[str, torch.Tensor], n_heads: int, causal: bool = False
) -> torch.Tensor:
    """Self-attention output ``(batch, seq, d_model)`` of the package's :class:`MultiHeadAttention`.

    Builds the module for ``d_model = x.shape[-1]`` and ``n_heads``, loads ``state_dict``
    (keys ``in_proj.weight`` ``(3 d_model, d_model)``, ``in_proj.bias``, ``out_proj.weight``,
    ``out_proj.bias``) and runs it in eval mode, so a notebook's function of the same
    arguments can be compared with the module.
    """
    with torch.device("meta"):  # no random initialisation: the global RNG is left alone
        module = MultiHeadAttention(AttentionConfig(x.shape[-1], n_heads))
    module.load_state_dict(state_dict, assign=True)
    module.eval()
    with torch.no_grad():
        return module(x, x, x, causal=causal)[0]


def _multi_head_inputs(generator: torch.Generator) -> Inputs:
    n_heads, d_head = random_int(generator, 1, 4), random_int(generator, 1, 6)
    d_model = n_heads * d_head
    scale = d_model**-0.5
    state_dict = {
        "in_proj.weight": torch.randn(3 * d_model, d_model, generator=generator) * scale,
        "in_proj.bias": torch.randn(3 * d_model, generator=generator) * 0.1,
        "out_proj.weight": torch.randn(d_model, d_model, generator=generator) * scale,
        "out_proj.bias": torch.randn(d_model, generator=generator) * 0.1,
    }
    x = torch.randn(
        random_int(generator, 1, 3), random_int(generator, 1, 7), d_model, generator=generator
    )
    return (x, state_dict, n_heads), {"causal": _coin(generator)}


def sliding_window_mask_reference(seq_len: int, window: int) -> torch.Tensor:
    """Bool ``(seq_len, seq_len)`` mask: query ``i`` may see key ``j`` iff ``0 <= i - j < window``.

    A causal mask that also forgets the distant past, as in local (sliding-window)
    attention; ``window >= seq_len`` gives the plain causal mask.
    """
    offset = torch.arange(seq_len)[:, None] - torch.arange(seq_len)[None, :]
    return (offset >= 0) & (offset < window)


def _sliding_window_inputs(generator: torch.Generator) -> Inputs:
    seq_len = random_int(generator, 1, 12)
    return (seq_len, random_int(generator, 1, seq_len + 2)), {}


def chunked_attention_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d_k)) v``, shape ``(batch, heads, seq_q, d_v)``.

    The exercise computes it one block of ``chunk_size`` keys at a time; the answer does
    not depend on ``chunk_size``, so the reference ignores it.
    """
    del chunk_size
    return scaled_dot_product_attention(q, k, v)[0]


def _chunked_attention_inputs(generator: torch.Generator) -> Inputs:
    batch, heads = random_int(generator, 1, 2), random_int(generator, 1, 3)
    seq_q, seq_k, d_k, d_v = (random_int(generator, 1, n) for n in (6, 12, 16, 8))
    # Scale 10 makes some scores exceed 88, where exp overflows float32 without a running max.
    scale = [1.0, 10.0][random_int(generator, 0, 1)]
    q = torch.randn(batch, heads, seq_q, d_k, generator=generator) * scale
    k = torch.randn(batch, heads, seq_k, d_k, generator=generator) * scale
    v = torch.randn(batch, heads, seq_k, d_v, generator=generator)
    return (q, k, v), {"chunk_size": random_int(generator, 1, seq_k + 1)}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.attention.scaled_dot_product_attention",
        reference=scaled_dot_product_attention,
        make_inputs=_attention_inputs,
        hint="return (weights @ v, weights) with weights = softmax(q @ k^T / sqrt(d_k)); fill "
        "forbidden scores (mask False) with a large negative number, not -inf, and set their "
        "weights to exactly 0 after the softmax so a fully masked row gives zeros.",
    ),
    Task(
        name="scratchformer.attention.causal_mask",
        reference=causal_mask,
        make_inputs=_causal_mask_inputs,
        hint="query i may see key j exactly when j <= i: compare a column of positions with a "
        "row of positions (a lower triangle, diagonal included), as a bool tensor.",
    ),
    Task(
        name="scratchformer.attention.padding_attn_mask",
        reference=padding_attn_mask,
        make_inputs=_key_padding_inputs,
        hint="the key padding mask is True at padding, the attention mask is True where one may "
        "attend: invert it and add two axes to get (batch, 1, 1, seq_k).",
    ),
    Task(
        name="scratchformer.attention.split_heads",
        reference=split_heads,
        make_inputs=_split_heads_inputs,
        hint="reshape (batch, seq, d_model) to (batch, seq, n_heads, d_head) and then swap the "
        "seq and head axes; a plain reshape to (batch, n_heads, seq, d_head) mixes tokens.",
    ),
    Task(
        name="scratchformer.attention.merge_heads",
        reference=merge_heads,
        make_inputs=_merge_heads_inputs,
        hint="swap the head and seq axes back to (batch, seq, n_heads, d_head), then flatten "
        "the last two axes.",
    ),
    Task(
        name="scratchformer.attention.MultiHeadAttention",
        reference=multi_head_self_attention_reference,
        make_inputs=_multi_head_inputs,
        hint="project with in_proj (rows: query, then key, then value), split into heads, "
        "attend (causal if asked), merge the heads and apply out_proj; keep both biases.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch03.sliding_window_mask",
        reference=sliding_window_mask_reference,
        make_inputs=_sliding_window_inputs,
        hint="with offset = i - j (query minus key position), allow exactly "
        "0 <= offset < window: the diagonal counts as one of the window's keys.",
    ),
    Task(
        name="ch03.chunked_attention",
        reference=chunked_attention_reference,
        make_inputs=_chunked_attention_inputs,
        hint="keep a running maximum m, a running sum of exp(score - m) and a running weighted "
        "sum of values; when m grows, multiply the old sum and accumulator by exp(m_old - m_new).",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
