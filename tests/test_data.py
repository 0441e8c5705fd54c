"""scratchformer.data: parsers on hand-written input, cache behaviour, the real corpora."""

import datasets
import pytest

from scratchformer import data
from scratchformer.data import corpora, sources
from scratchformer.data.__main__ import main as data_cli
from scratchformer.weights import HubUnreachableError

PLAY = """# A Play

## ACT I

### SCENE I. A room.

_Enter ORLANDO and ADAM_

**ORLANDO**  
As I remember, Adam,  
it was upon this fashion\\[sic]  


**ADAM**  
Yonder comes my master.  
_Exit_

_Exeunt_
"""


def test_parse_play_keeps_speeches_and_drops_directions():
    assert data.parse_play(PLAY) == [
        ("ORLANDO", "As I remember, Adam,\nit was upon this fashion[sic]"),
        ("ADAM", "Yonder comes my master."),
    ]


DICTIONARY = [
    "# Version :: 1.9\n",
    "Haus {n} | Das Haus ist groß. | Er wohnt im Haus [Süddt.]. :: house | The house is big. | He lives in the house.\n",
    "Abfall {m} | Bitte nichts wegwerfen! :: litter | Please do not litter! | extra field\n",
    "Heim {n} | Wir gehen nach Hause.; Wir gehen heim. :: home | We are going home.\n",
    "Frage {f} | Kommst du mit? | Ja. :: question | Are you coming along? | Yes.\n",
    "Haus {n} | Das Haus ist groß. :: house | The house is big.\n",
    "Lage {f} | Er hat die Lage erkannt. :: situation | He recognised/grasped the situation.\n",
]


def test_extract_sentence_pairs_aligns_fields_and_filters():
    assert data.extract_sentence_pairs(DICTIONARY) == [
        ("Das Haus ist groß.", "The house is big."),  # tags stripped; duplicate later dropped
        ("Er wohnt im Haus.", "He lives in the house."),
        ("Kommst du mit?", "Are you coming along?"),  # "Ja." / "Yes." is too short
    ]  # misaligned field counts and ';' or '/' alternatives are skipped


LEXICON_LINES = [
    *DICTIONARY,
    "anfangen; beginnen {vi} :: to begin; to start\n",
    "kommst du mit {phrase} :: are you coming\n",  # the held-out sentence, unpunctuated
    "Hand {f}; Hände {pl} | von der Hand in den Mund leben :: hand; hands | to live from hand to mouth\n",
]


def test_extract_lexicon_pairs_keeps_words_and_phrases_not_sentences():
    assert data.extract_lexicon_pairs(LEXICON_LINES) == [
        ("Haus", "house"),
        ("Heim", "home"),  # the next field lists 2 German, 1 English sentence: skipped
        ("Frage", "question"),
        ("Ja.", "Yes."),  # one word: not a sentence
        ("Lage", "situation"),
        ("anfangen", "to begin"),
        ("beginnen", "to start"),
        ("kommst du mit", "are you coming"),
        ("Hand", "hand"),
        ("Hände", "hands"),
        ("von der Hand in den Mund leben", "to live from hand to mouth"),
    ]  # "Abfall" has misaligned fields


def test_extract_lexicon_pairs_drops_held_out_lines_and_their_look_alikes():
    pairs = data.extract_lexicon_pairs(LEXICON_LINES, held_out=["Kommst du mit?"])
    germans = [de for de, _ in pairs]
    assert "Frage" not in germans and "Ja." not in germans  # the line holding the sentence
    assert "kommst du mit" not in germans  # equal up to case and punctuation
    assert "Haus" in germans and "von der Hand in den Mund leben" in germans


def test_split_pairs_by_hash_is_fixed_and_keeps_a_source_in_one_split():
    pairs = [(f"Satz {i}.", f"Sentence {i}.") for i in range(2000)]
    pairs += [("Satz 7.", "Clause 7.")]  # a second translation of one sentence
    splits = data.split_pairs_by_hash(pairs)
    assert sum(map(len, splits.values())) == len(pairs)
    assert 60 < len(splits["test"]) < 140 and 60 < len(splits["validation"]) < 140
    home = [name for name, rows in splits.items() if ("Satz 7.", "Clause 7.") in rows]
    assert home == [name for name, rows in splits.items() if ("Satz 7.", "Sentence 7.") in rows]
    # a pair's split depends on the pair alone, not on the order or the rest of the corpus
    again = data.split_pairs_by_hash(list(reversed(pairs[:500])))
    for name, rows in again.items():
        assert set(rows) <= set(splits[name])
    with pytest.raises(ValueError, match="sum < 100"):
        data.split_pairs_by_hash(pairs, validation_percent=50, test_percent=50)


def test_missing_corpus_error_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(tmp_path))
    assert not data.is_fetched("shakespeare")
    with pytest.raises(
        data.CorpusNotFetchedError, match="python -m scratchformer.data fetch shakespeare"
    ):
        data.load_shakespeare()
    with pytest.raises(data.CorpusNotFetchedError, match="fetch sms_spam"):
        data.load_sms_spam()


def test_unknown_corpus_is_a_clear_error():
    with pytest.raises(KeyError, match="known: shakespeare"):
        data.fetch("wikipedia")
    with pytest.raises(SystemExit):
        data_cli(["fetch", "wikipedia"])


