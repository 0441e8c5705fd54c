"""Checks for chapter 10, "GPT-2".

Agreement tasks (the notebook builds each piece in the open and compares with the package):

* ``scratchformer.models.gpt2.CausalSelfAttention``, ``...MLP``, ``...Block`` and
  ``...GPT2`` — ``fn(config, state, x)``: the notebook's class built from ``config``
  (a :class:`~scratchformer.models.gpt2.GPT2Config`), loaded strictly with ``state`` (a
  random state dict with the package's names and shapes), run in eval mode on ``x``
  (``(batch, seq, d_model)`` vectors, or ``(batch, seq)`` ids for the model, whose output
  is ``(logits, past)`` with ``past`` ``None``);
* ``scratchformer.models.gpt2.GPT2.num_parameters`` — ``fn(config)``: the parameter
  count, which the notebook computes with a formula and the reference by building;
* ``scratchformer.generate.top_k_filter`` — ``fn(logits, k)``;
* ``scratchformer.generate.next_token`` — ``fn(logits, *, do_sample, temperature, top_k,
  top_p, generator)``: one generation step on ``(batch, vocab)`` logits (keywords absent
  when greedy), drawing from the seeded ``generator`` as the package does;
* ``scratchformer.generate.generate`` — ``fn(model, prompt, *, max_new_tokens, ...,
  generator)``: the notebook's sampling loop (without or with its KV cache) on a random
  small package GPT-2 and a ``(batch, seq)`` prompt, the same keywords as ``next_token``.

Exercise tasks: ``ch10.top_p_filter`` (nucleus filtering) and ``ch10.block_forward`` (a
GPT-2 block's forward pass written with tensor operations from the block's weights:
``fn(block, x, n_heads)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from scratchformer.generate import (
    GenerationConfig,
    generate,
    next_token,
    top_k_filter,
    top_p_filter,
)
from scratchformer.models.gpt2 import GPT2, MLP, Block, CausalSelfAttention, GPT2Config
from scratchformer_course.ch05 import build_module, coin, random_state_dict
from scratchformer_course.core import Inputs, Task, random_int, register


def count_parameters_by_building(config: GPT2Config) -> int:
    """The parameter count of a GPT-2 with ``config``: build it and count (tied matrix once).

    The model is built on the ``meta`` device: shapes only, no memory, no random numbers.
    """
    with torch.device("meta"):
        return GPT2(config).num_parameters()


def random_config(generator: torch.Generator, max_len: int = 64) -> GPT2Config:
    """A small random GPT-2 config: 1–3 heads of width 1–4, 1–2 blocks, no dropout, the
    MLP's width ``4 * d_model`` or a random one."""
    n_heads = random_int(generator, 1, 3)
    return GPT2Config(
        vocab_size=random_int(generator, 2, 40),
        max_len=max_len,
        d_model=n_heads * random_int(generator, 1, 4),
        n_layers=random_int(generator, 1, 2),
        n_heads=n_heads,
        d_ff=random_int(generator, 1, 12) if coin(generator) else None,
        dropout=0.0,
    )


def _config_inputs(generator: torch.Generator) -> Inputs:
    config = dataclasses.replace(
        random_config(generator),
        vocab_size=random_int(generator, 2, 300),
        max_len=random_int(generator, 1, 64),
    )
    return (config,), {}


# -- the modules, run with given weights ---------------------------------------------------


def run_with_weights(factory: Callable[[GPT2Config], nn.Module]) -> Callable[..., Any]:
    """The reference of a module task: the package's module built from ``config`` (on the
    meta device, so its own initialisation draws nothing), given ``state``, run in eval mode
    without gradients on ``inputs``."""

    def run(config: GPT2Config, state: dict[str, torch.Tensor], *inputs: torch.Tensor) -> Any:
        with torch.device("meta"):
            module = factory(config)
        module.load_state_dict(state, assign=True)
        with torch.no_grad():
            return module.eval()(*inputs)

    return run


