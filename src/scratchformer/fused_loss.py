"""The output layer and the cross-entropy as one step, for training language models.

A language model ends with ``logits = hidden @ W.T`` over the whole vocabulary and the
cross-entropy of those logits. Written as two steps, autograd keeps ``(tokens, vocab)``
tensors alive three times over (the logits, their log-softmax, and the gradient it builds
in the backward pass) and walks each of them in memory several times. For GPT-2's 50,257
tokens that is most of a small model's training step.

:func:`linear_cross_entropy` computes the same loss and the same gradients with one
``(rows, vocab)`` buffer. The gradient of the mean cross-entropy with respect to the
logits is known in closed form::

    d loss / d logits = (softmax(logits) - one_hot(target)) / n_counted

so the forward pass turns the logits into that gradient in place, right after reading off
the loss, and multiplies it into the two gradients it feeds::

    d loss / d hidden = G @ W            (tokens, d_model)
    d loss / d W      = G.T @ hidden     (vocab, d_model)

The backward pass then only scales those, in place, by the incoming gradient (``1`` for a loss
that is back-propagated directly, the loss scale under fp16 mixed precision); a second backward
pass through the same graph (``retain_graph=True``) computes them again. The work is done in
chunks of rows, so a long batch never holds more than :data:`CHUNK_ELEMENTS` logits at once.
``tests/test_fused_loss.py`` checks the loss and both gradients against
``F.cross_entropy(F.linear(hidden, W), targets)``.
"""

from __future__ import annotations

from typing import Any

import torch

from scratchformer.functional import validate_targets

CHUNK_ELEMENTS = 2**26
"""The most logits (rows x vocabulary) held at once: 256 MiB in float32."""


