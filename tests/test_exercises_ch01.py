"""Every chapter 1 checker accepts its reference and rejects plausible wrong solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as torch_f

from exercise_asserts import assert_rejected_with_hint
from scratchformer.functional import cross_entropy, perplexity, softmax
from scratchformer_course import check, forget_failures, get_task


def test_logsumexp_inputs_include_overflowing_values() -> None:
    task = get_task("ch01.logsumexp")
    largest = max(
        task.make_inputs(torch.Generator().manual_seed(trial))[0][0].max().item()
        for trial in range(task.trials)
    )
    assert largest > 800  # exp(800) overflows float32 and float64


def naive_softmax(x: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    e = (x / temperature).exp()
    return e / e.sum(dim, keepdim=True)


def softmax_ignoring_temperature(x: torch.Tensor, dim: int = -1, temperature: float = 1.0):
    return softmax(x, dim=dim)


def log_of_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return softmax(x, dim=dim).log()


def cross_entropy_mean_over_all_positions(logits, targets, ignore_index=-100, reduction="mean"):
    losses = cross_entropy(logits, targets, ignore_index, reduction="none")
    return (
        losses.mean()
        if reduction == "mean"
        else cross_entropy(logits, targets, ignore_index, reduction)
    )


def cross_entropy_ignoring_ignore_index(logits, targets, ignore_index=-100, reduction="mean"):
    return cross_entropy(logits, targets, -100, reduction)


def standardize_unbiased(x: torch.Tensor, dim: int = -1, eps: float = 1e-5) -> torch.Tensor:
    centred = x - x.mean(dim, keepdim=True)
    return centred / torch.sqrt(x.var(dim, keepdim=True, correction=1) + eps)


def standardize_eps_outside_sqrt(x: torch.Tensor, dim: int = -1, eps: float = 1e-5):
    centred = x - x.mean(dim, keepdim=True)
    return centred / (x.var(dim, keepdim=True, correction=0).sqrt() + eps)


def _difference_quotient(f, x, eps, *, dtype, central: bool, divisor: float) -> torch.Tensor:
    x = x.detach().to(dtype).clone()
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        up, down = x.clone(), x.clone()
        up.view(-1)[i] += eps
        if central:
            down.view(-1)[i] -= eps
        grad.view(-1)[i] = (f(up) - f(down)) / divisor
    return grad


def numerical_gradient_without_half(f, x, eps=1e-6):
    return _difference_quotient(f, x, eps, dtype=torch.float64, central=True, divisor=eps)


def numerical_gradient_in_float32(f, x, eps=1e-6):
    return _difference_quotient(f, x, eps, dtype=torch.float32, central=True, divisor=2 * eps)


def naive_logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return x.exp().sum(dim).log()


def logsumexp_forgetting_max(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    m = x.amax(dim, keepdim=True)
    return (x - m).exp().sum(dim).log()


def ce_grad_without_mean(logits, targets):
    return softmax(logits) - torch_f.one_hot(targets, logits.shape[-1])


def ce_grad_wrong_sign(logits, targets):
    return (torch_f.one_hot(targets, logits.shape[-1]) - softmax(logits)) / len(targets)


def perplexity_counting_padding(logits, targets):
    return cross_entropy(logits, targets, reduction="none").mean().exp()


def perplexity_of_sum(logits, targets):
    return perplexity(cross_entropy(logits, targets, reduction="sum"))


def sgd_adding_the_gradient(param, grads, lr):
    return param + lr * grads.sum(0)


def adam_by_hand(param, grads, lr, betas, eps, weight_decay, *, decoupled=False, corrected=True):
    """Adam as chapter 1 writes it; ``decoupled`` makes it AdamW, ``corrected=False`` drops
    the bias correction of the zero-started averages (a classic mistake)."""
    (beta1, beta2), m, v = betas, torch.zeros_like(param), torch.zeros_like(param)
    for t, grad in enumerate(grads, start=1):
        if decoupled:
            param = param * (1 - lr * weight_decay)
        else:
            grad = grad + weight_decay * param
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if corrected else (m, v)
        param = param - lr * m_hat / (v_hat.sqrt() + eps)
    return param


def adam_without_bias_correction(param, grads, lr, betas, eps, weight_decay):
    return adam_by_hand(param, grads, lr, betas, eps, weight_decay, corrected=False)


def adamw_with_decay_in_the_gradient(param, grads, lr, betas, eps, weight_decay):
    return adam_by_hand(param, grads, lr, betas, eps, weight_decay)


def adam_with_decoupled_decay(param, grads, lr, betas, eps, weight_decay):
    return adam_by_hand(param, grads, lr, betas, eps, weight_decay, decoupled=True)


WRONG_SOLUTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("torch.optim.SGD", sgd_adding_the_gradient),
    ("torch.optim.Adam", adam_without_bias_correction),
    ("torch.optim.Adam", adam_with_decoupled_decay),
    ("torch.optim.AdamW", adamw_with_decay_in_the_gradient),
    ("scratchformer.functional.softmax", naive_softmax),
    ("scratchformer.functional.softmax", softmax_ignoring_temperature),
    ("scratchformer.functional.log_softmax", log_of_softmax),
    ("scratchformer.functional.cross_entropy", cross_entropy_mean_over_all_positions),
    ("scratchformer.functional.cross_entropy", cross_entropy_ignoring_ignore_index),
    ("scratchformer.functional.standardize", standardize_unbiased),
    ("scratchformer.functional.standardize", standardize_eps_outside_sqrt),
    ("scratchformer.gradcheck.numerical_gradient", numerical_gradient_without_half),
    ("scratchformer.gradcheck.numerical_gradient", numerical_gradient_in_float32),
    ("ch01.logsumexp", naive_logsumexp),
    ("ch01.logsumexp", logsumexp_forgetting_max),
    ("ch01.cross_entropy_grad", ce_grad_without_mean),
    ("ch01.cross_entropy_grad", ce_grad_wrong_sign),
    ("ch01.perplexity", perplexity_counting_padding),
    ("ch01.perplexity", perplexity_of_sum),
]


@pytest.mark.parametrize(
    ("name", "wrong"), WRONG_SOLUTIONS, ids=lambda v: getattr(v, "__name__", v)
)
def test_wrong_solution_is_rejected_with_hint(name: str, wrong: Callable[..., Any]) -> None:
    assert_rejected_with_hint(name, wrong)


def test_correct_reader_solutions_pass() -> None:
    def my_logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
        m = x.amax(dim, keepdim=True)
        return (m + (x - m).exp().sum(dim, keepdim=True).log()).squeeze(dim)

    def my_ce_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (logits.softmax(-1) - torch_f.one_hot(targets, logits.shape[-1])) / len(targets)

    def my_perplexity(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch_f.cross_entropy(logits.transpose(1, 2), targets).exp()

    assert check("ch01.logsumexp", my_logsumexp, verbose=False)
    assert check("ch01.cross_entropy_grad", my_ce_grad, verbose=False)
    assert check("ch01.perplexity", my_perplexity, verbose=False)


def test_the_update_rules_written_by_hand_agree_with_torch_optim() -> None:
    assert check("torch.optim.SGD", lambda p, g, lr: p - lr * g.sum(0), verbose=False)
    assert check("torch.optim.Adam", adam_by_hand, verbose=False)
    assert check("torch.optim.AdamW", adam_with_decoupled_decay, verbose=False)


def test_optimizer_inputs_include_a_single_step_and_weight_decay() -> None:
    task = get_task("torch.optim.AdamW")
    inputs = [task.make_inputs(torch.Generator().manual_seed(t)) for t in range(task.trials)]
    assert any(len(args[1]) == 1 for args, _ in inputs)
    assert any(kwargs["weight_decay"] > 0 for _, kwargs in inputs)


@pytest.mark.parametrize(
    ("name", "wrong"),
    [("ch01.logsumexp", naive_logsumexp), ("ch01.cross_entropy_grad", ce_grad_wrong_sign)],
    ids=["logsumexp", "cross_entropy_grad"],
)
def test_exercise_hints_go_from_a_nudge_to_the_formula(
    name: str, wrong: Callable[..., Any]
) -> None:
    task = get_task(name)
    forget_failures(name)
    first = check(name, wrong, verbose=False).message
    assert task.hint in first and not any(hint in first for hint in task.more_hints)
    second = check(name, wrong, verbose=False).message
    assert f"hint 2: {task.more_hints[0]}" in second and task.more_hints[-1] not in second
    third = check(name, wrong, verbose=False).message
    assert f"hint 3: {task.more_hints[-1]}" in third
    forget_failures(name)
