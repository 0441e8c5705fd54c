"""Bad input to the data side (checkpoints, tokenisers, BLEU, the cache) is a clear error.

Each case is what a careless learner might write; the test pins the exception type and a
phrase of the message that says what was wrong or how to fix it. Training checkpoints
also carry a fingerprint of their run, so resuming another run's checkpoint is refused.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy
import pytest
import torch

from scratchformer.checkpoints import CheckpointError, load_checkpoint, read_safetensors
from scratchformer.data.cache import CACHE_ENV_VAR, cache_dir
from scratchformer.metrics import corpus_bleu
from scratchformer.models import Seq2SeqConfig, Transformer
from scratchformer.tokenizers import (
    BPETrainConfig,
    ByteLevelBPE,
    CharTokenizer,
    RegexPreTokenizer,
    TokenizerFileError,
    WordPiece,
)
from scratchformer.train import (
    Seq2SeqTrainConfig,
    TrainConfig,
    best_weights_path,
    read_checkpoint,
    save_atomically,
    split_ids,
    train_lm,
    train_seq2seq,
)

# -- a tiny translation run --------------------------------------------------------------

PAD, BOS, EOS, VOCAB = 0, 1, 2, 12


def copy_pairs(n: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Source: random ids; target: the same ids between BOS and EOS."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n):
        src = torch.randint(3, VOCAB, (int(torch.randint(2, 5, (1,), generator=generator)),),
                            generator=generator).tolist()  # fmt: skip
        pairs.append((src, [BOS, *src, EOS]))
    return pairs


def tiny_model(dropout: float = 0.1) -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        Seq2SeqConfig(
            src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, pad_id=PAD, max_len=8, d_model=16,
            n_heads=2, d_ff=32, n_encoder_layers=1, n_decoder_layers=1, dropout=dropout,
        )
    )  # fmt: skip


TRAIN, VAL = copy_pairs(24, 0), copy_pairs(6, 1)
SHORT = Seq2SeqTrainConfig(epochs=1, max_tokens=40, warmup_steps=2, progress=False)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of one finished epoch (copied by each test that changes it)."""
    path = tmp_path_factory.mktemp("run") / "run.pt"
    train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, checkpoint=path)
    return path


def copy_of(checkpoint: Path, folder: Path) -> Path:
    target = folder / checkpoint.name
    target.write_bytes(checkpoint.read_bytes())
    return target


# -- 1. resuming another run's checkpoint --------------------------------------------------

ANOTHER_RUN = {
    "other training pairs": {"train": [*TRAIN[:-1], ([3, 4], [BOS, 4, 3, EOS])]},
    "other validation pairs": {"val": VAL[:-1]},
    r"another model configuration \(dropout: 0.1 -> 0.0\)": {"model": lambda: tiny_model(0.0)},
    r"other training settings \(seed: 0 -> 1\)": {"config": dataclasses.replace(SHORT, seed=1)},
}


@pytest.mark.parametrize("difference", list(ANOTHER_RUN))
def test_resuming_a_checkpoint_of_another_run_is_refused(
    finished_run: Path, tmp_path: Path, difference: str
) -> None:
    change = ANOTHER_RUN[difference]
    path = copy_of(finished_run, tmp_path)
    more_epochs = dataclasses.replace(change.get("config", SHORT), epochs=2)
    model = change.get("model", tiny_model)()
    with pytest.raises(CheckpointError) as error:
        train_seq2seq(
            model, change.get("train", TRAIN), change.get("val", VAL), more_epochs, checkpoint=path
        )
    message = str(error.value)
    assert re.search(difference, message), message
    assert str(path) in message and "delete" in message and "another checkpoint path" in message


def test_the_same_run_resumes_to_a_larger_budget_and_the_fingerprint_is_stored(
    finished_run: Path, tmp_path: Path
) -> None:
    path = copy_of(finished_run, tmp_path)
    fingerprint = read_checkpoint(path)["fingerprint"]
    assert fingerprint["train_pairs"]["count"] == len(TRAIN)
    assert len(fingerprint["train_pairs"]["sha256"]) == 64
    assert fingerprint["model_config"]["d_model"] == 16
    history = train_seq2seq(tiny_model(), TRAIN, VAL, dataclasses.replace(SHORT, epochs=2),
                            checkpoint=path)  # fmt: skip
    assert len(history.val_loss) == 2  # the first epoch came from the checkpoint


