"""BERT against Hugging Face transformers: tiny random models through their checkpoints, and
the real all-MiniLM-L6-v2 sentence embeddings; strict loading and input errors."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import pytest
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file

from scratchformer import data
from scratchformer.checkpoints import CheckpointError
from scratchformer.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
)
from scratchformer.models.bert_hf import hf_rules
from scratchformer.models.sentence_encoder import (
    SentenceEncoder,
    SentenceEncoderConfig,
    l2_normalize,
    mean_pool,
)
from scratchformer.weights import HubUnreachableError, read_config

transformers.utils.logging.disable_progress_bar()

TOL = {"atol": 1e-5, "rtol": 0.0}

TINY_CONFIGS = {
    "gelu": {
        "vocab_size": 101,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 48,
        "max_position_embeddings": 24,
        "type_vocab_size": 3,
    },
    "relu-eps1e-5": {
        "vocab_size": 77,
        "hidden_size": 24,
        "num_hidden_layers": 3,
        "num_attention_heads": 3,
        "intermediate_size": 40,
        "max_position_embeddings": 16,
        "hidden_act": "relu",
        "layer_norm_eps": 1e-5,
    },
}


def hf_checkpoint(tmp_path: Path, hf_class: type, config: dict, **extra) -> object:
    """A randomly initialised transformers model (every tensor randomised, LayerNorms
    included), saved to ``tmp_path`` in the Hugging Face format; returns the model."""
    torch.manual_seed(0)
    model = hf_class(transformers.BertConfig(**config, **extra)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if "LayerNorm.weight" in name else 0.0))
    model.save_pretrained(tmp_path)
    return model


def inputs(config: dict, seed: int = 1) -> dict[str, torch.Tensor]:
    """A padded batch: lengths 13, 9, 1, 5 (right padding), random token types."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([13, 9, 1, 5])
    mask = torch.arange(13)[None, :] < lengths[:, None]
    ids = torch.randint(1, config["vocab_size"], (4, 13), generator=generator) * mask
    types = torch.randint(0, config.get("type_vocab_size", 2), (4, 13), generator=generator)
    return {"input_ids": ids, "attention_mask": mask.long(), "token_type_ids": types}


# ------------------------------------------------------------------ tiny random models
@pytest.mark.parametrize("name", TINY_CONFIGS)
def test_bert_model_matches_transformers(tmp_path: Path, name: str) -> None:
    config = TINY_CONFIGS[name]
    theirs = hf_checkpoint(tmp_path, transformers.BertModel, config)
    ours = BertModel.from_pretrained(tmp_path)
    assert not ours.training
    batch = inputs(config)
    with torch.no_grad():
        expected = theirs(**batch)
        out = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        torch.testing.assert_close(out.hidden, expected.last_hidden_state, **TOL)
        torch.testing.assert_close(out.pooled, expected.pooler_output, **TOL)
        # Without mask and token types: no padding, every token of type 0.
        plain = ours(batch["input_ids"]).hidden
        torch.testing.assert_close(
            plain, theirs(input_ids=batch["input_ids"]).last_hidden_state, **TOL
        )
        # A bool mask means the same as a 0/1 one.
        as_bool = ours(batch["input_ids"], batch["attention_mask"].bool(), batch["token_type_ids"])
        torch.testing.assert_close(as_bool.hidden, out.hidden, atol=0.0, rtol=0.0)


def test_padding_changes_nothing_for_the_real_tokens(tmp_path: Path) -> None:
    config = TINY_CONFIGS["gelu"]
    hf_checkpoint(tmp_path, transformers.BertModel, config)
    ours = BertModel.from_pretrained(tmp_path)
    batch = inputs(config)
    with torch.no_grad():
        padded = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).hidden
        alone = ours(batch["input_ids"][1:2, :9], None, batch["token_type_ids"][1:2, :9]).hidden
    torch.testing.assert_close(padded[1:2, :9], alone, **TOL)


