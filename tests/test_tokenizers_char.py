"""The character tokeniser: vocabulary, round trips, unknown characters, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchformer.tokenizers import CharTokenizer, TokenizerFileError

TEXT = "to be, or not to be: that is the question.\n"


def test_vocabulary_is_the_sorted_characters_after_the_special_tokens() -> None:
    tok = CharTokenizer.from_text(TEXT, special_tokens=["<pad>"])
    assert tok.chars == tuple(sorted(set(TEXT)))
    assert tok.vocab_size == 1 + len(set(TEXT))
    assert tok.special_tokens == {"<pad>": 0}
    assert tok.id_to_token(1) == "\n" and tok.token_to_id("a") == 1 + tok.chars.index("a")


@given(st.text(alphabet=sorted(set(TEXT))))
def test_round_trip(text: str) -> None:
    tok = CharTokenizer.from_text(TEXT)
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_special_tokens_are_kept_whole() -> None:
    tok = CharTokenizer.from_text(TEXT, special_tokens=["<pad>", "<eos>"])
    ids = tok.encode("to be<eos><pad>")
    assert ids[-2:] == [1, 0] and len(ids) == 7
    assert tok.decode(ids) == "to be<eos><pad>"


def test_unknown_character_raises_a_clear_error() -> None:
    tok = CharTokenizer.from_text(TEXT)
    with pytest.raises(ValueError, match=r"character 'Z' \(U\+005A\) at position 3 .*unk_token"):
        tok.encode("to Zebra")


def test_unknown_characters_map_to_unk_when_asked() -> None:
    tok = CharTokenizer.from_text(TEXT, special_tokens=["<pad>"], unk_token="<unk>")
    assert tok.special_tokens == {"<pad>": 0, "<unk>": 1}
    assert tok.encode("tZ!") == [tok.token_to_id("t"), 1, 1]
    assert tok.decode(tok.encode("tZ")) == "t<unk>"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tok = CharTokenizer.from_text(TEXT, special_tokens=["<unk>", "<pad>"], unk_token="<unk>")
    loaded = CharTokenizer.load(tok.save(tmp_path / "char.json"))
    assert loaded.special_tokens == tok.special_tokens == {"<unk>": 0, "<pad>": 1}
    assert loaded.chars == tok.chars
    assert loaded.encode(TEXT + "Q<pad>") == tok.encode(TEXT + "Q<pad>")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", r"char\.json: line 1 column 2: invalid JSON"),
        ('{"format": "other"}', "not a scratchformer.CharTokenizer file"),
        ('{"format": "scratchformer.CharTokenizer", "version": 9}', "unsupported version 9"),
        ('{"format": "scratchformer.CharTokenizer", "version": 1}', r"missing field\(s\) 'chars'"),
        (
            json.dumps(
                {
                    "format": "scratchformer.CharTokenizer",
                    "version": 1,
                    "chars": ["a", "a"],
                    "special_tokens": [],
                    "unk_token": None,
                }
            ),
            "character 'a' appears twice",
        ),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "char.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=message):
        CharTokenizer.load(path)


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="empty text"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="listed twice"):
        CharTokenizer(["a"], special_tokens=["<pad>", "<pad>"])
    with pytest.raises(ValueError, match="also a special token"):
        CharTokenizer(["a", "|"], special_tokens=["|"])


def test_decode_refuses_ids_outside_the_vocabulary() -> None:
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match=r"token id 2 at position 1 is out of range .* 0\.\.1"):
        tok.decode([0, 2])
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tok.token_to_id("c")
