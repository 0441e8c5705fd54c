"""Decoding an encoder-decoder model: batched greedy search and beam search.

The source is encoded once; the decoder then writes the target one token at a time,
starting from BOS, each step reading everything written so far. A decoder cache
(:class:`~scratchformer.layers.DecoderCache`) keeps the keys and values of the tokens
already written and of the encoder output, so each step computes one new position
instead of the whole prefix again.

* **Greedy search** (:func:`greedy_search`) keeps one hypothesis per source and always
  appends the most likely next token. Fast, but a choice that looks best now can lead to a
  worse sentence overall, and it is never revised.
* **Beam search** (:func:`beam_search`) keeps the ``beam_size`` best partial translations
  per source. Every step extends each of them by every token, and keeps the
  ``beam_size`` best extensions by total log-probability. A hypothesis that writes EOS is
  finished and set aside. Because every token's log-probability is negative, long
  sentences score lower than short ones; a *length penalty* divides the total by
  ``((5 + length) / 6) ** alpha`` (Wu et al., 2016, GNMT) so that ``alpha > 0`` stops the
  search from preferring translations that end too early.

With ``beam_size=1`` beam search is greedy search. A wider beam is still a heuristic: it
can prune the greedy path early for prefixes that look better and later turn out worse.
So :func:`beam_search` also runs greedy search and keeps its translation as one more
finished hypothesis: the result is never one the model scores below greedy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from scratchformer.checks import check_id_values, check_token_ids, on_cpu
from scratchformer.config import device_of
from scratchformer.generate.lm import evaluating
from scratchformer.layers import DecoderCache


class Seq2SeqModel(Protocol):
    """What decoding needs (:class:`~scratchformer.models.seq2seq.Transformer` has it).

    ``config`` has ``pad_id``, ``max_len``, ``src_vocab_size`` and ``tgt_vocab_size``; ``encode(src, mask)``
    returns the memory ``(batch, src_seq, d_model)``; ``decode(tgt, memory, mask)`` the
    logits ``(batch, tgt_seq, tgt_vocab_size)``, and with ``cache=decoder_cache()`` those
    of the new tokens ``tgt`` after the cached ones; padding masks are ``True`` at padding.
    """

    @property
    def config(self) -> Any:
        """The model's config (read: ``pad_id``, ``max_len`` and the vocabulary sizes)."""
        ...

    def encode(
        self, src: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor: ...

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        cache: DecoderCache | None = None,
    ) -> torch.Tensor: ...

    def decoder_cache(self) -> DecoderCache: ...

    def eval(self) -> object: ...


@dataclass(frozen=True)
class BeamSearchConfig:
    """How :func:`beam_search` decodes.

    Attributes:
        bos_id, eos_id: begin/end-of-sequence ids of the target vocabulary.
        beam_size: hypotheses kept per source (1: greedy search).
        max_len: most tokens generated per source, EOS included.
        length_penalty: ``alpha`` of the GNMT penalty ``((5 + length) / 6) ** alpha``
            that finished hypotheses' log-probabilities are divided by; ``0`` ranks by
            the plain log-probability.
    """

    bos_id: int
    eos_id: int
    beam_size: int = 4
    max_len: int = 64
    length_penalty: float = 0.6

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}.")
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}.")
        if self.length_penalty < 0:
            raise ValueError(
                f"length_penalty must be >= 0, got {self.length_penalty}; 0 turns it off, "
                "larger values favour longer translations."
            )


@dataclass(frozen=True)
class Hypothesis:
    """One translation found by :func:`beam_search`.

    Attributes:
        tokens: generated ids, BOS excluded, ending with EOS unless ``max_len`` cut it off.
        log_prob: the sum of the tokens' log-probabilities under the model.
        score: ``log_prob`` divided by the length penalty: what beam search ranks by.
    """

    tokens: list[int]
    log_prob: float
    score: float


def length_penalty(length: int, alpha: float) -> float:
    """The GNMT length penalty ``((5 + length) / 6) ** alpha`` (1 for ``alpha = 0``)."""
    return ((5 + length) / 6) ** alpha


def _check_ids(model: Seq2SeqModel, max_len: int, bos_id: int, eos_id: int) -> None:
    cfg = model.config
    if not 1 <= max_len <= cfg.max_len:
        raise ValueError(
            f"max_len must lie in [1, config.max_len={cfg.max_len}], got {max_len}; the "
            "model cannot read a longer target."
        )
    vocab = cfg.tgt_vocab_size
    for name, token in (("bos_id", bos_id), ("eos_id", eos_id)):
        if not 0 <= token < vocab:
            raise ValueError(f"{name}={token} is not in the target vocabulary [0, {vocab}).")


