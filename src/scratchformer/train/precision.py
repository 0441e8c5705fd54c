"""Mixed precision on a CUDA GPU, plain float32 elsewhere: one switch for every training loop.

On a recent NVIDIA GPU, matrix products in bfloat16 run several times faster than in
float32 and halve the memory of the activations. ``torch.autocast`` chooses op by op: matrix
products run in the low precision, while softmax, norms and reductions stay in float32.
bfloat16 keeps float32's range, so nothing more is needed. Older GPUs only have float16,
whose narrow range lets small gradients underflow to zero; a gradient scaler multiplies the
loss before the backward pass and divides the gradients after it, skipping any step whose
gradients overflowed. On the CPU the loops stay in float32: for models this small, CPU
autocast costs more in conversions than it saves.

The losses are always computed from float32 logits (``logits.float()``), and the weights
stay float32 throughout: only the computation inside the forward pass is mixed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Literal

import torch
from torch import nn

Precision = Literal["auto", "float32", "bfloat16", "float16"]
"""``"auto"``: bfloat16 on a CUDA GPU that has it, else float16 on CUDA, else float32."""

PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16", "float16")


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The dtype autocast runs the forward pass in on ``device`` (``None``: plain float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None if precision == "float32" else getattr(torch, precision)


class MixedPrecision:
    """The forward context and the optimiser step of one training run.

    Use it as::

        amp = MixedPrecision(config.precision, device)
        with amp.autocast():
            loss = loss_of(model, batch)
        amp.step(loss, optimizer, model.parameters(), grad_clip)

    With float32 (the CPU default) this is exactly ``zero_grad``, ``backward``, clipping
    and ``optimizer.step()``.
    """

    def __init__(self, precision: Precision, device: torch.device) -> None:
        self.device_type = device.type
        self.dtype = autocast_dtype(precision, device)
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """Run the forward pass (and the loss) in this context."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter] | Iterator[nn.Parameter],
        grad_clip: float | None,
    ) -> None:
        """Backward pass, gradient clipping (on the true, unscaled gradients) and step."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(list(parameters), grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()


__all__ = ["PRECISIONS", "MixedPrecision", "Precision", "autocast_dtype"]
