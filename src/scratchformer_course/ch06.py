"""Checks for chapter 6, "The decoder and the full model".

Agreement tasks (the notebook builds these in the open and compares with the package):

* ``scratchformer.layers.DecoderLayer`` — ``fn(layer, x, memory, tgt_key_padding_mask=None,
  memory_key_padding_mask=None)``: a seeded layer (post-LN or pre-LN) whose pieces the
  notebook wires together itself;
* ``scratchformer.models.seq2seq.Transformer`` — ``fn(config, state, src, tgt)``: the logits
  ``(batch, tgt_seq, tgt_vocab_size)`` of the notebook's encoder-decoder built from
  ``config`` and loaded with ``state`` (a random package model's state dict), for source
  ids ``(batch, src_seq)`` and shifted target ids ``(batch, tgt_seq)`` with padding;
* ``scratchformer.models.seq2seq.Transformer.greedy_decode`` — ``fn(model, src, max_len,
  bos_id, eos_id)`` on small seeded, untrained models whose end-of-sequence bias varies, so
  rows stop at different steps;
* ``scratchformer.train.train_toy`` — ``fn(model, config)``: the notebook's training loop,
  which must return the same loss at every step as the package's for the same model and
  :class:`~scratchformer.toy.ToyTrainConfig` (a loss at step ``t`` depends on every update
  before it, so equal losses mean equal updates).

Exercise tasks: ``ch06.shift_right`` (the decoder input built from the targets),
``ch06.parameter_count`` (the number of distinct parameters of a
:class:`~scratchformer.models.seq2seq.Transformer`, with or without shared and tied
embeddings) and ``ch06.train_step`` (one teacher-forced training step, run by
:func:`each_batch` on a few batches in turn).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from scratchformer.layers import DecoderLayer
from scratchformer.models.seq2seq import POSITIONAL_KINDS, Seq2SeqConfig, Transformer
from scratchformer.toy import (
    BOS_ID,
    EOS_ID,
    MAKERS,
    N_SPECIAL,
    PAD_ID,
    ToyDataConfig,
    ToyTrainConfig,
    toy_model_config,
)
from scratchformer.train import train_toy
from scratchformer_course.ch05 import (
    build_module,
    coin,
    random_layer_config,
    random_state_dict,
)
from scratchformer_course.core import Inputs, Task, random_int, register

Batches = list[tuple[torch.Tensor, torch.Tensor]]
TrainStep = Callable[[Transformer, torch.optim.Optimizer, torch.Tensor, torch.Tensor], float]


def _padding(generator: torch.Generator, batch: int, seq: int) -> torch.Tensor:
    """A key padding mask ``(batch, seq)`` (``True`` = padding) keeping at least one position per row."""
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    return torch.arange(seq)[None, :] >= lengths[:, None]


def _padded_ids(
    generator: torch.Generator, batch: int, vocab_size: int, max_len: int
) -> torch.Tensor:
    """Random ids ``(batch, seq)``, ``seq <= max_len``, none of them ``PAD_ID`` before each
    row's padding (every row keeps at least one real token)."""
    seq = random_int(generator, 1, max_len)
    ids = torch.randint(PAD_ID + 1, vocab_size, (batch, seq), generator=generator)
    return ids.masked_fill(_padding(generator, batch, seq), PAD_ID)


def seeded_model(generator: torch.Generator, config: Seq2SeqConfig) -> Transformer:
    """``Transformer(config)`` initialised from a seed drawn from ``generator``; the global
    random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_int(generator, 0, 2**31 - 1))
        return Transformer(config)


def _random_model(generator: torch.Generator, config: Seq2SeqConfig) -> Transformer:
    """``Transformer(config)`` in eval mode with every parameter random (biases and norm gains
    too, so forgetting one shows); shared and tied tables stay one tensor."""
    model = seeded_model(generator, config)
    model.load_state_dict(random_state_dict(generator, model))
    return model.eval()


# -- agreement tasks ----------------------------------------------------------------------


def decoder_layer_reference(
    layer: DecoderLayer,
    x: torch.Tensor,
    memory: torch.Tensor,
    tgt_key_padding_mask: torch.Tensor | None = None,
    memory_key_padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``layer(x, memory, ...)``'s hidden states ``(batch, tgt_seq, d_model)``, without gradients."""
    with torch.no_grad():
        return layer(
            x,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
        )[0]


