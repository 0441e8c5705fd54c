"""Test-wide settings: offline Hub, the quick profile, one thread per test worker.

The notebooks' kernels inherit this environment. ``make test`` runs two pytest workers on
two cores; a second torch thread per worker would only spin against the other worker
(measured: a small layer's forward+backward goes from 0.35 ms to 5–50 ms).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from scratchformer.classify import TextClassifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHFORMER_PROFILE", "quick")


# -- the service tests' classifier (test_serve.py, test_serve_hostile.py) -------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random classifier (tests/tiny_bert.py) saved as a folder, as chapter 8 saves one."""
    from tiny_bert import save_tiny_classifier

    return save_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-spam")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> TextClassifier:
    """That classifier loaded, for comparing the service's answers with direct calls."""
    from scratchformer.classify import TextClassifier

    return TextClassifier.load(model_dir)
