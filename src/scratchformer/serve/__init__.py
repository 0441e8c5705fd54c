"""BERT as a service: a fine-tuned classifier and its sentence embeddings over HTTP, with
dynamic batching.

* :mod:`~scratchformer.serve.batching` — :class:`DynamicBatcher` and the batching rule
  :func:`group_into_batches`;
* :mod:`~scratchformer.serve.server` — :class:`EmbeddingServer` (``/encode``,
  ``/classify``, ``/health``) and its :class:`ServiceConfig`;
* :mod:`~scratchformer.serve.client` — :class:`Client` and :class:`ServiceError`;
* :mod:`~scratchformer.serve.load` — load tests and latency percentiles;
* :mod:`~scratchformer.serve.process` — the service as a child process.

The model is a :class:`~scratchformer.classify.TextClassifier` folder. Run it with
``python -m scratchformer.serve [--model DIR] --port N`` (default: the fine-tuned spam
classifier chapter 8 saves in the cache for the current run profile, :func:`scratchformer.classify.model_dir`).
Only the standard library is used for HTTP; it binds to loopback unless told otherwise.
"""

from scratchformer.serve.batching import (
    BatcherClosedError,
    BatcherStats,
    BatchingConfig,
    DynamicBatcher,
    group_into_batches,
)
from scratchformer.serve.client import Client, ServiceError
from scratchformer.serve.load import (
    BatchingRow,
    LoadConfig,
    LoadResult,
    compare_batching,
    format_batching_table,
    percentile,
    run_load,
)
from scratchformer.serve.process import ServiceProcess, free_port
from scratchformer.serve.server import (
    EmbeddingServer,
    RequestError,
    ServiceConfig,
    allowed_methods,
    parse_texts,
)

__all__ = [
    "BatcherClosedError",
    "BatcherStats",
    "BatchingConfig",
    "BatchingRow",
    "Client",
    "DynamicBatcher",
    "EmbeddingServer",
    "LoadConfig",
    "LoadResult",
    "RequestError",
    "ServiceConfig",
    "ServiceError",
    "ServiceProcess",
    "allowed_methods",
    "compare_batching",
    "format_batching_table",
    "free_port",
    "group_into_batches",
    "parse_texts",
    "percentile",
    "run_load",
]
