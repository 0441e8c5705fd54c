"""Every loop puts its tensors on the model's device, tested without a GPU.

The model is moved to PyTorch's ``meta`` device (tensors with shapes but no data), while
the data is made on the CPU as a reader's would be. A forward pre-hook records the device of
what the model is given and stops the run: if a loop forgot to move a batch, the hook sees
``cpu`` and the test fails, exactly as ``model.to("cuda")`` would fail in Colab.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from scratchformer.config import device_of
from scratchformer.generate import GenerationConfig, generate, greedy_search
from scratchformer.models.gpt2 import GPT2, GPT2Config
from scratchformer.models.seq2seq import Seq2SeqConfig, Transformer
from scratchformer.toy import ToyDataConfig, ToyTrainConfig, toy_model_config
from scratchformer.train import (
    FineTuneConfig,
    Seq2SeqTrainConfig,
    TrainConfig,
    fine_tune,
    train_lm,
    train_seq2seq,
    train_toy,
)
from tiny_bert import SPAMMY, TEXTS, tiny_classifier


class Reached(Exception):
    """Raised by the hook: the model was called, with inputs on ``devices``."""

    def __init__(self, devices: set[str]) -> None:
        super().__init__(devices)
        self.devices = devices


def first_call_devices(model: nn.Module, run: Callable[[], object]) -> set[str]:
    """The devices of the tensors ``model`` receives on its first call inside ``run``."""

    def hook(module: nn.Module, args: tuple[object, ...]) -> None:
        raise Reached({a.device.type for a in args if isinstance(a, torch.Tensor)})

    handle = model.register_forward_pre_hook(hook)
    try:
        with pytest.raises(Reached) as reached:
            run()
    finally:
        handle.remove()
    return reached.value.devices


def gpt() -> GPT2:
    return GPT2(GPT2Config(vocab_size=12, max_len=16, d_model=8, n_layers=1, n_heads=2)).to("meta")


def translator() -> Transformer:
    config = Seq2SeqConfig(src_vocab_size=12, tgt_vocab_size=12, max_len=16, d_model=8,
                           n_heads=2, d_ff=16, n_encoder_layers=1, n_decoder_layers=1)  # fmt: skip
    return Transformer(config).to("meta")


def test_device_of_names_the_parameters_device() -> None:
    assert device_of(gpt()) == torch.device("meta")
    assert device_of(nn.ReLU()) is None


def test_train_lm_moves_its_windows_to_the_model() -> None:
    model, ids = gpt(), torch.randint(0, 12, (200,))
    config = TrainConfig(steps=2, batch_size=2, block_size=8, eval_every=1, eval_batches=1)
    # train_lm calls GPT2.loss, not the module itself: the embedding is what receives the ids
    assert first_call_devices(model.wte, lambda: train_lm(model, ids, ids, config)) == {"meta"}


def test_train_seq2seq_moves_its_batches_to_the_model() -> None:
    model = translator()
    pairs = [([3, 4, 5], [1, 3, 4, 5, 2]), ([6, 7], [1, 6, 7, 2])]
    run = lambda: train_seq2seq(model, pairs, pairs, Seq2SeqTrainConfig(epochs=1))
    assert first_call_devices(model, run) == {"meta"}


def test_train_toy_moves_its_batches_to_the_model() -> None:
    data = ToyDataConfig()
    model = Transformer(toy_model_config(data)).to("meta")
    run = lambda: train_toy(model, ToyTrainConfig(data=data, steps=2, warmup=1))
    assert first_call_devices(model, run) == {"meta"}


def test_generation_moves_the_prompt_to_the_model() -> None:
    model = gpt()
    prompt = torch.tensor([[1, 2, 3]])
    run = lambda: generate(model, prompt, GenerationConfig(max_new_tokens=2))
    assert first_call_devices(model, run) == {"meta"}


def test_greedy_search_moves_the_source_to_the_model() -> None:
    model = translator()
    src = torch.tensor([[3, 4, 5]])
    run = lambda: greedy_search(model, src, 1, 2, 5)
    assert first_call_devices(model.encoder, run) == {"meta"}


def test_fine_tune_and_the_classifier_move_their_batches_to_the_model() -> None:
    classifier = tiny_classifier()
    model = classifier.model.to("meta")
    config = FineTuneConfig(epochs=1, batch_size=4, max_len=16)
    run = lambda: fine_tune(model, classifier.tokenizer, TEXTS, SPAMMY, config)
    assert first_call_devices(model, run) == {"meta"}
    assert first_call_devices(model.bert, lambda: classifier.run(TEXTS)) == {"meta"}
