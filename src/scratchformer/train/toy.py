"""Training on chapter 6's toy tasks (copy, reverse): the smallest complete training loop.

Fresh random batches of :mod:`scratchformer.toy`, teacher forcing, cross-entropy that
ignores padding, Adam with the paper's betas, gradient clipping, and a linear warm-up then
linear decay of the learning rate (:func:`~scratchformer.train.schedules.linear_learning_rate`).
Chapter 6 writes this loop in the open first; this is the same loop, packaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scratchformer.models.seq2seq import Transformer
from scratchformer.toy import PAD_ID, ToyTrainConfig, make_batch
from scratchformer.train.schedules import linear_learning_rate


def train_toy(model: Transformer, config: ToyTrainConfig | None = None) -> list[float]:
    """Train ``model`` on a toy task with teacher forcing; return the loss of every step.

    The loss is the mean cross-entropy of predicting ``tgt_out`` from ``(src, tgt_in)``,
    ignoring padding. Batches go to the model's device (CPU or GPU). Leaves the model in
    training mode.
    """
    config = config if config is not None else ToyTrainConfig()
    if model.config.pad_id != PAD_ID or model.config.tgt_vocab_size < config.data.vocab_size:
        raise ValueError(
            f"the model must use pad_id={PAD_ID} and a target vocabulary of at least "
            f"{config.data.vocab_size} ids; build it with toy_model_config()."
        )
    generator = torch.Generator().manual_seed(config.seed)  # the batches
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    device = next(model.parameters()).device
    model.train()
    losses = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)  # dropout; the caller's random state is left as it was
        for step in range(config.steps):
            for group in optimizer.param_groups:
                group["lr"] = linear_learning_rate(step, config.lr, config.warmup, config.steps)
            batch = make_batch(config, config.batch_size, generator).to(device)
            logits = model(batch.src, batch.tgt_in)
            loss = F.cross_entropy(
                logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD_ID
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
    return losses


__all__ = ["train_toy"]
