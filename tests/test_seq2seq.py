"""scratchformer.models.seq2seq: wiring, masks, decoding, attention maps and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scratchformer.models import AttentionMaps, Seq2SeqConfig, Transformer

PAD, BOS, EOS = 0, 1, 2


def small_config(**overrides: object) -> Seq2SeqConfig:
    fields: dict[str, object] = {
        "src_vocab_size": 17,
        "tgt_vocab_size": 19,
        "pad_id": PAD,
        "max_len": 12,
        "d_model": 16,
        "n_heads": 4,
        "d_ff": 32,
        "n_encoder_layers": 2,
        "n_decoder_layers": 2,
        "dropout": 0.1,
    }
    fields.update(overrides)
    return Seq2SeqConfig(**fields)  # type: ignore[arg-type]


def model(**overrides: object) -> Transformer:
    torch.manual_seed(0)
    return Transformer(small_config(**overrides)).double().eval()


def tokens(
    batch: int, seq: int, vocab: int, seed: int, lengths: list[int] | None = None
) -> torch.Tensor:
    """Random ids >= 3 (no special ids), right-padded to ``lengths`` if given."""
    ids = torch.randint(3, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))
    if lengths is not None:
        ids[torch.arange(seq)[None, :] >= torch.tensor(lengths)[:, None]] = PAD
    return ids


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_forward_shape_and_encode_decode_agree(norm_first: bool, positional: str) -> None:
    m = model(norm_first=norm_first, positional=positional)
    src, tgt = tokens(3, 6, 17, 0, [6, 2, 4]), tokens(3, 5, 19, 1, [5, 5, 3])
    logits = m(src, tgt)
    assert logits.shape == (3, 5, 19)
    memory = m.encode(src)
    torch.testing.assert_close(m.decode(tgt, memory, src == PAD), logits)


def test_embeddings_are_scaled_by_sqrt_d_model() -> None:
    m = model(dropout=0.0)
    captured = {}
    m.src_positions.register_forward_hook(lambda mod, args, out: captured.update(x=args[0]))
    src = tokens(2, 4, 17, 0)
    m.encode(src)
    torch.testing.assert_close(captured["x"], m.src_embedding(src) * math.sqrt(16))


def test_tied_and_shared_weights() -> None:
    tied = model()
    assert tied.output.weight is tied.tgt_embedding.weight
    assert tied.src_embedding is not tied.tgt_embedding
    untied = model(tie_output=False)
    assert untied.output.weight is not untied.tgt_embedding.weight
    shared = model(share_embeddings=True, tgt_vocab_size=17)
    assert shared.src_embedding is shared.tgt_embedding

    def n_params(m: Transformer) -> int:
        return sum(p.numel() for p in m.parameters())

    assert n_params(untied) - n_params(tied) == 19 * 16
    assert n_params(model(tgt_vocab_size=17)) - n_params(shared) == 17 * 16


def test_source_padding_does_not_change_the_output() -> None:
    m = model()
    src, tgt = tokens(2, 5, 17, 0), tokens(2, 4, 19, 1)
    padded = torch.cat([src, torch.full((2, 4), PAD)], dim=1)
    torch.testing.assert_close(m(padded, tgt), m(src, tgt))


def test_decoder_is_causal() -> None:
    """Changing target token j leaves the logits at positions < j unchanged."""
    m = model()
    src, tgt = tokens(2, 5, 17, 0), tokens(2, 6, 19, 1)
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] + 1 - 3) % 16 + 3
    before, after = m(src, tgt), m(src, changed)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_dropout_only_in_training_mode() -> None:
    m = model()
    src, tgt = tokens(2, 5, 17, 0), tokens(2, 4, 19, 1)
    torch.testing.assert_close(m(src, tgt), m(src, tgt))
    m.train()
    assert not torch.allclose(m(src, tgt), m(src, tgt))


def test_attention_maps_shapes_masks_and_mode() -> None:
    m = model().train()
    src, tgt = tokens(2, 6, 17, 0, [6, 3]), tokens(2, 4, 19, 1)
    maps = m.attention_maps(src, tgt)
    assert isinstance(maps, AttentionMaps) and m.training  # mode restored
    assert [w.shape for w in maps.encoder_self] == [(2, 4, 6, 6)] * 2
    assert [w.shape for w in maps.decoder_self] == [(2, 4, 4, 4)] * 2
    assert [w.shape for w in maps.decoder_cross] == [(2, 4, 4, 6)] * 2
    for cross in maps.decoder_cross:
        assert torch.all(cross[1, :, :, 3:] == 0)  # padded source tokens get no attention
        torch.testing.assert_close(cross.sum(-1), torch.ones(2, 4, 4, dtype=torch.float64))
    assert all(torch.all(w.triu(diagonal=1) == 0) for w in maps.decoder_self)
    assert not any(w.requires_grad for w in maps.decoder_cross)


def manual_greedy(m: Transformer, src: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy decoding by re-running the whole model each step (no early stop)."""
    ys = torch.full((src.shape[0], 1), BOS)
    for _ in range(steps):
        ys = torch.cat([ys, m(src, ys)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ys[:, 1:]


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_decoding_with_a_cache_equals_decoding_the_whole_prefix(norm_first: bool) -> None:
    """One token at a time behind a DecoderCache, with beam search's row reordering halfway:
    every step's logits equal those of a pass over the whole (reordered) prefix."""
    m = model(norm_first=norm_first)
    src = tokens(3, 6, 17, 0, [6, 2, 4])
    memory, mask = m.encode(src), src == PAD
    tgt = torch.cat([torch.full((3, 1), BOS), tokens(3, 6, 19, 1)], dim=1)
    cache = m.decoder_cache()
    for step in range(tgt.shape[1]):
        if step == 3:  # rows swap places, as beams do
            rows = torch.tensor([2, 0, 0])
            tgt, memory, mask = tgt[rows], memory[rows], mask[rows]
            cache.select(rows)
        logits = m.decode(tgt[:, step : step + 1], memory, mask, cache=cache)
        full = m.decode(tgt[:, : step + 1], memory, mask)[:, -1:]
        torch.testing.assert_close(logits, full)
        assert len(cache) == step + 1
    with pytest.raises(ValueError, match="more than the model's max_len"):
        m.decode(tokens(3, 7, 19, 2), memory, mask, cache=cache)


def test_greedy_decode_matches_step_by_step_argmax() -> None:
    m = model(tgt_vocab_size=17)
    with torch.no_grad():
        m.output.bias[EOS] = -1e3  # never stop early, so every row runs all steps
    src = tokens(3, 5, 17, 0, [5, 2, 4])
    out = m.greedy_decode(src, max_len=7, bos_id=BOS, eos_id=EOS)
    assert out.shape == (3, 7)
    assert torch.equal(out, manual_greedy(m, src, 7))


def test_greedy_decode_stops_when_every_row_has_ended() -> None:
    m = model().train()
    with torch.no_grad():
        m.output.bias[EOS] = 1e3  # EOS is always the most likely token
    out = m.greedy_decode(tokens(3, 5, 17, 0), max_len=10, bos_id=BOS, eos_id=EOS)
    assert m.training  # mode restored
    assert out.tolist() == [[EOS]] * 3


def test_greedy_decode_pads_rows_that_finished_early() -> None:
    """With scripted logits: row 0 ends at step 2, row 1 at step 4; row 0 then gets PAD."""
    m = model()
    script = torch.tensor([[5, EOS, 7, 8, 9], [5, 6, 7, EOS, 9]])

    calls = []

    def scripted_decode(
        tgt, memory, memory_key_padding_mask, tgt_key_padding_mask=None, cache=None
    ):  # type: ignore[no-untyped-def]
        calls.append(tgt.shape[1])  # one new token per step, behind the cache
        logits = torch.zeros(2, tgt.shape[1], 19)
        logits[torch.arange(2), -1, script[:, len(calls) - 1]] = 1.0
        return logits

    m.decode = scripted_decode  # type: ignore[method-assign]
    out = m.greedy_decode(tokens(2, 5, 17, 0), max_len=10, bos_id=BOS, eos_id=EOS)
    assert out.tolist() == [[5, EOS, PAD, PAD], [5, 6, 7, EOS]]
    assert calls == [1, 1, 1, 1]


def test_longer_than_max_len_is_a_clear_error() -> None:
    m = model()
    with pytest.raises(ValueError, match=r"src has length 13, more than the model's max_len 12"):
        m(tokens(1, 13, 17, 0), tokens(1, 3, 19, 0))
    with pytest.raises(ValueError, match=r"tgt has length 14, more than the model's max_len 12"):
        m(tokens(1, 3, 17, 0), tokens(1, 14, 19, 0))
    with pytest.raises(ValueError, match=r"max_len must lie in \[1, config.max_len=12\], got 13"):
        m.greedy_decode(tokens(1, 3, 17, 0), max_len=13, bos_id=BOS, eos_id=EOS)


def test_bad_token_ids_and_config_are_clear_errors() -> None:
    m = model()
    with pytest.raises(ValueError, match=r"src holds the id 17, outside the vocabulary \[0, 17\)"):
        bad = tokens(1, 4, 17, 0)
        bad[0, 0] = 17
        m.encode(bad)
    with pytest.raises(TypeError, match=r"src must hold integer token ids"):
        m.encode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"src must have shape \(batch, seq\)"):
        m.encode(torch.zeros(2, 3, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"eos_id=19 is not in the target vocabulary \[0, 19\)"):
        m.greedy_decode(tokens(1, 3, 17, 0), 4, BOS, 19)
    with pytest.raises(ValueError, match=r"d_model=16 is not divisible by n_heads=3"):
        small_config(n_heads=3)
    with pytest.raises(
        ValueError,
        match=r"share_embeddings=True needs src_vocab_size == tgt_vocab_size, got 17 and 19",
    ):
        small_config(share_embeddings=True)
    with pytest.raises(ValueError, match=r"pad_id=17 must be a valid id"):
        small_config(pad_id=17)
    with pytest.raises(ValueError, match=r"positional must be one of \['learned', 'sinusoidal'\]"):
        small_config(positional="rotary")


def test_one_training_step_reduces_the_loss() -> None:
    m = model(dropout=0.0).train()
    src, tgt = tokens(4, 6, 17, 0), tokens(4, 6, 19, 1)
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(m(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None for p in m.parameters())
