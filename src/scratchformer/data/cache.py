"""Where fetched corpora live: a cache directory outside the repository.

``SCRATCHFORMER_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/scratchformer``
(usually ``~/.cache/scratchformer``).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "SCRATCHFORMER_CACHE"


def cache_dir() -> Path:
    """Return the cache root (not created here; fetchers create what they write).

    Raises:
        NotADirectoryError: if the chosen location exists but is a file, naming the
            environment variable it came from and the path (a fetcher would otherwise
            fail later with a bare "File exists" or "Not a directory").
    """
    override = os.environ.get(CACHE_ENV_VAR, "").strip()
    if override:
        root, origin = Path(override).expanduser(), f"{CACHE_ENV_VAR}={override!r}"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        root = base / "scratchformer"
        origin = f"XDG_CACHE_HOME={xdg!r}" if xdg else "the default location"
    blocked = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        what = "is a file" if blocked == root else f"lies inside the file {blocked}"
        raise NotADirectoryError(
            f"the cache directory {root} (from {origin}) {what}, not a directory. Point "
            f"{CACHE_ENV_VAR} at a directory (it is created if missing), e.g. "
            f"`export {CACHE_ENV_VAR}=~/.cache/scratchformer`, or move the file away."
        )
    return root
