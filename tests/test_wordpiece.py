"""WordPiece: ids equal to the reference BERT tokeniser's on real and odd text; truncation,
batching, decoding; clear errors for bad vocabulary files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import tokenizers as hf_tokenizers
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchformer import data
from scratchformer.tokenizers import TokenizerFileError, WordPiece, WordPieceConfig

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Text that stresses each step of basic tokenisation.
ODD_TEXTS = [
    # accents, combining marks (precomposed and decomposed), ligatures, casing
    "Café naïve façade Ångström Ñandú São Paulo Kraków Dvořák",
    "e\u0301 a\u0300\u0301\u0302 o\u0308\u0304 n\u0303 stacked: a\u0316\u0317\u0318\u0319",
    "ﬁne ﬂow ǅemal ΟΔΟΣ Σίσυφος İstanbul straße STRASSE ẞ",
    # CJK ideographs (split per character), kana and Hangul (not split), full width
    "東京は日本の首都です。中文字符测试，漢字かな交じり文",
    "한국어 텍스트 カタカナ ひらがな ＡＢＣ１２３！？ 〈括弧〉「引用」",
    # emoji: plain, skin tone, ZWJ family, flags, keycaps
    "I 🤗 transformers 👍🏽 👨\u200d👩\u200d👧 🇩🇪🇬🇧 1\ufe0f\u20e3 ❤️ 🥰🫠",
    # control characters, NUL, escape sequences, DEL, replacement character
    "bell\x07 nul\x00 esc\x1b[31mred\x1b[0m del\x7f nel\x85 rep\ufffd end",
    # zero-width and invisible format characters, direction marks
    "zero\u200bwidth non\u200cjoiner joiner\u200d bom\ufeff word\u2060joiner rtl\u200e\u202eabc\u202c",
    # every kind of whitespace
    "tab\tnewline\ncr\r vt\x0b ff\x0c nbsp\u00a0em\u2003ideo\u3000ls\u2028ps\u2029 thin\u2009end",
    # punctuation and symbols, ASCII and not
    "“Quotes” ‘single’ «guillemets» — dash – en … ellipsis € £ ¥ $5.00 ∑ ≤ ± 50% #tag @user ^_^",
    "don't won't it's U.S.A. e-mail C++ a/b (x) [y] {z} <w> ~`|\\",
    # special tokens written in the text, and their look-alikes
    "The capital of France is [MASK]. [mask] [CLS]x[SEP] [UNK] [PAD][PAD] [ MASK ]",
    # private use, unassigned code points, surrogate-free astral characters
    "pua\ue000\uf8ff x\U0010fffd unassigned\u0378\U000e0080 math 𝐀𝐁𝐂 𝔉𝔯𝔞𝔨",
    # longest words: 100 characters are cut into pieces, 101 become [UNK]
    "a" * 100,
    "a" * 101,
    "x" * 99 + "\u0301",
    "",
    "   \t\n  ",
]

# Code point blocks swept one character at a time. Characters added to Unicode after
# about 2017 are left out: the reference's character tables are older than Python's.
STABLE_BLOCKS = [
    (0x0000, 0x052F),  # Latin, IPA, combining marks, Greek, Cyrillic
    (0x2000, 0x206F),  # general punctuation (spaces, zero-width, dashes, quotes)
    (0x20A0, 0x20BE),  # currency
    (0x2100, 0x22FF),  # letter-like symbols, number forms, arrows, mathematical operators
    (0x3000, 0x30FF),  # CJK punctuation, hiragana, katakana
    (0x4E00, 0x4FFF),  # CJK ideographs
    (0xE000, 0xE0FF),  # private use
    (0xF900, 0xFB4F),  # CJK compatibility ideographs, ligatures
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFFF),  # half and full width, specials (U+FFFD)
    (0x1D400, 0x1D4FF),  # mathematical alphanumerics
    (0x1F300, 0x1F64F),  # emoji
    (0x20000, 0x200FF),  # CJK extension B
    (0x2B800, 0x2B9FF),  # CJK extension E, where implementations disagree (see CJK_RANGES)
]


@pytest.fixture(scope="module")
def vocab_path() -> Path:
    return data.require("minilm") / "vocab.txt"


@pytest.fixture(scope="module")
def tokenizer(vocab_path: Path) -> WordPiece:
    return WordPiece.from_file(vocab_path)


def reference(vocab_path: Path):
    """The Hugging Face `tokenizers` BERT tokeniser on the same vocab.txt (a test-only reference)."""
    return hf_tokenizers.BertWordPieceTokenizer(str(vocab_path), lowercase=True)


@pytest.fixture(scope="module")
def ref(vocab_path: Path):
    return reference(vocab_path)


def assert_same_ids(tokenizer: WordPiece, ref, texts: list[str]) -> None:
    expected = [e.ids for e in ref.encode_batch(texts)]
    for text, ids in zip(texts, expected):
        assert tokenizer.encode(text) == ids, (
            f"{text!r}: ours {tokenizer.tokenize(text)} vs reference "
            f"{ref.encode(text, add_special_tokens=False).tokens}"
        )


@pytest.fixture(scope="module")
def de_en() -> dict[str, list[str]]:
    pairs = data.load_de_en("ding")["train"]
    return {"de": pairs["de"], "en": pairs["en"]}


@pytest.fixture(scope="module")
def lines(de_en: dict[str, list[str]]) -> list[str]:
    """About 7,400 real lines: Shakespeare, text messages, German and English sentences."""
    shakespeare = [line for line in data.shakespeare_text().splitlines() if line.strip()]
    return (
        shakespeare[::60]  # ~2,600 lines spread over all plays
        + data.load_sms_spam()["text"][::2]  # ~2,400 text messages
        + de_en["de"][::15]  # ~1,200 German sentences
        + de_en["en"][::15]
    )


# ------------------------------------------------------------------ agreement with the reference
@pytest.mark.slow
def test_ids_match_reference_on_real_lines(tokenizer: WordPiece, ref, lines: list[str]) -> None:
    assert len(lines) > 6000
    assert_same_ids(tokenizer, ref, lines)


def test_ids_match_reference_on_odd_unicode(tokenizer: WordPiece, ref) -> None:
    assert_same_ids(tokenizer, ref, ODD_TEXTS)
    assert tokenizer.tokenize("a" * 101) == ["[UNK]"]
    assert tokenizer.tokenize("zero\u200bwidth") == tokenizer.tokenize("zerowidth")
    assert tokenizer.tokenize("東京") == ["東", "京"]


def test_ids_match_reference_character_by_character(tokenizer: WordPiece, ref) -> None:
    chars = [
        chr(code)
        for low, high in STABLE_BLOCKS
        for code in range(low, high + 1)
        if not 0xD800 <= code <= 0xDFFF
    ]
    # Each character inside a word, alone, doubled, and next to an accented letter.
    assert_same_ids(tokenizer, ref, [f"a{c}b {c} {c}{c} X{c}é" for c in chars])


ALPHABET = st.sampled_from(
    list("aZé東京の한🤗👍🏽 \t\n\x00\x07\x85\u200b\u200d\u00a0\u3000\u0301\u0308.,;!?'\"-_$^`")
    + ["[MASK]", "[SEP]", "##", "ing", "Café"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=25).map("".join))
def test_ids_match_reference_on_random_text(tokenizer: WordPiece, ref, text: str) -> None:
    assert_same_ids(tokenizer, ref, [text])


def test_pairs_and_token_types_match_reference(tokenizer: WordPiece, ref, de_en) -> None:
    for de, en in zip(de_en["de"][:300], de_en["en"][:300]):
        ours = tokenizer.encode_plus(de, en)
        theirs = ref.encode(de, en)
        assert (ours.ids, ours.token_type_ids) == (theirs.ids, theirs.type_ids)
        assert ours.tokens == theirs.tokens
        assert ours.attention_mask == theirs.attention_mask


def test_truncation_matches_reference(tokenizer: WordPiece, vocab_path: Path) -> None:
    ref = reference(vocab_path)
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    words += ["eleven", "twelve"]
    for max_len in range(3, 16):
        ref.enable_truncation(max_len)
        for n_first, n_second in itertools.product(range(0, 13, 2), range(0, 13, 3)):
            first, second = " ".join(words[:n_first]), " ".join(words[-n_second:][:n_second])
            ours = tokenizer.encode_plus(first, second, max_len=max_len)
            theirs = ref.encode(first, second)
            assert (ours.ids, ours.token_type_ids) == (theirs.ids, theirs.type_ids), (
                max_len,
                n_first,
                n_second,
            )
            assert tokenizer.encode(first, max_len=max_len) == ref.encode(first).ids
    assert len(tokenizer.encode(" ".join(words), max_len=5)) == 5


def test_batch_matches_reference_padding(
    tokenizer: WordPiece, vocab_path: Path, de_en: dict[str, list[str]]
) -> None:
    ref = reference(vocab_path)
    ref.enable_padding(pad_id=tokenizer.pad_id, pad_token="[PAD]")
    texts = data.load_sms_spam()["text"][:40]
    pairs = de_en["en"][:40]
    for second in (None, pairs):
        batch = tokenizer.encode_batch(texts, second)
        theirs = ref.encode_batch(texts if second is None else list(zip(texts, second)))
        assert batch.input_ids.dtype == torch.long and batch.attention_mask.dtype == torch.bool
        assert batch.input_ids.tolist() == [e.ids for e in theirs]
        assert batch.token_type_ids.tolist() == [e.type_ids for e in theirs]
        assert batch.attention_mask.long().tolist() == [e.attention_mask for e in theirs]


# ------------------------------------------------------------------ behaviour
TOY_VOCAB = [
    *SPECIALS,
    "un",
    "una",
    "##ffable",
    "##aff",
    "##able",
    "ab",
    "##c",
    "a",
    "##bcd",
    ",",
    "!",
]


def test_longest_match_first_is_greedy() -> None:
    tokenizer = WordPiece(TOY_VOCAB)
    assert tokenizer.word_pieces("unaffable") == ("una", "##ffable")  # not un ##aff ##able
    # "a" + "##bcd" would cover "abcd", but the greedy choice "ab" leaves "cd",
    # which cannot be finished: the whole word is unknown.
    assert tokenizer.word_pieces("abcd") == ("[UNK]",)
    assert tokenizer.tokenize("Unaffable, abc!") == ["una", "##ffable", ",", "ab", "##c", "!"]


def test_basic_tokenize_steps() -> None:
    tokenizer = WordPiece(TOY_VOCAB)
    assert tokenizer.basic_tokenize(" Héllo,\tWORLD!!東京 x\u200by ") == [
        "hello",
        ",",
        "world",
        "!",
        "!",
        "東",
        "京",
        "xy",
    ]
    cased = WordPiece(TOY_VOCAB, WordPieceConfig(lowercase=False, split_cjk=False))
    assert cased.basic_tokenize("Héllo 東京!") == ["Héllo", "東京", "!"]
    accents_kept = WordPiece(TOY_VOCAB, WordPieceConfig(strip_accents=False))
    assert accents_kept.basic_tokenize("Héllo") == ["héllo"]


def test_encode_adds_cls_and_sep_and_types(tokenizer: WordPiece) -> None:
    encoding = tokenizer.encode_plus("Hello, world!", "Hi.")
    assert encoding.tokens == ["[CLS]", "hello", ",", "world", "!", "[SEP]", "hi", ".", "[SEP]"]
    assert encoding.token_type_ids == [0] * 6 + [1] * 3
    assert tokenizer.encode("Hello, World!") == [101, 7592, 1010, 2088, 999, 102]
    assert tokenizer.encode("Paris is the [MASK].")[4] == tokenizer.mask_id


def test_decode_undoes_the_cutting_into_pieces(tokenizer: WordPiece, lines: list[str]) -> None:
    assert tokenizer.decode(tokenizer.encode("Unaffable tokenization, Café!")) == (
        "unaffable tokenization , cafe !"
    )
    ids = tokenizer.encode("Hi", "there")
    assert tokenizer.decode(ids, skip_special_tokens=False) == "[CLS] hi [SEP] there [SEP]"
    for line in lines[::40]:
        ids = tokenizer.encode(line)
        if tokenizer.special_tokens["[UNK]"] not in ids:
            assert tokenizer.decode(ids) == " ".join(tokenizer.basic_tokenize(line))


def test_vocabulary_accessors(tokenizer: WordPiece) -> None:
    assert tokenizer.vocab_size == 30522
    assert tokenizer.special_tokens == {
        "[PAD]": 0,
        "[UNK]": 100,
        "[CLS]": 101,
        "[SEP]": 102,
        "[MASK]": 103,
    }
    assert tokenizer.id_to_token(tokenizer.token_to_id("##ing")) == "##ing"
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tokenizer.token_to_id("no such token")
    with pytest.raises(ValueError, match="out of range"):
        tokenizer.id_to_token(30522)


def test_from_file_accepts_the_folder(tokenizer: WordPiece, vocab_path: Path) -> None:
    assert WordPiece.from_file(vocab_path.parent).encode("hello") == tokenizer.encode("hello")


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"vocab\.txt: the vocabulary is empty"),
        (b"\xff\xfe[PAD]\n", r"vocab\.txt: not UTF-8 text"),
        ("\n".join([*SPECIALS[:2], "", *SPECIALS[2:]]).encode(), r"vocab\.txt: line 3 is empty"),
        (
            "\n".join([*SPECIALS, "a", "[UNK]"]).encode(),
            r"token '\[UNK\]' appears twice, on lines 2 and 7",
        ),
        (
            "\n".join(SPECIALS[:4]).encode(),
            r"special token\(s\) \['\[MASK\]'\] are not in the vocabulary",
        ),
    ],
)
def test_corrupt_vocab_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(TokenizerFileError, match=message):
        WordPiece.from_file(path)


def test_missing_vocab_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenizerFileError, match=r"vocab\.txt: file not found"):
        WordPiece.from_file(tmp_path)


def test_custom_special_tokens_must_be_in_the_vocabulary() -> None:
    with pytest.raises(ValueError, match=r"\['<s>'\] are not in the vocabulary"):
        WordPiece(TOY_VOCAB, WordPieceConfig(cls="<s>"))
    with pytest.raises(ValueError, match="max_word_chars must be >= 1"):
        WordPieceConfig(max_word_chars=0)


def test_bad_encode_arguments_are_refused(tokenizer: WordPiece) -> None:
    with pytest.raises(ValueError, match=r"max_len=1 leaves no room for \[CLS\] and \[SEP\]"):
        tokenizer.encode("hello", max_len=1)
    with pytest.raises(ValueError, match="max_len=2 leaves no room for a pair"):
        tokenizer.encode("hello", "world", max_len=2)
    with pytest.raises(TypeError, match="wrap a single text"):
        tokenizer.encode_batch("hello")
    with pytest.raises(ValueError, match="empty batch"):
        tokenizer.encode_batch([])
    with pytest.raises(ValueError, match="got 2 texts but 1 pairs"):
        tokenizer.encode_batch(["a", "b"], ["c"])
