"""Benchmark: our GPT-2 against a PyTorch-layer twin (training) and transformers (generation).

Prints, in one run on the CPU (float32):

1. **Training** tokens/s (forward, next-token cross-entropy, backward) of our ``GPT2``
   and of a reference of the same size built from ``torch.nn.TransformerEncoderLayer``
   (pre-LN, GELU, causal mask, batch_first) plus embeddings and a tied output layer. The
   reference gets our weights and the same tanh-GELU, and must give our logits before
   anything is timed. Ratio ``reference time / our time``: ``>= 1.0`` means ours is at
   least as fast.
2. **Training against a nanoGPT-style model**: the plain GPT that nanoGPT's ``model.py``
   popularised, written here as our own reference (one fused ``c_attn`` projection,
   ``F.scaled_dot_product_attention`` with ``is_causal``, ``nn.LayerNorm``, ``nn.Dropout``),
   with dropout 0 and 0.1 and 128 and 256 tokens per sequence. It too gets our weights and
   must give our logits first. Each side computes its loss as it trains: ours through
   ``GPT2.loss`` (the output layer fused with the cross-entropy, as ``train_lm`` does), the
   reference as ``F.cross_entropy`` of its logits. Target: ratio ``>= 1.10``.
3. **The AdamW update** on chapter 10's character model (4 blocks of width 128) and on
   the model above: ``make_optimizer``'s (one ``foreach`` kernel per operation over all
   parameters) against ``torch.optim.AdamW`` as PyTorch runs it on the CPU by default (a
   Python loop over the parameters). Both must leave bitwise-equal weights first. Ratio
   ``their time / our time``.
4. **Generation** tokens/s, greedy, batch 1, 256 new tokens: ours with the KV cache,
   ours without it (target: the cache is ``>= 5x`` faster), and ``transformers``'
   ``GPT2LMHeadModel.generate`` on identical weights (ratio ``>= 1.0``: ours at least as
   fast). All three must produce the same tokens.

Timed pairs run alternately (scratchformer.benchmark.compare), so drifting machine load
hits both sides alike; the ratios are medians of the paired ratios.

    python bench/gpt2.py             # a couple of minutes on 2 cores
    python bench/gpt2.py --quick     # fewer repeats
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.benchmark import bench_parser, compare, language_model_step, parse_bench_args
from scratchformer.generate import GenerationConfig, generate
from scratchformer.models import GPT2, GPT2Config
from scratchformer.models.gpt2_hf import load_hf_state_dict
from scratchformer.train import make_optimizer

CONFIG = GPT2Config.named("gpt2-mini", max_len=512)  # 6 layers, 384 wide, GPT-2's vocabulary
TRAIN_BATCH, TRAIN_SEQ = 4, 256
PROMPT_LEN, NEW_TOKENS = 16, 256


class TorchLayersGPT(nn.Module):
    """The reference: GPT-2's shape from ``torch.nn.TransformerEncoderLayer`` blocks."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        d = config.d_model
        self.wte = nn.Embedding(config.vocab_size, d)
        self.wpe = nn.Embedding(config.max_len, d)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d,
                config.n_heads,
                config.ff_width,
                config.dropout,
                activation=partial(F.gelu, approximate="tanh"),
                layer_norm_eps=config.eps,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(d, eps=config.eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[1]
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(seq, device=ids.device)))
        mask = nn.Transformer.generate_square_subsequent_mask(seq, device=ids.device)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return F.linear(self.norm(x), self.wte.weight)  # tied output layer


class PlainBlock(nn.Module):
    """A pre-LN GPT block as nanoGPT writes it: ``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        d = config.d_model
        self.n_head, self.p = config.n_heads, config.dropout
        self.ln_1 = nn.LayerNorm(d, eps=config.eps)
        self.c_attn, self.attn_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=config.eps)
        self.c_fc, self.mlp_proj = nn.Linear(d, config.ff_width), nn.Linear(config.ff_width, d)
        self.drop = nn.Dropout(config.dropout)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d = x.shape
        q, k, v = (
            t.view(batch, seq, self.n_head, d // self.n_head).transpose(1, 2)
            for t in self.c_attn(x).split(d, dim=2)
        )  # each (batch, heads, seq, head_dim)
        p = self.p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.drop(self.attn_proj(y.transpose(1, 2).reshape(batch, seq, d)))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.mlp_proj(F.gelu(self.c_fc(x), approximate="tanh")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class PlainGPT(nn.Module):
    """The whole nanoGPT-style model: embeddings, blocks, final norm, tied output layer."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(PlainBlock(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.wte(ids) + self.wpe(positions))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