def module_inputs(
    factory: Callable[[GPT2Config], nn.Module], ids: bool = False
) -> Callable[..., Inputs]:
    """``make_inputs`` for a module task: a random config, random weights with the package
    module's names and shapes, and a ``(batch, seq, d_model)`` batch (``(batch, seq)`` ids
    when ``ids``) of 1–3 rows and 1–6 positions."""

    def make_inputs(generator: torch.Generator) -> Inputs:
        config = random_config(generator)
        with torch.device("meta"):
            shapes = factory(config)
        state = random_state_dict(generator, shapes)
        batch, seq = random_int(generator, 1, 3), random_int(generator, 1, 6)
        if ids:
            x = torch.randint(config.vocab_size, (batch, seq), generator=generator)
        else:
            x = torch.randn(batch, seq, config.d_model, generator=generator)
        return (config, state, x), {}

    return make_inputs


# -- generation ----------------------------------------------------------------------------


def _sampling(generator: torch.Generator, vocab: int) -> dict[str, Any]:
    """Keywords of one generation strategy: greedy (none), or sampling with a temperature,
    top-k and/or top-p, and a seeded generator to draw from."""
    if coin(generator, 0.25):
        return {}
    kwargs: dict[str, Any] = {"do_sample": True}
    if coin(generator):
        kwargs["temperature"] = [0.5, 0.8, 1.5][random_int(generator, 0, 2)]
    if coin(generator):
        kwargs["top_k"] = random_int(generator, 1, vocab + 1)
    if coin(generator):
        kwargs["top_p"] = [0.5, 0.9, 1.0][random_int(generator, 0, 2)]
    kwargs["generator"] = torch.Generator().manual_seed(random_int(generator, 0, 10_000))
    return kwargs


def next_token_reference(logits: torch.Tensor, **sampling: Any) -> torch.Tensor:
    """The package's :func:`~scratchformer.generate.next_token` with the strategy given as
    keywords (``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``generator``)."""
    generator = sampling.pop("generator", None)
    return next_token(logits, GenerationConfig(**sampling), generator)


def _next_token_inputs(generator: torch.Generator) -> Inputs:
    # Many rows, each one draw: a wrong distribution rarely survives them all.
    rows, vocab = random_int(generator, 8, 32), random_int(generator, 2, 12)
    logits = torch.randn(rows, vocab, generator=generator) * 2
    return (logits,), _sampling(generator, vocab)


def generate_reference(
    model: GPT2, prompt: torch.Tensor, *, max_new_tokens: int, **sampling: Any
) -> torch.Tensor:
    """The package's :func:`~scratchformer.generate.generate` (with its KV cache): ``prompt``
    ``(batch, seq)`` and ``max_new_tokens`` new tokens, ``(batch, seq + max_new_tokens)``."""
    generator = sampling.pop("generator", None)
    return generate(model, prompt, GenerationConfig(max_new_tokens, **sampling), generator)


def _generate_inputs(generator: torch.Generator) -> Inputs:
    config = random_config(generator, max_len=16)
    model = build_module(lambda: GPT2(config), generator)
    prompt_length = random_int(generator, 1, 4)
    prompt = torch.randint(
        config.vocab_size, (random_int(generator, 1, 2), prompt_length), generator=generator
    )
    kwargs = {
        "max_new_tokens": random_int(generator, 1, 8),
        **_sampling(generator, config.vocab_size),
    }
    return (model, prompt), kwargs


# -- exercises -----------------------------------------------------------------------------


def _top_k_inputs(generator: torch.Generator) -> Inputs:
    logits = _logits(generator)
    return (logits, random_int(generator, 1, logits.shape[-1] + 2)), {}


def _logits(generator: torch.Generator) -> torch.Tensor:
    """Random logits ``(rows, vocab)``, half the time with many ties (rounded to integers)."""
    shape = (random_int(generator, 1, 4), random_int(generator, 2, 12))
    logits = torch.randn(shape, generator=generator) * 2
    return logits.round() if random_int(generator, 0, 1) else logits


def _top_p_inputs(generator: torch.Generator) -> Inputs:
    p = [1.0, 0.5, 0.9, round(float(torch.rand(1, generator=generator)) * 0.98 + 0.01, 3)]
    return (_logits(generator), p[random_int(generator, 0, 3)]), {}


