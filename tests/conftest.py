"""Test-wide settings: offline Hub, the quick profile, one thread per test worker.

The notebooks' kernels inherit this environment. ``make test`` runs two pytest workers on
two cores; a second torch thread per worker would only spin against the other worker
(measured: a small layer's forward+backward goes from 0.35 ms to 5–50 ms).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHFORMER_PROFILE", "quick")