def test_install_is_atomic(tmp_path):
    target = tmp_path / "corpus"

    def failing_build(directory):
        (directory / "half.txt").write_text("half")
        raise RuntimeError("network went away")

    with pytest.raises(RuntimeError):
        sources.install_atomically(target, failing_build)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    sources.install_atomically(target, lambda d: (d / "whole.txt").write_text("whole"))
    assert (target / "whole.txt").read_text() == "whole"


def test_fetch_writes_marker_only_on_success(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(tmp_path))
    calls = []
    fake = corpora.Corpus(
        "fake", "d", "s", "l", lambda d: calls.append(d) or (d / "x").write_text("1")
    )
    monkeypatch.setitem(corpora.CORPORA, "fake", fake)
    path = data.fetch("fake")
    assert (path / "x").read_text() == "1" and data.is_fetched("fake")
    data.fetch("fake")  # cached: not built again
    assert len(calls) == 1


# --- the real corpora (fetched by `make setup`) -------------------------------------------------


def test_shakespeare():
    plays = data.load_shakespeare()
    assert set(plays.column_names) == {"play", "genre", "speaker", "text"}
    assert len(set(plays["play"])) == 38 and len(plays) > 25_000
    hamlet = plays.filter(lambda row: row["play"] == "hamlet" and row["speaker"] == "HAMLET")
    assert any("To be, or not to be" in text for text in hamlet["text"])
    text = data.shakespeare_text()
    assert 4_000_000 < len(text) < 5_500_000
    assert text.startswith("Theseus:\nNow, fair Hippolyta")
    assert "**" not in text and "\\[" not in text


def test_sms_spam():
    sms = data.load_sms_spam()
    assert len(sms) == 4862 and sum(sms["label"]) == 642
    assert sms.features["label"].names == ["ham", "spam"]


def test_sms_spam_hub_offline_is_a_clear_error():
    with pytest.raises(HubUnreachableError, match=r"ucirvine/sms_spam.*load_sms_spam\('offline'\)"):
        data.load_sms_spam("hub")
    with pytest.raises(ValueError, match=r"choose one of \('offline', 'hub'\)"):
        data.load_sms_spam("kaggle")


def test_sms_spam_hub_gets_the_offline_schema(monkeypatch):
    """The Hub's layout (column ``sms``, texts ending in a newline, its own ClassLabel) is
    turned into the offline one; labels are mapped by name."""
    hub_features = datasets.Features(
        {"sms": datasets.Value("string"), "label": datasets.ClassLabel(names=["spam", "ham"])}
    )
    hub = datasets.Dataset.from_dict(
        {"sms": ["Free prize!\n", "See you later\n"], "label": [0, 1]}, features=hub_features
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda name: datasets.DatasetDict(train=hub))
    sms = data.load_sms_spam("hub")
    assert sms.features == data.load_sms_spam().features
    assert sms["text"] == ["Free prize!", "See you later"] and sms["label"] == [1, 0]


@pytest.mark.slow
def test_de_en_has_fixed_disjoint_splits():
    splits = data.load_de_en("ding")
    assert list(splits) == ["train", "validation", "test"]
    assert len(splits["train"]) > 13_000 and 600 < len(splits["test"]) < 1000
    for split in splits.values():
        assert split.column_names == ["de", "en"]
        assert all(de[-1] in ".?!" and en[-1] in ".?!" for de, en in zip(split["de"], split["en"]))
        assert not any(
            "{" in de or "[" in en or "/" in en for de, en in zip(split["de"], split["en"])
        )
    assert not set(splits["train"]["de"]) & set(splits["test"]["de"])
    assert data.load_de_en("ding")["test"]["en"] == splits["test"]["en"]


@pytest.mark.slow
def test_de_en_lexicon_is_large_and_holds_out_every_evaluation_line():
    lexicon = data.load_de_en_lexicon()
    assert lexicon.column_names == ["de", "en"] and len(lexicon) > 200_000
    splits = data.load_de_en("ding")
    held = set(splits["validation"]["de"]) | set(splits["test"]["de"])
    lines = (data.require("de_en") / "de-en").read_text(encoding="utf-8").splitlines()
    held_fields, other_fields = set(), set()
    for line in lines:
        fields = corpora._aligned_fields(line)
        on_held_line = any(de in held for de, _ in fields)
        options = {option.strip() for de, _ in fields for option in de.split("; ")}
        (held_fields if on_held_line else other_fields).update(options)
    only_on_held_lines = held_fields - other_fields - held  # e.g. a test sentence's headword
    assert len(only_on_held_lines) > 100
    germans = set(lexicon["de"])
    assert not germans & only_on_held_lines
    assert not {corpora._words(de) for de in held} & {corpora._words(de) for de in germans}


def test_unknown_de_en_source_is_a_clear_error():
    with pytest.raises(ValueError, match=r"choose one of \('multi30k', 'ding'\)"):
        data.load_de_en("europarl")


def test_cli_lists_corpora(capsys):
    assert data_cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "shakespeare" in out and "[fetched]" in out


def test_gpt2_bpe_files():
    import json

    directory = data.require("gpt2_bpe")
    vocab = json.loads((directory / "gpt2_vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 50_257 and vocab["Hello"] == 15496 and vocab["<|endoftext|>"] == 50_256
    merges = (directory / "gpt2_merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0].startswith("#version") and len(merges) == 50_001


def test_minilm_files():
    import json

    directory = data.require("minilm")
    config = json.loads((directory / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (
        384,
        6,
        30522,
    )
    assert (directory / "model.safetensors").stat().st_size > 80_000_000
    assert len((directory / "vocab.txt").read_text(encoding="utf-8").splitlines()) == 30522