def test_a_checkpoint_without_fingerprint_resumes_with_a_warning(
    finished_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "old.pt"
    old = read_checkpoint(finished_run)
    del old["fingerprint"]
    save_atomically(old, path)
    with pytest.warns(UserWarning, match="no fingerprint"):
        train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, checkpoint=path)


def test_a_weights_file_is_not_a_training_checkpoint(finished_run: Path) -> None:
    with pytest.raises(CheckpointError, match="not a training checkpoint.*restore_best_weights"):
        train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, checkpoint=best_weights_path(finished_run))


# -- 2. empty and truncated checkpoint files -----------------------------------------------


@pytest.mark.parametrize(
    ("cut", "phrase"), [(0, "is empty"), (0.5, "truncated"), (-7, "truncated")]
)
def test_a_truncated_checkpoint_names_the_file_and_the_remedy(
    finished_run: Path, tmp_path: Path, cut: float, phrase: str
) -> None:
    data = finished_run.read_bytes()
    path = tmp_path / "run.pt"
    path.write_bytes(data[: int(len(data) * cut) if isinstance(cut, float) else cut])
    for read in (read_checkpoint, lambda p: train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, p)):
        with pytest.raises(CheckpointError, match=phrase) as error:
            read(path)
        assert str(path) in str(error.value) and "Delete it" in str(error.value)


@pytest.mark.parametrize(("content", "phrase"), [(b"", "is empty"), (b"\x00" * 9, "delete it")])
def test_a_truncated_safetensors_file_names_the_file_and_the_remedy(
    tmp_path: Path, content: bytes, phrase: str
) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=phrase) as error:
        read_safetensors(path)
    assert str(path) in str(error.value)


# -- 3. temporaries left by a killed save ---------------------------------------------------


def test_stale_temporaries_of_the_checkpoint_and_only_those_are_removed(
    finished_run: Path, tmp_path: Path
) -> None:
    path = copy_of(finished_run, tmp_path)
    stale = [tmp_path / ".run.pt.k3x_9a0q.tmp", tmp_path / ".run.pt.zzzzzzzz.tmp"]
    others = [
        "notes.tmp",
        ".run.pt.short.tmp",
        ".other.pt.k3x_9a0q.tmp",
        ".run.pt.k3x_9a0q.tmp.bak",
    ]
    for name in [*stale, *others]:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, checkpoint=path)  # resumes a finished run
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "run.pt") == sorted(others)
    (tmp_path / ".state.pt.abcdefgh.tmp").write_bytes(b"")
    save_atomically({"step": 1}, tmp_path / "state.pt")
    assert not (tmp_path / ".state.pt.abcdefgh.tmp").exists()


# -- 4.-8. a table of bad inputs -------------------------------------------------------------

CHAR = CharTokenizer.from_text("hello world")
BPE = ByteLevelBPE.train(["hello world, hello there"], BPETrainConfig(n_merges=5))
WORDPIECE = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"])
TOKENIZERS = {"char": CHAR, "bpe": BPE, "wordpiece": WORDPIECE}


def stream(n: int, dtype: torch.dtype = torch.long) -> torch.Tensor:
    return torch.arange(n, dtype=dtype) % 5


CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # 5. text that is not a str, and ids outside the vocabulary, for every tokeniser
    *[
        case
        for name, tok in TOKENIZERS.items()
        for case in [
            (f"{name}.encode(None)", lambda tok=tok: tok.encode(None), TypeError, "None is not empty text"),
            (f"{name}.encode(bytes)", lambda tok=tok: tok.encode(b"hi"), TypeError, r'\.decode\("utf-8"\)'),
            (f"{name}.encode(int)", lambda tok=tok: tok.encode(5), TypeError, "must be a str, got int"),
            (f"{name}.encode(list)", lambda tok=tok: tok.encode(["hi", 3]), TypeError, "one text at a time"),
            (f"{name}.decode([-1])", lambda tok=tok: tok.decode([-1]), ValueError, f"token id -1 .* vocabulary of {tok.vocab_size}"),
            (f"{name}.decode([vocab_size])", lambda tok=tok: tok.decode([tok.vocab_size]), ValueError, f"token id {tok.vocab_size} .* vocabulary of {tok.vocab_size}"),
            (f"{name}.decode(int)", lambda tok=tok: tok.decode(5), TypeError, r"for one id, pass \[id\]"),
            (f"{name}.decode(str)", lambda tok=tok: tok.decode("hello"), TypeError, "encode turns text into ids"),
            (f"{name}.decode(batch)", lambda tok=tok: tok.decode(torch.tensor([[1, 2]])), TypeError, "row by row"),
        ]
    ],
    ("wordpiece.encode(pair=bytes)", lambda: WORDPIECE.encode("hi", pair=b"x"), TypeError, "pair must be a str"),
    ("wordpiece.encode_batch([str, None])", lambda: WORDPIECE.encode_batch(["hi", None]), TypeError, r"texts\[1\] must be a str"),
    ("pretokenizer.split(bytes)", lambda: RegexPreTokenizer().split(b"x"), TypeError, "decode it first"),
    ("CharTokenizer.from_text(list)", lambda: CharTokenizer.from_text(["ab", "cd"]), TypeError, "join a list of texts"),
    ("CharTokenizer.from_text(None)", lambda: CharTokenizer.from_text(None), TypeError, "must be a str, got NoneType"),
    ("ByteLevelBPE.train(bytes)", lambda: ByteLevelBPE.train(b"ab", BPETrainConfig(n_merges=1)), TypeError, "str or a list of str"),
    ("ByteLevelBPE.train([str, int])", lambda: ByteLevelBPE.train(["ab", 3], BPETrainConfig(n_merges=1)), TypeError, r"texts\[1\] must be a str, got int"),
    # 8. empty training text
    ("ByteLevelBPE.train([])", lambda: ByteLevelBPE.train([], BPETrainConfig(n_merges=1)), ValueError, "texts is empty"),
    ("ByteLevelBPE.train(['', ''])", lambda: ByteLevelBPE.train(["", ""], BPETrainConfig(n_merges=1)), ValueError, "hold no text to learn"),
    # 6. BLEU references in the wrong layout
    ("bleu per-hypothesis refs, 3 refs", lambda: corpus_bleu(["a b", "c d"], [["a b", "a c", "a d"], ["c d", "c e", "c f"]]), ValueError, "one list of references per hypothesis.*zip_longest"),
    ("bleu ragged stream", lambda: corpus_bleu(["a b", "c d", "e f"], [["a b", "c d"]]), ValueError, r"references\[s\]\[i\] is reference stream s"),
    ("bleu nested too deep", lambda: corpus_bleu(["a b"], [[["a", "b"]]]), TypeError, r"references\[s\]\[i\]"),
    ("bleu tokenised hypothesis", lambda: corpus_bleu([["a", "b"]], ["a b"]), TypeError, r'" "\.join\(words\)'),
    # 7. files missing keys: checkpoints handled above, tokeniser files here (written by the test)
    # training data that is no training data
    ("train_seq2seq(empty source)", lambda: train_seq2seq(tiny_model(), [([], [BOS, EOS])], VAL, SHORT), ValueError, r"source of train_pairs\[0\] is empty"),
    ("train_seq2seq(target without EOS)", lambda: train_seq2seq(tiny_model(), [([3], [BOS])], VAL, SHORT), ValueError, "BOS ... EOS"),
    ("train_seq2seq(id outside vocab)", lambda: train_seq2seq(tiny_model(), TRAIN, [([3, VOCAB], [BOS, EOS])], SHORT), ValueError, rf"val_pairs\[0\] holds id {VOCAB}, outside"),
    ("train_seq2seq(text pairs)", lambda: train_seq2seq(tiny_model(), [("a b", "c d")], VAL, SHORT), TypeError, "tokenise the text first"),
    ("train_seq2seq(a triple)", lambda: train_seq2seq(tiny_model(), [([3], [1, 2], [4])], VAL, SHORT), ValueError, r"\(source ids, target ids\)"),
    ("train_seq2seq(checkpoint=folder)", lambda: train_seq2seq(tiny_model(), TRAIN, VAL, SHORT, checkpoint=Path(".")), ValueError, "is a folder; pass a file path inside it"),
    ("load_checkpoint(path)", lambda: load_checkpoint(tiny_model(), "model.safetensors"), TypeError, "use load_safetensors"),
    ("load_checkpoint(training checkpoint)", lambda: load_checkpoint(tiny_model(), {"model": {}, "epoch": 1}), TypeError, "pass its 'model' entry"),
    ("split_ids(list)", lambda: split_ids([1, 2, 3, 4], 0.5), TypeError, r"torch\.tensor\(ids\)"),
    ("train_lm(float ids)", lambda: train_lm(tiny_model(), stream(50, torch.float32), stream(50), TrainConfig(block_size=4)), TypeError, r"integer token ids.*ids\.long\(\)"),
    ("train_lm(short val)", lambda: train_lm(tiny_model(), stream(50), stream(4), TrainConfig(block_size=4)), ValueError, "val_ids has 4 ids"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_clear_error(call: Callable[[], object], error: type[Exception], phrase: str) -> None:  # fmt: skip
    with pytest.raises(error, match=phrase):
        call()


def test_empty_text_is_fine_for_every_tokeniser() -> None:
    assert CHAR.encode("") == [] and BPE.encode("") == []
    assert WORDPIECE.encode("") == [WORDPIECE.token_to_id("[CLS]"), WORDPIECE.token_to_id("[SEP]")]


def test_integers_of_any_kind_decode() -> None:
    ids = CHAR.encode("hello")
    assert CHAR.decode([numpy.int64(i) for i in ids]) == "hello"
    assert CHAR.decode(list(torch.tensor(ids))) == "hello"  # 0-d tensors


def test_square_references_given_per_hypothesis_warn() -> None:
    hypotheses = ["the cat sat on the mat", "a dog ran in the park"]
    per_hypothesis = [
        ["the cat sat on the mat", "a cat sat on a mat"],
        ["a dog ran in the park", "the dog ran in a park"],
    ]
    with pytest.warns(UserWarning, match=r"look transposed.*zip_longest"):
        wrong = corpus_bleu(hypotheses, per_hypothesis)
    streams = [list(s) for s in zip(*per_hypothesis)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right layout does not warn
        right = corpus_bleu(hypotheses, streams)
    assert right.score == pytest.approx(100.0) and wrong.score < 90.0


def test_a_cache_path_that_is_a_file_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    for location in (blocker, blocker / "inside"):
        monkeypatch.setenv(CACHE_ENV_VAR, str(location))
        with pytest.raises(NotADirectoryError, match=CACHE_ENV_VAR) as error:
            cache_dir()
        assert str(location) in str(error.value)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "fresh"))
    assert cache_dir() == tmp_path / "fresh"


@pytest.mark.parametrize(
    ("tokenizer", "file", "content", "phrase"),
    [
        ("char", "char.json", '{"format": "scratchformer.CharTokenizer", "version": 1, "chars": []}',
         r"char\.json: missing field\(s\) 'special_tokens', 'unk_token'"),
        ("bpe", "bpe_config.json", '{"format": "scratchformer.ByteLevelBPE", "version": 1}',
         r"bpe_config\.json: missing field\(s\) 'special_tokens', 'pretokenizer_pattern'"),
        ("bpe", "bpe_config.json", '{"format": "scratchformer.CharTokenizer"}',
         "not a scratchformer.ByteLevelBPE file"),
    ],
)  # fmt: skip
def test_a_tokenizer_file_missing_keys_names_them_and_the_file(
    tmp_path: Path, tokenizer: str, file: str, content: str, phrase: str
) -> None:
    BPE.save(tmp_path)
    (tmp_path / file).write_text(content, encoding="utf-8")
    load = CharTokenizer.load if tokenizer == "char" else ByteLevelBPE.load
    with pytest.raises(TokenizerFileError, match=phrase):
        load(tmp_path / file if tokenizer == "char" else tmp_path)
