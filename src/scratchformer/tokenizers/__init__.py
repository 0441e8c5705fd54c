"""Tokenisers: turning text into integer ids and back.

* :class:`CharTokenizer` — one id per character.
* :class:`ByteLevelBPE` — GPT-2's byte-level byte-pair encoding, trainable here and able
  to load GPT-2's ``vocab.json``/``merges.txt``.
* :class:`WordPiece` — BERT's tokeniser, reading BERT's ``vocab.txt``;
  :func:`load_wordpiece` and :func:`save_wordpiece` read and write a model folder's
  ``vocab.txt`` and ``tokenizer_config.json``.
* :func:`gpt2_tokenizer` — GPT-2's own tokeniser (a :class:`ByteLevelBPE` with OpenAI's files).

The building blocks of BPE training (:func:`count_pairs`, :func:`merge_pair`,
:func:`most_frequent_pair`, :func:`learn_merges`) and of byte-level tokens
(:func:`bytes_to_unicode`, :class:`RegexPreTokenizer`) are exported too, because
chapter 2 builds each of them in the open.
"""

from scratchformer.tokenizers.base import Tokenizer, TokenizerFileError
from scratchformer.tokenizers.bpe import BPETrainConfig, ByteLevelBPE
from scratchformer.tokenizers.bpe_train import (
    Merge,
    count_pairs,
    learn_merges,
    merge_pair,
    most_frequent_pair,
    word_counts_from_pieces,
)
from scratchformer.tokenizers.byte_unicode import bytes_to_unicode, unicode_to_bytes
from scratchformer.tokenizers.char import CharTokenizer
from scratchformer.tokenizers.gpt2 import END_OF_TEXT, END_OF_TEXT_ID, gpt2_tokenizer
from scratchformer.tokenizers.pretokenize import GPT2_PATTERN, RegexPreTokenizer
from scratchformer.tokenizers.wordpiece import BertInputs, Encoding, WordPiece, WordPieceConfig
from scratchformer.tokenizers.wordpiece_files import load_wordpiece, save_wordpiece

__all__ = [
    "END_OF_TEXT",
    "END_OF_TEXT_ID",
    "GPT2_PATTERN",
    "BPETrainConfig",
    "BertInputs",
    "ByteLevelBPE",
    "CharTokenizer",
    "Encoding",
    "Merge",
    "RegexPreTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "WordPiece",
    "WordPieceConfig",
    "bytes_to_unicode",
    "count_pairs",
    "gpt2_tokenizer",
    "learn_merges",
    "load_wordpiece",
    "merge_pair",
    "most_frequent_pair",
    "save_wordpiece",
    "unicode_to_bytes",
    "word_counts_from_pieces",
]
