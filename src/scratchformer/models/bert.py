"""BERT (Devlin et al., 2019): a post-LN Transformer encoder and its task heads.

* :class:`BertConfig` holds every size (defaults: BERT-base).
* :class:`BertModel` embeds token ids (word + position + token type, then LayerNorm and
  dropout), runs the post-LN :class:`~scratchformer.layers.Encoder` of chapter 5 (GELU
  feed-forward, LayerNorm epsilon ``1e-12``) and, with a pooler, maps the ``[CLS]``
  vector through ``tanh(dense(.))``.
* :class:`BertForMaskedLM` predicts the token behind every position (``[MASK]`` ones are
  the interesting ones); its output layer reuses the word embedding matrix.
* :class:`BertForSequenceClassification` classifies a text (or a text pair) from the
  pooled ``[CLS]`` vector.

Pretrained weights come in Hugging Face's format: ``BertModel.from_pretrained(path_or_name)``
reads a folder (``config.json`` and ``model.safetensors``) or a Hub name, strictly, and
``model.save_pretrained(directory)`` writes one that ``transformers`` reads too; the
translation of configs and parameter names lives in :mod:`scratchformer.models.bert_hf`.
A classifier to fine-tune starts from a pretrained encoder with
``BertForSequenceClassification.from_pretrained(path_or_name, new_head=True)``: without
``new_head`` a missing head is an error, as any missing tensor is. Sentence embeddings
(mean pooling, :class:`~scratchformer.models.sentence_encoder.SentenceEncoder`) live in
:mod:`scratchformer.models.sentence_encoder`.

Masks follow Hugging Face's BERT inputs: ``attention_mask`` is ``True`` (or ``1``) at
real tokens and ``False`` (``0``) at padding, as :meth:`WordPiece.encode_batch` returns it.

Dropout sits where the original has it (none inside the feed-forward block), at one rate,
``hidden_dropout_prob``: our attention blocks use that rate for the attention weights too,
where the original has a separate ``attention_probs_dropout_prob`` (0.1 as well in the
published BERTs). Evaluation mode has no dropout at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.checks import check_id_values, check_token_ids, on_cpu
from scratchformer.layers import (
    ACTIVATIONS,
    Activation,
    Dropout,
    Encoder,
    LayerNorm,
    TransformerConfig,
)
from scratchformer.positional import LearnedPositionalEmbedding

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass(frozen=True)
class BertConfig:
    """Everything that defines a BERT model (defaults: BERT-base).

    Attributes:
        vocab_size: number of token ids.
        d_model: width of every token vector (``hidden_size``).
        n_layers: encoder layers.
        n_heads: attention heads per layer; must divide ``d_model``.
        d_ff: hidden width of the feed-forward blocks (``intermediate_size``).
        max_len: the longest input, in tokens (``max_position_embeddings``).
        n_token_types: number of segment ids (2: first and second text of a pair).
        dropout: dropout probability (embeddings, attention, sub-layer outputs, heads).
        activation: the feed-forward non-linearity; ``"gelu"`` is the exact (erf) GELU.
        eps: the LayerNorm epsilon.
        pad_id: the padding token id (its embedding starts at zero and gets no gradient).
        n_labels: classes of :class:`BertForSequenceClassification`.
        init_std: standard deviation of the initial weights (``initializer_range``).
    """

    vocab_size: int = 30522
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int = 3072
    max_len: int = 512
    n_token_types: int = 2
    dropout: float = 0.1
    activation: Activation = "gelu"
    eps: float = 1e-12
    pad_id: int = 0
    n_labels: int = 2
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "n_token_types", "n_labels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} must be an id in [0, {self.vocab_size}).")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}.")
        self.encoder_config()  # validates d_model, n_heads, d_ff, n_layers, dropout, activation

    def encoder_config(self) -> TransformerConfig:
        """The post-LN :class:`TransformerConfig` of the encoder stack."""
        return TransformerConfig(
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_ff=self.d_ff,
            n_layers=self.n_layers,
            dropout=self.dropout,
            activation=self.activation,
            norm_first=False,
            eps=self.eps,
            activation_dropout=0.0,
        )

    @classmethod
    def from_hf(cls, hf: Mapping[str, Any], source: str = "config") -> BertConfig:
        """Read a Hugging Face BERT ``config.json`` (as a dict, e.g. from
        :func:`~scratchformer.weights.read_config`); see
        :func:`~scratchformer.models.bert_hf.config_from_hf`.

        Raises:
            ValueError: naming ``source``, for a missing size or a BERT variant this model
                does not implement.
        """
        from scratchformer.models.bert_hf import config_from_hf

        return config_from_hf(hf, source)

    def to_hf(self) -> dict[str, Any]:
        """This config as a Hugging Face BERT ``config.json`` dict (:meth:`from_hf` reads it)."""
        from scratchformer.models.bert_hf import config_to_hf

        return config_to_hf(self)


# --------------------------------------------------------------------------- modules
class BertEmbeddings(nn.Module):
    """Token ids ``(batch, seq)`` -> vectors ``(batch, seq, d_model)``.

    The sum of three learned embeddings: the word, its position (``0 .. seq - 1``) and
    its token type (segment ``0`` or ``1``), then LayerNorm and dropout. Attributes:
    ``word``, ``position``, ``token_type``, ``norm``, ``dropout``.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.position = LearnedPositionalEmbedding(config.max_len, config.d_model)
        self.token_type = nn.Embedding(config.n_token_types, config.d_model)
        self.norm = LayerNorm(config.d_model, config.eps)
        self.dropout = Dropout(config.dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """``(batch, seq)`` ids and token types -> ``(batch, seq, d_model)``."""
        x = self.word(input_ids) + self.token_type(token_type_ids)
        return self.dropout(self.norm(self.position(x)))


class BertPooler(nn.Module):
    """The sentence vector BERT's classifiers read: ``tanh(dense(hidden[:, 0]))``, the
    transformed ``[CLS]`` token. ``(batch, seq, d_model) -> (batch, d_model)``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model) -> (batch, d_model)``."""
        return torch.tanh(self.dense(hidden[:, 0]))


class BertOutput(NamedTuple):
    """What :class:`BertModel` returns.

    Attributes:
        hidden: ``(batch, seq, d_model)``, the last layer's token vectors.
        pooled: ``(batch, d_model)``, the pooler's ``[CLS]`` vector, or ``None`` for a
            model without pooler.
    """

    hidden: torch.Tensor
    pooled: torch.Tensor | None


def _init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: linear and embedding weights from ``N(0, std^2)``, zero biases
    and padding embedding. LayerNorms keep their ones and zeros."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, (nn.Embedding, LearnedPositionalEmbedding)):
            nn.init.normal_(sub.weight, std=std)
            padding_idx = getattr(sub, "padding_idx", None)
            if padding_idx is not None:
                with torch.no_grad():
                    sub.weight[padding_idx].zero_()


class _Pretrained(nn.Module):
    """``from_pretrained`` and ``save_pretrained`` for the BERT models, in Hugging Face's
    format (the work is done in :mod:`scratchformer.models.bert_hf`)."""

    config: BertConfig

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path, **options: Any) -> Self:
        """The model of ``config.json``, loaded from ``model.safetensors``, in evaluation mode.

        Args:
            path_or_name: a directory in Hugging Face's format (e.g. written by
                :meth:`save_pretrained`) or a Hub model name (downloaded with
                ``huggingface_hub``; needs internet access the first time).
            options: go to the constructor (e.g. ``pooler=False``).

        Raises:
            FileNotFoundError: the directory lacks ``config.json`` or ``model.safetensors``.
            scratchformer.weights.HubUnreachableError: a Hub name was given while offline.
            ValueError: for an invalid or unsupported ``config.json``.
            scratchformer.checkpoints.CheckpointError: for a corrupt weights file, or
                weights that do not match (missing, unexpected or misshapen tensors, all
                listed).
        """
        from scratchformer.models.bert_hf import load_pretrained

        return load_pretrained(cls, path_or_name, **options)

    def save_pretrained(
        self, directory: str | Path, extra_config: Mapping[str, Any] | None = None
    ) -> Path:
        """Write ``config.json`` and ``model.safetensors`` in Hugging Face's format, which
        :meth:`from_pretrained` here and in ``transformers`` (the class of the same name)
        read back. ``extra_config`` adds keys to ``config.json`` (e.g. ``id2label``). The
        folder is created if needed; returns it.
        """
        from scratchformer.models.bert_hf import save_pretrained

        return save_pretrained(self, directory, extra_config)


