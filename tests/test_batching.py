"""Padding token-id sequences into (batch, seq) tensors with a padding mask."""

from __future__ import annotations

import itertools

import datasets
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from scratchformer.batching import (
    PadCollator,
    batches_by_length,
    collate_pairs,
    length_buckets,
    pad_batch,
)


def test_right_padding_shapes_values_and_mask() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [False, False, False]]


def test_left_padding_lines_up_the_last_tokens() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=1, side="left")
    assert ids.tolist() == [[5, 6, 7], [1, 1, 8]]
    assert mask.tolist() == [[True, True, True], [False, False, True]]


def test_max_len_pads_further_and_truncate_cuts() -> None:
    ids, mask = pad_batch([[5, 6]], pad_id=9, max_len=4)
    assert ids.tolist() == [[5, 6, 9, 9]] and mask.sum().item() == 2
    ids, mask = pad_batch([[1, 2, 3, 4, 5], [6]], pad_id=0, max_len=3, truncate=True)
    assert ids.tolist() == [[1, 2, 3], [6, 0, 0]] and mask.all(dim=1).tolist() == [True, False]


def test_accepts_tensors_and_a_pad_id_that_also_occurs_as_a_token() -> None:
    ids, mask = pad_batch([torch.tensor([0, 0]), torch.tensor([3])], pad_id=0)
    assert ids.tolist() == [[0, 0], [3, 0]]
    assert mask.tolist() == [[True, True], [True, False]]  # the mask, not the id, tells


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([], 0), {}, ValueError, "empty batch"),
        (([[1]], -1), {}, ValueError, "pad_id must be a valid token id"),
        (([[1]], 0.5), {}, TypeError, "pad_id must be an int"),
        (([[1]], 0), {"max_len": 0}, ValueError, "max_len must be None or an int >= 1"),
        (([[1, 2, 3]], 0), {"max_len": 2}, ValueError, "sequence 0 has 3 tokens.*truncate=True"),
        (([[1]], 0), {"side": "middle"}, ValueError, "side must be 'right' or 'left'"),
        ((["hello"], 0), {}, TypeError, "sequence 0 is a str.*encode text"),
        (([[1], [2.5]], 0), {}, TypeError, "sequence 1 contains 2.5"),
        (([torch.ones(2, 2, dtype=torch.long)], 0), {}, ValueError, r"shape \(2, 2\)"),
        (([torch.ones(2)], 0), {}, ValueError, "1-D integer token ids"),
    ],
)
def test_bad_input_raises_clear_errors(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        pad_batch(*args, **kwargs)


def test_collator_works_as_dataloader_collate_fn() -> None:
    examples = [{"input_ids": [4, 5, 6], "label": 1}, {"input_ids": [7], "label": 0}]
    loader = DataLoader(examples, batch_size=2, collate_fn=PadCollator(pad_id=0))
    (batch,) = list(loader)
    assert batch["input_ids"].tolist() == [[4, 5, 6], [7, 0, 0]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["label"] == [1, 0]


def test_collator_works_with_datasets_map_batched_and_iter() -> None:
    datasets.disable_progress_bars()
    dataset = datasets.Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6], [7]]})
    padded = dataset.map(PadCollator(pad_id=0, side="left"), batched=True, batch_size=2)
    assert padded["input_ids"] == [[1, 2, 3], [0, 0, 4], [5, 6], [0, 7]]
    assert padded["attention_mask"][1] == [False, False, True]
    first = PadCollator(pad_id=0)(next(dataset.iter(batch_size=3)))
    assert first["input_ids"].shape == (3, 3)


def test_collator_errors() -> None:
    with pytest.raises(ValueError, match="pad_id must be a valid token id"):
        PadCollator(pad_id=-100)
    with pytest.raises(KeyError, match="no column 'input_ids'.*'text'"):
        PadCollator(pad_id=0)([{"text": "raw"}])
    with pytest.raises(ValueError, match="empty batch"):
        PadCollator(pad_id=0)([])


# --- batches of similar length ---------------------------------------------------------


def test_batches_by_length_sorts_then_cuts() -> None:
    assert batches_by_length([3, 1, 4, 2], 3) == [[1, 3, 0], [2]]
    assert batches_by_length([2, 1, 2, 1, 2], 2) == [[1, 3], [0, 2], [4]]  # ties: input order
    assert batches_by_length([], 4) == []
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        batches_by_length([1, 2], 0)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=200),
    max_tokens=st.integers(40, 400),
    seed=st.one_of(st.none(), st.integers(0, 10)),
)
def test_length_buckets_cover_every_example_once_within_budget(lengths, max_tokens, seed) -> None:
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    batches = length_buckets(lengths, max_tokens, generator)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= max_tokens
    if seed is None:  # fixed order: sorted by length, batches as full as the budget allows
        flat = [lengths[i] for batch in batches for i in batch]
        assert flat == sorted(lengths)
        for batch, following in itertools.pairwise(batches):
            assert (len(batch) + 1) * lengths[following[0]] > max_tokens


def test_length_buckets_group_similar_lengths_and_reshuffle_per_seed() -> None:
    lengths = [1 + (i * 7919) % 30 for i in range(600)]
    first = length_buckets(lengths, 120, torch.Generator().manual_seed(0))
    again = length_buckets(lengths, 120, torch.Generator().manual_seed(0))
    other = length_buckets(lengths, 120, torch.Generator().manual_seed(1))
    assert first == again and first != other
    padded = sum(len(b) * max(lengths[i] for i in b) for b in first)
    assert padded < 1.1 * sum(lengths)  # bucketing wastes little on padding
    with pytest.raises(ValueError, match="example 2 has 9 tokens, more than max_tokens=8"):
        length_buckets([3, 4, 9], 8)


# --- sentence pairs ---------------------------------------------------------------------


def test_collate_pairs_shifts_the_target_for_teacher_forcing() -> None:
    batch = collate_pairs([([5, 6, 7], [1, 8, 9, 2]), ([5], [1, 8, 2])], pad_id=0)
    assert batch.src.tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch.tgt_in.tolist() == [[1, 8, 9], [1, 8, 2]]
    assert batch.tgt_out.tolist() == [[8, 9, 2], [8, 2, 0]]
    assert batch.n_tokens == 4 + 5
    with pytest.raises(ValueError, match="at least BOS and EOS"):
        collate_pairs([([5], [1])], pad_id=0)
