"""scratchformer.metrics.bleu against sacreBLEU (a test-only reference) and by hand."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from scratchformer.metrics import BLEUScore, corpus_bleu, sentence_bleu, tokenize_13a

# Words and pieces that exercise every 13a rule: punctuation, numbers with periods, commas
# and hyphens, quotes, SGML entities, line breaks, case and non-ASCII letters.
WORDS = [
    "the", "The", "THE", "cat", "sat", "on", "mat", "a", "dog", "well-known", "don't",
    "3.14", "1,000", "5-6", "-7", "e.g.", "U.S.", "end.", "(x)", "$5", "50%", "a/b", '"hi"',
    ".", ",", "-", "!", "?", "...", "&quot;", "&amp;", "&lt;", "&gt;", "&amp;quot;", "&QUOT;",
    "<skipped>", "naïve", "Ünïcode", "İstanbul", "straße", "日本", "x-\n", "{y}", "\\",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "", "  ", "\n", "\t", "\u00a0"]

segments = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=10
).map(lambda parts: "".join(word + sep for word, sep in parts))


@st.composite
def reference_for(draw: st.DrawFn, hypothesis: str) -> str:
    """A reference: unrelated text, or the hypothesis with words dropped, reordered or added."""
    if draw(st.booleans()):
        return draw(segments)
    words = draw(st.permutations(hypothesis.split())) if draw(st.booleans()) else hypothesis.split()
    kept = words[: draw(st.integers(0, len(words)))]
    return " ".join(kept + draw(st.lists(st.sampled_from(WORDS), max_size=3)))


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[str], list[list[str | None]]]:
    """Hypotheses and 1-3 reference streams; streams after the first may lack a reference."""
    hypotheses = draw(st.lists(segments, min_size=1, max_size=6))
    streams: list[list[str | None]] = []
    for s in range(draw(st.integers(1, 3))):
        stream: list[str | None] = []
        for hypothesis in hypotheses:
            missing = s > 0 and draw(st.integers(0, 4)) == 0
            stream.append(None if missing else draw(reference_for(hypothesis)))
        streams.append(stream)
    return hypotheses, streams


options = st.fixed_dictionaries(
    {
        "lowercase": st.booleans(),
        "tokenize": st.sampled_from(["13a", "none"]),
        "smooth": st.sampled_from(["exp", "none", "floor", "add-k"]),
        "max_ngram_order": st.sampled_from([4, 4, 1, 2, 3, 5]),
        "effective_order": st.booleans(),
    }
)


def sacrebleu_score(hypotheses, streams, opts, smooth_value=None):
    """sacreBLEU's score for the same corpus and options."""
    bleu = BLEU(
        lowercase=opts["lowercase"],
        tokenize=opts["tokenize"],
        smooth_method=opts["smooth"],
        smooth_value=smooth_value,
        max_ngram_order=opts["max_ngram_order"],
        effective_order=opts["effective_order"],
    )
    return bleu.corpus_score(hypotheses, streams)


def assert_same(ours: BLEUScore, theirs) -> None:
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert list(ours.precisions) == theirs.precisions
    assert ours.brevity_penalty == theirs.bp
    assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert ours.ratio == pytest.approx(theirs.ratio)
    assert str(ours) == str(theirs)


# -- agreement with sacreBLEU on generated corpora ------------------------------------------


# Random corpora with as many streams as hypotheses sometimes look transposed by chance;
# the warning is tested in tests/test_bad_inputs_data.py, the score here.
LOOKS_TRANSPOSED_BY_CHANCE = pytest.mark.filterwarnings("ignore:the references look transposed")


@pytest.mark.slow
@LOOKS_TRANSPOSED_BY_CHANCE
@settings(max_examples=400, deadline=None)
@given(corpora(), options)
def test_corpus_bleu_equals_sacrebleu(corpus, opts):
    hypotheses, streams = corpus
    assert_same(
        corpus_bleu(hypotheses, streams, **opts), sacrebleu_score(hypotheses, streams, opts)
    )