@pytest.mark.parametrize("name", TINY_CONFIGS)
def test_masked_lm_matches_transformers(tmp_path: Path, name: str) -> None:
    config = TINY_CONFIGS[name]
    theirs = hf_checkpoint(tmp_path, transformers.BertForMaskedLM, config)
    ours = BertForMaskedLM.from_pretrained(tmp_path)
    batch = inputs(config)
    with torch.no_grad():
        logits = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        torch.testing.assert_close(logits, theirs(**batch).logits, **TOL)
    assert logits.shape == (4, 13, config["vocab_size"])
    assert "mlm_head.decoder.weight" not in ours.state_dict()  # tied: the word embeddings


def test_masked_lm_output_is_tied_to_the_word_embeddings() -> None:
    config = BertConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=8)
    model = BertForMaskedLM(config).eval()
    ids = torch.randint(0, 7, (2, 5))  # token 7 is not in the input
    with torch.no_grad():
        before = model(ids)
        model.bert.embeddings.word.weight[7] += 1.0
        after = model(ids)
    changed = (after != before).all(dim=(0, 1))
    assert changed[7] and not changed[:7].any() and not changed[8:].any()
    model(ids)[..., 7].sum().backward()
    assert model.bert.embeddings.word.weight.grad[7].abs().sum() > 0


@pytest.mark.parametrize("n_labels", [2, 5])
def test_sequence_classification_matches_transformers(tmp_path: Path, n_labels: int) -> None:
    config = TINY_CONFIGS["gelu"]
    theirs = hf_checkpoint(
        tmp_path, transformers.BertForSequenceClassification, config, num_labels=n_labels
    )
    ours = BertForSequenceClassification.from_pretrained(tmp_path)
    assert ours.config.n_labels == n_labels
    batch = inputs(config)
    with torch.no_grad():
        logits = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        torch.testing.assert_close(logits, theirs(**batch).logits, **TOL)
    assert logits.shape == (4, n_labels)


def test_name_table_covers_every_transformers_tensor(tmp_path: Path) -> None:
    config = TINY_CONFIGS["gelu"]
    pairs = [
        (transformers.BertModel, BertModel),
        (transformers.BertForMaskedLM, BertForMaskedLM),
        (transformers.BertForSequenceClassification, BertForSequenceClassification),
    ]
    ours_config = BertConfig.from_hf(transformers.BertConfig(**config).to_dict())
    for hf_class, our_class in pairs:
        theirs = set(hf_class(transformers.BertConfig(**config)).state_dict())
        theirs -= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}  # tied copies
        named = {name for rule in hf_rules(our_class(ours_config)) for name in rule.theirs}
        assert named == theirs, our_class.__name__


def test_old_checkpoints_with_position_ids_and_tied_copies_load(tmp_path: Path) -> None:
    config = TINY_CONFIGS["gelu"]
    theirs = hf_checkpoint(tmp_path, transformers.BertForMaskedLM, config)
    state = {name: t.clone().contiguous() for name, t in theirs.state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(24)[None]
    assert "cls.predictions.decoder.weight" in state
    save_file(state, tmp_path / "model.safetensors")
    ours = BertForMaskedLM.from_pretrained(tmp_path)
    batch = inputs(config)
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch), theirs(**batch).logits, **TOL)
    state["cls.predictions.decoder.weight"] += 1.0
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(
        CheckpointError, match="decoder.weight differs from bert.embeddings.word_embeddings"
    ):
        BertForMaskedLM.from_pretrained(tmp_path)


