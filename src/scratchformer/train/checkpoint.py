"""Training checkpoints that are never half-written.

A checkpoint is written to a temporary file next to its destination, flushed to disk and
then renamed over the destination in one step (``os.replace`` is atomic on POSIX and
Windows). A crash or a Ctrl-C while saving leaves the previous checkpoint intact, never a
truncated file that would lose the whole run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomically(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save(state)`` to ``path`` so that ``path`` is always a complete checkpoint.

    Creates the parent directory if needed. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomically` (tensors land on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    return torch.load(path, map_location="cpu", weights_only=False)


__all__ = ["read_checkpoint", "save_atomically"]