@LOOKS_TRANSPOSED_BY_CHANCE
@settings(max_examples=100, deadline=None)
@given(corpora(), options, st.sampled_from([0.0, 0.01, 0.5, 2.0]))
def test_smoothing_values_equal_sacrebleu(corpus, opts, value):
    opts = {**opts, "smooth": "add-k" if value > 0.2 else "floor"}
    hypotheses, streams = corpus
    ours = corpus_bleu(hypotheses, streams, smooth_value=value, **opts)
    assert_same(ours, sacrebleu_score(hypotheses, streams, opts, smooth_value=value))


@settings(max_examples=100, deadline=None)
@given(corpora())
def test_one_reference_per_hypothesis_layout_equals_a_single_stream(corpus):
    hypotheses, streams = corpus
    assert corpus_bleu(hypotheses, streams[0]) == corpus_bleu(hypotheses, [streams[0]])


@settings(max_examples=100, deadline=None)
@given(segments, st.lists(segments, min_size=1, max_size=3), st.sampled_from(["exp", "floor"]))
def test_sentence_bleu_equals_sacrebleu(hypothesis, references, smooth):
    theirs = sacrebleu.sentence_bleu(hypothesis, references, smooth_method=smooth)
    assert_same(sentence_bleu(hypothesis, references, smooth=smooth), theirs)


# -- the 13a tokenisation -------------------------------------------------------------------

ODD_TEXT = [
    "",
    "   ",
    "He said &quot;3.14, 1,000&quot; -- and left.",
    "&amp;quot; &amp;lt; &lt;&gt; & amp;",
    "e.g., U.S.A. ... end.",
    "5-6 a-b -7 7- x-\ny\nz",
    "<skipped> a<skipped>b",
    "don't 'quoted' `tick`",
    "naïve İstanbul 日本語。 straße\u00a0x\u2003y",
    "\t(a)[b]{c}<d>|e|~f^g_h",
    "1.2.3 .5 5. ,5 5,",
]


@pytest.mark.parametrize("text", ODD_TEXT)
def test_tokenize_13a_equals_sacrebleu_on_odd_text(text):
    assert tokenize_13a(text) == Tokenizer13a()(text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(segments, st.text(alphabet="ab 09.,-'\"&;qutlgmp<>\n()é", max_size=30)))
