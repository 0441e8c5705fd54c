"""Checks for chapter 4, "Position".

Agreement task (the notebook builds it in the open and compares with the package):
``scratchformer.positional.sinusoidal_encoding``.

Exercise tasks: ``ch04.offset_matrix`` (the block-diagonal rotation ``M_k`` with
``PE(pos + k) = M_k PE(pos)``, checked against
:func:`~scratchformer.positional.relative_offset_matrix`) and ``ch04.rotary`` (rotary
position embeddings: rotate each pair of features by an angle proportional to the
position, see :func:`rotary_reference`).
"""

from __future__ import annotations

import torch

from scratchformer.positional import relative_offset_matrix, sinusoidal_encoding
from scratchformer_course.core import Inputs, Task, random_int, register


def _even_width(generator: torch.Generator, largest_pair_count: int) -> int:
    """An even ``d_model`` in ``[2, 2 * largest_pair_count]``."""
    return 2 * random_int(generator, 1, largest_pair_count)


def _sinusoidal_inputs(generator: torch.Generator) -> Inputs:
    return (random_int(generator, 1, 64), _even_width(generator, 32)), {}


def _offset_matrix_inputs(generator: torch.Generator) -> Inputs:
    return (random_int(generator, -20, 20), _even_width(generator, 16)), {}


def rotary_reference(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x`` ``(batch, seq, d_model)``, same shape back.

    The feature pair ``(2i, 2i + 1)`` of the token at position ``p`` is rotated by the angle
    ``p * omega_i`` with ``omega_i = 1 / 10000^(2i / d_model)`` (the sinusoidal encoding's
    frequencies)::

        out[..., 2i]     = x[..., 2i] * cos(p omega_i) - x[..., 2i + 1] * sin(p omega_i)
        out[..., 2i + 1] = x[..., 2i] * sin(p omega_i) + x[..., 2i + 1] * cos(p omega_i)

    Rotating queries and keys this way makes their dot product depend on positions only
    through the offset between them. The angles come from :func:`sinusoidal_encoding`,
    whose even columns are ``sin(p omega_i)`` and odd columns ``cos(p omega_i)``.
    """
    pe = sinusoidal_encoding(x.shape[1], x.shape[2], dtype=torch.float64)
    sin, cos = pe[:, 0::2], pe[:, 1::2]
    even, odd = x[..., 0::2].double(), x[..., 1::2].double()
    out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


def _rotary_inputs(generator: torch.Generator) -> Inputs:
    shape = (random_int(generator, 1, 3), random_int(generator, 1, 40), _even_width(generator, 8))
    return (torch.randn(shape, generator=generator),), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.positional.sinusoidal_encoding",
        reference=sinusoidal_encoding,
        make_inputs=_sinusoidal_inputs,
        hint="column 2i holds sin(pos * w_i) and column 2i+1 cos(pos * w_i), the SAME "
        "w_i = 1 / 10000^(2i / d_model) for both columns of a pair; return (max_len, d_model).",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch04.offset_matrix",
        reference=relative_offset_matrix,
        make_inputs=_offset_matrix_inputs,
        hint="expand sin(a + b) and cos(a + b) with a = pos w_i and b = k w_i: each (sin, cos) "
        "pair mixes only with itself, so M_k is block-diagonal.",
        more_hints=(
            (
                "block i (rows and columns 2i, 2i+1) is [[cos(k w_i), sin(k w_i)], "
                "[-sin(k w_i), cos(k w_i)]]: expand sin(a + b) and cos(a + b) to see the signs."
            ),
        ),
    ),
    Task(
        name="ch04.rotary",
        reference=rotary_reference,
        make_inputs=_rotary_inputs,
        hint="each pair of neighbouring features turns like a 2-D vector, by an angle that grows "
        "with the position and is smaller for later pairs.",
        more_hints=(
            (
                "the angle of pair i at position p is p * w_i with w_i = 1 / 10000^(2i / d_model); "
                "pairs are neighbouring features (2i, 2i+1), not the two halves of the vector."
            ),
        ),
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