def _decoder_layer_inputs(generator: torch.Generator) -> Inputs:
    config = random_layer_config(generator)
    d_model = config.d_model
    layer = build_module(lambda: DecoderLayer(config), generator)
    batch, tgt_seq, src_seq = (
        random_int(generator, 1, 3),
        random_int(generator, 1, 6),
        random_int(generator, 1, 6),
    )
    x = torch.randn(batch, tgt_seq, d_model, generator=generator)
    memory = torch.randn(batch, src_seq, d_model, generator=generator)
    kwargs = {}
    if coin(generator):
        kwargs["memory_key_padding_mask"] = _padding(generator, batch, src_seq)
    if coin(generator, 0.3):
        kwargs["tgt_key_padding_mask"] = _padding(generator, batch, tgt_seq)
    return (layer, x, memory), kwargs


def greedy_decode_reference(
    model: Transformer, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int
) -> torch.Tensor:
    """:meth:`Transformer.greedy_decode`: generated ids ``(batch, n)``, BOS excluded."""
    return model.greedy_decode(src, max_len, bos_id, eos_id)


def _greedy_decode_inputs(generator: torch.Generator) -> Inputs:
    vocab = random_int(generator, N_SPECIAL + 2, 12)
    config = Seq2SeqConfig(
        src_vocab_size=vocab,
        tgt_vocab_size=vocab,
        pad_id=PAD_ID,
        max_len=10,
        d_model=8,
        n_heads=2,
        d_ff=16,
        n_encoder_layers=random_int(generator, 1, 2),
        n_decoder_layers=random_int(generator, 1, 2),
        dropout=0.0,
        norm_first=coin(generator),
    )
    model = seeded_model(generator, config).eval()
    with torch.no_grad():  # a larger end-of-sequence bias makes rows stop earlier
        model.output.bias[EOS_ID] = 4.0 * float(torch.rand((), generator=generator))
    batch, seq = random_int(generator, 1, 4), random_int(generator, 1, 8)
    src = torch.randint(N_SPECIAL, vocab, (batch, seq), generator=generator)
    src = src.masked_fill(_padding(generator, batch, seq), PAD_ID)
    return (model, src, random_int(generator, 1, 10), BOS_ID, EOS_ID), {}


def transformer_reference(
    config: Seq2SeqConfig, state: dict[str, torch.Tensor], src: torch.Tensor, tgt: torch.Tensor
) -> torch.Tensor:
    """Logits ``(batch, tgt_seq, tgt_vocab_size)`` of ``Transformer(config)`` loaded with
    ``state``, for source ids ``(batch, src_seq)`` and shifted target ids ``(batch, tgt_seq)``."""
    with torch.random.fork_rng(devices=[]):
        model = Transformer(config)
    model.load_state_dict(state)
    with torch.no_grad():
        return model.eval()(src, tgt)


def _random_seq2seq_config(generator: torch.Generator) -> Seq2SeqConfig:
    """A small :class:`Seq2SeqConfig` with every option drawn at random."""
    share = coin(generator)
    src_vocab = random_int(generator, 2, 50)
    n_heads = random_int(generator, 1, 4)
    return Seq2SeqConfig(
        src_vocab_size=src_vocab,
        tgt_vocab_size=src_vocab if share else random_int(generator, 2, 50),
        max_len=random_int(generator, 1, 20),
        d_model=n_heads * 2 * random_int(generator, 1, 4),  # even, for sinusoidal encodings
        n_heads=n_heads,
        d_ff=random_int(generator, 1, 64),
        n_encoder_layers=random_int(generator, 1, 3),
        n_decoder_layers=random_int(generator, 1, 3),
        norm_first=coin(generator),
        share_embeddings=share,
        tie_output=coin(generator),
        positional=sorted(POSITIONAL_KINDS)[random_int(generator, 0, len(POSITIONAL_KINDS) - 1)],  # type: ignore[arg-type]
    )


def _transformer_inputs(generator: torch.Generator) -> Inputs:
    config = _random_seq2seq_config(generator)
    model = _random_model(generator, config)
    batch = random_int(generator, 1, 3)
    src = _padded_ids(generator, batch, config.src_vocab_size, config.max_len)
    tgt = _padded_ids(generator, batch, config.tgt_vocab_size, config.max_len)
    return (config, model.state_dict(), src, tgt), {}


