"""Sphinx extension: serve MathJax from the built site instead of a CDN.

MathJax 3 is fetched once from PyPI (``django-static-mathjax``, which ships the MathJax
distribution) into the scratchformer cache, and copied into the build output under
``_static/mathjax`` after the build. Pages then render math with no network at all —
offline, in the headless-browser check, and on the published site alike.

It is copied into the *output* rather than the source ``_static/`` because Jupyter Book
injects every ``.js`` file of the source ``_static/`` into every page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

from scratchformer.data.cache import cache_dir
from scratchformer.data.sources import extract_members, install_atomically, pip_download

MATHJAX_REQUIREMENT = "django-static-mathjax==3.2.2.1"
MATHJAX_PREFIX = "mathjax/static/mathjax/es5/"
ENTRY_POINT = "tex-mml-chtml.js"


def mathjax_dir() -> Path:
    """The cached MathJax ``es5`` folder, fetched on first use."""
    target = cache_dir() / "mathjax-es5"
    if not (target / ENTRY_POINT).is_file():

        def build(staging: Path) -> None:
            archive = pip_download(MATHJAX_REQUIREMENT, staging)
            extract_members(archive, MATHJAX_PREFIX, staging)
            archive.unlink()

        install_atomically(target, build)
    return target


def _configure(app: Sphinx, config: Config) -> None:
    mathjax_dir()
    config.mathjax_path = f"mathjax/{ENTRY_POINT}"


def _copy_into_output(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(mathjax_dir(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _configure)
    app.connect("build-finished", _copy_into_output)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
