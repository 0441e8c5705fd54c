"""The fused output layer + cross-entropy equals the two steps written apart, in value and
in both gradients, and GPT-2's training loss built on it equals the loss of its logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scratchformer import fused_loss
from scratchformer.fused_loss import linear_cross_entropy
from scratchformer.models import GPT2, GPT2Config
from scratchformer.train.lm import lm_loss

VOCAB, WIDTH = 37, 8


def inputs(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*shape, WIDTH, generator=generator, requires_grad=True)
    weight = torch.randn(VOCAB, WIDTH, generator=generator, requires_grad=True)
    targets = torch.randint(0, VOCAB, shape, generator=generator)
    return hidden, weight, targets


def value_and_gradients(loss: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [loss.detach(), *torch.autograd.grad(loss, tensors)]


@pytest.mark.parametrize("shape", [(11,), (3, 7)])
@pytest.mark.parametrize("chunk_rows", [None, 1, 4])
def test_equals_linear_then_cross_entropy(shape, chunk_rows, monkeypatch) -> None:
    """Same loss and gradients as ``F.cross_entropy(F.linear(...))``, with ignored positions,
    whether the rows fit one chunk or several (4 does not divide 11 or 21)."""
    if chunk_rows is not None:
        monkeypatch.setattr(fused_loss, "CHUNK_ELEMENTS", chunk_rows * VOCAB)
    hidden, weight, targets = inputs(shape)
    targets.view(-1)[::5] = -100
    expected = F.cross_entropy(
        F.linear(hidden, weight).reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100
    )
    got = linear_cross_entropy(hidden, weight, targets)
    for a, b in zip(
        value_and_gradients(got, hidden, weight),
        value_and_gradients(expected, hidden, weight),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_gradients_pass_gradcheck_and_scale_with_the_incoming_gradient() -> None:
    """In float64, autograd's numerical check passes (it back-propagates random scales,
    as a loss scaler would), and a loss used twice gets twice the gradient."""
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(5, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    weight = torch.randn(6, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    targets = torch.tensor([0, 5, -100, 2, 2])
    assert torch.autograd.gradcheck(
        lambda h, w: linear_cross_entropy(h, w, targets), (hidden, weight)
    )
    once = torch.autograd.grad(linear_cross_entropy(hidden, weight, targets), weight)[0]
    loss = linear_cross_entropy(hidden, weight, targets)
    twice = torch.autograd.grad(loss + loss, weight)[0]
    torch.testing.assert_close(twice, 2 * once)


def test_a_kept_graph_gives_the_same_gradients_again() -> None:
    """Back-propagating twice through one graph (``retain_graph=True``) gives the same
    gradients, scaled by each pass's incoming gradient, even after the first pass's results
    were changed in place: that pass hands over the buffers the forward pass filled, and
    the second computes its own."""
    hidden, weight, targets = inputs((3, 7))
    targets[0, ::2] = -100
    loss = linear_cross_entropy(hidden, weight, targets)
    first = torch.autograd.grad(loss, (hidden, weight), retain_graph=True)
    expected = [gradient.clone() for gradient in first]
    for gradient in first:
        gradient.zero_()
    second = torch.autograd.grad(3 * loss, (hidden, weight))
    for got, want in zip(second, expected, strict=True):
        torch.testing.assert_close(got, 3 * want)


def test_a_second_derivative_is_refused_not_silently_incomplete() -> None:
    """The gradients are computed in closed form in the forward pass, without a graph of
    their own, so differentiating them again (``create_graph=True``, as a gradient penalty
    does) would drop every term that passes through the loss; it raises instead."""
    hidden, weight, targets = inputs((5,))
    loss = linear_cross_entropy(hidden, weight, targets)
    with pytest.raises(RuntimeError, match="no second derivative.*F.cross_entropy"):
        torch.autograd.grad(loss, hidden, create_graph=True)


def test_without_gradients_only_the_loss_is_computed() -> None:
    """Under ``no_grad`` the value is the same and nothing is recorded."""
    hidden, weight, targets = inputs((9,))
    with torch.no_grad():
        got = linear_cross_entropy(hidden, weight, targets)
    assert not got.requires_grad
    torch.testing.assert_close(got, F.cross_entropy(hidden @ weight.T, targets).detach())


def test_every_position_ignored_gives_nan_like_torch() -> None:
    hidden, weight, _ = inputs((4,))
    ignored = torch.full((4,), -100)
    assert torch.isnan(linear_cross_entropy(hidden, weight, ignored))
    assert torch.isnan(F.cross_entropy(hidden @ weight.T, ignored))


def test_bad_input_gets_a_clear_error() -> None:
    hidden, weight, targets = inputs((4,))
    with pytest.raises(ValueError, match=r"weight must be \(vocab, d_model\)"):
        linear_cross_entropy(hidden, weight[:, :5], targets)
    with pytest.raises(ValueError, match=r"linear_cross_entropy: targets shape \(3,\)"):
        linear_cross_entropy(hidden, weight, targets[:3])
    with pytest.raises(IndexError, match=f"target {VOCAB} is out of range for {VOCAB} classes"):
        linear_cross_entropy(hidden, weight, torch.tensor([0, 1, VOCAB, 2]))
    with pytest.raises(TypeError, match="integer class indices"):
        linear_cross_entropy(hidden, weight, targets.float())
    with pytest.raises(ValueError, match=r"hidden \(0, 8\) holds no positions"):
        linear_cross_entropy(hidden[:0], weight, targets[:0])


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_gpt2_loss_equals_the_cross_entropy_of_its_logits(dropout) -> None:
    """``GPT2.loss`` (what ``train_lm`` trains on) gives the loss of ``model(ids).logits`` and
    the same gradient for every parameter, in training mode with the same dropout masks."""
    config = GPT2Config(
        vocab_size=50, max_len=16, d_model=16, n_layers=2, n_heads=2, dropout=dropout
    )
    torch.manual_seed(0)
    model = GPT2(config).train()
    ids = torch.randint(0, 50, (3, 9))
    inputs, targets = ids[:, :-1], ids[:, 1:]
    results = []
    for loss_of in (
        lambda: F.cross_entropy(model(inputs).logits.flatten(0, 1), targets.flatten()),
        lambda: model.loss(inputs, targets),
        lambda: lm_loss(model, inputs, targets),
    ):
        torch.manual_seed(1)  # the same dropout masks on every side
        loss = loss_of()
        results.append(value_and_gradients(loss, *model.parameters()))
    for got in results[1:]:
        for a, b in zip(got, results[0], strict=True):
            torch.testing.assert_close(a, b)


def test_gpt2_loss_checks_its_inputs() -> None:
    model = GPT2(GPT2Config(vocab_size=50, max_len=8, d_model=16, n_layers=1, n_heads=2))
    with pytest.raises(ValueError, match="context window of 8"):
        model.loss(torch.zeros(1, 9, dtype=torch.long), torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(IndexError, match="target 50 is out of range"):
        model.loss(torch.zeros(1, 4, dtype=torch.long), torch.full((1, 4), 50))
