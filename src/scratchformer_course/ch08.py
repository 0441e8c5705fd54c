"""Checks for chapter 8, "BERT".

Agreement tasks (the notebook builds these in the open and compares with the package):

* ``scratchformer.tokenizers.WordPiece.word_pieces`` — ``fn(word, vocab) -> pieces``: greedy
  longest-match WordPiece of one word over a vocabulary (a set of strings holding
  ``[UNK]``), with ``##`` continuation pieces and ``[UNK]`` for a word that cannot be cut;
* ``scratchformer.mlm.mask_tokens`` — ``fn(input_ids, special_mask, mask_id, vocab_size,
  generator) -> (masked_ids, labels)``, the 80/10/10 rule with the draws in the order the
  module documents;
* ``scratchformer.models.bert.BertEmbeddings`` — ``fn(embeddings, input_ids,
  token_type_ids, generator) -> (batch, seq, d_model)``: a seeded module (in training mode
  half of the time) whose weights the notebook combines itself; the package module runs
  with the global random state set to ``generator``'s, so dropout draws the same numbers;
* ``scratchformer.models.bert.MaskedLMHead`` — ``fn(head, hidden, word_embeddings) ->
  (batch, seq, vocab)``;
* ``scratchformer.models.bert.BertPooler`` — ``fn(pooler, hidden) -> (batch, d_model)``;
* ``scratchformer.models.bert.BertModel`` — ``fn(model, input_ids, attention_mask,
  token_type_ids) -> (hidden, pooled)`` on small seeded models in evaluation mode;
* ``scratchformer.models.bert.mean_pool`` — ``fn(hidden, attention_mask)``, with bool or
  0/1 integer masks;
* ``scratchformer.train.fine_tune`` — ``fn(model, tokenizer, texts, labels, config) ->
  (losses, state_dict)``: the losses of every step and the parameters after training, on
  tiny seeded classifiers with dropout;
* ``scratchformer.metrics.roc_auc`` — ``fn(y_true, scores) -> float`` on scores with ties.

Exercise tasks: ``ch08.f1_score`` (F1 of the positive class from two label tensors),
``ch08.masked_accuracy`` (the share of selected positions a masked LM predicts right) and
``ch08.fine_tune_steps`` (one gradient-descent step per batch, written out, with the
gradients clipped; returns the losses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from scratchformer.functional import cross_entropy
from scratchformer.metrics import precision_recall_f1, roc_auc
from scratchformer.mlm import IGNORE_INDEX, mask_tokens, special_tokens_mask
from scratchformer.models import BertConfig, BertForSequenceClassification, BertModel, mean_pool
from scratchformer.models.bert import BertEmbeddings, BertOutput, BertPooler, MaskedLMHead
from scratchformer.tokenizers import WordPiece
from scratchformer.train import FineTuneConfig, fine_tune
from scratchformer_course.ch05 import build_module, coin
from scratchformer_course.core import Inputs, Task, random_int, register

M = TypeVar("M", bound=nn.Module)

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""The special tokens of the small vocabularies drawn here (ids 0 to 4, BERT's names)."""

# -- agreement tasks ----------------------------------------------------------------------


def word_pieces_reference(word: str, vocab: set[str]) -> tuple[str, ...]:
    """:meth:`WordPiece.word_pieces` of ``word`` over the vocabulary ``vocab``."""
    tokens = list(SPECIALS) + sorted(vocab - set(SPECIALS))
    return WordPiece(tokens).word_pieces(word)


def _random_string(generator: torch.Generator, alphabet: str, low: int, high: int) -> str:
    length = random_int(generator, low, high)
    return "".join(alphabet[random_int(generator, 0, len(alphabet) - 1)] for _ in range(length))


def _word_pieces_inputs(generator: torch.Generator) -> Inputs:
    """A vocabulary of short pieces over a four-letter alphabet, with and without ``##``,
    and a word that is cut into several pieces (or, now and then, cannot be)."""
    alphabet = "abcd"
    vocab = set(SPECIALS)
    for _ in range(random_int(generator, 3, 12)):
        piece = _random_string(generator, alphabet, 1, 3)
        vocab.add(f"##{piece}" if coin(generator) else piece)
    if coin(generator, 0.8):  # every single letter as a continuation: few unknown words
        vocab.update(f"##{letter}" for letter in alphabet)
    return (_random_string(generator, alphabet, 1, 9), vocab), {}


