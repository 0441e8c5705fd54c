"""BLEU, the corpus-level score machine translation is reported in, computed as sacreBLEU does.

BLEU (Papineni et al., 2002) asks how many of the hypothesis's word n-grams (n = 1 to 4)
also occur in a reference translation, and punishes hypotheses that are too short:

* **clipped n-gram precision** ``p_n``: each n-gram of a hypothesis counts as a match at
  most as often as it occurs in one of its references (so "the the the" does not score on
  "the cat"), summed over the whole corpus and divided by the number of hypothesis n-grams;
* **geometric mean** of ``p_1 ... p_4``: one order with no match at all makes it zero;
* **brevity penalty** ``BP = exp(1 - r / c)`` when the hypotheses' total length ``c`` falls
  short of the references' ``r`` (1 otherwise): precision alone would reward saying little.

``BLEU = BP * exp(mean(log p_n))``, reported from 0 to 100. The counts are summed over the
corpus *before* dividing, so corpus BLEU is not the mean of sentence scores.

The number depends on how text is split into words, so to be comparable with published
results the text is first tokenised with the "13a" rules of the WMT evaluation script
``mteval-v13a.pl`` (sacreBLEU's default). Zero counts can be smoothed by the methods of
Chen & Cherry (2014) that sacreBLEU offers. :func:`corpus_bleu` gives the same numbers as
``sacrebleu.corpus_bleu`` 2.x (the tests check it on many generated corpora).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

Tokenize = Literal["13a", "none"]
Smoothing = Literal["exp", "none", "floor", "add-k"]

# The value each smoothing method uses when none is given (sacreBLEU's defaults).
_DEFAULT_SMOOTH_VALUE = {"floor": 0.1, "add-k": 1.0}

# -- the 13a tokenisation -------------------------------------------------------------------

# SGML entities that WMT data writes in place of characters; '&amp;' comes after '&quot;'
# (as in mteval-v13a), so "&amp;quot;" becomes "&quot;", not '"'.
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
# ASCII punctuation that always becomes a token of its own: all of it except the
# apostrophe (don't), the hyphen (well-known), the period and the comma (handled below).
_ALWAYS_SPLIT = '!"#$%&()*+/:;<=>?@[\\]^_`{|}~'
_SPLIT_RULES = (
    (re.compile(f"([{re.escape(_ALWAYS_SPLIT)}])"), r" \1 "),
    # A period or comma is split off unless it sits between digits (3.14, 1,000).
    (re.compile(r"([^0-9])([.,])"), r"\1 \2 "),
    (re.compile(r"([.,])([^0-9])"), r" \1 \2"),
    # A hyphen after a digit is a range or minus sign (5-6), not a compound word.
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)


def tokenize_13a(text: str) -> str:
    """Split ``text`` into words the way ``mteval-v13a.pl`` does; returns them space-joined.

    The steps: drop ``<skipped>`` markers, undo line-end hyphenation (``"-\\n"``), join
    lines, decode the entities ``&quot; &amp; &lt; &gt;``, then put spaces around
    punctuation (see the rules above; in the order given) and collapse runs of white space.
    Case is kept: lowercasing is a separate option of :func:`corpus_bleu`.

    Example: ``tokenize_13a('He said "3.14, 5-6".')`` is ``'He said " 3.14 , 5 - 6 " .'``.
    """
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    # Padding lets the period/comma rules see a neighbour at both ends of the text.
    text = f" {text} "
    for pattern, replacement in _SPLIT_RULES:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _words(text: str, lowercase: bool, tokenize: Tokenize) -> list[str]:
    """The words BLEU counts in one segment: optionally lowercased, then tokenised.

    Trailing white space is stripped before tokenising, as sacreBLEU does, so a final
    ``"-\\n"`` stays a hyphen instead of joining with a next line that is not there.
    """
    if lowercase:
        text = text.lower()
    if tokenize == "13a":
        text = tokenize_13a(text.rstrip())
    return text.split()


# -- counting --------------------------------------------------------------------------------


def ngram_counts(words: Sequence[str], max_order: int) -> Counter[tuple[str, ...]]:
    """How often each n-gram (n = 1 .. max_order) occurs in ``words``."""
    return Counter(
        tuple(words[start : start + n])
        for n in range(1, max_order + 1)
        for start in range(len(words) - n + 1)
    )


def _closest_length(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """The reference length nearest the hypothesis length; of two equally near, the shorter."""
    return min(ref_lens, key=lambda ref_len: (abs(ref_len - hyp_len), ref_len))


@dataclass
class _Counts:
    """BLEU's sufficient statistics, summed over the segments of a corpus."""

    matches: list[int]  # clipped matching n-grams per order n = 1 .. max_order
    totals: list[int]  # hypothesis n-grams per order
    hyp_len: int = 0
    ref_len: int = 0

    def add(self, hypothesis: list[str], references: list[list[str]]) -> None:
        """Add one segment: a tokenised hypothesis and its tokenised references."""
        max_order = len(self.matches)
        # Counter `|` keeps the larger count: an n-gram may match as often as it occurs in
        # the one reference that has it most often. `&` keeps the smaller: the clipping.
        allowed: Counter[tuple[str, ...]] = Counter()
        for reference in references:
            allowed |= ngram_counts(reference, max_order)
        for ngram, count in (ngram_counts(hypothesis, max_order) & allowed).items():
            self.matches[len(ngram) - 1] += count
        for n in range(1, max_order + 1):
            self.totals[n - 1] += max(0, len(hypothesis) - n + 1)
        self.hyp_len += len(hypothesis)
        self.ref_len += _closest_length(len(hypothesis), [len(ref) for ref in references])


