"""Checks for chapter 5, "The encoder block".

Agreement tasks (the notebook builds these in the open and compares with the package):

* ``scratchformer.layers.FeedForward`` — ``fn(x, w1, b1, w2, b2)``, the ReLU block
  ``relu(x W1 + b1) W2 + b2`` with the given weights in ``nn.Linear``'s layout, the
  transposes: ``w1 = W1^T`` ``(d_ff, d_model)``, ``w2 = W2^T`` ``(d_model, d_ff)``;
* ``scratchformer.layers.LayerNorm`` — ``fn(x, weight, bias, eps=...)``;
* ``scratchformer.layers.Dropout`` — ``fn(x, p, training, generator)``: the package module
  run with the global random state set to ``generator``'s, so both draw the same numbers;
* ``scratchformer.layers.EncoderLayer`` — ``fn(layer, x, key_padding_mask=None)``: a seeded
  layer (post-LN or pre-LN) whose pieces the notebook wires together itself.

Exercise tasks: ``ch05.rms_norm`` (root-mean-square normalisation, LayerNorm without the
centring and the bias) and ``ch05.classic_dropout`` (the original, non-inverted dropout:
no rescaling in training, multiply by ``1 - p`` at evaluation time).

The helpers :func:`randint`, :func:`coin`, :func:`build_module` and
:func:`random_state_dict` are shared with chapter 6's checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from scratchformer.layers import Dropout, EncoderLayer, FeedForward, LayerNorm, TransformerConfig
from scratchformer_course.core import Inputs, Task, random_int, register

M = TypeVar("M", bound=nn.Module)


def coin(generator: torch.Generator, p: float = 0.5) -> bool:
    """``True`` with probability ``p``."""
    return bool(torch.rand((), generator=generator) < p)


def random_state_dict(generator: torch.Generator, module: nn.Module) -> dict[str, torch.Tensor]:
    """Random values, drawn with ``generator``, for every entry of ``module.state_dict()``.

    Only the shapes of ``module`` are used (it may live on the meta device). Matrices get
    ``N(0, 1 / fan_in)`` so activations keep unit scale, 1-D ``weight`` s (normalisation
    gains) ``1 + N(0, 0.3^2)``, and biases ``N(0, 0.3^2)``: all far enough from the
    defaults (gain 1, bias 0) that forgetting a gain or a bias shows.
    """
    state = {}
    for name, tensor in module.state_dict().items():
        noise = torch.randn(tuple(tensor.shape), generator=generator)
        if tensor.dim() >= 2:
            state[name] = noise / tensor.shape[-1] ** 0.5
        elif name.endswith("weight"):
            state[name] = 1.0 + 0.3 * noise
        else:
            state[name] = 0.3 * noise
    return state


def build_module(factory: Callable[[], M], generator: torch.Generator) -> M:
    """``factory()`` with random parameters drawn from ``generator``, in eval mode.

    The module is first built on the meta device, so its own random initialisation never
    runs and the global random state is left alone; then :func:`random_state_dict`'s
    tensors are assigned as its parameters.
    """
    with torch.device("meta"):
        module = factory()
    module.load_state_dict(random_state_dict(generator, module), assign=True)
    return module.eval()


def _tokens(generator: torch.Generator, d_model: int, scale: float = 1.0) -> torch.Tensor:
    """A random ``(batch, seq, d_model)`` batch with 1–3 rows and 1–6 positions."""
    shape = (random_int(generator, 1, 3), random_int(generator, 1, 6), d_model)
    return torch.randn(shape, generator=generator) * scale


# -- agreement tasks ----------------------------------------------------------------------


def feed_forward_reference(
    x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """The package's :class:`FeedForward` (ReLU) with the given weights, ``(batch, seq, d_model)``."""
    d_ff, d_model = w1.shape
    with torch.device("meta"):
        block = FeedForward(d_model, d_ff)
    weights = {"linear1.weight": w1, "linear1.bias": b1, "linear2.weight": w2, "linear2.bias": b2}
    block.load_state_dict(weights, assign=True)
    with torch.no_grad():
        return block.eval()(x)


def _feed_forward_inputs(generator: torch.Generator) -> Inputs:
    d_model, d_ff = random_int(generator, 1, 8), random_int(generator, 1, 16)
    with torch.device("meta"):
        shapes = FeedForward(d_model, d_ff)
    weights = random_state_dict(generator, shapes)
    x = _tokens(generator, d_model)
    names = ("linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias")
    return (x, *(weights[n] for n in names)), {}


