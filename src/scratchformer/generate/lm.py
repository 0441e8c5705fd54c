"""Generating text with a causal language model: greedy decoding and sampling, with a KV cache.

A language model gives, for every position, scores (logits) over the vocabulary for the
next token. Generation repeats one step: look at the last position's logits, choose a
token, append it, run the model again. How the token is chosen:

* **greedy**: the highest-scoring token (deterministic, often repetitive);
* **sampling** from ``softmax(logits / temperature)``: a temperature below 1 sharpens the
  distribution towards greedy, above 1 flattens it; optionally restricted to
  the ``top_k`` highest-scoring tokens (:func:`top_k_filter`) and/or to the *nucleus*, the
  fewest most likely tokens whose probabilities add up to ``top_p`` (:func:`top_p_filter`).

Without a cache every step runs the model over the whole sequence so far: ``O(T^2)`` work
per token. With a KV cache (:class:`~scratchformer.attention.KVCache`) the keys and values
of earlier tokens are kept, so a step runs the model on the one new token, whose attention
reads the ``T`` cached positions: ``O(T)``. Both give the same tokens.

Sampling draws from a ``torch.Generator`` when one is given, so a seeded generator
reproduces the same text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from scratchformer.checks import check_id_values, check_token_ids, on_cpu
from scratchformer.config import device_of
from scratchformer.functional import softmax


@dataclass(frozen=True)
class GenerationConfig:
    """How :func:`generate` chooses tokens and when it stops.

    Attributes:
        max_new_tokens: the most tokens to add to the prompt.
        do_sample: ``False``: greedy decoding; ``True``: sample from the (filtered)
            distribution.
        temperature: divides the logits before sampling; must be ``> 0``.
        top_k: sample only among the ``top_k`` highest-scoring tokens (``None``: all).
        top_p: sample only from the nucleus of probability mass ``top_p`` in ``(0, 1]``
            (``None`` or ``1.0``: all).
        stop_tokens: ids that end a sequence (e.g. GPT-2's ``<|endoftext|>``, 50256). The
            stop token itself is kept; generation ends once every sequence has stopped.
        pad_id: what a sequence that has stopped gets at later positions, while others in
            its batch go on; ``None`` means the first stop token.
        use_cache: use a KV cache (same tokens, much faster); ``False`` re-runs the model
            over the whole sequence for every token.
    """

    max_new_tokens: int = 50
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    stop_tokens: tuple[int, ...] = ()
    pad_id: int | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_tokens", tuple(self.stop_tokens))
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}.")
        _check_temperature(self.temperature)
        if self.top_k is not None:
            _check_top_k(self.top_k)
        if self.top_p is not None:
            _check_top_p(self.top_p)
        if not self.do_sample:
            for name, value, neutral in (
                ("temperature", self.temperature, 1.0),
                ("top_k", self.top_k, None),
                ("top_p", self.top_p, None),
            ):
                if value != neutral:
                    raise ValueError(
                        f"{name}={value} only affects sampling, but do_sample=False (greedy "
                        "decoding); set do_sample=True to sample, or leave it out."
                    )
        for name, tokens in (("stop_tokens", self.stop_tokens), ("pad_id", (self.pad_id,))):
            if any(t is not None and (not isinstance(t, int) or t < 0) for t in tokens):
                raise ValueError(f"{name} must hold token ids (integers >= 0), got {tokens}.")

    @property
    def fill_id(self) -> int | None:
        """The id written after a sequence has stopped (``pad_id`` or the first stop token)."""
        if self.pad_id is not None:
            return self.pad_id
        return self.stop_tokens[0] if self.stop_tokens else None


class CausalLM(Protocol):
    """What :func:`generate` needs from a model (:class:`~scratchformer.models.GPT2` has it).

    An ``nn.Module`` (generation switches it to eval mode and back) whose
    ``model(ids, past, use_cache=True)`` returns ``(logits, past)``: logits
    ``(batch, seq, vocab)`` for ``ids`` ``(batch, seq)`` continuing the tokens whose keys
    and values ``past`` holds (``None``: none), and the extended cache.
    """

    @property
    def context_length(self) -> int:
        """The longest sequence the model can read."""
        ...

    @property
    def vocab_size(self) -> int:
        """The number of token ids the model scores."""
        ...

    def __call__(
        self, ids: torch.Tensor, past: Any = None, *, use_cache: bool = False
    ) -> tuple[torch.Tensor, Any]: ...


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")
    if temperature <= 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature}; for the single most likely token "
            "use greedy decoding (do_sample=False)."
        )


def _check_top_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {k!r}; use None to keep every token.")


def _check_top_p(p: float) -> None:
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise ValueError(
            f"top_p must lie in (0, 1], got {p!r}: the probability mass of the tokens kept "
            "(1.0 keeps every token)."
        )


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` highest logits of each row, set the others to ``-inf``.

    Args:
        logits: ``(..., vocab)``.
        k: how many to keep (``>= 1``). Tokens tied with the ``k``-th highest are kept
            too, so a row may keep more than ``k`` when scores tie.

    Returns:
        Logits of the same shape; ``softmax`` of them is zero outside the top ``k``.
    """
    _check_top_k(k)
    if k >= logits.shape[-1]:
        return logits
    kth_highest = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_highest, -math.inf)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep each row's nucleus: the fewest most likely tokens with probability mass ``>= p``.

    Tokens are taken in order of decreasing probability until their probabilities add
    up to ``p``; the rest are set to ``-inf``. At least the most likely token is always
    kept. Among tokens with exactly equal probability at the edge, the sort order decides.

    Args:
        logits: ``(..., vocab)``.
        p: the probability mass to keep, in ``(0, 1]`` (``1.0`` keeps everything).

    Returns:
        Logits of the same shape.
    """
    _check_top_p(p)
    if p == 1:
        return logits
    probs = softmax(logits, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the more likely tokens
    drop_sorted = mass_before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -math.inf)


def next_token(
    logits: torch.Tensor,
    config: GenerationConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose one token per row from next-token logits ``(batch, vocab)``; returns ``(batch,)``.

    Greedy takes the argmax. Sampling divides by the temperature, applies top-k and
    then top-p filtering, and draws from the softmax with ``generator``. A generator on
    another device than the logits (a seeded CPU generator, a model on a GPU) draws on its
    own device, so a seed gives the same text on every machine.
    """
    if not config.do_sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / config.temperature
    if config.top_k is not None:
        logits = top_k_filter(logits, config.top_k)
    if config.top_p is not None:
        logits = top_p_filter(logits, config.top_p)
    probs = softmax(logits, dim=-1)
    if generator is not None and generator.device != probs.device:
        drawn = torch.multinomial(probs.to(generator.device), 1, generator=generator)
        return drawn.squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Run a block in eval mode (no dropout) without gradients, then restore the previous mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def generate(
    model: CausalLM,
    prompt: torch.Tensor,
    config: GenerationConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue ``prompt`` with up to ``config.max_new_tokens`` tokens.

    Runs in eval mode without gradients (the model's mode is restored afterwards).

    Args:
        model: a causal language model (see :class:`CausalLM`), e.g. a ``GPT2``.
        prompt: token ids ``(batch, seq)`` (every row the same length) or ``(seq,)``.
        config: how to choose tokens; default greedy, 50 new tokens.
        generator: the random source for sampling (seed it for reproducible text).

    Returns:
        The prompt followed by the new tokens, ``(batch, seq + n)`` (or ``(seq + n,)``
        for a 1-D prompt), ``n <= max_new_tokens``: fewer when every row has produced a
        stop token. A row that stopped earlier than others is filled with
        ``config.fill_id``.

    Raises:
        ValueError: for an empty prompt, a prompt (plus ``max_new_tokens``) longer than
            the model's context window, or a prompt, stop token or ``pad_id`` outside the
            model's vocabulary (a stop token the model cannot write would never stop it).
    """
    config = config or GenerationConfig()
    ids = _check_prompt(prompt, config, model.context_length, model.vocab_size)
    ids = ids.to(device_of(model) or ids.device)  # a prompt made on the CPU, a model on a GPU
    stop = torch.tensor(config.stop_tokens, dtype=ids.dtype, device=ids.device)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    fill = config.fill_id
    new_tokens = []
    with evaluating(model):  # type: ignore[arg-type]
        logits, past = model(ids, use_cache=config.use_cache)
        for step in range(config.max_new_tokens):
            token = next_token(logits[:, -1], config, generator)
            if fill is not None:
                token = token.masked_fill(done, fill)
            new_tokens.append(token)
            done |= torch.isin(token, stop)
            if step + 1 == config.max_new_tokens or bool(done.all()):
                break
            if config.use_cache:
                logits, past = model(token[:, None], past)
            else:
                logits, _ = model(torch.cat([ids, torch.stack(new_tokens, dim=1)], dim=1))
    out = torch.cat([ids, *(t[:, None] for t in new_tokens)], dim=1)
    return out if prompt.dim() == 2 else out[0]


def _check_prompt(
    prompt: torch.Tensor, config: GenerationConfig, context: int, vocab: int
) -> torch.Tensor:
    """The prompt as ``(batch, seq)`` after checking its type, length and ids (once, here
    where it enters, so the model's steps need not read values back from a GPU)."""
    if isinstance(prompt, torch.Tensor) and prompt.dim() == 1:
        prompt = prompt[None]
    if isinstance(prompt, torch.Tensor) and prompt.dim() == 2 and prompt.shape[1] == 0:
        raise ValueError(
            "the prompt is empty; give at least one token (GPT-2 starts unconditioned text "
            "from <|endoftext|>, id 50256)."
        )
    check_token_ids("prompt", prompt, vocab)  # the ids' values too, on the CPU
    ids = prompt
    if not on_cpu(ids):
        check_id_values("prompt", ids, vocab)
    for name, tokens in (("stop_tokens", config.stop_tokens), ("pad_id", (config.pad_id,))):
        outside = [t for t in tokens if t is not None and t >= vocab]
        if outside:
            raise ValueError(
                f"{name} {outside} lie outside the model's vocabulary [0, {vocab}): the model "
                "can never write them, so generation would never stop on them; use the "
                "tokenizer's id for the token (e.g. tokenizer.token_to_id(...))."
            )
    length = ids.shape[1]
    if length > context:
        raise ValueError(
            f"the prompt has {length} tokens, more than the model's context window of "
            f"{context}; keep its last {context} tokens at most."
        )
    if length + config.max_new_tokens > context:
        raise ValueError(
            f"the prompt's {length} tokens plus max_new_tokens={config.max_new_tokens} make "
            f"{length + config.max_new_tokens}, more than the model's context window of "
            f"{context}; ask for at most {context - length} new tokens."
        )
    return ids


__all__ = [
    "CausalLM",
    "GenerationConfig",
    "evaluating",
    "generate",
    "next_token",
    "top_k_filter",
    "top_p_filter",
]
