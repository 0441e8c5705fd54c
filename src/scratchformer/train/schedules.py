"""Every learning-rate schedule of the course, each a plain function of the step.

A training loop sets ``group["lr"] = schedule(step, ...)`` on each parameter group before
each optimiser step: no scheduler object, nothing hidden. All three start small (a
*warm-up*: Adam's first updates, made from badly estimated moments, stay small while the
network is fragile) and then decay.

* :func:`noam_learning_rate` — *Attention Is All You Need* (Vaswani et al., 2017, §5.3):
  linear growth, then ``1 / sqrt(step)``; chapter 7's translator.
* :func:`cosine_learning_rate` — linear warm-up, then half a cosine down to a floor;
  ``train_lm``'s default and chapter 10's size search (as in nanoGPT and most
  language-model recipes).
* :func:`linear_learning_rate` — linear warm-up, then a straight line down to zero (or a
  floor) at the last step; BERT fine-tuning (Devlin et al., 2019), chapter 6's toy tasks,
  and chapter 10's Shakespeare run, where a straight line to zero beats the cosine for the
  same steps (as Bergsma et al., 2025, found for language models trained for many tokens
  per parameter).
"""

from __future__ import annotations

import math


def noam_learning_rate(step: int, d_model: int, warmup_steps: int, scale: float = 1.0) -> float:
    """``scale * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)``.

    It grows linearly for ``warmup_steps`` steps, peaks at ``scale / sqrt(d_model *
    warmup_steps)``, then decays like ``1 / sqrt(step)``, so training can go on as long as
    there is time. Wider models get smaller rates.

    Args:
        step: the step about to be taken, counted from **1** (as in the paper).
        d_model: the model width.
        warmup_steps: steps of linear growth before the ``1 / sqrt(step)`` decay.
        scale: multiplies the whole curve (the paper uses 1; small models trained for
            few steps often want 1–2).
    """
    if step < 1:
        raise ValueError(f"steps are counted from 1, got step={step}.")
    if d_model < 1 or warmup_steps < 1:
        raise ValueError(
            f"d_model and warmup_steps must be >= 1, got {d_model} and {warmup_steps}."
        )
    return scale * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def cosine_learning_rate(
    step: int, lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps`` steps, then half a cosine from ``lr``
    down to ``lr * min_lr_ratio`` at ``total_steps`` (and that floor after it).

    ``step`` is the step about to be taken, counted from **0**.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    done = min((step - warmup_steps) / decay_steps, 1.0)
    floor = lr * min_lr_ratio
    return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * done))


def linear_learning_rate(
    step: int, lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps`` steps (the first step already takes
    ``lr / warmup_steps``), then a straight line down to ``lr * min_lr_ratio`` at
    ``total_steps`` (by default 0), and that floor after it.

    ``step`` is the step about to be taken, counted from **0**.
    """
    warm = (step + 1) / max(warmup_steps, 1)
    left = max(total_steps - step, 0) / max(total_steps - warmup_steps, 1)  # 1 -> 0
    return lr * min(warm, min_lr_ratio + (1 - min_lr_ratio) * left)


__all__ = ["cosine_learning_rate", "linear_learning_rate", "noam_learning_rate"]
