"""The language-model training helpers: splits, batches, schedule, loop."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch

from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.train import (
    TrainConfig,
    cosine_learning_rate,
    estimate_loss,
    linear_learning_rate,
    make_optimizer,
    random_batch,
    split_ids,
    train_lm,
)


def test_split_keeps_the_end_for_validation() -> None:
    ids = torch.arange(100)
    train, val = split_ids(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(torch.arange(10), fraction)


def test_split_rejects_2d_and_too_short() -> None:
    with pytest.raises(ValueError, match="1-D"):
        split_ids(torch.zeros(2, 5, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="fewer than 2"):
        split_ids(torch.arange(5), 0.1)


def test_random_batch_targets_are_inputs_shifted() -> None:
    ids = torch.arange(1000)
    x, y = random_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)  # consecutive ids: the next id is the target
    again, _ = random_batch(ids, 8, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_random_batch_rejects_short_stream() -> None:
    with pytest.raises(ValueError, match="block_size"):
        random_batch(torch.arange(16), 2, 16, torch.Generator())


def test_cosine_schedule_warms_up_then_decays_to_floor() -> None:
    def rate(step: int) -> float:
        return cosine_learning_rate(
            step, lr=1.0, warmup_steps=10, total_steps=100, min_lr_ratio=0.1
        )

    rates = [rate(s) for s in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))
    assert rate(100) == pytest.approx(0.1) and rate(500) == pytest.approx(0.1)
    assert rate(55) == pytest.approx(0.55)  # halfway: the mean


def test_linear_schedule_warms_up_then_reaches_zero_at_the_last_step() -> None:
    rates = [linear_learning_rate(s, lr=2.0, warmup_steps=4, total_steps=10) for s in range(10)]
    assert rates[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert rates[4:] == pytest.approx([2 * (10 - s) / 6 for s in range(4, 10)])
    assert linear_learning_rate(10, lr=2.0, warmup_steps=4, total_steps=10) == 0.0
    no_warmup = [linear_learning_rate(s, lr=1.0, warmup_steps=0, total_steps=4) for s in range(4)]
    assert no_warmup == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_linear_schedule_can_end_at_a_floor() -> None:
    def rate(step: int) -> float:
        return linear_learning_rate(step, lr=2.0, warmup_steps=4, total_steps=10, min_lr_ratio=0.25)

    assert [rate(s) for s in range(4)] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert rate(7) == pytest.approx(2.0 * (0.25 + 0.75 * 3 / 6))  # halfway down the line
    assert rate(10) == pytest.approx(0.5) and rate(50) == pytest.approx(0.5)  # then the floor


@pytest.mark.parametrize(
    "field, value", [("steps", 0), ("lr", 0.0), ("min_lr_ratio", 1.5), ("grad_clip", 0.0)]
)
def test_config_rejects_bad_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_optimizer_decays_matrices_only() -> None:
    model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=11))
    decayed, plain = make_optimizer(model, lr=1e-3, weight_decay=0.3).param_groups
    assert decayed["weight_decay"] == 0.3 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])
    n = sum(p.numel() for g in (decayed, plain) for p in g["params"])
    assert n == model.num_parameters()


def test_optimizer_steps_exactly_as_torchs_default_adamw() -> None:
    """The foreach update changes the speed, not one bit of the trained weights."""

    def train(build: Callable[[GPT2], torch.optim.Optimizer]) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=11, dropout=0.1))
        optimizer = build(model)
        ids = torch.randint(11, (10, 2, 9), generator=torch.Generator().manual_seed(1))
        for batch in ids:
            optimizer.zero_grad()
            model.loss(batch[:, :-1], batch[:, 1:]).backward()
            optimizer.step()
        return [p.detach() for p in model.parameters()]

    ours = train(lambda m: make_optimizer(m, lr=1e-2, weight_decay=0.3, betas=(0.9, 0.99)))

    def torch_default(model: GPT2) -> torch.optim.Optimizer:
        groups = make_optimizer(model, lr=1e-2, weight_decay=0.3).param_groups
        params = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in groups]
        optimizer = torch.optim.AdamW(params, lr=1e-2, betas=(0.9, 0.99))
        assert optimizer.defaults["foreach"] is None  # a Python loop over parameters on CPU
        return optimizer

    reference = train(torch_default)
    assert all(torch.equal(a, b) for a, b in zip(ours, reference, strict=True))
    torch.manual_seed(0)
    untrained = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=11, dropout=0.1))
    assert not any(torch.equal(a, b) for a, b in zip(ours, untrained.parameters()))


def test_estimate_loss_of_fresh_model_is_near_uniform_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=11))
    model.train()
    ids = torch.randint(11, (2000,), generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    batches = [random_batch(ids, 32, 8, generator) for _ in range(4)]  # 1,024 targets
    assert estimate_loss(model, batches) == pytest.approx(math.log(11), abs=0.1)
    assert model.training
    with pytest.raises(ValueError, match="at least one"):
        estimate_loss(model, [])


def test_train_lm_learns_a_repeating_pattern() -> None:
    torch.manual_seed(0)
    model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=5, max_len=16, dropout=0.0))
    ids = torch.tensor([0, 1, 2, 3, 4] * 100)
    seen = []
    config = TrainConfig(
        steps=60,
        batch_size=8,
        block_size=16,
        lr=3e-3,
        warmup_steps=5,
        eval_every=20,
        eval_batches=2,
    )
    history = train_lm(model, ids[:400], ids[400:], config, on_eval=lambda *a: seen.append(a))
    assert history.steps == [0, 20, 40, 60] and history.steps_done == 60
    assert [s for s, _, _ in seen] == history.steps
    assert history.val_loss[-1] < 0.2 < history.val_loss[0]
    assert history.best_val_loss == min(history.val_loss)
    assert not model.training


@pytest.mark.parametrize("decay", ["cosine", "linear"])
def test_train_lm_follows_the_chosen_decay(monkeypatch, decay: str) -> None:
    """Each step's learning rate is the schedule's, on every parameter group."""
    used: list[list[float]] = []

    def recording_optimizer(model: torch.nn.Module, **kwargs) -> torch.optim.Optimizer:
        optimizer = make_optimizer(model, **kwargs)
        optimizer.register_step_pre_hook(
            lambda opt, *_: used.append([group["lr"] for group in opt.param_groups])
        )
        return optimizer

    monkeypatch.setattr("scratchformer.train.lm.make_optimizer", recording_optimizer)
    torch.manual_seed(0)
    model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=5, max_len=16, dropout=0.0))
    ids = torch.tensor([0, 1, 2, 3, 4] * 80)
    config = TrainConfig(steps=12, batch_size=2, block_size=8, lr=0.01, decay=decay,
                         min_lr_ratio=0.2, warmup_steps=3, eval_every=12, eval_batches=1)  # fmt: skip
    train_lm(model, ids[:300], ids[300:], config)
    if decay == "cosine":
        expected = [cosine_learning_rate(s, 0.01, 3, 12, 0.2) for s in range(12)]
    else:
        expected = [linear_learning_rate(s, 0.01, 3, 12, 0.2) for s in range(12)]
    assert used == [[rate, rate] for rate in expected]
    other = linear_learning_rate if decay == "cosine" else cosine_learning_rate
    assert used[6][0] != pytest.approx(other(6, 0.01, 3, 12, 0.2))  # the two decays differ


def test_config_rejects_an_unknown_decay() -> None:
    with pytest.raises(
        ValueError, match=r"TrainConfig.decay must be one of \('cosine', 'linear'\)"
    ):
        TrainConfig(decay="step")


def test_compiled_training_takes_the_same_steps(monkeypatch) -> None:
    """``compile=True`` runs the steps through ``torch.compile`` (here with its ``eager``
    backend, which traces the model without generating code, so the test stays fast):
    the same losses and weights as the plain run, and the model keeps its own names."""
    real_compile = torch.compile
    compiled: list[torch.nn.Module] = []

    def eager_compile(model: torch.nn.Module):
        compiled.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    ids = torch.tensor([0, 1, 2, 3, 4] * 80)
    runs = []
    for compile_steps in (False, True):
        torch.manual_seed(0)
        model = GPT2(GPT2Config.named("gpt2-tiny", vocab_size=5, max_len=16, dropout=0.0))
        config = TrainConfig(steps=6, batch_size=4, block_size=8, eval_every=3, eval_batches=1,
                             compile=compile_steps)  # fmt: skip
        runs.append((train_lm(model, ids[:300], ids[300:], config), model))
    (plain, plain_model), (fast, fast_model) = runs
    assert compiled == [fast_model]
    assert fast.val_loss == pytest.approx(plain.val_loss, rel=1e-5)
    assert fast_model.state_dict().keys() == plain_model.state_dict().keys()
    for name, tensor in fast_model.state_dict().items():
        torch.testing.assert_close(tensor, plain_model.state_dict()[name])
