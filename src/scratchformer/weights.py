"""Where pretrained weights come from: a local directory, or the Hugging Face Hub.

A pretrained model in Hugging Face's format is a folder with a ``config.json`` and a
``model.safetensors``. :func:`resolve_pretrained` turns what a reader types (a path, or a
Hub name such as ``"gpt2"``) into that folder: a local directory is checked and used as
it is; a Hub name is downloaded with ``huggingface_hub`` (into its cache) when the Hub can
be reached. Offline, the error says so and how to pass a local directory instead.

:func:`read_config` reads the folder's ``config.json`` (or any other JSON settings file,
such as a tokeniser's ``tokenizer_config.json``), with one kind of error for every model.
Reading the tensors and copying them into a model, strictly, is the job of
:mod:`scratchformer.checkpoints`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class HubUnreachableError(ConnectionError):
    """A model was asked for by its Hub name, but the Hugging Face Hub cannot be reached."""


def resolve_pretrained(path_or_name: str | Path, files: Sequence[str]) -> Path:
    """The local directory holding a pretrained model's ``files``.

    Args:
        path_or_name: a local directory, or a Hugging Face Hub model name such as
            ``"gpt2"`` or ``"openai-community/gpt2"`` (downloaded into the Hub's cache;
            needs internet access the first time).
        files: the file names the model needs, e.g. ``("config.json", "model.safetensors")``.

    Raises:
        FileNotFoundError: a local directory lacks some of ``files``, or a path that is
            clearly local (starts with ``.``, ``/`` or ``~``, or is an existing file) is
            not a directory.
        HubUnreachableError: a Hub name was given, but the Hub cannot be reached and the
            files are not in the local Hub cache.
        ValueError: the Hub has no model of that name.
    """
    path = Path(path_or_name).expanduser()
    if path.is_dir():
        return _check_directory(path, files, str(path))
    name = str(path_or_name)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(
            f"{name} is not a directory; pass a directory holding {', '.join(files)}, or a "
            "Hugging Face Hub model name such as 'gpt2'."
        )
    return _check_directory(Path(_download_from_hub(name, files)), files, f"Hub model {name!r}")


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON object in the settings file ``path`` (a ``config.json``, a
    ``tokenizer_config.json``, ...), as a dict.

    Raises:
        FileNotFoundError: there is no file ``path``.
        ValueError: the file is not valid UTF-8 JSON, or holds something other than a JSON
            object (a list, a number, ...).

    Both messages start with the path.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")  # noqa: TRY004
    return data


def _check_directory(directory: Path, files: Sequence[str], shown: str) -> Path:
    absent = [name for name in files if not (directory / name).is_file()]
    if absent:
        raise FileNotFoundError(
            f"{shown} is missing {', '.join(absent)}; a pretrained model needs {', '.join(files)}."
        )
    return directory


def _download_from_hub(name: str, files: Sequence[str]) -> str:
    """Download ``files`` of Hub model ``name`` (or find them in the Hub cache); their folder."""
    local_hint = (
        f"To use a local copy instead, download {', '.join(files)} of {name!r} on a machine "
        f"with internet access (e.g. `hf download {name} {' '.join(files)} --local-dir {name}`) "
        "and pass that directory's path."
    )
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise ImportError(
            f"loading {name!r} from the Hugging Face Hub needs the package huggingface_hub "
            f"(pip install huggingface_hub). {local_hint}"
        ) from None
    try:
        return huggingface_hub.snapshot_download(name, allow_patterns=list(files))
    except errors.RepositoryNotFoundError:
        raise ValueError(
            f"the Hugging Face Hub has no model named {name!r}; check the spelling, or pass "
            "a local directory."
        ) from None
    except (errors.LocalEntryNotFoundError, ConnectionError) as error:
        raise HubUnreachableError(
            f"cannot load {name!r}: the Hugging Face Hub is unreachable (no internet access, "
            "or HF_HUB_OFFLINE=1 is set) and the files are not in the local Hub cache. "
            f"{local_hint}"
        ) from error


def write_pretrained(
    directory: str | Path, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
) -> Path:
    """Write a pretrained model in Hugging Face's format: ``config`` as ``config.json`` and
    ``tensors`` as ``model.safetensors`` in ``directory`` (created if needed); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file({name: t.contiguous() for name, t in tensors.items()}, directory / WEIGHTS_FILE)
    return directory


__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "HubUnreachableError",
    "read_config",
    "resolve_pretrained",
    "write_pretrained",
]
