"""scratchformer.translation: shared tokenizer, tokenised pairs, Translator's text in/text out."""

from __future__ import annotations

import pytest
import torch

from scratchformer.generate import BeamSearchConfig, beam_search
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.tokenizers import BPETrainConfig, ByteLevelBPE
from scratchformer.translation import (
    SPECIAL_TOKENS,
    SpecialIds,
    Translator,
    encode_pairs,
    train_shared_tokenizer,
)

GERMAN = ["Das Haus ist groß.", "Der Hund schläft.", "Ich trinke Wasser.", "Wir fahren morgen."]
ENGLISH = ["The house is big.", "The dog is sleeping.", "I drink water.", "We leave tomorrow."]


@pytest.fixture(scope="module")
def tokenizer() -> ByteLevelBPE:
    return train_shared_tokenizer(GERMAN + ENGLISH, vocab_size=300)


@pytest.fixture(scope="module")
def translator(tokenizer: ByteLevelBPE) -> Translator:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=tokenizer.vocab_size,
        tgt_vocab_size=tokenizer.vocab_size,
        pad_id=SpecialIds.of(tokenizer).pad,
        max_len=24,
        d_model=16,
        n_heads=2,
        d_ff=32,
        n_encoder_layers=1,
        n_decoder_layers=1,
        share_embeddings=True,
    )
    return Translator(Transformer(config).eval(), tokenizer)


def test_the_tokenizer_is_shared_and_has_the_special_tokens(tokenizer: ByteLevelBPE) -> None:
    assert set(SPECIAL_TOKENS) <= set(tokenizer.special_tokens)
    ids = SpecialIds.of(tokenizer)
    assert len({ids.pad, ids.bos, ids.eos}) == 3
    for text in GERMAN + ENGLISH:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    plain = ByteLevelBPE.train(GERMAN, BPETrainConfig(vocab_size=260))
    with pytest.raises(ValueError, match="no special token"):
        SpecialIds.of(plain)


def test_encode_pairs_wraps_targets_and_drops_what_the_model_cannot_read(tokenizer) -> None:
    ids = SpecialIds.of(tokenizer)
    pairs = encode_pairs(tokenizer, GERMAN, ENGLISH, max_len=64)
    assert len(pairs) == 4
    for (src, tgt), de, en in zip(pairs, GERMAN, ENGLISH):
        assert src == tokenizer.encode(de)
        assert tgt == [ids.bos, *tokenizer.encode(en), ids.eos]
    longest = max(len(src) for src, _ in pairs)
    assert len(encode_pairs(tokenizer, GERMAN, ENGLISH, max_len=longest - 1)) < 4
    with pytest.raises(ValueError, match="4 sources but 3 targets"):
        encode_pairs(tokenizer, GERMAN, ENGLISH[:3], max_len=64)


def test_translate_keeps_the_input_order_across_batches(translator: Translator) -> None:
    together = translator.translate(GERMAN, batch_size=3)
    assert together == [translator.translate([text])[0] for text in GERMAN]
    assert all(isinstance(out, str) for out in together)
    assert translator.translate([]) == []


def test_beam_translation_is_the_best_beam_hypothesis(translator: Translator) -> None:
    ids = translator.ids
    out = translator.translate([GERMAN[0]], beam_size=3, length_penalty=0.6, max_len=10)[0]
    src = torch.tensor([translator.tokenizer.encode(GERMAN[0])])
    best = beam_search(translator.model, src, BeamSearchConfig(ids.bos, ids.eos, 3, 10, 0.6))[0][0]
    tokens = best.tokens[: best.tokens.index(ids.eos)] if ids.eos in best.tokens else best.tokens
    assert out == translator.tokenizer.decode(tokens).strip()


def test_empty_and_overlong_texts_are_clear_errors_or_truncated(translator: Translator) -> None:
    for empty in ("", "   "):
        with pytest.raises(ValueError, match="cannot translate an empty text"):
            translator.translate([empty])
    long_text = "Das Haus ist groß. " * 20
    n_tokens = len(translator.tokenizer.encode(long_text))
    with pytest.raises(
        ValueError, match=f"has {n_tokens} tokens, more than the model's max_len=24"
    ):
        translator.translate([long_text])
    assert isinstance(translator.translate([long_text], truncate=True)[0], str)


def test_one_string_is_one_text_and_other_types_are_refused(translator: Translator) -> None:
    text = "Das Haus ist groß."
    assert translator.translate(text) == translator.translate([text])[0]
    with pytest.raises(TypeError, match=r"texts is bytes; decode it"):
        translator.translate(text.encode())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got NoneType"):
        translator.translate([text, None])  # type: ignore[list-item]


def test_a_model_and_tokenizer_that_do_not_belong_together_are_refused(tokenizer) -> None:
    config = Seq2SeqConfig(
        src_vocab_size=tokenizer.vocab_size,
        tgt_vocab_size=tokenizer.vocab_size,
        pad_id=0,
        max_len=8,
        d_model=8,
        n_heads=2,
        d_ff=16,
        n_encoder_layers=1,
        n_decoder_layers=1,
    )
    with pytest.raises(ValueError, match="were not trained together"):
        Translator(Transformer(config), tokenizer)
