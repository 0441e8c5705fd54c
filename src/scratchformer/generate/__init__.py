"""Generating tokens from a trained model.

* :mod:`scratchformer.generate.lm` — a causal language model (GPT-2) continues a prompt:
  greedy decoding or sampling (temperature, top-k, top-p), with a KV cache.
* :mod:`scratchformer.generate.seq2seq` — an encoder-decoder model translates a batch of
  sources: batched greedy search and beam search with a length penalty.
"""

from scratchformer.generate.lm import (
    CausalLM,
    GenerationConfig,
    evaluating,
    generate,
    next_token,
    top_k_filter,
    top_p_filter,
)
from scratchformer.generate.seq2seq import (
    BeamSearchConfig,
    Hypothesis,
    Seq2SeqModel,
    beam_search,
    greedy_search,
    sequence_log_probs,
)

__all__ = [
    "BeamSearchConfig",
    "CausalLM",
    "GenerationConfig",
    "Hypothesis",
    "Seq2SeqModel",
    "beam_search",
    "evaluating",
    "generate",
    "greedy_search",
    "next_token",
    "sequence_log_probs",
    "top_k_filter",
    "top_p_filter",
]
