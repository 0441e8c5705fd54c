"""Special tokens: strings such as ``"<|endoftext|>"`` or ``"<pad>"`` that are never split.

A tokeniser first cuts its input at every occurrence of a special token, encodes the
text in between as usual, and gives each special token its own single id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class SpecialTokenSplitter:
    """Cut text at special tokens.

    Args:
        tokens: the special tokens; each must be a non-empty string, listed once.

    Raises:
        ValueError: naming the offending token.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: tuple[str, ...] = tuple(tokens)
        seen: set[str] = set()
        for token in self.tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
            if token in seen:
                raise ValueError(f"special token {token!r} is listed twice; list each once")
            seen.add(token)
        # Longest first, so "<|end|>" wins over a shorter special token such as "<|".
        longest_first = sorted(self.tokens, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(token) for token in longest_first))
            if self.tokens
            else None
        )

    def split(self, text: str) -> list[tuple[str, bool]]:
        """Return ``(chunk, is_special)`` pairs covering ``text`` in order.

        Empty stretches between special tokens are left out, so joining the chunks
        gives ``text`` back.
        """
        if self._pattern is None:
            return [(text, False)] if text else []
        chunks: list[tuple[str, bool]] = []
        start = 0
        for match in self._pattern.finditer(text):
            if match.start() > start:
                chunks.append((text[start : match.start()], False))
            chunks.append((match.group(0), True))
            start = match.end()
        if start < len(text):
            chunks.append((text[start:], False))
        return chunks
