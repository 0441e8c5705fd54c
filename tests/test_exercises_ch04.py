"""Every chapter 4 checker accepts its reference and correct reader code, and rejects
plausible wrong solutions with its hint."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from exercise_asserts import assert_rejected_with_hint
from scratchformer.positional import relative_offset_matrix, sinusoidal_encoding
from scratchformer_course import check, get_task
from scratchformer_course.ch04 import rotary_reference


def test_offset_matrix_inputs_include_negative_offsets() -> None:
    task = get_task("ch04.offset_matrix")
    offsets = {task.make_inputs(torch.Generator().manual_seed(t))[0][0] for t in range(task.trials)}
    assert min(offsets) < 0 < max(offsets)


def test_rotary_makes_query_key_products_depend_on_the_offset_only() -> None:
    """The property the exercise is about: <R(q at m), R(k at n)> depends on m - n only."""
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 16, generator=generator, dtype=torch.float64)
    seq = 12
    rq = rotary_reference(q.expand(1, seq, 16).clone())[0]
    rk = rotary_reference(k.expand(1, seq, 16).clone())[0]
    scores = rq @ rk.T  # (seq, seq): query position m, key position n
    for offset in range(-seq + 1, seq):
        diagonal = torch.diagonal(scores, offset=-offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-12)


def test_rotary_leaves_position_zero_unchanged_and_keeps_norms() -> None:
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(1))
    out = rotary_reference(x)
    assert torch.equal(out[:, 0], x[:, 0])
    assert torch.allclose(out.norm(dim=-1), x.norm(dim=-1), atol=1e-5)


# -- plausible wrong solutions ------------------------------------------------------------


def _frequencies(d_model: int) -> torch.Tensor:
    return torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)


def sinusoidal_halves(max_len, d_model):
    """sin in the first half, cos in the second half (a permutation of the paper's layout)."""
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * _frequencies(d_model)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).float()


def sinusoidal_frequency_per_dimension(max_len, d_model):
    """A new frequency for every dimension instead of one per (sin, cos) pair."""
    dims = torch.arange(d_model, dtype=torch.float64)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * torch.pow(
        10000.0, -dims / d_model
    )
    pe = torch.where(dims % 2 == 0, angles.sin(), angles.cos())
    return pe.float()


def sinusoidal_swapped(max_len, d_model):
    return (
        sinusoidal_encoding(max_len, d_model)
        .reshape(max_len, -1, 2)
        .flip(-1)
        .reshape(max_len, d_model)
    )


def offset_matrix_transposed(k, d_model):
    return relative_offset_matrix(k, d_model).T


def offset_matrix_degrees_of_one_pair(k, d_model):
    """Uses the first pair's angle for every block."""
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    c, s = math.cos(k), math.sin(k)
    for i in range(0, d_model, 2):
        m[i : i + 2, i : i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return m


def rotary_halves(x):
    """Pairs feature i with feature i + d/2 (another valid convention, but not this one)."""
    d = x.shape[-1]
    angles = torch.arange(x.shape[1], dtype=torch.float64)[:, None] * _frequencies(d)
    a, b = x[..., : d // 2].double(), x[..., d // 2 :].double()
    return torch.cat(
        [a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()], -1
    ).float()


def rotary_wrong_direction(x):
    return rotary_reference(x.flip(-1)).flip(-1)


WRONG_SOLUTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("scratchformer.positional.sinusoidal_encoding", sinusoidal_halves),
    ("scratchformer.positional.sinusoidal_encoding", sinusoidal_frequency_per_dimension),
    ("scratchformer.positional.sinusoidal_encoding", sinusoidal_swapped),
    ("ch04.offset_matrix", offset_matrix_transposed),
    ("ch04.offset_matrix", offset_matrix_degrees_of_one_pair),
    ("ch04.rotary", rotary_halves),
    ("ch04.rotary", rotary_wrong_direction),
]


@pytest.mark.parametrize(
    ("name", "wrong"), WRONG_SOLUTIONS, ids=lambda v: getattr(v, "__name__", v)
)
def test_wrong_solution_is_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    assert_rejected_with_hint(name, wrong)


# -- correct solutions written differently from the references ----------------------------


def test_correct_reader_solutions_pass() -> None:
    def my_sinusoidal(max_len: int, d_model: int) -> torch.Tensor:
        pe = torch.zeros(max_len, d_model)
        for pos in range(max_len):
            for i in range(d_model // 2):
                angle = pos / 10000 ** (2 * i / d_model)
                pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
        return pe

    def my_offset_matrix(k: int, d_model: int) -> torch.Tensor:
        blocks = []
        for i in range(d_model // 2):
            a = k / 10000 ** (2 * i / d_model)
            blocks.append(torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]))
        return torch.block_diag(*blocks)

    def my_rotary(x: torch.Tensor) -> torch.Tensor:
        _, seq, d = x.shape
        out = torch.empty_like(x)
        for p in range(seq):
            for i in range(d // 2):
                a = p / 10000 ** (2 * i / d)
                c, s = math.cos(a), math.sin(a)
                x0, x1 = x[:, p, 2 * i], x[:, p, 2 * i + 1]
                out[:, p, 2 * i], out[:, p, 2 * i + 1] = x0 * c - x1 * s, x0 * s + x1 * c
        return out

    assert check("scratchformer.positional.sinusoidal_encoding", my_sinusoidal, verbose=False)
    assert check("ch04.offset_matrix", my_offset_matrix, verbose=False)
    assert check("ch04.rotary", my_rotary, verbose=False)