# ------------------------------------------------------------------ a fresh head, and saving
def test_a_pretrained_encoder_needs_new_head_to_become_a_classifier(tmp_path: Path) -> None:
    config = TINY_CONFIGS["gelu"]
    theirs = hf_checkpoint(tmp_path, transformers.BertModel, config)
    with pytest.raises(CheckpointError, match=r"has no classifier layer.*new_head=True"):
        BertForSequenceClassification.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pass it with new_head=True"):
        BertForSequenceClassification.from_pretrained(tmp_path, n_labels=3)
    torch.manual_seed(0)
    ours = BertForSequenceClassification.from_pretrained(tmp_path, new_head=True, n_labels=3)
    torch.manual_seed(0)
    again = BertForSequenceClassification.from_pretrained(tmp_path, new_head=True, n_labels=3)
    assert not ours.training and ours.config.n_labels == 3
    assert torch.equal(ours.classifier.weight, again.classifier.weight)  # seeded: repeatable
    assert ours.classifier.weight.std() < 0.05 and not ours.classifier.bias.any()  # BERT's init
    batch = inputs(config)
    with torch.no_grad():
        expected = theirs(**batch)
        out = ours.bert(**batch)
        torch.testing.assert_close(out.hidden, expected.last_hidden_state, **TOL)
        torch.testing.assert_close(out.pooled, expected.pooler_output, **TOL)


def test_new_head_on_a_classifier_sets_its_old_head_aside(tmp_path: Path) -> None:
    config = TINY_CONFIGS["gelu"]
    theirs = hf_checkpoint(
        tmp_path, transformers.BertForSequenceClassification, config, num_labels=2
    )
    ours = BertForSequenceClassification.from_pretrained(tmp_path, new_head=True, n_labels=4)
    assert ours.classifier.weight.shape == (4, 32)
    batch = inputs(config)
    with torch.no_grad():
        pooled = theirs.bert(**batch).pooler_output
        torch.testing.assert_close(ours.bert(**batch).pooled, pooled, **TOL)


@pytest.mark.parametrize(
    ("hf_class", "our_class"),
    [
        (transformers.BertModel, BertModel),
        (transformers.BertForMaskedLM, BertForMaskedLM),
        (transformers.BertForSequenceClassification, BertForSequenceClassification),
    ],
)
def test_save_pretrained_is_read_back_by_us_and_by_transformers(
    tmp_path: Path, hf_class: type, our_class: type
) -> None:
    config = BertConfig.from_hf(TINY_CONFIGS["relu-eps1e-5"] | {"num_labels": 3})
    torch.manual_seed(0)
    ours = our_class(config).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # LayerNorms and biases too
    ours.save_pretrained(tmp_path / "saved")
    saved = tmp_path / "saved" / "config.json"
    assert BertConfig.from_hf(read_config(saved), source=str(saved)) == config
    again = our_class.from_pretrained(tmp_path / "saved")
    assert all(
        torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values())
    )
    theirs = hf_class.from_pretrained(tmp_path / "saved").eval()
    batch = inputs(TINY_CONFIGS["relu-eps1e-5"])
    with torch.no_grad():
        got, expected = ours(**batch), theirs(**batch)
    if our_class is BertModel:
        got, expected = got.hidden, expected.last_hidden_state
    else:
        expected = expected.logits
    torch.testing.assert_close(got, expected, **TOL)


# ------------------------------------------------------------------ strict loading
def test_wrong_model_class_lists_the_names(tmp_path: Path) -> None:
    hf_checkpoint(tmp_path, transformers.BertModel, TINY_CONFIGS["gelu"])
    with pytest.raises(CheckpointError) as error:
        BertForMaskedLM.from_pretrained(tmp_path)
    message = str(error.value)
    assert "model.safetensors does not match the model" in message
    assert "missing keys (42):\n    bert.embeddings.word_embeddings.weight" in message
    assert "    ... and 22 more\n" in message
    assert "unexpected keys (39):\n    embeddings.LayerNorm.bias" in message
    with pytest.raises(
        CheckpointError,
        match=r"unexpected keys \(2\):\n    pooler\.dense\.bias\n    pooler\.dense\.weight",
    ):
        BertModel.from_pretrained(tmp_path, pooler=False)


