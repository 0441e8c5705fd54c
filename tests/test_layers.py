"""scratchformer.layers against torch.nn's LayerNorm and Transformer layers, plus dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import causal_mask
from scratchformer.functional import standardize
from scratchformer.layers import (
    Decoder,
    DecoderLayer,
    Dropout,
    Encoder,
    EncoderLayer,
    FeedForward,
    LayerNorm,
    TransformerConfig,
)

D_MODEL, N_HEADS, D_FF = 16, 4, 24
TOL = {"rtol": 1e-5, "atol": 1e-5}
# torch.nn names -> ours: fused projection parameters, the cross-attention, the FFN linears.
RENAMES = [
    ("in_proj_weight", "in_proj.weight"),
    ("in_proj_bias", "in_proj.bias"),
    ("multihead_attn", "cross_attn"),
    ("linear1", "feed_forward.linear1"),
    ("linear2", "feed_forward.linear2"),
]


def load_from_torch(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy ``theirs``' weights into ``ours``; every parameter must be matched exactly once."""
    state = {}
    for key, value in theirs.state_dict().items():
        for old, new in RENAMES:
            key = key.replace(old, new)
        state[key] = value.clone()
    ours.load_state_dict(state, strict=True)


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random values everywhere, LayerNorm gains and biases included (gains near 1), float64."""
    torch.manual_seed(seed)
    module.double()
    with torch.no_grad():
        for name, p in module.named_parameters():
            is_gain = "norm" in name and name.endswith("weight")
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if is_gain else 0.0))
    return module


def config(norm_first: bool, activation: str = "relu", n_layers: int = 1) -> TransformerConfig:
    return TransformerConfig(
        d_model=D_MODEL,
        n_heads=N_HEADS,
        d_ff=D_FF,
        n_layers=n_layers,
        dropout=0.0,
        activation=activation,
        norm_first=norm_first,
    )


def torch_layer_kwargs(cfg: TransformerConfig) -> dict:
    return {
        "d_model": cfg.d_model,
        "nhead": cfg.n_heads,
        "dim_feedforward": cfg.d_ff,
        "dropout": 0.0,
        "activation": cfg.activation,
        "norm_first": cfg.norm_first,
        "batch_first": True,
    }


def inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target (3, 5), memory (3, 7) and right-padding masks for both."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, D_MODEL, dtype=torch.float64, generator=gen)
    memory = torch.randn(3, 7, D_MODEL, dtype=torch.float64, generator=gen)
    x_pad = torch.arange(5)[None, :] >= torch.tensor([5, 3, 4])[:, None]
    memory_pad = torch.arange(7)[None, :] >= torch.tensor([7, 2, 5])[:, None]
    return x, memory, x_pad, memory_pad


# -- LayerNorm, Dropout, FeedForward ----------------------------------------------------


def test_layer_norm_matches_torch_forward_and_backward() -> None:
    ours, theirs = LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
    randomise(theirs)
    ours.double().load_state_dict(theirs.state_dict())
    x = torch.randn(4, 3, D_MODEL, dtype=torch.float64) * 5 + 2
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = ours(x1), theirs(x2)
    torch.testing.assert_close(out, expected, **TOL)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, **TOL)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, **TOL)


def test_layer_norm_is_standardize_times_gain_plus_bias() -> None:
    """The fused kernel computes chapter 1's formula, eps inside the root included."""
    norm = randomise(LayerNorm(D_MODEL, eps=1e-3))
    x = torch.randn(4, 3, D_MODEL, dtype=torch.float64) * 0.05 + 2
    expected = standardize(x, dim=-1, eps=1e-3) * norm.weight + norm.bias
    torch.testing.assert_close(norm(x), expected, **TOL)
    assert not torch.allclose(norm(x), standardize(x, eps=1e-5) * norm.weight + norm.bias, **TOL)


def test_layer_norm_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match=r"last dimension of 16, got input \(2, 8\)"):
        LayerNorm(16)(torch.zeros(2, 8))


