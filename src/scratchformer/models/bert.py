"""BERT (Devlin et al., 2019): a post-LN Transformer encoder, its heads and its checkpoints.

* :class:`BertModel` embeds token ids (word + position + token type, then LayerNorm and
  dropout), runs the post-LN :class:`~scratchformer.layers.Encoder` of chapter 5 (GELU
  feed-forward, LayerNorm epsilon ``1e-12``) and, with a pooler, maps the ``[CLS]``
  vector through ``tanh(dense(.))``.
* :class:`BertForMaskedLM` predicts the token behind every position (``[MASK]`` ones are
  the interesting ones); its output layer reuses the word embedding matrix.
* :class:`BertForSequenceClassification` classifies a text (or a text pair) from the
  pooled ``[CLS]`` vector.
* :func:`mean_pool` and :func:`l2_normalize` turn token vectors into sentence
  embeddings; :class:`SentenceEncoder` does the whole way from texts to unit vectors,
  as sentence-transformers models such as ``all-MiniLM-L6-v2`` are used.

``from_pretrained`` loads Hugging Face-format checkpoints (``config.json`` and
``model.safetensors``) through :data:`HF_NAMES`, the one table that maps their parameter
names to ours, strictly (see :mod:`scratchformer.checkpoints`); ``save_pretrained`` writes
them, so ``transformers`` reads our models too. A classifier to fine-tune starts from a
pretrained encoder with ``BertForSequenceClassification.from_pretrained(dir,
new_head=True)``: without ``new_head`` a missing head is an error, as any missing tensor is.

Masks follow Hugging Face's BERT inputs: ``attention_mask`` is ``True`` (or ``1``) at
real tokens and ``False`` (``0``) at padding, as :meth:`WordPiece.encode_batch` returns it.

Dropout sits where the original has it (none inside the feed-forward block), at one rate,
``hidden_dropout_prob``: our attention blocks use that rate for the attention weights too,
where the original has a separate ``attention_probs_dropout_prob`` (0.1 as well in the
published BERTs). Evaluation mode has no dropout at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from scratchformer.checkpoints import (
    CheckpointError,
    TensorRule,
    expand_layers,
    export_checkpoint,
    load_checkpoint,
    read_safetensors,
)
from scratchformer.checks import as_texts, check_id_values, check_token_ids, on_cpu
from scratchformer.generate.lm import evaluating
from scratchformer.layers import (
    ACTIVATIONS,
    Activation,
    Dropout,
    Encoder,
    LayerNorm,
    TransformerConfig,
)
from scratchformer.positional import LearnedPositionalEmbedding
from scratchformer.tokenizers.wordpiece import VOCAB_FILE, Encoding, WordPiece, WordPieceConfig
from scratchformer.weights import read_config

if TYPE_CHECKING:
    from typing_extensions import Self

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

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
        """Read a Hugging Face BERT ``config.json`` (as a dict); keys per :data:`HF_CONFIG_KEYS`.

        Keys it does not list keep BERT's defaults; ``n_labels`` comes from ``id2label``
        (or ``num_labels``). ``attention_probs_dropout_prob`` is not used (see the module
        notes on dropout).

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
        values = {
            field: hf[key] for key, field in HF_CONFIG_KEYS.items() if hf.get(key) is not None
        }
        if "activation" in values:
            values["activation"] = HF_ACTIVATIONS[values["activation"]]
        if "id2label" in hf:
            values["n_labels"] = len(hf["id2label"])
        elif "num_labels" in hf:
            values["n_labels"] = hf["num_labels"]
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None

    def to_hf(self) -> dict[str, Any]:
        """This config as a Hugging Face BERT ``config.json`` dict (:meth:`from_hf` reads it back).

        ``attention_probs_dropout_prob`` is written equal to ``dropout``, the one rate our
        model uses for both.
        """
        hf: dict[str, Any] = {key: getattr(self, field) for key, field in HF_CONFIG_KEYS.items()}
        hf.update(
            model_type="bert", num_labels=self.n_labels, attention_probs_dropout_prob=self.dropout
        )
        return hf

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """Read a Hugging Face ``config.json`` file (see :meth:`from_hf`)."""
        return cls.from_hf(read_config(path), source=str(path))


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
    """``from_pretrained`` for the BERT models: a Hugging Face folder -> a loaded model."""

    config: BertConfig

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> Self:
        """Build the model from ``directory/config.json`` and load ``directory/model.safetensors``.

        Parameter names are mapped by :data:`HF_NAMES`. ``options`` go to the constructor
        (e.g. ``pooler=False``). The model is returned in evaluation mode.

        Raises:
            FileNotFoundError / ValueError: for a missing or invalid ``config.json``.
            scratchformer.checkpoints.CheckpointError: for a missing or corrupt weights
                file, or weights that do not match (missing, unexpected or misshapen
                tensors, all listed).
        """
        directory = Path(directory)
        model = cls(BertConfig.from_json(directory / CONFIG_FILE), **options)
        path = directory / WEIGHTS_FILE
        _load_hf(model, _read_hf(path), path)
        return model.eval()

    def save_pretrained(
        self, directory: str | Path, extra_config: Mapping[str, Any] | None = None
    ) -> Path:
        """Write ``config.json`` and ``model.safetensors`` in Hugging Face's format.

        Tensor names follow :data:`HF_NAMES`, so ``from_pretrained`` here and in
        ``transformers`` (the class of the same name) read the folder back.
        ``extra_config`` adds keys to ``config.json`` (e.g. ``id2label``). The folder is
        created if needed; returns it.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        hf = {**self.config.to_hf(), "architectures": [type(self).__name__], **(extra_config or {})}
        (directory / CONFIG_FILE).write_text(json.dumps(hf, indent=2), encoding="utf-8")
        save_file(export_checkpoint(self, hf_rules(self)), directory / WEIGHTS_FILE)
        return directory


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
        directory: str | Path,
        *,
        new_head: bool = False,
        n_labels: int | None = None,
    ) -> BertForSequenceClassification:
        """Load a classifier, or a pretrained encoder under a freshly initialised head.

        Args:
            directory: a Hugging Face BERT folder (``config.json``, ``model.safetensors``).
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
        directory = Path(directory)
        config = BertConfig.from_json(directory / CONFIG_FILE)
        path = directory / WEIGHTS_FILE
        checkpoint = _read_hf(path)
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
                    "BertForSequenceClassification.from_pretrained(directory, new_head=True, "
                    "n_labels=...)."
                )
            model = cls(config)
            _load_hf(model, checkpoint, path)
            return model.eval()
        if n_labels is not None:
            config = dataclasses.replace(config, n_labels=n_labels)
        model = cls(config)
        encoder = {
            name.removeprefix("bert."): tensor
            for name, tensor in checkpoint.items()
            if not name.startswith("classifier.")
        }
        _load_hf(model.bert, encoder, path)
        return model.eval()


