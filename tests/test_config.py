import pytest
import torch

from scratchformer import config


def test_default_profile_is_full(monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert config.get_profile() == "full"
    assert config.choose(quick=1, full=2) == 2
    assert not config.is_quick()


@pytest.mark.parametrize("raw", ["quick", " QUICK ", "Quick"])
def test_quick_profile_is_read_leniently(monkeypatch, raw):
    monkeypatch.setenv(config.ENV_VAR, raw)
    assert config.get_profile() == "quick"
    assert config.choose(quick="small", full="big") == "small"


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "fast")
    with pytest.raises(config.UnknownProfileError, match=r"'fast'.*quick, full"):
        config.get_profile()
    with pytest.raises(config.UnknownProfileError):
        config.choose(quick=1, full=2)


def test_only_config_reads_the_profile_variable():
    """The profile is read in one place: no other module mentions the variable."""
    from pathlib import Path

    import scratchformer

    package = Path(scratchformer.__file__).parent
    readers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if config.ENV_VAR in path.read_text(encoding="utf-8")
    ]
    assert readers == ["config.py"]


def test_gpu_sizes_apply_to_the_full_profile_on_cuda_only(monkeypatch):
    monkeypatch.setenv(config.ENV_VAR, "full")
    monkeypatch.setattr(config, "default_device", lambda: torch.device("cuda"))
    assert config.choose(quick=1, full=2, gpu=3) == 3
    assert config.choose(quick=1, full=2) == 2  # no GPU size given: the full one
    monkeypatch.setattr(config, "default_device", lambda: torch.device("cpu"))
    assert config.choose(quick=1, full=2, gpu=3) == 2
    monkeypatch.setenv(config.ENV_VAR, "quick")
    monkeypatch.setattr(config, "default_device", lambda: torch.device("cuda"))
    assert config.choose(quick=1, full=2, gpu=3) == 1


def test_default_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert config.default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert config.default_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.default_device() == torch.device("cuda")
