"""A reversible map from the 256 byte values to 256 printable Unicode characters.

Byte-level BPE works on bytes, but vocabulary files (GPT-2's ``vocab.json`` and
``merges.txt``) store tokens as text, one merge per line with a space between the two
parts. Raw bytes would put spaces, newlines and control characters into those files. So
every byte gets a stand-in character that is visible and is not whitespace:

* the 188 bytes that are already printable Latin-1 characters (``!`` to ``~``, ``¡`` to
  ``¬``, ``®`` to ``ÿ``) stand for themselves;
* the other 68 bytes (control characters, space, DEL, the non-breaking space and the
  soft hyphen) take the characters ``chr(256)``, ``chr(257)``, ... in byte order.

The space byte (32) is the 33rd non-printable byte, so it becomes ``chr(256 + 32) = "Ġ"``:
that is why GPT-2's tokens look like ``"Ġthe"``.
"""

from __future__ import annotations

from functools import lru_cache

# Byte values whose Latin-1 character is printable and not whitespace.
_PRINTABLE_RANGES: tuple[range, ...] = (
    range(ord("!"), ord("~") + 1),
    range(ord("¡"), ord("¬") + 1),
    range(ord("®"), ord("ÿ") + 1),
)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Return the map ``byte value (0..255) -> stand-in character``, in byte order.

    The result is the same on every call (and is the map GPT-2's files are written
    in), so a token string such as ``"Ġthe"`` can always be turned back into bytes.
    """
    printable = {b for block in _PRINTABLE_RANGES for b in block}
    mapping: dict[int, str] = {}
    n_shifted = 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + n_shifted)
            n_shifted += 1
    return mapping


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """The inverse of :func:`bytes_to_unicode`: stand-in character -> byte value."""
    return {char: byte for byte, char in bytes_to_unicode().items()}


def bytes_to_token_string(data: bytes) -> str:
    """Write ``data`` in the stand-in alphabet, e.g. ``b" the"`` -> ``"Ġthe"``."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


def token_string_to_bytes(token: str) -> bytes:
    """Turn a stand-in string back into bytes, e.g. ``"Ġthe"`` -> ``b" the"``.

    Raises:
        ValueError: if ``token`` contains a character outside the 256 stand-ins (such a
            string cannot come from bytes, so it is not a byte-level token).
    """
    table = unicode_to_bytes()
    try:
        return bytes(table[char] for char in token)
    except KeyError as error:
        raise ValueError(
            f"token {token!r} contains {error.args[0]!r}, which is not one of the 256 "
            "byte stand-in characters of bytes_to_unicode(); byte-level tokens are made "
            "only of those characters"
        ) from None
