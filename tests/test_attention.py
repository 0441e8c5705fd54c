"""scratchformer.attention against PyTorch's reference implementations, plus masks and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import (
    AttentionConfig,
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_attn_mask,
    scaled_dot_product_attention,
    split_heads,
)

BATCH, SEQ_Q, SEQ_K, D_MODEL, N_HEADS = 3, 5, 7, 12, 3
TOL = {"rtol": 1e-5, "atol": 1e-5}


def twin_modules(bias: bool = True) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    """Our module and torch's, float64, holding the same random weights."""
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(D_MODEL, N_HEADS, bias=bias, batch_first=True).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)  # non-zero biases, so a dropped bias would show
    ours = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS, bias=bias)).double()
    state = {"in_proj.weight": theirs.in_proj_weight, "out_proj.weight": theirs.out_proj.weight}
    if bias:
        state |= {"in_proj.bias": theirs.in_proj_bias, "out_proj.bias": theirs.out_proj.bias}
    ours.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    return ours, theirs


def key_padding(batch: int, seq: int, lengths: list[int]) -> torch.Tensor:
    """Right padding: ``True`` at positions ``>= length`` (every row keeps >= 1 key)."""
    return torch.arange(seq)[None, :] >= torch.tensor(lengths)[:, None]


def run_both(kind: str, masks: str, need_weights: bool):
    """Forward + backward through both modules; return outputs, weights and all gradients."""
    ours, theirs = twin_modules()
    gen = torch.Generator().manual_seed(1)
    seq_k = SEQ_Q if (kind == "self" or "causal" in masks) else SEQ_K
    query = torch.randn(BATCH, SEQ_Q, D_MODEL, dtype=torch.float64, generator=gen)
    memory = torch.randn(BATCH, seq_k, D_MODEL, dtype=torch.float64, generator=gen)
    kpm = key_padding(BATCH, seq_k, [seq_k, 2, 4]) if "padding" in masks else None
    causal = "causal" in masks
    results = []
    for module in (ours, theirs):
        q = query.clone().requires_grad_()
        kv = q if kind == "self" else memory.clone().requires_grad_()
        if module is ours:
            out, weights = module(
                q, kv, kv, key_padding_mask=kpm, causal=causal, need_weights=need_weights
            )
        else:
            torch_mask = ~causal_mask(SEQ_Q) if causal else None  # torch: True = forbidden
            out, weights = module(
                q,
                kv,
                kv,
                key_padding_mask=kpm,
                attn_mask=torch_mask,
                need_weights=need_weights,
                average_attn_weights=False,
            )
        (out * torch.linspace(-1, 1, D_MODEL, dtype=torch.float64)).sum().backward()
        grads = [q.grad] + ([] if kind == "self" else [kv.grad])
        grads += [p.grad for p in module.parameters()]
        results.append((out, weights, grads))
    return results


@pytest.mark.parametrize("need_weights", [False, True], ids=["fused", "weights"])
@pytest.mark.parametrize("masks", ["none", "padding", "causal", "padding+causal"])
@pytest.mark.parametrize("kind", ["self", "cross"])
def test_multi_head_attention_matches_torch(kind: str, masks: str, need_weights: bool) -> None:
    (out, weights, grads), (t_out, t_weights, t_grads) = run_both(kind, masks, need_weights)
    torch.testing.assert_close(out, t_out, **TOL)
    if need_weights:
        torch.testing.assert_close(weights, t_weights, **TOL)
    else:
        assert weights is None
    assert len(grads) == len(t_grads)
    for g, t_g in zip(grads, t_grads):
        torch.testing.assert_close(g, t_g, **TOL)


def test_multi_head_attention_without_bias_matches_torch() -> None:
    ours, theirs = twin_modules(bias=False)
    x = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    torch.testing.assert_close(ours(x, x, x)[0], theirs(x, x, x, need_weights=False)[0], **TOL)


def test_separate_key_and_value_inputs_match_torch() -> None:
    ours, theirs = twin_modules()
    q, k, v = (torch.randn(2, n, D_MODEL, dtype=torch.float64) for n in (3, 6, 6))
    torch.testing.assert_close(ours(q, k, v)[0], theirs(q, k, v, need_weights=False)[0], **TOL)


