"""Byte-level BPE: the byte map, the pre-tokeniser, training, encoding and GPT-2 files."""

from __future__ import annotations

import json
import random
import re
import unicodedata
from pathlib import Path

import pytest
import regex
import tokenizers as hf_tokenizers
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchformer.tokenizers import (
    GPT2_PATTERN,
    BPETrainConfig,
    ByteLevelBPE,
    RegexPreTokenizer,
    TokenizerFileError,
    bytes_to_unicode,
    count_pairs,
    learn_merges,
    merge_pair,
    most_frequent_pair,
    unicode_to_bytes,
    word_counts_from_pieces,
)
from scratchformer.tokenizers.pretokenize import expand_unicode_classes
from scratchformer_course.ch02 import apply_merges_reference

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
    "It's 1599 -- the Globe's   first season; we'll see 42 plays, won't we?\t\tAye!\n"
    "Café naïve façade — ΑΒΓ αβγ — 東京 — 🤗🎭 — e\u0301 \u00a0 \u3000 end\n"
) * 3
SPECIALS = ("<|endoftext|>", "<pad>")

# Text that stresses byte-level BPE: emoji, combining marks, NUL and other controls,
# every kind of whitespace (and runs of it), digits of other scripts, special tokens.
TRICKY_CHARS = st.sampled_from(
    list(" \t\n\r\x0b\x0c\x00\x1c\x1f\x85\xa0\u2028\u3000")
    + list("aZé東🤗\u0301\u200d'’-_.,;!?0٣½")
    + ["<pad>", "<|endoftext|>", "'s", "'ll", "  ", "\n\n"]
)
TRICKY_TEXT = st.one_of(st.text(), st.lists(TRICKY_CHARS, max_size=30).map("".join))


@pytest.fixture(scope="module")
def tokenizer() -> ByteLevelBPE:
    return ByteLevelBPE.train(CORPUS, BPETrainConfig(n_merges=150, special_tokens=SPECIALS))


def naive_learn_merges(word_counts, n_merges, first_id=256):
    """Recount every pair after every merge: slow, obviously right."""
    words = dict(word_counts)
    merges = []
    while len(merges) < n_merges:
        counts = count_pairs(words)
        if not counts:
            break
        pair = most_frequent_pair(counts)
        new_id = first_id + len(merges)
        words = {tuple(merge_pair(word, pair, new_id)): n for word, n in words.items()}
        n_tokens = sum(len(word) * n for word, n in words.items())
        merges.append((pair, new_id, counts[pair], n_tokens))
    return merges


# ---------------------------------------------------------------- bytes_to_unicode
def test_bytes_to_unicode_is_a_printable_bijection() -> None:
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(char.isprintable() and not char.isspace() for char in table.values())
    assert sum(chr(b) == c for b, c in table.items()) == 188
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[0] == chr(256)
    assert table[173] == chr(323)  # the soft hyphen is the last of the 68 shifted bytes
    assert {c: b for b, c in table.items()} == unicode_to_bytes()


# ---------------------------------------------------------------- pre-tokeniser
def test_gpt2_pretokenizer_splits_like_gpt2() -> None:
    pieces = RegexPreTokenizer().split("Hello, world!  It's 2024...\n\n  x'll ½")
    assert pieces == [
        "Hello",
        ",",
        " world",
        "!",
        " ",
        " It",
        "'s",
        " 2024",
        "...",
        "\n\n ",
        " x",
        "'ll",
        " ½",
    ]


@settings(max_examples=300, deadline=None)
@given(TRICKY_TEXT)
def test_pretokenizer_pieces_join_to_the_text(text: str) -> None:
    assert "".join(RegexPreTokenizer().split(text)) == text


# Characters this Python's Unicode database knows (the `regex` module may know newer ones).
ASSIGNED_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs", "Cn"))),
    st.lists(TRICKY_CHARS, max_size=30).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(ASSIGNED_TEXT)
def test_pretokenizer_matches_the_regex_module_with_gpt2s_pattern(text: str) -> None:
    assert RegexPreTokenizer().split(text) == regex.findall(GPT2_PATTERN, text)


