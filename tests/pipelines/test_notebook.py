"""notebooks/pseudo_labels.ipynb runs top to bottom over the catalog of a finished study."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "pseudo_labels.ipynb"


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0].source == "%load_ext kedro.ipython"
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_notebook_runs_on_the_tiny_study(finished_study: Path) -> None:
    folder = finished_study / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(folder)}}).execute()
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 2  # the histograms, then per-class precision and recall
    runs_table = notebook.cells[-1].outputs[-1]["data"]["text/html"]  # a DataFrame
    assert "student tau=0.3" in runs_table and "teacher (em)" in runs_table
