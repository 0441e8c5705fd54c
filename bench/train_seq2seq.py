"""Benchmark: training our encoder-decoder Transformer against one built on torch.nn.Transformer.

Prints training tokens/s on the CPU (float32) of chapter 7's translator
(``scratchformer.models.Transformer``: post-LN, ReLU, 3 + 3 layers, 256 wide, one shared
embedding table scaled by ``sqrt(d_model)``, sinusoidal positions, tied output layer) and
of a reference of the same size around ``torch.nn.Transformer`` with the same embedding,
positions and output layer. The reference is loaded with our weights and must give our
logits, loss and gradients (eval mode) before anything is timed.

One timed step is what the training loop spends per batch, minus data loading: forward
on ``(src, tgt_in)`` with padding masks (and the causal mask in the decoder),
label-smoothed cross-entropy (0.1, padding ignored) on ``tgt_out``, backward and an AdamW
step, with dropout 0.1 in training mode; each side has its own optimiser with the
chapter's settings. The batches are real: Multi30k's German-English training pairs
(``scratchformer.data.load_de_en``), a shared 8000-token BPE, grouped by length into
batches of at most 1500 padded tokens as chapter 7 trains; a fixed list of them is cycled.

Steps run alternately, one batch each (scratchformer.benchmark.paired_timings), so both
sides see the same batch in every pair and drifting machine load hits both alike.
tokens/s counts real tokens (source plus predicted target, ``PairBatch.n_tokens``) over
all timed steps; the ratio ``reference time / our time`` (the median of the paired
ratios) is ``>= 1.0`` when ours is at least as fast.

    python bench/train_seq2seq.py             # a few minutes on 2 cores
    python bench/train_seq2seq.py --quick     # one pass over the batches
"""

from __future__ import annotations

import math
import re
import statistics
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.batching import PairBatch, collate_pairs, length_buckets
from scratchformer.benchmark import bench_parser, paired_timings, parse_bench_args, training_step
from scratchformer.data import load_de_en
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.positional import sinusoidal_encoding
from scratchformer.train import Seq2SeqTrainConfig, make_optimizer, translation_loss
from scratchformer.translation import SpecialIds, encode_pairs, train_shared_tokenizer

VOCAB_SIZE = 8000  # the shared BPE vocabulary
TOKENIZER_SENTENCES = 2000  # per language, to train the BPE (keeps set-up short)
CORPUS_PAIRS = 4000  # training pairs tokenised and grouped into batches
MAX_LEN, D_MODEL, N_HEADS, D_FF, N_LAYERS, DROPOUT = (
    64,
    256,
    4,
    512,
    3,
    0.1,
)  # chapter 7, full profile
TRAINING = Seq2SeqTrainConfig(max_tokens=1500)  # chapter 7: batch budget, label smoothing, AdamW
LEARNING_RATE = 5e-4  # constant: its value does not change the work
N_BATCHES = 8  # the timed steps cycle through this many batches
WARMUP_STEPS = 2  # untimed steps per side


class TorchSeq2Seq(nn.Module):
    """The reference: our embeddings, positions and output layer around ``nn.Transformer``."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        d = config.d_model
        self.pad_id = config.pad_id
        self.scale = math.sqrt(d)
        self.embedding = nn.Embedding(config.tgt_vocab_size, d)  # source and target share it
        self.register_buffer("positions", sinusoidal_encoding(config.max_len, d), persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.transformer = nn.Transformer(
            d,
            config.n_heads,
            config.n_encoder_layers,
            config.n_decoder_layers,
            config.d_ff,
            config.dropout,
            activation="relu",
            batch_first=True,
            norm_first=False,
        )
        # nn.Transformer ends both stacks with a LayerNorm; post-LN stacks (ours) have none.
        self.transformer.encoder.norm = None
        self.transformer.decoder.norm = None
        self.output = nn.Linear(d, config.tgt_vocab_size)
        self.output.weight = self.embedding.weight  # tied output layer

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids ``(batch, seq)`` -> ``dropout(embedding * sqrt(d_model) + positions)``."""
        return self.dropout(self.embedding(ids) * self.scale + self.positions[: ids.shape[1]])

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, tgt_seq, vocab)`` for source ids and shifted target ids."""
        src_padding = src == self.pad_id
        seq = tgt.shape[1]
        future = torch.ones(seq, seq, dtype=torch.bool, device=tgt.device).triu(1)  # True: masked
        hidden = self.transformer(
            self.embed(src),
            self.embed(tgt),
            tgt_mask=future,
            src_key_padding_mask=src_padding,
            tgt_key_padding_mask=tgt == self.pad_id,
            memory_key_padding_mask=src_padding,
            tgt_is_causal=True,
        )
        return self.output(hidden)


def reference_loss(model: TorchSeq2Seq, batch: PairBatch) -> torch.Tensor:
    """torch's label-smoothed cross-entropy of ``batch.tgt_out``, padding ignored."""
    logits = model(batch.src, batch.tgt_in)
    return F.cross_entropy(
        logits.flatten(0, 1),
        batch.tgt_out.flatten(),
        ignore_index=batch.pad_id,
        label_smoothing=TRAINING.label_smoothing,
    )


def our_loss(model: Transformer, batch: PairBatch) -> torch.Tensor:
    """The chapter 7 training loop's loss (scratchformer's label-smoothed cross-entropy)."""
    return translation_loss(model, batch, TRAINING.label_smoothing)


