"""Input checks the models share: a clear error for each common wrong input, kept off an
accelerator's hot path.

A model's ``forward`` checks what costs nothing to check: the type, dtype and shape of its
inputs. Checking *values* (every id inside the vocabulary, a mask of only 0s and 1s) needs
the tensor's contents on the host. On the CPU that is one cheap reduction; on a GPU it makes
the host wait for the device at every training step and every generated token. So the
value checks run inside ``forward`` only for CPU tensors, and data bound for an accelerator
is checked where it enters: the training loops check their whole dataset once before the
first step, and generation checks its prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch


def on_cpu(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor``'s values is free (no wait for an accelerator)."""
    return tensor.device.type == "cpu"


def check_token_ids(name: str, ids: object, limit: int, what: str = "the vocabulary") -> None:
    """Raise a clear error unless ``ids`` is a non-empty integer tensor ``(batch, seq)``
    whose values (checked on the CPU only, see the module docstring) lie in ``[0, limit)``.

    Args:
        name: the argument's name, for the message (e.g. ``"input_ids"``).
        ids: what the caller passed.
        limit: one more than the largest valid id (the vocabulary size).
        what: what ``limit`` counts, for the message.
    """
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of token ids, shape (batch, seq), got "
            f"{type(ids).__name__}; make one with torch.tensor([ids]) (a batch of one) or "
            "pad a batch with scratchformer.batching.pad_batch."
        )
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer token ids, got dtype {ids.dtype}; ids come from a "
            "tokenizer (convert whole numbers with .long())."
        )
    if ids.dim() != 2:
        hint = "; add a batch axis with ids[None] for one sequence" if ids.dim() == 1 else ""
        raise ValueError(f"{name} must have shape (batch, seq), got {tuple(ids.shape)}{hint}.")
    if ids.shape[1] == 0:
        raise ValueError(f"{name} is empty (seq = 0); give at least one token.")
    if on_cpu(ids):
        check_id_values(name, ids, limit, what)


def check_id_values(name: str, ids: torch.Tensor, limit: int, what: str = "the vocabulary") -> None:
    """Raise unless every value of ``ids`` lies in ``[0, limit)``, naming the first bad one.

    Reads the values: on an accelerator, call it where data enters, not in a step.
    """
    if ids.numel() == 0:
        return
    bad = (ids < 0) | (ids >= limit)
    if bool(bad.any()):
        first = ids[bad][0].item()
        raise ValueError(
            f"{name} holds the id {first}, outside {what} [0, {limit}) (values from "
            f"{int(ids.min())} to {int(ids.max())}); was it made with another tokenizer, or "
            "does the model's config name a smaller vocabulary?"
        )


def check_input_dtype(name: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    """Raise unless the float input ``x`` has the dtype of the module's ``weight``.

    Under autocast (mixed precision) the dtypes differ by design, so nothing is checked.
    """
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{name} is {x.dtype} but the module's weights are {weight.dtype}; convert the "
            f"input with .to({weight.dtype}) or the module with .to({x.dtype})."
        )


def as_texts(texts: object, name: str = "texts") -> tuple[list[str], bool]:
    """``texts`` as a list of strings, and whether one string was given.

    The package's one rule for every API that takes texts: a single ``str`` is *one* text
    (and the answer has no batch axis), never a sequence of characters; a list, tuple or
    other iterable of strings is a batch. Anything else is a ``TypeError`` saying what was
    given and what to pass instead.
    """
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"{name} is bytes; decode it to a str first: {name}.decode('utf-8').")
    if texts is None or isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise TypeError(
            f"{name} must be a str (one text) or a list of str, got {type(texts).__name__}."
        )
    batch = list(texts)
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            hint = " (decode bytes with .decode('utf-8'))" if isinstance(text, bytes) else ""
            raise TypeError(f"{name}[{i}] is {type(text).__name__}, not a str{hint}.")
    return batch, False


__all__ = ["as_texts", "check_id_values", "check_input_dtype", "check_token_ids", "on_cpu"]