# our block's names -> PlainBlock's (nanoGPT's, with the projections flattened)
_PLAIN_NAMES = {
    "attn.c_attn.": "c_attn.",
    "attn.c_proj.": "attn_proj.",
    "mlp.c_fc.": "c_fc.",
    "mlp.c_proj.": "mlp_proj.",
}
# our names -> torch.nn.TransformerEncoderLayer's
_TORCH_NAMES = {
    "h.": "layers.",
    "ln_1.": "norm1.",
    "ln_2.": "norm2.",
    "attn.c_attn.": "self_attn.in_proj_",
    "attn.c_proj.": "self_attn.out_proj.",
    "mlp.c_fc.": "linear1.",
    "mlp.c_proj.": "linear2.",
    "ln_f.": "norm.",
}


def renamed(name: str, table: dict[str, str]) -> str:
    """``name`` with every part of it found in ``table`` replaced."""
    for ours, theirs in table.items():
        name = name.replace(ours, theirs)
    return name


def with_our_weights(twin: nn.Module, ours: GPT2, rename: Callable[[str], str]) -> nn.Module:
    """``twin`` loaded with our weights (our names through ``rename``), checked to compute our
    logits, in training mode."""
    twin.load_state_dict({rename(name): tensor for name, tensor in ours.state_dict().items()})
    ids = torch.randint(0, ours.config.vocab_size, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(twin.eval()(ids), ours.eval()(ids).logits, rtol=1e-4, atol=1e-4)
    return twin.train()


def plain_twin(ours: GPT2) -> nn.Module:
    """The nanoGPT-style reference holding our weights."""
    return with_our_weights(PlainGPT(ours.config), ours, partial(renamed, table=_PLAIN_NAMES))


def torch_layers_twin(ours: GPT2) -> nn.Module:
    """The ``torch.nn.TransformerEncoderLayer`` reference holding our weights."""
    return with_our_weights(TorchLayersGPT(ours.config), ours, partial(renamed, table=_TORCH_NAMES))


def transformers_twin(ours: GPT2):
    """``transformers.GPT2LMHeadModel`` (its default SDPA attention) holding our weights."""
    import transformers

    hf = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(**ours.config.to_hf(), bos_token_id=None, eos_token_id=None)
    ).eval()
    load_hf_state_dict(ours, hf.state_dict())  # same weights on both sides
    return hf


def paired_training(
    ours: GPT2, reference: nn.Module, seq: int, repeats: int
) -> tuple[float, float, float]:
    """Training steps of both on the same random batch, alternately: our tokens/s, the
    reference's, and the median ratio of their time to ours. Each side computes its loss
    the way it trains: ours with ``GPT2.loss`` (as ``train_lm`` does), the reference with
    ``F.cross_entropy`` of its logits (as nanoGPT does); ``tests/test_fused_loss.py``
    proves the two losses and their gradients equal."""
    ids = torch.randint(0, CONFIG.vocab_size, (TRAIN_BATCH, seq + 1))
    result = compare(
        language_model_step(ours, ids, ours.loss), language_model_step(reference, ids), 2, repeats
    )
    tokens = TRAIN_BATCH * seq
    return tokens / result.first_s, tokens / result.second_s, result.ratio


def bench_training(ours: GPT2, repeats: int) -> None:
    reference = torch_layers_twin(ours)
    ours.train()
    ours_speed, their_speed, ratio = paired_training(ours, reference, TRAIN_SEQ, repeats)
    print(
        f"\ntraining: forward + loss + backward, batch {TRAIN_BATCH} x {TRAIN_SEQ} tokens, "
        f"dropout {CONFIG.dropout}, medians of {repeats} paired steps"
    )
    print(f"  ours (scratchformer GPT2)          {ours_speed:>9,.0f} tokens/s")
    print(f"  torch.nn.TransformerEncoderLayer   {their_speed:>9,.0f} tokens/s")
    print(f"  ratio reference time / our time   {ratio:>9.2f}   (target >= 1.0)")


def bench_against_plain_gpt(repeats: int) -> None:
    """Our training step against the nanoGPT-style reference, dropout 0 and 0.1, T = 128, 256."""
    print(
        f"\ntraining against a nanoGPT-style model, batch {TRAIN_BATCH}, medians of {repeats} paired steps"
    )
    for dropout in (0.0, 0.1):
        torch.manual_seed(0)
        ours = GPT2(dataclasses.replace(CONFIG, dropout=dropout))
        reference = plain_twin(ours)
        ours.train()
        for seq in (128, 256):
            ours_speed, their_speed, ratio = paired_training(ours, reference, seq, repeats)
            print(
                f"  dropout {dropout}, T={seq}: ours {ours_speed:>7,.0f} tokens/s, "
                f"nanoGPT-style {their_speed:>7,.0f} tokens/s, "
                f"ratio their time / our time {ratio:.2f} (target >= 1.10)"
            )