def test_dropout_is_identity_in_eval_mode() -> None:
    dropout = Dropout(0.5).eval()
    x = torch.randn(100)
    assert dropout(x) is x


def test_dropout_scales_kept_units_and_preserves_the_mean() -> None:
    torch.manual_seed(0)
    p = 0.3
    x = torch.rand(200_000) + 0.5
    y = Dropout(p).train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    assert abs(1 - kept.float().mean().item() - p) < 0.005
    assert abs(y.mean().item() - x.mean().item()) < 0.01 * x.mean().item()


def test_dropout_equals_torchs_fused_dropout_given_the_same_mask(monkeypatch) -> None:
    """The package's GPT-2 uses ``nn.Dropout`` (one fused kernel) where chapter 5 teaches
    this module: same kept units, same scaling, so the two differ only in which random
    numbers they draw."""
    torch.manual_seed(0)
    p = 0.3
    x = torch.rand(400, 500) + 0.5
    fused = nn.Dropout(p).train()(x)
    keep = fused != 0
    assert abs(1 - keep.float().mean().item() - p) < 0.005  # torch drops a share p too
    # Ours keeps a unit where its uniform draw is >= p: hand it draws that keep exactly torch's.
    monkeypatch.setattr(torch, "rand_like", lambda t: keep.to(t.dtype))
    # (torch multiplies by 1 / (1 - p), we divide by 1 - p: the last bit may differ)
    torch.testing.assert_close(Dropout(p).train()(x), fused)


def test_dropout_rejects_bad_probability() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\), got 1.5"):
        Dropout(1.5)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_is_w2_act_w1_x(activation: str) -> None:
    torch.manual_seed(0)
    ff = FeedForward(D_MODEL, D_FF, activation)
    x = torch.randn(2, 3, D_MODEL)
    act = F.relu if activation == "relu" else F.gelu
    hidden = act(x @ ff.linear1.weight.T + ff.linear1.bias)
    torch.testing.assert_close(ff(x), hidden @ ff.linear2.weight.T + ff.linear2.bias)


def test_bad_activation_and_config() -> None:
    with pytest.raises(
        ValueError, match=r"activation must be one of \['gelu', 'gelu_tanh', 'relu'\], got 'tanh'"
    ):
        FeedForward(4, 8, "tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"d_model=16 is not divisible by n_heads=5"):
        TransformerConfig(d_model=16, n_heads=5)
    with pytest.raises(ValueError, match=r"n_layers must be >= 1"):
        TransformerConfig(d_model=16, n_heads=4, n_layers=0)


# -- layers against torch.nn ------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_layer_matches_torch(norm_first: bool, activation: str) -> None:
    cfg = config(norm_first, activation)
    theirs = randomise(nn.TransformerEncoderLayer(**torch_layer_kwargs(cfg))).eval()
    ours = EncoderLayer(cfg).double().eval()
    load_from_torch(ours, theirs)
    x, _, pad, _ = inputs()
    out, weights = ours(x, key_padding_mask=pad)
    assert weights is None
    expected = theirs(x, src_key_padding_mask=pad)
    # torch's eval fast path returns zeros at padded positions; compare real tokens only.
    torch.testing.assert_close(out[~pad], expected[~pad], **TOL)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_layer_gradients_and_causal_option_match_torch(norm_first: bool) -> None:
    cfg = config(norm_first)
    theirs = randomise(nn.TransformerEncoderLayer(**torch_layer_kwargs(cfg)))
    ours = EncoderLayer(cfg).double()
    load_from_torch(ours, theirs)
    x, _, pad, _ = inputs()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, _ = ours(x1, key_padding_mask=pad, causal=True)
    expected = theirs(x2, src_mask=~causal_mask(5), src_key_padding_mask=pad)
    torch.testing.assert_close(out, expected, **TOL)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, **TOL)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=name)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_layer_matches_torch(norm_first: bool) -> None:
    cfg = config(norm_first)
    theirs = randomise(nn.TransformerDecoderLayer(**torch_layer_kwargs(cfg)))
    ours = DecoderLayer(cfg).double()
    load_from_torch(ours, theirs)
    x, memory, x_pad, memory_pad = inputs()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, self_w, cross_w = ours(
        x1, memory, tgt_key_padding_mask=x_pad, memory_key_padding_mask=memory_pad
    )
    assert self_w is None and cross_w is None
    expected = theirs(
        x2,
        memory,
        tgt_mask=~causal_mask(5),
        tgt_key_padding_mask=x_pad,
        memory_key_padding_mask=memory_pad,
        tgt_is_causal=True,
    )
    torch.testing.assert_close(out, expected, **TOL)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, **TOL)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=name)


