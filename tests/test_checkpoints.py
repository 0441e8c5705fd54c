"""Strict checkpoint loading: renaming rules, fused and transposed tensors, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from scratchformer.checkpoints import (
    CheckpointError,
    TensorRule,
    convert_checkpoint,
    expand_layers,
    load_checkpoint,
    load_safetensors,
    read_safetensors,
)


class Tiny(nn.Module):
    """Two linear layers and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 3)
        self.second = nn.Linear(3, 2, bias=False)
        self.register_buffer("scale", torch.ones(2))


def tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {name: torch.randn_like(t) for name, t in Tiny().state_dict().items()}


def test_identity_load_copies_every_tensor() -> None:
    model, state = Tiny(), tiny_state()
    load_checkpoint(model, state)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name])


def test_missing_unexpected_and_misshapen_are_all_listed() -> None:
    state = tiny_state()
    del state["first.bias"]
    state["first.weight"] = torch.zeros(5, 4)
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(Tiny(), state, source="tiny.safetensors")
    message = str(error.value)
    assert message.startswith("tiny.safetensors does not match the model:")
    assert "missing keys (1):\n    first.bias" in message
    assert "unexpected keys (1):\n    extra.weight" in message
    assert (
        "shape mismatches (1):\n    first.weight: checkpoint has (5, 4), the model expects (3, 4)"
        in message
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("second.weight"), r"missing keys \(1\):\n    second\.weight"),
        (lambda s: s.update(surplus=torch.zeros(2)), r"unexpected keys \(1\):\n    surplus"),
        (
            lambda s: s.update(scale=torch.ones(3)),
            r"scale: checkpoint has \(3,\), the model expects \(2,\)",
        ),
    ],
)
def test_each_kind_of_mismatch_is_refused(change, message: str) -> None:
    model, state = Tiny(), tiny_state()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    change(state)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(model, state)
    for name, tensor in model.state_dict().items():  # nothing was half-loaded
        assert torch.equal(tensor, before[name])


def test_long_lists_are_shortened() -> None:
    state = tiny_state()
    state.update({f"junk.{i}": torch.zeros(1) for i in range(25)})
    with pytest.raises(
        CheckpointError,
        match=r"unexpected keys \(25\):(\n    junk\.\d+){20}\n    \.\.\. and 5 more",
    ):
        load_checkpoint(Tiny(), state)


def test_optional_keys_are_ignored_when_present() -> None:
    state = tiny_state()
    load_checkpoint(Tiny(), state, optional={"position_ids"})
    state["position_ids"] = torch.arange(7)
    load_checkpoint(Tiny(), state, optional={"position_ids"})
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(Tiny(), state)


class Fused(nn.Module):
    """One (3 * 2, 4) projection made of three (2, 4) checkpoint tensors, one transposed layer."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(4, 6)
        self.out = nn.Linear(6, 4, bias=False)


FUSED_RULES = [
    TensorRule("qkv.weight", ("q.w", "k.w", "v.w")),
    TensorRule("qkv.bias", ("q.b", "k.b", "v.b")),
    TensorRule("out.weight", "conv.w", transpose=True),
]


def fused_checkpoint() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    parts = {f"{p}.w": torch.randn(2, 4) for p in "qkv"} | {f"{p}.b": torch.randn(2) for p in "qkv"}
    return parts | {"conv.w": torch.randn(6, 4)}  # stored (in, out)


def test_rules_concatenate_and_transpose() -> None:
    model, checkpoint = Fused(), fused_checkpoint()
    load_checkpoint(model, checkpoint, FUSED_RULES)
    expected = torch.cat([checkpoint["q.w"], checkpoint["k.w"], checkpoint["v.w"]])
    assert torch.equal(model.qkv.weight, expected)
    assert torch.equal(model.qkv.bias[2:4], checkpoint["k.b"])
    assert torch.equal(model.out.weight, checkpoint["conv.w"].t())


def test_shapes_are_checked_per_checkpoint_tensor() -> None:
    checkpoint = fused_checkpoint()
    checkpoint["k.w"] = torch.zeros(3, 4)
    checkpoint["conv.w"] = torch.zeros(4, 6)  # not transposed
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(Fused(), checkpoint, FUSED_RULES)
    assert "k.w: checkpoint has (3, 4), the model expects (2, 4)" in str(error.value)
    assert "conv.w: checkpoint has (4, 6), the model expects (6, 4)" in str(error.value)


def test_rules_must_cover_the_model_exactly() -> None:
    with pytest.raises(ValueError, match=r"no rule for \['out.weight'\]"):
        load_checkpoint(Fused(), fused_checkpoint(), FUSED_RULES[:2])
    extra = [*FUSED_RULES, TensorRule("ghost.weight", "ghost")]
    with pytest.raises(ValueError, match=r"rules for unknown tensors \['ghost.weight'\]"):
        load_checkpoint(Fused(), fused_checkpoint(), extra)
    with pytest.raises(ValueError, match="cannot split our shape"):
        convert_checkpoint({}, [TensorRule("w", ("a", "b", "c", "d"))], {"w": torch.Size([6, 4])})


def test_tied_weights_need_one_rule() -> None:
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    model[1].weight = model[0].weight
    table = torch.randn(5, 3)
    load_checkpoint(model, {"emb": table}, [TensorRule("0.weight", "emb")])
    assert torch.equal(model[1].weight, table) and model[1].weight is model[0].weight


def test_expand_layers_and_prefix() -> None:
    rules = expand_layers(
        [TensorRule("layers.{i}.w", ("h.{i}.a", "h.{i}.b")), TensorRule("head", "lm_head")], 3
    )
    assert [r.ours for r in rules] == ["layers.0.w", "layers.1.w", "layers.2.w", "head"]
    assert rules[2].theirs == ("h.2.a", "h.2.b")
    assert rules[3].with_prefix("model.", "transformer.") == TensorRule(
        "model.head", "transformer.lm_head"
    )


# ------------------------------------------------------------------ safetensors files
def test_safetensors_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file(tiny_state(3), path)
    model = Tiny()
    load_safetensors(model, path)
    assert torch.equal(model.first.weight, tiny_state(3)["first.weight"])
    assert set(read_safetensors(path)) == set(tiny_state())


def test_mismatch_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file({"first.weight": torch.zeros(3, 4)}, path)
    with pytest.raises(
        CheckpointError, match=r"tiny\.safetensors does not match the model:\n  missing keys \(3\)"
    ):
        load_safetensors(Tiny(), path)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors: file not found"):
        read_safetensors(tmp_path / "nothing.safetensors")
    with pytest.raises(CheckpointError, match="is a folder; pass the .safetensors file"):
        read_safetensors(tmp_path)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"PK\x03\x04 this is a zip, not safetensors")
    with pytest.raises(
        CheckpointError, match=r"garbage\.safetensors: not a valid safetensors file"
    ):
        read_safetensors(garbage)
    good = tmp_path / "good.safetensors"
    save_file(tiny_state(), good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated download"):
        read_safetensors(truncated)
