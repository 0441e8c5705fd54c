"""Every chapter 6 checker accepts its reference and correct rewrites, and rejects plausible wrong solutions."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as torch_f

from exercise_asserts import assert_rejected_with_hint
from scratchformer.layers import Decoder, Encoder
from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer
from scratchformer.positional import sinusoidal_encoding
from scratchformer.toy import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    ToyDataConfig,
    ToyTrainConfig,
    make_batch,
    make_copy_batch,
    make_reverse_batch,
)
from scratchformer.train import train_toy
from scratchformer_course import check, get_task
from scratchformer_course.ch06 import each_batch, train_step_reference
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


def test_transformer_inputs_cover_every_option_and_padding() -> None:
    inputs = all_inputs("scratchformer.models.seq2seq.Transformer")
    configs = [args[0] for args, _ in inputs]
    for field in ("share_embeddings", "tie_output", "norm_first"):
        assert {getattr(c, field) for c in configs} == {False, True}
    assert {c.positional for c in configs} == {"learned", "sinusoidal"}
    assert any((args[2] == PAD_ID).any() for args, _ in inputs), "some sources are padded"
    assert any((args[3] == PAD_ID).any() for args, _ in inputs), "some targets are padded"


def test_train_toy_inputs_cover_both_tasks_and_warm_ups() -> None:
    configs = [args[1] for args, _ in all_inputs("scratchformer.train.train_toy")]
    assert {c.task for c in configs} == {"copy", "reverse"}
    assert any(c.warmup == 0 for c in configs) and any(c.warmup > 0 for c in configs)


def test_train_step_reference_is_one_step_of_train_toy() -> None:
    """One step of ``train_toy`` (no warm-up: the full rate) on its first batch equals the
    reference step on that batch: the same loss and the same parameters afterwards."""
    data = ToyDataConfig(vocab_size=9, max_len=5)
    config = ToyTrainConfig(task="reverse", data=data, steps=1, warmup=0, batch_size=8, seed=3)
    torch.manual_seed(0)
    packaged = Transformer(
        Seq2SeqConfig(9, 9, max_len=6, d_model=16, n_heads=2, d_ff=32, dropout=0.0)
    )
    stepped = copy.deepcopy(packaged)
    [expected] = train_toy(packaged, config)
    batch = make_batch(config, config.batch_size, torch.Generator().manual_seed(config.seed))
    [loss] = each_batch(train_step_reference, config.lr)(stepped, [(batch.src, batch.tgt_out)])
    assert loss == pytest.approx(expected, abs=1e-6)
    for (name, a), b in zip(packaged.state_dict().items(), stepped.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


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


def transformer_by_hand(
    config, state, src, tgt, *, scale=True, mask_source=True, target_positions=True
):
    """The encoder-decoder from its state dict: embeddings, positions and output projection
    written with tensors, the package's stacks for the layers; the keywords switch on one
    mistake each."""
    d = config.d_model
    with torch.device("meta"):
        encoder, decoder = Encoder(config.encoder_config()), Decoder(config.decoder_config())
    for name, stack in [("encoder", encoder), ("decoder", decoder)]:
        prefix = f"{name}."
        part = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        stack.load_state_dict(part, assign=True)
        stack.eval()

    def embed(side, ids, with_positions=True):
        x = torch_f.embedding(ids, state[f"{side}_embedding.weight"])
        x = x * math.sqrt(d) if scale else x
        if not with_positions:
            return x
        if config.positional == "learned":
            return x + state[f"{side}_positions.weight"][: ids.shape[1]]
        return x + sinusoidal_encoding(ids.shape[1], d)

    src_padding, tgt_padding = src == config.pad_id, tgt == config.pad_id
    with torch.no_grad():
        memory = encoder(embed("src", src), key_padding_mask=src_padding).hidden
        hidden = decoder(
            embed("tgt", tgt, target_positions),
            memory,
            tgt_key_padding_mask=tgt_padding,
            memory_key_padding_mask=src_padding if mask_source else None,
        ).hidden
    return torch_f.linear(hidden, state["output.weight"], state["output.bias"])


def train_toy_by_hand(model, config, *, warm_up=True, clip=True, data_seed_offset=0):
    """train_toy's loop with a LambdaLR schedule and the global seed set directly; the
    keywords switch on one mistake each."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed + data_seed_offset)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    steps, warmup = config.steps, config.warmup

    def factor(step):
        return min((step + 1) / max(warmup, 1), (steps - step) / (steps - warmup))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor if warm_up else lambda _: 1.0)
    model.train()
    losses = []
    for _ in range(steps):
        batch = make_batch(config, config.batch_size, generator)
        logits = model(batch.src, batch.tgt_in)
        loss = torch_f.cross_entropy(logits.transpose(1, 2), batch.tgt_out, ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def train_step_by_hand(
    model, optimizer, src, tgt_out, *, shift=True, zero_grad=True, padding=False
):
    """One step with the shift by padding, a per-token loss averaged by hand; the keywords
    switch on one mistake each."""
    tgt_in = torch_f.pad(tgt_out[:, :-1], (1, 0), value=BOS_ID) if shift else tgt_out
    tgt_in = tgt_in.masked_fill(tgt_in == EOS_ID, PAD_ID)
    per_token = torch_f.cross_entropy(model(src, tgt_in).transpose(1, 2), tgt_out, reduction="none")
    loss = per_token.mean() if padding else per_token[tgt_out != PAD_ID].mean()
    if zero_grad:
        optimizer.zero_grad(set_to_none=False)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


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


@pytest.mark.slow
def test_correct_rewrites_pass() -> None:
    assert check("scratchformer.layers.DecoderLayer", decoder_layer_by_hand, verbose=False)
    assert check(
        "scratchformer.models.seq2seq.Transformer.greedy_decode", greedy_by_hand, verbose=False
    )
    assert check("scratchformer.models.seq2seq.Transformer", transformer_by_hand, verbose=False)
    assert check("scratchformer.train.train_toy", train_toy_by_hand, verbose=False)
    assert check("ch06.train_step", each_batch(train_step_by_hand), verbose=False)
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
    (
        "scratchformer.models.seq2seq.Transformer",
        _with(transformer_by_hand, "embeddings_not_scaled", scale=False),
    ),
    (
        "scratchformer.models.seq2seq.Transformer",
        _with(transformer_by_hand, "source_padding_seen_by_cross_attention", mask_source=False),
    ),
    (
        "scratchformer.models.seq2seq.Transformer",
        _with(transformer_by_hand, "no_target_positions", target_positions=False),
    ),
    ("scratchformer.train.train_toy", _with(train_toy_by_hand, "constant_lr", warm_up=False)),
    ("scratchformer.train.train_toy", _with(train_toy_by_hand, "no_clipping", clip=False)),
    (
        "scratchformer.train.train_toy",
        _with(train_toy_by_hand, "other_batches", data_seed_offset=1),
    ),
    ("ch06.train_step", each_batch(_with(train_step_by_hand, "no_shift_right", shift=False))),
    (
        "ch06.train_step",
        each_batch(_with(train_step_by_hand, "no_zero_grad", zero_grad=False)),
    ),
    (
        "ch06.train_step",
        each_batch(_with(train_step_by_hand, "padding_in_the_loss", padding=True)),
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


def test_each_batch_lets_the_check_see_a_step_not_written_yet() -> None:
    def train_step(model, optimizer, src, tgt_out): ...  # your code here

    def forgets_to_return(model, optimizer, src, tgt_out):
        train_step_by_hand(model, optimizer, src, tgt_out)

    for step in (train_step, forgets_to_return):
        result = check("ch06.train_step", each_batch(step), verbose=False)
        assert not result.passed and "not written yet" in result.message


def test_each_batch_accepts_a_step_that_returns_the_loss_tensor() -> None:
    def returns_tensor(model, optimizer, src, tgt_out):
        loss = torch.tensor(train_step_by_hand(model, optimizer, src, tgt_out), requires_grad=True)
        return loss * 1.0

    assert check("ch06.train_step", each_batch(returns_tensor), verbose=False)