def test_tokenize_13a_equals_sacrebleu(text):
    assert tokenize_13a(text) == Tokenizer13a()(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_tokenize_13a_equals_sacrebleu_on_any_unicode(text):
    assert tokenize_13a(text) == Tokenizer13a()(text)


def test_tokenize_13a_by_hand():
    assert tokenize_13a('He said "3.14, 5-6".') == 'He said " 3.14 , 5 - 6 " .'
    assert tokenize_13a("well-known don't") == "well-known don't"
    assert tokenize_13a("&amp;quot;") == "& quot ;"  # decoded once, in mteval's order
    assert tokenize_13a("hyphen-\nated line\nbreak") == "hyphenated line break"


# -- by hand --------------------------------------------------------------------------------


def test_worked_example_by_hand():
    hyp, ref = "the cat sat on the mat", "the cat is on the mat"
    # unigrams 5/6 (no "sat"); bigrams 3/5 (the cat, on the, the mat); trigrams 1/4
    # (on the mat); 4-grams 0/3.
    assert corpus_bleu([hyp], [ref], smooth="none").score == 0.0
    floor = corpus_bleu([hyp], [ref], smooth="floor")
    assert floor.precisions == pytest.approx((500 / 6, 60.0, 25.0, 10 / 3))
    exp = corpus_bleu([hyp], [ref])  # the first order without a match gets 1 / (2 * total)
    assert exp.precisions == pytest.approx((500 / 6, 60.0, 25.0, 100 / 6))
    expected = 100 * math.exp(
        (math.log(5 / 6) + math.log(3 / 5) + math.log(1 / 4) + math.log(1 / 6)) / 4
    )
    assert exp.score == pytest.approx(expected)
    assert exp.brevity_penalty == 1.0


def test_counts_are_clipped_by_the_reference():
    score = corpus_bleu(["the the the the"], ["the cat"], max_ngram_order=1)
    assert score.precisions == (25.0,)


def test_perfect_and_disjoint_translations():
    text = ["the quick brown fox jumps", "over the lazy dog ."]
    assert corpus_bleu(text, text).score == pytest.approx(100.0)
    disjoint = corpus_bleu(["a b c d e"], ["v w x y z"], smooth="add-k")
    assert (disjoint.score, disjoint.precisions) == (0.0, (0.0, 0.0, 0.0, 0.0))


def test_short_hypotheses_need_effective_order():
    # Three words have no 4-gram: corpus BLEU is 0, sentence BLEU uses orders 1-3 only.
    assert corpus_bleu(["a b c"], ["a b c"]).score == 0.0
    assert sentence_bleu("a b c", ["a b c"]).score == pytest.approx(100.0)


def test_brevity_penalty_and_closest_reference_length():
    # Refs of 2 and 4 words are equally close to 3: the shorter counts, so no penalty.
    tie = corpus_bleu(["a b c"], [["a b"], ["a b c d"]], max_ngram_order=1)
    assert (tie.ref_len, tie.brevity_penalty) == (2, 1.0)
    short = corpus_bleu(["a b"], ["a b c d"], max_ngram_order=1)
    assert short.brevity_penalty == pytest.approx(math.exp(1 - 4 / 2))
    assert corpus_bleu([""], ["a b"]).brevity_penalty == 0.0


def test_str_is_sacrebleus_summary_line():
    score = BLEUScore(27.3149, (58.12, 33.24, 20.46, 13.04), 1.0, 8123, 8017)
    assert str(score) == (
        "BLEU = 27.31 58.1/33.2/20.5/13.0 (BP = 1.000 ratio = 1.013 hyp_len = 8123 ref_len = 8017)"
    )


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hypotheses", "references", "error", "message"),
    [
        ("a b", ["a b"], TypeError, "list of strings"),
        ([], [[]], ValueError, "no hypotheses"),
        (["a", 3], ["a", "b"], TypeError, r"hypotheses\[1\] is a int"),
        (["a", "b"], ["a"], ValueError, "stream 0 has 1 entries but there are 2"),
        (["a", "b"], [["a", "b"], ["a"]], ValueError, "stream 1 has 1 entries"),
        (["a"], "a", TypeError, "references must be a list"),
        (["a"], [], ValueError, "references is empty"),
        (["a"], ["a", ["a"]], TypeError, "mixes strings"),
        (["a"], [b"a"], TypeError, "mixes strings"),
        (["a"], [[b"a"]], TypeError, "is a bytes"),
        (["a"], [[None], [None]], ValueError, "no reference"),
    ],
)
def test_bad_corpus_is_rejected(hypotheses, references, error, message):
    with pytest.raises(error, match=message):
        corpus_bleu(hypotheses, references)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"tokenize": "intl"}, ValueError, "tokenize must be one of"),
        ({"smooth": "add-one"}, ValueError, "smooth must be one of"),
        ({"max_ngram_order": 0}, ValueError, "must be >= 1"),
        ({"max_ngram_order": 2.0}, TypeError, "must be an int"),
        ({"smooth_value": 0.5}, ValueError, "'floor' and 'add-k' only"),
        ({"smooth": "floor", "smooth_value": -0.1}, ValueError, ">= 0"),
        ({"smooth": "add-k", "smooth_value": math.nan}, ValueError, ">= 0"),
    ],
)
def test_bad_options_are_rejected(options, error, message):
    with pytest.raises(error, match=message):
        corpus_bleu(["a b"], ["a b"], **options)


def test_bad_sentence_input_is_rejected():
    with pytest.raises(TypeError, match="one string"):
        sentence_bleu(["a b"], ["a b"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap a single reference"):
        sentence_bleu("a b", "a b")
    with pytest.raises(ValueError, match="at least one reference"):
        sentence_bleu("a b", [])
