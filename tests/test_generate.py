"""scratchformer.generate: greedy decoding equal to Hugging Face's, the KV cache changing
nothing but the work done, seeded sampling, and the filters' guarantees (hypothesis)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchformer.attention import AttentionConfig, KVCache, MultiHeadAttention
from scratchformer.generate import (
    GenerationConfig,
    generate,
    next_token,
    top_k_filter,
    top_p_filter,
)
from test_gpt2 import hf_twin, tiny_config


@pytest.fixture(scope="module")
def twins():
    """A randomised Hugging Face GPT-2 and ours with the same weights (float64)."""
    return hf_twin(tiny_config())


def prompt(batch: int = 2, seq: int = 5, seed: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, tiny_config().vocab_size, (batch, seq), generator=generator)


def hf_greedy(hf, ids: torch.Tensor, max_new_tokens: int, stop: int | None = None) -> torch.Tensor:
    return hf.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=stop,
        pad_token_id=0 if stop is None else stop,
    )


# -- equality with Hugging Face -----------------------------------------------------------------


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_equals_hugging_face_generate(twins, use_cache: bool) -> None:
    hf, ours = twins
    ids = prompt(batch=3)
    expected = hf_greedy(hf, ids, 30)
    got = generate(ours, ids, GenerationConfig(max_new_tokens=30, use_cache=use_cache))
    assert got.shape == (3, 35)
    assert torch.equal(got, expected)


def test_greedy_with_a_stop_token_equals_hugging_face(twins) -> None:
    hf, ours = twins
    ids = prompt(batch=3)
    free = generate(ours, ids, GenerationConfig(max_new_tokens=30))
    stop = int(free[0, 9])  # a token the first row produces at its 5th step
    expected = hf_greedy(hf, ids, 30, stop=stop)
    got = generate(ours, ids, GenerationConfig(max_new_tokens=30, stop_tokens=(stop,)))
    assert torch.equal(got, expected)
    assert got[0, 9] == stop and bool((got[0, 10:] == stop).all())  # stopped, then padded


# -- the KV cache ----------------------------------------------------------------------------------


SAMPLING = [
    GenerationConfig(max_new_tokens=25),
    GenerationConfig(max_new_tokens=25, do_sample=True),
    GenerationConfig(max_new_tokens=25, do_sample=True, temperature=0.7, top_k=5),
    GenerationConfig(max_new_tokens=25, do_sample=True, temperature=1.3, top_p=0.8),
    GenerationConfig(max_new_tokens=25, do_sample=True, top_k=10, top_p=0.9, stop_tokens=(7, 8)),
]


@pytest.mark.parametrize("config", SAMPLING)
def test_generation_with_the_cache_equals_generation_without(twins, config) -> None:
    _, ours = twins
    ids = prompt(batch=3)
    with_cache = generate(ours, ids, config, torch.Generator().manual_seed(11))
    without = generate(
        ours,
        ids,
        GenerationConfig(**{**config.__dict__, "use_cache": False}),
        torch.Generator().manual_seed(11),
    )
    assert torch.equal(with_cache, without)


class Recorder:
    """Wraps a model and records the shape of every ``ids`` it is called with."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []
        self.context_length = model.context_length
        self.vocab_size = model.vocab_size
        self.training = model.training

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __call__(self, ids, past=None, *, use_cache=False):
        self.calls.append(tuple(ids.shape))
        return self.model(ids, past, use_cache=use_cache)


def test_with_the_cache_each_step_reads_only_the_new_token(twins) -> None:
    _, ours = twins
    cached, uncached = Recorder(ours), Recorder(ours)
    generate(cached, prompt(), GenerationConfig(max_new_tokens=6))
    generate(uncached, prompt(), GenerationConfig(max_new_tokens=6, use_cache=False))
    assert cached.calls == [(2, 5)] + [(2, 1)] * 5
    assert uncached.calls == [(2, 5 + i) for i in range(6)]


# -- sampling --------------------------------------------------------------------------------------


def test_seeded_sampling_is_reproducible_and_leaves_the_global_rng_alone(twins) -> None:
    _, ours = twins
    config = GenerationConfig(max_new_tokens=20, do_sample=True)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = generate(ours, prompt(), config, torch.Generator().manual_seed(123))
    again = generate(ours, prompt(), config, torch.Generator().manual_seed(123))
    other = generate(ours, prompt(), config, torch.Generator().manual_seed(124))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), state)


