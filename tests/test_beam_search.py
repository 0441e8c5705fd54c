"""scratchformer.generate for encoder-decoders: greedy search, beam search, sequence scores."""

from __future__ import annotations

import pytest
import torch

from scratchformer.batching import pad_batch
from scratchformer.generate import BeamSearchConfig, beam_search, greedy_search, sequence_log_probs
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.train import Seq2SeqTrainConfig, train_seq2seq

PAD, BOS, EOS = 0, 1, 2
VOCAB = 24


def random_sources(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(2, 9, (1,), generator=generator))
        rows.append(torch.randint(3, VOCAB, (length,), generator=generator).tolist())
    return pad_batch(rows, PAD)[0]


def new_model(seed: int) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(
        Seq2SeqConfig(
            src_vocab_size=VOCAB,
            tgt_vocab_size=VOCAB,
            pad_id=PAD,
            max_len=20,
            d_model=32,
            n_heads=4,
            d_ff=64,
            n_encoder_layers=2,
            n_decoder_layers=2,
            share_embeddings=True,
        )
    ).eval()


@pytest.fixture(scope="module")
def trained() -> Transformer:
    """A model half-trained to sort its input: confident on some tokens, unsure on others."""
    sources = random_sources(400, seed=1)
    pairs = []
    for row in sources.tolist():
        src = [t for t in row if t != PAD]
        pairs.append((src, [BOS, *sorted(src), EOS]))
    model = new_model(0)
    config = Seq2SeqTrainConfig(
        epochs=4, max_tokens=128, warmup_steps=30, lr_scale=0.3, progress=False
    )
    train_seq2seq(model, pairs[:360], pairs[360:], config)
    return model


def models(trained: Transformer) -> list[Transformer]:
    return [trained, new_model(1), new_model(2)]


def test_beam_size_one_is_greedy_search(trained: Transformer) -> None:
    for model in models(trained):
        src = random_sources(32, seed=5)
        greedy = greedy_search(model, src, BOS, EOS, max_len=12)
        beams = beam_search(
            model, src, BeamSearchConfig(BOS, EOS, beam_size=1, max_len=12, length_penalty=0.0)
        )
        for row, hyps in zip(greedy.tolist(), beams):
            assert len(hyps) == 1
            assert hyps[0].tokens == [t for t in row if t != PAD]


def test_beam_search_never_scores_below_greedy(trained: Transformer) -> None:
    for model in models(trained):
        src = random_sources(48, seed=6)
        greedy = greedy_search(model, src, BOS, EOS, max_len=12)
        greedy_scores = sequence_log_probs(model, src, greedy, BOS)
        for k in (2, 4, 8):
            beams = beam_search(
                model, src, BeamSearchConfig(BOS, EOS, beam_size=k, max_len=12, length_penalty=0.0)
            )
            best = torch.tensor([hyps[0].log_prob for hyps in beams])
            assert bool((best >= greedy_scores - 1e-4).all()), k
        if model is trained:  # a random model is near-uniform; the trained one gives room
            assert bool((best > greedy_scores + 1e-3).any())  # for better translations


def test_hypotheses_are_ranked_and_scored_consistently(trained: Transformer) -> None:
    src = random_sources(16, seed=7)
    config = BeamSearchConfig(BOS, EOS, beam_size=4, max_len=12, length_penalty=1.0)
    for source, hyps in zip(src, beam_search(trained, src, config)):
        assert 1 <= len(hyps) <= 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            recomputed = sequence_log_probs(trained, source[None], torch.tensor([h.tokens]), BOS)
            assert h.log_prob == pytest.approx(float(recomputed), abs=1e-4)
            assert h.score == pytest.approx(h.log_prob / ((5 + len(h.tokens)) / 6))


def test_a_batch_decodes_like_its_rows_one_by_one(trained: Transformer) -> None:
    src = random_sources(6, seed=8)  # different lengths: padding must not leak
    config = BeamSearchConfig(BOS, EOS, beam_size=3, max_len=12)
    together = beam_search(trained, src, config)
    for row, hyps in zip(src, together):
        alone = beam_search(trained, row[row != PAD][None], config)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in hyps]


def test_length_penalty_favours_longer_translations(trained: Transformer) -> None:
    src = random_sources(48, seed=9)

    def mean_length(alpha: float) -> float:
        beams = beam_search(
            trained, src, BeamSearchConfig(BOS, EOS, beam_size=4, max_len=12, length_penalty=alpha)
        )
        return sum(len(hyps[0].tokens) for hyps in beams) / len(beams)

    assert mean_length(2.0) >= mean_length(0.0)


def test_bad_input_is_a_clear_error(trained: Transformer) -> None:
    src = random_sources(2, seed=10)
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        BeamSearchConfig(BOS, EOS, beam_size=0)
    with pytest.raises(ValueError, match="length_penalty must be >= 0"):
        BeamSearchConfig(BOS, EOS, length_penalty=-1)
    with pytest.raises(ValueError, match=r"max_len must lie in \[1, config.max_len=20\]"):
        beam_search(trained, src, BeamSearchConfig(BOS, EOS, max_len=21))
    with pytest.raises(ValueError, match="eos_id=99 is not in the target vocabulary"):
        beam_search(trained, src, BeamSearchConfig(BOS, 99, max_len=12))
    with pytest.raises(ValueError, match=r"src is empty \(seq = 0\)"):
        greedy_search(trained, torch.zeros((2, 0), dtype=torch.long), BOS, EOS, 5)
    with pytest.raises(ValueError, match=r"src holds no sentence \(batch = 0\)"):
        greedy_search(trained, torch.zeros((0, 3), dtype=torch.long), BOS, EOS, 5)
    with pytest.raises(TypeError, match=r"src must be a torch.Tensor of token ids.*got list"):
        greedy_search(trained, [[5, 6]], BOS, EOS, 5)  # type: ignore[arg-type]
