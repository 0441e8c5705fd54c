"""Structure every chapter notebook must have (its cells are executed by nbval)."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = (ROOT / "_toc.yml").read_text()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_table_of_contents(path):
    assert f"file: notebooks/{path.stem}\n" in TOC


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_configured_repository(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("# ")
    setup = _source(cells[1])
    assert cells[1]["cell_type"] == "code" and setup.startswith("# Set-up:")
    match = re.search(r'REPOSITORY = "([^"]+)"', setup)
    assert match and match.group(1) == CONFIG["repository"]["url"], (
        "the repository URL lives in _config.yml"
    )
    assert 'find_spec("scratchformer") is None' in setup and "scratchformer.report()" in setup
    # the reader chooses the run profile here, before anything reads it
    profile = setup.index('os.environ.setdefault("SCRATCHFORMER_PROFILE", "full")')
    assert profile < setup.index("import scratchformer")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_gated_exercises_and_agreement_checks(path):
    cells = _cells(path)
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    exercises = re.findall(r"```\{exercise\}", markdown)
    assert len(exercises) >= 3, "every chapter ends with at least three exercises"
    assert markdown.count("{solution-start}") == markdown.count("{solution-end}") >= len(exercises)
    assert re.search(r'assert check\("ch\d\d\.', code), "at least one auto-checked exercise"
    assert "assert_agrees(" in code, "the notebook proves it agrees with the package"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deterministic_outputs_are_pinned(path):
    pinned = [
        c for c in _cells(path) if "nbval-check-output" in c.get("metadata", {}).get("tags", [])
    ]
    assert len(pinned) >= 5, "tag the cells whose output is deterministic with nbval-check-output"
    assert all(c.get("outputs") for c in pinned), "a pinned cell was saved without its output"
    agreement = [c for c in _cells(path) if "assert_agrees(" in _source(c)]
    assert all(c in pinned for c in agreement), "agreement checks must be pinned cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_notebook_is_clean(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"saved error output in {path.name}"
        if cell["cell_type"] == "code" and _source(cell).rstrip().endswith(";"):
            pytest.fail(
                f"{path.name}: a trailing ';' does not hide output under nbval: use `_ = ...`"
            )


def test_repository_url_is_the_configured_one_everywhere():
    """The URL is set in _config.yml; any other mention must be the same URL."""
    url = CONFIG["repository"]["url"]
    for name in ["README.md", "CONTRIBUTING.md", *map(str, (ROOT / "book").glob("*.md"))]:
        text = (ROOT / name).read_text(encoding="utf-8")
        for found in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text):
            assert found == url, f"{name} mentions {found}, but _config.yml says {url}"
