"""Checks for chapter 9, "BERT as a service".

Agreement task (the notebook builds it in the open and compares with the package):

* ``scratchformer.serve.batching.group_into_batches`` — ``fn(sizes, max_batch_size)``:
  the batching rule, on random request sizes (some larger than the batch limit).

Exercise tasks: ``ch09.percentile`` (a latency percentile with linear interpolation) and
``ch09.group_by_padded_tokens`` (batches limited by their padded size, ``texts x longest``,
instead of by their number of texts).
"""

from __future__ import annotations

import torch

from scratchformer.serve.batching import group_into_batches
from scratchformer.serve.load import percentile
from scratchformer_course.core import Inputs, Task, random_int, register


def _group_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 0, 12)
    sizes = [random_int(generator, 1, 8) for _ in range(n)]
    return (sizes, random_int(generator, 1, 10)), {}


def _percentile_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 1, 30)
    latencies = (torch.rand(n, generator=generator, dtype=torch.float64) * 0.2).tolist()
    # the edges and the usual suspects first, then any q
    q = [0.0, 50.0, 95.0, 100.0, 99.0][random_int(generator, 0, 4)]
    if random_int(generator, 0, 1):
        q = round(float(torch.rand(1, generator=generator)) * 100, 2)
    return (latencies, q), {}


def group_by_padded_tokens_reference(lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive texts, in order, while ``len(batch) * max(lengths in batch) <= budget``.

    A padded batch costs ``texts x longest`` token positions (every row is padded to the
    longest); a text that alone exceeds ``budget`` still makes a batch of its own.
    """
    batches: list[list[int]] = []
    longest = 0
    for index, length in enumerate(lengths):
        if batches and (len(batches[-1]) + 1) * max(longest, length) <= budget:
            batches[-1].append(index)
            longest = max(longest, length)
        else:
            batches.append([index])
            longest = length
    return batches


def _padded_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 0, 15)
    lengths = [random_int(generator, 1, 40) for _ in range(n)]
    return (lengths, random_int(generator, 8, 120)), {}


AGREEMENT_TASKS = [
    Task(
        name="scratchformer.serve.batching.group_into_batches",
        reference=group_into_batches,
        make_inputs=_group_inputs,
        hint="take whole requests in arrival order; start a new batch when the next request "
        "would take the current one past max_batch_size texts (a request bigger than the "
        "limit makes a batch of its own).",
    ),
]

EXERCISE_TASKS = [
    Task(
        name="ch09.percentile",
        reference=percentile,
        make_inputs=_percentile_inputs,
        hint="sort the values, go to rank q / 100 * (n - 1) and interpolate linearly between "
        "the two values around it (q=0 is the minimum, q=100 the maximum).",
    ),
    Task(
        name="ch09.group_by_padded_tokens",
        reference=group_by_padded_tokens_reference,
        make_inputs=_padded_inputs,
        hint="a batch's cost is (number of texts) x (its longest text), counting the new text; "
        "keep texts in order and never leave one out, even one longer than the budget.",
    ),
]

for _task in AGREEMENT_TASKS + EXERCISE_TASKS:
    register(_task)
