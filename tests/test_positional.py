"""scratchformer.positional: the paper's formula, the relative-offset property, the modules."""

from __future__ import annotations

import math

import pytest
import torch

from scratchformer.attention import AttentionConfig, MultiHeadAttention
from scratchformer.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    relative_offset_matrix,
    sinusoidal_encoding,
)


def paper_encoding(max_len: int, d_model: int) -> list[list[float]]:
    """Section 3.5 of the paper, one element at a time."""
    table = []
    for pos in range(max_len):
        row = []
        for dim in range(d_model):
            i = dim // 2
            angle = pos / 10000 ** (2 * i / d_model)
            row.append(math.sin(angle) if dim % 2 == 0 else math.cos(angle))
        table.append(row)
    return table


@pytest.mark.parametrize(("max_len", "d_model"), [(1, 2), (7, 4), (50, 16), (128, 64)])
def test_sinusoidal_encoding_matches_the_paper_elementwise(max_len: int, d_model: int) -> None:
    expected = torch.tensor(paper_encoding(max_len, d_model), dtype=torch.float64)
    exact = sinusoidal_encoding(max_len, d_model, dtype=torch.float64)
    torch.testing.assert_close(exact, expected, rtol=0, atol=1e-12)
    default = sinusoidal_encoding(max_len, d_model)
    assert default.dtype == torch.float32
    torch.testing.assert_close(default, expected.float(), rtol=0, atol=1e-6)


def test_first_row_and_first_pair() -> None:
    pe = sinusoidal_encoding(10, 8, dtype=torch.float64)
    assert pe[0].tolist() == [0.0, 1.0] * 4  # sin 0, cos 0
    positions = torch.arange(10, dtype=torch.float64)
    torch.testing.assert_close(pe[:, 0], torch.sin(positions))  # omega_0 = 1
    torch.testing.assert_close(pe[:, 1], torch.cos(positions))


@pytest.mark.parametrize("k", [-7, -1, 0, 1, 3, 25])
def test_relative_offset_matrix_shifts_every_position(k: int) -> None:
    d_model, max_len = 16, 60
    pe = sinusoidal_encoding(max_len, d_model, dtype=torch.float64)
    m = relative_offset_matrix(k, d_model)
    positions = torch.arange(max(0, -k), min(max_len, max_len - k))
    torch.testing.assert_close(pe[positions] @ m.T, pe[positions + k], rtol=0, atol=1e-10)
    torch.testing.assert_close(m @ pe[positions[3]], pe[positions[3] + k], rtol=0, atol=1e-10)
    torch.testing.assert_close(m @ m.T, torch.eye(d_model, dtype=torch.float64))  # a rotation


def test_relative_offset_matrix_is_block_diagonal_and_composes() -> None:
    m = relative_offset_matrix(2, 8)
    block_mask = torch.block_diag(*[torch.ones(2, 2)] * 4).bool()
    assert torch.all(m[~block_mask] == 0)
    torch.testing.assert_close(
        relative_offset_matrix(2, 8) @ relative_offset_matrix(3, 8), relative_offset_matrix(5, 8)
    )


def test_sinusoidal_module_adds_the_table_and_saves_nothing() -> None:
    module = SinusoidalPositionalEncoding(max_len=20, d_model=8)
    x = torch.randn(3, 11, 8)
    torch.testing.assert_close(module(x), x + sinusoidal_encoding(20, 8)[:11])
    assert list(module.parameters()) == [] and module.state_dict() == {}


def test_learned_module_adds_its_weight_and_learns() -> None:
    torch.manual_seed(0)
    module = LearnedPositionalEmbedding(max_len=20, d_model=8)
    assert module.weight.shape == (20, 8)
    x = torch.randn(3, 5, 8)
    out = module(x)
    torch.testing.assert_close(out, x + module.weight[:5])
    out.sum().backward()
    assert torch.all(module.weight.grad[:5] == 3) and torch.all(module.weight.grad[5:] == 0)


def test_positions_break_permutation_equivariance() -> None:
    """Shuffling tokens shuffles attention outputs alike, unless positions were added."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(AttentionConfig(16, 4))
    positions = SinusoidalPositionalEncoding(max_len=10, d_model=16)
    x = torch.randn(1, 6, 16)
    perm = torch.tensor([2, 0, 1, 5, 3, 4])

    def attend(tokens: torch.Tensor) -> torch.Tensor:
        return attention(tokens, tokens, tokens)[0]

    torch.testing.assert_close(attend(x[:, perm]), attend(x)[:, perm])
    with_pos, shuffled_with_pos = attend(positions(x)), attend(positions(x[:, perm]))
    assert not torch.allclose(shuffled_with_pos, with_pos[:, perm], atol=1e-3)


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEmbedding])
def test_too_long_input_names_both_lengths(cls: type) -> None:
    module = cls(max_len=10, d_model=8)
    with pytest.raises(
        ValueError, match=rf"sequence length 12 exceeds max_len 10 of {cls.__name__}"
    ):
        module(torch.zeros(2, 12, 8))
    with pytest.raises(ValueError, match=r"\(batch, seq, d_model=8\), got \(2, 4, 6\)"):
        module(torch.zeros(2, 4, 6))


def test_odd_d_model_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"d_model must be even and >= 2, got 7"):
        sinusoidal_encoding(10, 7)
    with pytest.raises(ValueError, match=r"d_model must be even"):
        relative_offset_matrix(1, 5)
