"""Every chapter 5 checker accepts its reference and correct rewrites, and rejects plausible wrong solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as torch_f

from exercise_asserts import assert_rejected_with_hint
from scratchformer.layers import EncoderLayer, TransformerConfig
from scratchformer_course import check, get_task
from scratchformer_course.ch05 import build_module, random_state_dict


def all_inputs(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    task = get_task(name)
    return [task.make_inputs(torch.Generator().manual_seed(t)) for t in range(task.trials)]


def test_build_module_assigns_random_parameters_without_touching_the_global_generator() -> None:
    config = TransformerConfig(d_model=8, n_heads=2, d_ff=16, n_layers=1, dropout=0.0)
    before = torch.get_rng_state()
    layer = build_module(lambda: EncoderLayer(config), torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)
    assert not layer.training
    assert all(p.device.type == "cpu" for p in layer.parameters())
    gains = layer.norm1.weight
    assert not torch.allclose(gains, torch.ones_like(gains))  # not the default gain 1
    with torch.device("meta"):
        template = EncoderLayer(config)
    shapes = {k: v.shape for k, v in random_state_dict(torch.Generator(), template).items()}
    assert shapes == {k: v.shape for k, v in template.state_dict().items()}


# -- the references mean what they say ------------------------------------------------------


def test_layer_norm_reference_matches_torch() -> None:
    reference = get_task("scratchformer.layers.LayerNorm").reference
    for (x, weight, bias), kwargs in all_inputs("scratchformer.layers.LayerNorm"):
        eps = kwargs.get("eps", 1e-5)
        expected = torch_f.layer_norm(x, (x.shape[-1],), weight, bias, eps)
        torch.testing.assert_close(
            reference(x, weight, bias, **kwargs), expected, rtol=1e-4, atol=1e-5
        )


def test_rms_norm_reference_matches_torch() -> None:
    reference = get_task("ch05.rms_norm").reference
    for (x, weight), kwargs in all_inputs("ch05.rms_norm"):
        eps = kwargs.get("eps", 1e-6)
        expected = torch_f.rms_norm(x, (x.shape[-1],), weight, eps)
        torch.testing.assert_close(reference(x, weight, **kwargs), expected, rtol=1e-4, atol=1e-5)


def test_feed_forward_reference_is_the_relu_block() -> None:
    reference = get_task("scratchformer.layers.FeedForward").reference
    for (x, w1, b1, w2, b2), _ in all_inputs("scratchformer.layers.FeedForward"):
        expected = torch_f.linear(torch_f.relu(torch_f.linear(x, w1, b1)), w2, b2)
        torch.testing.assert_close(reference(x, w1, b1, w2, b2), expected)


def test_dropout_reference_is_inverted_dropout() -> None:
    reference = get_task("scratchformer.layers.Dropout").reference
    x = torch.ones(200_000)
    for p in (0.1, 0.5):
        out = reference(x, p, True, torch.Generator().manual_seed(0))
        kept = out != 0
        assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
        assert abs(kept.float().mean().item() - (1 - p)) < 0.01
        assert abs(out.mean().item() - 1.0) < 0.01  # the expectation is preserved
        assert torch.equal(reference(x, p, False, torch.Generator().manual_seed(0)), x)


def test_classic_dropout_reference_keeps_the_expectation_only_on_average() -> None:
    reference = get_task("ch05.classic_dropout").reference
    x, p = torch.full((100_000,), 2.0), 0.3
    keep = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) >= p
    trained = reference(x, keep, p, True)
    assert set(trained.unique().tolist()) == {0.0, 2.0}
    assert abs(trained.mean().item() - reference(x, keep, p, False).mean().item()) < 0.02


def test_encoder_layer_inputs_cover_both_norm_placements_and_padding() -> None:
    inputs = all_inputs("scratchformer.layers.EncoderLayer")
    assert {args[0].config.norm_first for args, _ in inputs} == {False, True}
    padded = [kwargs["key_padding_mask"] for _, kwargs in inputs if "key_padding_mask" in kwargs]
    assert padded and any(mask.any() for mask in padded)


# -- correct rewrites pass, wrong solutions fail --------------------------------------------


def encoder_layer_by_hand(
    layer, x, key_padding_mask=None, *, norm_first=None, attention_first=True, use_mask=True
):
    """The encoder layer's wiring written out; the keywords switch on one mistake each."""
    norm_first = layer.config.norm_first if norm_first is None else norm_first
    mask = key_padding_mask if use_mask else None

    def residual(h, f, norm):
        return h + f(norm(h)) if norm_first else norm(h + f(h))

    def attend(h):
        return layer.self_attn(h, h, h, key_padding_mask=mask)[0]

    steps = [(attend, layer.norm1), (layer.feed_forward, layer.norm2)]
    if not attention_first:
        steps = [(layer.feed_forward, layer.norm1), (attend, layer.norm2)]
    with torch.no_grad():
        for f, norm in steps:
            x = residual(x, f, norm)
    return x


