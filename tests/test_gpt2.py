"""scratchformer.models.gpt2 against Hugging Face's GPT2LMHeadModel on the same weights.

Every comparison builds a randomly initialised ``transformers`` model (every parameter
randomised, LayerNorm gains and biases included, so a mis-mapped tensor cannot hide),
copies its state dict into ours and compares logits in float64. Checkpoint tests write
real ``save_pretrained`` directories and load them through ``GPT2.from_pretrained``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import huggingface_hub
import pytest
import safetensors.torch as safetensors_torch
import torch
import transformers

from scratchformer.attention import KVCache
from scratchformer.checkpoints import CheckpointError
from scratchformer.layers import ACTIVATIONS, EncoderLayer, TransformerConfig
from scratchformer.models import GPT2, GPT2_SIZES, GPT2Config
from scratchformer.models.gpt2_hf import load_hf_state_dict
from scratchformer.positional import LearnedPositionalEmbedding
from scratchformer.weights import HubUnreachableError

TOL = {"rtol": 1e-5, "atol": 1e-5}

CONFIGS = {
    "two-layers": GPT2Config(vocab_size=61, max_len=24, d_model=16, n_layers=2, n_heads=2),
    "wide-mlp": GPT2Config(vocab_size=97, max_len=32, d_model=24, n_layers=3, n_heads=4, d_ff=40),
    "one-head": GPT2Config(vocab_size=13, max_len=16, d_model=8, n_layers=1, n_heads=1),
}


def tiny_config(**overrides) -> GPT2Config:
    """The configuration most tests use (no dropout unless asked for)."""
    return GPT2Config(
        **{"vocab_size": 61, "max_len": 40, "d_model": 16, "n_layers": 2, "n_heads": 2}
        | {"dropout": 0.0}
        | overrides
    )


def hf_twin(config: GPT2Config, seed: int = 0, dtype=torch.float64):
    """A Hugging Face GPT-2 (eager attention) with every parameter randomised, and ours
    holding the same weights; both in eval mode."""
    torch.manual_seed(seed)
    hf_config = transformers.GPT2Config(
        **config.to_hf(), bos_token_id=None, eos_token_id=None, attn_implementation="eager"
    )
    hf = transformers.GPT2LMHeadModel(hf_config).to(dtype).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.normal_(std=0.3)
            if ".ln_" in name and name.endswith("weight"):
                p.add_(1.0)
    ours = GPT2(config).to(dtype).eval()
    load_hf_state_dict(ours, hf.state_dict())
    return hf, ours


def random_ids(config: GPT2Config, batch: int, seq: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, config.vocab_size, (batch, seq), generator=generator)


# -- configuration --------------------------------------------------------------------------


def test_named_sizes_and_gpt2_small_has_124m_parameters() -> None:
    assert GPT2Config.named("gpt2") == GPT2Config()
    assert (GPT2Config().n_layers, GPT2Config().n_heads, GPT2Config().d_model) == (12, 12, 768)
    assert (GPT2Config().max_len, GPT2Config().vocab_size) == (1024, 50_257)
    with torch.device("meta"):  # shapes only, no memory
        model = GPT2(GPT2Config.named("gpt2"))
    assert model.num_parameters() == 124_439_808  # OpenAI's "124M"
    assert model.num_parameters(exclude_embeddings=True) == 124_439_808 - 50_257 * 768 - 1024 * 768
    tiny = GPT2Config.named("gpt2-tiny", vocab_size=65)
    assert tiny.vocab_size == 65 and tiny.n_layers == GPT2_SIZES["gpt2-tiny"].n_layers
    with pytest.raises(ValueError, match=r"unknown GPT-2 size 'gpt3'; choose one of \['gpt2', "):
        GPT2Config.named("gpt3")


def test_config_reads_and_writes_hugging_face_config_json() -> None:
    assert GPT2Config.from_hf(transformers.GPT2Config().to_dict()) == GPT2Config()
    for config in CONFIGS.values():
        assert GPT2Config.from_hf(config.to_hf()) == config
    assert GPT2Config().ff_width == 3072 and CONFIGS["wide-mlp"].ff_width == 40


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "bert"}, r"not a GPT-2 config: model_type is 'bert'"),
        ({"activation_function": "relu"}, r"activation_function='relu' is not supported"),
        ({"tie_word_embeddings": False}, r"tie_word_embeddings=False is not supported"),
        ({"scale_attn_by_inverse_layer_idx": True}, r"scale_attn_by_inverse_layer_idx=True"),
        ({"attn_pdrop": 0.0}, r"different dropout rates .*set them equal"),
        ({"n_layer": None}, r"the config lacks 'n_layer'; a GPT-2 config.json names the sizes"),
    ],
)
def test_config_refuses_other_architectures(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hf = GPT2Config().to_hf() | change
        GPT2Config.from_hf({key: value for key, value in hf.items() if value is not None})


def test_config_refuses_bad_sizes() -> None:
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by n_heads=3"):
        GPT2Config(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match=r"vocab_size must be >= 1, got 0"):
        GPT2Config(vocab_size=0)
    with pytest.raises(ValueError, match=r"d_ff must be >= 1 \(or None for 4 \* d_model\)"):
        GPT2Config(d_ff=0)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        GPT2Config(dropout=1.0)


# -- architecture and initialisation ----------------------------------------------------------


def test_gpt2_initialisation() -> None:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=500, max_len=64, d_model=128, n_layers=8, n_heads=4)
    model = GPT2(config)
    residual_std = 0.02 / math.sqrt(2 * config.n_layers)
    for block in model.h:
        for projection in (block.attn.c_proj, block.mlp.c_proj):
            assert projection.weight.std().item() == pytest.approx(residual_std, rel=0.05)
            assert not projection.bias.any()
        for projection in (block.attn.c_attn, block.mlp.c_fc):
            assert projection.weight.std().item() == pytest.approx(0.02, rel=0.05)
            assert not projection.bias.any()
        assert bool((block.ln_1.weight == 1).all() and (block.ln_1.bias == 0).all())
    for table in (model.wte.weight, model.wpe.weight):
        assert table.std().item() == pytest.approx(0.02, rel=0.05)


def test_output_layer_is_the_token_embedding() -> None:
    """Tied embeddings: no separate output matrix; the logits are hidden @ wte^T."""
    config = tiny_config()
    model = GPT2(config).eval()
    assert {name for name, _ in model.named_parameters() if "wte" in name} == {"wte.weight"}
    ids = random_ids(config, 2, 5)
    x = model.wte(ids) + model.wpe.weight[: ids.shape[1]]
    for block in model.h:
        x = block(x)
    torch.testing.assert_close(model(ids).logits, model.ln_f(x) @ model.wte.weight.T)


def test_logits_are_causal() -> None:
    config = tiny_config()
    model = GPT2(config).eval()
    ids = random_ids(config, 1, 10)
    changed = ids.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % config.vocab_size
    a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_gelu_tanh_is_gpt2s_activation() -> None:
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    formula = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(ACTIVATIONS["gelu_tanh"](x), formula)
    mlp = GPT2(tiny_config()).double().h[0].mlp.eval()
    tokens = torch.randn(2, 5, 16, dtype=torch.float64)
    hidden = mlp.c_fc(tokens)
    gelu = 0.5 * hidden * (1 + torch.tanh(math.sqrt(2 / math.pi) * (hidden + 0.044715 * hidden**3)))
    torch.testing.assert_close(mlp(tokens), mlp.c_proj(gelu))


# Chapter 5's EncoderLayer names -> the GPT-2 block's.
_LAYER_TO_BLOCK = {
    "norm1.": "ln_1.",
    "norm2.": "ln_2.",
    "self_attn.in_proj.": "attn.c_attn.",
    "self_attn.out_proj.": "attn.c_proj.",
    "feed_forward.linear1.": "mlp.c_fc.",
    "feed_forward.linear2.": "mlp.c_proj.",
}


@pytest.mark.parametrize("d_ff", [None, 40])
def test_a_block_is_chapter_5s_pre_ln_encoder_layer_with_a_causal_mask(d_ff) -> None:
    """The same weights in a GPT-2 block and in a pre-LN EncoderLayer (GELU tanh, no
    activation dropout) called with ``causal=True`` give the same output."""
    torch.manual_seed(0)
    config = tiny_config(d_ff=d_ff)
    block = GPT2(config).double().h[0].eval()
    layer = EncoderLayer(
        TransformerConfig(
            d_model=config.d_model,
            n_heads=config.n_heads,
            d_ff=config.ff_width,
            n_layers=1,
            dropout=0.0,
            activation="gelu_tanh",
            norm_first=True,
            eps=config.eps,
        )
    )
    layer = layer.double().eval()
    block_state = block.state_dict()

    def block_name(name: str) -> str:
        prefix = next(p for p in _LAYER_TO_BLOCK if name.startswith(p))
        return _LAYER_TO_BLOCK[prefix] + name.removeprefix(prefix)

    layer.load_state_dict({name: block_state[block_name(name)] for name in layer.state_dict()})
    x = torch.randn(3, 9, config.d_model, dtype=torch.float64)
    torch.testing.assert_close(layer(x, causal=True)[0], block(x))
    assert not torch.allclose(layer(x)[0], block(x))  # without the mask they differ


def test_dropout_acts_only_in_training() -> None:
    config = tiny_config(dropout=0.2)
    model = GPT2(config)
    ids = random_ids(config, 2, 9)
    torch.manual_seed(0)
    first = model.train()(ids).logits
    torch.manual_seed(1)
    assert not torch.allclose(first, model(ids).logits)
    torch.testing.assert_close(model.eval()(ids).logits, model(ids).logits)


def test_learned_positions_start_at_an_offset() -> None:
    positions = LearnedPositionalEmbedding(10, 4)
    x = torch.zeros(1, 3, 4)
    torch.testing.assert_close(positions(x, offset=7), positions.weight[7:10][None])
    with pytest.raises(
        ValueError, match=r"sequence length 3 starting at position 8 exceeds max_len 10"
    ):
        positions(x, offset=8)


# -- equality with Hugging Face ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_equal_hugging_face(name: str) -> None:
    config = CONFIGS[name]
    hf, ours = hf_twin(config)
    ids = random_ids(config, 3, config.max_len)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, hf(ids).logits, **TOL)
    # Training mode without dropout takes the same (fused, causal) path: same numbers.
    hf_nodrop, ours_nodrop = hf_twin(GPT2Config(**{**config.__dict__, "dropout": 0.0}))
    with torch.no_grad():
        torch.testing.assert_close(ours_nodrop.train()(ids).logits, hf_nodrop(ids).logits, **TOL)


def test_float32_logits_equal_hugging_face() -> None:
    config = tiny_config()
    hf, ours = hf_twin(config, dtype=torch.float32)
    ids = random_ids(config, 2, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, hf(ids).logits, rtol=1e-4, atol=1e-4)


def test_gradients_equal_hugging_face() -> None:
    config = tiny_config()
    hf, ours = hf_twin(config)
    ids = random_ids(config, 2, 12)
    ours(ids).logits.square().mean().backward()
    hf(ids).logits.square().mean().backward()
    torch.testing.assert_close(
        ours.h[0].attn.c_attn.weight.grad,
        hf.transformer.h[0].attn.c_attn.weight.grad.T,
        **TOL,
    )
    torch.testing.assert_close(ours.wte.weight.grad, hf.transformer.wte.weight.grad, **TOL)


def test_kv_cache_step_by_step_equals_hugging_face() -> None:
    config = CONFIGS["wide-mlp"]
    hf, ours = hf_twin(config)
    ids = random_ids(config, 2, 20)
    with torch.no_grad():
        expected = hf(ids).logits
        out = ours(ids[:, :4], use_cache=True)
        assert len(out.past) == config.n_layers and len(out.past[0]) == 4
        steps, past = [out.logits], out.past
        hf_out = hf(ids[:, :4], use_cache=True)
        hf_steps, hf_past = [hf_out.logits], hf_out.past_key_values
        for t in range(4, 20):
            logits, returned = ours(ids[:, t : t + 1], past)
            assert returned is past and len(past[0]) == t + 1  # extended in place
            steps.append(logits)
            hf_out = hf(ids[:, t : t + 1], past_key_values=hf_past, use_cache=True)
            hf_steps.append(hf_out.logits)
            hf_past = hf_out.past_key_values
    torch.testing.assert_close(torch.cat(steps, dim=1), expected, **TOL)
    torch.testing.assert_close(torch.cat(steps, dim=1), torch.cat(hf_steps, dim=1), **TOL)


def test_kv_cache_accepts_chunks_of_several_tokens() -> None:
    config = tiny_config()
    _, ours = hf_twin(config)
    ids = random_ids(config, 2, 17)
    with torch.no_grad():
        expected = ours(ids).logits
        first = ours(ids[:, :5], use_cache=True)
        second = ours(ids[:, 5:12], first.past)
        third = ours(ids[:, 12:], second.past)
    got = torch.cat([first.logits, second.logits, third.logits], dim=1)
    torch.testing.assert_close(got, expected, **TOL)
    assert ours(ids).past is None


def test_parameter_count_equals_hugging_face() -> None:
    for config in CONFIGS.values():
        hf, ours = hf_twin(config)
        assert ours.num_parameters() == hf.num_parameters()
        assert ours.num_parameters(exclude_embeddings=True) == hf.num_parameters(
            exclude_embeddings=True
        )


def test_a_few_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    config = tiny_config(dropout=0.1)
    model = GPT2(config).train()
    ids = random_ids(config, 4, 33)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        logits = model(ids[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(config.vocab_size), rel=0.05)
    assert losses[-1] < 0.4 * losses[0]  # it memorises the batch


# -- bad input -------------------------------------------------------------------------------------


def test_forward_refuses_bad_input() -> None:
    config = tiny_config()
    model = GPT2(config)
    with pytest.raises(ValueError, match=r"ids must have shape \(batch, seq\).*ids\[None\]"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"integer token ids"):
        model(torch.rand(1, 3))
    with pytest.raises(TypeError, match=r"torch.Tensor of token ids.*got list"):
        model([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"ids holds the id 61, outside the vocabulary \[0, 61\)"):
        model(torch.tensor([[0, 61]]))
    with pytest.raises(ValueError, match=r"ids is empty"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids has 41 tokens, more than the context window of 40"):
        model(torch.zeros(1, 41, dtype=torch.long))
    past = model(torch.zeros(2, 30, dtype=torch.long), use_cache=True).past
    with pytest.raises(ValueError, match=r"11 tokens after 30 cached ones \(total 41\)"):
        model(torch.zeros(2, 11, dtype=torch.long), past)
    with pytest.raises(
        ValueError, match=r"past was built for a batch of 2, but ids has a batch of 3"
    ):
        model(torch.zeros(3, 1, dtype=torch.long), past)
    with pytest.raises(ValueError, match=r"one KVCache per block \(2\), got 1"):
        model(torch.zeros(2, 1, dtype=torch.long), [KVCache()])


# -- checkpoints ---------------------------------------------------------------------------------


def save_hf(tmp_path: Path, config: GPT2Config, model_class: str = "GPT2LMHeadModel"):
    """A real ``save_pretrained`` directory of a randomised HF model (float32); the model."""
    hf, _ = hf_twin(config, dtype=torch.float32)
    if model_class == "GPT2Model":
        hf = hf.transformer
    hf.save_pretrained(tmp_path)
    return hf


@pytest.mark.parametrize("model_class", ["GPT2LMHeadModel", "GPT2Model"])
def test_save_pretrained_directory_loads_through_from_pretrained(
    tmp_path: Path, model_class: str
) -> None:
    config = CONFIGS["wide-mlp"]
    hf = save_hf(tmp_path, config, model_class)
    names = set(safetensors_torch.load_file(tmp_path / "model.safetensors"))
    assert any(name.startswith("transformer.") for name in names) == (
        model_class == "GPT2LMHeadModel"
    )
    ours = GPT2.from_pretrained(tmp_path)
    assert not ours.training and ours.config == config
    ids = random_ids(config, 2, 12)
    with torch.no_grad():
        hidden = hf(ids).last_hidden_state if model_class == "GPT2Model" else None
        expected = hidden @ hf.wte.weight.T if hidden is not None else hf(ids).logits
        torch.testing.assert_close(ours(ids).logits, expected, rtol=1e-4, atol=1e-4)
    assert GPT2.from_pretrained(str(tmp_path)).config == config  # a str works too


def test_our_save_pretrained_is_read_by_hugging_face_and_by_us(tmp_path: Path) -> None:
    config = CONFIGS["wide-mlp"]
    torch.manual_seed(3)
    ours = GPT2(config).eval()
    assert ours.save_pretrained(tmp_path / "saved") == tmp_path / "saved"
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "saved").eval()
    again = GPT2.from_pretrained(tmp_path / "saved")
    ids = random_ids(config, 2, 12)
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, ours(ids).logits, rtol=1e-4, atol=1e-4)
        assert torch.equal(again(ids).logits, ours(ids).logits)
    assert again.config == config


def rewrite_weights(directory: Path, change) -> None:
    path = directory / "model.safetensors"
    tensors = safetensors_torch.load_file(path)
    change(tensors)
    safetensors_torch.save_file(tensors, path)


def test_old_checkpoints_with_mask_buffers_and_lm_head_load(tmp_path: Path) -> None:
    """OpenAI's files store each block's causal mask (``h.N.attn.bias``) and some store
    ``lm_head.weight``: both are accepted (the head only if it equals the embeddings)."""
    config = tiny_config()
    save_hf(tmp_path, config)

    def add_old_names(tensors: dict) -> None:
        n = config.max_len
        for i in range(config.n_layers):
            tensors[f"transformer.h.{i}.attn.bias"] = torch.ones(1, 1, n, n).tril()
            tensors[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"].clone()

    rewrite_weights(tmp_path, add_old_names)
    GPT2.from_pretrained(tmp_path)
    rewrite_weights(tmp_path, lambda t: t["lm_head.weight"].add_(1.0))
    with pytest.raises(
        CheckpointError, match=r"lm_head.weight differs from transformer.wte.weight"
    ):
        GPT2.from_pretrained(tmp_path)


def test_checkpoint_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    save_hf(tmp_path, tiny_config())
    config = json.loads((tmp_path / "config.json").read_text())
    config["n_embd"], config["n_head"] = 32, 4  # the config no longer fits the weights
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as error:
        GPT2.from_pretrained(tmp_path)
    message = str(error.value)
    assert "shape mismatches" in message
    assert (
        "transformer.h.0.attn.c_attn.weight: checkpoint has (16, 48), the model expects (32, 96)"
        in message
    )
    assert "transformer.wte.weight: checkpoint has (61, 16), the model expects (61, 32)" in message


def test_missing_and_unexpected_tensors_are_listed(tmp_path: Path) -> None:
    save_hf(tmp_path, tiny_config())

    def damage(tensors: dict) -> None:
        del tensors["transformer.h.1.ln_1.weight"]
        del tensors["transformer.ln_f.bias"]
        tensors["transformer.h.0.attn.extra.weight"] = torch.zeros(3)

    rewrite_weights(tmp_path, damage)
    with pytest.raises(
        CheckpointError,
        match=r"(?s)missing keys \(2\):\n    transformer.h.1.ln_1.weight\n    transformer.ln_f.bias"
        r".*unexpected keys \(1\):\n    transformer.h.0.attn.extra.weight",
    ):
        GPT2.from_pretrained(tmp_path)


def test_a_deeper_config_than_the_weights_lists_the_missing_layer(tmp_path: Path) -> None:
    save_hf(tmp_path, tiny_config())
    config = json.loads((tmp_path / "config.json").read_text())
    config["n_layer"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"missing keys \(12\):\n    transformer.h.2.ln_1"):
        GPT2.from_pretrained(tmp_path)


def test_incomplete_directories_and_bad_configs_are_refused(tmp_path: Path) -> None:
    save_hf(tmp_path, tiny_config())
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"is missing model.safetensors"):
        GPT2.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"is not a directory"):
        GPT2.from_pretrained(tmp_path / "no-such-dir")
    save_hf(tmp_path, tiny_config())
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 16}))
    with pytest.raises(ValueError, match=r"config.json: the config lacks 'vocab_size'"):
        GPT2.from_pretrained(tmp_path)


def test_hub_names_fail_clearly_when_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(
        HubUnreachableError,
        match=r"cannot load 'gpt2': the Hugging Face Hub is unreachable.*pass that directory's path",
    ):
        GPT2.from_pretrained("gpt2")
