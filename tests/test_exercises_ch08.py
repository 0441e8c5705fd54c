"""Every chapter 8 checker accepts correct rewrites and rejects plausible wrong solutions."""

from __future__ import annotations

import math

import torch

from scratchformer.mlm import IGNORE_INDEX
from scratchformer_course import check


def quiet(name, fn) -> bool:
    return check(name, fn, verbose=False).passed


# -- scratchformer.mlm.mask_tokens ----------------------------------------------------------


def mask_by_hand(input_ids, special_mask, mask_id, vocab_size, generator, *, random_first=False):
    """The 80/10/10 rule written independently (or with the last two draws swapped)."""
    shape = input_ids.shape
    selected = (torch.rand(shape, generator=generator) < 0.15) & ~special_mask
    u_mask = torch.rand(shape, generator=generator)
    u_random = torch.rand(shape, generator=generator)
    if random_first:
        u_mask, u_random = u_random, u_mask
    random_ids = torch.randint(vocab_size, shape, generator=generator)
    out = input_ids.clone()
    to_mask = selected & (u_mask < 0.8)
    to_random = selected & ~to_mask & (u_random < 0.5)
    out[to_mask] = mask_id
    out[to_random] = random_ids[to_random]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[selected] = input_ids[selected]
    return out, labels


def test_mask_tokens_accepts_an_independent_version():
    assert quiet("scratchformer.mlm.mask_tokens", mask_by_hand)


def test_mask_tokens_rejects_wrong_draw_order_specials_and_labels():
    def swapped(*args):
        return mask_by_hand(*args, random_first=True)

    def selects_specials(input_ids, special_mask, mask_id, vocab_size, generator):
        return mask_by_hand(
            input_ids, torch.zeros_like(special_mask), mask_id, vocab_size, generator
        )

    def labels_everywhere(*args):
        out, labels = mask_by_hand(*args)
        return out, torch.where(labels == IGNORE_INDEX, args[0], labels)

    def always_mask(input_ids, special_mask, mask_id, vocab_size, generator):
        selected = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_mask
        return input_ids.masked_fill(selected, mask_id), input_ids.masked_fill(
            ~selected, IGNORE_INDEX
        )

    for wrong in (swapped, selects_specials, labels_everywhere, always_mask):
        assert not quiet("scratchformer.mlm.mask_tokens", wrong), wrong.__name__


# -- scratchformer.models.bert.mean_pool ----------------------------------------------------


def test_mean_pool_accepts_a_loop_and_rejects_the_plain_mean():
    def loop(hidden, mask):
        return torch.stack([h[m.bool()].mean(dim=0) for h, m in zip(hidden, mask)])

    assert quiet("scratchformer.models.bert.mean_pool", loop)
    assert not quiet("scratchformer.models.bert.mean_pool", lambda hidden, mask: hidden.mean(dim=1))
    assert not quiet(
        "scratchformer.models.bert.mean_pool",
        lambda hidden, mask: (hidden * mask[..., None]).sum(dim=1) / hidden.shape[1],
    )


# -- scratchformer.metrics.roc_auc ----------------------------------------------------------


def test_roc_auc_accepts_pair_counting_and_rejects_ties_counted_wrong():
    def pairs(y_true, scores, tie=0.5):
        pos, neg = scores[y_true == 1], scores[y_true == 0]
        diff = pos[:, None] - neg[None, :]
        return float(((diff > 0).double() + tie * (diff == 0).double()).mean())

    assert quiet("scratchformer.metrics.roc_auc", pairs)
    assert not quiet("scratchformer.metrics.roc_auc", lambda y, s: pairs(y, s, tie=0.0))
    assert not quiet("scratchformer.metrics.roc_auc", lambda y, s: pairs(y, s, tie=1.0))


# -- ch08.f1_score --------------------------------------------------------------------------


