"""The course's corpora as ``datasets`` objects (and its pretrained files), fetched into a
cache outside the repo.

Fetch everything once with ``python -m scratchformer.data fetch`` (or one corpus:
``python -m scratchformer.data fetch shakespeare``). Loaders raise
:class:`CorpusNotFetchedError` naming that command when a corpus is missing, unless
called with ``download=True`` (which the notebooks do, so they also run on Colab).
"""

from __future__ import annotations

import csv
from functools import lru_cache

import datasets

from scratchformer.data.cache import cache_dir
from scratchformer.data.corpora import (
    CORPORA,
    CorpusNotFetchedError,
    extract_sentence_pairs,
    fetch,
    is_fetched,
    parse_play,
    require,
)

__all__ = [
    "CORPORA",
    "CorpusNotFetchedError",
    "cache_dir",
    "extract_sentence_pairs",
    "fetch",
    "is_fetched",
    "load_de_en",
    "load_shakespeare",
    "load_sms_spam",
    "parse_play",
    "require",
    "shakespeare_text",
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


def load_sms_spam(download: bool = False) -> datasets.Dataset:
    """Labelled SMS messages: columns ``label`` (ClassLabel ham=0 / spam=1) and ``text``."""
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
    features = datasets.Features(
        {"label": datasets.ClassLabel(names=SMS_LABELS), "text": datasets.Value("string")}
    )
    return datasets.Dataset.from_dict({"label": labels, "text": texts}, features=features)


def load_de_en(download: bool = False) -> datasets.Dataset:
    """German–English sentence pairs (columns ``de``, ``en``) from the Ding dictionary.

    See :func:`extract_sentence_pairs` for what is kept and why.
    """
    path = require("de_en", download=download) / "de-en"
    with path.open(encoding="utf-8") as handle:
        pairs = extract_sentence_pairs(handle)
    return datasets.Dataset.from_dict(
        {"de": [de for de, _ in pairs], "en": [en for _, en in pairs]}
    )