def bench_optimizer(repeats: int) -> None:
    """One AdamW update, ours against PyTorch's CPU default, on two model sizes."""
    print(f"\nthe AdamW update (weight decay 0.1 on matrices), medians of {repeats} paired updates")
    char_model = GPT2Config.named("gpt2-tiny", vocab_size=65, n_layers=4, d_model=128, n_heads=4)
    for name, config in (("chapter 10's char GPT", char_model), ("the model above", CONFIG)):
        torch.manual_seed(0)
        ours = GPT2(config)
        theirs = copy.deepcopy(ours)  # the same weights
        for mine, twin in zip(ours.parameters(), theirs.parameters()):
            mine.grad = torch.randn_like(mine)
            twin.grad = mine.grad.clone()  # and the same gradients
        our_adamw = make_optimizer(ours, lr=1e-3, weight_decay=0.1)
        groups = make_optimizer(theirs, lr=1e-3, weight_decay=0.1).param_groups
        their_adamw = torch.optim.AdamW(  # the same groups, PyTorch's default implementation
            [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in groups], lr=1e-3
        )
        our_adamw.step()
        their_adamw.step()
        same = all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
        assert same, "make_optimizer's update differs from torch.optim.AdamW's"
        result = compare(our_adamw.step, their_adamw.step, 2, repeats)
        print(
            f"  {name:<22} ({ours.num_parameters():>10,} parameters): ours "
            f"{1e3 * result.first_s:6.2f} ms, torch default {1e3 * result.second_s:6.2f} ms, "
            f"ratio their time / our time {result.ratio:.2f}"
        )


def bench_generation(ours: GPT2, repeats: int) -> None:
    hf = transformers_twin(ours)
    ours.eval()
    prompt = torch.randint(0, CONFIG.vocab_size, (1, PROMPT_LEN))
    config = GenerationConfig(max_new_tokens=NEW_TOKENS)
    no_cache = GenerationConfig(max_new_tokens=NEW_TOKENS, use_cache=False)

    def ours_cached() -> torch.Tensor:
        return generate(ours, prompt, config)

    def ours_uncached() -> torch.Tensor:
        return generate(ours, prompt, no_cache)

    def theirs() -> torch.Tensor:
        with torch.no_grad():
            return hf.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                do_sample=False,
                max_new_tokens=NEW_TOKENS,
                pad_token_id=0,
            )

    tokens = ours_cached()
    assert tokens.shape == (1, PROMPT_LEN + NEW_TOKENS)
    assert torch.equal(tokens, ours_uncached()), "the KV cache changed the tokens"
    assert torch.equal(tokens, theirs()), "transformers generated other tokens"
    vs_hf = compare(ours_cached, theirs, 1, repeats)
    vs_no_cache = compare(ours_cached, ours_uncached, 0, max(1, repeats // 3))
    print(
        f"\ngeneration: greedy, batch 1, {PROMPT_LEN}-token prompt + {NEW_TOKENS} new tokens "
        "(all three give the same tokens)"
    )
    print(f"  ours, KV cache                     {NEW_TOKENS / vs_hf.first_s:>9,.1f} tokens/s")
    print(
        f"  ours, no cache                     {NEW_TOKENS / vs_no_cache.second_s:>9,.1f} "
        f"tokens/s   cache speed-up {vs_no_cache.ratio:.1f}x (target >= 5x)"
    )
    print(
        f"  transformers generate              {NEW_TOKENS / vs_hf.second_s:>9,.1f} "
        f"tokens/s   ratio their time / our time {vs_hf.ratio:.2f} (target >= 1.0)"
    )


def main() -> None:
    args = parse_bench_args(bench_parser(__doc__.splitlines()[0]))
    torch.manual_seed(0)
    ours = GPT2(CONFIG)
    print(
        f"GPT-2 benchmark, CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    print(f"config: {CONFIG}")
    print(
        f"  {ours.num_parameters():,} parameters "
        f"({ours.num_parameters(exclude_embeddings=True):,} without the embeddings)"
    )
    bench_training(ours, repeats=4 if args.quick else 10)
    bench_against_plain_gpt(repeats=3 if args.quick else 7)
    bench_optimizer(repeats=5 if args.quick else 25)
    bench_generation(ours, repeats=2 if args.quick else 6)


if __name__ == "__main__":
    main()
