"""Fine-tuning, using, saving and loading a BERT text classifier (scratchformer.classify), on a
tiny random BERT: it learns, it is repeatable, its folder is Hugging Face's format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from scratchformer.checkpoints import CheckpointError
from scratchformer.classify import TextClassifier, model_dir
from scratchformer.models.bert import BertModel
from scratchformer.models.sentence_encoder import SentenceEncoder, SentenceEncoderConfig
from scratchformer.tokenizers import WordPiece, WordPieceConfig, load_wordpiece, save_wordpiece
from scratchformer.train import FineTuneConfig, fine_tune
from tiny_bert import SPAMMY, TEXTS, VOCAB, tiny_classifier

FAST = FineTuneConfig(epochs=40, batch_size=4, lr=1e-2, max_len=24)


def test_fine_tune_learns_the_training_texts() -> None:
    classifier = tiny_classifier()
    history = fine_tune(classifier.model, classifier.tokenizer, TEXTS, SPAMMY, FAST)
    assert history.steps == 40 * 2  # 8 texts in batches of 4
    assert sum(history.losses[-5:]) / 5 < 0.5 * sum(history.losses[:5]) / 5
    predicted = classifier.predict_proba(TEXTS).argmax(dim=-1)
    assert predicted.tolist() == SPAMMY
    assert not classifier.model.training


def test_fine_tune_is_repeatable_and_leaves_the_global_generator_alone() -> None:
    runs = []
    for seed in (0, 0, 1):
        classifier = tiny_classifier(seed=5)  # the same start every time
        torch.manual_seed(123)
        history = fine_tune(
            classifier.model, classifier.tokenizer, TEXTS, SPAMMY,
            FineTuneConfig(epochs=2, batch_size=3, seed=seed),
        )  # fmt: skip
        after = torch.rand(1)
        torch.manual_seed(123)
        assert torch.equal(after, torch.rand(1))  # fine_tune drew from its own forked generator
        runs.append((history.losses, classifier.model.state_dict()))
    (losses_a, state_a), (losses_b, state_b), (losses_c, _) = runs
    assert losses_a == losses_b
    assert all(torch.equal(state_a[name], state_b[name]) for name in state_a)
    assert losses_c != losses_a  # another seed: another batch order and other dropout


def test_frozen_word_embeddings_stay_put() -> None:
    classifier = tiny_classifier()
    model = classifier.model
    word = model.bert.embeddings.word.weight
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = fine_tune(model, classifier.tokenizer, TEXTS, SPAMMY, FineTuneConfig(epochs=1))
    assert torch.equal(word, before["bert.embeddings.word.weight"])
    assert not torch.equal(model.classifier.weight, before["classifier.weight"])
    assert not torch.equal(
        model.bert.encoder.layers[0].self_attn.in_proj.weight,
        before["bert.encoder.layers.0.self_attn.in_proj.weight"],
    )
    assert history.trained_parameters == sum(p.numel() for p in before.values()) - word.numel()
    assert word.requires_grad  # trainable again afterwards
    fine_tune(
        model, classifier.tokenizer, TEXTS, SPAMMY,
        FineTuneConfig(epochs=1, freeze_word_embeddings=False),
    )  # fmt: skip
    assert not torch.equal(word, before["bert.embeddings.word.weight"])


def test_fine_tune_refuses_bad_inputs() -> None:
    classifier = tiny_classifier()
    model, tokenizer = classifier.model, classifier.tokenizer
    with pytest.raises(ValueError, match="one label per text"):
        fine_tune(model, tokenizer, TEXTS, SPAMMY[:-1])
    with pytest.raises(ValueError, match="one label per text"):
        fine_tune(model, tokenizer, [], [])
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        fine_tune(model, tokenizer, TEXTS, [2] * len(TEXTS))
    for field, value in [("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("warmup_fraction", 1.0),
                         ("max_len", 1)]:  # fmt: skip
        with pytest.raises(ValueError, match=field):
            FineTuneConfig(**{field: value})


def test_run_gives_probabilities_and_embeddings_in_order() -> None:
    classifier = tiny_classifier()
    out = classifier.run(TEXTS)
    assert out.embeddings.shape == (8, 16) and out.probabilities.shape == (8, 2)
    torch.testing.assert_close(out.probabilities.sum(dim=1), torch.ones(8))
    encoder = SentenceEncoder(classifier.model.bert, classifier.tokenizer, classifier.config)
    torch.testing.assert_close(out.embeddings, encoder.encode(TEXTS), atol=1e-6, rtol=0)
    with torch.no_grad():  # one text alone: no padding, the model's own logits
        logits = classifier.model(*classifier.tokenizer.encode_batch(TEXTS[2:3], max_len=24))
    torch.testing.assert_close(out.probabilities[2], torch.softmax(logits[0], dim=-1))
    torch.testing.assert_close(classifier.predict_proba(TEXTS[::-1]), out.probabilities.flip(0))
    torch.testing.assert_close(classifier.encode(TEXTS[:2]), out.embeddings[:2])
    with pytest.raises(ValueError, match="2 distinct names"):
        TextClassifier(classifier.model, classifier.tokenizer, ["spam", "spam"])


def test_save_and_load_give_the_same_classifier(tmp_path: Path) -> None:
    classifier = tiny_classifier(labels=("spam", "ham"))
    classifier.training.update(examples=8, note="tiny")
    target = tmp_path / "models" / "tiny"
    assert classifier.save(target) == target
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer_config.json", "training.json", "vocab.txt"
    ]  # fmt: skip
    loaded = TextClassifier.load(target)
    assert loaded.labels == ["spam", "ham"] and loaded.config.max_len == 24
    assert loaded.training == {"examples": 8, "note": "tiny"}
    torch.testing.assert_close(loaded.predict_proba(TEXTS), classifier.predict_proba(TEXTS))
    # Saving again replaces the folder whole and leaves no staging folder behind.
    tiny_classifier(labels=("a", "b"), seed=1).save(target)
    assert TextClassifier.load(target).labels == ["a", "b"]
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]


def test_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Run chapter 8"):
        TextClassifier.load(tmp_path / "nothing")
    encoder_only = tmp_path / "encoder"
    BertModel(tiny_classifier().model.config).save_pretrained(encoder_only)
    (encoder_only / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="new_head=True"):
        TextClassifier.load(encoder_only)


@pytest.mark.parametrize(
    ("profile", "folder"), [("quick", "minilm-sms-spam-quick"), ("full", "minilm-sms-spam")]
)
def test_model_dir_is_in_the_cache_and_defaults_to_the_run_profiles_classifier(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, profile: str, folder: str
) -> None:
    monkeypatch.setenv("SCRATCHFORMER_CACHE", str(tmp_path))
    monkeypatch.setenv("SCRATCHFORMER_PROFILE", profile)
    assert model_dir() == tmp_path / "models" / folder
    assert model_dir("other") == tmp_path / "models" / "other"


def test_transformers_reads_the_saved_folder(tmp_path: Path) -> None:
    classifier = tiny_classifier()
    classifier.save(tmp_path)
    theirs = transformers.BertForSequenceClassification.from_pretrained(tmp_path).eval()
    assert theirs.config.id2label == {0: "spam", 1: "ham"}
    tokenizer = transformers.BertTokenizer.from_pretrained(tmp_path)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    ours = classifier.tokenizer.encode_batch(TEXTS, max_len=24)
    assert torch.equal(batch["input_ids"], ours.input_ids)
    with torch.no_grad():
        expected = torch.softmax(theirs(**batch).logits, dim=-1)
    torch.testing.assert_close(classifier.predict_proba(TEXTS), expected, atol=1e-5, rtol=0)


def test_sentence_encoder_config_is_kept(tmp_path: Path) -> None:
    classifier = tiny_classifier()
    short = TextClassifier(
        classifier.model, classifier.tokenizer, classifier.labels, SentenceEncoderConfig(max_len=4)
    )
    assert TextClassifier.load(short.save(tmp_path / "short")).config.max_len == 4


def test_tokenizer_settings_survive_saving(tmp_path: Path) -> None:
    cased = WordPiece([*VOCAB, "Free"], WordPieceConfig(lowercase=False, unk="[UNK]"))
    save_wordpiece(cased, tmp_path, max_len=12)
    loaded = load_wordpiece(tmp_path)
    assert loaded.config == cased.config and loaded.vocab_size == len(VOCAB) + 1
    assert (
        loaded.tokenize("Free cash")
        == ["Free", "cash"]
        != tiny_classifier().tokenizer.tokenize("Free cash")
    )


def test_one_string_is_one_text_in_every_text_api() -> None:
    """A lone string is one text (never its characters), answered without the batch axis."""
    classifier = tiny_classifier()
    text = TEXTS[0]
    batch = classifier.run([text])
    one = classifier.run(text)
    assert one.probabilities.shape == (len(classifier.labels),)
    assert one.embeddings.shape == (classifier.dim,)
    torch.testing.assert_close(one.probabilities, batch.probabilities[0])
    torch.testing.assert_close(classifier.predict_proba(text), batch.probabilities[0])
    torch.testing.assert_close(classifier.encode(text), batch.embeddings[0])
    torch.testing.assert_close(
        classifier._encoder.encode(text), classifier._encoder.encode([text])[0]
    )


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (None, "texts must be a str .one text. or a list of str, got NoneType"),
        (b"free cash", r"texts is bytes; decode it to a str first"),
        (42, "got int"),
        ({"text": "hi"}, "got dict"),
        (["ok", 3], r"texts\[1\] must be a str, got int"),
        (["ok", b"raw"], r"texts\[1\] must be a str, got bytes.*decode"),
    ],
)
def test_texts_of_the_wrong_type_are_refused(texts: object, message: str) -> None:
    classifier = tiny_classifier()
    for method in (classifier.run, classifier.predict_proba, classifier.encode):
        with pytest.raises(TypeError, match=message):
            method(texts)  # type: ignore[arg-type]