def test_sampling_draws_from_the_softmax_at_the_temperature() -> None:
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).expand(40_000, 4)
    generator = torch.Generator().manual_seed(0)
    for temperature in (1.0, 0.5, 2.0):
        config = GenerationConfig(do_sample=True, temperature=temperature)
        draws = next_token(logits, config, generator)
        frequencies = torch.bincount(draws, minlength=4) / len(draws)
        expected = torch.softmax(logits[0] / temperature, dim=-1)
        torch.testing.assert_close(frequencies, expected, atol=0.01, rtol=0)


def test_a_tiny_temperature_samples_the_greedy_token(twins) -> None:
    _, ours = twins
    greedy = generate(ours, prompt(), GenerationConfig(max_new_tokens=15))
    cold = GenerationConfig(max_new_tokens=15, do_sample=True, temperature=1e-6)
    assert torch.equal(generate(ours, prompt(), cold, torch.Generator().manual_seed(0)), greedy)


LOGITS = st.lists(
    st.floats(min_value=-30, max_value=30, allow_nan=False), min_size=1, max_size=30
).map(lambda values: torch.tensor(values, dtype=torch.float64))


@settings(max_examples=300, deadline=None)
@given(LOGITS, st.integers(min_value=1, max_value=35))
def test_top_k_keeps_exactly_the_k_highest(logits: torch.Tensor, k: int) -> None:
    filtered = top_k_filter(logits, k)
    kept = torch.isfinite(filtered)
    assert torch.equal(filtered[kept], logits[kept])  # kept logits are unchanged
    assert kept.sum() >= min(k, len(logits))
    if (~kept).any():
        assert logits[kept].min() > logits[~kept].max()  # every kept beats every dropped
        assert (logits[kept] > logits[kept].min()).sum() < k  # only ties at the edge exceed k


@settings(max_examples=300, deadline=None)
@given(LOGITS, st.floats(min_value=1e-6, max_value=1.0))
def test_top_p_keeps_the_smallest_nucleus(logits: torch.Tensor, p: float) -> None:
    probs = torch.softmax(logits, dim=-1)
    filtered = top_p_filter(logits, p)
    kept = torch.isfinite(filtered)
    assert torch.equal(filtered[kept], logits[kept])
    mass = probs[kept].sum().item()
    assert mass >= p - 1e-9  # enough mass
    assert mass - probs[kept].min().item() < p + 1e-9  # no token kept beyond what p needs
    if (~kept).any():
        assert probs[kept].min() >= probs[~kept].max()  # the most likely tokens are kept


@settings(max_examples=100, deadline=None)
@given(
    LOGITS,
    st.none() | st.integers(min_value=1, max_value=10),
    st.none() | st.floats(min_value=0.05, max_value=1.0),
    st.floats(min_value=0.25, max_value=4.0),
)
def test_sampling_never_leaves_the_filtered_set(logits, top_k, top_p, temperature) -> None:
    config = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    allowed = logits.float() / temperature
    allowed = top_k_filter(allowed, top_k) if top_k else allowed
    allowed = top_p_filter(allowed, top_p) if top_p else allowed
    draws = next_token(logits.expand(500, -1), config, torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(allowed)[draws].all())


def test_filters_work_on_batches_and_leave_full_sets_alone() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 2.0, 2.0, 2.0]])
    assert torch.isfinite(top_k_filter(logits, 2)).tolist() == [
        [True, False, True, False],
        [False, True, True, True],  # a three-way tie for the top places: all kept
    ]
    assert torch.isfinite(top_p_filter(logits, 0.64)).tolist() == [
        [True, False, False, False],  # the top token alone has probability 0.64
        [False, True, True, True],
    ]
    assert top_k_filter(logits, 4) is logits and top_p_filter(logits, 1.0) is logits


# -- stopping, shapes and modes --------------------------------------------------------------------