# -- the score -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BLEUScore:
    """A BLEU score and the numbers behind it.

    Attributes:
        score: BLEU from 0 to 100.
        precisions: the (smoothed) n-gram precisions in percent, n = 1 .. max_ngram_order;
            orders that were not used (no n-grams of that length) are 0.
        brevity_penalty: the factor ``<= 1`` for hypotheses shorter than the references.
        hyp_len: number of hypothesis words in the corpus.
        ref_len: number of reference words (the closest reference of each segment).
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_len: int
    ref_len: int

    @property
    def ratio(self) -> float:
        """Hypothesis length over reference length (0 for an empty reference side)."""
        return self.hyp_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {precisions} (BP = {self.brevity_penalty:.3f} "
            f"ratio = {self.ratio:.3f} hyp_len = {self.hyp_len} ref_len = {self.ref_len})"
        )


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """``exp(1 - r / c)`` for a corpus shorter than its references, else 1."""
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1.0 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def _score(
    counts: _Counts, smooth: Smoothing, smooth_value: float, effective_order: bool
) -> BLEUScore:
    """BLEU from the corpus counts, zero counts smoothed as ``smooth`` says (see
    :func:`corpus_bleu`).

    Two rules hold whatever the smoothing, as in sacreBLEU: a corpus without a single
    matching word scores 0, and an order with no hypothesis n-gram at all (every hypothesis
    shorter than n) ends the list of precisions. Those missing orders make BLEU 0 unless
    ``effective_order``, which averages over the orders that exist (for short sentences).
    """
    max_order = len(counts.matches)
    penalty = brevity_penalty(counts.hyp_len, counts.ref_len)
    if not any(counts.matches):
        return BLEUScore(0.0, (0.0,) * max_order, penalty, counts.hyp_len, counts.ref_len)
    precisions: list[float] = []
    zero_orders = 0
    for n, (hits, count) in enumerate(zip(counts.matches, counts.totals), start=1):
        matches, total = float(hits), float(count)
        if smooth == "add-k" and n > 1:
            matches, total = matches + smooth_value, total + smooth_value
        if total == 0:
            break
        if matches > 0:
            precisions.append(100.0 * matches / total)
        elif smooth == "floor":
            precisions.append(100.0 * smooth_value / total)
        elif smooth == "exp":
            zero_orders += 1
            precisions.append(100.0 / (2**zero_orders * total))
        else:
            precisions.append(0.0)
    # The geometric mean; a zero or missing precision makes it 0 (log 0 = -inf).
    n_orders = len(precisions) if effective_order else max_order
    if len(precisions) < n_orders or min(precisions) == 0.0:
        score = 0.0
    else:
        score = penalty * math.exp(sum(math.log(p) for p in precisions) / n_orders)
    padded = tuple(precisions) + (0.0,) * (max_order - len(precisions))
    return BLEUScore(score, padded, penalty, counts.hyp_len, counts.ref_len)


# -- input checks ----------------------------------------------------------------------------


def _is_list(value: object) -> bool:
    """A sequence other than a string or bytes (those are sequences of characters)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _check_hypotheses(hypotheses: Sequence[str]) -> None:
    if not _is_list(hypotheses):
        raise TypeError(
            "hypotheses must be a list of strings (one translation per segment), "
            f"got {type(hypotheses).__name__}; for one sentence use sentence_bleu."
        )
    if len(hypotheses) == 0:
        raise ValueError("no hypotheses: BLEU needs at least one segment.")
    for i, hypothesis in enumerate(hypotheses):
        if not isinstance(hypothesis, str):
            hint = (
                '; BLEU tokenises itself: pass detokenised text, e.g. " ".join(words)'
                if _is_list(hypothesis)
                else ""
            )
            raise TypeError(
                f"hypotheses[{i}] is a {type(hypothesis).__name__}, not a string{hint}."
            )


