"""Mixed precision: off by default on the CPU, and the GPU's code path exercised on the CPU.

CUDA is not here, so the bfloat16 and float16 paths run through CPU autocast, which takes
the same code (autocast context, gradient scaler, clipping on unscaled gradients).
"""

from __future__ import annotations

import pytest
import torch

from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.train import FineTuneConfig, Seq2SeqTrainConfig, TrainConfig, train_lm
from scratchformer.train.precision import MixedPrecision, autocast_dtype

CPU = torch.device("cpu")


def test_auto_is_float32_on_the_cpu_and_names_are_checked() -> None:
    assert autocast_dtype("auto", CPU) is None
    assert autocast_dtype("float32", CPU) is None
    assert autocast_dtype("bfloat16", CPU) == torch.bfloat16
    assert autocast_dtype("float16", torch.device("cuda")) == torch.float16
    for make in (TrainConfig, Seq2SeqTrainConfig, FineTuneConfig):
        with pytest.raises(ValueError, match=r"precision must be one of .*'bfloat16'.*got 'fp8'"):
            make(precision="fp8")  # type: ignore[arg-type]


def tiny_run(precision: str) -> tuple[GPT2, list[torch.dtype], list[float]]:
    """Train a tiny GPT a few steps; return it, the dtypes its blocks computed in, the losses."""
    torch.manual_seed(0)
    model = GPT2(GPT2Config(vocab_size=7, max_len=16, d_model=16, n_layers=1, n_heads=2))
    seen: list[torch.dtype] = []
    attention = model.h[0].attn
    attention.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 6] * 60)
    config = TrainConfig(steps=40, batch_size=4, block_size=8, lr=3e-3, warmup_steps=4,
                         eval_every=40, eval_batches=1, precision=precision)  # type: ignore[arg-type]  # fmt: skip
    history = train_lm(model, ids[:300], ids[300:], config)
    return model, seen, history.val_loss


def test_the_cpu_default_is_plain_float32() -> None:
    auto, seen, losses = tiny_run("auto")
    plain, _, plain_losses = tiny_run("float32")
    assert set(seen) == {torch.float32} and losses == plain_losses
    assert all(
        torch.equal(a, b) for a, b in zip(auto.state_dict().values(), plain.state_dict().values())
    )


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_with_float32_weights(precision: str) -> None:
    model, seen, losses = tiny_run(precision)
    assert torch.bfloat16 in seen or torch.float16 in seen  # the blocks ran in low precision
    assert all(p.dtype == torch.float32 and bool(p.isfinite().all()) for p in model.parameters())
    _, _, plain = tiny_run("float32")
    assert losses[-1] < 0.7 * losses[0]  # it learns
    assert losses[-1] == pytest.approx(plain[-1], abs=0.05)  # about as well as in float32


def test_float16_scales_the_loss_and_clips_unscaled_gradients() -> None:
    layer = torch.nn.Linear(4, 4)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.0)
    amp = MixedPrecision("float16", CPU)
    assert amp.scaler.is_enabled()
    with amp.autocast():
        loss = layer(torch.randn(8, 4)).float().pow(2).mean()
    amp.step(loss, optimizer, layer.parameters(), grad_clip=0.01)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in layer.parameters()]))
    assert norm == pytest.approx(0.01, rel=1e-3)  # clipped after unscaling, not while scaled
    with amp.autocast():  # a loss whose scaled gradients overflow float16: the step is skipped
        loss = layer(torch.randn(8, 4)).float().pow(2).sum() * 1e4
    scale, before = amp.scaler.get_scale(), [p.clone() for p in layer.parameters()]
    optimizer.param_groups[0]["lr"] = 1.0
    amp.step(loss, optimizer, layer.parameters(), grad_clip=None)
    assert amp.scaler.get_scale() < scale
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