def test_attn_mask_4d_per_head_matches_explicit_call() -> None:
    ours, _ = twin_modules()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, D_MODEL, dtype=torch.float64, generator=gen)
    mask = torch.rand(2, N_HEADS, 4, 4, generator=gen) > 0.4
    mask[..., 0] = True  # at least one key per row
    fused, _ = ours(x, x, x, attn_mask=mask)
    explicit, weights = ours(x, x, x, attn_mask=mask, need_weights=True)
    torch.testing.assert_close(fused, explicit, **TOL)
    assert torch.all(weights[~mask] == 0)


def random_qkv(gen: torch.Generator, seq_q: int = 5, seq_k: int = 6) -> tuple[torch.Tensor, ...]:
    shapes = [(2, 3, seq_q, 8), (2, 3, seq_k, 8), (2, 3, seq_k, 4)]
    return tuple(torch.randn(*s, dtype=torch.float64, generator=gen) for s in shapes)


def test_scaled_dot_product_matches_torch_unmasked() -> None:
    q, k, v = random_qkv(torch.Generator().manual_seed(0))
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))


def test_scaled_dot_product_matches_torch_with_random_mask() -> None:
    gen = torch.Generator().manual_seed(1)
    q, k, v = random_qkv(gen)
    mask = torch.rand(2, 1, 5, 6, generator=gen) > 0.5
    mask[..., 2] = True
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


def test_scaled_dot_product_causal_matches_torch_is_causal() -> None:
    q, k, v = random_qkv(torch.Generator().manual_seed(2), seq_q=6)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)
    assert torch.all(weights.triu(diagonal=1) == 0)


def test_fully_masked_row_gives_zeros_and_finite_gradients() -> None:
    q, k, v = (t.requires_grad_() for t in random_qkv(torch.Generator().manual_seed(3)))
    mask = torch.ones(5, 6, dtype=torch.bool)
    mask[1] = False
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(out[:, :, 1] == 0) and torch.all(weights[:, :, 1] == 0)
    assert torch.isfinite(out).all()
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert torch.all(q.grad[:, :, 1] == 0)


@pytest.mark.parametrize("need_weights", [False, True], ids=["fused", "weights"])
def test_module_fully_masked_sequence_outputs_bias_without_nan(need_weights: bool) -> None:
    ours, _ = twin_modules()
    q = torch.randn(2, 3, D_MODEL, dtype=torch.float64, requires_grad=True)
    memory = torch.randn(2, 4, D_MODEL, dtype=torch.float64, requires_grad=True)
    kpm = torch.zeros(2, 4, dtype=torch.bool)
    kpm[1] = True  # the second example is all padding
    out, _ = ours(q, memory, memory, key_padding_mask=kpm, need_weights=need_weights)
    torch.testing.assert_close(out[1], ours.out_proj.bias.expand(3, D_MODEL), **TOL)
    out.sum().backward()
    for t in [q, memory, *ours.parameters()]:
        assert torch.isfinite(t.grad).all()


def test_causal_mask_is_lower_triangular() -> None:
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(3), expected)


def test_padding_attn_mask_from_lengths_and_from_key_padding_agree() -> None:
    lengths = torch.tensor([3, 1, 4])
    kpm = key_padding(3, 4, [3, 1, 4])
    from_lengths = padding_attn_mask(lengths)
    assert from_lengths.shape == (3, 1, 1, 4)
    assert torch.equal(from_lengths, padding_attn_mask(kpm))
    assert torch.equal(padding_attn_mask(lengths, max_len=6)[..., :4], from_lengths)
    assert padding_attn_mask(lengths, max_len=6)[..., 4:].sum() == 0
    assert from_lengths[1, 0, 0].tolist() == [True, False, False, False]


def test_split_and_merge_heads_round_trip_and_layout() -> None:
    x = torch.arange(2 * 3 * 6.0).reshape(2, 3, 6)
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 3)
    assert torch.equal(heads[0, 1, 2], x[0, 2, 3:])  # head 1 sees features 3..5
    assert torch.equal(merge_heads(heads), x)


def test_self_attention_is_permutation_equivariant_without_positions() -> None:
    ours, _ = twin_modules()
    x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, _ = ours(x, x, x)
    shuffled = x[:, perm]
    out_shuffled, _ = ours(shuffled, shuffled, shuffled)
    torch.testing.assert_close(out_shuffled, out[:, perm], **TOL)