# How corpus_bleu reads references, said in every error about their layout.
REFERENCE_LAYOUT = (
    "references[s][i] is reference stream s's reference for hypothesis i (sacreBLEU's "
    "layout): the outer list holds streams, each with one reference per hypothesis. For 2 "
    'hypotheses with 2 references each: corpus_bleu(["the cat sat", "a dog ran"], '
    '[["the cat sat", "a dog ran"], ["a cat sat", "the dog ran"]]). One list of references '
    "per hypothesis is the transpose; convert it with "
    "[list(stream) for stream in itertools.zip_longest(*per_hypothesis)] (None fills the "
    "gaps of ragged lists). A flat list of strings is one reference per hypothesis."
)


def _references_per_segment(
    references: Sequence[Sequence[str | None]] | Sequence[str], n_segments: int
) -> list[list[str]]:
    """The references of each segment, from either accepted layout (see :func:`corpus_bleu`)."""
    if not _is_list(references):
        raise TypeError(
            f"references must be a list, got {type(references).__name__}. {REFERENCE_LAYOUT}"
        )
    if not references:
        raise ValueError(f"references is empty. {REFERENCE_LAYOUT}")
    if all(isinstance(reference, str) for reference in references):
        streams: Sequence[Sequence[str | None]] = [references]  # type: ignore[list-item]
    elif all(_is_list(stream) for stream in references):
        streams = references
    else:
        raise TypeError(f"references mixes strings with other items. {REFERENCE_LAYOUT}")
    for s, stream in enumerate(streams):
        if len(stream) != n_segments:
            looks_transposed = (
                f" references has {n_segments} lists, one per hypothesis: it looks like "
                "one list of references per hypothesis."
                if len(streams) == n_segments > 1
                else ""
            )
            raise ValueError(
                f"reference stream {s} has {len(stream)} entries but there are {n_segments} "
                f"hypotheses.{looks_transposed} {REFERENCE_LAYOUT}"
            )
    per_segment: list[list[str]] = []
    for i, candidates in enumerate(zip(*streams)):
        given = [ref for ref in candidates if ref is not None]
        for ref in given:
            if not isinstance(ref, str):
                raise TypeError(
                    f"a reference of hypothesis {i} is a {type(ref).__name__}, not a string. "
                    f"{REFERENCE_LAYOUT}"
                )
        if not given:
            raise ValueError(
                f"hypothesis {i} has no reference: None marks a missing reference, "
                "but every hypothesis needs at least one."
            )
        per_segment.append(given)
    return per_segment


