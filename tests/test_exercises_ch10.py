"""Every chapter 10 checker accepts its reference and independent correct solutions, and
rejects plausible wrong ones.

The independent GPT-2 here is written with tensor operations from a state dict (no
``nn.Module``), with switches for the slips a learner makes: post-LN instead of pre-LN, a
missing causal mask, exact GELU instead of its tanh approximation, forgotten positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from scratchformer.models.gpt2 import GPT2Config
from scratchformer_course import assert_agrees, check, forget_failures, get_task

State = dict[str, torch.Tensor]


def quiet(name: str, fn) -> bool:
    return check(name, fn, verbose=False).passed


def formula(config: GPT2Config) -> int:
    e, f = config.d_model, config.ff_width
    block = 2 * e + (3 * e * e + 3 * e) + (e * e + e) + 2 * e + (e * f + f) + (f * e + e)
    return (config.vocab_size + config.max_len) * e + config.n_layers * block + 2 * e


def test_parameter_count_reference_is_124m_for_gpt2() -> None:
    reference = get_task("scratchformer.models.gpt2.GPT2.num_parameters").reference
    assert reference(GPT2Config.named("gpt2-tiny")) == formula(GPT2Config.named("gpt2-tiny"))
    assert formula(GPT2Config()) == 124_439_808


def test_parameter_count_accepts_formula_and_rejects_untied_head() -> None:
    name = "scratchformer.models.gpt2.GPT2.num_parameters"
    assert_agrees(formula, name)
    assert not quiet(name, lambda c: formula(c) + c.vocab_size * c.d_model)  # head counted twice
    assert not quiet(name, lambda c: formula(c) - 2 * c.d_model)  # final LayerNorm forgotten


# -- a GPT-2 from a state dict, with a learner's slips as switches ---------------------------


def layer_norm(x: torch.Tensor, state: State, prefix: str, eps: float) -> torch.Tensor:
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * state[prefix + "weight"] + state[prefix + "bias"]


def linear(x: torch.Tensor, state: State, prefix: str) -> torch.Tensor:
    return x @ state[prefix + "weight"].T + state[prefix + "bias"]


def attention(
    x: torch.Tensor, state: State, prefix: str, n_heads: int, causal: bool = True
) -> torch.Tensor:
    batch, seq, d_model = x.shape
    q, k, v = (
        t.reshape(batch, seq, n_heads, -1).transpose(1, 2)
        for t in linear(x, state, prefix + "c_attn.").split(d_model, dim=-1)
    )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(seq, seq, dtype=torch.bool).tril(), -math.inf)
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, d_model)
    return linear(out, state, prefix + "c_proj.")


def mlp(x: torch.Tensor, state: State, prefix: str, exact_gelu: bool = False) -> torch.Tensor:
    hidden = linear(x, state, prefix + "c_fc.")
    hidden = F.gelu(hidden, approximate="none" if exact_gelu else "tanh")
    return linear(hidden, state, prefix + "c_proj.")


def block(
    state: State,
    x: torch.Tensor,
    n_heads: int,
    eps: float,
    prefix: str = "",
    *,
    post_ln: bool = False,
    causal: bool = True,
    exact_gelu: bool = False,
) -> torch.Tensor:
    def attend(h: torch.Tensor) -> torch.Tensor:
        return attention(h, state, prefix + "attn.", n_heads, causal)

    def feed_forward(h: torch.Tensor) -> torch.Tensor:
        return mlp(h, state, prefix + "mlp.", exact_gelu)

    if post_ln:
        x = layer_norm(x + attend(x), state, prefix + "ln_1.", eps)
        return layer_norm(x + feed_forward(x), state, prefix + "ln_2.", eps)
    x = x + attend(layer_norm(x, state, prefix + "ln_1.", eps))
    return x + feed_forward(layer_norm(x, state, prefix + "ln_2.", eps))


def gpt2(
    config: GPT2Config, state: State, ids: torch.Tensor, positions: bool = True
) -> tuple[torch.Tensor, None]:
    x = state["wte.weight"][ids]
    if positions:
        x = x + state["wpe.weight"][: ids.shape[1]]
    for i in range(config.n_layers):
        x = block(state, x, config.n_heads, config.eps, f"h.{i}.")
    return layer_norm(x, state, "ln_f.", config.eps) @ state["wte.weight"].T, None


def test_module_checks_accept_a_gpt2_written_from_its_state_dict() -> None:
    assert quiet(
        "scratchformer.models.gpt2.CausalSelfAttention",
        lambda config, state, x: attention(x, state, "", config.n_heads),
    )
    assert quiet("scratchformer.models.gpt2.MLP", lambda config, state, x: mlp(x, state, ""))
    assert quiet(
        "scratchformer.models.gpt2.Block",
        lambda config, state, x: block(state, x, config.n_heads, config.eps),
    )
    assert quiet("scratchformer.models.gpt2.GPT2", gpt2)


def test_module_checks_reject_a_learners_slips() -> None:
    assert not quiet(
        "scratchformer.models.gpt2.CausalSelfAttention",
        lambda config, state, x: attention(x, state, "", config.n_heads, causal=False),
    )
    assert not quiet(
        "scratchformer.models.gpt2.MLP", lambda config, state, x: mlp(x, state, "", True)
    )
    assert not quiet(
        "scratchformer.models.gpt2.Block",
        lambda config, state, x: block(state, x, config.n_heads, config.eps, post_ln=True),
    )
    assert not quiet(
        "scratchformer.models.gpt2.GPT2",
        lambda config, state, ids: gpt2(config, state, ids, positions=False),
    )


def test_block_exercise_accepts_a_hand_written_block_and_rejects_the_usual_slips() -> None:
    def by_hand(**slips: bool):
        def forward(block_module, x: torch.Tensor, n_heads: int) -> torch.Tensor:
            state = block_module.state_dict()
            return block(state, x, n_heads, block_module.ln_1.eps, **slips)

        return forward

    assert quiet("ch10.block_forward", by_hand())
    assert not quiet("ch10.block_forward", by_hand(post_ln=True))
    assert not quiet("ch10.block_forward", by_hand(causal=False))
    assert not quiet("ch10.block_forward", by_hand(exact_gelu=True))


def test_block_exercise_calls_an_untouched_stub_not_written_and_reveals_hints_in_turn() -> None:
    def block_forward(block, x, n_heads): ...  # your code here

    forget_failures("ch10.block_forward")
    result = check("ch10.block_forward", block_forward, verbose=False)
    assert not result.passed
    assert "not written yet" in result.message

    def post_ln(block_module, x, n_heads):
        return block(block_module.state_dict(), x, n_heads, block_module.ln_1.eps, post_ln=True)

    first = check("ch10.block_forward", post_ln, verbose=False).message
    second = check("ch10.block_forward", post_ln, verbose=False).message
    assert "pre-LN" in first and "hint 2" not in first
    assert "hint 2" in second and "ln_1(x)" in second


# -- generation ------------------------------------------------------------------------------


def keep_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, -math.inf)


def nucleus(logits, p):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= p)
    return logits.masked_fill(drop, -math.inf)


def choose(
    logits: torch.Tensor,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    temperature_last: bool = False,
) -> torch.Tensor:
    if not do_sample:
        return logits.argmax(-1)
    if not temperature_last:
        logits = logits / temperature
    if top_k is not None:
        logits = keep_top_k(logits, top_k)
    if top_p is not None:
        logits = nucleus(logits, top_p)
    if temperature_last:  # the nucleus was chosen from the untempered distribution
        logits = logits / temperature
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def test_top_k_agreement_rejects_strict_k() -> None:
    def strict(logits, k):  # ignores ties: keeps exactly k per row via topk indices
        k = min(k, logits.shape[-1])
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep.scatter_(-1, logits.topk(k, dim=-1).indices, True)
        return logits.masked_fill(~keep, -math.inf)

    assert quiet("scratchformer.generate.top_k_filter", keep_top_k)
    assert not quiet("scratchformer.generate.top_k_filter", strict)


def test_top_p_accepts_nucleus_and_rejects_cumsum_including_self() -> None:
    assert quiet("ch10.top_p_filter", nucleus)

    def including_self(logits, p):  # drops the token that crosses p: may drop the top one
        probs = logits.softmax(-1)
        sorted_probs, order = probs.sort(-1, descending=True)
        drop_sorted = sorted_probs.cumsum(-1) > p
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, -math.inf)

    assert not quiet("ch10.top_p_filter", including_self)


def test_next_token_accepts_a_written_out_step_and_rejects_the_temperature_applied_last() -> None:
    assert quiet("scratchformer.generate.next_token", choose)
    assert not quiet(
        "scratchformer.generate.next_token",
        lambda logits, **kw: choose(logits, **kw, temperature_last=True),
    )


def uncached(model, prompt, max_new_tokens, *, first_position=False, **sampling):
    ids = prompt
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits, _ = model(ids)
            token = choose(logits[:, 0 if first_position else -1], **sampling)
            ids = torch.cat([ids, token[:, None]], dim=1)
    return ids


def cached(model, prompt, max_new_tokens, *, forget_past=False, **sampling):
    ids = prompt
    with torch.no_grad():
        logits, past = model(prompt, use_cache=True)
        for _ in range(max_new_tokens):
            token = choose(logits[:, -1], **sampling)
            ids = torch.cat([ids, token[:, None]], dim=1)
            logits, past = model(token[:, None], None if forget_past else past)
    return ids


def test_generate_accepts_both_loops_and_rejects_the_wrong_position_or_a_forgotten_cache() -> None:
    name = "scratchformer.generate.generate"
    assert quiet(name, uncached)
    assert quiet(name, cached)
    assert not quiet(name, lambda *args, **kw: uncached(*args, **kw, first_position=True))
    assert not quiet(name, lambda *args, **kw: cached(*args, **kw, forget_past=True))
