"""Every chapter 3 checker accepts its reference and correct reader code, and rejects
plausible wrong solutions with its hint."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from exercise_asserts import assert_rejected_with_hint
from scratchformer.attention import merge_heads, scaled_dot_product_attention, split_heads
from scratchformer_course import check, get_task


def _all_inputs(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    task = get_task(name)
    return [task.make_inputs(torch.Generator().manual_seed(trial)) for trial in range(task.trials)]


def test_attention_inputs_include_masks_with_fully_masked_rows() -> None:
    masks = [
        kw["attn_mask"]
        for _, kw in _all_inputs("scratchformer.attention.scaled_dot_product_attention")
        if "attn_mask" in kw
    ]
    assert masks, "some trials must pass a mask"
    assert any(bool((~m.any(dim=-1)).any()) for m in masks), "a fully masked row must be tried"
    assert {m.dim() for m in masks} == {2, 4}


def test_chunked_attention_inputs_would_overflow_a_naive_exp() -> None:
    largest = 0.0
    for (q, k, _), kw in _all_inputs("ch03.chunked_attention"):
        largest = max(
            largest, float((q @ k.transpose(-2, -1)).abs().max()) / math.sqrt(q.shape[-1])
        )
        assert 1 <= kw["chunk_size"] <= k.shape[-2] + 1
    assert largest > 88.8  # exp(88.8) is inf in float32


# -- plausible wrong solutions ------------------------------------------------------------


def attention_without_scaling(q, k, v, attn_mask=None):
    return scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, attn_mask)


def attention_masked_with_minus_inf(q, k, v, attn_mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def attention_divided_by_v(q, k, v, attn_mask=None):
    out, weights = scaled_dot_product_attention(q, k, v, attn_mask)
    return out / v.abs().sum(-2, keepdim=True).clamp_min(1e-3), weights


def causal_mask_upper(seq_len):
    return torch.ones(seq_len, seq_len, dtype=torch.bool).triu()


def causal_mask_strict(seq_len):
    return torch.ones(seq_len, seq_len, dtype=torch.bool).tril(-1)


def padding_attn_mask_not_inverted(key_padding):
    return key_padding[:, None, None, :]


def padding_attn_mask_wrong_axes(key_padding):
    return (~key_padding)[:, None, :, None]


def split_heads_by_reshape(x, n_heads):
    batch, seq, d_model = x.shape
    return x.reshape(batch, n_heads, seq, d_model // n_heads)


def merge_heads_by_reshape(x):
    batch, heads, seq, d_head = x.shape
    return x.reshape(batch, seq, heads * d_head)


def _manual_mha(x, state_dict, n_heads, causal=False, *, out_proj=True, split=split_heads):
    q, k, v = (x @ state_dict["in_proj.weight"].T + state_dict["in_proj.bias"]).chunk(3, dim=-1)
    mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril() if causal else None
    out = merge_heads(
        scaled_dot_product_attention(split(q, n_heads), split(k, n_heads), split(v, n_heads), mask)[
            0
        ]
    )
    if not out_proj:
        return out
    return out @ state_dict["out_proj.weight"].T + state_dict["out_proj.bias"]


def mha_without_output_projection(x, state_dict, n_heads, causal=False):
    return _manual_mha(x, state_dict, n_heads, causal, out_proj=False)


def mha_ignoring_causal(x, state_dict, n_heads, causal=False):
    return _manual_mha(x, state_dict, n_heads, False)


def mha_with_reshaped_heads(x, state_dict, n_heads, causal=False):
    return _manual_mha(x, state_dict, n_heads, causal, split=split_heads_by_reshape)


def sliding_window_off_by_one(seq_len, window):
    offset = torch.arange(seq_len)[:, None] - torch.arange(seq_len)[None, :]
    return (offset >= 0) & (offset <= window)


def sliding_window_not_causal(seq_len, window):
    offset = torch.arange(seq_len)[:, None] - torch.arange(seq_len)[None, :]
    return offset.abs() < window


def chunked_without_rescaling(q, k, v, chunk_size):
    """Softmax inside each chunk, then average: wrong unless there is one chunk."""
    outs = [
        scaled_dot_product_attention(
            q, k[..., s : s + chunk_size, :], v[..., s : s + chunk_size, :]
        )[0]
        for s in range(0, k.shape[-2], chunk_size)
    ]
    return torch.stack(outs).mean(0)


def chunked_without_running_max(q, k, v, chunk_size):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    e = scores.exp()
    return (e @ v) / e.sum(-1, keepdim=True)


WRONG_SOLUTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("scratchformer.attention.scaled_dot_product_attention", attention_without_scaling),
    ("scratchformer.attention.scaled_dot_product_attention", attention_masked_with_minus_inf),
    ("scratchformer.attention.scaled_dot_product_attention", attention_divided_by_v),
    ("scratchformer.attention.causal_mask", causal_mask_upper),
    ("scratchformer.attention.causal_mask", causal_mask_strict),
    ("scratchformer.attention.padding_attn_mask", padding_attn_mask_not_inverted),
    ("scratchformer.attention.padding_attn_mask", padding_attn_mask_wrong_axes),
    ("scratchformer.attention.split_heads", split_heads_by_reshape),
    ("scratchformer.attention.merge_heads", merge_heads_by_reshape),
    ("scratchformer.attention.MultiHeadAttention", mha_without_output_projection),
    ("scratchformer.attention.MultiHeadAttention", mha_ignoring_causal),
    ("scratchformer.attention.MultiHeadAttention", mha_with_reshaped_heads),
    ("ch03.sliding_window_mask", sliding_window_off_by_one),
    ("ch03.sliding_window_mask", sliding_window_not_causal),
    ("ch03.chunked_attention", chunked_without_rescaling),
    ("ch03.chunked_attention", chunked_without_running_max),
]


@pytest.mark.parametrize(
    ("name", "wrong"), WRONG_SOLUTIONS, ids=lambda v: getattr(v, "__name__", v)
)
def test_wrong_solution_is_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    assert_rejected_with_hint(name, wrong)


# -- correct solutions written differently from the references ----------------------------


def test_correct_reader_solutions_pass() -> None:
    def my_mha(x, state_dict, n_heads, causal=False):
        return _manual_mha(x, state_dict, n_heads, causal)

    def my_sliding_window(seq_len, window):
        full = torch.ones(seq_len, seq_len, dtype=torch.bool)
        return full.tril() & ~full.tril(-window)

    def my_chunked(q, k, v, chunk_size):
        scale = 1 / math.sqrt(q.shape[-1])
        running_max = torch.full(q.shape[:-1] + (1,), float("-inf"))
        total = torch.zeros(q.shape[:-1] + (1,))
        acc = torch.zeros(q.shape[:-1] + (v.shape[-1],))
        for start in range(0, k.shape[-2], chunk_size):
            scores = q @ k[..., start : start + chunk_size, :].transpose(-2, -1) * scale
            new_max = torch.maximum(running_max, scores.amax(-1, keepdim=True))
            shrink = (running_max - new_max).exp()
            e = (scores - new_max).exp()
            total = total * shrink + e.sum(-1, keepdim=True)
            acc = acc * shrink + e @ v[..., start : start + chunk_size, :]
            running_max = new_max
        return acc / total

    assert check("scratchformer.attention.MultiHeadAttention", my_mha, verbose=False)
    assert check("ch03.sliding_window_mask", my_sliding_window, verbose=False)
    assert check("ch03.chunked_attention", my_chunked, verbose=False)