def _warn_if_transposed(
    hypotheses: list[list[str]], grid: Sequence[Sequence[list[str] | None]]
) -> None:
    """Warn when square references read much better the other way round.

    With as many reference lists as hypotheses, references given per hypothesis have the
    shape of sacreBLEU's layout and would be scored against the wrong sentences. The
    reference ``grid[a][b]`` belongs to hypothesis ``b`` as read, to hypothesis ``a`` if
    transposed; the diagonal is the same either way. If, off the diagonal, the
    hypotheses share more than twice as many words with the references of the transposed
    reading, the references were most likely given per hypothesis.
    """

    def shared(hypothesis: list[str], reference: list[str] | None) -> int:
        if reference is None:
            return 0
        return sum((Counter(hypothesis) & Counter(reference)).values())

    n = len(hypotheses)
    off_diagonal = [(a, b) for a in range(n) for b in range(n) if a != b]
    as_read = sum(shared(hypotheses[b], grid[a][b]) for a, b in off_diagonal)
    transposed = sum(shared(hypotheses[a], grid[a][b]) for a, b in off_diagonal)
    if transposed > 2 * as_read:
        warnings.warn(
            f"the references look transposed: off the diagonal, the hypotheses share "
            f"{transposed} words with references[i][s] but only {as_read} with "
            f"references[s][i], which is how they are read. {REFERENCE_LAYOUT}",
            UserWarning,
            stacklevel=3,
        )


def _check_options(
    tokenize: str, smooth: str, smooth_value: float | None, max_ngram_order: int
) -> float:
    """Validate the options; returns the smoothing value to use."""
    if tokenize not in get_args(Tokenize):
        raise ValueError(f"tokenize must be one of {get_args(Tokenize)}, got {tokenize!r}.")
    if smooth not in get_args(Smoothing):
        raise ValueError(f"smooth must be one of {get_args(Smoothing)}, got {smooth!r}.")
    if isinstance(max_ngram_order, bool) or not isinstance(max_ngram_order, int):
        raise TypeError(f"max_ngram_order must be an int, got {max_ngram_order!r}.")
    if max_ngram_order < 1:
        raise ValueError(f"max_ngram_order must be >= 1 (4 is standard), got {max_ngram_order}.")
    if smooth_value is None:
        return _DEFAULT_SMOOTH_VALUE.get(smooth, 0.0)
    if smooth not in _DEFAULT_SMOOTH_VALUE:
        raise ValueError(
            f"smooth_value is used by 'floor' and 'add-k' only, not by {smooth!r}; leave it None."
        )
    if not math.isfinite(smooth_value) or smooth_value < 0:
        raise ValueError(f"smooth_value must be a finite number >= 0, got {smooth_value!r}.")
    return smooth_value


