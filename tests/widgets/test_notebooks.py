"""The notebooks run top to bottom against the demo target, with no edits, and the README's
install command installs everything they use."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def requirements_of(extra: str) -> set[str]:
    """The distributions ``pip install ".[extra]"`` installs directly (the package's own
    dependencies too), extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names: set[str] = set()
    for req in [*project["dependencies"], *extras[extra]]:
        own = re.fullmatch(r"memscan\[(.+)\]", req)
        if own:
            for sub in own.group(1).split(","):
                names |= requirements_of(sub.strip())
        else:
            names.add(re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} == {
        "quickstart",
        "snapshots-over-time",
        "parquet-and-duckdb",
        "stable-addresses",
        "who-writes-this",
        "memory-images",
        "what-is-this-memory",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_readme_install_command_covers_the_notebook(path):
    assert 'pip install ".[all]"' in (ROOT / "README.md").read_text()
    installed = requirements_of("all")
    assert "jupyterlab" in installed  # one command runs them
    owners = packages_distributions()
    cells = code_cells(path)
    for cell in cells:
        for node in ast.walk(ast.parse(cell)):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "memscan":
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                assert dists & installed, f"{path.name} imports {top}, not in memscan[all]"
    if any("memscan.widgets" in c for c in cells):
        assert "anywidget" in installed
    if any(".plot" in c for c in cells):
        assert "altair" in installed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_widgets_stay_open_after_run_all(path):
    """Closing a widget blanks its output, so Run All would end with empty widgets."""
    assert not [c for c in code_cells(path) if ".close()" in c]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_is_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    assert all(
        not c.get("outputs") and not c.get("execution_count")
        for c in nb.cells
        if c.cell_type == "code"
    )
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    if path.stem == "snapshots-over-time":  # the value-over-time plot and the change heatmap
        shown = [
            o.get("data", {}).get("text/plain", "") for c in nb.cells for o in c.get("outputs", [])
        ]
        assert sum(text.startswith("alt.LayerChart") for text in shown) == 2