def block_forward_reference(block: Block, x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The package's GPT-2 ``block`` (eval mode) on ``x`` ``(batch, seq, d_model)``, without
    gradients. ``n_heads`` is what a hand-written forward needs to split the heads."""
    with torch.no_grad():
        return block(x)


def _block_inputs(generator: torch.Generator) -> Inputs:
    config = random_config(generator)
    block = build_module(lambda: Block(config), generator)
    # At least two positions, so that a missing causal mask always shows.
    shape = (random_int(generator, 1, 3), random_int(generator, 2, 6), config.d_model)
    x = torch.randn(shape, generator=generator) + torch.randn(config.d_model, generator=generator)
    return (block, x, config.n_heads), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.models.gpt2.CausalSelfAttention",
        reference=run_with_weights(CausalSelfAttention),
        make_inputs=module_inputs(CausalSelfAttention),
        hint="split c_attn(x) into queries, keys and values of width d_model, each into "
        "n_heads heads (batch, n_heads, seq, d_head); attend with a lower-triangular mask; "
        "put the heads side by side again and apply c_proj.",
    ),
    Task(
        name="scratchformer.models.gpt2.MLP",
        reference=run_with_weights(MLP),
        make_inputs=module_inputs(MLP),
        hint="c_proj(gelu_tanh(c_fc(x))), with c_fc of width d_ff (4 * d_model when d_ff is None).",
    ),
    Task(
        name="scratchformer.models.gpt2.Block",
        reference=run_with_weights(Block),
        make_inputs=module_inputs(Block),
        hint="pre-LN: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)); the LayerNorms use "
        "config.eps.",
    ),
    Task(
        name="scratchformer.models.gpt2.GPT2",
        reference=run_with_weights(GPT2),
        make_inputs=module_inputs(GPT2, ids=True),
        hint="embed tokens (wte) plus positions 0..seq-1 (wpe), run every block of h, apply "
        "ln_f, then multiply by wte.weight transposed (tied); return (logits, None).",
    ),
    Task(
        name="scratchformer.models.gpt2.GPT2.num_parameters",
        reference=count_parameters_by_building,
        make_inputs=_config_inputs,
        trials=10,
        hint="count the tied token embedding once, the position table, and per block: two "
        "LayerNorms (gain and bias), the qkv and output projections with biases, and the "
        "MLP's two layers (width d_ff, 4 * d_model when None) with biases; then the final "
        "LayerNorm.",
    ),
    Task(
        name="scratchformer.generate.top_k_filter",
        reference=top_k_filter,
        make_inputs=_top_k_inputs,
        hint="keep every logit >= the k-th largest of its row (k may exceed the vocabulary); "
        "set the rest to -inf.",
    ),
    Task(
        name="scratchformer.generate.next_token",
        reference=next_token_reference,
        make_inputs=_next_token_inputs,
        hint="greedy: argmax. Sampling: divide the float logits by the temperature, apply top-k "
        "then top-p, softmax, and one torch.multinomial(probs, 1, generator=generator) draw "
        "per row.",
    ),
    Task(
        name="scratchformer.generate.generate",
        reference=generate_reference,
        make_inputs=_generate_inputs,
        hint="each step chooses a token from the logits of the last position only and appends "
        "it; with a cache, feed only the new token, and its position continues after the "
        "cached ones.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch10.top_p_filter",
        reference=top_p_filter,
        make_inputs=_top_p_inputs,
        hint="sort the probabilities in descending order and keep a token while the mass of "
        "the tokens *before* it is still below p (so the most likely token is always kept); "
        "p = 1 keeps everything.",
    ),
    Task(
        name="ch10.block_forward",
        reference=block_forward_reference,
        make_inputs=_block_inputs,
        hint="GPT-2 normalises *before* each branch and adds the branch to the unnormalised x "
        "(pre-LN), and a token may not attend to later tokens.",
        more_hints=(
            (
                "x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)). LayerNorm: (x - mean) / sqrt(var"
                " + eps) * weight + bias over the last axis, with the biased variance."
            ),
            (
                "attention: q, k, v = (x @ c_attn.weight.T + c_attn.bias).split(d_model, -1),"
                " each viewed as (batch, seq, n_heads, d_head) and transposed to (batch,"
                " n_heads, seq, d_head); scores q @ k^T / sqrt(d_head), -inf above the"
                " diagonal, softmax over the keys; GELU is"
                " 0.5 h (1 + tanh(sqrt(2 / pi) (h + 0.044715 h^3)))."
            ),
        ),
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
