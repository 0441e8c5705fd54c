"""Complete models assembled from :mod:`scratchformer.layers`."""

from scratchformer.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
)
from scratchformer.models.gpt2 import GPT2, GPT2_SIZES, GPT2Config, GPT2Output
from scratchformer.models.sentence_encoder import (
    SentenceEncoder,
    SentenceEncoderConfig,
    l2_normalize,
    mean_pool,
)
from scratchformer.models.seq2seq import AttentionMaps, Seq2SeqConfig, Transformer

__all__ = [
    "GPT2",
    "GPT2_SIZES",
    "AttentionMaps",
    "BertConfig",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertModel",
    "GPT2Config",
    "GPT2Output",
    "SentenceEncoder",
    "SentenceEncoderConfig",
    "Seq2SeqConfig",
    "Transformer",
    "l2_normalize",
    "mean_pool",
]