def small_bert_config(generator: torch.Generator, **overrides: Any) -> BertConfig:
    """A small random :class:`BertConfig` (1–2 layers, ``d_model`` 4–16, GELU or ReLU)."""
    n_heads = random_int(generator, 1, 2)
    values: dict[str, Any] = {
        "vocab_size": random_int(generator, 6, 20),
        "d_model": n_heads * random_int(generator, 2, 8),
        "n_layers": random_int(generator, 1, 2),
        "n_heads": n_heads,
        "d_ff": random_int(generator, 4, 16),
        "max_len": random_int(generator, 8, 16),
        "n_token_types": random_int(generator, 1, 3),
        "dropout": float([0.0, 0.1, 0.5][random_int(generator, 0, 2)]),
        "activation": "gelu" if coin(generator, 0.75) else "relu",
        "eps": float([1e-12, 1e-5][random_int(generator, 0, 1)]),
    }
    values.update(overrides)
    return BertConfig(**values)


def _ids_and_types(
    generator: torch.Generator, config: BertConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids and token types ``(batch, seq)`` that fit ``config``."""
    batch, seq = random_int(generator, 1, 3), random_int(generator, 1, config.max_len)
    ids = torch.randint(config.vocab_size, (batch, seq), generator=generator)
    types = torch.randint(config.n_token_types, (batch, seq), generator=generator)
    return ids, types


def bert_embeddings_reference(
    embeddings: BertEmbeddings,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """:class:`BertEmbeddings` run with the global random state set to ``generator``'s.

    Its dropout draws ``torch.rand_like(x)``: a notebook version drawing
    ``torch.rand(x.shape, generator=generator)`` sees the same numbers. The global random
    state is restored afterwards. Returns ``(batch, seq, d_model)``.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.set_rng_state(generator.get_state())
        return embeddings(input_ids, token_type_ids)


def _bert_embeddings_inputs(generator: torch.Generator) -> Inputs:
    config = small_bert_config(generator, dropout=float([0.1, 0.5][random_int(generator, 0, 1)]))
    embeddings = build_module(lambda: BertEmbeddings(config), generator)
    embeddings.train(coin(generator))
    ids, types = _ids_and_types(generator, config)
    seeded = torch.Generator().manual_seed(random_int(generator, 0, 10_000))
    return (embeddings, ids, types, seeded), {}


def mlm_head_reference(
    head: MaskedLMHead, hidden: torch.Tensor, word_embeddings: torch.Tensor
) -> torch.Tensor:
    """:class:`MaskedLMHead`: ``(batch, seq, d_model)`` and ``(vocab, d_model)`` ->
    ``(batch, seq, vocab)``."""
    with torch.no_grad():
        return head(hidden, word_embeddings)


def _module_and_hidden(
    generator: torch.Generator, factory: Callable[[BertConfig], M]
) -> tuple[BertConfig, M, torch.Tensor]:
    """A small random config, ``factory(config)`` with random weights, and token vectors
    ``(batch, seq, d_model)`` for it."""
    config = small_bert_config(generator)
    module = build_module(lambda: factory(config), generator)
    shape = (random_int(generator, 1, 3), random_int(generator, 1, 6), config.d_model)
    return config, module, torch.randn(shape, generator=generator)


def _mlm_head_inputs(generator: torch.Generator) -> Inputs:
    config, head, hidden = _module_and_hidden(generator, MaskedLMHead)
    word = torch.randn(config.vocab_size, config.d_model, generator=generator)
    return (head, hidden, word), {}


def pooler_reference(pooler: BertPooler, hidden: torch.Tensor) -> torch.Tensor:
    """:class:`BertPooler`: ``(batch, seq, d_model) -> (batch, d_model)``."""
    with torch.no_grad():
        return pooler(hidden)


def _pooler_inputs(generator: torch.Generator) -> Inputs:
    _, pooler, hidden = _module_and_hidden(generator, BertPooler)
    return (pooler, hidden), {}


def bert_model_reference(
    model: BertModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor,
) -> BertOutput:
    """:class:`BertModel`'s ``(hidden (batch, seq, d_model), pooled (batch, d_model))``."""
    with torch.no_grad():
        return model(input_ids, attention_mask, token_type_ids)


def _bert_model_inputs(generator: torch.Generator) -> Inputs:
    config = small_bert_config(generator)
    model = build_module(lambda: BertModel(config), generator)
    ids, types = _ids_and_types(generator, config)
    lengths = torch.randint(1, ids.shape[1] + 1, (ids.shape[0],), generator=generator)
    attention_mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    return (model, ids, attention_mask, types), {}


def fine_tune_reference(
    model: BertForSequenceClassification,
    tokenizer: WordPiece,
    texts: list[str],
    labels: torch.Tensor,
    config: FineTuneConfig,
) -> tuple[list[float], dict[str, torch.Tensor]]:
    """:func:`fine_tune`'s losses (one per step) and the model's parameters after it."""
    history = fine_tune(model, tokenizer, texts, labels, config)
    return history.losses, model.state_dict()


TOY_WORDS = ("free", "cash", "prize", "call", "now", "win", "text", "me", "later", "home")
_TOY_TOKENIZER = WordPiece([*SPECIALS, *TOY_WORDS, "##s", "!"])
"""One small tokeniser for every fine-tuning input: the same object each time, so equal
inputs compare equal."""


def _fine_tune_inputs(generator: torch.Generator) -> Inputs:
    config = small_bert_config(generator, vocab_size=_TOY_TOKENIZER.vocab_size, dropout=0.1)
    model = build_module(lambda: BertForSequenceClassification(config), generator)
    words = [*TOY_WORDS, "wins!", "unknown"]
    n_texts = random_int(generator, 2, 9)
    texts = [
        " ".join(words[random_int(generator, 0, len(words) - 1)] for _ in range(length))
        for length in torch.randint(1, 7, (n_texts,), generator=generator).tolist()
    ]
    labels = torch.randint(config.n_labels, (n_texts,), generator=generator)
    fine_tune_config = FineTuneConfig(
        epochs=random_int(generator, 1, 2),
        batch_size=random_int(generator, 2, 4),
        lr=float([1e-3, 1e-2][random_int(generator, 0, 1)]),
        max_len=config.max_len,
        freeze_word_embeddings=coin(generator, 0.75),
        seed=random_int(generator, 0, 1_000),
        precision="float32",
    )
    return (model, _TOY_TOKENIZER, texts, labels, fine_tune_config), {}


def mask_tokens_reference(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`scratchformer.mlm.mask_tokens` with BERT's default probabilities."""
    masked = mask_tokens(
        input_ids, special_mask, mask_id=mask_id, vocab_size=vocab_size, generator=generator
    )
    return masked.input_ids, masked.labels


def _mask_tokens_inputs(generator: torch.Generator) -> Inputs:
    vocab_size = random_int(generator, 6, 40)
    batch, seq = random_int(generator, 1, 4), random_int(generator, 2, 30)
    pad_id, cls_id, sep_id, mask_id = 0, 1, 2, 3
    ids = torch.randint(4, vocab_size, (batch, seq), generator=generator)
    lengths = torch.randint(2, seq + 1, (batch,), generator=generator)
    positions = torch.arange(seq)[None, :]
    ids[:, 0] = cls_id
    ids[positions == (lengths[:, None] - 1)] = sep_id
    ids = ids.masked_fill(positions >= lengths[:, None], pad_id)
    special = special_tokens_mask(ids, [pad_id, cls_id, sep_id])
    seed = random_int(generator, 0, 2**31 - 1)
    return (ids, special, mask_id, vocab_size, torch.Generator().manual_seed(seed)), {}


def mean_pool_reference(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """:func:`scratchformer.models.bert.mean_pool`: ``(batch, d_model)``."""
    return mean_pool(hidden, attention_mask)


def _mean_pool_inputs(generator: torch.Generator) -> Inputs:
    batch, seq, d_model = (
        random_int(generator, 1, 4),
        random_int(generator, 1, 8),
        random_int(generator, 1, 6),
    )
    hidden = 3.0 * torch.randn(batch, seq, d_model, generator=generator) + 1.0
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    mask = torch.arange(seq)[None, :] < lengths[:, None]
    return (hidden, mask if coin(generator) else mask.long()), {}


def roc_auc_reference(y_true: torch.Tensor, scores: torch.Tensor) -> float:
    """:func:`scratchformer.metrics.roc_auc`."""
    return roc_auc(y_true, scores)


def _binary_labels(generator: torch.Generator, n: int) -> torch.Tensor:
    """``n >= 2`` labels, 0/1, with both classes present, at a random balance."""
    labels = (
        torch.rand(n, generator=generator) < float(torch.rand((), generator=generator))
    ).long()
    labels[0], labels[1] = 0, 1
    return labels[torch.randperm(n, generator=generator)]


def _roc_auc_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 2, 40)
    y_true = _binary_labels(generator, n)
    scores = torch.rand(n, generator=generator) + 0.5 * y_true  # positives score a bit higher
    if coin(generator):  # few distinct values: many ties
        scores = (scores * 3).round() / 3
    return (y_true, scores), {}


for _task in (
    Task(
        name="scratchformer.tokenizers.WordPiece.word_pieces",
        reference=word_pieces_reference,
        make_inputs=_word_pieces_inputs,
        hint="take the longest prefix of the rest of the word that is in the vocabulary "
        "(spelled with '##' after the first piece), then continue after it; if no prefix "
        "is in the vocabulary, the whole word is ['[UNK]'], not only the rest.",
    ),
    Task(
        name="scratchformer.mlm.mask_tokens",
        reference=mask_tokens_reference,
        make_inputs=_mask_tokens_inputs,
        hint="draw rand (select), rand (mask?), rand (random?) and randint (the random ids) in "
        "that order, each over the whole (batch, seq) shape, from the given generator; never "
        "select a special position; labels are -100 wherever a token was not selected.",
    ),
    Task(
        name="scratchformer.models.bert.BertEmbeddings",
        reference=bert_embeddings_reference,
        make_inputs=_bert_embeddings_inputs,
        hint="add the word, position (0 .. seq - 1) and token-type vectors, apply LayerNorm "
        "with the module's eps, gain and bias, then dropout only in training mode: keep where "
        "torch.rand(x.shape, generator=generator) >= p and divide by 1 - p.",
    ),
    Task(
        name="scratchformer.models.bert.MaskedLMHead",
        reference=mlm_head_reference,
        make_inputs=_mlm_head_inputs,
        hint="dense, then the activation (head.activation), then LayerNorm (head.norm's gain, "
        "bias and eps); the scores are the product with word_embeddings transposed, plus "
        "head.bias.",
    ),
    Task(
        name="scratchformer.models.bert.BertPooler",
        reference=pooler_reference,
        make_inputs=_pooler_inputs,
        hint="read the first token's vector, hidden[:, 0], then the dense layer, then tanh.",
    ),
    Task(
        name="scratchformer.models.bert.BertModel",
        reference=bert_model_reference,
        make_inputs=_bert_model_inputs,
        hint="embeddings, then the encoder with key_padding_mask = ~attention_mask (True at "
        "padding), then the pooler on the encoder's output; return (hidden, pooled).",
    ),
    Task(
        name="scratchformer.models.bert.mean_pool",
        reference=mean_pool_reference,
        make_inputs=_mean_pool_inputs,
        hint="sum the vectors of the real tokens only (multiply by the mask) and divide by the "
        "number of real tokens, not by seq.",
    ),
    Task(
        name="scratchformer.train.fine_tune",
        reference=fine_tune_reference,
        make_inputs=_fine_tune_inputs,
        trials=10,
        hint="batches: the texts sorted by length, cut every batch_size; each epoch visits them "
        "in torch.randperm order from a generator seeded with config.seed; seed torch's global "
        "generator with config.seed for dropout; AdamW with weight decay on matrices only; "
        "before every step, the learning rate lr * min((step + 1) / warmup, (total - step) / "
        "(total - warmup)).",
    ),
    Task(
        name="scratchformer.metrics.roc_auc",
        reference=roc_auc_reference,
        make_inputs=_roc_auc_inputs,
        hint="count, over all (positive, negative) pairs, 1 when the positive scores higher "
        "and 1/2 for a tie; divide by the number of pairs.",
    ),
):
    register(_task)


# -- exercise tasks -----------------------------------------------------------------------


def f1_score_reference(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """F1 of class 1: ``2 TP / (2 TP + FP + FN)``, and 0.0 when that is ``0 / 0``."""
    return precision_recall_f1(y_true, y_pred, positive=1)[2]


def _f1_score_inputs(generator: torch.Generator) -> Inputs:
    n = random_int(generator, 1, 30)
    y_true = (torch.rand(n, generator=generator) < 0.3).long()
    y_pred = torch.where(torch.rand(n, generator=generator) < 0.7, y_true, 1 - y_true)
    if coin(generator, 0.15):  # a classifier that never says "positive"
        y_pred = torch.zeros_like(y_pred)
    if coin(generator, 0.1):  # no positive example and no positive prediction
        y_true, y_pred = torch.zeros_like(y_true), torch.zeros_like(y_pred)
    return (y_true, y_pred), {}


def masked_accuracy_reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of positions with a label (not ``-100``) whose arg-max logit is the label.

    ``logits``: ``(batch, seq, vocab)``; ``labels``: ``(batch, seq)``.
    """
    selected = labels != IGNORE_INDEX
    return float((logits.argmax(dim=-1)[selected] == labels[selected]).double().mean())


def _masked_accuracy_inputs(generator: torch.Generator) -> Inputs:
    batch, seq, vocab = (
        random_int(generator, 1, 3),
        random_int(generator, 1, 10),
        random_int(generator, 2, 12),
    )
    logits = torch.randn(batch, seq, vocab, generator=generator)
    labels = torch.randint(vocab, (batch, seq), generator=generator)
    # Make about half of the labels the arg-max, so right and wrong answers both occur.
    right = torch.rand(batch, seq, generator=generator) < 0.5
    labels = torch.where(right, logits.argmax(dim=-1), labels)
    ignored = torch.rand(batch, seq, generator=generator) < 0.6
    ignored.view(-1)[random_int(generator, 0, batch * seq - 1)] = False  # at least one label
    return (logits, labels.masked_fill(ignored, IGNORE_INDEX)), {}


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""``(input_ids, attention_mask, token_type_ids, labels)``: ``(batch, seq)`` three times and
``(batch,)`` class indices."""


def fine_tune_steps_reference(
    model: nn.Module, batches: list[Batch], lr: float, max_norm: float
) -> list[float]:
    """One gradient-descent step per batch, written out: class scores ``(batch, n_labels)``,
    mean cross-entropy, fresh gradients clipped to a total norm of at most ``max_norm``,
    then ``p <- p - lr * grad`` for every parameter.

    Returns the loss of every step (before its update), as floats.
    """
    losses = []
    for input_ids, attention_mask, token_type_ids, labels in batches:
        loss = cross_entropy(model(input_ids, attention_mask, token_type_ids), labels)
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.grad is not None:
                    parameter.sub_(lr * parameter.grad)
        losses.append(loss.item())
    return losses


def _fine_tune_steps_inputs(generator: torch.Generator) -> Inputs:
    """A tiny seeded classifier without dropout, 2–3 batches, a learning rate large enough
    that every step changes the next loss, and a ``max_norm`` that usually clips."""
    config = small_bert_config(generator, dropout=0.0)
    model = build_module(lambda: BertForSequenceClassification(config), generator)
    batches = []
    for _ in range(random_int(generator, 2, 3)):
        ids, types = _ids_and_types(generator, config)
        lengths = torch.randint(1, ids.shape[1] + 1, (ids.shape[0],), generator=generator)
        attention_mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        labels = torch.randint(config.n_labels, (ids.shape[0],), generator=generator)
        batches.append((ids, attention_mask, types, labels))
    lr = float([0.1, 0.5][random_int(generator, 0, 1)])
    max_norm = float([0.05, 0.2, 1.0][random_int(generator, 0, 2)])
    return (model, batches, lr, max_norm), {}


for _task in (
    Task(
        name="ch08.f1_score",
        reference=f1_score_reference,
        make_inputs=_f1_score_inputs,
        hint="F1 is built from three counts of class 1 (true positives, false positives, false "
        "negatives); mind the case where all three are zero.",
        more_hints=(
            (
                "F1 = 2TP / (2TP + FP + FN), the harmonic mean of precision and recall without their "
                "0/0 cases; return 0.0 when TP + FP + FN == 0."
            ),
        ),
    ),
    Task(
        name="ch08.masked_accuracy",
        reference=masked_accuracy_reference,
        make_inputs=_masked_accuracy_inputs,
        hint="only the positions that were selected for the loss count: which labels mark the "
        "others?",
        more_hints=(
            (
                "keep the positions whose label is not -100 (IGNORE_INDEX); compare the arg-max over "
                "the last (vocabulary) axis with the label there, and average over those positions "
                "only."
            ),
        ),
    ),
    Task(
        name="ch08.fine_tune_steps",
        reference=fine_tune_steps_reference,
        make_inputs=_fine_tune_steps_inputs,
        hint="one step per batch: loss, gradients, clipping, update. Check the order of the four, "
        "and that every step starts from fresh gradients.",
        more_hints=(
            (
                "backward adds to .grad: clear it (model.zero_grad()) before loss.backward(); clip "
                "with torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) after backward "
                "and before the update."
            ),
            (
                "per batch: loss = mean cross-entropy of model(input_ids, attention_mask, "
                "token_type_ids) with labels; model.zero_grad(); loss.backward(); clip_grad_norm_; "
                "then p -= lr * p.grad for every parameter inside torch.no_grad(); keep loss.item()."
            ),
        ),
    ),
):
    register(_task)
