"""Every chapter 6 checker accepts its reference and correct rewrites, and rejects plausible wrong solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as torch_f

from exercise_asserts import assert_rejected_with_hint
from scratchformer.exercises import check, get_task
from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer
from scratchformer.toy import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    ToyDataConfig,
    make_copy_batch,
    make_reverse_batch,
)
from test_exercises_ch05 import all_inputs

# -- the references mean what they say ------------------------------------------------------


@pytest.mark.parametrize("make", [make_copy_batch, make_reverse_batch])
def test_shift_right_reference_rebuilds_the_toy_decoder_input(make) -> None:
    reference = get_task("ch06.shift_right").reference
    for seed in range(10):
        batch = make(8, ToyDataConfig(vocab_size=9, max_len=7), torch.Generator().manual_seed(seed))
        assert torch.equal(reference(batch.tgt_out, BOS_ID, EOS_ID, PAD_ID), batch.tgt_in)


def parameter_count_by_formula(config: Seq2SeqConfig) -> int:
    """The count written out piece by piece (an independent check of the reference)."""
    d, d_ff = config.d_model, config.d_ff
    attention = 4 * d * d + 4 * d
    feed_forward = 2 * d * d_ff + d_ff + d
    norm = 2 * d
    encoder = config.n_encoder_layers * (attention + feed_forward + 2 * norm)
    decoder = config.n_decoder_layers * (2 * attention + feed_forward + 3 * norm)
    final_norms = 2 * norm if config.norm_first else 0
    embeddings = config.src_vocab_size * d
    if not config.share_embeddings:
        embeddings += config.tgt_vocab_size * d
    positions = 2 * config.max_len * d if config.positional == "learned" else 0
    output = config.tgt_vocab_size + (0 if config.tie_output else config.tgt_vocab_size * d)
    return encoder + decoder + final_norms + embeddings + positions + output


def test_parameter_count_reference_matches_the_formula_and_a_real_model() -> None:
    assert check("ch06.parameter_count", parameter_count_by_formula, verbose=False)
    reference = get_task("ch06.parameter_count").reference
    config = Seq2SeqConfig(
        11, 13, d_model=8, n_heads=2, d_ff=16, n_encoder_layers=1, n_decoder_layers=2
    )
    torch.manual_seed(0)
    assert reference(config) == sum(p.numel() for p in Transformer(config).parameters())


def test_parameter_count_inputs_cover_every_option() -> None:
    configs = [args[0] for args, _ in all_inputs("ch06.parameter_count")]
    for field in ("share_embeddings", "tie_output", "norm_first"):
        assert {getattr(c, field) for c in configs} == {False, True}
    assert {c.positional for c in configs} == {"learned", "sinusoidal"}


def test_greedy_decode_inputs_stop_early_on_some_rows_and_not_on_others() -> None:
    reference = get_task("scratchformer.models.seq2seq.Transformer.greedy_decode").reference
    ended_early = ran_to_the_limit = 0
    for args, _ in all_inputs("scratchformer.models.seq2seq.Transformer.greedy_decode"):
        out, max_len = reference(*args), args[2]
        for row in out:
            if (row == EOS_ID).any() and (row == PAD_ID).any():
                ended_early += 1
            if len(row) == max_len and not (row == EOS_ID).any():
                ran_to_the_limit += 1
    assert ended_early and ran_to_the_limit


def test_decoder_layer_inputs_cover_both_norm_placements_and_masks() -> None:
    inputs = all_inputs("scratchformer.layers.DecoderLayer")
    assert {args[0].config.norm_first for args, _ in inputs} == {False, True}
    assert any("memory_key_padding_mask" in kwargs for _, kwargs in inputs)
    assert any("tgt_key_padding_mask" in kwargs for _, kwargs in inputs)


# -- correct rewrites pass, wrong solutions fail --------------------------------------------


def decoder_layer_by_hand(
    layer,
    x,
    memory,
    tgt_key_padding_mask=None,
    memory_key_padding_mask=None,
    *,
    norm_first=None,
    cross_first=False,
    causal=True,
    use_memory_mask=True,
):
    """The decoder layer's wiring written out; the keywords switch on one mistake each."""
    norm_first = layer.config.norm_first if norm_first is None else norm_first
    memory_mask = memory_key_padding_mask if use_memory_mask else None

    def residual(h, f, norm):
        return h + f(norm(h)) if norm_first else norm(h + f(h))

    def self_attend(h):
        return layer.self_attn(h, h, h, key_padding_mask=tgt_key_padding_mask, causal=causal)[0]

    def cross_attend(h):
        return layer.cross_attn(h, memory, memory, key_padding_mask=memory_mask)[0]

    steps = [(self_attend, layer.norm1), (cross_attend, layer.norm2)]
    if cross_first:
        steps = [(cross_attend, layer.norm1), (self_attend, layer.norm2)]
    with torch.no_grad():
        for f, norm in [*steps, (layer.feed_forward, layer.norm3)]:
            x = residual(x, f, norm)
    return x


