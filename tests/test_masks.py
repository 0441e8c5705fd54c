"""The package's one mask convention, end to end: ``pad_batch``'s output fed to every model.

``pad_batch`` returns ``(ids, attention_mask)`` with ``True`` at real tokens; models that take
token ids take that mask as it is (BERT) or derive it from ``pad_id`` (the translator); the
layers take ``key_padding_mask = ~attention_mask`` by keyword. Each test pads sentences of
different lengths into one batch and checks every real position against the sentence run
alone, so a mask read the wrong way round (or ignored) fails it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchformer.batching import PadCollator, pad_batch
from scratchformer.layers import Decoder, Encoder, TransformerConfig
from scratchformer.models.bert import BertConfig, BertModel
from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer

PAD = 0
VOCAB = 30
TOL = {"rtol": 1e-5, "atol": 1e-5}


def sentences(lengths: list[int], seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(1, VOCAB, (n,), generator=generator).tolist() for n in lengths]


def layer_config(norm_first: bool) -> TransformerConfig:
    return TransformerConfig(
        d_model=16, n_heads=2, d_ff=32, n_layers=2, dropout=0.0, norm_first=norm_first
    )


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_encoder_takes_the_inverse_of_pad_batchs_mask(norm_first: bool) -> None:
    torch.manual_seed(0)
    embed, encoder = nn.Embedding(VOCAB, 16), Encoder(layer_config(norm_first)).eval()
    rows = sentences([5, 2, 4], seed=1)
    ids, attention_mask = pad_batch(rows, PAD)
    with torch.no_grad():
        batched = encoder(embed(ids), key_padding_mask=~attention_mask).hidden
        for i, row in enumerate(rows):
            alone = encoder(embed(torch.tensor([row]))).hidden[0]
            torch.testing.assert_close(batched[i, : len(row)], alone, **TOL)
        # The mistake the convention guards against: the longest row becomes all padding,
        # which is said out loud, and the answers change.
        with pytest.warns(UserWarning, match=r"row\(s\) \[0\] as padding.*~ turns one"):
            wrong = encoder(embed(ids), key_padding_mask=attention_mask).hidden
    assert not torch.allclose(wrong[1, :2], batched[1, :2], **TOL)


def test_bert_warns_about_an_inverted_attention_mask() -> None:
    config = BertConfig(vocab_size=VOCAB, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=16)
    ids, attention_mask = pad_batch(sentences([4, 2], seed=9), PAD)
    with pytest.warns(UserWarning, match=r"marks every key of row\(s\) \[0\] as padding"):
        BertModel(config).eval()(ids, ~attention_mask)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoder_takes_the_inverse_of_both_masks(norm_first: bool) -> None:
    torch.manual_seed(0)
    embed, decoder = nn.Embedding(VOCAB, 16), Decoder(layer_config(norm_first)).eval()
    src_rows, tgt_rows = sentences([3, 6, 1], seed=2), sentences([4, 1, 5], seed=3)
    src, src_mask = pad_batch(src_rows, PAD)
    tgt, tgt_mask = pad_batch(tgt_rows, PAD)
    memory = torch.randn(3, src.shape[1], 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        batched = decoder(
            embed(tgt),
            memory,
            tgt_key_padding_mask=~tgt_mask,
            memory_key_padding_mask=~src_mask,
        ).hidden
        for i, (s, t) in enumerate(zip(src_rows, tgt_rows)):
            alone = decoder(embed(torch.tensor([t])), memory[i : i + 1, : len(s)]).hidden[0]
            torch.testing.assert_close(batched[i, : len(t)], alone, **TOL)


def test_translator_derives_its_masks_from_pad_id() -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, pad_id=PAD, max_len=16, d_model=16,
        n_heads=2, d_ff=32, n_encoder_layers=2, n_decoder_layers=2, dropout=0.0,
    )  # fmt: skip
    model = Transformer(config).eval()
    src_rows, tgt_rows = sentences([6, 2, 4], seed=5), sentences([3, 5, 1], seed=6)
    src, _ = pad_batch(src_rows, PAD)
    tgt, _ = pad_batch(tgt_rows, PAD)
    with torch.no_grad():
        batched = model(src, tgt)
        for i, (s, t) in enumerate(zip(src_rows, tgt_rows)):
            alone = model(torch.tensor([s]), torch.tensor([t]))[0]
            torch.testing.assert_close(batched[i, : len(t)], alone, **TOL)


@pytest.mark.parametrize("as_int", [False, True], ids=["bool", "0/1 ints"])
def test_bert_takes_pad_batchs_mask_as_it_is(as_int: bool) -> None:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=16)
    bert = BertModel(config).eval()
    rows = sentences([7, 3, 5], seed=7)
    batch = PadCollator(PAD)([{"input_ids": row} for row in rows])
    mask = batch["attention_mask"].long() if as_int else batch["attention_mask"]
    with torch.no_grad():
        batched = bert(batch["input_ids"], mask).hidden
        for i, row in enumerate(rows):
            alone = bert(torch.tensor([row])).hidden[0]
            torch.testing.assert_close(batched[i, : len(row)], alone, **TOL)


def test_layers_refuse_a_mask_passed_by_position() -> None:
    """Which mask is meant must be spelled out: a positional mask is a TypeError."""
    encoder = Encoder(layer_config(False))
    ids, attention_mask = pad_batch(sentences([3, 1], seed=8), PAD)
    x = torch.randn(*ids.shape, 16)
    with pytest.raises(TypeError, match="positional"):
        encoder(x, attention_mask)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        Decoder(layer_config(False))(x, x, attention_mask)  # type: ignore[misc]
