"""scratchformer.weights: the one reader of config files, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchformer.weights import read_config


def test_read_config_returns_the_json_object(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 8, "id2label": {"0": "ham"}}', encoding="utf-8")
    assert read_config(path) == {"hidden_size": 8, "id2label": {"0": "ham"}}
    assert read_config(str(path)) == read_config(path)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, FileNotFoundError, r"config\.json: file not found"),
        (b'{"hidden_size": 8,', ValueError, r"config\.json: not valid JSON \(Expecting"),
        (b"\xff\xfe{}", ValueError, r"config\.json: not valid JSON \('utf-8' codec"),
        (b"[1, 2]", ValueError, r"config\.json: expected a JSON object, got list"),
        (b"3", ValueError, r"config\.json: expected a JSON object, got int"),
    ],
)
def test_read_config_errors_name_the_file(
    tmp_path: Path, content: bytes | None, error: type[Exception], message: str
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message) as caught:
        read_config(path)
    assert str(caught.value).startswith(str(path))
