"""Every chapter 10 checker accepts its reference and independent correct solutions, and
rejects plausible wrong ones."""

from __future__ import annotations

import math

import torch

from scratchformer.exercises import assert_agrees, check, get_task
from scratchformer.models.gpt2 import GPT2Config


def quiet(name: str, fn) -> bool:
    return check(name, fn, verbose=False).passed


def formula(config: GPT2Config) -> int:
    e, f = config.d_model, config.ff_width
    block = 2 * e + (3 * e * e + 3 * e) + (e * e + e) + 2 * e + (e * f + f) + (f * e + e)
    return (config.vocab_size + config.max_len) * e + config.n_layers * block + 2 * e


def test_parameter_count_reference_is_124m_for_gpt2() -> None:
    reference = get_task("scratchformer.models.gpt2.GPT2.num_parameters").reference
    assert reference(GPT2Config.named("gpt2-tiny")) == formula(GPT2Config.named("gpt2-tiny"))
    assert formula(GPT2Config()) == 124_439_808


def test_parameter_count_accepts_formula_and_rejects_untied_head() -> None:
    name = "scratchformer.models.gpt2.GPT2.num_parameters"
    assert_agrees(formula, name)
    assert not quiet(name, lambda c: formula(c) + c.vocab_size * c.d_model)  # head counted twice
    assert not quiet(name, lambda c: formula(c) - 2 * c.d_model)  # final LayerNorm forgotten


def test_top_k_agreement_rejects_strict_k() -> None:
    def strict(logits, k):  # ignores ties: keeps exactly k per row via topk indices
        k = min(k, logits.shape[-1])
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep.scatter_(-1, logits.topk(k, dim=-1).indices, True)
        return logits.masked_fill(~keep, -math.inf)

    def ties(logits, k):
        k = min(k, logits.shape[-1])
        kth = logits.topk(k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, -math.inf)

    assert quiet("scratchformer.generate.top_k_filter", ties)
    assert not quiet("scratchformer.generate.top_k_filter", strict)


def nucleus(logits, p):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= p)
    return logits.masked_fill(drop, -math.inf)


def test_top_p_accepts_nucleus_and_rejects_cumsum_including_self() -> None:
    assert quiet("ch10.top_p_filter", nucleus)

    def including_self(logits, p):  # drops the token that crosses p: may drop the top one
        probs = logits.softmax(-1)
        sorted_probs, order = probs.sort(-1, descending=True)
        drop_sorted = sorted_probs.cumsum(-1) > p
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, -math.inf)

    assert not quiet("ch10.top_p_filter", including_self)


def test_perplexity_from_losses_rejects_padding_and_per_sequence_means() -> None:
    def right(losses, mask):
        return math.exp(float((losses * mask).sum() / mask.sum()))

    def with_padding(losses, mask):
        return math.exp(float(losses.mean()))

    def mean_of_sequences(losses, mask):
        per_sequence = (losses * mask).sum(-1) / mask.sum(-1)
        return float(per_sequence.exp().mean())

    assert quiet("ch10.perplexity_from_losses", right)
    assert not quiet("ch10.perplexity_from_losses", with_padding)
    assert not quiet("ch10.perplexity_from_losses", mean_of_sequences)
    reference = get_task("ch10.perplexity_from_losses").reference
    losses = torch.tensor([[1.0, 3.0], [2.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    assert math.isclose(reference(losses, mask), math.exp(2.0))