class BertModel(_Pretrained):
    """BERT's encoder: embeddings, ``n_layers`` post-LN layers, optionally the pooler.

    Attributes: ``embeddings`` (:class:`BertEmbeddings`), ``encoder``
    (:class:`~scratchformer.layers.Encoder`), ``pooler`` (:class:`BertPooler` or ``None``).

    Args:
        config: the sizes.
        pooler: build the pooler (checkpoints of task models without one, such as masked
            language models, need ``False``).
    """

    def __init__(self, config: BertConfig, *, pooler: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(config.encoder_config())
        self.pooler = BertPooler(config) if pooler else None
        _init_weights(self, config.init_std)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BertOutput:
        """Encode a batch.

        Args:
            input_ids: ``LongTensor (batch, seq)``, ``seq <= config.max_len``.
            attention_mask: ``(batch, seq)``, bool or 0/1 integers, ``True``/``1`` at real
                tokens, ``False``/``0`` at padding; ``None``: no padding.
            token_type_ids: ``LongTensor (batch, seq)``; ``None``: all ``0``.

        Returns:
            :class:`BertOutput` with hidden ``(batch, seq, d_model)`` and pooled
            ``(batch, d_model)`` (or ``None``). Padding positions get vectors too (from
            attending to the real tokens); ignore them, e.g. with :func:`mean_pool`.

        Raises:
            ValueError / TypeError: for a wrong shape, dtype or out-of-range id, saying which.
        """
        token_type_ids, padding = self._check_inputs(input_ids, attention_mask, token_type_ids)
        x = self.embeddings(input_ids, token_type_ids)
        hidden = self.encoder(x, key_padding_mask=padding).hidden
        return BertOutput(hidden, None if self.pooler is None else self.pooler(hidden))

    def _check_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Validate; return token types and the encoder's padding mask (``True`` = padding)."""
        cfg = self.config
        check_token_ids("input_ids", input_ids, cfg.vocab_size)
        if input_ids.shape[1] > cfg.max_len:
            raise ValueError(
                f"the input has {input_ids.shape[1]} tokens but the model has only "
                f"{cfg.max_len} positions; truncate it (e.g. encode_batch(..., max_len={cfg.max_len}))."
            )
        shape = tuple(input_ids.shape)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        elif tuple(token_type_ids.shape) != shape:
            raise ValueError(
                f"token_type_ids must have the shape of input_ids {shape}, "
                f"got {tuple(token_type_ids.shape)}."
            )
        elif on_cpu(token_type_ids):
            check_id_values("token_type_ids", token_type_ids, cfg.n_token_types, "the token types")
        if attention_mask is None:
            return token_type_ids, None
        if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != shape:
            raise ValueError(
                f"attention_mask must have the shape of input_ids {shape}, "
                f"got {getattr(attention_mask, 'shape', type(attention_mask).__name__)}."
            )
        if attention_mask.is_floating_point() or attention_mask.is_complex():
            raise TypeError(
                f"attention_mask is {attention_mask.dtype}; give bools (True at real tokens) or "
                "0/1 integers, e.g. attention_mask.bool() for a mask of 0. and 1."
            )
        if attention_mask.dtype != torch.bool:
            if on_cpu(attention_mask) and not bool(
                ((attention_mask == 0) | (attention_mask == 1)).all()
            ):
                raise ValueError(
                    "attention_mask must hold only 0 (padding) and 1 (real token), got "
                    f"values {sorted(set(attention_mask.unique().tolist()))}."
                )
            attention_mask = attention_mask.bool()
        padding = ~attention_mask
        # Without padding the fused attention kernel needs no mask; finding that out reads
        # the mask's values, which is only free on the CPU.
        if on_cpu(padding) and not bool(padding.any()):
            return token_type_ids, None
        return token_type_ids, padding


class MaskedLMHead(nn.Module):
    """Token vectors -> scores over the vocabulary.

    ``dense`` + activation + ``norm`` (LayerNorm) transform each vector; the scores are
    its dot products with every word embedding, plus a per-token ``bias``. Reusing the
    embedding matrix (weight tying) makes a word's input and output vectors one.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.activation = config.activation
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.norm = LayerNorm(config.d_model, config.eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model)`` and ``(vocab, d_model)`` -> logits ``(batch, seq, vocab)``."""
        h = self.norm(ACTIVATIONS[self.activation](self.dense(hidden)))
        return F.linear(h, word_embeddings, self.bias)


class BertForMaskedLM(_Pretrained):
    """BERT without pooler plus a :class:`MaskedLMHead` tied to its word embeddings.

    Attributes: ``bert`` (:class:`BertModel`), ``mlm_head`` (:class:`MaskedLMHead`).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, pooler=False)
        self.mlm_head = MaskedLMHead(config)
        _init_weights(self.mlm_head, config.init_std)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, seq, vocab_size)``; arguments as in :meth:`BertModel.forward`."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids).hidden
        return self.mlm_head(hidden, self.bert.embeddings.word.weight)


class BertForSequenceClassification(_Pretrained):
    """BERT with pooler, then dropout and a linear ``classifier`` to ``config.n_labels`` logits.

    Attributes: ``bert``, ``dropout``, ``classifier``.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, pooler=True)
        self.dropout = Dropout(config.dropout)
        self.classifier = nn.Linear(config.d_model, config.n_labels)
        _init_weights(self.classifier, config.init_std)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, n_labels)``; arguments as in :meth:`BertModel.forward`."""
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooled
        return self.classifier(self.dropout(pooled))

    @classmethod
    def from_pretrained(  # type: ignore[override]  # takes only these two options
        cls,
        path_or_name: str | Path,
        *,
        new_head: bool = False,
        n_labels: int | None = None,
    ) -> BertForSequenceClassification:
        """Load a classifier, or a pretrained encoder under a freshly initialised head.

        Args:
            path_or_name: a Hugging Face BERT folder (``config.json``, ``model.safetensors``)
                or a Hub model name.
            new_head: ``False`` (the default) loads a *trained* classifier: the file must
                hold the ``classifier`` layer, strictly like every other tensor.
                ``True`` loads the encoder and pooler only (from a ``BertModel`` file such
                as MiniLM's, or from a classifier's file, whose head is then set aside) and
                starts a new ``classifier`` from BERT's initialisation, drawn from torch's
                global generator (seed it first for a reproducible head). This is how
                fine-tuning begins.
            n_labels: classes of the new head (``new_head=True`` only; default: the
                config's).

        Raises:
            CheckpointError: without ``new_head``, for a file that has no classifier (the
                message says to pass ``new_head=True``); otherwise as
                :meth:`BertModel.from_pretrained`.
            ValueError: for ``n_labels`` without ``new_head``.
        """
        from scratchformer.models.bert_hf import load_classifier

        return load_classifier(cls, path_or_name, new_head=new_head, n_labels=n_labels)


__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertModel",
    "BertOutput",
    "BertPooler",
    "MaskedLMHead",
]
