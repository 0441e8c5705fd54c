"""scratchformer.train for translation: schedule, loss, atomic checkpoints, exact resume."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from scratchformer.checkpoints import CheckpointError
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.train import (
    Seq2SeqTrainConfig,
    average_epoch_weights,
    average_weights,
    best_weights_path,
    epoch_weights_path,
    evaluate_loss,
    noam_learning_rate,
    read_checkpoint,
    restore_best_weights,
    save_atomically,
    train_seq2seq,
)

PAD, BOS, EOS = 0, 1, 2
VOCAB = 20


def reversal_pairs(n: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Source: random ids; target: the same ids reversed (a task a Transformer learns fast)."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n):
        length = int(torch.randint(2, 8, (1,), generator=generator))
        src = torch.randint(3, VOCAB, (length,), generator=generator).tolist()
        pairs.append((src, [BOS, *reversed(src), EOS]))
    return pairs


def new_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    config = Seq2SeqConfig(
        src_vocab_size=VOCAB,
        tgt_vocab_size=VOCAB,
        pad_id=PAD,
        max_len=16,
        d_model=32,
        n_heads=4,
        d_ff=64,
        n_encoder_layers=1,
        n_decoder_layers=1,
        dropout=0.1,
        share_embeddings=True,
    )
    return Transformer(config)


TRAIN, VAL = reversal_pairs(200, 0), reversal_pairs(40, 1)
CONFIG = Seq2SeqTrainConfig(
    epochs=3,
    max_tokens=80,
    warmup_steps=20,
    lr_scale=0.5,
    checkpoint_every=4,
    keep_epochs=2,
    progress=False,
)


def test_noam_schedule_warms_up_then_decays_as_the_paper_says() -> None:
    rates = [noam_learning_rate(s, 512, 4000) for s in range(1, 20_001)]
    peak = max(range(len(rates)), key=rates.__getitem__) + 1
    assert peak == 4000
    assert rates[peak - 1] == pytest.approx(1 / math.sqrt(512 * 4000))
    assert rates[1999] == pytest.approx(rates[3999] / 2)  # linear warm-up
    assert rates[15_999] == pytest.approx(rates[3999] / 2)  # 1/sqrt(step) decay
    assert noam_learning_rate(10, 512, 4000, scale=2.0) == 2 * noam_learning_rate(10, 512, 4000)
    with pytest.raises(ValueError, match="counted from 1"):
        noam_learning_rate(0, 512, 4000)


def test_training_lowers_the_validation_loss_and_records_history() -> None:
    model = new_model()
    before = evaluate_loss(model, VAL, PAD, 200)
    history = train_seq2seq(model, TRAIN, VAL, CONFIG)
    assert not model.training
    assert len(history.val_loss) == 3 == len(history.train_loss) == len(history.epoch_steps)
    assert history.val_loss[-1] < before - 0.5
    assert history.steps == history.epoch_steps[-1] == len(history.step_lr)
    assert history.tokens > 0 and history.tokens_per_second > 0
    assert history.step_lr[0] < history.step_lr[19] > history.step_lr[-1]  # warm-up, decay


def test_interrupted_and_resumed_training_equals_an_uninterrupted_run(tmp_path) -> None:
    reference = new_model()
    train_seq2seq(reference, TRAIN, VAL, CONFIG)

    interrupted, calls = new_model(), {"n": 0}
    forward = interrupted.forward

    def crash_at_step_11(*args, **kwargs):
        calls["n"] += interrupted.training
        if calls["n"] == 11:
            raise KeyboardInterrupt  # as if the reader pressed Ctrl-C mid-epoch
        return forward(*args, **kwargs)

    interrupted.forward = crash_at_step_11  # type: ignore[method-assign]
    path = tmp_path / "run" / "translator.pt"
    with pytest.raises(KeyboardInterrupt):
        train_seq2seq(interrupted, TRAIN, VAL, CONFIG, checkpoint=path)
    saved = read_checkpoint(path)  # the last one, after step 8 of the first epoch
    assert (saved["epoch"], saved["batch"], len(saved["history"]["step_loss"])) == (0, 8, 8)
    assert [p.name for p in path.parent.iterdir()] == ["translator.pt"]  # no temporary left

    torch.manual_seed(123)  # the resumed process's random state differs: the checkpoint's wins
    resumed = new_model(seed=99)  # its initial weights are replaced too
    history = train_seq2seq(resumed, TRAIN, VAL, CONFIG, checkpoint=path)
    for (name, ours), theirs in zip(resumed.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(ours, theirs), name
    assert history.steps == history.epoch_steps[-1] and len(history.val_loss) == 3
    kept = read_checkpoint(epoch_weights_path(path, 3))["model"]  # kept for averaging
    assert all(torch.equal(kept[name], t) for name, t in reference.state_dict().items())


def test_the_best_epochs_weights_are_kept_and_restored(tmp_path) -> None:
    path = tmp_path / "run.pt"
    model = new_model()
    history = train_seq2seq(model, TRAIN, VAL, CONFIG, checkpoint=path)
    assert best_weights_path(path) == tmp_path / "run.best.pt"
    best_epoch = min(range(3), key=history.val_loss.__getitem__) + 1
    fresh = new_model(seed=5)
    restored = restore_best_weights(fresh, path)
    assert restored == {"epoch": best_epoch, "val_loss": min(history.val_loss)}
    assert evaluate_loss(fresh, VAL, PAD, 80) == pytest.approx(min(history.val_loss))


def test_resume_refuses_other_settings_and_other_models(tmp_path) -> None:
    path = tmp_path / "run.pt"
    train_seq2seq(
        new_model(),
        TRAIN,
        VAL,
        Seq2SeqTrainConfig(epochs=1, max_tokens=160, progress=False),
        checkpoint=path,
    )
    with pytest.raises(
        ValueError, match=r"other training settings \(label_smoothing: 0.1 -> 0.2\)"
    ):
        train_seq2seq(
            new_model(),
            TRAIN,
            VAL,
            Seq2SeqTrainConfig(epochs=2, max_tokens=160, label_smoothing=0.2, progress=False),
            checkpoint=path,
        )
    wider = Transformer(
        Seq2SeqConfig(
            src_vocab_size=VOCAB,
            tgt_vocab_size=VOCAB,
            max_len=16,
            d_model=16,
            n_heads=4,
            d_ff=64,
            n_encoder_layers=1,
            n_decoder_layers=1,
            share_embeddings=True,
        )
    )
    with pytest.raises(CheckpointError, match=r"another model configuration \(d_model: 32 -> 16\)"):
        train_seq2seq(
            wider,
            TRAIN,
            VAL,
            Seq2SeqTrainConfig(epochs=2, max_tokens=160, progress=False),
            checkpoint=path,
        )
    with pytest.raises(CheckpointError, match="shape mismatches"):
        restore_best_weights(wider, path)


def test_step_budget_stops_mid_epoch_checkpoints_and_resumes_to_a_larger_budget(tmp_path) -> None:
    path = tmp_path / "run.pt"
    budget = Seq2SeqTrainConfig(epochs=50, max_tokens=160, max_steps=13, progress=False)
    history = train_seq2seq(new_model(), TRAIN, VAL, budget, checkpoint=path)
    assert history.steps == 13 == history.epoch_steps[-1] and len(history.val_loss) < 50
    assert len(read_checkpoint(path)["history"]["step_loss"]) == 13
    longer = dataclasses.replace(budget, max_steps=20)
    resumed = train_seq2seq(new_model(), TRAIN, VAL, longer, checkpoint=path)
    uninterrupted = train_seq2seq(new_model(), TRAIN, VAL, longer)
    assert resumed.steps == 20 and resumed.step_loss[13:] == uninterrupted.step_loss[13:]
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        Seq2SeqTrainConfig(max_steps=0)


def test_the_last_epochs_are_kept_and_averaged(tmp_path) -> None:
    path = tmp_path / "run.pt"
    model = new_model()
    train_seq2seq(model, TRAIN, VAL, CONFIG, checkpoint=path)  # keep_epochs=2
    assert sorted(p.name for p in tmp_path.glob("run.epoch*.pt")) == [
        "run.epoch2.pt",
        "run.epoch3.pt",
    ]
    last = {name: t.clone() for name, t in model.state_dict().items()}
    assert all(
        torch.equal(last[n], t)
        for n, t in read_checkpoint(epoch_weights_path(path, 3))["model"].items()
    )
    second = read_checkpoint(epoch_weights_path(path, 2))["model"]
    average_epoch_weights(model, path, [2, 3])
    for name, averaged in model.state_dict().items():
        torch.testing.assert_close(averaged, (second[name] + last[name]) / 2)
    assert not torch.equal(model.state_dict()["src_embedding.weight"], last["src_embedding.weight"])
    with pytest.raises(FileNotFoundError, match=r"run\.epoch1\.pt missing.*keep_epochs"):
        average_epoch_weights(model, path, [1, 2, 3])
    with pytest.raises(ValueError, match="different parameters"):
        average_weights([second, {"other": torch.zeros(1)}])


def test_a_new_run_removes_the_weights_an_earlier_run_left(tmp_path) -> None:
    """Deleting only the checkpoint starts afresh; the old run's epoch weights must not be
    averaged into the new run's, so they go (loudly), and unrelated files stay."""
    path = tmp_path / "run.pt"
    train_seq2seq(new_model(), TRAIN, VAL, CONFIG, checkpoint=path)
    path.unlink()
    (tmp_path / "run.epoch9.pt").write_bytes(b"old")  # a longer earlier run
    keep = [tmp_path / "run.notes.pt", tmp_path / "other.epoch2.pt", tmp_path / "run.epochs.pt"]
    for other in keep:
        other.write_bytes(b"not ours")
    short = dataclasses.replace(CONFIG, epochs=1, keep_epochs=1)
    with pytest.warns(
        UserWarning,
        match=r"removing .*run\.best\.pt, run\.epoch2\.pt, run\.epoch3\.pt, run\.epoch9\.pt",
    ):
        train_seq2seq(new_model(), TRAIN, VAL, short, checkpoint=path)
    assert sorted(p.name for p in tmp_path.glob("run.epoch*.pt")) == [
        "run.epoch1.pt",
        "run.epochs.pt",
    ]
    assert all(other.read_bytes() == b"not ours" for other in keep)


def test_save_atomically_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    path = save_atomically({"step": 1}, tmp_path / "state.pt")

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_atomically({"step": 2, "bad": Unpicklable()}, path)
    assert read_checkpoint(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1"):
        Seq2SeqTrainConfig(max_tokens=0)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        Seq2SeqTrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="at least one training and one validation pair"):
        train_seq2seq(new_model(), TRAIN, [], CONFIG)