def _loss_and_gradients(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int,
    with_gradients: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The mean loss of ``hidden @ weight.T`` ``(rows, d_model) @ (d_model, vocab)``, and
    (``with_gradients``) its gradients with respect to ``hidden`` and ``weight``."""
    counted = targets != ignore_index  # (rows,)
    safe_targets = torch.where(counted, targets, 0).unsqueeze(-1)  # (rows, 1)
    per_row = counted / counted.sum()  # each counted row's share of the mean
    # float32 at least: half-precision logits (under autocast) are widened first
    loss_dtype = torch.promote_types(torch.promote_types(hidden.dtype, weight.dtype), torch.float32)
    total = torch.zeros((), dtype=loss_dtype, device=hidden.device)
    grad_hidden = torch.empty_like(hidden) if with_gradients else None
    grad_weight: torch.Tensor | None = None
    rows = max(1, CHUNK_ELEMENTS // weight.shape[0])
    for start in range(0, hidden.shape[0], rows):
        chunk = slice(start, start + rows)
        logits = (hidden[chunk] @ weight.T).to(loss_dtype)  # (rows, vocab)
        # one fused pass; in place on the CPU, where torch's kernel allows it, which
        # spares a second (rows, vocab) buffer
        in_place = logits if logits.device.type == "cpu" else None
        log_probs = torch.log_softmax(logits, dim=-1, out=in_place)
        true_log_prob = log_probs.gather(-1, safe_targets[chunk]).squeeze(-1)  # (rows,)
        share = per_row[chunk].unsqueeze(-1)  # (rows, 1)
        total -= (true_log_prob * share.squeeze(-1)).sum()
        if grad_hidden is None:
            continue
        # the log-probabilities become softmax - one_hot in place: d loss / d logits
        # up to each row's share of the mean, which is applied to the small factors
        gradient = log_probs.exp_()
        gradient.scatter_add_(
            -1, safe_targets[chunk], torch.full_like(true_log_prob, -1.0)[:, None]
        )
        gradient = gradient.to(hidden.dtype)
        grad_hidden[chunk] = (gradient @ weight) * share
        shared_hidden = hidden[chunk] * share  # (rows, d_model)
        if grad_weight is None:
            grad_weight = (gradient.T @ shared_hidden).to(weight.dtype)  # (vocab, d_model)
        else:
            grad_weight.addmm_(gradient.T, shared_hidden)
    if grad_hidden is None or grad_weight is None:
        return total, None
    return total, (grad_hidden, grad_weight)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T``; gradients computed in the forward pass."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        ignore_index: int,
        with_gradients: bool,
    ) -> torch.Tensor:
        loss, gradients = _loss_and_gradients(hidden, weight, targets, ignore_index, with_gradients)
        # the gradients are handed to the first backward pass, which scales them in place;
        # the inputs stay (by reference) for a second pass through a kept graph
        ctx.gradients = gradients
        ctx.ignore_index = ignore_index
        ctx.save_for_backward(hidden, weight, targets)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():  # autograd records the backward pass: create_graph=True
            raise RuntimeError(
                "linear_cross_entropy has no second derivative: it computes its gradients in "
                "closed form, without a graph, so differentiating them again would silently "
                "miss every term through the loss. For create_graph=True (a gradient penalty, "
                "higher-order gradients) use F.cross_entropy(F.linear(hidden, weight), targets)."
            )
        # only reached when the forward pass computed the gradients: with grad enabled and
        # an input that needs one, exactly when autograd records the call
        if ctx.gradients is None:  # a second pass through a graph kept with retain_graph=True
            hidden, weight, targets = ctx.saved_tensors
            _, gradients = _loss_and_gradients(hidden, weight, targets, ctx.ignore_index, True)
        else:
            gradients, ctx.gradients = ctx.gradients, None
        assert gradients is not None  # computed whenever autograd records the call
        grad_hidden, grad_weight = gradients
        # in place: the buffers are this pass's alone, which spares a (vocab, d_model) copy
        return grad_hidden.mul_(grad_loss), grad_weight.mul_(grad_loss), None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Mean cross-entropy of the logits ``hidden @ weight.T`` against ``targets``, without
    materialising the logits' gradient separately (see the module docstring).

    Equal, in value and in both gradients, to
    ``cross_entropy(F.linear(hidden, weight), targets, ignore_index)``; faster and lighter
    when the vocabulary is large.

    Args:
        hidden: ``(batch, seq, d_model)`` or ``(tokens, d_model)`` final hidden states.
        weight: ``(vocab, d_model)`` the output layer (a language model's tied embedding).
        targets: ``(batch, seq)`` or ``(tokens,)`` integer token ids in ``[0, vocab)``, or
            ``ignore_index`` for positions to leave out of the mean.
        ignore_index: target value marking positions to skip.

    Returns:
        The scalar mean loss in nats, in float32 or wider, also under autocast (``nan`` if
        every position is ignored, like torch).

    Raises:
        TypeError, ValueError, IndexError: for tensors of the wrong kind, shapes that do not
            fit together, no positions at all, or targets outside the vocabulary (see
            :func:`~scratchformer.functional.validate_targets`).
        RuntimeError: from the backward pass, when it is asked for a graph of its own
            (``create_graph=True``): the gradients have no second derivative here.
    """
    if not isinstance(hidden, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("linear_cross_entropy: hidden and weight must both be torch.Tensors.")
    if weight.ndim != 2 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear_cross_entropy: hidden {tuple(hidden.shape)} and weight "
            f"{tuple(weight.shape)} do not fit: weight must be (vocab, d_model) with the "
            "d_model of hidden's last axis."
        )
    if hidden.numel() == 0:
        raise ValueError(
            f"linear_cross_entropy: hidden {tuple(hidden.shape)} holds no positions, and a mean "
            "over no positions has no value; pass at least one token."
        )
    validate_targets(
        "linear_cross_entropy", targets, tuple(hidden.shape[:-1]), weight.shape[0], ignore_index
    )
    with_gradients = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    loss: torch.Tensor = _LinearCrossEntropy.apply(
        hidden.reshape(-1, hidden.shape[-1]),
        weight,
        targets.reshape(-1),
        ignore_index,
        with_gradients,
    )
    return loss


__all__ = ["CHUNK_ELEMENTS", "linear_cross_entropy"]
