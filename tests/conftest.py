"""Test-wide settings: offline Hub, a non-interactive plotting backend, the quick profile."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SCRATCHFORMER_PROFILE", "quick")
