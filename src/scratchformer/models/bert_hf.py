"""BERT and Hugging Face's format: configs, parameter names, loading and saving.

A Hugging Face BERT folder holds ``config.json`` (the sizes, under Hugging Face's key
names) and ``model.safetensors`` (the tensors, under Hugging Face's parameter names). This
module translates both, so that :mod:`scratchformer.models.bert` can stay about the model:

* :func:`config_from_hf` and :func:`config_to_hf` map ``config.json`` keys to
  :class:`~scratchformer.models.bert.BertConfig` fields (:data:`HF_CONFIG_KEYS`), refusing
  what our BERT does not implement (another ``model_type``, relative positions, a decoder).
* :data:`HF_NAMES` is the one table that maps their parameter names to ours;
  :func:`hf_rules` picks the rules a given model needs. Loading is strict (see
  :mod:`scratchformer.checkpoints`): missing, unexpected or misshapen tensors are an error
  that lists them all.
* :func:`load_pretrained`, :func:`load_classifier` and :func:`save_pretrained` do the work
  behind the models' ``from_pretrained`` and ``save_pretrained``; those methods are the
  way in (``BertModel.from_pretrained(path_or_name)``, ``model.save_pretrained(directory)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from scratchformer.checkpoints import (
    CheckpointError,
    TensorRule,
    expand_layers,
    export_checkpoint,
    load_checkpoint,
    read_safetensors,
)
from scratchformer.layers import Activation
from scratchformer.models.bert import BertConfig, BertForSequenceClassification, _Pretrained
from scratchformer.weights import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_config,
    resolve_pretrained,
    write_pretrained,
)

PretrainedT = TypeVar("PretrainedT", bound=_Pretrained)
ClassifierT = TypeVar("ClassifierT", bound=BertForSequenceClassification)

# --------------------------------------------------------------------------- config.json
# Hugging Face config.json key -> BertConfig field.
HF_CONFIG_KEYS: dict[str, str] = {
    "vocab_size": "vocab_size",
    "hidden_size": "d_model",
    "num_hidden_layers": "n_layers",
    "num_attention_heads": "n_heads",
    "intermediate_size": "d_ff",
    "max_position_embeddings": "max_len",
    "type_vocab_size": "n_token_types",
    "hidden_dropout_prob": "dropout",
    "hidden_act": "activation",
    "layer_norm_eps": "eps",
    "pad_token_id": "pad_id",
    "initializer_range": "init_std",
}
# Hugging Face hidden_act -> our activation name.
HF_ACTIVATIONS: dict[str, Activation] = {"gelu": "gelu", "relu": "relu"}
_REQUIRED_HF_KEYS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)


def config_from_hf(hf: Mapping[str, Any], source: str = "config") -> BertConfig:
    """Read a Hugging Face BERT ``config.json`` (as a dict); keys per :data:`HF_CONFIG_KEYS`.

    Keys it does not list keep BERT's defaults; ``n_labels`` comes from ``id2label``
    (or ``num_labels``). ``attention_probs_dropout_prob`` is not used (see the notes on
    dropout in :mod:`scratchformer.models.bert`).

    Raises:
        ValueError: naming ``source``, for a missing size, another architecture
            (``model_type``), relative positions, a decoder, or an unsupported activation.
    """
    missing = [key for key in _REQUIRED_HF_KEYS if key not in hf]
    if missing:
        raise ValueError(f"{source}: missing {missing}; is this a BERT config.json?")
    unsupported = {
        "model_type": (hf.get("model_type", "bert"), "bert"),
        "position_embedding_type": (hf.get("position_embedding_type", "absolute"), "absolute"),
        "is_decoder": (hf.get("is_decoder", False), False),
        "add_cross_attention": (hf.get("add_cross_attention", False), False),
    }
    for key, (value, supported) in unsupported.items():
        if value != supported:
            raise ValueError(
                f"{source}: {key}={value!r} is not supported; this BertModel implements "
                f"{key}={supported!r} (an encoder-only BERT with absolute positions)"
            )
    if hf.get("hidden_act", "gelu") not in HF_ACTIVATIONS:
        raise ValueError(
            f"{source}: hidden_act={hf['hidden_act']!r} is not supported; use one of "
            f"{sorted(HF_ACTIVATIONS)} ('gelu' is the exact GELU)"
        )
    values = {field: hf[key] for key, field in HF_CONFIG_KEYS.items() if hf.get(key) is not None}
    if "activation" in values:
        values["activation"] = HF_ACTIVATIONS[values["activation"]]
    if "id2label" in hf:
        values["n_labels"] = len(hf["id2label"])
    elif "num_labels" in hf:
        values["n_labels"] = hf["num_labels"]
    try:
        return BertConfig(**values)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def config_to_hf(config: BertConfig) -> dict[str, Any]:
    """``config`` as a Hugging Face BERT ``config.json`` dict (:func:`config_from_hf` reads
    it back).

    ``attention_probs_dropout_prob`` is written equal to ``dropout``, the one rate our
    model uses for both.
    """
    hf: dict[str, Any] = {key: getattr(config, field) for key, field in HF_CONFIG_KEYS.items()}
    hf.update(
        model_type="bert", num_labels=config.n_labels, attention_probs_dropout_prob=config.dropout
    )
    return hf


def _read_config(directory: Path) -> BertConfig:
    """The :class:`BertConfig` of ``directory/config.json``."""
    path = directory / CONFIG_FILE
    return config_from_hf(read_config(path), source=str(path))


# --------------------------------------------------------------------------- parameter names
def _weight_and_bias(ours: str, theirs: str) -> tuple[TensorRule, TensorRule]:
    """The two rules of a module with a weight and a bias (linear layer, LayerNorm)."""
    return (
        TensorRule(f"{ours}.weight", f"{theirs}.weight"),
        TensorRule(f"{ours}.bias", f"{theirs}.bias"),
    )


_OUR_LAYER, _HF_LAYER = "encoder.layers.{i}", "encoder.layer.{i}"  # {i}: the layer index

# Our parameter name <- Hugging Face's. The task models hold a BertModel as `bert`, and so
# do Hugging Face's: there both sides gain the prefix "bert.". Our attention keeps query,
# key and value in one `in_proj` matrix: their three are stacked in that order.
HF_NAMES: tuple[TensorRule, ...] = (
    TensorRule("embeddings.word.weight", "embeddings.word_embeddings.weight"),
    TensorRule("embeddings.position.weight", "embeddings.position_embeddings.weight"),
    TensorRule("embeddings.token_type.weight", "embeddings.token_type_embeddings.weight"),
    *_weight_and_bias("embeddings.norm", "embeddings.LayerNorm"),
    *(
        TensorRule(
            f"{_OUR_LAYER}.self_attn.in_proj.{kind}",
            tuple(
                f"{_HF_LAYER}.attention.self.{part}.{kind}" for part in ("query", "key", "value")
            ),
        )
        for kind in ("weight", "bias")
    ),
    *_weight_and_bias(f"{_OUR_LAYER}.self_attn.out_proj", f"{_HF_LAYER}.attention.output.dense"),
    *_weight_and_bias(f"{_OUR_LAYER}.norm1", f"{_HF_LAYER}.attention.output.LayerNorm"),
    *_weight_and_bias(f"{_OUR_LAYER}.feed_forward.linear1", f"{_HF_LAYER}.intermediate.dense"),
    *_weight_and_bias(f"{_OUR_LAYER}.feed_forward.linear2", f"{_HF_LAYER}.output.dense"),
    *_weight_and_bias(f"{_OUR_LAYER}.norm2", f"{_HF_LAYER}.output.LayerNorm"),
    *_weight_and_bias("pooler.dense", "pooler.dense"),
    # BertForMaskedLM's head (its output matrix is the word embeddings: no entry).
    *_weight_and_bias("mlm_head.dense", "cls.predictions.transform.dense"),
    *_weight_and_bias("mlm_head.norm", "cls.predictions.transform.LayerNorm"),
    TensorRule("mlm_head.bias", "cls.predictions.bias"),
    # BertForSequenceClassification's head.
    *_weight_and_bias("classifier", "classifier"),
)

# Checkpoint tensors that may be present and carry nothing to load: the constant
# 0..max_len-1 position ids older files saved.
HF_OPTIONAL: frozenset[str] = frozenset({"embeddings.position_ids", "bert.embeddings.position_ids"})

# Copies of tied tensors some masked-LM files also store: copy -> original. They are
# checked to equal the original, then dropped.
HF_TIED_COPIES: dict[str, str] = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


def hf_rules(model: nn.Module) -> list[TensorRule]:
    """The rules of :data:`HF_NAMES` that apply to ``model`` (a BERT model of
    :mod:`scratchformer.models.bert`).

    A rule applies where the model has the tensor, either as named or under ``bert.``
    (inside a task model); :func:`~scratchformer.checkpoints.load_checkpoint` then checks
    that every tensor of the model is covered.
    """
    if not isinstance(model, _Pretrained):
        raise TypeError(f"expected one of the BERT models, got {type(model).__name__}")
    names = set(model.state_dict())
    rules = []
    for rule in expand_layers(HF_NAMES, model.config.n_layers):
        for candidate in (rule, rule.with_prefix("bert.", "bert.")):
            if candidate.ours in names:
                rules.append(candidate)
    return rules


# --------------------------------------------------------------------------- loading and saving
def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a Hugging Face ``model.safetensors``, the stored copies of tied
    tensors checked to equal their original, then dropped."""
    checkpoint = read_safetensors(path)
    for copy, original in HF_TIED_COPIES.items():
        if copy in checkpoint and original in checkpoint:
            if not torch.equal(checkpoint[copy], checkpoint[original]):
                raise CheckpointError(
                    f"{path}: {copy} differs from {original}; this model ties them "
                    "(tie_word_embeddings), so an untied checkpoint cannot be loaded"
                )
            checkpoint = {name: t for name, t in checkpoint.items() if name != copy}
    return checkpoint


