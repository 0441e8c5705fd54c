"""Training checkpoints that are never half-written.

A checkpoint is written to a temporary file next to its destination, flushed to disk and
then renamed over the destination in one step (``os.replace`` is atomic on POSIX and
Windows). A crash or a Ctrl-C while saving leaves the previous checkpoint intact, never a
truncated file that would lose the whole run. A process killed outright (``kill -9``, a
closed laptop lid, an out-of-memory kill) cannot remove its temporary file; the next save
to the same destination does (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from scratchformer.checkpoints import CheckpointError

# mkstemp's names: the prefix, eight characters from [a-z0-9_], the suffix.
_RANDOM_PART = r"[a-z0-9_]{8}"
_TEMPORARY_SUFFIX = ".tmp"


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporary files that an interrupted :func:`save_atomically` left for ``path``.

    Only files named exactly as :func:`save_atomically` names its temporaries for this
    destination (``.<name>.<8 random characters>.tmp``, in the same folder) are removed;
    nothing else in the folder is touched. Returns the paths removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(
        re.escape(_temporary_prefix(path)) + _RANDOM_PART + re.escape(_TEMPORARY_SUFFIX)
    )
    removed = []
    for candidate in path.parent.iterdir():
        if pattern.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def save_atomically(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save(state)`` to ``path`` so that ``path`` is always a complete checkpoint.

    Creates the parent directory if needed, and first removes temporaries of ``path``
    left behind by a process that was killed while saving. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(
        prefix=_temporary_prefix(path), suffix=_TEMPORARY_SUFFIX, dir=path.parent
    )
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
    """Read a checkpoint written by :func:`save_atomically` (tensors land on the CPU).

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        CheckpointError: if the file is empty, truncated or not a checkpoint at all
            (copied while being written, a disk that filled up, another format), naming
            the file and what to do about it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    remedy = "Delete it and train from the start, or put back an earlier good copy of it."
    if path.stat().st_size == 0:
        raise CheckpointError(f"the checkpoint {path} is empty (0 bytes). {remedy}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except PermissionError:
        raise
    except (EOFError, RuntimeError, OSError, ValueError, pickle.UnpicklingError) as error:
        raise CheckpointError(
            f"the checkpoint {path} is truncated or is not a PyTorch checkpoint "
            f"({type(error).__name__}: {error}). {remedy}"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"the checkpoint {path} holds a {type(state).__name__}, not the dict that "
            "save_atomically writes; a model saved whole with torch.save(model) is read "
            "with torch.load, not here."
        )
    return state


__all__ = ["read_checkpoint", "remove_stale_temporaries", "save_atomically"]