def test_unicode_classes_cover_letters_and_numbers_exactly() -> None:
    pattern = re.compile(expand_unicode_classes(r"\p{L}|\p{N}"))
    for code_point in list(range(0x3000)) + list(range(0x1F000, 0x1F700)):
        char = chr(code_point)
        expected = unicodedata.category(char)[0] in "LN"
        assert bool(pattern.fullmatch(char)) == expected, hex(code_point)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [(r"\p{Lu}+", r"unsupported Unicode property \\p\{Lu\}"), (r"[\S]", r"\\S inside a")],
)
def test_unsupported_pattern_features_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegexPreTokenizer(pattern)


def test_pattern_that_skips_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match every character"):
        RegexPreTokenizer(r"\p{L}+").split("ab, cd")


def test_a_different_pretokenizer_plugs_in() -> None:
    words_only = RegexPreTokenizer(r"\s*\S+|\s+")
    tok = ByteLevelBPE.train(CORPUS, BPETrainConfig(n_merges=40, pretokenizer=words_only))
    assert tok.pretokenizer == words_only
    assert tok.decode(tok.encode("Speak, speak.")) == "Speak, speak."
    assert tok.merges != ByteLevelBPE.train(CORPUS, BPETrainConfig(n_merges=40)).merges


# ---------------------------------------------------------------- training
def test_building_blocks() -> None:
    assert count_pairs({(1, 2, 3): 2, (2, 3): 1}) == {(1, 2): 2, (2, 3): 3}
    assert count_pairs({(7, 7, 7): 1}) == {(7, 7): 2}
    assert merge_pair([7, 7, 7], (7, 7), 9) == [9, 7]
    assert merge_pair([1, 2, 1, 2], (1, 2), 5) == [5, 5]
    assert most_frequent_pair({(3, 1): 2, (1, 9): 2, (0, 0): 1}) == (1, 9)
    with pytest.raises(ValueError, match="no pairs"):
        most_frequent_pair({})


CORPORA = [
    "",
    "a",
    "aaaaaaa aaaa aaa",
    "low lower lowest newer wider new " * 5,
    "    indented\n        more\n  \n\n\n",
    CORPUS,
    "".join(random.Random(0).choice("ab \nxé") for _ in range(2000)),
]


@pytest.mark.parametrize("text", CORPORA, ids=range(len(CORPORA)))
def test_incremental_trainer_equals_naive_trainer(text: str) -> None:
    word_counts = word_counts_from_pieces(RegexPreTokenizer().split(text))
    assert learn_merges(word_counts, 120) == naive_learn_merges(word_counts, 120)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("ab c\né", max_size=12), max_size=12), st.integers(0, 30))
def test_incremental_trainer_equals_naive_trainer_on_random_corpora(texts, n_merges) -> None:
    word_counts = word_counts_from_pieces(p for t in texts for p in RegexPreTokenizer().split(t))
    assert learn_merges(word_counts, n_merges) == naive_learn_merges(word_counts, n_merges)


def test_training_is_deterministic_and_ignores_input_order() -> None:
    lines = CORPUS.splitlines(keepends=True)
    config = BPETrainConfig(n_merges=100)
    first = ByteLevelBPE.train(lines, config)
    assert first.merges == ByteLevelBPE.train(lines, config).merges
    assert first.merges == ByteLevelBPE.train(list(reversed(lines)), config).merges
    word_counts = word_counts_from_pieces(RegexPreTokenizer().split(CORPUS))
    backwards = dict(reversed(list(word_counts.items())))
    assert learn_merges(word_counts, 100) == learn_merges(backwards, 100)


def test_trace_records_each_merge(tokenizer: ByteLevelBPE) -> None:
    trace = tokenizer.trace
    assert len(trace) == len(tokenizer.merges) == 150
    assert [m.new_id for m in trace] == list(range(256, 406))
    counts = [m.count for m in trace]
    assert counts == sorted(counts, reverse=True)  # the best pair never gets more frequent
    assert trace[-1].n_tokens == len(tokenizer.encode(CORPUS))
    assert [m.n_tokens for m in trace] == sorted((m.n_tokens for m in trace), reverse=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("aab  \n", max_size=16), max_size=12))
def test_every_merge_creates_a_new_byte_string(texts: list[str]) -> None:
    word_counts = word_counts_from_pieces(p for t in texts for p in RegexPreTokenizer().split(t))
    token_bytes = {i: bytes([i]) for i in range(256)}
    for merge in learn_merges(word_counts, 40):
        token_bytes[merge.new_id] = token_bytes[merge.pair[0]] + token_bytes[merge.pair[1]]
    assert len(set(token_bytes.values())) == len(token_bytes)