def test_decoder_layer_weights_are_causal_and_skip_padding() -> None:
    layer = DecoderLayer(config(norm_first=False)).double().eval()
    x, memory, x_pad, memory_pad = inputs()
    out, self_w, cross_w = layer(
        x, memory, tgt_key_padding_mask=x_pad, memory_key_padding_mask=memory_pad, need_weights=True
    )
    torch.testing.assert_close(
        out,
        layer(x, memory, tgt_key_padding_mask=x_pad, memory_key_padding_mask=memory_pad)[0],
        **TOL,
    )
    assert self_w.shape == (3, N_HEADS, 5, 5) and cross_w.shape == (3, N_HEADS, 5, 7)
    assert torch.all(self_w.triu(diagonal=1) == 0)
    assert torch.all(cross_w.masked_select(memory_pad[:, None, None, :].expand_as(cross_w)) == 0)
    torch.testing.assert_close(cross_w.sum(-1), torch.ones(3, N_HEADS, 5, dtype=torch.float64))


# -- stacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_decoder_stacks_match_torch(norm_first: bool) -> None:
    """Two layers each; a pre-LN stack ends with a LayerNorm, a post-LN stack does not."""
    cfg = config(norm_first, n_layers=2)
    kwargs = torch_layer_kwargs(cfg)
    final = (lambda: nn.LayerNorm(D_MODEL)) if norm_first else (lambda: None)
    their_encoder = randomise(
        nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**kwargs), 2, norm=final(), enable_nested_tensor=False
        )
    )
    their_decoder = randomise(
        nn.TransformerDecoder(nn.TransformerDecoderLayer(**kwargs), 2, norm=final()), 1
    )
    encoder, decoder = Encoder(cfg).double(), Decoder(cfg).double()
    assert (encoder.norm is None) == (not norm_first)
    load_from_torch(encoder, their_encoder)
    load_from_torch(decoder, their_decoder)
    x, src, x_pad, src_pad = inputs()
    memory = encoder(src, key_padding_mask=src_pad).hidden
    torch.testing.assert_close(memory, their_encoder(src, src_key_padding_mask=src_pad), **TOL)
    out = decoder(x, memory, tgt_key_padding_mask=x_pad, memory_key_padding_mask=src_pad)
    expected = their_decoder(
        x,
        memory,
        tgt_mask=~causal_mask(5),
        tgt_key_padding_mask=x_pad,
        memory_key_padding_mask=src_pad,
        tgt_is_causal=True,
    )
    torch.testing.assert_close(out.hidden, expected, **TOL)
    assert out.self_weights is None and out.cross_weights is None


def test_stacks_return_one_weight_tensor_per_layer() -> None:
    cfg = config(norm_first=True, n_layers=3)
    encoder, decoder = Encoder(cfg).double().eval(), Decoder(cfg).double().eval()
    x, src, x_pad, src_pad = inputs()
    encoded = encoder(src, key_padding_mask=src_pad, need_weights=True)
    assert len(encoded.self_weights) == 3
    assert all(w.shape == (3, N_HEADS, 7, 7) for w in encoded.self_weights)
    decoded = decoder(
        x,
        encoded.hidden,
        tgt_key_padding_mask=x_pad,
        memory_key_padding_mask=src_pad,
        need_weights=True,
    )
    assert [w.shape for w in decoded.cross_weights] == [(3, N_HEADS, 5, 7)] * 3
    assert [w.shape for w in decoded.self_weights] == [(3, N_HEADS, 5, 5)] * 3
