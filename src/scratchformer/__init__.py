"""Scratchformer: the package behind the course *Transformers from Scratch*.

Each chapter of the book builds one piece in the open and then points at its home here,
so later chapters (and your own projects) can simply ``import scratchformer``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scratchformer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"


def report() -> str:
    """Print and return the versions that matter and the active run profile.

    Every chapter's set-up cell calls this, so a reader (or a bug report) shows at a
    glance what the notebook ran with.
    """
    import platform

    import torch

    from scratchformer.config import default_device, get_profile

    line = (
        f"scratchformer {__version__} | torch {torch.__version__} | device: {default_device()} | "
        f"python {platform.python_version()} | profile: {get_profile()}"
    )
    print(line)
    return line


__all__ = ["__version__", "report"]
