"""Pre-tokenisation: cut text into word-like pieces before BPE merges bytes.

BPE never merges across a piece boundary, so a pre-tokeniser decides which merges are
possible at all: with GPT-2's rules, ``" the"`` can become one token but ``"e t"`` never
will. The pieces are simply consecutive substrings, so joining them gives the text back.

GPT-2's rule is one regular expression::

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

read left to right as: an English contraction suffix; an optional space and a run of
letters; an optional space and a run of digits/numerals; an optional space and a run
of anything else that is not whitespace; a run of whitespace that stops before the
last space in front of a word (so the word keeps its leading space); any remaining
whitespace.

Python's built-in ``re`` has no ``\\p{L}`` (Unicode letters) or ``\\p{N}`` (Unicode
numbers), and its ``\\s`` differs from Unicode's ``White_Space`` property on four control
characters (U+001C..U+001F). :class:`RegexPreTokenizer` therefore expands ``\\p{L}``,
``\\p{N}``, ``\\s`` and ``\\S`` into explicit character classes built from
:mod:`unicodedata` before compiling the pattern with ``re``. Any other pattern can be
plugged in, which makes the pre-tokeniser a replaceable component of the tokeniser.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

from scratchformer.checks import check_text

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Unicode's White_Space property (what the `regex` module and Oniguruma mean by \s).
_WHITE_SPACE: tuple[tuple[int, int], ...] = (
    (0x0009, 0x000D),
    (0x0020, 0x0020),
    (0x0085, 0x0085),
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)

# General categories that make up \p{L} (letters) and \p{N} (numbers).
_CATEGORY_GROUPS = {"L": ("Lu", "Ll", "Lt", "Lm", "Lo"), "N": ("Nd", "Nl", "No")}


def _escape(code_point: int) -> str:
    return f"\\U{code_point:08x}"


def _class_body(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a ``[...]`` class matching the given inclusive code-point ranges."""
    return "".join(_escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}" for lo, hi in ranges)


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, tuple[tuple[int, int], ...]]:
    """Inclusive code-point ranges of each group in ``_CATEGORY_GROUPS``, one pass over Unicode."""
    group_of = {cat: group for group, cats in _CATEGORY_GROUPS.items() for cat in cats}
    ranges: dict[str, list[list[int]]] = {group: [] for group in _CATEGORY_GROUPS}
    for code_point in range(sys.maxunicode + 1):
        group = group_of.get(unicodedata.category(chr(code_point)))
        if group is None:
            continue
        runs = ranges[group]
        if runs and runs[-1][1] == code_point - 1:
            runs[-1][1] = code_point
        else:
            runs.append([code_point, code_point])
    return {group: tuple((lo, hi) for lo, hi in runs) for group, runs in ranges.items()}


def _class_bodies() -> dict[str, str]:
    bodies = {f"p{{{group}}}": _class_body(r) for group, r in _category_ranges().items()}
    bodies["s"] = _class_body(_WHITE_SPACE)
    return bodies


def expand_unicode_classes(pattern: str) -> str:
    r"""Rewrite ``\p{L}``, ``\p{N}``, ``\s`` and ``\S`` as explicit classes Python's ``re`` accepts.

    Outside brackets ``\p{L}`` becomes ``[...]`` and ``\S`` becomes ``[^...]``; inside a
    bracket class the ranges are spliced in. Every other part of the pattern is kept.

    Raises:
        ValueError: for an unsupported property such as ``\p{Lu}``, or ``\S`` inside a
            bracket class (write the class the other way round, e.g. ``[^\s...]``).
    """
    bodies = _class_bodies()
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "p":
                match = re.match(r"p\{(\w+)\}", pattern[i + 1 :])
                key = f"p{{{match.group(1)}}}" if match else None
                if match is None or key not in bodies:
                    shown = match.group(0) if match else pattern[i : i + 4]
                    raise ValueError(
                        f"unsupported Unicode property \\{shown} in pre-tokeniser pattern; "
                        "only \\p{L} (letters) and \\p{N} (numbers) are supported"
                    )
                out.append(bodies[key] if in_class else f"[{bodies[key]}]")
                i += 1 + len(match.group(0))
                continue
            if nxt == "s":
                out.append(bodies["s"] if in_class else f"[{bodies['s']}]")
            elif nxt == "S":
                if in_class:
                    raise ValueError(
                        "\\S inside a [...] class is not supported by the pre-tokeniser; "
                        "use a negated class such as [^\\s...] instead"
                    )
                out.append(f"[^{bodies['s']}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            i += 1
            # A ']' right after '[' or '[^' is a literal, not the end of the class.
            for lead in ("^", "]"):
                if i < len(pattern) and pattern[i] == lead:
                    out.append(lead)
                    i += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=8)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(expand_unicode_classes(pattern))


class RegexPreTokenizer:
    r"""Split text into the consecutive matches of a regular expression.

    Args:
        pattern: a regular expression in Python ``re`` syntax, which may also use
            ``\p{L}`` and ``\p{N}``; every character of any text must be matched by some
            alternative (true for :data:`GPT2_PATTERN`), otherwise :meth:`split` raises
            instead of silently dropping text.

    Example:
        >>> RegexPreTokenizer().split("Hello, world!  It's")
        ['Hello', ',', ' world', '!', ' ', ' It', "'s"]
    """

    def __init__(self, pattern: str = GPT2_PATTERN) -> None:
        self.pattern = pattern
        self._regex = _compile(pattern)

    def split(self, text: str) -> list[str]:
        """Cut ``text`` into pieces; ``"".join(pieces) == text`` always holds.

        Raises:
            TypeError: if ``text`` is not a str.
            ValueError: if the pattern leaves some character of ``text`` unmatched.
        """
        pieces = [match.group(0) for match in self._regex.finditer(check_text(text))]
        if sum(map(len, pieces)) != len(text):
            raise ValueError(
                f"pre-tokeniser pattern {self.pattern!r} does not match every character "
                f"of the text {text[:40]!r}...; add an alternative that matches anything "
                "left over (GPT-2's pattern ends with \\s+ and [^\\s\\p{L}\\p{N}]+ for this)"
            )
        return pieces

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegexPreTokenizer) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"RegexPreTokenizer({self.pattern!r})"