# -- public API ------------------------------------------------------------------------------


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]] | Sequence[str],
    *,
    lowercase: bool = False,
    tokenize: Tokenize = "13a",
    smooth: Smoothing = "exp",
    smooth_value: float | None = None,
    max_ngram_order: int = 4,
    effective_order: bool = False,
) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against ``references``, as ``sacrebleu.corpus_bleu``.

    Args:
        hypotheses: one detokenised translation (a string) per segment.
        references: either a list of strings, one reference per hypothesis, or — sacreBLEU's
            layout, for several references — a list of reference *streams*, each a list
            with one string per hypothesis: ``[[ref1_of_seg1, ref1_of_seg2], [ref2_of_seg1,
            ref2_of_seg2]]``. A ``None`` in a stream means "this stream has no reference
            for that segment"; each segment needs at least one reference. A list of
            references *per hypothesis* is the transpose of this layout: convert it
            (``[list(s) for s in itertools.zip_longest(*per_hypothesis)]``). When there are
            as many streams as hypotheses the two layouts have the same shape; if the
            hypotheses then match the transposed references far better, a
            ``UserWarning`` says so.
        lowercase: compare case-insensitively.
        tokenize: ``"13a"`` (:func:`tokenize_13a`, the standard) or ``"none"`` for text
            that is already tokenised (split on white space only).
        smooth: what an n-gram order with no match gets instead of precision 0, which
            would make BLEU 0 (the methods of Chen & Cherry, 2014):
            ``"exp"`` (default, mteval-v13a's): the k-th such order gets ``1 / (2**k * total)``;
            ``"floor"``: ``smooth_value`` matches instead of none;
            ``"add-k"``: ``smooth_value`` added to matches and totals of every order n >= 2;
            ``"none"``: nothing, the precision stays 0.
        smooth_value: the floor (default 0.1) or the k (default 1) of those two methods.
        max_ngram_order: the longest n-gram counted (4 for standard BLEU).
        effective_order: average only over the orders that the hypotheses are long enough
            to have, instead of scoring 0 (sensible for single sentences).

    Returns:
        A :class:`BLEUScore`; ``str()`` of it prints sacreBLEU's summary line.

    Raises:
        TypeError: for a hypothesis or reference that is not a string, or containers that
            are not lists (a bare string, say).
        ValueError: for no hypotheses, a reference stream whose length differs from the
            number of hypotheses, a hypothesis without a reference, or a bad option.
    """
    _check_hypotheses(hypotheses)
    per_segment = _references_per_segment(references, len(hypotheses))
    value = _check_options(tokenize, smooth, smooth_value, max_ngram_order)
    n = len(hypotheses)
    if n > 1 and len(references) == n and all(_is_list(stream) for stream in references):
        _warn_if_transposed(
            [_words(h, lowercase, tokenize) for h in hypotheses],
            [
                [None if ref is None else _words(ref, lowercase, tokenize) for ref in stream]
                for stream in references
            ],
        )
    counts = _Counts(matches=[0] * max_ngram_order, totals=[0] * max_ngram_order)
    for hypothesis, refs in zip(hypotheses, per_segment):
        counts.add(
            _words(hypothesis, lowercase, tokenize),
            [_words(ref, lowercase, tokenize) for ref in refs],
        )
    return _score(counts, smooth, value, effective_order)


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    *,
    lowercase: bool = False,
    tokenize: Tokenize = "13a",
    smooth: Smoothing = "exp",
    smooth_value: float | None = None,
    max_ngram_order: int = 4,
) -> BLEUScore:
    """BLEU of one sentence against its references, as ``sacrebleu.sentence_bleu``.

    A corpus of one segment with ``effective_order=True``: a sentence shorter than four
    words is scored on the n-gram orders it has rather than getting 0. Sentence BLEU is
    noisy; report corpus BLEU for a system. Options as in :func:`corpus_bleu`.
    """
    if not isinstance(hypothesis, str):
        raise TypeError(
            f"hypothesis must be one string, got {type(hypothesis).__name__}; "
            "for several segments use corpus_bleu."
        )
    if not _is_list(references):
        raise TypeError(
            f"references must be a list of strings, got {type(references).__name__}; "
            'wrap a single reference in a list: ["..."].'
        )
    if not references:
        raise ValueError("references is empty: the sentence needs at least one reference.")
    return corpus_bleu(
        [hypothesis],
        [[reference] for reference in references],
        lowercase=lowercase,
        tokenize=tokenize,
        smooth=smooth,
        smooth_value=smooth_value,
        max_ngram_order=max_ngram_order,
        effective_order=True,
    )


__all__ = [
    "BLEUScore",
    "brevity_penalty",
    "corpus_bleu",
    "ngram_counts",
    "sentence_bleu",
    "tokenize_13a",
]