def _load_weights(model: nn.Module, checkpoint: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load Hugging Face-named tensors into one of the BERT models, strictly."""
    load_checkpoint(model, checkpoint, hf_rules(model), optional=HF_OPTIONAL, source=str(path))


def load_pretrained(
    cls: type[PretrainedT], path_or_name: str | Path, **options: Any
) -> PretrainedT:
    """A ``cls`` (:class:`~scratchformer.models.bert.BertModel`, ...) built from
    ``config.json`` and loaded from ``model.safetensors`` of a directory or Hub model
    (:func:`~scratchformer.weights.resolve_pretrained`), in evaluation mode; ``options``
    go to the constructor. What ``cls.from_pretrained`` does: see its errors there."""
    directory = resolve_pretrained(path_or_name, (CONFIG_FILE, WEIGHTS_FILE))
    model = cls(_read_config(directory), **options)
    path = directory / WEIGHTS_FILE
    _load_weights(model, _read_weights(path), path)
    return model.eval()


def load_classifier(
    cls: type[ClassifierT],
    path_or_name: str | Path,
    *,
    new_head: bool = False,
    n_labels: int | None = None,
) -> ClassifierT:
    """A sequence classifier, trained or with a fresh head on a pretrained encoder; see
    :meth:`~scratchformer.models.bert.BertForSequenceClassification.from_pretrained`."""
    directory = resolve_pretrained(path_or_name, (CONFIG_FILE, WEIGHTS_FILE))
    config = _read_config(directory)
    path = directory / WEIGHTS_FILE
    checkpoint = _read_weights(path)
    if not new_head:
        if n_labels is not None:
            raise ValueError(
                "n_labels sets the size of a new head: pass it with new_head=True. A "
                "trained classifier keeps its own classes (config.json's id2label)."
            )
        if "classifier.weight" not in checkpoint:
            raise CheckpointError(
                f"{path} has no classifier layer (classifier.weight): it holds a pretrained "
                "encoder, not a trained classifier. To fine-tune it, start a fresh head: "
                "BertForSequenceClassification.from_pretrained(path_or_name, new_head=True, "
                "n_labels=...)."
            )
        model = cls(config)
        _load_weights(model, checkpoint, path)
        return model.eval()
    if n_labels is not None:
        config = dataclasses.replace(config, n_labels=n_labels)
    model = cls(config)
    encoder = {
        name.removeprefix("bert."): tensor
        for name, tensor in checkpoint.items()
        if not name.startswith("classifier.")
    }
    _load_weights(model.bert, encoder, path)
    return model.eval()


def save_pretrained(
    model: _Pretrained, directory: str | Path, extra_config: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model`` as ``config.json`` (plus ``extra_config``) and ``model.safetensors``,
    named by :data:`HF_NAMES`, into ``directory`` (created if needed); returns it."""
    hf = {
        **config_to_hf(model.config),
        "architectures": [type(model).__name__],
        **(extra_config or {}),
    }
    return write_pretrained(directory, hf, export_checkpoint(model, hf_rules(model)))


__all__ = [
    "HF_ACTIVATIONS",
    "HF_CONFIG_KEYS",
    "HF_NAMES",
    "HF_OPTIONAL",
    "HF_TIED_COPIES",
    "config_from_hf",
    "config_to_hf",
    "hf_rules",
    "load_classifier",
    "load_pretrained",
    "save_pretrained",
]