def test_vocab_size_target_and_layout() -> None:
    tok = ByteLevelBPE.train(CORPUS, BPETrainConfig(vocab_size=300, special_tokens=SPECIALS))
    assert tok.vocab_size == 300 and len(tok.merges) == 42
    assert tok.special_tokens == {"<|endoftext|>": 298, "<pad>": 299}
    assert [tok.id_to_token(i) for i in (0, 32, 255)] == ["Ā", "Ġ", "ÿ"]


def test_training_stops_when_every_word_is_one_token() -> None:
    tok = ByteLevelBPE.train("ab ab", BPETrainConfig(n_merges=50))
    assert tok.merges == [("a", "b"), ("Ġ", "ab")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of n_merges and vocab_size"),
        ({"n_merges": 3, "vocab_size": 300}, "exactly one"),
        ({"n_merges": -1}, "n_merges must be >= 0"),
        ({"vocab_size": 257, "special_tokens": ("<a>", "<b>")}, "too small"),
    ],
)
def test_bad_training_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BPETrainConfig(**kwargs)


def test_learn_merges_refuses_bad_word_counts() -> None:
    with pytest.raises(ValueError, match="counts must be integers >= 1"):
        learn_merges({(97, 98): 0}, 3)
    with pytest.raises(ValueError, match="byte ids 0..255"):
        learn_merges({(97, 300): 1}, 3)


def test_special_token_that_is_a_learned_token_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' is also a byte or merged token"):
        ByteLevelBPE.train("ab ab ab", BPETrainConfig(n_merges=5, special_tokens=("a",)))


# ---------------------------------------------------------------- encode / decode
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(TRICKY_TEXT)
def test_decode_inverts_encode_for_any_text(tokenizer: ByteLevelBPE, text: str) -> None:
    ids = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.decode(ids) == text


def test_special_tokens_stay_whole_and_are_not_learned(tokenizer: ByteLevelBPE) -> None:
    pad, eot = tokenizer.special_tokens["<pad>"], tokenizer.special_tokens["<|endoftext|>"]
    ids = tokenizer.encode("All:<pad><pad>speak<|endoftext|>")
    assert ids.count(pad) == 2 and ids[-1] == eot
    with_specials = ByteLevelBPE.train(
        CORPUS.replace("\n\n", "<pad>\n\n"), BPETrainConfig(n_merges=150, special_tokens=SPECIALS)
    )
    assert not any(
        "<" in left + right and "pad" in left + right for left, right in with_specials.merges
    )


def test_encoding_merges_by_rank_equals_applying_merges_in_order(tokenizer: ByteLevelBPE) -> None:
    merges = [(m.pair, m.new_id) for m in tokenizer.trace]
    for piece in RegexPreTokenizer().split(CORPUS + " unseen words: rather resolved'll"):
        assert tokenizer.encode(piece) == apply_merges_reference(list(piece.encode()), merges)


def test_common_words_become_single_tokens(tokenizer: ByteLevelBPE) -> None:
    assert len(tokenizer.encode(" resolved")) == 1
    assert tokenizer.decode(tokenizer.encode(" resolved")) == " resolved"


def test_decode_replaces_invalid_utf8_and_accepts_tensors(tokenizer: ByteLevelBPE) -> None:
    assert tokenizer.decode([0xC3]) == "\ufffd"  # the first byte of a two-byte character
    ids = tokenizer.encode("Café")
    assert tokenizer.decode(torch.tensor(ids)) == "Café"


@pytest.mark.parametrize(
    ("ids", "error"), [([10**6], ValueError), ([-1], ValueError), ([1.5], TypeError)]
)
def test_decode_refuses_bad_ids(tokenizer: ByteLevelBPE, ids: list, error: type) -> None:
    with pytest.raises(error, match="token id"):
        tokenizer.decode(ids)


def test_token_lookup(tokenizer: ByteLevelBPE) -> None:
    assert tokenizer.token_to_id("Ġ") == 32
    assert tokenizer.id_to_token(tokenizer.token_to_id("<pad>")) == "<pad>"
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tokenizer.token_to_id("no such token")


