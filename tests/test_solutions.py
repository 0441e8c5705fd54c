"""The solution convention: a chapter's solutions are hidden in the notebook too, and never
overwrite the reader's own function on *Run all*.

A solution code cell is a code cell between a ``{solution-start}`` and a ``{solution-end}``
Markdown fence. Each one is collapsed in JupyterLab and Notebook 7 (metadata
``jupyter.source_hidden``), shown as a form with only its title in Colab (``cellView:
"form"`` and a first line ``# @title ...``), and defines no top-level name that its
exercise's stub cells (the code cells between ``{exercise}`` and ``{solution-start}``)
define: a solution writes ``<name>_solution``, not ``<name>``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FENCES = re.compile(r"\{(exercise|solution-start|solution-end)\}")


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at top level: functions, classes and assignment targets
    (IPython ``%magic`` and ``!shell`` lines ignored)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    names: set[str] = set()
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        targets = {
            ast.Assign: lambda n: n.targets,
            ast.AnnAssign: lambda n: [n.target],
            ast.AugAssign: lambda n: [n.target],
        }.get(type(node))
        for target in targets(node) if targets else []:
            names.update(
                leaf.id
                for leaf in ast.walk(target)
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store)
            )
    return names


def solution_problems(cells: list[dict]) -> list[str]:
    """Every way the solution code cells of a notebook break the convention, one line each."""
    problems: list[str] = []
    state, stub_names = "outside", set()
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            for fence in FENCES.findall(source):  # in the order they appear
                if fence == "exercise":
                    state, stub_names = "stub", set()
                else:
                    state = "solution" if fence == "solution-start" else "outside"
            continue
        if cell["cell_type"] != "code" or state == "outside":
            continue
        if state == "stub":
            stub_names |= defined_names(source)
            continue
        where = f"cell {index} ({cell.get('id')})"
        metadata = cell.get("metadata", {})
        if metadata.get("jupyter", {}).get("source_hidden") is not True:
            problems.append(f"{where}: metadata jupyter.source_hidden is not true")
        if metadata.get("cellView") != "form":
            problems.append(f'{where}: metadata cellView is not "form"')
        if not source.startswith("# @title"):
            problems.append(f"{where}: the first line does not start with '# @title'")
        if clobbered := sorted(defined_names(source) & stub_names):
            problems.append(
                f"{where}: redefines the reader's {clobbered} (name it <name>_solution)"
            )
    return problems


def _cell(cell_type: str, source: str, **metadata: object) -> dict:
    return {"cell_type": cell_type, "source": source, "metadata": metadata}


HIDDEN = {"jupyter": {"source_hidden": True}, "cellView": "form"}
EXERCISE = [
    _cell("markdown", "```{exercise} Squares\n:label: ex\nWrite `square(x)`.\n```"),
    _cell("code", "def square(x):\n    ...  # your code here\n"),
    _cell("markdown", "```{solution-start} ex\n:class: dropdown\n```"),
]
END = [_cell("markdown", "```{solution-end}\n```"), _cell("code", "square = 3\n")]


def test_a_hidden_solution_with_its_own_name_follows_the_convention() -> None:
    solution = "# @title Solution (double-click to show the code)\ndef square_solution(x):\n"
    cells = [*EXERCISE, _cell("code", solution + "    return x * x\n", **HIDDEN), *END]
    assert solution_problems(cells) == []


def test_a_visible_solution_that_overwrites_the_stub_breaks_it() -> None:
    cells = [*EXERCISE, _cell("code", "def square(x):\n    return x * x\nsquare, y = 1, 2\n"), *END]
    assert solution_problems(cells) == [
        "cell 3 (None): metadata jupyter.source_hidden is not true",
        'cell 3 (None): metadata cellView is not "form"',
        "cell 3 (None): the first line does not start with '# @title'",
        "cell 3 (None): redefines the reader's ['square'] (name it <name>_solution)",
    ]


def test_defined_names_are_the_top_level_bindings() -> None:
    source = (
        "%matplotlib inline\nimport math\ndef f():\n    g = 1\nclass C: ...\n"
        "a, (b, c) = 1, (2, 3)\nd: int = 4\ne += 1\nx[0] = 1\n"
    )
    assert defined_names(source) == {"f", "C", "a", "b", "c", "d", "e"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_are_hidden_and_never_overwrite_the_readers_function(path: Path) -> None:
    problems = solution_problems(json.loads(path.read_text(encoding="utf-8"))["cells"])
    assert not problems, "\n".join(problems)
