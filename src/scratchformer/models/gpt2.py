"""GPT-2 (Radford et al., 2019), the whole model in one file, read top to bottom.

A decoder-only Transformer language model, exactly as OpenAI's release and Hugging Face's
``GPT2LMHeadModel`` compute it:

* token embeddings ``wte`` plus learned position embeddings ``wpe``, then dropout;
* ``n_layers`` pre-LN blocks, ``x = x + attn(ln_1(x))`` then ``x = x + mlp(ln_2(x))``, the
  attention *causal* (a token reads itself and the tokens before it, never after) and the
  MLP ``d_model -> 4 d_model -> d_model`` with GELU's tanh approximation;
* a final LayerNorm ``ln_f``, then logits from the *same* matrix as the token embeddings
  (tied input and output embeddings: no separate output layer).

A block is chapter 5's pre-LN :class:`~scratchformer.layers.EncoderLayer` with a causal
mask (``tests/test_gpt2.py`` proves it on shared weights); this file writes it out plainly
and uses PyTorch's fused kernels (``scaled_dot_product_attention``, ``nn.Dropout``) for
speed. Parameter names are Hugging Face's, so loading OpenAI's weights renames nothing: it
only transposes four matrices per block (:mod:`scratchformer.models.gpt2_hf`, which holds
everything about Hugging Face's format).

For generation, :meth:`GPT2.forward` takes and returns a KV cache (one
:class:`~scratchformer.attention.KVCache` per block): each new token then costs one
attention row over the cached keys instead of a pass over the whole text
(:mod:`scratchformer.generate`). For training, :meth:`GPT2.loss` gives the next-token
cross-entropy with the output layer fused into it (:mod:`scratchformer.fused_loss`): the
same number and gradients as ``cross_entropy(model(ids).logits, targets)``, without the
``(batch, seq, vocab_size)`` buffers that dominate a training step's time and memory.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.attention import KVCache, causal_mask
from scratchformer.checks import check_token_ids
from scratchformer.fused_loss import linear_cross_entropy


@dataclass(frozen=True)
class GPT2Config:
    """Everything that defines a :class:`GPT2` (defaults: OpenAI's 124M ``gpt2``).

    Field names are the course's (and :class:`~scratchformer.models.BertConfig`'s);
    :meth:`from_hf` and :meth:`to_hf` translate Hugging Face's ``config.json``.

    Attributes:
        vocab_size: number of token ids (50,257 for GPT-2's BPE).
        max_len: the context window, the longest text the model reads (``n_positions``).
        d_model: width of every token vector (``n_embd``).
        n_layers: number of blocks (``n_layer``).
        n_heads: attention heads per block; must divide ``d_model`` (``n_head``).
        d_ff: hidden width of each MLP; ``None`` means ``4 * d_model`` (``n_inner``).
        dropout: on the embeddings, the attention weights and both residual branches.
        eps: the LayerNorms' epsilon (``layer_norm_epsilon``).
        init_std: standard deviation of the initial weights (``initializer_range``).
    """

    vocab_size: int = 50_257
    max_len: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int | None = None
    dropout: float = 0.1
    eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        sizes = ("vocab_size", "max_len", "d_model", "n_layers", "n_heads")
        for name in sizes:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; each head "
                "reads d_model / n_heads features."
            )
        if self.d_ff is not None and self.d_ff < 1:
            raise ValueError(f"d_ff must be >= 1 (or None for 4 * d_model), got {self.d_ff}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}.")
        if self.eps <= 0 or self.init_std <= 0:
            raise ValueError(f"eps and init_std must be > 0, got {self.eps} and {self.init_std}.")

    @property
    def ff_width(self) -> int:
        """The MLP's hidden width: ``d_ff``, or ``4 * d_model`` when that is ``None``."""
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    @classmethod
    def named(cls, name: str, **overrides: Any) -> GPT2Config:
        """The config of a size in :data:`GPT2_SIZES`, with any field overridden.

        Example: ``GPT2Config.named("gpt2-tiny", vocab_size=65)`` for a character model.
        """
        if name not in GPT2_SIZES:
            raise ValueError(f"unknown GPT-2 size {name!r}; choose one of {sorted(GPT2_SIZES)}.")
        return dataclasses.replace(GPT2_SIZES[name], **overrides)

    @classmethod
    def from_hf(cls, hf: dict[str, Any], source: str = "config") -> GPT2Config:
        """Read a Hugging Face GPT-2 ``config.json`` (as a dict); ``source`` names it in errors."""
        from scratchformer.models.gpt2_hf import config_from_hf

        return config_from_hf(hf, source)

    def to_hf(self) -> dict[str, Any]:
        """This config as a Hugging Face GPT-2 ``config.json`` dict (:meth:`from_hf` reads it)."""
        from scratchformer.models.gpt2_hf import config_to_hf

        return config_to_hf(self)


GPT2_SIZES: dict[str, GPT2Config] = {
    # For tests and quick experiments: two blocks of width 64.
    "gpt2-tiny": GPT2Config(max_len=128, d_model=64, n_layers=2, n_heads=2),
    # Trains on a laptop CPU: six blocks of width 384 (the size of bench/gpt2.py).
    "gpt2-mini": GPT2Config(max_len=256, d_model=384, n_layers=6, n_heads=6),
    # OpenAI's smallest released model: 124M parameters.
    "gpt2": GPT2Config(),
}


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each token reads only itself and earlier tokens."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.n_heads, self.dropout = config.n_heads, config.dropout
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model)  # queries, keys, values
        self.c_proj = nn.Linear(config.d_model, config.d_model)  # heads merged -> stream
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``x`` ``(batch, seq, d_model)`` -> same shape. ``cache`` holds the keys and values
        of the tokens before ``x`` and is extended with ``x``'s, in place."""
        batch, seq, d_model = x.shape
        q, k, v = self.c_attn(x).split(d_model, dim=2)  # 3 x (batch, seq, d_model)
        q, k, v = (t.view(batch, seq, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        # q, k, v: (batch, n_heads, seq, d_head)
        past = 0 if cache is None else len(cache)
        if cache is not None:
            k, v = cache.update(k, v)  # (batch, n_heads, past + seq, d_head)
        # is_causal masks as if there were no cache; behind one, the new tokens' rows of the
        # whole causal mask: each sees every cached token and the new ones up to itself.
        behind_cache = causal_mask(past + seq, x.device)[past:] if past and seq > 1 else None
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=behind_cache,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=not past and seq > 1,
        )  # (batch, n_heads, seq, d_head)
        y = y.transpose(1, 2).reshape(batch, seq, d_model)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward network: widen, GELU (tanh approximation), narrow."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.ff_width)
        self.c_proj = nn.Linear(config.ff_width, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model)`` -> same shape, each token on its own."""
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """One pre-LN Transformer block: normalise, attend, add; normalise, MLP, add."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.eps)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """``(batch, seq, d_model)`` -> same shape."""
        x = x + self.attn(self.ln_1(x), cache)
        x = x + self.mlp(self.ln_2(x))
        return x


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


class GPT2(nn.Module):
    """GPT-2: token ids ``(batch, seq)`` -> next-token logits ``(batch, seq, vocab_size)``."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)  # also the output matrix
        self.wpe = nn.Embedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.eps)
        self.reset_parameters()

    @property
    def context_length(self) -> int:
        """The longest text (prompt plus generated tokens) the model can read."""
        return self.config.max_len

    @property
    def vocab_size(self) -> int:
        """The number of token ids the model scores."""
        return self.config.vocab_size

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: every weight ``N(0, 0.02^2)``, biases zero, except the two
        projections that write into the residual stream, scaled by ``1 / sqrt(2 n_layers)``:
        the stream adds ``2 n_layers`` of them, so their sum keeps the scale of one."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.h:
            assert isinstance(block, Block)
            for writer in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(writer.weight, std=std / math.sqrt(2 * self.config.n_layers))

    def forward(
        self, ids: torch.Tensor, past: Past | None = None, *, use_cache: bool = False
    ) -> GPT2Output:
        """Next-token logits for ``ids`` ``(batch, seq)``.

        Args:
            ids: integer token ids ``(batch, seq)``.
            past: a KV cache from an earlier call, holding the keys and values of the
                tokens before ``ids``, which continue them (the first of ``ids`` sits at
                position ``len(past[0])``). Extended in place.
            use_cache: start a new KV cache (implied when ``past`` is given).

        Returns:
            :class:`GPT2Output` ``(logits, past)``: logits ``(batch, seq, vocab_size)``,
            and the cache (``None`` unless ``past`` or ``use_cache`` was given).
        """
        start = self._check_inputs(ids, past)
        if past is None and use_cache:
            past = [KVCache() for _ in self.h]
        logits = F.linear(
            self._final_hidden(ids, start, past), self.wte.weight
        )  # (batch, seq, vocab_size)
        return GPT2Output(logits, past)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy (nats/token) of ``targets`` ``(batch, seq)`` given
        ``ids`` ``(batch, seq)``: the training loss.

        Equal to ``cross_entropy(self(ids).logits, targets)``, but the output layer and the
        loss run as one step (:func:`~scratchformer.fused_loss.linear_cross_entropy`), so
        the ``(batch, seq, vocab_size)`` logits and their gradient are never held apart.
        A method, not a call of the module: hooks on the ``GPT2`` itself do not run, hooks
        on its blocks and layers do.
        """
        self._check_inputs(ids, None)
        return linear_cross_entropy(self._final_hidden(ids, 0, None), self.wte.weight, targets)

    def _final_hidden(self, ids: torch.Tensor, start: int, past: Past | None) -> torch.Tensor:
        """The last LayerNorm's output ``(batch, seq, d_model)`` for ``ids`` at positions
        ``start, start + 1, ...``, extending ``past`` when given."""
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)  # (seq,)
        x = self.drop(self.wte(ids) + self.wpe(positions))  # (batch, seq, d_model)
        for i, block in enumerate(self.h):
            x = block(x, None if past is None else past[i])
        return self.ln_f(x)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of parameters (the tied embedding matrix counted once).

        ``exclude_embeddings`` leaves out the token and position embeddings, which cost
        memory but almost no computation.
        """
        skip = {id(self.wte.weight), id(self.wpe.weight)} if exclude_embeddings else set()
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path) -> GPT2:
        """A GPT-2 with pretrained weights, in eval mode, from a directory in Hugging Face's
        format or a Hub name such as ``"gpt2"`` (see :func:`~scratchformer.models.gpt2_hf.
        load_pretrained` for the errors)."""
        from scratchformer.models.gpt2_hf import load_pretrained

        return load_pretrained(path_or_name)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` in Hugging Face's format, which
        :meth:`from_pretrained` and ``transformers.GPT2LMHeadModel`` both read; returns it."""
        from scratchformer.models.gpt2_hf import save_pretrained

        return save_pretrained(self, directory)

    def _check_inputs(self, ids: torch.Tensor, past: Past | None) -> int:
        """Validate ``ids`` (and ``past``); return the position of ``ids``' first token."""
        check_token_ids("ids", ids, self.config.vocab_size)
        start = 0
        if past is not None:
            if len(past) != self.config.n_layers:
                raise ValueError(
                    f"past must hold one KVCache per block ({self.config.n_layers}), got {len(past)}."
                )
            start = len(past[0])
            cached = past[0].keys
            if cached is not None and cached.shape[0] != ids.shape[0]:
                raise ValueError(
                    f"past was built for a batch of {cached.shape[0]}, but ids has a batch of "
                    f"{ids.shape[0]}."
                )
        if start + ids.shape[1] > self.context_length:
            after = f" after {start} cached ones (total {start + ids.shape[1]})" if start else ""
            raise ValueError(
                f"ids has {ids.shape[1]} tokens{after}, more than the context window of "
                f"{self.context_length} positions; shorten the input."
            )
        return start


__all__ = [
    "GPT2",
    "GPT2_SIZES",
    "MLP",
    "Block",
    "CausalSelfAttention",
    "GPT2Config",
    "GPT2Output",
    "Past",
]
