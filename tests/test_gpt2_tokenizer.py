"""GPT-2's tokeniser (our ByteLevelBPE with OpenAI's files) against Hugging Face `tokenizers`.

The reference is the `tokenizers` library's byte-level BPE built from the *same* two
files, GPT-2's setup (byte-level pre-tokeniser with GPT-2's regex, no prefix space).
It is compared on thousands of real strings from the course's corpora and on generated
text full of whitespace runs, contractions, emoji and non-ASCII characters.
"""

from __future__ import annotations

import pytest
import tokenizers as hf_tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchformer import data
from scratchformer.tokenizers import END_OF_TEXT, END_OF_TEXT_ID, ByteLevelBPE, gpt2_tokenizer


@pytest.fixture(scope="module")
def ours() -> ByteLevelBPE:
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def reference():
    directory = data.require("gpt2_bpe")
    model = hf_tokenizers.models.BPE.from_file(
        str(directory / "gpt2_vocab.json"), str(directory / "gpt2_merges.txt")
    )
    tokenizer = hf_tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = hf_tokenizers.decoders.ByteLevel()
    tokenizer.add_special_tokens([END_OF_TEXT])
    assert tokenizer.encode("Hello world").ids == [15496, 995]  # a real GPT-2 tokeniser
    return tokenizer


HAND_PICKED = [
    "Hello world",
    " Hello world",
    "I'm sure they'll say it's 'fine', we've seen what you'd do.",
    "DON'T SHOUT, I'LL HEAR",
    "a  b   c    d",
    "trailing spaces   ",
    "   leading spaces",
    "tabs\tand\t\ttabs",
    "line\nbreaks\n\n\nand\r\nwindows",
    " \n \n x",
    "mixed \t \n  whitespace\u00a0\u3000runs",
    "emoji 😀👍🏽 and 🇩🇪 flags",
    "naïve café, Straße, Ærø, 東京, Москва, ١٢٣",
    "numbers 1234567 and 3.14159 and 1,000,000",
    "symbols ### ... !!! ??? --- ___",
    "a<|endoftext|>b",
    f"{END_OF_TEXT}starts and ends{END_OF_TEXT}",
    "",
]


def corpus_strings() -> list[str]:
    """Thousands of real strings: Shakespeare lines, SMS texts, German and English sentences."""
    lines = data.shakespeare_text().splitlines()
    sms = data.load_sms_spam()["text"]
    pairs = data.load_de_en("ding")["train"]
    return lines[:4000:2] + list(sms[:1500]) + list(pairs["de"][:1000]) + list(pairs["en"][:1000])


def test_hello_world_and_the_end_of_text_token(ours: ByteLevelBPE) -> None:
    assert ours.encode("Hello world") == [15496, 995]
    assert ours.encode(" Hello world") == [18435, 995]
    assert ours.encode(END_OF_TEXT) == [END_OF_TEXT_ID] == [50256]
    assert ours.vocab_size == 50_257 and ours.special_tokens == {END_OF_TEXT: END_OF_TEXT_ID}
    assert gpt2_tokenizer() is ours  # loaded once, shared


@pytest.mark.slow
def test_ids_equal_hugging_face_on_thousands_of_real_strings(ours: ByteLevelBPE, reference) -> None:
    texts = corpus_strings() + HAND_PICKED
    assert len(texts) > 5000
    expected = [encoding.ids for encoding in reference.encode_batch(texts)]
    mismatches = [(t, ours.encode(t), e) for t, e in zip(texts, expected) if ours.encode(t) != e]
    assert not mismatches, f"{len(mismatches)} strings differ, first: {mismatches[0]}"


def test_whole_corpus_chunks_equal_hugging_face(ours: ByteLevelBPE, reference) -> None:
    """Long multi-line strings, as a language model's training data is cut."""
    text = data.shakespeare_text()[:200_000]
    chunks = [text[i : i + 2000] for i in range(0, len(text), 2000)]
    assert [ours.encode(c) for c in chunks] == [e.ids for e in reference.encode_batch(chunks)]


# Pieces whose neighbourhoods the pre-tokeniser's rules are about: whitespace of every
# kind (runs, and a space before a word), contractions, digits, marks, emoji, specials.
WHITESPACE_HEAVY = st.lists(
    st.sampled_from(
        [" ", " ", "  ", "\t", "\n", "\r", "\u00a0", "\u3000", "\x0b", "\x1c", "\x85", "\u2028"]
        + ["a", "Z", "é", "'s", "'ll", "'", "1", "42", "!", "?", "😀", "東", "\u0301", "\u200b"]
        + [END_OF_TEXT]
    ),
    max_size=25,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(WHITESPACE_HEAVY)
def test_ids_equal_hugging_face_on_whitespace_runs(
    ours: ByteLevelBPE, reference, text: str
) -> None:
    assert ours.encode(text) == reference.encode(text).ids


# Characters this Python's Unicode database has assigned: the reference's own Unicode
# tables may be newer and call a character a letter that Python does not know yet.
ASSIGNED_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cn")))


@settings(max_examples=300, deadline=None)
@given(ASSIGNED_TEXT)
def test_ids_equal_hugging_face_on_any_text(ours: ByteLevelBPE, reference, text: str) -> None:
    assert ours.encode(text) == reference.encode(text).ids


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), WHITESPACE_HEAVY))
def test_decode_inverts_encode(ours: ByteLevelBPE, text: str) -> None:
    assert ours.decode(ours.encode(text)) == text


def test_missing_files_name_the_fetch_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(tmp_path))
    with pytest.raises(
        data.CorpusNotFetchedError, match=r"python -m scratchformer.data fetch gpt2_bpe"
    ):
        gpt2_tokenizer()