class Scripted:
    """A fake language model that predicts ``script[row][position + 1]`` with certainty."""

    context_length = 100
    training = False

    def __init__(self, script: list[list[int]], vocab: int = 10) -> None:
        self.script, self.vocab_size = torch.tensor(script), vocab

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __call__(self, ids, past=None, *, use_cache=False):
        start = past or 0
        positions = torch.arange(start, start + ids.shape[1]) + 1
        targets = self.script[:, positions.clamp(max=self.script.shape[1] - 1)]
        logits = torch.nn.functional.one_hot(targets, self.vocab_size).double() * 10
        return logits, start + ids.shape[1] if use_cache or past is not None else None


def test_rows_stop_at_stop_tokens_and_are_padded_until_all_stop() -> None:
    model = Scripted([[1, 2, 3, 9, 4, 5, 6], [1, 4, 4, 4, 4, 8, 5]])
    ids = torch.tensor([[1], [1]])
    config = GenerationConfig(max_new_tokens=6, stop_tokens=(8, 9), pad_id=0)
    assert generate(model, ids, config).tolist() == [[1, 2, 3, 9, 0, 0], [1, 4, 4, 4, 4, 8]]
    default_fill = GenerationConfig(max_new_tokens=6, stop_tokens=(8, 9))
    assert generate(model, ids, default_fill).tolist() == [[1, 2, 3, 9, 8, 8], [1, 4, 4, 4, 4, 8]]
    no_stop = generate(model, ids, GenerationConfig(max_new_tokens=6))
    assert no_stop.tolist() == [[1, 2, 3, 9, 4, 5, 6], [1, 4, 4, 4, 4, 8, 5]]


def test_one_dimensional_prompts_and_zero_new_tokens(twins) -> None:
    _, ours = twins
    single = prompt()[0]
    out = generate(ours, single, GenerationConfig(max_new_tokens=4))
    assert out.shape == (9,) and torch.equal(out[:5], single)
    assert torch.equal(out, generate(ours, single[None], GenerationConfig(max_new_tokens=4))[0])
    assert torch.equal(generate(ours, single, GenerationConfig(max_new_tokens=0)), single)


def test_generation_runs_in_eval_mode_without_gradients_and_restores_the_mode() -> None:
    model = hf_twin(tiny_config(dropout=0.5))[1].train()
    config = GenerationConfig(max_new_tokens=10)
    first, second = generate(model, prompt(), config), generate(model, prompt(), config)
    assert torch.equal(first, second)  # no dropout while generating
    assert model.training and not first.requires_grad


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"do_sample": True, "temperature": 0.0}, r"temperature must be > 0, got 0.0.*greedy"),
        ({"do_sample": True, "temperature": -1.0}, r"temperature must be > 0, got -1.0"),
        ({"do_sample": True, "temperature": math.nan}, r"temperature must be a finite number"),
        ({"do_sample": True, "top_p": 0.0}, r"top_p must lie in \(0, 1\], got 0.0"),
        ({"do_sample": True, "top_p": 1.5}, r"top_p must lie in \(0, 1\], got 1.5"),
        ({"do_sample": True, "top_k": 0}, r"top_k must be an integer >= 1, got 0"),
        ({"do_sample": True, "top_k": 2.5}, r"top_k must be an integer >= 1, got 2.5"),
        ({"top_k": 5}, r"top_k=5 only affects sampling, but do_sample=False"),
        ({"temperature": 0.5}, r"temperature=0.5 only affects sampling"),
        ({"max_new_tokens": -1}, r"max_new_tokens must be >= 0, got -1"),
        ({"stop_tokens": (3, -1)}, r"stop_tokens must hold token ids"),
    ],
)
def test_bad_generation_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GenerationConfig(**kwargs)


def test_filters_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"top_k must be an integer >= 1, got 0"):
        top_k_filter(torch.zeros(3), 0)
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\], got 1.01"):
        top_p_filter(torch.zeros(3), 1.01)


