"""GPT-2 and Hugging Face's format: configs, OpenAI's weights, loading and saving.

:class:`~scratchformer.models.gpt2.GPT2` uses Hugging Face's parameter names
(``h.0.attn.c_attn.weight`` ...), so a checkpoint maps onto it name for name. One thing
differs: OpenAI wrote its linear layers as "Conv1D" modules that store the matrix as
``(in, out)``, where ``nn.Linear`` stores ``(out, in)``; the four such matrices of each
block (:data:`CONV1D_WEIGHTS`) are transposed on the way in and out. A ``GPT2LMHeadModel``
checkpoint also prefixes every name with ``transformer.``, may store the output matrix
``lm_head.weight`` (a copy of the tied ``wte.weight``), and old files (OpenAI's ``gpt2``
among them) keep each block's causal mask as a buffer; none of these hold learned weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from scratchformer.checkpoints import (
    CheckpointError,
    TensorRule,
    export_checkpoint,
    load_checkpoint,
    read_safetensors,
)
from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.weights import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_config,
    resolve_pretrained,
    write_pretrained,
)

# The matrices OpenAI's Conv1D stores as (in, out): transposed into nn.Linear's (out, in).
CONV1D_WEIGHTS = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)
# Hugging Face config.json key -> GPT2Config field.
HF_CONFIG_KEYS: dict[str, str] = {
    "vocab_size": "vocab_size",
    "n_positions": "max_len",
    "n_embd": "d_model",
    "n_layer": "n_layers",
    "n_head": "n_heads",
    "n_inner": "d_ff",
    "layer_norm_epsilon": "eps",
    "initializer_range": "init_std",
}
_REQUIRED_HF_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
# Hugging Face's names for GELU's tanh approximation (the one GPT-2 uses).
_TANH_GELU_NAMES = ("gelu_new", "gelu_pytorch_tanh")
_PREFIX = "transformer."  # GPT2LMHeadModel's names; GPT2Model's have none
_HEAD = "lm_head.weight"
_MASK_BUFFERS = ("attn.bias", "attn.masked_bias")


def config_from_hf(hf: Mapping[str, Any], source: str = "config") -> GPT2Config:
    """Read a Hugging Face GPT-2 ``config.json`` (as a dict).

    Raises:
        ValueError: naming ``source``, for missing sizes, another model type, or a GPT-2
            variant this implementation does not have (another activation, untied
            embeddings, attention scaled by layer index, cross-attention, different dropout
            rates for embeddings, attention and residuals).
    """
    missing = [key for key in _REQUIRED_HF_KEYS if hf.get(key) is None]
    if missing:
        raise ValueError(
            f"{source}: the config lacks {', '.join(map(repr, missing))}; a GPT-2 config.json "
            f"names the sizes {', '.join(map(repr, _REQUIRED_HF_KEYS))}."
        )
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{source}: not a GPT-2 config: model_type is {hf['model_type']!r}.")
    supported = {
        "activation_function": (hf.get("activation_function", "gelu_new"), _TANH_GELU_NAMES),
        "tie_word_embeddings": (hf.get("tie_word_embeddings", True), (True,)),
        "scale_attn_weights": (hf.get("scale_attn_weights", True), (True,)),
        "scale_attn_by_inverse_layer_idx": (
            hf.get("scale_attn_by_inverse_layer_idx", False),
            (False,),
        ),
        "add_cross_attention": (hf.get("add_cross_attention", False), (False,)),
    }
    for key, (value, allowed) in supported.items():
        if value not in allowed:
            raise ValueError(
                f"{source}: {key}={value!r} is not supported (supported: "
                f"{', '.join(map(repr, allowed))}); this is not the standard GPT-2 architecture."
            )
    rates = {key: hf.get(key, 0.1) for key in ("embd_pdrop", "attn_pdrop", "resid_pdrop")}
    if len(set(rates.values())) > 1:
        raise ValueError(
            f"{source}: different dropout rates {rates}; GPT2Config uses one rate for all "
            "three, so set them equal in config.json."
        )
    fields = {field: hf[key] for key, field in HF_CONFIG_KEYS.items() if hf.get(key) is not None}
    try:
        return GPT2Config(**fields, dropout=rates["resid_pdrop"])
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def config_to_hf(config: GPT2Config) -> dict[str, Any]:
    """``config`` as a Hugging Face GPT-2 ``config.json`` dict (:func:`config_from_hf`'s
    inverse), e.g. for ``transformers.GPT2Config(**config_to_hf(config))``."""
    hf = {key: getattr(config, field) for key, field in HF_CONFIG_KEYS.items()}
    rates = dict.fromkeys(("embd_pdrop", "attn_pdrop", "resid_pdrop"), config.dropout)
    return {"model_type": "gpt2", **hf, **rates, "activation_function": "gelu_new"}


def hf_rules(model: GPT2, prefix: str = "") -> list[TensorRule]:
    """One rule per tensor of ``model``: the same name (after ``prefix``), transposed for
    the Conv1D matrices."""
    return [
        TensorRule(name, prefix + name, transpose=name.endswith(CONV1D_WEIGHTS))
        for name in model.state_dict()
    ]


def load_hf_state_dict(
    model: GPT2, tensors: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """Copy a Hugging Face GPT-2 state dict (``GPT2Model``'s or ``GPT2LMHeadModel``'s names)
    into ``model``, strictly; an ``lm_head.weight`` must equal the token embeddings.

    Raises:
        CheckpointError: listing missing and unexpected tensors and shape mismatches (with
            both shapes), in the checkpoint's names, or for an untied output matrix.
    """
    prefix = _PREFIX if any(name.startswith(_PREFIX) for name in tensors) else ""
    tensors = dict(tensors)
    head, embeddings = tensors.pop(_HEAD, None), tensors.get(prefix + "wte.weight")
    if head is not None and embeddings is not None and not torch.equal(head, embeddings):
        raise CheckpointError(
            f"{source}: {_HEAD} differs from {prefix}wte.weight, but GPT-2 ties them (one "
            "matrix embeds tokens and scores them), so an untied checkpoint cannot be loaded."
        )
    masks = {f"{prefix}h.{i}.{name}" for i in range(len(model.h)) for name in _MASK_BUFFERS}
    load_checkpoint(model, tensors, hf_rules(model, prefix), optional=masks, source=source)


def load_pretrained(path_or_name: str | Path) -> GPT2:
    """A GPT-2 in eval mode from a directory in Hugging Face's format (``config.json`` and
    ``model.safetensors``, e.g. written by :func:`save_pretrained`) or a Hub model name such
    as ``"gpt2"`` (downloaded with ``huggingface_hub``; needs internet access the first time).

    Raises:
        FileNotFoundError: the directory lacks one of the two files.
        scratchformer.weights.HubUnreachableError: a Hub name was given while offline.
        ValueError: the config is not valid JSON or not a supported GPT-2 config.
        CheckpointError: the weights file is corrupt or does not fit the config.
    """
    directory = resolve_pretrained(path_or_name, (CONFIG_FILE, WEIGHTS_FILE))
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    model = GPT2(config_from_hf(read_config(config_path), source=str(config_path)))
    load_hf_state_dict(model, read_safetensors(weights_path), source=str(weights_path))
    return model.eval()


def save_pretrained(model: GPT2, directory: str | Path) -> Path:
    """Write ``model`` as ``config.json`` and ``model.safetensors`` (``GPT2Model``'s names,
    Conv1D layout) into ``directory`` (created if needed); returns it."""
    hf = {**config_to_hf(model.config), "architectures": ["GPT2LMHeadModel"]}
    return write_pretrained(directory, hf, export_checkpoint(model, hf_rules(model)))


__all__ = [
    "CONV1D_WEIGHTS",
    "HF_CONFIG_KEYS",
    "config_from_hf",
    "config_to_hf",
    "hf_rules",
    "load_hf_state_dict",
    "load_pretrained",
    "save_pretrained",
]