# --------------------------------------------------------------------------- checkpoints
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
    """The rules of :data:`HF_NAMES` that apply to ``model`` (a BERT model of this module).

    A rule applies where the model has the tensor, either as named or under ``bert.``
    (inside a task model); :func:`~scratchformer.checkpoints.load_checkpoint` then checks
    that every tensor of the model is covered.
    """
    if not isinstance(model, _Pretrained):
        raise TypeError(f"expected one of this module's BERT models, got {type(model).__name__}")
    names = set(model.state_dict())
    rules = []
    for rule in expand_layers(HF_NAMES, model.config.n_layers):
        for candidate in (rule, rule.with_prefix("bert.", "bert.")):
            if candidate.ours in names:
                rules.append(candidate)
    return rules


def _read_hf(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a Hugging Face ``model.safetensors``, tied copies checked and dropped."""
    return _drop_tied_copies(read_safetensors(path), str(path))


def _load_hf(model: nn.Module, checkpoint: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load Hugging Face-named tensors into one of this module's models, strictly."""
    load_checkpoint(model, checkpoint, hf_rules(model), optional=HF_OPTIONAL, source=str(path))


def _drop_tied_copies(checkpoint: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Remove the stored copies of tied tensors after checking they equal the original."""
    for copy, original in HF_TIED_COPIES.items():
        if copy in checkpoint and original in checkpoint:
            if not torch.equal(checkpoint[copy], checkpoint[original]):
                raise CheckpointError(
                    f"{source}: {copy} differs from {original}; this model ties them "
                    "(tie_word_embeddings), so an untied checkpoint cannot be loaded"
                )
            checkpoint = {name: t for name, t in checkpoint.items() if name != copy}
    return checkpoint


# --------------------------------------------------------------------------- sentence embeddings
def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of each sequence's real-token vectors (padding left out).

    Args:
        hidden: ``(batch, seq, d_model)``.
        attention_mask: ``(batch, seq)``, ``True``/``1`` at real tokens.

    Returns:
        ``(batch, d_model)``; a row without any real token is all zeros.
    """
    if not isinstance(hidden, torch.Tensor) or not isinstance(attention_mask, torch.Tensor):
        raise TypeError(
            f"mean_pool expects tensors, got {type(hidden).__name__} and "
            f"{type(attention_mask).__name__}."
        )
    if hidden.dim() != 3 or tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            f"mean_pool expects hidden (batch, seq, d_model) and attention_mask (batch, seq), "
            f"got {tuple(hidden.shape)} and {tuple(attention_mask.shape)}."
        )
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``x / |x|`` along the last dimension, so dot products are cosine similarities.

    ``eps`` guards the all-zero vector (it stays zero). Shape ``(..., d)`` is kept.
    """
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


@dataclass(frozen=True)
class SentenceEncoderConfig:
    """How :class:`SentenceEncoder` batches texts.

    Attributes:
        max_len: tokens per text, ``[CLS]`` and ``[SEP]`` included; longer texts are cut.
        batch_size: texts per forward pass.
    """

    max_len: int = 256
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.max_len < 2 or self.batch_size < 1:
            raise ValueError(
                f"max_len must be >= 2 and batch_size >= 1, got {self.max_len} and {self.batch_size}."
            )


class SentenceEncoder:
    """Texts -> unit-length sentence embeddings: tokenise, encode, mean-pool, normalise.

    Texts are processed in batches of similar length (less padding), results come back
    in input order. Cosine similarity of two texts is the dot product of their embeddings.

    Args:
        model: a :class:`BertModel` (the pooler is not used).
        tokenizer: its :class:`WordPiece` tokeniser.
        config: ``max_len`` and ``batch_size``.
    """

    def __init__(
        self,
        model: BertModel,
        tokenizer: WordPiece,
        config: SentenceEncoderConfig | None = None,
    ) -> None:
        self.config = config if config is not None else SentenceEncoderConfig()
        if self.config.max_len > model.config.max_len:
            raise ValueError(
                f"max_len={self.config.max_len} exceeds the model's {model.config.max_len} positions."
            )
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {tokenizer.vocab_size} ids but the model "
                f"{model.config.vocab_size}; use the model's own vocab.txt"
            )
        self.model = model
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, config: SentenceEncoderConfig | None = None
    ) -> SentenceEncoder:
        """Load a sentence-transformers folder (such as ``data.require("minilm")``).

        Reads the model (:meth:`BertModel.from_pretrained`), ``vocab.txt``, the
        tokeniser's casing from ``tokenizer_config.json`` and, unless ``config`` is
        given, ``max_len`` from ``sentence_bert_config.json``.

        Raises:
            ValueError: if ``1_Pooling/config.json`` asks for another pooling than the mean.
        """
        directory = Path(directory)
        pooling = optional_json(directory / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise ValueError(
                f"{directory / '1_Pooling' / 'config.json'}: this model pools other than by "
                "the mean of its tokens, which SentenceEncoder does not implement"
            )
        if config is None:
            settings = optional_json(directory / "sentence_bert_config.json")
            config = SentenceEncoderConfig(max_len=settings.get("max_seq_length", 256))
        return cls(BertModel.from_pretrained(directory), load_wordpiece(directory), config)

    def encode(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Embeddings ``(n_texts, d_model)`` of unit length (``(d_model,)`` for one string),
        on the model's device.

        The model runs in evaluation mode (no dropout) and is put back in the mode it
        was in.
        """
        batch, single = as_texts(texts)
        embeddings = self.map_texts(
            batch,
            lambda output, mask: l2_normalize(mean_pool(output.hidden, mask)),
            self.model.config.d_model,
        )
        return embeddings[0] if single else embeddings

    @torch.inference_mode()
    def map_texts(
        self,
        texts: Sequence[str],
        head: Callable[[BertOutput, torch.Tensor], torch.Tensor],
        width: int,
    ) -> torch.Tensor:
        """Run the model on ``texts`` in batches of similar length and apply ``head`` to each.

        Args:
            texts: the texts, cut at ``config.max_len`` tokens.
            head: ``(BertOutput, attention_mask (batch, seq)) -> (batch, width)``, e.g.
                mean pooling (what :meth:`encode` does).
            width: the number of values ``head`` gives per text.

        Returns:
            ``(n_texts, width)`` in the order of ``texts``, on the model's device. The
            model runs in evaluation mode and is put back in the mode it was in.
        """
        encodings = [
            self.tokenizer.encode_plus(text, max_len=self.config.max_len) for text in texts
        ]
        device = self.model.embeddings.word.weight.device
        out = torch.empty(len(encodings), width, device=device)
        with evaluating(self.model):
            for chosen in batches_by_length(encodings, self.config.batch_size):
                batch = self.tokenizer.pad([encodings[i] for i in chosen])
                ids, mask, types = (t.to(device) for t in batch)
                out[chosen] = head(self.model(ids, mask, types), mask)
        return out


def batches_by_length(encodings: Sequence[Encoding], batch_size: int) -> list[list[int]]:
    """Indices of ``encodings`` sorted by length and cut into batches of ``batch_size``.

    A batch is padded to its longest text; batching texts of similar length wastes little
    on padding. Returns lists of indices into ``encodings`` (the last batch may be shorter).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


# tokenizer_config.json key -> WordPieceConfig field (Hugging Face's names).
_HF_TOKENIZER_KEYS: dict[str, str] = {
    "do_lower_case": "lowercase",
    "strip_accents": "strip_accents",
    "tokenize_chinese_chars": "split_cjk",
    "unk_token": "unk",
    "sep_token": "sep",
    "pad_token": "pad",
    "cls_token": "cls",
    "mask_token": "mask",
}


def load_wordpiece(directory: str | Path) -> WordPiece:
    """The tokeniser of a Hugging Face BERT folder: ``vocab.txt``, with casing and special
    tokens from ``tokenizer_config.json`` when it has one (uncased BERT's defaults otherwise)."""
    directory = Path(directory)
    settings = optional_json(directory / TOKENIZER_CONFIG_FILE)
    options = {
        field: settings[key]
        for key, field in _HF_TOKENIZER_KEYS.items()
        if isinstance(settings.get(key), (str, bool))
    }
    return WordPiece.from_file(directory / VOCAB_FILE, WordPieceConfig(**options))


def save_wordpiece(tokenizer: WordPiece, directory: str | Path, max_len: int) -> None:
    """Write ``vocab.txt`` and ``tokenizer_config.json`` (``max_len`` as
    ``model_max_length``) so that :func:`load_wordpiece` and ``transformers``'
    ``BertTokenizer`` read the same tokeniser back."""
    directory = Path(directory)
    vocab = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    (directory / VOCAB_FILE).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    settings: dict[str, Any] = {
        key: getattr(tokenizer.config, field) for key, field in _HF_TOKENIZER_KEYS.items()
    }
    settings.update(tokenizer_class="BertTokenizer", model_max_length=max_len)
    (directory / TOKENIZER_CONFIG_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")


def optional_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` if there is no such file.

    Raises:
        ValueError: naming the file, if it is not a JSON object.
    """
    return read_config(path) if path.is_file() else {}


__all__ = [
    "HF_ACTIVATIONS",
    "HF_CONFIG_KEYS",
    "HF_NAMES",
    "HF_OPTIONAL",
    "HF_TIED_COPIES",
    "BertConfig",
    "BertEmbeddings",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertModel",
    "BertOutput",
    "BertPooler",
    "MaskedLMHead",
    "SentenceEncoder",
    "SentenceEncoderConfig",
    "batches_by_length",
    "hf_rules",
    "l2_normalize",
    "load_wordpiece",
    "mean_pool",
    "optional_json",
    "save_wordpiece",
]
