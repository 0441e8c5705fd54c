"""The optimiser every training loop of the course uses: AdamW with selective weight decay."""

from __future__ import annotations

import torch
from torch import nn


def make_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (``ndim >= 2``) and none on vectors.

    Decaying embeddings and weight matrices regularises; decaying LayerNorm gains and
    biases would only pull them towards 0 for no benefit. Parameters shared between
    modules (tied embeddings) appear once.

    The update runs as one ``torch._foreach_*`` call per operation of AdamW's arithmetic
    over all parameters (``foreach=True``), not PyTorch's CPU default of a Python loop over
    the parameters: the same operations in the same order, so the same weights to the bit,
    with less Python overhead (``bench/gpt2.py`` times the two). GPUs take this path
    anyway.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, foreach=True)


__all__ = ["make_optimizer"]