def _encode(model: Seq2SeqModel, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_token_ids("src", src, model.config.src_vocab_size)
    if src.shape[0] == 0:
        raise ValueError("src holds no sentence (batch = 0); give at least one.")
    if not on_cpu(src):  # checked once here, where the batch enters, not at every step
        check_id_values("src", src, model.config.src_vocab_size)
    src = src.to(device_of(model) or src.device)
    mask = src == model.config.pad_id
    return model.encode(src, mask), mask


def greedy_search(
    model: Seq2SeqModel, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int
) -> torch.Tensor:
    """Translate a batch by always choosing the most likely next token.

    Runs in eval mode without gradients (the previous mode is restored). Starts every row
    from ``bos_id`` and stops once every row has produced ``eos_id`` or after ``max_len``
    tokens.

    Args:
        src: source ids ``(batch, src_seq)``, padded with the model's ``pad_id``.
        bos_id, eos_id: begin/end-of-sequence ids of the target vocabulary.
        max_len: most tokens to generate per row (``<= model.config.max_len``).

    Returns:
        Generated ids ``(batch, n)`` with ``n <= max_len``, BOS excluded: each row ends
        with its EOS (if reached) followed by ``pad_id``.
    """
    _check_ids(model, max_len, bos_id, eos_id)
    with evaluating(model):  # type: ignore[arg-type]
        memory, mask = _encode(model, src)
        return _greedy(model, memory, mask, bos_id, eos_id, max_len)


def _greedy(
    model: Seq2SeqModel,
    memory: torch.Tensor,
    mask: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_len: int,
) -> torch.Tensor:
    """:func:`greedy_search` on an encoded source (``memory`` and its padding ``mask``)."""
    pad_id = model.config.pad_id
    ys = torch.full((memory.shape[0], 1), bos_id, dtype=torch.long, device=memory.device)
    done = torch.zeros(memory.shape[0], dtype=torch.bool, device=memory.device)
    cache = model.decoder_cache()
    for _ in range(max_len):
        next_token = model.decode(ys[:, -1:], memory, mask, cache=cache)[:, -1].argmax(dim=-1)
        next_token = next_token.masked_fill(done, pad_id)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        done |= next_token == eos_id
        if bool(done.all()):
            break
    return ys[:, 1:]


def beam_search(
    model: Seq2SeqModel, src: torch.Tensor, config: BeamSearchConfig
) -> list[list[Hypothesis]]:
    """Translate a batch with beam search.

    All ``batch * beam_size`` hypotheses go through the decoder together. A source stops
    once it has ``beam_size`` finished hypotheses and none of its live ones scores higher
    than the worst of them at the current length (exact for ``length_penalty=0``, where
    scores can only fall as a hypothesis grows); hypotheses still live at ``max_len``
    are returned without EOS.

    Args:
        model: the encoder-decoder (run in eval mode without gradients; its mode is
            restored).
        src: source ids ``(batch, src_seq)``, padded with the model's ``pad_id``.
        config: the :class:`BeamSearchConfig`.

    Returns:
        For every source, its finished hypotheses, best ``score`` first (at most
        ``beam_size``), the greedy translation among the candidates.
    """
    _check_ids(model, config.max_len, config.bos_id, config.eos_id)
    k = config.beam_size
    with evaluating(model):  # type: ignore[arg-type]
        memory, mask = _encode(model, src)  # once, for greedy and for the beams
        greedy = _greedy(model, memory, mask, config.bos_id, config.eos_id, config.max_len)
        greedy_log_probs = _log_probs(model, memory, mask, greedy, config.bos_id).tolist()
        finished = _beams(model, memory, mask, config)
    pad_id = model.config.pad_id
    for hyps, row, lp in zip(finished, greedy.tolist(), greedy_log_probs):
        tokens = [t for t in row if t != pad_id]
        if all(h.tokens != tokens for h in hyps):
            hyps.append(
                Hypothesis(tokens, lp, lp / length_penalty(len(tokens), config.length_penalty))
            )
    return [sorted(hyps, key=lambda h: -h.score)[:k] for hyps in finished]


def _beams(
    model: Seq2SeqModel, memory: torch.Tensor, mask: torch.Tensor, config: BeamSearchConfig
) -> list[list[Hypothesis]]:
    """The finished hypotheses of plain beam search on an encoded source."""
    batch, k, device = memory.shape[0], config.beam_size, memory.device
    memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
    tokens = torch.full((batch * k, 1), config.bos_id, dtype=torch.long, device=device)
    beam_log_prob = torch.full((batch, k), -torch.inf, device=device)
    beam_log_prob[:, 0] = 0.0  # all beams start equal: only the first may expand
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    cache = model.decoder_cache()
    for length in range(1, config.max_len + 1):
        logits = model.decode(tokens[:, -1:], memory, mask, cache=cache)[:, -1].float()
        log_probs = torch.log_softmax(logits, dim=-1).view(batch, k, -1)
        vocab = log_probs.shape[-1]
        candidates = (beam_log_prob[:, :, None] + log_probs).view(batch, -1)
        top_log_prob, top_index = candidates.topk(min(2 * k, candidates.shape[1]), dim=1)
        penalty = length_penalty(length, config.length_penalty)
        # The next beams, built as Python lists (one tensor each per step, not per element).
        new_log_prob = [[-math.inf] * k for _ in range(batch)]
        new_origin = [[0] * k for _ in range(batch)]
        new_token = [[config.eos_id] * k for _ in range(batch)]
        for b, (row_lp, row_index) in enumerate(zip(top_log_prob.tolist(), top_index.tolist())):
            if done[b]:
                continue
            kept = 0
            for rank, (lp, index) in enumerate(zip(row_lp, row_index)):
                if lp == -math.inf:
                    break
                origin, token = divmod(index, vocab)
                if token == config.eos_id:
                    if rank < k:  # an EOS outside the top k would not have been kept
                        prefix = tokens[b * k + origin, 1:].tolist()
                        finished[b].append(Hypothesis(prefix + [token], lp, lp / penalty))
                    continue
                new_log_prob[b][kept], new_origin[b][kept], new_token[b][kept] = lp, origin, token
                kept += 1
                if kept == k:
                    break
            done[b] = _is_done(finished[b], max(new_log_prob[b]) / penalty, k)
        origins = torch.tensor(new_origin, device=device)
        rows = (torch.arange(batch, device=device)[:, None] * k + origins).view(-1)
        tokens = torch.cat(
            [tokens[rows], torch.tensor(new_token, device=device).view(-1, 1)], dim=1
        )
        cache.select(rows)
        beam_log_prob = torch.tensor(new_log_prob, device=device)
        if all(done):
            break
    for b in range(batch):
        if not done[b]:  # out of length: the live hypotheses count as they are
            penalty = length_penalty(tokens.shape[1] - 1, config.length_penalty)
            for beam, lp in enumerate(beam_log_prob[b].tolist()):
                if lp > -math.inf:
                    finished[b].append(
                        Hypothesis(tokens[b * k + beam, 1:].tolist(), lp, lp / penalty)
                    )
    return finished


def _is_done(finished: list[Hypothesis], best_live_score: float, k: int) -> bool:
    if len(finished) < k:
        return False
    worst_kept = sorted(h.score for h in finished)[-k]
    return best_live_score <= worst_kept


def sequence_log_probs(
    model: Seq2SeqModel, src: torch.Tensor, tokens: torch.Tensor, bos_id: int
) -> torch.Tensor:
    """The log-probability the model gives each row of ``tokens`` as a translation of ``src``.

    Args:
        src: source ids ``(batch, src_seq)``.
        tokens: generated ids ``(batch, n)`` (BOS excluded, as :func:`greedy_search`
            returns them); positions holding ``pad_id`` are not counted.
        bos_id: the begin-of-sequence id the decoder starts from.

    Returns:
        ``(batch,)``: the sum of the tokens' log-probabilities.
    """
    with evaluating(model):  # type: ignore[arg-type]
        memory, mask = _encode(model, src)
        return _log_probs(model, memory, mask, tokens, bos_id)


def _log_probs(
    model: Seq2SeqModel, memory: torch.Tensor, mask: torch.Tensor, tokens: torch.Tensor, bos_id: int
) -> torch.Tensor:
    """:func:`sequence_log_probs` on an encoded source."""
    pad_id = model.config.pad_id
    start = torch.full((tokens.shape[0], 1), bos_id, dtype=torch.long, device=tokens.device)
    logits = model.decode(torch.cat([start, tokens[:, :-1]], dim=1), memory, mask)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    picked = log_probs.gather(-1, tokens[..., None]).squeeze(-1)
    return picked.masked_fill(tokens == pad_id, 0.0).sum(dim=1)


__all__ = [
    "BeamSearchConfig",
    "Hypothesis",
    "Seq2SeqModel",
    "beam_search",
    "greedy_search",
    "length_penalty",
    "sequence_log_probs",
]