def layer_norm_by_hand(
    x, weight, bias, eps=1e-5, *, dims=(-1,), correction=0, eps_inside=True, affine=True
):
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, correction=correction)
    y = (x - mean) / ((var + eps).sqrt() if eps_inside else var.sqrt() + eps)
    return y * weight + bias if affine else y


def dropout_by_hand(x, p, training, generator, *, scale=True, drop_below=True, in_eval=False):
    if not training:
        return x * (1 - p) if in_eval else x
    u = torch.rand(x.shape, generator=generator)
    keep = u >= p if drop_below else u < 1 - p
    return x * keep / (1 - p) if scale else x * keep


def rms_norm_by_hand(x, weight, eps=1e-6, *, centre=False, eps_inside=True):
    if centre:
        x = x - x.mean(-1, keepdim=True)
    ms = x.pow(2).mean(-1, keepdim=True)
    return x / ((ms + eps).sqrt() if eps_inside else ms.sqrt() + eps) * weight


def test_correct_rewrites_pass() -> None:
    assert check("scratchformer.layers.EncoderLayer", encoder_layer_by_hand, verbose=False)
    assert check("scratchformer.layers.LayerNorm", layer_norm_by_hand, verbose=False)
    assert check("scratchformer.layers.Dropout", dropout_by_hand, verbose=False)
    assert check("ch05.rms_norm", rms_norm_by_hand, verbose=False)
    assert check(
        "scratchformer.layers.FeedForward",
        lambda x, w1, b1, w2, b2: (x @ w1.T + b1).clamp(min=0) @ w2.T + b2,
        verbose=False,
    )
    assert check(
        "ch05.classic_dropout",
        lambda x, keep, p, training: torch.where(keep, x, 0.0) if training else (1 - p) * x,
        verbose=False,
    )


def _with(fn: Callable[..., Any], label: str, **mistake: Any) -> Callable[..., Any]:
    def wrong(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs, **mistake)

    wrong.__name__ = label
    return wrong


def ffn_two_activations(x, w1, b1, w2, b2):
    return torch_f.relu(torch_f.linear(torch_f.relu(torch_f.linear(x, w1, b1)), w2, b2))


def ffn_gelu(x, w1, b1, w2, b2):
    return torch_f.linear(torch_f.gelu(torch_f.linear(x, w1, b1)), w2, b2)


def ffn_without_b2(x, w1, b1, w2, b2):
    return torch_f.linear(torch_f.relu(torch_f.linear(x, w1, b1)), w2)


def inverted_instead_of_classic(x, keep, p, training):
    return x * keep / (1 - p) if training else x


WRONG_SOLUTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("scratchformer.layers.FeedForward", ffn_two_activations),
    ("scratchformer.layers.FeedForward", ffn_gelu),
    ("scratchformer.layers.FeedForward", ffn_without_b2),
    ("scratchformer.layers.LayerNorm", _with(layer_norm_by_hand, "ln_unbiased", correction=1)),
    (
        "scratchformer.layers.LayerNorm",
        _with(layer_norm_by_hand, "ln_over_batch_and_seq", dims=(0, 1)),
    ),
    (
        "scratchformer.layers.LayerNorm",
        _with(layer_norm_by_hand, "ln_eps_outside", eps_inside=False),
    ),
    (
        "scratchformer.layers.LayerNorm",
        _with(layer_norm_by_hand, "ln_no_gain_or_bias", affine=False),
    ),
    ("scratchformer.layers.Dropout", _with(dropout_by_hand, "dropout_not_rescaled", scale=False)),
    (
        "scratchformer.layers.Dropout",
        _with(dropout_by_hand, "dropout_scaled_in_eval", in_eval=True),
    ),
    (
        "scratchformer.layers.Dropout",
        _with(dropout_by_hand, "dropout_other_mask", drop_below=False),
    ),
    (
        "scratchformer.layers.EncoderLayer",
        _with(encoder_layer_by_hand, "always_post_ln", norm_first=False),
    ),
    (
        "scratchformer.layers.EncoderLayer",
        _with(encoder_layer_by_hand, "always_pre_ln", norm_first=True),
    ),
    (
        "scratchformer.layers.EncoderLayer",
        _with(encoder_layer_by_hand, "ffn_first", attention_first=False),
    ),
    (
        "scratchformer.layers.EncoderLayer",
        _with(encoder_layer_by_hand, "mask_ignored", use_mask=False),
    ),
    ("ch05.rms_norm", _with(rms_norm_by_hand, "rms_centred", centre=True)),
    ("ch05.rms_norm", _with(rms_norm_by_hand, "rms_eps_outside", eps_inside=False)),
    ("ch05.classic_dropout", inverted_instead_of_classic),
]


@pytest.mark.parametrize(
    ("name", "wrong"), WRONG_SOLUTIONS, ids=lambda v: getattr(v, "__name__", v)
)
def test_wrong_solution_is_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    assert_rejected_with_hint(name, wrong)