def test_prompts_that_do_not_fit_the_context_window_are_refused(twins) -> None:
    _, ours = twins  # context window: 40 positions
    with pytest.raises(
        ValueError, match=r"the prompt has 41 tokens, more than the model's context window of 40"
    ):
        generate(ours, torch.zeros(1, 41, dtype=torch.long), GenerationConfig(max_new_tokens=1))
    with pytest.raises(
        ValueError,
        match=r"prompt's 30 tokens plus max_new_tokens=20 make 50, more than the model's context "
        r"window of 40; ask for at most 10 new tokens",
    ):
        generate(ours, torch.zeros(1, 30, dtype=torch.long), GenerationConfig(max_new_tokens=20))
    with pytest.raises(ValueError, match=r"the prompt is empty"):
        generate(ours, torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(TypeError, match=r"prompt must hold integer token ids"):
        generate(ours, torch.zeros(1, 3))
    with pytest.raises(TypeError, match=r"prompt must be a torch.Tensor.*got list"):
        generate(ours, [[1, 2, 3]])


def test_ids_the_model_cannot_write_are_refused(twins) -> None:
    """A stop token outside the vocabulary would never stop generation: refused up front."""
    _, ours = twins
    vocab = ours.vocab_size
    prompt = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=rf"stop_tokens \[{vocab}\] lie outside .*never stop"):
        generate(ours, prompt, GenerationConfig(max_new_tokens=2, stop_tokens=(vocab,)))
    with pytest.raises(ValueError, match=rf"pad_id \[{vocab + 5}\] lie outside"):
        generate(ours, prompt, GenerationConfig(stop_tokens=(1,), pad_id=vocab + 5))
    with pytest.raises(ValueError, match=rf"prompt holds the id {vocab}, outside the vocabulary"):
        generate(ours, torch.tensor([[1, vocab]]))


# -- the KV cache hook in MultiHeadAttention ---------------------------------------------------


@pytest.mark.parametrize("need_weights", [False, True])
def test_attention_with_a_cache_equals_attention_over_everything(need_weights: bool) -> None:
    """Chunks of queries behind a cache see exactly the keys full causal attention lets them."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(AttentionConfig(d_model=16, n_heads=4)).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    full, full_weights = attention(x, x, x, causal=True, need_weights=need_weights)
    cache, outputs = KVCache(), []
    for start, end in ((0, 3), (3, 4), (4, 9)):
        chunk = x[:, start:end]
        out, weights = attention(
            chunk, chunk, chunk, causal=True, need_weights=need_weights, kv_cache=cache
        )
        assert len(cache) == end
        if need_weights:
            torch.testing.assert_close(weights, full_weights[:, :, start:end, :end])
        outputs.append(out)
    torch.testing.assert_close(torch.cat(outputs, dim=1), full)


def test_attention_cache_with_a_key_padding_mask_over_all_keys() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(AttentionConfig(d_model=8, n_heads=2)).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    padding = torch.tensor([[True, False, False, False, False, False]]).expand(2, 6)
    full, _ = attention(x, x, x, key_padding_mask=padding, causal=True)
    cache, head, tail = KVCache(), x[:, :4], x[:, 4:]
    first, _ = attention(
        head, head, head, key_padding_mask=padding[:, :4], causal=True, kv_cache=cache
    )
    rest, _ = attention(tail, tail, tail, key_padding_mask=padding, causal=True, kv_cache=cache)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full)


def test_cross_attention_cache_projects_the_memory_once() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(AttentionConfig(d_model=8, n_heads=2)).double()
    x, memory = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 3, 8, dtype=torch.float64)
    padding = torch.tensor([[False, False, True], [False, False, False]])
    full, _ = attention(x, memory, memory, key_padding_mask=padding)
    cache = KVCache()
    steps = [
        attention(x[:, i : i + 1], memory, memory, key_padding_mask=padding, kv_cache=cache)[0]
        for i in range(5)
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full)
    assert len(cache) == 3  # the memory's positions, projected on the first call only
    cached_keys = cache.keys
    attention(x[:, :1], memory, memory, key_padding_mask=padding, kv_cache=cache)
    assert cache.keys is cached_keys
    with pytest.raises(ValueError, match="kv_cache needs self-attention .* or cross-attention"):
        attention(x, memory, memory.clone(), kv_cache=KVCache())
    with pytest.raises(ValueError, match="the kv_cache holds 2 rows but the batch has 1"):
        one = memory[:1]
        attention(x[:1], one, one, kv_cache=cache)
    with pytest.raises(ValueError, match="cross-attention cache cannot be causal"):
        attention(x, memory, memory, causal=True, kv_cache=KVCache())
    assert repr(KVCache()) == "KVCache(length=0)"
