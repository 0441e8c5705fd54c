"""The learning-rate schedule of *Attention Is All You Need* (Vaswani et al., 2017, §5.3).

``lr(step) = scale * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)`` for
``step = 1, 2, ...``: it grows linearly for ``warmup`` steps, peaks at
``scale / sqrt(d_model * warmup)``, then decays like ``1 / sqrt(step)``. The warm-up keeps
Adam's first, badly estimated updates small while the post-LN network is fragile; the
slow decay lets training go on as long as there is time. Wider models get smaller rates.
"""

from __future__ import annotations


def noam_learning_rate(step: int, d_model: int, warmup_steps: int, scale: float = 1.0) -> float:
    """The learning rate at optimiser step ``step`` (counted from 1).

    Args:
        step: the step about to be taken, ``>= 1``.
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


__all__ = ["noam_learning_rate"]
