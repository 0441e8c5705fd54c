"""BERT's 80/10/10 masking: proportions, special tokens, labels, reproducibility, errors."""

from __future__ import annotations

import pytest
import torch

from scratchformer.mlm import IGNORE_INDEX, MaskingConfig, mask_tokens, special_tokens_mask

VOCAB, PAD, CLS, SEP, MASK = 1000, 0, 1, 2, 3


def padded_batch(generator: torch.Generator, batch: int = 64, seq: int = 128) -> torch.Tensor:
    """``[CLS] words [SEP] [PAD]...`` rows of random lengths; words never use a special id."""
    ids = torch.randint(4, VOCAB, (batch, seq), generator=generator)
    lengths = torch.randint(3, seq + 1, (batch,), generator=generator)
    positions = torch.arange(seq)[None, :]
    ids[:, 0] = CLS
    ids[positions == lengths[:, None] - 1] = SEP
    return ids.masked_fill(positions >= lengths[:, None], PAD)


def masked(ids: torch.Tensor, seed: int = 0, config: MaskingConfig | None = None):
    special = special_tokens_mask(ids, [PAD, CLS, SEP])
    return mask_tokens(
        ids,
        special,
        mask_id=MASK,
        vocab_size=VOCAB,
        config=config,
        generator=torch.Generator().manual_seed(seed),
    )


def test_special_tokens_mask_marks_exactly_the_given_ids():
    ids = torch.tensor([[1, 5, 2, 0], [1, 2, 0, 0]])
    assert special_tokens_mask(ids, [0, 1, 2]).tolist() == [
        [True, False, True, True],
        [True, True, True, True],
    ]


def test_proportions_follow_the_80_10_10_rule():
    ids = padded_batch(torch.Generator().manual_seed(0), batch=256)
    out = masked(ids, seed=1)
    selected = out.labels != IGNORE_INDEX
    ordinary = ~special_tokens_mask(ids, [PAD, CLS, SEP])
    n_selected = int(selected.sum())
    assert n_selected / int(ordinary.sum()) == pytest.approx(0.15, abs=0.01)
    became_mask = (out.input_ids == MASK) & selected
    unchanged = (out.input_ids == ids) & selected
    changed_to_other = selected & ~became_mask & ~unchanged
    assert int(became_mask.sum()) / n_selected == pytest.approx(0.8, abs=0.02)
    # A random replacement hits the original id 1/VOCAB of the time: within the bounds.
    assert int(changed_to_other.sum()) / n_selected == pytest.approx(0.1, abs=0.015)
    assert int(unchanged.sum()) / n_selected == pytest.approx(0.1, abs=0.015)


def test_special_and_padding_tokens_are_never_selected_or_changed():
    ids = padded_batch(torch.Generator().manual_seed(2))
    special = special_tokens_mask(ids, [PAD, CLS, SEP])
    out = masked(ids, config=MaskingConfig(mlm_probability=1.0))
    assert torch.equal(out.input_ids[special], ids[special])
    assert bool((out.labels[special] == IGNORE_INDEX).all())
    assert bool((out.labels[~special] != IGNORE_INDEX).all())  # probability 1: all others


def test_labels_hold_the_original_ids_exactly_where_selected():
    ids = padded_batch(torch.Generator().manual_seed(3))
    out = masked(ids)
    selected = out.labels != IGNORE_INDEX
    assert torch.equal(out.labels[selected], ids[selected])
    assert torch.equal(out.input_ids[~selected], ids[~selected])  # nothing else is touched
    assert int(out.input_ids.min()) >= 0 and int(out.input_ids.max()) < VOCAB


def test_input_is_not_modified_and_same_generator_state_gives_same_masking():
    ids = padded_batch(torch.Generator().manual_seed(4))
    before = ids.clone()
    first, second, other = masked(ids, seed=5), masked(ids, seed=5), masked(ids, seed=6)
    assert torch.equal(ids, before)
    assert torch.equal(first.input_ids, second.input_ids) and torch.equal(
        first.labels, second.labels
    )
    assert not torch.equal(first.labels, other.labels)


def test_config_shares_are_respected():
    ids = padded_batch(torch.Generator().manual_seed(7), batch=128)
    all_mask = masked(
        ids, config=MaskingConfig(mlm_probability=0.5, mask_fraction=1.0, random_fraction=0.0)
    )
    selected = all_mask.labels != IGNORE_INDEX
    assert bool((all_mask.input_ids[selected] == MASK).all())
    keep = masked(ids, config=MaskingConfig(mask_fraction=0.0, random_fraction=0.0))
    assert torch.equal(keep.input_ids, ids) and bool((keep.labels != IGNORE_INDEX).any())
    none = masked(ids, config=MaskingConfig(mlm_probability=0.0))
    assert bool((none.labels == IGNORE_INDEX).all()) and torch.equal(none.input_ids, ids)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mlm_probability": 1.5}, "mlm_probability must lie in"),
        ({"mask_fraction": 0.8, "random_fraction": 0.3}, "exceeds 1"),
    ],
)
def test_bad_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskingConfig(**kwargs)


def test_bad_inputs_are_rejected():
    ids = torch.tensor([[1, 5, 2]])
    special = special_tokens_mask(ids, [0, 1, 2])
    with pytest.raises(ValueError, match="\\(batch, seq\\)"):
        mask_tokens(ids[0], special[0], mask_id=MASK, vocab_size=VOCAB)
    with pytest.raises(TypeError, match="integer token ids"):
        mask_tokens(ids.float(), special, mask_id=MASK, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="special_mask must be a bool tensor"):
        mask_tokens(ids, special.long(), mask_id=MASK, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="mask_id=10"):
        mask_tokens(ids, special, mask_id=10, vocab_size=6)
    with pytest.raises(ValueError, match="outside the vocabulary \\[0, 5\\)"):
        mask_tokens(ids, special, mask_id=3, vocab_size=5)