def _toy_data(generator: torch.Generator) -> ToyDataConfig:
    """A random toy sequence shape: 2 to 9 symbols, sequences of 1 to at most 6 of them."""
    return ToyDataConfig(
        vocab_size=random_int(generator, N_SPECIAL + 2, 12),
        min_len=1,
        max_len=random_int(generator, 1, 6),
    )


def _toy_model(generator: torch.Generator, data: ToyDataConfig) -> Transformer:
    """A random one-layer-per-side toy model (``d_model = 8``, no dropout), post- or pre-LN."""
    config = toy_model_config(
        data, d_model=8, n_heads=2, d_ff=16, n_encoder_layers=1, n_decoder_layers=1
    )
    return _random_model(generator, replace(config, norm_first=coin(generator)))


def _train_toy_inputs(generator: torch.Generator) -> Inputs:
    data = _toy_data(generator)
    steps = random_int(generator, 2, 4)
    config = ToyTrainConfig(
        task=sorted(MAKERS)[random_int(generator, 0, len(MAKERS) - 1)],  # type: ignore[arg-type]
        data=data,
        steps=steps,
        batch_size=random_int(generator, 1, 8),
        lr=[1e-3, 5e-3, 2e-2][random_int(generator, 0, 2)],
        warmup=random_int(generator, 0, steps - 1),
        seed=random_int(generator, 0, 10_000),
    )
    return (_toy_model(generator, data), config), {}


# -- exercise tasks -----------------------------------------------------------------------


def shift_right_reference(
    tgt_out: torch.Tensor, bos_id: int, eos_id: int, pad_id: int
) -> torch.Tensor:
    """The decoder input for the targets ``tgt_out`` ``(batch, seq)``, same shape back.

    ``tgt_out`` holds each answer, then ``eos_id``, then ``pad_id`` padding. The decoder
    input is the same row moved one step to the right: ``bos_id`` first, then the answer;
    the end-of-sequence token is never an input (nothing follows it), so it becomes padding.
    """
    shifted = torch.cat([torch.full_like(tgt_out[:, :1], bos_id), tgt_out[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == eos_id, pad_id)


def _shift_right_inputs(generator: torch.Generator) -> Inputs:
    data = ToyDataConfig(
        vocab_size=random_int(generator, 4, 12), min_len=1, max_len=random_int(generator, 1, 8)
    )
    make = MAKERS[["copy", "reverse"][random_int(generator, 0, 1)]]
    batch = make(random_int(generator, 1, 5), data, generator)
    return (batch.tgt_out, BOS_ID, EOS_ID, PAD_ID), {}


def parameter_count_reference(config: Seq2SeqConfig) -> int:
    """Number of distinct parameters (shared ones counted once) of ``Transformer(config)``.

    The model is built on the meta device: shapes only, no memory, no initialisation.
    """
    with torch.device("meta"):
        model = Transformer(config)
    return sum(p.numel() for p in model.parameters())


def _parameter_count_inputs(generator: torch.Generator) -> Inputs:
    return (_random_seq2seq_config(generator),), {}


def train_step_reference(
    model: Transformer, optimizer: torch.optim.Optimizer, src: torch.Tensor, tgt_out: torch.Tensor
) -> float:
    """One teacher-forced training step of ``model`` on source ids ``src`` ``(batch, src_seq)``
    and labels ``tgt_out`` ``(batch, tgt_seq)`` (answer, EOS, padding); returns the loss.

    The decoder input is ``tgt_out`` shifted right behind BOS; the loss is the mean
    cross-entropy over the non-padding labels; the gradients are cleared before the backward
    pass (they would otherwise add up over steps), clipped to a total norm of 1, and the
    optimiser takes its step: exactly one step of :func:`~scratchformer.train.train_toy`.
    """
    pad_id = model.config.pad_id
    tgt_in = shift_right_reference(tgt_out, BOS_ID, EOS_ID, pad_id)
    logits = model(src, tgt_in)  # (batch, tgt_seq, tgt_vocab_size)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=pad_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def each_batch(
    step: TrainStep, lr: float = 1e-2
) -> Callable[[Transformer, Batches], list[float] | None]:
    """What ``check("ch06.train_step", each_batch(train_step))`` runs: ``step`` on each
    ``(src, tgt_out)`` batch in turn, with one Adam optimiser (``train_toy``'s betas) over the
    model's parameters, returning the losses (``None`` as soon as ``step`` returns nothing,
    so that the check reports a step not written yet).

    One step alone would not show every mistake: a forgotten ``zero_grad`` only changes the
    second update, so the check runs a few steps and compares every loss.
    """

    def run(model: Transformer, batches: Batches) -> list[float] | None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
        losses = []
        for src, tgt_out in batches:
            loss = step(model, optimizer, src, tgt_out)
            if loss is None:
                return None
            losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))
        return losses

    run.__name__ = f"each_batch({getattr(step, '__name__', 'step')})"
    run.__wrapped__ = step  # type: ignore[attr-defined]  # the check sees an untouched stub
    return run


