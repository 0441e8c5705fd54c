"""GPT-2 (Radford et al., 2019): a decoder-only Transformer language model.

The architecture, exactly as OpenAI's release and Hugging Face's ``GPT2LMHeadModel``:

* token embeddings ``wte`` plus learned position embeddings ``wpe``, then dropout;
* ``n_layer`` pre-LN blocks with *causal* self-attention:
  ``x = x + attn(ln_1(x))`` then ``x = x + mlp(ln_2(x))``, the MLP being
  ``n_embd -> 4 n_embd -> n_embd`` with GELU's tanh approximation;
* a final LayerNorm, then logits from the *same* matrix as the token embeddings
  (tied input and output embeddings, so no separate output layer);
* initialisation ``N(0, 0.02^2)`` everywhere, except the two projections that write into
  the residual stream in each block (attention output and MLP output), which get a
  standard deviation of ``0.02 / sqrt(2 n_layer)``: the stream adds ``2 n_layer`` of
  them, so their sum keeps the scale of a single one.

The blocks are :class:`~scratchformer.layers.EncoderLayer` s with ``norm_first=True`` and
``causal=True``, stacked in a :class:`~scratchformer.layers.Encoder` (which adds the final
LayerNorm): a "decoder-only" model is an encoder stack whose attention cannot look ahead.

For generation, :meth:`GPT2.forward` accepts and returns a KV cache (one
:class:`~scratchformer.attention.KVCache` per layer), so each new token costs ``O(T)``;
see :mod:`scratchformer.generate`. :meth:`GPT2.from_pretrained` loads Hugging Face
checkpoints (OpenAI's weights among them): :mod:`scratchformer.weights` finds the files
(a local directory, or the Hub when online) and :mod:`scratchformer.checkpoints` copies
the tensors in strictly, renamed by :data:`HF_NAMES`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import KVCache
from scratchformer.checkpoints import (
    CheckpointError,
    TensorRule,
    expand_layers,
    load_checkpoint,
    read_safetensors,
)
from scratchformer.checks import check_token_ids
from scratchformer.layers import Dropout, Encoder, EncoderLayer, TransformerConfig
from scratchformer.positional import LearnedPositionalEmbedding
from scratchformer.weights import resolve_pretrained

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# Hugging Face's names for GELU's tanh approximation (the one GPT-2 uses).
_TANH_GELU_NAMES = ("gelu_new", "gelu_pytorch_tanh")


# The sizes a Hugging Face GPT-2 config.json must give (everything else has a default).
_REQUIRED_HF_KEYS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")


@dataclass(frozen=True)
class GPT2Config:
    """Everything that defines a :class:`GPT2` (defaults: OpenAI's 124M ``gpt2``).

    Use :meth:`named` for the sizes in :data:`GPT2_SIZES`. Field names follow Hugging
    Face's ``GPT2Config``, so a ``config.json`` reads straight in (:meth:`from_hf_config`).

    Attributes:
        vocab_size: number of token ids (50,257 for GPT-2's BPE).
        n_positions: the context window: the longest sequence the model can read.
        n_embd: width of every token vector (``d_model``).
        n_layer: number of Transformer blocks.
        n_head: attention heads per block; must divide ``n_embd``.
        n_inner: hidden width of each MLP; ``None`` means ``4 * n_embd``.
        dropout: dropout on the embeddings, the attention weights and each block's two
            residual branches (GPT-2's ``embd_pdrop``, ``attn_pdrop`` and ``resid_pdrop``).
        layer_norm_epsilon: the LayerNorms' epsilon.
        initializer_range: standard deviation of the initial weights.
    """

    vocab_size: int = 50_257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    dropout: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.n_positions < 1:
            raise ValueError(
                f"vocab_size and n_positions must be >= 1, got vocab_size={self.vocab_size}, "
                f"n_positions={self.n_positions}."
            )
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range}.")
        self.transformer_config()  # validates n_embd, n_head, n_layer, n_inner, dropout

    @property
    def d_ff(self) -> int:
        """The MLP's hidden width: ``n_inner``, or ``4 * n_embd`` when that is ``None``."""
        return 4 * self.n_embd if self.n_inner is None else self.n_inner

    def transformer_config(self) -> TransformerConfig:
        """The :class:`~scratchformer.layers.TransformerConfig` of the block stack."""
        return TransformerConfig(
            d_model=self.n_embd,
            n_heads=self.n_head,
            d_ff=self.d_ff,
            n_layers=self.n_layer,
            dropout=self.dropout,
            activation="gelu_tanh",
            norm_first=True,
            eps=self.layer_norm_epsilon,
            activation_dropout=0.0,  # GPT-2's MLP drops only its output
        )

    @classmethod
    def named(cls, name: str, **overrides: Any) -> GPT2Config:
        """The config of a size in :data:`GPT2_SIZES`, with any field overridden.

        Example: ``GPT2Config.named("gpt2-tiny", vocab_size=65)`` for a character model.
        """
        if name not in GPT2_SIZES:
            raise ValueError(f"unknown GPT-2 size {name!r}; choose one of {sorted(GPT2_SIZES)}.")
        return dataclasses.replace(GPT2_SIZES[name], **overrides)

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> GPT2Config:
        """Read a Hugging Face GPT-2 ``config.json`` (as a dict).

        Raises:
            ValueError: for a config of another model type or with a GPT-2 variant this
                implementation does not have (another activation, untied embeddings,
                attention scaled by layer index, cross-attention, different dropout
                rates for embeddings, attention and residuals).
        """
        model_type = config.get("model_type", "gpt2")
        missing = [key for key in _REQUIRED_HF_KEYS if key not in config]
        if missing:
            raise ValueError(
                f"the config lacks {', '.join(map(repr, missing))}; a GPT-2 config.json "
                f"names the sizes {', '.join(map(repr, _REQUIRED_HF_KEYS))}."
            )
        if model_type != "gpt2":
            raise ValueError(f"not a GPT-2 config: model_type is {model_type!r}, not 'gpt2'.")
        unsupported = {
            "activation_function": (
                config.get("activation_function", "gelu_new"),
                _TANH_GELU_NAMES,
            ),
            "tie_word_embeddings": (config.get("tie_word_embeddings", True), (True,)),
            "scale_attn_weights": (config.get("scale_attn_weights", True), (True,)),
            "scale_attn_by_inverse_layer_idx": (
                config.get("scale_attn_by_inverse_layer_idx", False),
                (False,),
            ),
            "add_cross_attention": (config.get("add_cross_attention", False), (False,)),
        }
        for key, (value, allowed) in unsupported.items():
            if value not in allowed:
                raise ValueError(
                    f"config {key}={value!r} is not supported (supported: "
                    f"{', '.join(map(repr, allowed))}); this is not the standard GPT-2 architecture."
                )
        rates = {key: config.get(key, 0.1) for key in ("embd_pdrop", "attn_pdrop", "resid_pdrop")}
        if len(set(rates.values())) > 1:
            raise ValueError(
                f"config has different dropout rates {rates}; GPT2Config uses one rate for all "
                "three, so set them equal in config.json."
            )
        return cls(
            vocab_size=config["vocab_size"],
            n_positions=config["n_positions"],
            n_embd=config["n_embd"],
            n_layer=config["n_layer"],
            n_head=config["n_head"],
            n_inner=config.get("n_inner"),
            dropout=rates["resid_pdrop"],
            layer_norm_epsilon=config.get("layer_norm_epsilon", 1e-5),
            initializer_range=config.get("initializer_range", 0.02),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """This config as a Hugging Face GPT-2 ``config.json`` dict (:meth:`from_hf_config`'s
        inverse), e.g. for ``transformers.GPT2Config(**config.to_hf_config())``."""
        return {
            "model_type": "gpt2",
            "vocab_size": self.vocab_size,
            "n_positions": self.n_positions,
            "n_embd": self.n_embd,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": self.n_inner,
            "activation_function": "gelu_new",
            "embd_pdrop": self.dropout,
            "attn_pdrop": self.dropout,
            "resid_pdrop": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
            "tie_word_embeddings": True,
        }


GPT2_SIZES: dict[str, GPT2Config] = {
    # For tests and quick experiments: two blocks of width 64.
    "gpt2-tiny": GPT2Config(n_positions=128, n_embd=64, n_layer=2, n_head=2),
    # Trains on a laptop CPU: six blocks of width 384 (the size of bench/gpt2.py).
    "gpt2-mini": GPT2Config(n_positions=256, n_embd=384, n_layer=6, n_head=6),
    # OpenAI's smallest released model: 124M parameters.
    "gpt2": GPT2Config(),
}


Past = list[KVCache]
"""A GPT-2 KV cache: one :class:`~scratchformer.attention.KVCache` per block."""


class GPT2Output(NamedTuple):
    """What :meth:`GPT2.forward` returns.

    Attributes:
        logits: next-token scores ``(batch, seq, vocab_size)``: position ``i`` scores the
            token that follows token ``i``.
        past: the KV cache now covering every position seen so far (extended in place),
            or ``None`` when no cache was asked for.
    """

    logits: torch.Tensor
    past: Past | None


# Our parameter names <- Hugging Face's (GPT2Model's; GPT2LMHeadModel puts them under
# "transformer."). GPT-2's Conv1D layers store their matrices as (in, out), nn.Linear as
# (out, in): those are transposed.
HF_NAMES: tuple[TensorRule, ...] = (
    TensorRule("wte.weight", "wte.weight"),
    TensorRule("wpe.weight", "wpe.weight"),
    TensorRule("stack.layers.{i}.norm1.weight", "h.{i}.ln_1.weight"),
    TensorRule("stack.layers.{i}.norm1.bias", "h.{i}.ln_1.bias"),
    TensorRule("stack.layers.{i}.self_attn.in_proj.weight", "h.{i}.attn.c_attn.weight", True),
    TensorRule("stack.layers.{i}.self_attn.in_proj.bias", "h.{i}.attn.c_attn.bias"),
    TensorRule("stack.layers.{i}.self_attn.out_proj.weight", "h.{i}.attn.c_proj.weight", True),
    TensorRule("stack.layers.{i}.self_attn.out_proj.bias", "h.{i}.attn.c_proj.bias"),
    TensorRule("stack.layers.{i}.norm2.weight", "h.{i}.ln_2.weight"),
    TensorRule("stack.layers.{i}.norm2.bias", "h.{i}.ln_2.bias"),
    TensorRule("stack.layers.{i}.feed_forward.linear1.weight", "h.{i}.mlp.c_fc.weight", True),
    TensorRule("stack.layers.{i}.feed_forward.linear1.bias", "h.{i}.mlp.c_fc.bias"),
    TensorRule("stack.layers.{i}.feed_forward.linear2.weight", "h.{i}.mlp.c_proj.weight", True),
    TensorRule("stack.layers.{i}.feed_forward.linear2.bias", "h.{i}.mlp.c_proj.bias"),
    TensorRule("stack.norm.weight", "ln_f.weight"),
    TensorRule("stack.norm.bias", "ln_f.bias"),
)
# Old checkpoints (OpenAI's "gpt2" among them) also store each block's causal mask as a
# buffer ("h.{i}.attn.bias", "h.{i}.attn.masked_bias"); it holds no learned weights.
_HF_MASK_BUFFERS = ("h.{i}.attn.bias", "h.{i}.attn.masked_bias")
_HF_PREFIX = "transformer."
_HF_HEAD = "lm_head.weight"


class GPT2(nn.Module):
    """GPT-2: token ids ``(batch, seq)`` -> next-token logits ``(batch, seq, vocab_size)``.

    Submodules: ``wte`` (token embeddings, also the output matrix), ``wpe`` (learned
    positions), ``drop``, and ``stack`` (an :class:`~scratchformer.layers.Encoder`:
    ``stack.layers[i]`` are the blocks, ``stack.norm`` the final LayerNorm).
    """

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = LearnedPositionalEmbedding(config.n_positions, config.n_embd)
        self.drop = Dropout(config.dropout)
        self.stack = Encoder(config.transformer_config())
        self.reset_parameters()

    @property
    def context_length(self) -> int:
        """The longest sequence (prompt plus generated tokens) the model can read."""
        return self.config.n_positions

    @property
    def vocab_size(self) -> int:
        """The number of token ids the model scores."""
        return self.config.vocab_size

    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the module docstring)."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.wte.weight, std=std)
        nn.init.normal_(self.wpe.weight, std=std)
        residual_std = std / math.sqrt(2 * self.config.n_layer)
        for layer in self.stack.layers:
            assert isinstance(layer, EncoderLayer)
            nn.init.normal_(layer.self_attn.out_proj.weight, std=residual_std)
            nn.init.normal_(layer.feed_forward.linear2.weight, std=residual_std)

    def forward(
        self, ids: torch.Tensor, past: Past | None = None, *, use_cache: bool = False
    ) -> GPT2Output:
        """Next-token logits for ``ids`` ``(batch, seq)``.

        Args:
            ids: integer token ids ``(batch, seq)``.
            past: a KV cache from an earlier call, holding the keys and values of the
                tokens before ``ids``; ``ids`` then continue those tokens (their first
                position is ``len(past[0])``). The cache is extended in place.
            use_cache: start a new KV cache (implied when ``past`` is given).

        Returns:
            :class:`GPT2Output` ``(logits, past)``: logits ``(batch, seq, vocab_size)``,
            and the cache (``None`` unless ``past`` or ``use_cache`` was given).
        """
        offset = self._check_inputs(ids, past)
        if past is None and use_cache:
            past = [KVCache() for _ in self.stack.layers]
        x = self.drop(self.wpe(self.wte(ids), offset=offset))
        hidden = self.stack(x, causal=True, kv_caches=past).hidden
        return GPT2Output(F.linear(hidden, self.wte.weight), past)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of parameters (the tied embedding matrix counted once).

        ``exclude_embeddings`` leaves out the token and position embeddings, which cost
        memory but almost no computation.
        """
        skip = {id(self.wte.weight), id(self.wpe.weight)} if exclude_embeddings else set()
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)

    # -- pretrained weights -----------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path) -> GPT2:
        """A GPT-2 with pretrained weights, in eval mode.

        Args:
            path_or_name: a directory in Hugging Face's format (``config.json`` and
                ``model.safetensors``, e.g. written by ``save_pretrained``), or a Hub model
                name such as ``"gpt2"`` (downloaded with ``huggingface_hub``; needs internet
                access the first time).

        Raises:
            FileNotFoundError: the directory lacks one of the two files.
            scratchformer.weights.HubUnreachableError: a Hub name was given while offline.
            scratchformer.checkpoints.CheckpointError: the weights file is corrupt or does
                not fit the config (missing or unexpected tensors, shape mismatches).
            ValueError: the config is not a (supported) GPT-2 config.
        """
        directory = resolve_pretrained(path_or_name, (CONFIG_FILE, WEIGHTS_FILE))
        config_path = directory / CONFIG_FILE
        try:
            hf_config = json.loads(config_path.read_text(encoding="utf-8"))
            config = GPT2Config.from_hf_config(hf_config)
        except (json.JSONDecodeError, ValueError) as error:
            raise ValueError(f"{config_path}: not a usable GPT-2 config ({error!s})") from error
        model = cls(config)
        weights_path = directory / WEIGHTS_FILE
        model.load_hf_state_dict(read_safetensors(weights_path), source=str(weights_path))
        return model.eval()

    def load_hf_state_dict(
        self, tensors: Mapping[str, torch.Tensor], source: str = "checkpoint"
    ) -> None:
        """Copy the weights of a Hugging Face GPT-2 state dict into this model, strictly.

        Accepts ``GPT2Model`` names (``h.0.attn.c_attn.weight``) and ``GPT2LMHeadModel``
        names (``transformer.h.0.attn.c_attn.weight``), mapped by :data:`HF_NAMES`;
        Conv1D matrices are transposed into Linear ones. Causal-mask buffers are skipped.
        An ``lm_head.weight`` must equal the token embeddings (GPT-2 ties them).

        Raises:
            scratchformer.checkpoints.CheckpointError: listing missing and unexpected
                tensors and shape mismatches (with both shapes), in the checkpoint's names.
        """
        prefix = _HF_PREFIX if any(name.startswith(_HF_PREFIX) for name in tensors) else ""
        tensors = dict(tensors)
        head = tensors.pop(_HF_HEAD, None)
        embeddings = tensors.get(prefix + "wte.weight")
        if head is not None and embeddings is not None and not torch.equal(head, embeddings):
            raise CheckpointError(
                f"{source}: {_HF_HEAD} differs from {prefix}wte.weight, but GPT-2 ties them "
                "(one matrix embeds tokens and scores them), so an untied checkpoint cannot "
                "be loaded."
            )
        n_layer = self.config.n_layer
        rules = [rule.with_prefix(theirs=prefix) for rule in expand_layers(HF_NAMES, n_layer)]
        buffers = {prefix + name.format(i=i) for name in _HF_MASK_BUFFERS for i in range(n_layer)}
        load_checkpoint(self, tensors, rules, optional=buffers, source=source)

    # -- internals ----------------------------------------------------------------------------

    def _check_inputs(self, ids: torch.Tensor, past: Past | None) -> int:
        """Validate ``ids`` (and ``past``); return the position of ``ids``' first token."""
        check_token_ids("ids", ids, self.config.vocab_size)
        offset = 0
        if past is not None:
            if len(past) != self.config.n_layer:
                raise ValueError(
                    f"past must hold one KVCache per layer ({self.config.n_layer}), got {len(past)}."
                )
            offset = len(past[0])
            cached = past[0].keys
            if cached is not None and cached.shape[0] != ids.shape[0]:
                raise ValueError(
                    f"past was built for a batch of {cached.shape[0]}, but ids has a batch of "
                    f"{ids.shape[0]}."
                )
        total = offset + ids.shape[1]
        if total > self.context_length:
            after = f" after {offset} cached ones (total {total})" if offset else ""
            raise ValueError(
                f"ids has {ids.shape[1]} tokens{after}, more than the context window of "
                f"{self.context_length} positions; shorten the input."
            )
        return offset


__all__ = [
    "GPT2",
    "GPT2_SIZES",
    "HF_NAMES",
    "GPT2Config",
    "GPT2Output",
    "Past",
]