def reference_name(ours: str) -> str:
    """Our parameter name -> the reference's (q/k/v are stacked the same way in both)."""
    name = re.sub(r"^(src|tgt)_embedding\.", "embedding.", ours)
    name = re.sub(r"^(encoder|decoder)\.", r"transformer.\1.", name)
    name = name.replace("in_proj.", "in_proj_").replace("cross_attn.", "multihead_attn.")
    return name.replace("feed_forward.", "")


def torch_twin(ours: Transformer, batch: PairBatch) -> TorchSeq2Seq:
    """The reference holding our weights, checked to give our logits, loss and gradients."""
    twin = TorchSeq2Seq(ours.config)
    twin.load_state_dict({reference_name(n): t for n, t in ours.state_dict().items()})
    ours.eval()
    twin.eval()
    # With gradients on, as in training (without them torch takes another, inference path).
    torch.testing.assert_close(
        twin(batch.src, batch.tgt_in), ours(batch.src, batch.tgt_in), rtol=1e-4, atol=1e-4
    )
    losses = our_loss(ours, batch), reference_loss(twin, batch)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-5)
    for loss in losses:
        loss.backward()
    for name, p in ours.named_parameters():
        theirs = twin.get_parameter(reference_name(name)).grad
        torch.testing.assert_close(theirs, p.grad, rtol=1e-3, atol=1e-5, msg=f"gradient of {name}")
    ours.zero_grad(set_to_none=True)
    twin.zero_grad(set_to_none=True)
    return twin.train()


def real_batches() -> tuple[list[PairBatch], int, int]:
    """``N_BATCHES`` length-bucketed training batches, the vocabulary size and the pad id."""
    train = load_de_en(download=True)["train"]
    de, en = train["de"][:CORPUS_PAIRS], train["en"][:CORPUS_PAIRS]
    texts = de[:TOKENIZER_SENTENCES] + en[:TOKENIZER_SENTENCES]  # both languages
    tokenizer = train_shared_tokenizer(texts, VOCAB_SIZE)
    pad = SpecialIds.of(tokenizer).pad
    pairs = encode_pairs(tokenizer, de, en, MAX_LEN)
    lengths = [max(len(src), len(tgt) - 1) for src, tgt in pairs]  # as the training loop buckets
    buckets = length_buckets(lengths, TRAINING.max_tokens, torch.Generator().manual_seed(0))
    batches = [collate_pairs([pairs[i] for i in bucket], pad) for bucket in buckets[:N_BATCHES]]
    return batches, tokenizer.vocab_size, pad


def bench_training(ours: Transformer, batches: list[PairBatch], passes: int) -> None:
    """Time training steps on ``batches`` (``passes`` times each), ours and the reference's."""
    reference = torch_twin(ours, batches[0])
    ours.train()

    def optimizer(model: nn.Module) -> torch.optim.AdamW:
        return make_optimizer(
            model,
            lr=LEARNING_RATE,
            weight_decay=TRAINING.weight_decay,
            betas=TRAINING.betas,
            eps=TRAINING.eps,
        )

    repeats = passes * len(batches)  # whole passes: the timed steps cover each batch equally
    t_ours, t_reference = paired_timings(
        training_step(partial(our_loss, ours), batches, optimizer(ours)),
        training_step(partial(reference_loss, reference), batches, optimizer(reference)),
        WARMUP_STEPS,
        repeats,
    )
    tokens = passes * sum(batch.n_tokens for batch in batches)
    ratio = statistics.median(r / o for o, r in zip(t_ours, t_reference))
    print(
        f"\ntraining: forward + label-smoothed cross-entropy + backward + AdamW step, dropout "
        f"{DROPOUT}, {passes} pass(es) over the batches ({repeats} paired steps)"
    )
    print(f"  ours (scratchformer Transformer)   {tokens / sum(t_ours):>9,.0f} tokens/s")
    print(f"  torch.nn.Transformer               {tokens / sum(t_reference):>9,.0f} tokens/s")
    print(f"  ratio reference time / our time   {ratio:>9.2f}   (target >= 1.0)")


def main() -> None:
    args = parse_bench_args(bench_parser(__doc__.splitlines()[0], "one pass over the batches"))
    batches, vocab_size, pad = real_batches()
    config = Seq2SeqConfig(
        src_vocab_size=vocab_size,
        tgt_vocab_size=vocab_size,
        pad_id=pad,
        max_len=MAX_LEN,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        d_ff=D_FF,
        n_encoder_layers=N_LAYERS,
        n_decoder_layers=N_LAYERS,
        dropout=DROPOUT,
        share_embeddings=True,
    )
    torch.manual_seed(0)
    ours = Transformer(config)
    print(
        f"seq2seq training benchmark, CPU, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}"
    )
    print(f"config: {config}")
    print(f"  {sum(p.numel() for p in ours.parameters()):,} parameters")
    padded = sum(b.src.numel() + b.tgt_out.numel() for b in batches)
    print(
        f"batches: {len(batches)} of German-English training pairs, at most "
        f"{TRAINING.max_tokens} padded tokens each; (pairs, src_seq, tgt_seq): "
        + ", ".join(f"{tuple(b.src.shape) + (b.tgt_in.shape[1],)}" for b in batches)
        + f"; {sum(b.n_tokens for b in batches) / padded:.0%} of positions are real tokens"
    )
    bench_training(ours, batches, passes=1 if args.quick else 4)


if __name__ == "__main__":
    main()
