"""Reading and writing BERT's tokeniser files: ``vocab.txt`` and ``tokenizer_config.json``.

A Hugging Face BERT folder keeps its tokeniser in two files:

* ``vocab.txt``: one token per line, the line number is the id (read by
  :meth:`WordPiece.from_file <scratchformer.tokenizers.wordpiece.WordPiece.from_file>`);
* ``tokenizer_config.json``: casing, accent stripping, CJK splitting and the special
  tokens, under Hugging Face's key names, and the longest
  input as ``model_max_length``. It is optional: without it, uncased BERT's defaults hold.

:func:`load_wordpiece` and :func:`save_wordpiece` read and write both, so that
``transformers``' ``BertTokenizer`` and we read the same tokeniser from one folder.
JSON files are read with :func:`scratchformer.weights.read_config`, whose errors name the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scratchformer.tokenizers.wordpiece import VOCAB_FILE, WordPiece, WordPieceConfig
from scratchformer.weights import read_config

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# tokenizer_config.json key -> WordPieceConfig field (Hugging Face's names).
_HF_TOKENIZER_KEYS: dict[str, str] = {
    "do_lower_case": "lowercase",
    "strip_accents": "strip_accents",
    "tokenize_chinese_chars": "split_cjk",
    "unk_token": "unk",
    "sep_token": "sep",
    "pad_token": "pad",
    "cls_token": "cls",
    "mask_token": "mask",
}


def load_wordpiece(directory: str | Path) -> WordPiece:
    """The tokeniser of a Hugging Face BERT folder: ``vocab.txt``, with casing and special
    tokens from ``tokenizer_config.json`` when it has one (uncased BERT's defaults otherwise)."""
    directory = Path(directory)
    settings = optional_json(directory / TOKENIZER_CONFIG_FILE)
    options = {
        field: settings[key]
        for key, field in _HF_TOKENIZER_KEYS.items()
        if isinstance(settings.get(key), (str, bool))
    }
    return WordPiece.from_file(directory / VOCAB_FILE, WordPieceConfig(**options))


def save_wordpiece(tokenizer: WordPiece, directory: str | Path, max_len: int) -> None:
    """Write ``vocab.txt`` and ``tokenizer_config.json`` (``max_len`` as
    ``model_max_length``) so that :func:`load_wordpiece` and ``transformers``'
    ``BertTokenizer`` read the same tokeniser back."""
    directory = Path(directory)
    vocab = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    (directory / VOCAB_FILE).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    settings: dict[str, Any] = {
        key: getattr(tokenizer.config, field) for key, field in _HF_TOKENIZER_KEYS.items()
    }
    settings.update(tokenizer_class="BertTokenizer", model_max_length=max_len)
    (directory / TOKENIZER_CONFIG_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")


def optional_json(path: Path) -> dict[str, Any]:
    """The JSON object in the settings file ``path``, or ``{}`` if there is no such file
    (the optional files of a model folder: ``tokenizer_config.json``, ``training.json``, ...).

    Raises:
        ValueError: naming the file, if it is not valid JSON or not a JSON object.
    """
    return read_config(path) if path.is_file() else {}


__all__ = [
    "TOKENIZER_CONFIG_FILE",
    "load_wordpiece",
    "optional_json",
    "save_wordpiece",
]
