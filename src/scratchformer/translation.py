"""From sentence pairs to a translator: a shared tokenizer, tokenised pairs, translating text.

Chapter 7 glues the pieces together with these:

* :func:`train_shared_tokenizer` — one byte-level BPE vocabulary for source *and* target,
  so names, numbers and cognates (*Hotel*, *2024*, *Computer*) get the same ids on both
  sides, and the model can share one embedding table between encoder, decoder and output
  layer;
* :func:`encode_pairs` — text pairs to ``(source ids, BOS + target ids + EOS)``;
* :class:`Translator` — a trained model plus its tokenizer: text in, text out, with
  greedy or beam search, in length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import overload

import torch

from scratchformer.batching import TokenPair, pad_batch
from scratchformer.checks import as_texts
from scratchformer.generate import BeamSearchConfig, beam_search, greedy_search
from scratchformer.models.seq2seq import Transformer
from scratchformer.tokenizers import BPETrainConfig, ByteLevelBPE

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, BOS, EOS)
"""The tokens a translation vocabulary needs besides the bytes and merges."""


def train_shared_tokenizer(texts: Iterable[str], vocab_size: int) -> ByteLevelBPE:
    """Train one byte-level BPE on texts of both languages, with :data:`SPECIAL_TOKENS`.

    Args:
        texts: training sentences of *both* languages (never validation or test text).
        vocab_size: the total vocabulary: 256 bytes + merges + 3 special tokens.
    """
    return ByteLevelBPE.train(
        texts, BPETrainConfig(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    )


@dataclass(frozen=True)
class SpecialIds:
    """The ids of :data:`SPECIAL_TOKENS` in a tokenizer."""

    pad: int
    bos: int
    eos: int

    @classmethod
    def of(cls, tokenizer: ByteLevelBPE) -> SpecialIds:
        """Look the special tokens up; a clear error if the tokenizer lacks one."""
        specials = tokenizer.special_tokens
        missing = [t for t in SPECIAL_TOKENS if t not in specials]
        if missing:
            raise ValueError(
                f"the tokenizer has no special token(s) {missing}; train it with "
                "train_shared_tokenizer (or special_tokens=SPECIAL_TOKENS)."
            )
        return cls(specials[PAD], specials[BOS], specials[EOS])


def encode_pairs(
    tokenizer: ByteLevelBPE, sources: Sequence[str], targets: Sequence[str], max_len: int
) -> list[TokenPair]:
    """Tokenise sentence pairs for training: ``(source ids, [BOS] + target ids + [EOS])``.

    Pairs whose source is longer than ``max_len`` tokens or whose target (with BOS) is
    longer than ``max_len`` are dropped: the model could not read them.
    """
    if len(sources) != len(targets):
        raise ValueError(f"got {len(sources)} sources but {len(targets)} targets.")
    ids = SpecialIds.of(tokenizer)
    pairs: list[TokenPair] = []
    for source, target in zip(sources, targets):
        src, tgt = tokenizer.encode(source), [ids.bos, *tokenizer.encode(target), ids.eos]
        if 0 < len(src) <= max_len and len(tgt) - 1 <= max_len:
            pairs.append((src, tgt))
    return pairs


class Translator:
    """A trained encoder-decoder and its tokenizer: translates text.

    Args:
        model: the trained :class:`~scratchformer.models.seq2seq.Transformer`.
        tokenizer: the shared tokenizer it was trained with.
    """

    def __init__(self, model: Transformer, tokenizer: ByteLevelBPE) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.ids = SpecialIds.of(tokenizer)
        if model.config.pad_id != self.ids.pad:
            raise ValueError(
                f"the model pads with id {model.config.pad_id} but the tokenizer's {PAD} is "
                f"{self.ids.pad}: they were not trained together."
            )

    def encode_source(self, text: str, truncate: bool = False) -> list[int]:
        """Source ids of ``text``.

        Raises:
            ValueError: ``text`` is empty or blank, or it has more tokens than the
                model's ``max_len`` and ``truncate`` is false (with ``truncate=True``
                only its first ``max_len`` tokens are translated).
        """
        if not text.strip():
            raise ValueError("cannot translate an empty text: give at least one word.")
        ids = self.tokenizer.encode(text)
        limit = self.model.config.max_len
        if len(ids) > limit:
            if not truncate:
                raise ValueError(
                    f"the text has {len(ids)} tokens, more than the model's max_len={limit}: "
                    f"split it into sentences, or pass truncate=True to translate only its "
                    f"first {limit} tokens."
                )
            ids = ids[:limit]
        return ids

    @overload
    def translate(  # type: ignore[overload-overlap]  # a str is a Sequence[str] too
        self,
        texts: str,
        beam_size: int = ...,
        length_penalty: float = ...,
        max_len: int | None = ...,
        truncate: bool = ...,
        batch_size: int = ...,
    ) -> str: ...

    @overload
    def translate(
        self,
        texts: Sequence[str],
        beam_size: int = ...,
        length_penalty: float = ...,
        max_len: int | None = ...,
        truncate: bool = ...,
        batch_size: int = ...,
    ) -> list[str]: ...

    def translate(
        self,
        texts: str | Sequence[str],
        beam_size: int = 1,
        length_penalty: float = 0.6,
        max_len: int | None = None,
        truncate: bool = False,
        batch_size: int = 64,
    ) -> str | list[str]:
        """Translate ``texts``; greedy search for ``beam_size=1``, else beam search.

        Texts are sorted by length and translated ``batch_size`` at a time (little
        padding), and returned in the input order.

        Args:
            texts: the sentences to translate; one string gives one translation (a
                ``str``), a list of them a list.
            beam_size: hypotheses kept per sentence (1: greedy search).
            length_penalty: the GNMT ``alpha`` of beam search.
            max_len: most tokens per translation (default: the model's ``max_len``).
            truncate: see :meth:`encode_source`.
            batch_size: sentences decoded together.
        """
        batch, single = as_texts(texts)
        max_len = max_len or self.model.config.max_len
        encoded = [self.encode_source(text, truncate) for text in batch]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        outputs: list[str] = [""] * len(encoded)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            src, _ = pad_batch([encoded[i] for i in chunk], self.ids.pad)
            for i, tokens in zip(chunk, self._decode(src, beam_size, length_penalty, max_len)):
                outputs[i] = self.tokenizer.decode(self._strip(tokens)).strip()
        return outputs[0] if single else outputs

    def _decode(
        self, src: torch.Tensor, beam_size: int, length_penalty: float, max_len: int
    ) -> list[list[int]]:
        if beam_size == 1:
            return greedy_search(self.model, src, self.ids.bos, self.ids.eos, max_len).tolist()
        config = BeamSearchConfig(self.ids.bos, self.ids.eos, beam_size, max_len, length_penalty)
        return [hyps[0].tokens for hyps in beam_search(self.model, src, config)]

    def _strip(self, tokens: list[int]) -> list[int]:
        """Generated ids up to (without) EOS, padding removed."""
        if self.ids.eos in tokens:
            tokens = tokens[: tokens.index(self.ids.eos)]
        return [t for t in tokens if t != self.ids.pad]


__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "SpecialIds",
    "Translator",
    "encode_pairs",
    "train_shared_tokenizer",
]
