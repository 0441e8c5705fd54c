"""scratchformer.functional against torch's built-ins, plus properties and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_f
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from scratchformer.functional import (
    cross_entropy,
    log_softmax,
    logsumexp,
    perplexity,
    softmax,
    standardize,
)

SCALES = [1.0, 10.0, 1e3, 1e4]
SHAPES = [(7,), (3, 5), (2, 4, 6), (2, 3, 4, 5)]


def random_logits(shape: tuple[int, ...], scale: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator) * scale


def assert_matches(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = 1e-5) -> None:
    """Equal up to float32 rounding, with inf/nan exactly where torch has them."""
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_log_softmax_logsumexp_match_torch(shape: tuple[int, ...], scale: float) -> None:
    for seed in range(4):
        x = random_logits(shape, scale, seed)
        for dim in range(-x.ndim, x.ndim):
            assert_matches(softmax(x, dim=dim), torch.softmax(x, dim=dim))
            assert_matches(log_softmax(x, dim=dim), torch_f.log_softmax(x, dim=dim))
            assert_matches(logsumexp(x, dim=dim), torch.logsumexp(x, dim=dim))
            assert_matches(
                logsumexp(x, dim=dim, keepdim=True), torch.logsumexp(x, dim=dim, keepdim=True)
            )


def test_huge_logits_stay_finite_where_naive_overflows() -> None:
    x = torch.tensor([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -2000.0]])
    naive = x.exp() / x.exp().sum(-1, keepdim=True)
    assert torch.isnan(naive[0]).any()  # exp(1000) = inf in float32, inf / inf = nan
    assert torch.isfinite(softmax(x)).all() and torch.isfinite(log_softmax(x)).all()
    assert_matches(softmax(x), torch.softmax(x, -1))
    assert_matches(logsumexp(x), torch.logsumexp(x, -1))
    # log(softmax) underflows to -inf for the -2000 entry; log_softmax does not.
    assert log_softmax(x)[1, 2].item() == pytest.approx(-1000.0 - math.log1p(math.exp(-1)))


def test_masked_entries_and_fully_masked_rows_match_torch() -> None:
    x = torch.tensor([[0.5, float("-inf"), 2.0], [float("-inf")] * 3])
    assert_matches(softmax(x), torch.softmax(x, -1))  # the fully masked row is nan in both
    assert_matches(log_softmax(x), torch_f.log_softmax(x, -1))
    assert_matches(logsumexp(x), torch.logsumexp(x, -1))
    assert logsumexp(x)[1].item() == float("-inf")


def test_float64_and_temperature_match_torch() -> None:
    x = random_logits((4, 9), 50.0, seed=1).double()
    for temperature in [0.05, 0.3, 1.0, 2.5, 40.0]:
        assert_matches(softmax(x, temperature=temperature), torch.softmax(x / temperature, -1))


def test_gradients_match_torch() -> None:
    x = random_logits((3, 6), 5.0, seed=2)
    pairs = [
        (lambda t: softmax(t, temperature=0.7), lambda t: torch.softmax(t / 0.7, -1)),
        (log_softmax, lambda t: torch_f.log_softmax(t, -1)),
        (logsumexp, lambda t: torch.logsumexp(t, -1)),
        (standardize, lambda t: torch_f.layer_norm(t, (6,))),
    ]
    for ours, theirs in pairs:
        grads = []
        for fn in (ours, theirs):
            leaf = x.clone().requires_grad_(True)
            out = fn(leaf)
            # A fixed random weighting makes the scalar depend on every output entry.
            weights = random_logits(tuple(out.shape), 1.0, seed=3)
            (out * weights).sum().backward()
            grads.append(leaf.grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


@given(
    arrays(np.float64, array_shapes(max_dims=3, max_side=6), elements=st.floats(-1e4, 1e4)),
    st.floats(-100, 100),
)
@settings(max_examples=60, deadline=None)
def test_softmax_is_a_distribution_and_shift_invariant(values: np.ndarray, shift: float) -> None:
    x = torch.from_numpy(values)
    probs = softmax(x)
    assert torch.isfinite(probs).all()
    assert ((probs >= 0) & (probs <= 1)).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(x.shape[:-1], dtype=x.dtype))
    torch.testing.assert_close(softmax(x + shift), probs, rtol=1e-9, atol=1e-12)


@given(arrays(np.float64, (3, 5), elements=st.floats(-1e3, 1e3)))
@settings(max_examples=40, deadline=None)
def test_log_softmax_is_log_of_softmax_and_logsumexp_bounds(values: np.ndarray) -> None:
    x = torch.from_numpy(values)
    torch.testing.assert_close(log_softmax(x).exp(), softmax(x))
    lse = logsumexp(x)
    # max(x) <= logsumexp(x) <= max(x) + log(n): a "soft" maximum.
    assert (lse >= x.amax(-1) - 1e-9).all() and (lse <= x.amax(-1) + math.log(5) + 1e-9).all()


def test_temperature_limits() -> None:
    x = torch.tensor([0.3, 2.0, -1.0, 1.9])
    cold = softmax(x, temperature=1e-3)
    torch.testing.assert_close(cold, torch_f.one_hot(x.argmax(), 4).float())
    hot = softmax(x, temperature=1e6)
    torch.testing.assert_close(hot, torch.full((4,), 0.25), rtol=0, atol=1e-5)
    # Tied maxima share the mass equally in the T -> 0 limit.
    tied = softmax(torch.tensor([1.0, 3.0, 3.0]), temperature=1e-3)
    torch.testing.assert_close(tied, torch.tensor([0.0, 0.5, 0.5]))


def test_entropy_grows_with_temperature() -> None:
    x = random_logits((10,), 2.0, seed=4)
    entropies = []
    for temperature in [0.1, 0.5, 1.0, 2.0, 10.0]:
        p = softmax(x, temperature=temperature)
        entropies.append(float(-(p * p.log()).sum()))
    assert entropies == sorted(entropies) and entropies[-1] < math.log(10)


def random_batch(
    leading: tuple[int, ...], n_classes: int, scale: float, seed: int, pad: int = -100
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn((*leading, n_classes), generator=generator) * scale
    targets = torch.randint(n_classes, leading, generator=generator)
    padded = torch.rand(leading, generator=generator) < 0.25
    padded.view(-1)[0] = False
    return logits, targets.masked_fill(padded, pad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("ignore_index", [-100, -1, 2])
def test_cross_entropy_matches_torch(reduction: str, scale: float, ignore_index: int) -> None:
    for seed in range(3):
        # (N, C)
        logits, targets = random_batch((11,), 5, scale, seed, pad=ignore_index)
        expected = torch_f.cross_entropy(
            logits, targets, ignore_index=ignore_index, reduction=reduction
        )
        assert_matches(cross_entropy(logits, targets, ignore_index, reduction), expected)
        # (batch, seq, C): torch wants the class axis second, (batch, C, seq).
        logits, targets = random_batch((3, 7), 6, scale, seed, pad=ignore_index)
        expected = torch_f.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=ignore_index, reduction=reduction
        )
        ours = cross_entropy(logits, targets, ignore_index=ignore_index, reduction=reduction)
        assert_matches(ours, expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.05, 0.1, 0.5])
def test_label_smoothed_cross_entropy_matches_torch(reduction: str, smoothing: float) -> None:
    for seed in range(3):
        logits, targets = random_batch((3, 7), 6, 5.0, seed, pad=0)
        leaf = logits.clone().requires_grad_(True)
        ours = cross_entropy(leaf, targets, 0, reduction, label_smoothing=smoothing)
        expected = torch_f.cross_entropy(
            logits.transpose(1, 2),
            targets,
            ignore_index=0,
            reduction=reduction,
            label_smoothing=smoothing,
        )
        assert_matches(ours, expected)
        ours.sum().backward()
        assert (leaf.grad[targets == 0] == 0).all()
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        cross_entropy(logits, targets, label_smoothing=1.0)


def test_cross_entropy_gradient_matches_torch() -> None:
    logits, targets = random_batch((4, 5), 7, 3.0, seed=5)
    grads = []
    for fn in (
        lambda z: cross_entropy(z, targets),
        lambda z: torch_f.cross_entropy(z.transpose(1, 2), targets),
    ):
        leaf = logits.clone().requires_grad_(True)
        fn(leaf).backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert (grads[0][targets == -100] == 0).all()  # padding gets no gradient


def test_cross_entropy_all_ignored_mean_is_nan_like_torch() -> None:
    logits = torch.randn(3, 4)
    targets = torch.full((3,), -100)
    assert torch.isnan(cross_entropy(logits, targets))
    assert torch.isnan(torch_f.cross_entropy(logits, targets))
    assert cross_entropy(logits, targets, reduction="sum").item() == 0.0


def test_cross_entropy_accepts_int32_targets() -> None:
    logits, targets = random_batch((6,), 4, 1.0, seed=6)
    torch.testing.assert_close(
        cross_entropy(logits, targets.int()), torch_f.cross_entropy(logits, targets)
    )


def test_perplexity_of_uniform_guess_is_vocab_size() -> None:
    for vocab in [2, 10, 50_257]:
        logits = torch.zeros(8, vocab, dtype=torch.float64)
        targets = torch.arange(8) % vocab
        assert perplexity(cross_entropy(logits, targets)).item() == pytest.approx(vocab)
    assert perplexity(math.log(7)) == pytest.approx(7.0)
    assert isinstance(perplexity(0.5), float) and perplexity(0) == 1.0


def test_perplexity_tensor_keeps_gradient_and_overflow_gives_inf() -> None:
    nll = torch.tensor(1.5, requires_grad=True)
    value = perplexity(nll)
    assert isinstance(value, torch.Tensor)
    value.backward()
    assert nll.grad is not None and nll.grad.item() == pytest.approx(math.exp(1.5))
    assert perplexity(1e6) == math.inf


@pytest.mark.parametrize("shape", [(5, 8), (2, 3, 16), (4, 1, 2, 7)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2, 0.0])
def test_standardize_equals_layer_norm_without_affine(shape: tuple[int, ...], eps: float) -> None:
    x = random_logits(shape, 3.0, seed=7) + 4.0
    expected = torch_f.layer_norm(x, shape[-1:], eps=eps)
    torch.testing.assert_close(standardize(x, eps=eps), expected, rtol=1e-5, atol=1e-5)
    # Any other axis: move it last, normalise, move it back.
    moved = torch_f.layer_norm(x.movedim(0, -1), shape[:1], eps=eps).movedim(-1, 0)
    torch.testing.assert_close(standardize(x, dim=0, eps=eps), moved, rtol=1e-5, atol=1e-5)


def test_standardize_statistics_and_constant_vector() -> None:
    x = random_logits((6, 32), 10.0, seed=8).double() + 100
    y = standardize(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(6, dtype=x.dtype), rtol=0, atol=1e-12)
    var = x.var(-1, correction=0)
    torch.testing.assert_close(y.var(-1, correction=0), var / (var + 1e-5))
    assert torch.equal(standardize(torch.full((2, 4), 3.0)), torch.zeros(2, 4))


VECTOR = torch.ones(3)
MATRIX = torch.ones(2, 3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: softmax(VECTOR, temperature=0.0), ValueError, "must be a finite number > 0"),
        (lambda: softmax(VECTOR, temperature=-1.0), ValueError, "take the argmax"),
        (lambda: softmax(VECTOR, temperature=float("inf")), ValueError, "finite number > 0"),
        (lambda: softmax(VECTOR, temperature=float("nan")), ValueError, "finite number > 0"),
        (lambda: softmax(VECTOR, temperature="hot"), TypeError, "temperature must be a number"),
        (lambda: softmax(torch.arange(3)), TypeError, r"got dtype torch\.int64"),
        (lambda: softmax([1.0, 2.0]), TypeError, "expects a torch.Tensor; got list"),
        (lambda: log_softmax(MATRIX, dim=2), IndexError, r"dim=2 is out of range .* \(2, 3\)"),
        (lambda: logsumexp(MATRIX, dim=-3), IndexError, r"use a dim in \[-2, 1\]"),
        (lambda: standardize(MATRIX, eps=-1.0), ValueError, "eps must be a finite number >= 0"),
        (lambda: standardize(MATRIX.long()), TypeError, r"x\.float\(\)"),
        (lambda: perplexity(-0.1), ValueError, "must be >= 0"),
        (lambda: perplexity(torch.tensor([0.5, -1.0])), ValueError, "must be >= 0"),
        (lambda: perplexity(torch.tensor(2)), TypeError, "floating-point tensor"),
        (lambda: perplexity("3"), TypeError, "a number or a tensor; got str"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        call()


LOGITS = torch.randn(4, 5)
TARGETS = torch.tensor([0, 1, 4, -100])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reduction": "avg"}, ValueError, "reduction='avg' is not supported"),
        ({"logits": torch.randn(5)}, ValueError, r"add a batch axis: logits.unsqueeze\(0\)"),
        ({"logits": torch.randn(2, 2, 2, 5)}, ValueError, r"\(N, C\) or \(batch, seq, C\)"),
        ({"logits": LOGITS.long()}, TypeError, "logits must be floating point"),
        ({"targets": torch.tensor([0.0, 1.0, 2.0, 3.0])}, TypeError, r"targets.long\(\)"),
        ({"targets": torch.tensor([True, False, True, True])}, TypeError, "integer class indices"),
        (
            {"targets": torch.tensor([0, 1, 2])},
            ValueError,
            r"targets shape \(3,\) should be \(4,\)",
        ),
        (
            {"targets": torch.tensor([[0, 1, 2, 3]])},
            ValueError,
            r"\(1, 4\) should be \(4,\): the logits' shape without the last",
        ),
        ({"targets": torch.tensor([0, 5, 1, 2])}, IndexError, r"target 5 is out of range for 5"),
        ({"targets": torch.tensor([0, -1, 1, 2])}, IndexError, r"target -1 .* ignore_index=-100"),
        ({"targets": [0, 1, 2, 3]}, TypeError, "must both be torch.Tensors"),
    ],
)
def test_cross_entropy_bad_inputs(kwargs: dict, error: type, match: str) -> None:
    arguments = {"logits": LOGITS, "targets": TARGETS, **kwargs}
    with pytest.raises(error, match=match):
        cross_entropy(**arguments)