def greedy_by_hand(
    model, src, max_len, bos_id, eos_id, *, pad_after_eos=True, keep_bos=False, mask_source=True
):
    """Greedy decoding one row at a time (a different loop from the package's); the
    keywords switch on one mistake each."""
    model.eval()
    pad = model.config.pad_id
    rows = []
    with torch.no_grad():
        for source in src:
            source = source[None]
            memory_mask = source == pad if mask_source else None
            memory = model.encode(source, memory_mask)
            ys = [bos_id]
            for _ in range(max_len):
                logits = model.decode(torch.tensor([ys]), memory, memory_mask)
                ys.append(int(logits[0, -1].argmax()))
                if ys[-1] == eos_id and pad_after_eos:
                    break
            rows.append(ys if keep_bos else ys[1:])
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows])


def shift_right_keeping_eos(tgt_out, bos_id, eos_id, pad_id):
    return torch_f.pad(tgt_out[:, :-1], (1, 0), value=bos_id)


def shift_left(tgt_out, bos_id, eos_id, pad_id):
    shifted = torch_f.pad(tgt_out[:, 1:], (0, 1), value=pad_id)
    return shifted.masked_fill(shifted == eos_id, pad_id)


def shift_right_growing(tgt_out, bos_id, eos_id, pad_id):
    shifted = torch_f.pad(tgt_out, (1, 0), value=bos_id)
    return shifted.masked_fill(shifted == eos_id, pad_id)


def count_tied_twice(config: Seq2SeqConfig) -> int:
    extra = 0 if not config.tie_output else config.tgt_vocab_size * config.d_model
    return parameter_count_by_formula(config) + extra


def count_without_final_norms(config: Seq2SeqConfig) -> int:
    return parameter_count_by_formula(config) - (4 * config.d_model if config.norm_first else 0)


def count_decoder_like_encoder(config: Seq2SeqConfig) -> int:
    d = config.d_model
    return parameter_count_by_formula(config) - config.n_decoder_layers * (4 * d * d + 6 * d)


def test_correct_rewrites_pass() -> None:
    assert check("scratchformer.layers.DecoderLayer", decoder_layer_by_hand, verbose=False)
    assert check(
        "scratchformer.models.seq2seq.Transformer.greedy_decode", greedy_by_hand, verbose=False
    )
    assert check(
        "ch06.shift_right",
        lambda t, bos, eos, pad: (
            torch.where(t == eos, pad, t).roll(1, dims=1).index_fill(1, torch.tensor([0]), bos)
        ),
        verbose=False,
    )


def _with(fn: Callable[..., Any], label: str, **mistake: Any) -> Callable[..., Any]:
    def wrong(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs, **mistake)

    wrong.__name__ = label
    return wrong


WRONG_SOLUTIONS: list[tuple[str, Callable[..., Any]]] = [
    (
        "scratchformer.layers.DecoderLayer",
        _with(decoder_layer_by_hand, "cross_first", cross_first=True),
    ),
    ("scratchformer.layers.DecoderLayer", _with(decoder_layer_by_hand, "not_causal", causal=False)),
    (
        "scratchformer.layers.DecoderLayer",
        _with(decoder_layer_by_hand, "memory_mask_ignored", use_memory_mask=False),
    ),
    (
        "scratchformer.layers.DecoderLayer",
        _with(decoder_layer_by_hand, "always_post_ln", norm_first=False),
    ),
    (
        "scratchformer.models.seq2seq.Transformer.greedy_decode",
        _with(greedy_by_hand, "keeps_bos", keep_bos=True),
    ),
    (
        "scratchformer.models.seq2seq.Transformer.greedy_decode",
        _with(greedy_by_hand, "no_stop", pad_after_eos=False),
    ),
    (
        "scratchformer.models.seq2seq.Transformer.greedy_decode",
        _with(greedy_by_hand, "src_unmasked", mask_source=False),
    ),
    ("ch06.shift_right", shift_right_keeping_eos),
    ("ch06.shift_right", shift_left),
    ("ch06.shift_right", shift_right_growing),
    ("ch06.parameter_count", count_tied_twice),
    ("ch06.parameter_count", count_without_final_norms),
    ("ch06.parameter_count", count_decoder_like_encoder),
]


@pytest.mark.parametrize(
    ("name", "wrong"), WRONG_SOLUTIONS, ids=lambda v: getattr(v, "__name__", v)
)
def test_wrong_solution_is_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    assert_rejected_with_hint(name, wrong)