def _train_step_inputs(generator: torch.Generator) -> Inputs:
    data = _toy_data(generator)
    make = MAKERS[sorted(MAKERS)[random_int(generator, 0, len(MAKERS) - 1)]]
    batches = []
    for _ in range(3):
        batch = make(random_int(generator, 1, 6), data, generator)
        batches.append((batch.src, batch.tgt_out))
    return (_toy_model(generator, data), batches), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.layers.DecoderLayer",
        reference=decoder_layer_reference,
        make_inputs=_decoder_layer_inputs,
        hint="masked (causal) self-attention, then cross-attention with queries from x and keys "
        "and values from memory, then the feed-forward block; each as norm(x + f(x)) (post-LN) "
        "or x + f(norm(x)) (pre-LN, layer.config.norm_first).",
    ),
    Task(
        name="scratchformer.models.seq2seq.Transformer",
        reference=transformer_reference,
        make_inputs=_transformer_inputs,
        hint="embed with embedding(ids) * sqrt(d_model), add the positions, encode with the "
        "source padding mask (src == pad_id), decode with the target and memory padding masks, "
        "and project with the output layer (tied to the target embedding when tie_output).",
    ),
    Task(
        name="scratchformer.models.seq2seq.Transformer.greedy_decode",
        reference=greedy_decode_reference,
        make_inputs=_greedy_decode_inputs,
        trials=15,
        hint="start every row with bos_id, append the argmax of the last position's logits, "
        "write pad_id once a row has produced eos_id, stop when every row is done or after "
        "max_len tokens, and drop the BOS column.",
    ),
    Task(
        name="scratchformer.train.train_toy",
        reference=train_toy,
        make_inputs=_train_toy_inputs,
        trials=10,
        hint="seed torch and a Generator with config.seed, Adam with betas (0.9, 0.98), the "
        "learning rate min((step + 1) / max(warmup, 1), (steps - step) / (steps - warmup)) "
        "times config.lr, and per step: a fresh batch, cross-entropy ignoring PAD_ID, "
        "zero_grad, backward, clip to norm 1, optimizer step, schedule step.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch06.shift_right",
        reference=shift_right_reference,
        make_inputs=_shift_right_inputs,
        hint="the input at position t is the label of position t - 1, and position 0 holds "
        "bos_id; which label is never needed as an input?",
        more_hints=(
            (
                "put bos_id in front and drop the last column; the EOS token then sits at an input "
                "position that predicts nothing, so replace it with pad_id."
            ),
        ),
    ),
    Task(
        name="ch06.parameter_count",
        reference=parameter_count_reference,
        make_inputs=_parameter_count_inputs,
        hint="count one kind of block at a time (an attention block, a feed-forward block, a "
        "LayerNorm), then ask which tables are shared or tied and which stacks end in a norm.",
        more_hints=(
            (
                "count embeddings once when shared, no output matrix when tied (its bias still "
                "counts), learned positions only for positional='learned', 3 LayerNorms per decoder "
                "layer, and one final LayerNorm per stack when norm_first."
            ),
        ),
    ),
    Task(
        name="ch06.train_step",
        reference=each_batch(train_step_reference),
        make_inputs=_train_step_inputs,
        trials=10,
        hint="compare with the step written out in the chapter: what is the decoder's input, "
        "which labels count in the loss, and what happens to the previous step's gradients?",
        more_hints=(
            (
                "feed the decoder tgt_out shifted right (BOS first, EOS turned into padding), take "
                "the cross-entropy of the logits against tgt_out ignoring padding, clear the old "
                "gradients before backward, clip the gradient norm to 1, then step the optimizer."
            ),
        ),
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