def test_f1_score_accepts_the_harmonic_mean_and_rejects_near_misses():
    def harmonic(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        precision = tp / max(int((y_pred == 1).sum()), 1)
        recall = tp / max(int((y_true == 1).sum()), 1)
        return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

    def accuracy(y_true, y_pred):
        return float((y_true == y_pred).double().mean())

    def arithmetic_mean(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        precision = tp / max(int((y_pred == 1).sum()), 1)
        recall = tp / max(int((y_true == 1).sum()), 1)
        return (precision + recall) / 2

    def crashes_on_empty(y_true, y_pred):
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        return 2 * tp / (2 * tp + int((y_true != y_pred).sum()))

    assert quiet("ch08.f1_score", harmonic)
    for wrong in (accuracy, arithmetic_mean, crashes_on_empty):
        assert not quiet("ch08.f1_score", wrong), wrong.__name__


# -- ch08.masked_accuracy -------------------------------------------------------------------


def test_masked_accuracy_accepts_a_loop_and_rejects_counting_every_position():
    def loop(logits, labels):
        hits = total = 0
        for row_logits, row_labels in zip(logits, labels):
            for scores, label in zip(row_logits, row_labels):
                if label != IGNORE_INDEX:
                    hits += int(scores.argmax() == label)
                    total += 1
        return hits / total

    def every_position(logits, labels):
        return float((logits.argmax(-1) == labels).double().mean())

    def divides_by_every_position(logits, labels):
        selected = labels != IGNORE_INDEX
        return int((logits.argmax(-1)[selected] == labels[selected]).sum()) / labels.numel()

    assert quiet("ch08.masked_accuracy", loop)
    assert not quiet("ch08.masked_accuracy", every_position)
    assert not quiet("ch08.masked_accuracy", divides_by_every_position)


# -- scratchformer.tokenizers.WordPiece.word_pieces -----------------------------------------


def pieces_by_hand(word, vocab, *, shortest=False, keep_known_prefix=False):
    """Greedy WordPiece written as a recursion (or with the two classic mistakes)."""
    if not word:
        return []
    lengths = range(1, len(word) + 1) if shortest else range(len(word), 0, -1)
    pieces, start = [], 0
    while start < len(word):
        prefix = "##" if start else ""
        found = next((n for n in lengths if prefix + word[start : start + n] in vocab), None)
        if found is None:
            return [*pieces, "[UNK]"] if keep_known_prefix else ["[UNK]"]
        pieces.append(prefix + word[start : start + found])
        start += found
        lengths = range(1, len(word) - start + 1) if shortest else range(len(word) - start, 0, -1)
    return pieces


def test_word_pieces_accepts_greedy_longest_match_and_rejects_near_misses():
    name = "scratchformer.tokenizers.WordPiece.word_pieces"
    assert quiet(name, pieces_by_hand)
    assert not quiet(name, lambda w, v: pieces_by_hand(w, v, shortest=True))
    assert not quiet(name, lambda w, v: pieces_by_hand(w, v, keep_known_prefix=True))
    assert not quiet(name, lambda w, v: [p.removeprefix("##") for p in pieces_by_hand(w, v)])


# -- BERT's modules -------------------------------------------------------------------------


def embed(emb, input_ids, token_type_ids, generator, *, with_types=True, dropout=True):
    seq = input_ids.shape[1]
    x = emb.word.weight[input_ids] + emb.position.weight[:seq]
    if with_types:
        x = x + emb.token_type.weight[token_type_ids]
    x = torch.nn.functional.layer_norm(
        x, x.shape[-1:], emb.norm.weight, emb.norm.bias, emb.norm.eps
    )
    if dropout and emb.training:
        keep = torch.rand(x.shape, generator=generator) >= emb.dropout.p
        x = x * keep / (1 - emb.dropout.p)
    return x


def test_bert_embeddings_accepts_a_rewrite_and_rejects_missing_types_and_dropout():
    name = "scratchformer.models.bert.BertEmbeddings"
    assert quiet(name, embed)
    assert not quiet(name, lambda *a: embed(*a, with_types=False))
    assert not quiet(name, lambda *a: embed(*a, dropout=False))


def test_mlm_head_and_pooler_accept_rewrites_and_reject_near_misses():
    def head(module, hidden, word, *, norm=True, bias=True):
        h = torch.nn.functional.linear(hidden, module.dense.weight, module.dense.bias)
        h = torch.nn.functional.gelu(h) if module.activation == "gelu" else torch.relu(h)
        if norm:
            h = module.norm(h)
        return h @ word.T + (module.bias if bias else 0)

    assert quiet("scratchformer.models.bert.MaskedLMHead", head)
    assert not quiet("scratchformer.models.bert.MaskedLMHead", lambda *a: head(*a, norm=False))
    assert not quiet("scratchformer.models.bert.MaskedLMHead", lambda *a: head(*a, bias=False))

    def pool(module, hidden, *, token=0):
        return torch.tanh(module.dense(hidden[:, token]))

    assert quiet("scratchformer.models.bert.BertPooler", pool)
    assert not quiet("scratchformer.models.bert.BertPooler", lambda m, h: pool(m, h, token=-1))
    assert not quiet("scratchformer.models.bert.BertPooler", lambda m, h: m.dense(h[:, 0]))


def test_bert_model_accepts_the_pieces_wired_together_and_rejects_a_wrong_mask():
    def forward(model, input_ids, attention_mask, token_type_ids, *, padding=None):
        x = embed(model.embeddings, input_ids, token_type_ids, None)
        mask = ~attention_mask if padding is None else padding
        hidden = model.encoder(x, key_padding_mask=mask).hidden
        return hidden, model.pooler(hidden)

    assert quiet("scratchformer.models.bert.BertModel", forward)
    assert not quiet(
        "scratchformer.models.bert.BertModel",
        lambda m, i, a, t: forward(m, i, a, t, padding=torch.zeros_like(a)),
    )


# -- scratchformer.train.fine_tune -------------------------------------------------------


def fine_tune_by_hand(model, tokenizer, texts, labels, config, *, shuffle=True, decay_all=False):
    """fine_tune's loop written out (or with the batch order or the weight decay changed)."""
    encodings = [tokenizer.encode_plus(text, max_len=config.max_len) for text in texts]
    by_length = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    batches = [
        by_length[s : s + config.batch_size] for s in range(0, len(texts), config.batch_size)
    ]
    total = config.epochs * len(batches)
    warmup = max(1, math.ceil(config.warmup_fraction * total))
    model.bert.embeddings.word.weight.requires_grad_(not config.freeze_word_embeddings)
    trained = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trained if p.ndim >= 2 or decay_all]},
        {"params": [p for p in trained if p.ndim < 2 and not decay_all], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, (total - step) / max(1, total - warmup))
    )
    order = torch.Generator().manual_seed(config.seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model.train()
        for _ in range(config.epochs):
            visit = torch.randperm(len(batches), generator=order).tolist()
            for b in visit if shuffle else range(len(batches)):
                ids, mask, types = tokenizer.pad([encodings[i] for i in batches[b]])
                loss = torch.nn.functional.cross_entropy(
                    model(ids, mask, types), labels[batches[b]]
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
    model.bert.embeddings.word.weight.requires_grad_(True)
    return losses, model.state_dict()


def test_fine_tune_accepts_the_loop_written_out_and_rejects_changed_recipes():
    name = "scratchformer.train.fine_tune"
    assert quiet(name, fine_tune_by_hand)
    assert not quiet(name, lambda *a: fine_tune_by_hand(*a, shuffle=False))
    assert not quiet(name, lambda *a: fine_tune_by_hand(*a, decay_all=True))


# -- ch08.fine_tune_steps -------------------------------------------------------------------


def steps_by_hand(model, batches, lr, max_norm, *, zero=True, clip="before"):
    """Gradient descent with clipping written out (or with the usual slips)."""
    losses = []
    for ids, mask, types, labels in batches:
        loss = torch.nn.functional.cross_entropy(model(ids, mask, types), labels)
        if zero:
            for p in model.parameters():
                p.grad = None
        loss.backward()
        if clip == "before":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        if clip == "after":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        losses.append(loss.item())
    return losses


def test_fine_tune_steps_accepts_the_step_and_rejects_the_usual_slips():
    name = "ch08.fine_tune_steps"
    assert quiet(name, steps_by_hand)
    assert not quiet(name, lambda *a: steps_by_hand(*a, zero=False))
    assert not quiet(name, lambda *a: steps_by_hand(*a, clip="after"))
    assert not quiet(name, lambda *a: steps_by_hand(*a, clip=None))