# ---------------------------------------------------------------- files
def test_save_then_load_gives_identical_encodings(tokenizer: ByteLevelBPE, tmp_path: Path) -> None:
    tokenizer.save(tmp_path)
    loaded = ByteLevelBPE.load(tmp_path)
    assert loaded.vocab == tokenizer.vocab and loaded.merges == tokenizer.merges
    assert loaded.special_tokens == tokenizer.special_tokens
    text = CORPUS + "<pad> never seen: zebra quixotic 🦓<|endoftext|>"
    assert loaded.encode(text) == tokenizer.encode(text)


def test_saved_files_use_gpt2_formats(tokenizer: ByteLevelBPE, tmp_path: Path) -> None:
    tokenizer.save(tmp_path)
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2"
    assert [tuple(line.split(" ")) for line in lines[1:]] == tokenizer.merges
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")) == tokenizer.vocab


def gpt2_byte_order() -> list[str]:
    """GPT-2's vocab.json lists the 188 printable bytes first, then the shifted ones."""
    table = bytes_to_unicode()
    return sorted(table.values(), key=lambda c: (ord(c) >= 256, ord(c)))


def write_files(directory: Path, vocab: dict | str, merge_lines: list[str]) -> tuple[Path, Path]:
    vocab_path, merges_path = directory / "vocab.json", directory / "merges.txt"
    text = vocab if isinstance(vocab, str) else json.dumps(vocab)
    vocab_path.write_text(text, encoding="utf-8")
    merges_path.write_text("\n".join(["#version: 0.2", *merge_lines]) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def tiny_gpt2_vocab() -> dict[str, int]:
    vocab = {char: i for i, char in enumerate(gpt2_byte_order())}
    for token in ("Ġt", "he", "Ġthe", "<|endoftext|>"):
        vocab[token] = len(vocab)
    return vocab


TINY_MERGES = ["Ġ t", "h e", "Ġt he"]


def test_loads_hand_written_gpt2_files(tmp_path: Path) -> None:
    tok = ByteLevelBPE.from_files(*write_files(tmp_path, tiny_gpt2_vocab(), TINY_MERGES))
    assert tok.vocab_size == 260
    assert tok.special_tokens == {"<|endoftext|>": 259}  # inferred: not a byte, not a merge
    assert tok.encode(" the") == [258]
    assert tok.encode("the<|endoftext|>") == [83, 257, 259]  # "t" is id 83 in GPT-2's order
    assert tok.encode("!") == [0]
    assert tok.decode([258, 259, 188]) == " the<|endoftext|>\x00"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(TRICKY_TEXT)
def test_encodings_match_huggingface_tokenizers_on_the_same_files(
    tokenizer: ByteLevelBPE, tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    hf = _huggingface_tokenizer(tokenizer, tmp_path_factory)
    assert tokenizer.encode(text) == hf.encode(text).ids


_HF_CACHE: dict[int, object] = {}


def _huggingface_tokenizer(tokenizer: ByteLevelBPE, tmp_path_factory: pytest.TempPathFactory):
    """The `tokenizers` library reading the files our tokeniser saved (a test-only reference)."""
    if id(tokenizer) not in _HF_CACHE:
        directory = tokenizer.save(tmp_path_factory.mktemp("hf"))
        model = hf_tokenizers.models.BPE.from_file(
            str(directory / "vocab.json"), str(directory / "merges.txt")
        )
        hf = hf_tokenizers.Tokenizer(model)
        hf.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.add_special_tokens(list(tokenizer.special_tokens))
        _HF_CACHE[id(tokenizer)] = hf
    return _HF_CACHE[id(tokenizer)]


def _vocab_with(**changes) -> dict:
    vocab = tiny_gpt2_vocab()
    vocab.update(changes)
    return vocab


def _vocab_without(token: str) -> dict:
    vocab = {t: i for t, i in tiny_gpt2_vocab().items() if t != token}
    return {t: (i if i < tiny_gpt2_vocab()[token] else i - 1) for t, i in vocab.items()}


CORRUPT_CASES = {
    "bad JSON": ('{"a": 1,,}', TINY_MERGES, r"vocab\.json: line 1 column 9: invalid JSON"),
    "not an object": ("[1, 2]", TINY_MERGES, r"vocab\.json: expected a JSON object"),
    "duplicate key": (
        '{"a": 1, "a": 2}',
        TINY_MERGES,
        r"vocab\.json: key 'a' appears more than once",
    ),
    "negative id": (_vocab_with(he=-3), TINY_MERGES, r"vocab\.json: token 'he' has id -3"),
    "string id": (_vocab_with(he="7"), TINY_MERGES, r"vocab\.json: token 'he' has id '7'"),
    "duplicate id": (_vocab_with(he=256), TINY_MERGES, r"vocab\.json: id 256 is given to both"),
    "gap in ids": (
        _vocab_with(he=400),
        TINY_MERGES,
        r"vocab\.json: ids must run from 0 to 259 .* id 257 is missing",
    ),
    "missing byte": (
        _vocab_without("Ā"),
        TINY_MERGES,
        r"vocab\.json: the token 'Ā' for byte 0 is missing",
    ),
    "three fields": (
        tiny_gpt2_vocab(),
        ["Ġ t", "h e x", "Ġt he"],
        r"merges\.txt line 3: expected two tokens .* 3 field",
    ),
    "one field": (tiny_gpt2_vocab(), ["Ġ t", "he"], r"merges\.txt line 3: .* 1 field"),
    "double space": (tiny_gpt2_vocab(), ["Ġ  t"], r"merges\.txt line 2: .* 3 field"),
    "empty line": (tiny_gpt2_vocab(), ["Ġ t", "", "h e"], r"merges\.txt line 3: .* 1 field"),
    "unknown part": (
        tiny_gpt2_vocab(),
        ["Ġ t", "hx e"],
        r"merges\.txt line 3: merge 'hx' \+ 'e' uses 'hx', which is not in",
    ),
    "result not in vocab": (
        tiny_gpt2_vocab(),
        ["Ġ t", "e h"],
        r"merges\.txt line 3: merge 'e' \+ 'h' produces 'eh', which is not in",
    ),
    "duplicate merge": (
        tiny_gpt2_vocab(),
        ["Ġ t", "h e", "Ġ t"],
        r"merges\.txt line 4: merge 'Ġ' \+ 't' is listed twice",
    ),
    "token outside byte alphabet": (
        _vocab_with(**{"Ġthé€": 260}),
        [*TINY_MERGES, "Ġthe é€"],
        r"merges\.txt line 5: merge 'Ġthe' \+ 'é€' uses 'é€'",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT_CASES))
def test_corrupt_files_raise_clear_errors(case: str, tmp_path: Path) -> None:
    vocab, merge_lines, message = CORRUPT_CASES[case]
    with pytest.raises(TokenizerFileError, match=message):
        ByteLevelBPE.from_files(*write_files(tmp_path, vocab, merge_lines))


def test_unlisted_extra_token_is_refused_when_specials_are_given(tmp_path: Path) -> None:
    paths = write_files(tmp_path, tiny_gpt2_vocab(), TINY_MERGES)
    with pytest.raises(TokenizerFileError, match=r"'<\|endoftext\|>' \(id 259\) is neither a byte"):
        ByteLevelBPE.from_files(*paths, special_tokens=[])
    with pytest.raises(TokenizerFileError, match="special token '<pad>' is not in the vocabulary"):
        ByteLevelBPE.from_files(*paths, special_tokens=["<pad>"])
    with pytest.raises(TokenizerFileError, match="'he' is also a byte or merge token"):
        ByteLevelBPE.from_files(*paths, special_tokens=["he", "<|endoftext|>"])


def test_missing_and_foreign_files_raise_clear_errors(
    tokenizer: ByteLevelBPE, tmp_path: Path
) -> None:
    with pytest.raises(TokenizerFileError, match="bpe_config.json: file not found"):
        ByteLevelBPE.load(tmp_path)
    tokenizer.save(tmp_path)
    (tmp_path / "merges.txt").unlink()
    with pytest.raises(TokenizerFileError, match="merges.txt: file not found"):
        ByteLevelBPE.load(tmp_path)
    (tmp_path / "bpe_config.json").write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="not a scratchformer.ByteLevelBPE file"):
        ByteLevelBPE.load(tmp_path)
    config = {
        "format": "scratchformer.ByteLevelBPE",
        "version": 1,
        "special_tokens": [],
        "pretokenizer_pattern": r"\p{Xx}",
    }
    (tmp_path / "bpe_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="bad pretokenizer_pattern"):
        ByteLevelBPE.load(tmp_path)
