"""Complete models assembled from :mod:`scratchformer.layers`."""

from scratchformer.models.seq2seq import AttentionMaps, Seq2SeqConfig, Transformer

__all__ = ["AttentionMaps", "Seq2SeqConfig", "Transformer"]
