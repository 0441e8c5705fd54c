"""The run profile: the one place that decides how big every experiment is.

Two profiles exist:

* ``quick`` — tiny sizes so that every notebook runs in seconds to a minute on two CPU
  cores. Tests and CI use it.
* ``full`` — the sizes the rendered book shows: real results on a laptop-class CPU.
  This is the default, so a reader who opens a chapter gets the real thing.

The profile is read from the environment variable ``SCRATCHFORMER_PROFILE``. Notebooks
never read it themselves; they call :func:`choose` so that each size is written once::

    n_merges = choose(quick=200, full=2_000)

A size may also name what the full profile uses on a CUDA GPU (Colab), where a larger
model trains in minutes: ``choose(quick=64, full=256, gpu=512)``. The device itself
comes from :func:`default_device`: CUDA, then Apple's MPS, then the CPU.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar

import torch

Profile = Literal["quick", "full"]
PROFILES: tuple[Profile, ...] = ("quick", "full")
ENV_VAR = "SCRATCHFORMER_PROFILE"
DEFAULT_PROFILE: Profile = "full"

T = TypeVar("T")


class UnknownProfileError(ValueError):
    """Raised when ``SCRATCHFORMER_PROFILE`` names a profile that does not exist."""


def get_profile() -> Profile:
    """Return the active run profile, ``"quick"`` or ``"full"``.

    Reads ``SCRATCHFORMER_PROFILE`` each time it is called (so a notebook can change it
    before importing a chapter's helpers). Surrounding whitespace and case are ignored.

    Raises:
        UnknownProfileError: if the variable holds anything else, with the valid names.
    """
    raw = os.environ.get(ENV_VAR, DEFAULT_PROFILE)
    name = raw.strip().lower()
    if name not in PROFILES:
        raise UnknownProfileError(
            f"{ENV_VAR}={raw!r} is not a known run profile. "
            f"Use one of: {', '.join(PROFILES)} (e.g. `export {ENV_VAR}=quick`), "
            f"or unset it to get the default ({DEFAULT_PROFILE!r})."
        )
    return name


_UNSET: object = object()


def choose(*, quick: T, full: T, gpu: T = _UNSET) -> T:  # type: ignore[assignment]
    """Pick the value for the active profile: ``choose(quick=2, full=6)``.

    Every size that depends on the profile goes through this function, so that a
    notebook states its sizes side by side and in one place. ``gpu``, when given, is
    the full profile's value on a machine with a CUDA GPU.
    """
    if get_profile() == "quick":
        return quick
    if gpu is not _UNSET and default_device().type == "cuda":
        return gpu
    return full


def default_device() -> torch.device:
    """The fastest device here: CUDA, then Apple's MPS, then the CPU.

    Chapters put their models there (``model.to(default_device())``); the training
    loops, decoding and evaluation then move every batch to the model's device.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_of(model: object) -> torch.device | None:
    """The device of ``model``'s parameters (``None`` if it has none): where the loops,
    decoding and evaluation put the tensors they give it."""
    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return None if first is None else first.device


def is_quick() -> bool:
    """``True`` when running in the quick (test/CI) profile."""
    return get_profile() == "quick"