def test_attention_dropout_is_active_only_in_training() -> None:
    module = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS, dropout=0.5))
    x = torch.randn(2, 6, D_MODEL)
    module.eval()
    for need_weights in (False, True):
        first, _ = module(x, x, x, need_weights=need_weights)
        torch.testing.assert_close(first, module(x, x, x)[0])
    module.train()
    torch.manual_seed(0)
    assert not torch.allclose(module(x, x, x)[0], module(x, x, x)[0])


# -- bad input --------------------------------------------------------------------------


def test_d_model_not_divisible_by_heads() -> None:
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by n_heads=3"):
        AttentionConfig(10, 3)


def test_bad_dropout() -> None:
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.0"):
        AttentionConfig(8, 2, dropout=1.0)


def test_mask_must_be_bool() -> None:
    q, k, v = random_qkv(torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match=r"mask must be a bool tensor .* got torch.float32"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 6))
    module = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS))
    x = torch.randn(2, 4, D_MODEL)
    with pytest.raises(TypeError, match=r"key_padding_mask must be a bool tensor .*torch.int64"):
        module(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match=r"attn_mask must be a bool tensor"):
        module(x, x, x, attn_mask=torch.zeros(4, 4))


def test_mask_of_wrong_shape_names_both_shapes() -> None:
    q, k, v = random_qkv(torch.Generator().manual_seed(0))
    with pytest.raises(
        ValueError, match=r"shape \(5, 5\), which does not broadcast to \(2, 3, 5, 6\)"
    ):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 5, dtype=torch.bool))
    module = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS))
    x = torch.randn(2, 4, D_MODEL)
    with pytest.raises(
        ValueError,
        match=r"key_padding_mask must have shape \(batch, seq_k\) = \(2, 4\), got \(2, 5\)",
    ):
        module(x, x, x, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(
        ValueError, match=r"attn_mask has shape \(3, 3\).*\(seq_q, seq_k\) = \(4, 4\)"
    ):
        module(x, x, x, attn_mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask must be 2-D or 4-D, got shape \(2, 4, 4\)"):
        module(x, x, x, attn_mask=torch.ones(2, 4, 4, dtype=torch.bool))


def test_mismatched_inputs_name_the_shapes() -> None:
    module = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS))
    x = torch.randn(2, 4, D_MODEL)
    with pytest.raises(
        ValueError, match=r"query must have shape \(batch, seq, d_model=12\), got \(2, 4, 8\)"
    ):
        module(torch.randn(2, 4, 8), x, x)
    with pytest.raises(ValueError, match=r"share the batch size, got 2, 3 and 3"):
        y = torch.randn(3, 4, D_MODEL)
        module(x, y, y)
    with pytest.raises(ValueError, match=r"key and value must have the same length"):
        module(x, x, torch.randn(2, 5, D_MODEL))
    with pytest.raises(
        ValueError, match=r"causal=True needs as many queries as keys, got seq_q=4, seq_k=5"
    ):
        y = torch.randn(2, 5, D_MODEL)
        module(x, y, y, causal=True)
    q, k, v = random_qkv(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"share their last dimension d_k"):
        scaled_dot_product_attention(q, k[..., :4], v)


def test_padding_attn_mask_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match=r"bool key padding mask .* or integer lengths"):
        padding_attn_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, max_len=3\]"):
        padding_attn_mask(torch.tensor([1, 5]), max_len=3)
    with pytest.raises(ValueError, match=r"\(batch, seq_k\), got \(4,\)"):
        padding_attn_mask(torch.zeros(4, dtype=torch.bool))


def test_inputs_of_another_dtype_or_type_are_clear_errors() -> None:
    module = MultiHeadAttention(AttentionConfig(D_MODEL, N_HEADS))  # float32 weights
    x = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"query is torch.float64 but the module's weights are "):
        module(x, x, x)
    with pytest.raises(TypeError, match=r"query must be a torch.Tensor .* got list"):
        module(x.tolist(), x, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision: dtypes differ by design
        out, _ = module(x.float().bfloat16(), x.float().bfloat16(), x.float().bfloat16())
    assert out.shape == x.shape
