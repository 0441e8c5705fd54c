"""A tiny random BERT classifier with a toy vocabulary, for fast offline tests of
fine-tuning and serving."""

from __future__ import annotations

from pathlib import Path

import torch

from scratchformer.classify import TextClassifier
from scratchformer.models.bert import BertConfig, BertForSequenceClassification
from scratchformer.models.sentence_encoder import SentenceEncoderConfig
from scratchformer.tokenizers import WordPiece

WORDS = ["the", "a", "spam", "ham", "free", "win", "prize", "call", "me", "now", "later",
         "home", "tonight", "cash", "claim", "text", "you", "i", "will"]  # fmt: skip
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ing", "!", "?", "."]
TEXTS = [
    "free cash prize now!",
    "i will call you later",
    "win a prize, text claim now",
    "home tonight?",
    "the spam will win",
    "call me",
    "you will text me later tonight.",
    "unknown words here",
]
SPAMMY = [0, 1, 0, 1, 0, 1, 1, 1]  # class 0 ("spam") for the prize-and-cash texts


def tiny_config(n_labels: int = 2) -> BertConfig:
    return BertConfig(
        vocab_size=len(VOCAB), d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=40,
        n_labels=n_labels,
    )  # fmt: skip


def tiny_classifier(labels: tuple[str, ...] = ("spam", "ham"), seed: int = 0) -> TextClassifier:
    """A randomly initialised classifier (texts cut at 24 tokens)."""
    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_config(len(labels))).eval()
    return TextClassifier(model, WordPiece(VOCAB), labels, SentenceEncoderConfig(max_len=24))


def save_tiny_classifier(directory: Path, seed: int = 0) -> Path:
    """:func:`tiny_classifier` saved as a classifier folder."""
    return tiny_classifier(seed=seed).save(directory)