def layer_norm_reference(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """The package's :class:`LayerNorm` with gain ``weight`` and ``bias`` ``(d_model,)``."""
    with torch.device("meta"):
        norm = LayerNorm(x.shape[-1], eps)
    norm.load_state_dict({"weight": weight, "bias": bias}, assign=True)
    with torch.no_grad():
        return norm(x)


def _layer_norm_inputs(generator: torch.Generator) -> Inputs:
    d_model = random_int(generator, 2, 16)
    # Large offsets catch a missing centring; tiny scales with a large eps catch eps in
    # the wrong place; several rows and tokens catch statistics over the wrong axis.
    scale = float([0.01, 1.0, 10.0][random_int(generator, 0, 2)])
    x = _tokens(generator, d_model, scale) + torch.randn(d_model, generator=generator) * 5
    weight = 1.0 + 0.5 * torch.randn(d_model, generator=generator)
    bias = torch.randn(d_model, generator=generator)
    kwargs = {"eps": 1e-3} if coin(generator) else {}
    return (x, weight, bias), kwargs


def dropout_reference(
    x: torch.Tensor, p: float, training: bool, generator: torch.Generator
) -> torch.Tensor:
    """The package's :class:`Dropout` when the global random state equals ``generator``'s.

    The module draws ``torch.rand_like(x)``; a notebook function drawing
    ``torch.rand(x.shape, generator=generator)`` sees the same numbers. The global random
    state is restored afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(generator.get_state())
        return Dropout(p).train(training)(x)


def _dropout_inputs(generator: torch.Generator) -> Inputs:
    x = torch.randn(random_int(generator, 1, 4), random_int(generator, 1, 12), generator=generator)
    p = float([0.0, 0.1, 0.5, 0.9][random_int(generator, 0, 3)])
    seeded = torch.Generator().manual_seed(random_int(generator, 0, 10_000))
    return (x, p, coin(generator, 0.75), seeded), {}


def encoder_layer_reference(
    layer: EncoderLayer, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``layer(x, key_padding_mask=...)``'s hidden states ``(batch, seq, d_model)``, without
    gradients."""
    with torch.no_grad():
        return layer(x, key_padding_mask=key_padding_mask)[0]


def random_layer_config(generator: torch.Generator) -> TransformerConfig:
    """A small random one-layer config: 1–3 heads of width 1–4, no dropout, post- or pre-LN."""
    n_heads = random_int(generator, 1, 3)
    return TransformerConfig(
        d_model=n_heads * random_int(generator, 1, 4),
        n_heads=n_heads,
        d_ff=random_int(generator, 1, 12),
        n_layers=1,
        dropout=0.0,
        norm_first=coin(generator),
    )


def _encoder_layer_inputs(generator: torch.Generator) -> Inputs:
    config = random_layer_config(generator)
    layer = build_module(lambda: EncoderLayer(config), generator)
    x = _tokens(generator, config.d_model)
    if not coin(generator, 0.4):
        return (layer, x), {}
    lengths = torch.randint(1, x.shape[1] + 1, (x.shape[0],), generator=generator)
    return (layer, x), {"key_padding_mask": torch.arange(x.shape[1])[None, :] >= lengths[:, None]}


# -- exercise tasks -----------------------------------------------------------------------


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dimension: ``x / sqrt(mean(x^2) + eps) * weight``.

    Like LayerNorm it rescales each token vector, but it neither subtracts the mean nor
    adds a bias (Zhang and Sennrich, 2019; used by T5 and LLaMA). Shapes:
    ``x`` ``(..., d_model)``, ``weight`` ``(d_model,)``; same shape as ``x`` back.
    """
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def _rms_norm_inputs(generator: torch.Generator) -> Inputs:
    d_model = random_int(generator, 2, 16)
    scale = float([0.01, 1.0, 10.0][random_int(generator, 0, 2)])
    x = _tokens(generator, d_model, scale) + torch.randn(d_model, generator=generator) * scale
    weight = 1.0 + 0.5 * torch.randn(d_model, generator=generator)
    return (x, weight), ({"eps": 1e-3} if coin(generator) else {})


def classic_dropout_reference(
    x: torch.Tensor, keep: torch.Tensor, p: float, training: bool
) -> torch.Tensor:
    """Dropout as first published (Srivastava et al., 2014), before the inverted form.

    Training: ``x * keep`` (dropped units are zero, kept units are *not* rescaled).
    Evaluation: ``x * (1 - p)``, so the test-time output matches the training-time
    expectation. ``keep`` is a bool tensor shaped like ``x``; same shape back.
    """
    return x * keep if training else x * (1.0 - p)


def _classic_dropout_inputs(generator: torch.Generator) -> Inputs:
    x = torch.randn(random_int(generator, 1, 4), random_int(generator, 1, 12), generator=generator)
    p = float([0.1, 0.3, 0.5][random_int(generator, 0, 2)])
    keep = torch.rand(x.shape, generator=generator) >= p
    return (x, keep, p, coin(generator)), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.layers.FeedForward",
        reference=feed_forward_reference,
        make_inputs=_feed_forward_inputs,
        hint="compute relu(x @ w1.T + b1) @ w2.T + b2: one activation, between the two "
        "linear maps, and none after the second.",
    ),
    Task(
        name="scratchformer.layers.LayerNorm",
        reference=layer_norm_reference,
        make_inputs=_layer_norm_inputs,
        hint="normalise over the last axis (each token's features) with the biased variance, "
        "eps inside the square root, then multiply by weight and add bias.",
    ),
    Task(
        name="scratchformer.layers.Dropout",
        reference=dropout_reference,
        make_inputs=_dropout_inputs,
        hint="in training keep the elements where torch.rand(x.shape, generator=generator) >= p "
        "and divide them by (1 - p); in evaluation return x unchanged.",
    ),
    Task(
        name="scratchformer.layers.EncoderLayer",
        reference=encoder_layer_reference,
        make_inputs=_encoder_layer_inputs,
        hint="post-LN: x = norm(x + sublayer(x)); pre-LN (layer.config.norm_first): "
        "x = x + sublayer(norm(x)); attention first (with the padding mask), then the "
        "feed-forward block.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch05.rms_norm",
        reference=rms_norm_reference,
        make_inputs=_rms_norm_inputs,
        hint="do not subtract the mean: divide x by sqrt(mean(x**2, last axis) + eps), then "
        "multiply by weight.",
    ),
    Task(
        name="ch05.classic_dropout",
        reference=classic_dropout_reference,
        make_inputs=_classic_dropout_inputs,
        hint="training: x * keep with no 1 / (1 - p); evaluation: every unit is present, so "
        "scale by the keep probability (1 - p).",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
