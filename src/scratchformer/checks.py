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

import warnings
from collections.abc import Iterable, Mapping

import torch


def on_cpu(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor``'s values is free: on the CPU (no wait for an accelerator)
    and outside ``torch.compile`` (where a value read would split the compiled graph)."""
    return tensor.device.type == "cpu" and not torch.compiler.is_compiling()


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


def warn_if_a_row_is_all_padding(name: str, key_padding_mask: torch.Tensor | None) -> None:
    """Warn (on the CPU) when some row of ``key_padding_mask`` marks *every* key as padding.

    Such a row attends to nothing and its output is zeros. A batch almost never holds a
    sequence without a single real token, but an ``attention_mask`` (``True`` at real
    tokens) passed where a key padding mask belongs makes exactly that of the batch's
    longest sequence, so this turns the likeliest silent mistake into a loud one.
    """
    if key_padding_mask is None or not on_cpu(key_padding_mask) or key_padding_mask.dim() != 2:
        return
    empty = key_padding_mask.all(dim=1)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        warnings.warn(
            f"{name} marks every key of row(s) {rows} as padding, so they attend to nothing "
            "and their outputs are zeros. A key padding mask is True at padding, its inverse "
            "attention_mask (what pad_batch returns and BERT takes) True at real tokens: "
            "check which of the two you passed (~ turns one into the other).",
            stacklevel=3,
        )


def check_text(text: object, name: str = "text") -> str:
    """Return ``text`` if it is a string; otherwise raise a ``TypeError`` saying what to pass.

    Tokenisers call this first, so ``None`` is not read as empty text, bytes are not
    split into integers, and a list is not taken for one text.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        hint = f'; decode it first: {name}.decode("utf-8")'
    elif isinstance(text, (list, tuple)):
        hint = "; encode one text at a time: [tokenizer.encode(t) for t in texts]"
    elif text is None:
        hint = " (None is not empty text; pass '' for that)"
    else:
        hint = ""
    raise TypeError(f"{name} must be a str, got {type(text).__name__} {text!r:.60}{hint}")


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
        check_text(text, f"{name}[{i}]")
    return batch, False


__all__ = [
    "as_texts",
    "check_id_values",
    "check_input_dtype",
    "check_text",
    "check_token_ids",
    "on_cpu",
    "warn_if_a_row_is_all_padding",
]
