"""Where fetched corpora live: a cache directory outside the repository.

``SCRATCHFORMER_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/scratchformer``
(usually ``~/.cache/scratchformer``).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "SCRATCHFORMER_CACHE"


def cache_dir() -> Path:
    """Return the cache root (not created here; fetchers create what they write)."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "scratchformer"
