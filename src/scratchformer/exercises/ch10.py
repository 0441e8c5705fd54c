"""Checks for chapter 10, "GPT-2".

Agreement tasks (the notebook builds them in the open and compares with the package):

* ``scratchformer.models.gpt2.GPT2.num_parameters`` — ``fn(config)``: the parameter
  count of a :class:`~scratchformer.models.gpt2.GPT2Config`, which the notebook computes
  with a formula and the reference by building the model and counting.
* ``scratchformer.generate.top_k_filter`` — ``fn(logits, k)``.

Exercise tasks: ``ch10.top_p_filter`` (nucleus filtering) and
``ch10.perplexity_from_losses`` (the perplexity of a padded batch of per-token losses:
``exp`` of the mean over *real tokens*, not the mean of per-sequence perplexities).
"""

from __future__ import annotations

import torch

from scratchformer.exercises.core import Inputs, Task, random_int, register
from scratchformer.functional import perplexity
from scratchformer.generate import top_k_filter, top_p_filter
from scratchformer.models.gpt2 import GPT2, GPT2Config


def count_parameters_by_building(config: GPT2Config) -> int:
    """The parameter count of a GPT-2 with ``config``: build it and count (tied matrix once).

    The model is built on the ``meta`` device: shapes only, no memory, no random numbers.
    """
    with torch.device("meta"):
        return GPT2(config).num_parameters()


def _config_inputs(generator: torch.Generator) -> Inputs:
    n_heads = random_int(generator, 1, 4)
    config = GPT2Config(
        vocab_size=random_int(generator, 2, 300),
        max_len=random_int(generator, 1, 64),
        d_model=n_heads * random_int(generator, 1, 8),
        n_layers=random_int(generator, 1, 3),
        n_heads=n_heads,
        d_ff=[None, random_int(generator, 1, 40)][random_int(generator, 0, 1)],
    )
    return (config,), {}


def _logits(generator: torch.Generator) -> torch.Tensor:
    """Random logits ``(rows, vocab)``, half the time with many ties (rounded to integers)."""
    shape = (random_int(generator, 1, 4), random_int(generator, 2, 12))
    logits = torch.randn(shape, generator=generator) * 2
    return logits.round() if random_int(generator, 0, 1) else logits


def _top_k_inputs(generator: torch.Generator) -> Inputs:
    logits = _logits(generator)
    return (logits, random_int(generator, 1, logits.shape[-1] + 2)), {}


def _top_p_inputs(generator: torch.Generator) -> Inputs:
    p = [1.0, 0.5, 0.9, round(float(torch.rand(1, generator=generator)) * 0.98 + 0.01, 3)]
    return (_logits(generator), p[random_int(generator, 0, 3)]), {}


def perplexity_from_losses_reference(losses: torch.Tensor, mask: torch.Tensor) -> float:
    """Perplexity of a padded batch: ``exp(sum(losses * mask) / sum(mask))``.

    Args:
        losses: per-token negative log-likelihoods ``(batch, seq)`` in nats.
        mask: ``(batch, seq)`` booleans, ``True`` for real tokens (padding is ``False``).
    """
    return float(perplexity(float(losses[mask].sum() / mask.sum())))


def _losses_inputs(generator: torch.Generator) -> Inputs:
    batch, seq = random_int(generator, 1, 4), random_int(generator, 2, 10)
    losses = torch.rand(batch, seq, generator=generator, dtype=torch.float64) * 4
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    mask = torch.arange(seq)[None, :] < lengths[:, None]
    losses = losses.masked_fill(~mask, 0.0)
    return (losses, mask), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.models.gpt2.GPT2.num_parameters",
        reference=count_parameters_by_building,
        make_inputs=_config_inputs,
        trials=10,
        hint="count the tied token embedding once, the position table, and per block: two "
        "LayerNorms (gain and bias), the qkv and output projections with biases, and the "
        "MLP's two layers (width config.d_ff) with biases; then the final LayerNorm.",
    ),
    Task(
        name="scratchformer.generate.top_k_filter",
        reference=top_k_filter,
        make_inputs=_top_k_inputs,
        hint="keep every logit >= the k-th largest of its row (k may exceed the vocabulary); "
        "set the rest to -inf.",
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
        name="ch10.perplexity_from_losses",
        reference=perplexity_from_losses_reference,
        make_inputs=_losses_inputs,
        hint="average the losses over real tokens only (divide by mask.sum(), not by the "
        "number of positions or sequences), then take exp of that mean.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
