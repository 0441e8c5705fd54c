"""Every number the book's prose states comes from a cell (or is a cited fact, listed here).

The preface promises that each figure quoted in the text is printed by an executed cell, so
that it is true on every machine and after every change. A number typed into the prose goes
stale silently (the service of chapter 9 grew from "about 300 lines" to several times that).
This test reads each chapter's Markdown, leaves out code, mathematics, links and headings'
section numbers, and requires every number of two or more digits to appear in the same
notebook's code or committed outputs. Years and the few cited facts below are the exceptions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

# Numbers that no cell can print, each with the reason it may stand in the prose.
CITED: dict[str, dict[str, str]] = {
    "07_translation.ipynb": {"36.5": "the BLEU a published reference implementation reports"},
    "08_bert.ipynb": {"5,574": "the size of the Hub's copy, which the offline build cannot load"},
    "10_gpt2.ipynb": {"500": "the size of a download the offline build cannot make (in MB)"},
}

_NOT_PROSE = [
    re.compile(r"```.*?```", re.DOTALL),  # fenced code and directives' bodies
    re.compile(r"\$\$.*?\$\$", re.DOTALL),  # display mathematics
    re.compile(r"\$[^$\n]+\$"),  # inline mathematics
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"\{[a-z-]+\}"),  # MyST roles
    re.compile(r"<[^>]+>"),  # HTML tags
    re.compile(r"^#+\s+[\d.]+", re.MULTILINE),  # headings' section numbers
    re.compile(r"\bsection [\d.]+"),  # references to them
]
_NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?![\w])")
_YEAR = re.compile(r"(19|20)\d\d")


def stated_numbers(markdown: str) -> list[str]:
    """The numbers of two or more digits in ``markdown``'s prose (not years)."""
    for pattern in _NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    numbers = (match.group(1).rstrip(",") for match in _NUMBER.finditer(markdown))
    return [n for n in numbers if sum(c.isdigit() for c in n) >= 2 and not _YEAR.fullmatch(n)]


def cells_text(notebook: dict) -> str:
    """Every code cell's source and committed outputs, numbers written without separators too."""
    parts = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    text = "\n".join(parts)
    return text + "\n" + re.sub(r"(?<=\d)[_,](?=\d)", "", text)


def unprinted(notebook: dict, cited: dict[str, str]) -> list[str]:
    """The numbers ``notebook``'s prose states that no cell prints and ``cited`` does not list."""
    text = cells_text(notebook)
    return [
        number
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
        for number in stated_numbers("".join(cell["source"]))
        if number not in cited and number not in text and number.replace(",", "") not in text
    ]


def test_the_checker_sees_a_typed_number_and_accepts_printed_and_cited_ones() -> None:
    prose = "We train on 12,000 pairs (`x = 99`), $d = 64$, in 2017; 6,250 rows, 4,321 typed, 36.5 cited."
    notebook = {"cells": [
        {"cell_type": "markdown", "source": [prose]},
        {"cell_type": "code", "source": ["n = 12_000\n"],
         "outputs": [{"output_type": "stream", "text": ["6,250 rows\n"]}]},
    ]}  # fmt: skip
    assert stated_numbers(prose) == ["12,000", "6,250", "4,321", "36.5"]
    assert unprinted(notebook, {"36.5": "a published figure"}) == ["4,321"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_numbers_in_prose_are_printed_by_a_cell(path: Path) -> None:
    typed = unprinted(json.loads(path.read_text(encoding="utf-8")), CITED.get(path.name, {}))
    assert not typed, (
        f"{path.name} states {typed} in its prose, but no cell prints them: compute them in a "
        "cell and write 'the cell above prints ...', or (for a cited fact) add them to CITED "
        "with the reason."
    )