def edit_config(directory: Path, **changes) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_config_that_disagrees_with_the_weights_is_refused(tmp_path: Path) -> None:
    hf_checkpoint(tmp_path, transformers.BertModel, TINY_CONFIGS["gelu"])
    edit_config(tmp_path, num_hidden_layers=3)
    with pytest.raises(
        CheckpointError,
        match=r"missing keys \(16\):\n    encoder\.layer\.2\.attention\.self\.query\.weight",
    ):
        BertModel.from_pretrained(tmp_path)
    edit_config(tmp_path, num_hidden_layers=2, intermediate_size=64)
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches \(6\):\n    encoder\.layer\.0\.intermediate\.dense\.weight: "
        r"checkpoint has \(48, 32\), the model expects \(64, 32\)",
    ):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_type": "roberta"}, r"model_type='roberta' is not supported"),
        (
            {"position_embedding_type": "relative_key"},
            r"position_embedding_type='relative_key' is not supported",
        ),
        ({"is_decoder": True}, r"is_decoder=True is not supported"),
        (
            {"hidden_act": "gelu_new"},
            r"hidden_act='gelu_new' is not supported; use one of \['gelu', 'relu'\]",
        ),
        ({"num_attention_heads": 5}, r"config\.json: d_model=32 is not divisible by n_heads=5"),
    ],
)
def test_unsupported_configs_are_refused(tmp_path: Path, changes: dict, message: str) -> None:
    hf_checkpoint(tmp_path, transformers.BertModel, TINY_CONFIGS["gelu"])
    edit_config(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        BertModel.from_pretrained(tmp_path)


def test_missing_and_broken_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"is missing config\.json, model\.safetensors"):
        BertModel.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"is not a directory"):
        BertModel.from_pretrained(tmp_path / "no-such-dir")
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIGS["gelu"]))
    with pytest.raises(FileNotFoundError, match=r"is missing model\.safetensors;"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match=r"config\.json: missing \['vocab_size', 'num_hidden_la"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        BertForSequenceClassification.from_pretrained(tmp_path)


def test_hub_names_fail_clearly_when_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    name = "sentence-transformers/all-MiniLM-L6-v2"
    for load in (BertModel.from_pretrained, BertForSequenceClassification.from_pretrained):
        with pytest.raises(
            HubUnreachableError, match=rf"cannot load '{name}': the Hugging Face Hub is unreachable"
        ):
            load(name)


def test_config_from_hf_maps_every_key() -> None:
    hf = transformers.BertConfig(**TINY_CONFIGS["relu-eps1e-5"], num_labels=4).to_dict()
    config = BertConfig.from_hf(hf)
    assert config == BertConfig(
        vocab_size=77,
        d_model=24,
        n_layers=3,
        n_heads=3,
        d_ff=40,
        max_len=16,
        n_token_types=2,
        dropout=0.1,
        activation="relu",
        eps=1e-5,
        pad_id=0,
        n_labels=4,
        init_std=0.02,
    )
    encoder = config.encoder_config()
    assert not encoder.norm_first and encoder.eps == 1e-5 and encoder.activation_dropout == 0.0


# ------------------------------------------------------------------ inputs
def test_bad_inputs_are_refused() -> None:
    model = BertModel(
        BertConfig(vocab_size=20, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=6)
    )
    ids = torch.randint(0, 20, (2, 4))
    cases = [
        ((ids.float(),), TypeError, "input_ids must hold integer token ids"),
        ((ids.tolist(),), TypeError, r"input_ids must be a torch.Tensor.*got list"),
        ((ids[0],), ValueError, r"input_ids must have shape \(batch, seq\).*ids\[None\]"),
        (
            (torch.zeros(1, 7, dtype=torch.long),),
            ValueError,
            "7 tokens but the model has only 6 positions",
        ),
        ((ids + 20,), ValueError, r"input_ids holds the id \d+, outside the vocabulary \[0, 20\)"),
        (
            (ids, None, torch.full_like(ids, 2)),
            ValueError,
            r"token_type_ids holds the id 2, outside the token types \[0, 2\)",
        ),
        (
            (ids, None, ids[:, :3]),
            ValueError,
            r"token_type_ids must have the shape of input_ids \(2, 4\)",
        ),
        ((ids, torch.ones(2, 5)), ValueError, r"attention_mask must have the shape of input_ids"),
        ((ids, torch.full_like(ids, 2)), ValueError, "only 0 .padding. and 1 .real token."),
        (
            (ids, torch.ones(2, 4)),
            TypeError,
            r"attention_mask is torch.float32.*attention_mask.bool\(\)",
        ),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            model(*args)


def test_mean_pool_and_l2_normalize() -> None:
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    pooled = mean_pool(hidden, mask)
    assert torch.equal(pooled, torch.tensor([[2.0, 3.0], [0.0, 0.0]]))  # padding ignored; none -> 0
    assert torch.equal(mean_pool(hidden, mask.bool()), pooled)
    unit = l2_normalize(pooled)
    torch.testing.assert_close(unit[0], torch.tensor([2.0, 3.0]) / 13**0.5)
    assert torch.equal(unit[1], torch.zeros(2))
    with pytest.raises(ValueError, match=r"mean_pool expects hidden \(batch, seq, d_model\)"):
        mean_pool(hidden, mask[:, :2])


# ------------------------------------------------------------------ the real all-MiniLM-L6-v2
MAX_LEN = 128


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    return data.require("minilm")


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """About 350 real texts: text messages, Shakespeare speeches (some beyond MAX_LEN
    tokens), German sentences with their English translations."""
    pairs = data.load_de_en("ding")["train"]
    return (
        data.load_sms_spam()["text"][::40][:120]
        + data.load_shakespeare()["text"][::260][:120]
        + pairs["de"][::300][:60]
        + pairs["en"][::300][:60]
    )


def reference_embeddings(directory: Path, texts: list[str]) -> torch.Tensor:
    """transformers' BertModel and the model's own tokenizer (tokenizer.json), mean-pooled
    over real tokens, L2-normalised: what sentence-transformers computes."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModel.from_pretrained(directory).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    with torch.no_grad():
        for start in range(0, len(texts), 32):
            chosen = order[start : start + 32]
            batch = tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=MAX_LEN,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            out[chosen] = F.normalize(pooled, p=2, dim=1)
    return out


@pytest.mark.slow
def test_minilm_sentence_embeddings_match_transformers(
    minilm_dir: Path, sentences: list[str]
) -> None:
    encoder = SentenceEncoder.from_pretrained(minilm_dir, SentenceEncoderConfig(max_len=MAX_LEN))
    ours = encoder.encode(sentences)
    assert ours.shape == (len(sentences), 384) and len(sentences) > 300
    assert max(len(encoder.tokenizer.tokenize(s)) for s in sentences) > MAX_LEN  # truncation ran
    torch.testing.assert_close(ours, reference_embeddings(minilm_dir, sentences), **TOL)
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(sentences)))


def test_sentence_encoder_behaviour(minilm_dir: Path) -> None:
    encoder = SentenceEncoder.from_pretrained(minilm_dir)
    assert encoder.config.max_len == 256  # from sentence_bert_config.json
    texts = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The stock market fell sharply today.",
    ]
    embeddings = encoder.encode(texts)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3  # a paraphrase is far closer than news
    torch.testing.assert_close(encoder.encode(texts[::-1]), embeddings.flip(0), **TOL)  # order kept
    torch.testing.assert_close(encoder.encode(texts[2]), embeddings[2], **TOL)
    assert encoder.encode([]).shape == (0, 384)
    encoder.model.train()
    torch.testing.assert_close(encoder.encode(texts[:1])[0], embeddings[0], **TOL)  # no dropout
    assert encoder.model.training  # and the mode is restored
    with pytest.raises(ValueError, match="max_len=1000 exceeds the model's 512 positions"):
        SentenceEncoder(encoder.model, encoder.tokenizer, SentenceEncoderConfig(max_len=1000))
