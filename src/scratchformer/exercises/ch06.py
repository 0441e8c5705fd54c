"""Checks for chapter 6, "The decoder and the full model".

Agreement tasks (the notebook builds these in the open and compares with the package):

* ``scratchformer.layers.DecoderLayer`` — ``fn(layer, x, memory, tgt_key_padding_mask=None,
  memory_key_padding_mask=None)``: a seeded layer (post-LN or pre-LN) whose pieces the
  notebook wires together itself;
* ``scratchformer.models.seq2seq.Transformer.greedy_decode`` — ``fn(model, src, max_len,
  bos_id, eos_id)`` on small seeded, untrained models whose end-of-sequence bias varies, so
  rows stop at different steps.

Exercise tasks: ``ch06.shift_right`` (the decoder input built from the targets) and
``ch06.parameter_count`` (the number of distinct parameters of a
:class:`~scratchformer.models.seq2seq.Transformer`, with or without shared and tied
embeddings).
"""

from __future__ import annotations

import torch

from scratchformer.exercises.ch05 import build_module, coin, random_layer_config
from scratchformer.exercises.core import Inputs, Task, random_int, register
from scratchformer.layers import DecoderLayer
from scratchformer.models.seq2seq import POSITIONAL_KINDS, Seq2SeqConfig, Transformer
from scratchformer.toy import BOS_ID, EOS_ID, MAKERS, N_SPECIAL, PAD_ID, ToyDataConfig


def _padding(generator: torch.Generator, batch: int, seq: int) -> torch.Tensor:
    """A key padding mask ``(batch, seq)`` (``True`` = padding) keeping at least one position per row."""
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    return torch.arange(seq)[None, :] >= lengths[:, None]


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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_int(generator, 0, 2**31 - 1))
        model = Transformer(config).eval()
    with torch.no_grad():  # a larger end-of-sequence bias makes rows stop earlier
        model.output.bias[EOS_ID] = 4.0 * float(torch.rand((), generator=generator))
    batch, seq = random_int(generator, 1, 4), random_int(generator, 1, 8)
    src = torch.randint(N_SPECIAL, vocab, (batch, seq), generator=generator)
    src = src.masked_fill(_padding(generator, batch, seq), PAD_ID)
    return (model, src, random_int(generator, 1, 10), BOS_ID, EOS_ID), {}


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
    share = coin(generator)
    src_vocab = random_int(generator, 2, 50)
    n_heads = random_int(generator, 1, 4)
    config = Seq2SeqConfig(
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
    return (config,), {}


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
        name="scratchformer.models.seq2seq.Transformer.greedy_decode",
        reference=greedy_decode_reference,
        make_inputs=_greedy_decode_inputs,
        trials=15,
        hint="start every row with bos_id, append the argmax of the last position's logits, "
        "write pad_id once a row has produced eos_id, stop when every row is done or after "
        "max_len tokens, and drop the BOS column.",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch06.shift_right",
        reference=shift_right_reference,
        make_inputs=_shift_right_inputs,
        hint="put bos_id in front and drop the last column; the EOS token then sits at an input "
        "position that predicts nothing, so replace it with pad_id.",
    ),
    Task(
        name="ch06.parameter_count",
        reference=parameter_count_reference,
        make_inputs=_parameter_count_inputs,
        hint="count embeddings once when shared, no output matrix when tied (its bias still "
        "counts), learned positions only for positional='learned', 3 LayerNorms per decoder "
        "layer, and one final LayerNorm per stack when norm_first.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
