"""Loading published checkpoints into our modules, strictly.

A checkpoint is a dict of named tensors (a safetensors file, for instance). Its names
are the publisher's; our modules name their parameters their own way, and sometimes
store one tensor where the checkpoint has several (our attention keeps the query, key and
value projections in one ``in_proj``). A table of :class:`TensorRule` s says how each of
our tensors is made from the checkpoint's.

Loading is **strict**: every tensor the rules ask for must be in the checkpoint with the
expected shape, and the checkpoint may hold nothing else (apart from names declared
``optional``). Anything else raises one :class:`CheckpointError` listing every missing
key, unexpected key and shape mismatch, in the checkpoint's own names, so a wrong file or
a wrong config is found at once instead of a model that silently computes nonsense.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

_LIST_LIMIT = 20


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not match the model; the message says how."""


@dataclass(frozen=True)
class TensorRule:
    """How one of our tensors is made from checkpoint tensors.

    Attributes:
        ours: our name (a key of ``module.state_dict()``), e.g.
            ``"encoder.layers.0.norm1.weight"``.
        theirs: the checkpoint name(s); one name may be given as a plain string (it is
            stored as a 1-tuple). With several, the tensors are concatenated along
            dimension 0 in this order (e.g. query, key, value -> our fused ``in_proj``);
            each must then have ``1 / len(theirs)`` of our rows.
        transpose: each checkpoint tensor is stored transposed (2-D only), as in layers
            that keep their weight as ``(in, out)`` rather than ``(out, in)``.

    Names may contain ``{i}``, a layer index filled in by :func:`expand_layers`.
    """

    ours: str
    theirs: tuple[str, ...]
    transpose: bool = False

    def __init__(self, ours: str, theirs: str | Sequence[str], transpose: bool = False) -> None:
        names = (theirs,) if isinstance(theirs, str) else tuple(theirs)
        if not names:
            raise ValueError(f"rule for {ours!r} names no checkpoint tensor")
        object.__setattr__(self, "ours", ours)
        object.__setattr__(self, "theirs", names)
        object.__setattr__(self, "transpose", transpose)

    def format(self, **fields: object) -> TensorRule:
        """The rule with ``{name}`` fields (e.g. ``i=3``) filled in on both sides."""
        return TensorRule(
            self.ours.format(**fields),
            tuple(t.format(**fields) for t in self.theirs),
            self.transpose,
        )

    def with_prefix(self, ours: str = "", theirs: str = "") -> TensorRule:
        """The rule with ``ours`` prepended to our name and ``theirs`` to each checkpoint name
        (e.g. ``"bert."`` on both sides when the model sits inside a task model)."""
        return TensorRule(ours + self.ours, tuple(theirs + t for t in self.theirs), self.transpose)

    def checkpoint_shapes(self, our_shape: torch.Size) -> list[tuple[int, ...]]:
        """The shapes the checkpoint tensors must have for us to build ``our_shape``."""
        parts = len(self.theirs)
        if parts > 1 and (not our_shape or our_shape[0] % parts):
            raise ValueError(
                f"rule for {self.ours!r}: {parts} checkpoint tensors cannot split our "
                f"shape {tuple(our_shape)} evenly along dimension 0"
            )
        shape = (our_shape[0] // parts, *our_shape[1:]) if our_shape else ()
        if self.transpose:
            if len(shape) != 2:
                raise ValueError(f"rule for {self.ours!r}: only 2-D tensors can be transposed")
            shape = shape[::-1]
        return [tuple(shape)] * parts

    def build(self, checkpoint: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Our tensor, from the checkpoint tensors this rule names."""
        tensors = [checkpoint[name] for name in self.theirs]
        if self.transpose:
            tensors = [t.t() for t in tensors]
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)

    def split(self, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`build`: checkpoint name -> tensor, cut from our ``tensor``.

        Each part is a fresh contiguous copy (a safetensors file may not hold two
        tensors that share memory).
        """
        parts = tensor.detach().chunk(len(self.theirs), dim=0)
        return {
            name: (part.t() if self.transpose else part).contiguous().clone()
            for name, part in zip(self.theirs, parts)
        }


def expand_layers(rules: Iterable[TensorRule], n_layers: int) -> list[TensorRule]:
    """Rules with an ``{i}`` in them repeated for layers ``0 .. n_layers - 1``; others kept once."""
    expanded: list[TensorRule] = []
    for rule in rules:
        if "{i}" in rule.ours:
            expanded += [rule.format(i=i) for i in range(n_layers)]
        else:
            expanded.append(rule)
    return expanded


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` file, on the CPU.

    Raises:
        CheckpointError: if the file is missing, is a folder, is empty, or is not a valid
            safetensors file (truncated download, another format), naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass the .safetensors file inside it")
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    remedy = "delete it and download (or save) it again"
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted download; {remedy}")
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as error:
        raise CheckpointError(
            f"{path}: not a valid safetensors file ({error}); a truncated download or a "
            f"file in another format (e.g. a PyTorch .bin) gives this; {remedy}"
        ) from None


def _unique_state(module: nn.Module) -> tuple[dict[str, torch.Size], dict[str, str]]:
    """Shapes of the module's distinct tensors, and ``alias -> name`` for shared ones
    (a tied weight appears in ``state_dict`` under each of its names)."""
    shapes: dict[str, torch.Size] = {}
    aliases: dict[str, str] = {}
    first_name: dict[int, str] = {}
    for name, tensor in module.state_dict(keep_vars=True).items():
        key = id(tensor)
        if key in first_name:
            aliases[name] = first_name[key]
        else:
            first_name[key] = name
            shapes[name] = tensor.shape
    return shapes, aliases


def _listing(title: str, items: Sequence[str]) -> str:
    shown = "\n".join(f"    {item}" for item in items[:_LIST_LIMIT])
    more = f"\n    ... and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
    return f"  {title} ({len(items)}):\n{shown}{more}"


def convert_checkpoint(
    checkpoint: Mapping[str, torch.Tensor],
    rules: Sequence[TensorRule],
    shapes: Mapping[str, torch.Size],
    *,
    optional: Collection[str] = (),
    source: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """Our state dict, built from ``checkpoint`` by ``rules``, after checking everything.

    Args:
        checkpoint: checkpoint name -> tensor.
        rules: one rule per name of ``shapes``.
        shapes: our name -> the shape we need.
        optional: checkpoint names that may be present and are then ignored (constant
            buffers such as ``position_ids``, copies of tied weights).
        source: how the error message names the checkpoint (e.g. its path).

    Raises:
        CheckpointError: listing every checkpoint name that is missing, unexpected, or has
            the wrong shape (with the checkpoint's shape and the expected one).
        ValueError: if the rules themselves do not cover ``shapes`` exactly (a bug in the
            table, not in the file).
    """
    by_ours = {rule.ours: rule for rule in rules}
    uncovered = sorted(set(shapes) - set(by_ours))
    unknown = sorted(set(by_ours) - set(shapes))
    if uncovered or unknown or len(by_ours) != len(rules):
        raise ValueError(
            "the conversion rules do not match the model: "
            f"no rule for {uncovered}, rules for unknown tensors {unknown}"
            + (", and some tensor has two rules" if len(by_ours) != len(rules) else "")
        )
    expected: dict[str, tuple[int, ...]] = {}
    for rule in rules:
        for name, shape in zip(rule.theirs, rule.checkpoint_shapes(shapes[rule.ours])):
            if name in expected:
                raise ValueError(f"checkpoint tensor {name!r} is used by two rules")
            expected[name] = shape
    missing = [name for name in expected if name not in checkpoint]
    unexpected = sorted(
        name for name in checkpoint if name not in expected and name not in optional
    )
    mismatched = [
        f"{name}: checkpoint has {tuple(checkpoint[name].shape)}, the model expects {shape}"
        for name, shape in expected.items()
        if name in checkpoint and tuple(checkpoint[name].shape) != shape
    ]
    problems = [
        _listing(title, items)
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if items
    ]
    if problems:
        raise CheckpointError(
            f"{source} does not match the model:\n" + "\n".join(problems) + "\n"
            "Check that the checkpoint is for this architecture and that the config "
            "(sizes, number of layers) is the checkpoint's own."
        )
    return {rule.ours: rule.build(checkpoint) for rule in rules}


def load_checkpoint(
    module: nn.Module,
    checkpoint: Mapping[str, torch.Tensor],
    rules: Sequence[TensorRule] | None = None,
    *,
    optional: Collection[str] = (),
    source: str = "checkpoint",
) -> None:
    """Fill ``module``'s parameters and buffers from ``checkpoint``, strictly.

    ``rules=None`` means the checkpoint uses our names (a ``state_dict`` of the same
    class, tied weights under any of their names). Tensors are copied into the module's
    own (keeping its dtype and device). A tied weight (one tensor under several names)
    needs a rule for its first name only.

    Raises:
        TypeError: if ``checkpoint`` is a file path or holds something other than tensors
            (a whole training checkpoint, say); the message says what to pass instead.
        CheckpointError: as :func:`convert_checkpoint`; the module is left unchanged.
    """
    _check_tensor_mapping(checkpoint, source)
    shapes, aliases = _unique_state(module)
    if rules is None:  # our own names: a tied weight may also be saved under its aliases
        rules = [TensorRule(name, (name,)) for name in shapes]
        optional = {*optional, *aliases}
    state = convert_checkpoint(checkpoint, rules, shapes, optional=optional, source=source)
    state.update({alias: state[name] for alias, name in aliases.items()})
    module.load_state_dict(state, strict=True)


def _check_tensor_mapping(checkpoint: object, source: str) -> None:
    """Refuse what is not a dict of tensors before it turns into a list of missing keys."""
    if isinstance(checkpoint, (str, Path)):
        raise TypeError(
            f"load_checkpoint takes the tensors (a dict name -> tensor), not the path "
            f"{str(checkpoint)!r}; use load_safetensors(module, path) for a .safetensors "
            "file, or read_checkpoint(path)['model'] for a training checkpoint."
        )
    if not isinstance(checkpoint, Mapping):
        raise TypeError(
            f"{source} must be a dict name -> tensor (a state dict), got "
            f"{type(checkpoint).__name__}."
        )
    not_tensors = [name for name, value in checkpoint.items() if not torch.is_tensor(value)]
    if not_tensors:
        hint = (
            f"; it looks like a whole training checkpoint: pass its {'model'!r} entry"
            if isinstance(checkpoint.get("model"), Mapping)
            else ""
        )
        raise TypeError(
            f"{source} must map names to tensors, but {', '.join(map(repr, not_tensors[:5]))}"
            f"{' ...' if len(not_tensors) > 5 else ''} hold other values{hint}."
        )


def export_checkpoint(module: nn.Module, rules: Sequence[TensorRule]) -> dict[str, torch.Tensor]:
    """``module``'s tensors under the checkpoint's names: the inverse of :func:`load_checkpoint`.

    Every rule's checkpoint tensors are cut from our tensor (see :meth:`TensorRule.split`);
    loading the result with the same rules gives the module's tensors back exactly.
    """
    state = module.state_dict()
    return {name: t for rule in rules for name, t in rule.split(state[rule.ours]).items()}


def load_safetensors(
    module: nn.Module,
    path: str | Path,
    rules: Sequence[TensorRule] | None = None,
    *,
    optional: Collection[str] = (),
) -> None:
    """:func:`read_safetensors` then :func:`load_checkpoint`, naming ``path`` in errors."""
    load_checkpoint(module, read_safetensors(path), rules, optional=optional, source=str(path))


__all__ = [
    "CheckpointError",
    "TensorRule",
    "convert_checkpoint",
    "expand_layers",
    "export_checkpoint",
    "load_checkpoint",
    "load_safetensors",
    "read_safetensors",
]
