"""scratchformer.benchmark measures the same work on both sides (no timing is asserted)."""

import pytest
import torch

from scratchformer.attention import AttentionConfig, MultiHeadAttention
from scratchformer.benchmark import (
    bench_parser,
    best_time_ms,
    compare_attention_speed,
    format_speed_table,
    forward_backward,
    paired_timings,
    parse_bench_args,
    seconds,
    torch_twin,
    training_step,
)


def test_torch_twin_computes_the_same_attention():
    torch.manual_seed(0)
    ours = MultiHeadAttention(AttentionConfig(d_model=12, n_heads=3))
    twin = torch_twin(ours)
    x = torch.randn(2, 5, 12)
    torch.testing.assert_close(ours(x, x, x)[0], twin(x, x, x, need_weights=False)[0])


def test_forward_backward_leaves_no_gradients_behind():
    module = MultiHeadAttention(AttentionConfig(d_model=8, n_heads=2))
    x = torch.randn(1, 4, 8, requires_grad=True)
    forward_backward(module, x)()
    assert x.grad is None and all(p.grad is None for p in module.parameters())


def test_paired_timings_alternate_and_count_calls():
    calls = []
    first, second = paired_timings(
        lambda: calls.append("a"), lambda: calls.append("b"), warmup=1, repeats=4
    )
    assert len(first) == len(second) == 4
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert best_time_ms(lambda: None, repeats=3) >= 0


def test_speed_comparison_reports_every_length():
    rows = compare_attention_speed([4, 8], batch=1, d_model=16, n_heads=2, warmup=0, repeats=2)
    assert [r.seq for r in rows] == [4, 8]
    assert all(r.ours_ms > 0 and r.torch_ms > 0 and r.ratio > 0 for r in rows)
    table = format_speed_table(rows)
    assert table.splitlines()[0].split() == ["seq", "ours", "ms", "torch", "ms", "torch/ours"]


def test_training_step_cycles_batches_and_clears_gradients():
    # loss = w * b has gradient b: with SGD at lr 1 every step subtracts the batch seen.
    w = torch.nn.Parameter(torch.zeros(()))
    step = training_step(lambda b: w * b, [1.0, 2.0], torch.optim.SGD([w], lr=1.0))
    for _ in range(3):
        step()
    # batches 1, 2, 1; accumulated gradients would give -(1 + 3 + 4) = -8 instead
    assert w.item() == -4.0


def test_training_step_needs_a_batch():
    w = torch.nn.Parameter(torch.zeros(()))
    with pytest.raises(ValueError, match="at least one batch"):
        training_step(lambda b: w * b, [], torch.optim.SGD([w], lr=1.0))


def test_bench_arguments_apply_threads():
    before = torch.get_num_threads()
    try:
        args = parse_bench_args(bench_parser("a bench"), ["--quick", "--threads", "1"])
        assert args.quick and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert not parse_bench_args(bench_parser("a bench"), []).quick


def test_bench_arguments_reject_zero_threads(capsys):
    with pytest.raises(SystemExit):
        parse_bench_args(bench_parser("a bench"), ["--threads", "0"])
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_timings_wait_for_the_gpu_before_reading_the_clock(monkeypatch):
    """CUDA runs asynchronously, so a timing must wait for the device before starting the
    clock and again before stopping it; here a recorder stands in for the GPU."""
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: events.append("wait"))
    seconds(lambda: events.append("step"))
    assert events == ["wait", "step", "wait"]
    events.clear()
    best_time_ms(lambda: events.append("step"), repeats=2, warmup=0)
    assert events == ["wait", "step", "wait"] * 2
