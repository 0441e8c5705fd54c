"""Bad input to the model side (layers, models, generation, text APIs) is a clear error.

Each row is something a careless learner might write: the mistake, the exception (or
warning) it must raise, and a phrase of the message that says what was wrong or how to
fix it. None of them may run on and answer wrongly without a word. The data side
(checkpoints, tokenisers, BLEU, the cache) has its table in ``test_bad_inputs_data.py``,
the service in ``test_serve.py`` and ``test_serve_hostile.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from scratchformer.attention import AttentionConfig, KVCache, MultiHeadAttention, causal_mask
from scratchformer.batching import pad_batch
from scratchformer.generate import GenerationConfig, beam_search, generate, greedy_search
from scratchformer.generate.seq2seq import BeamSearchConfig
from scratchformer.layers import Decoder, Encoder, TransformerConfig
from scratchformer.models.bert import BertConfig, BertModel
from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.models.sentence_encoder import mean_pool
from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer
from tiny_bert import tiny_classifier

VOCAB = 20
LAYERS = TransformerConfig(d_model=8, n_heads=2, d_ff=16, n_layers=1, dropout=0.0)
torch.manual_seed(0)
ENCODER = Encoder(LAYERS).eval()
DECODER = Decoder(LAYERS).eval()
ATTENTION = MultiHeadAttention(AttentionConfig(8, 2))
GPT = GPT2(GPT2Config(vocab_size=VOCAB, max_len=16, d_model=8, n_layers=1, n_heads=2)).eval()
TRANSLATOR = Transformer(
    Seq2SeqConfig(src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, max_len=16, d_model=8, n_heads=2,
                  d_ff=16, n_encoder_layers=1, n_decoder_layers=1)
).eval()  # fmt: skip
BERT = BertModel(
    BertConfig(vocab_size=VOCAB, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=16)
)
IDS, ATTENTION_MASK = pad_batch([[3, 4, 5], [6]], pad_id=0)  # True at real tokens
X = torch.randn(2, 3, 8)
CLASSIFIER = tiny_classifier()

ERRORS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # masks
    ("a mask passed by position to a layer", lambda: ENCODER(X, ATTENTION_MASK),
     TypeError, "positional"),
    ("a 0/1 integer key padding mask", lambda: ENCODER(X, key_padding_mask=(~ATTENTION_MASK).long()),
     TypeError, r"key_padding_mask must be a bool tensor \(True = padding key\)"),
    ("a float 0./1. attention_mask to BERT", lambda: BERT(IDS, ATTENTION_MASK.float()),
     TypeError, r"attention_mask is torch.float32.*attention_mask.bool\(\)"),
    ("an attention_mask of 0/1/2 to BERT", lambda: BERT(IDS, ATTENTION_MASK.long() * 2),
     ValueError, r"only 0 \(padding\) and 1 \(real token\)"),
    # token ids
    ("a list where a tensor of ids is expected", lambda: GPT([[1, 2, 3]]),
     TypeError, r"torch.Tensor of token ids.*torch.tensor\(\[ids\]\)"),
    ("one sequence without a batch axis", lambda: GPT(torch.tensor([1, 2])),
     ValueError, r"add a batch axis with ids\[None\]"),
    ("float ids", lambda: BERT(IDS.float()), TypeError, r"integer token ids.*\.long\(\)"),
    ("an id outside the vocabulary", lambda: TRANSLATOR.encode(IDS + VOCAB),
     ValueError, r"holds the id 2\d, outside the vocabulary \[0, 20\)"),
    ("an empty sequence", lambda: BERT(torch.zeros(1, 0, dtype=torch.long)),
     ValueError, r"input_ids is empty \(seq = 0\)"),
    ("a list to greedy search", lambda: greedy_search(TRANSLATOR, [[3, 4]], 1, 2, 5),
     TypeError, r"src must be a torch.Tensor"),
    ("an empty batch to greedy search",
     lambda: greedy_search(TRANSLATOR, torch.zeros(0, 3, dtype=torch.long), 1, 2, 5),
     ValueError, r"src holds no sentence"),
    ("float ids to beam search", lambda: beam_search(TRANSLATOR, IDS.float(), BeamSearchConfig(1, 2, max_len=8)),
     TypeError, r"src must hold integer token ids"),
    # float inputs and dtypes
    ("float64 into a float32 module", lambda: ENCODER(X.double()),
     TypeError, r"query is torch.float64 but the module's weights are torch.float32"),
    ("a list into attention", lambda: ATTENTION(X.tolist(), X, X),
     TypeError, r"query must be a torch.Tensor"),
    ("a list into mean_pool", lambda: mean_pool(X.tolist(), ATTENTION_MASK),
     TypeError, "mean_pool expects tensors"),
    ("a string length for a causal mask", lambda: causal_mask("5"),  # type: ignore[arg-type]
     ValueError, r"integer seq_len >= 1, got '5'"),
    # caches
    ("a KV cache reused with another batch size", lambda: _reuse_cache_with_another_batch(),
     ValueError, r"the kv_cache holds 2 rows but the batch has 1"),
    ("a GPT-2 cache of another depth", lambda: GPT(IDS, [KVCache(), KVCache()]),
     ValueError, r"past must hold one KVCache per block \(1\), got 2"),
    # generation
    ("a stop token outside the vocabulary",
     lambda: generate(GPT, IDS[:1], GenerationConfig(max_new_tokens=2, stop_tokens=(VOCAB,))),
     ValueError, r"stop_tokens \[20\] lie outside .*never stop"),
    ("a stop token given as text", lambda: GenerationConfig(stop_tokens=("<|endoftext|>",)),  # type: ignore[arg-type]
     ValueError, r"stop_tokens must hold token ids"),
    ("a float prompt", lambda: generate(GPT, torch.tensor([1.0])),
     TypeError, r"prompt must hold integer token ids"),
    ("an eos_id outside the target vocabulary", lambda: greedy_search(TRANSLATOR, IDS, 1, 25, 5),
     ValueError, r"eos_id=25 is not in the target vocabulary"),
    # configs
    ("a GPT-2 config.json without its sizes", lambda: GPT2Config.from_hf({"model_type": "gpt2"}),
     ValueError, r"the config lacks 'vocab_size', 'n_positions'"),
    ("d_model not divisible by n_heads", lambda: TransformerConfig(d_model=10, n_heads=3),
     ValueError, r"not divisible by n_heads=3"),
    # texts
    ("bytes as texts", lambda: CLASSIFIER.predict_proba(b"free cash"),  # type: ignore[arg-type]
     TypeError, r"texts is bytes; decode it"),
    ("None among texts", lambda: CLASSIFIER.encode(["ok", None]),  # type: ignore[list-item]
     TypeError, r"texts\[1\] must be a str, got NoneType"),
    ("a dict as texts", lambda: CLASSIFIER.run({"text": "hi"}),  # type: ignore[arg-type]
     TypeError, r"a str \(one text\) or a list of str, got dict"),
]  # fmt: skip


def _reuse_cache_with_another_batch() -> None:
    cache = KVCache()
    ATTENTION(X, X, X, kv_cache=cache)
    one = X[:1]
    ATTENTION(one, one, one, kv_cache=cache)


@pytest.mark.parametrize(("mistake", "call", "error", "phrase"), ERRORS, ids=[e[0] for e in ERRORS])
def test_the_mistake_is_a_clear_error(
    mistake: str, call: Callable[[], object], error: type[Exception], phrase: str
) -> None:
    with pytest.raises(error, match=phrase):
        call()


def test_an_inverted_mask_is_said_out_loud() -> None:
    """The one mask mistake no type check can see: warned, with the fix."""
    with pytest.warns(UserWarning, match=r"check which of the two you passed"):
        ENCODER(X, key_padding_mask=ATTENTION_MASK)  # should be ~ATTENTION_MASK
    with pytest.warns(UserWarning, match=r"row\(s\) \[0\] as padding"):
        BERT(IDS, ~ATTENTION_MASK)  # should be ATTENTION_MASK
    with pytest.warns(UserWarning, match=r"memory_key_padding_mask marks every key"):
        DECODER(X, X, memory_key_padding_mask=ATTENTION_MASK)


def test_one_string_is_one_text_not_its_characters() -> None:
    one, batch = CLASSIFIER.predict_proba("free cash"), CLASSIFIER.predict_proba(["free cash"])
    assert one.shape == (len(CLASSIFIER.labels),)
    torch.testing.assert_close(one, batch[0])
