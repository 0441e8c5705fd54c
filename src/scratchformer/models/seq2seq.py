"""The encoder-decoder Transformer of *Attention Is All You Need* (Vaswani et al., 2017).

Source tokens ``(batch, src_seq)`` are embedded, given positions and encoded into a
``memory`` ``(batch, src_seq, d_model)``. Target tokens ``(batch, tgt_seq)`` (shifted right,
starting with a BOS token) are embedded and decoded with causal self-attention and
cross-attention to the memory; a final linear layer gives next-token logits
``(batch, tgt_seq, tgt_vocab_size)``.

Padding is recognised by ``config.pad_id``: wherever a method derives a padding mask it is
``tokens == pad_id`` (``True`` at padding, see :mod:`scratchformer.attention`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from scratchformer.checks import check_token_ids
from scratchformer.generate import evaluating, greedy_search
from scratchformer.layers import (
    Activation,
    Decoder,
    DecoderCache,
    DecoderOutput,
    Dropout,
    Encoder,
    EncoderOutput,
    TransformerConfig,
)
from scratchformer.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding

PositionalKind = Literal["sinusoidal", "learned"]
POSITIONAL_KINDS: dict[str, type[nn.Module]] = {
    "sinusoidal": SinusoidalPositionalEncoding,
    "learned": LearnedPositionalEmbedding,
}


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that defines a :class:`Transformer` (defaults: the paper's base model).

    Attributes:
        src_vocab_size: number of source token ids.
        tgt_vocab_size: number of target token ids.
        pad_id: the padding id, in both vocabularies.
        max_len: the longest source or target sequence the model accepts.
        d_model, n_heads, d_ff, dropout, activation, norm_first: as in
            :class:`~scratchformer.layers.TransformerConfig`, shared by encoder and decoder.
        n_encoder_layers, n_decoder_layers: depth of each stack.
        share_embeddings: one embedding table for source and target (needs equal
            vocabulary sizes, e.g. a joint BPE vocabulary).
        tie_output: the output projection reuses the target embedding matrix.
        positional: ``"sinusoidal"`` (fixed, the paper) or ``"learned"``.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    pad_id: int = 0
    max_len: int = 256
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    dropout: float = 0.1
    activation: Activation = "relu"
    norm_first: bool = False
    share_embeddings: bool = False
    tie_output: bool = True
    positional: PositionalKind = "sinusoidal"

    def __post_init__(self) -> None:
        if self.src_vocab_size < 1 or self.tgt_vocab_size < 1:
            raise ValueError(
                f"vocabulary sizes must be >= 1, got src {self.src_vocab_size}, "
                f"tgt {self.tgt_vocab_size}."
            )
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(
                f"pad_id={self.pad_id} must be a valid id in both vocabularies "
                f"(src {self.src_vocab_size}, tgt {self.tgt_vocab_size})."
            )
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}.")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "share_embeddings=True needs src_vocab_size == tgt_vocab_size, got "
                f"{self.src_vocab_size} and {self.tgt_vocab_size}; use a joint vocabulary "
                "or share_embeddings=False."
            )
        if self.positional not in POSITIONAL_KINDS:
            raise ValueError(
                f"positional must be one of {sorted(POSITIONAL_KINDS)}, got {self.positional!r}."
            )
        self.encoder_config()  # validates the shared layer hyper-parameters
        self.decoder_config()

    def _stack_config(self, n_layers: int) -> TransformerConfig:
        return TransformerConfig(
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_ff=self.d_ff,
            n_layers=n_layers,
            dropout=self.dropout,
            activation=self.activation,
            norm_first=self.norm_first,
        )

    def encoder_config(self) -> TransformerConfig:
        """The :class:`TransformerConfig` of the encoder stack."""
        return self._stack_config(self.n_encoder_layers)

    def decoder_config(self) -> TransformerConfig:
        """The :class:`TransformerConfig` of the decoder stack."""
        return self._stack_config(self.n_decoder_layers)


class AttentionMaps(NamedTuple):
    """Every attention weight of one forward pass, one tensor per layer in each tuple.

    Attributes:
        encoder_self: ``(batch, n_heads, src_seq, src_seq)`` per encoder layer.
        decoder_self: ``(batch, n_heads, tgt_seq, tgt_seq)`` per decoder layer (causal).
        decoder_cross: ``(batch, n_heads, tgt_seq, src_seq)`` per decoder layer: which
            source tokens each target position looked at.
    """

    encoder_self: tuple[torch.Tensor, ...]
    decoder_self: tuple[torch.Tensor, ...]
    decoder_cross: tuple[torch.Tensor, ...]


class Transformer(nn.Module):
    """Encoder-decoder Transformer for sequence-to-sequence tasks.

    Token embeddings are initialised from ``N(0, 1/d_model)`` and multiplied by
    ``sqrt(d_model)``, so the embedded tokens have unit scale like the positional
    encodings added to them, while the tied output projection (``tie_output``) starts
    with logits of unit scale.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.src_embedding = nn.Embedding(config.src_vocab_size, d)
        self.tgt_embedding = (
            self.src_embedding
            if config.share_embeddings
            else nn.Embedding(config.tgt_vocab_size, d)
        )
        tables = dict.fromkeys([self.src_embedding, self.tgt_embedding])  # a shared one once
        for embedding in tables:
            nn.init.normal_(embedding.weight, std=d**-0.5)
        positional = POSITIONAL_KINDS[config.positional]
        self.src_positions = positional(config.max_len, d)
        self.tgt_positions = positional(config.max_len, d)
        self.dropout = Dropout(config.dropout)
        self.encoder = Encoder(config.encoder_config())
        self.decoder = Decoder(config.decoder_config())
        self.output = nn.Linear(d, config.tgt_vocab_size)
        if config.tie_output:
            self.output.weight = self.tgt_embedding.weight
        nn.init.zeros_(self.output.bias)

    # -- the two halves -------------------------------------------------------------------

    def encode(
        self, src: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Encode source ids ``(batch, src_seq)`` into the memory ``(batch, src_seq, d_model)``.

        ``src_key_padding_mask`` (bool ``(batch, src_seq)``, ``True`` at padding) defaults to
        ``src == pad_id``.
        """
        return self._encode(src, src_key_padding_mask, need_weights=False).hidden

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        cache: DecoderCache | None = None,
    ) -> torch.Tensor:
        """Next-token logits ``(batch, tgt_seq, tgt_vocab_size)`` for target ids.

        Args:
            tgt: target ids shifted right (first column BOS).
            memory: :meth:`encode`'s output ``(batch, src_seq, d_model)``.
            memory_key_padding_mask: the source padding mask (``src == pad_id``), or ``None``
                if the source has no padding. Required so it is never forgotten.
            tgt_key_padding_mask: defaults to ``tgt == pad_id`` (without a cache).
            cache: for writing one token at a time (:meth:`decoder_cache`): ``tgt`` holds
                only the tokens after the cached ones, the cache is extended in place, and
                the logits are those a pass over the whole prefix would give for these
                positions. No target padding mask is applied then unless given: padding
                written after a row's EOS comes after all its real tokens, which causal
                attention never lets them see.
        """
        hidden = self._decode(
            tgt, memory, memory_key_padding_mask, tgt_key_padding_mask, False, cache
        ).hidden
        return self.output(hidden)

    def decoder_cache(self) -> DecoderCache:
        """An empty :class:`~scratchformer.layers.DecoderCache` for :meth:`decode`."""
        return DecoderCache.empty(self.config.n_decoder_layers)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(batch, tgt_seq, tgt_vocab_size)``: encode, then decode.

        Takes source ids ``(batch, src_seq)`` and shifted target ids ``(batch, tgt_seq)``;
        both padding masks come from ``pad_id``.
        """
        src_key_padding_mask = self._padding(src)
        memory = self.encode(src, src_key_padding_mask)
        return self.decode(tgt, memory, src_key_padding_mask)

    # -- inspection and inference ---------------------------------------------------------

    def attention_maps(self, src: torch.Tensor, tgt: torch.Tensor) -> AttentionMaps:
        """All attention weights for one (eval-mode, no-gradient) pass over ``src`` and ``tgt``.

        For plots: ``maps.decoder_cross[-1][0, h]`` is the last layer's head ``h``
        cross-attention for the first example, ``(tgt_seq, src_seq)``.
        """
        with evaluating(self):
            src_key_padding_mask = self._padding(src)
            encoded = self._encode(src, src_key_padding_mask, need_weights=True)
            decoded = self._decode(tgt, encoded.hidden, src_key_padding_mask, None, True)
        assert encoded.self_weights and decoded.self_weights and decoded.cross_weights
        return AttentionMaps(encoded.self_weights, decoded.self_weights, decoded.cross_weights)

    def greedy_decode(
        self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int
    ) -> torch.Tensor:
        """Translate a batch by always choosing the most likely next token.

        See :func:`scratchformer.generate.greedy_search` (this calls it): generated ids
        ``(batch, n)``, ``n <= max_len``, BOS excluded, ``pad_id`` after each row's EOS.
        For beam search use :func:`scratchformer.generate.beam_search`.
        """
        return greedy_search(self, src, bos_id, eos_id, max_len)

    # -- internals ------------------------------------------------------------------------

    def _padding(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens == self.config.pad_id

    def _embed(
        self,
        name: str,
        tokens: torch.Tensor,
        embedding: nn.Embedding,
        positions: nn.Module,
        offset: int = 0,
    ) -> torch.Tensor:
        """Token ids ``(batch, seq)`` -> ``dropout(embedding * sqrt(d_model) + positions)``,
        the first token at position ``offset``."""
        check_token_ids(name, tokens, embedding.num_embeddings)
        seq, limit = offset + tokens.shape[1], self.config.max_len
        if seq > limit:
            raise ValueError(
                f"{name} has length {seq}, more than the model's max_len {limit}; truncate it "
                "or build the model with a larger Seq2SeqConfig.max_len."
            )
        x = embedding(tokens) * math.sqrt(self.config.d_model)
        return self.dropout(positions(x, offset))

    def _encode(
        self, src: torch.Tensor, src_key_padding_mask: torch.Tensor | None, need_weights: bool
    ) -> EncoderOutput:
        if src_key_padding_mask is None:
            src_key_padding_mask = self._padding(src)
        x = self._embed("src", src, self.src_embedding, self.src_positions)
        return self.encoder(x, key_padding_mask=src_key_padding_mask, need_weights=need_weights)

    def _decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None,
        tgt_key_padding_mask: torch.Tensor | None,
        need_weights: bool,
        cache: DecoderCache | None = None,
    ) -> DecoderOutput:
        if tgt_key_padding_mask is None and cache is None:
            tgt_key_padding_mask = self._padding(tgt)
        offset = 0 if cache is None else len(cache)
        x = self._embed("tgt", tgt, self.tgt_embedding, self.tgt_positions, offset)
        return self.decoder(
            x,
            memory,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            need_weights=need_weights,
            cache=cache,
        )


__all__ = ["POSITIONAL_KINDS", "AttentionMaps", "PositionalKind", "Seq2SeqConfig", "Transformer"]
