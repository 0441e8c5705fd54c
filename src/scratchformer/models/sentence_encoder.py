"""Sentence embeddings from BERT: one unit vector per text, cosine similarity by a dot product.

BERT gives one vector per token. A sentence embedding averages the real tokens' vectors
(:func:`mean_pool`, padding left out) and scales the result to unit length
(:func:`l2_normalize`), so the dot product of two embeddings is the cosine of their angle.
:class:`SentenceEncoder` does the whole way from texts to unit vectors, as
sentence-transformers models such as ``all-MiniLM-L6-v2`` are used: it tokenises, batches
texts of similar length together (:func:`~scratchformer.batching.batches_by_length`, less
padding), runs the :class:`~scratchformer.models.bert.BertModel` and pools.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from scratchformer.batching import batches_by_length
from scratchformer.checks import as_texts
from scratchformer.generate.lm import evaluating
from scratchformer.models.bert import BertModel, BertOutput
from scratchformer.tokenizers.wordpiece import WordPiece
from scratchformer.tokenizers.wordpiece_files import load_wordpiece, optional_json


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
            lengths = [len(encoding.ids) for encoding in encodings]
            for chosen in batches_by_length(lengths, self.config.batch_size):
                batch = self.tokenizer.pad([encodings[i] for i in chosen])
                ids, mask, types = (t.to(device) for t in batch)
                out[chosen] = head(self.model(ids, mask, types), mask)
        return out


__all__ = ["SentenceEncoder", "SentenceEncoderConfig", "l2_normalize", "mean_pool"]
