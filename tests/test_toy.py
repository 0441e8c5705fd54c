"""scratchformer.toy: the batch layout, and a Transformer that really learns copy and reverse."""

from __future__ import annotations

import pytest
import torch

from scratchformer.models import Transformer
from scratchformer.toy import (
    BOS_ID,
    EOS_ID,
    N_SPECIAL,
    PAD_ID,
    ToyDataConfig,
    ToyTrainConfig,
    make_batch,
    make_copy_batch,
    make_reverse_batch,
    sequence_accuracy,
    toy_model_config,
)
from scratchformer.train import train_toy


def unpadded(row: torch.Tensor) -> list[int]:
    return [t for t in row.tolist() if t != PAD_ID]


@pytest.mark.parametrize(
    ("maker", "answer"), [(make_copy_batch, lambda s: s), (make_reverse_batch, lambda s: s[::-1])]
)
def test_batch_layout(maker, answer) -> None:  # type: ignore[no-untyped-def]
    data = ToyDataConfig(vocab_size=9, min_len=2, max_len=6)
    batch = maker(50, data, torch.Generator().manual_seed(0))
    width = batch.src.shape[1]
    assert batch.tgt_in.shape == batch.tgt_out.shape == (50, width + 1)
    assert all(t.dtype == torch.long for t in batch)
    lengths = set()
    for src, tgt_in, tgt_out in zip(*batch):
        sequence = unpadded(src)
        lengths.add(len(sequence))
        assert all(N_SPECIAL <= t < 9 for t in sequence)
        assert src.tolist()[: len(sequence)] == sequence  # padding on the right only
        assert unpadded(tgt_in) == [BOS_ID, *answer(sequence)]
        assert unpadded(tgt_out) == [*answer(sequence), EOS_ID]
        n = len(sequence)
        assert tgt_in[1 : n + 1].tolist() == tgt_out[:n].tolist()  # shifted by one
    assert lengths == set(range(2, 7))


def test_batches_are_reproducible_from_the_generator() -> None:
    first = make_reverse_batch(8, generator=torch.Generator().manual_seed(3))
    second = make_reverse_batch(8, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_bad_toy_configs() -> None:
    with pytest.raises(ValueError, match=r"vocab_size must exceed the 3 special ids, got 3"):
        ToyDataConfig(vocab_size=3)
    with pytest.raises(ValueError, match=r"min_len=5, max_len=4"):
        ToyDataConfig(min_len=5, max_len=4)
    with pytest.raises(ValueError, match=r"task must be one of \['copy', 'reverse'\], got 'sort'"):
        ToyTrainConfig(task="sort")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"model must use pad_id=0"):
        train_toy(Transformer(toy_model_config(pad_id=2)))


@pytest.mark.slow
@pytest.mark.parametrize("task", ["copy", "reverse"])
def test_transformer_learns_the_task_with_greedy_decoding(task: str) -> None:
    """Default sizes: a 2+2-layer, d_model 64 model, 300 steps of 64 sequences of length 1..10."""
    config = ToyTrainConfig(task=task)  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = Transformer(toy_model_config(config.data))
    losses = train_toy(model, config)
    assert len(losses) == config.steps and losses[-1] < 0.1 * losses[0]
    held_out = make_batch(config, 500, torch.Generator().manual_seed(1234))
    assert sequence_accuracy(model, held_out) >= 0.99
