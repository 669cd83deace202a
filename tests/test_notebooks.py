"""The learning path in notebooks/: every notebook runs top to bottom in quick mode, is committed without
bulky outputs, and opens by saying what the learner will be able to do after it.

Quick mode (``TINYGRAD_EDU_QUICK=1``) makes the MNIST notebooks train on a small subset for a few steps;
plots go to matplotlib's Agg backend. A notebook that needs MNIST reads it through ``tg.data.load_mnist``
(from the cache, fetched once, like the other real-MNIST tests); in quick mode it goes on with synthetic
digits when the data cannot be had, which a test checks by hiding the cache. Each notebook's run time is
printed (``pytest -s``) and recorded as a ``seconds`` property in the JUnit report.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
LEARNING_PATH = ["01_backprop_by_hand.ipynb", "02_your_own_primitive.ipynb", "03_mnist_mlp.ipynb",
                 "04_mnist_cnn.ipynb", "05_higher_order.ipynb"]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
MNIST_NOTEBOOKS = ["03_mnist_mlp.ipynb", "04_mnist_cnn.ipynb"]
MAX_FILE_BYTES = 50_000      # a committed notebook is source, not a record of a run
MAX_OUTPUT_BYTES = 2_000     # what a committed cell may keep: a line of text, no pictures
CELL_TIMEOUT = 600
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")   # IPython colours its tracebacks


def _ids(paths):
    return [path.stem for path in paths]


def _read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_learning_path_holds_its_five_notebooks():
    missing = [name for name in LEARNING_PATH if not (NOTEBOOK_DIR / name).is_file()]
    assert not missing, f"notebooks/ lacks {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_notebook_has_no_bulky_outputs(path):
    size = path.stat().st_size
    assert size < MAX_FILE_BYTES, (f"{path.name} is {size} bytes (limit {MAX_FILE_BYTES}): strip its outputs, "
                                   "e.g. jupyter nbconvert --clear-output --inplace " + path.name)
    for number, cell in enumerate(_read(path)["cells"]):
        kept = len(json.dumps(cell.get("outputs", [])))
        assert kept < MAX_OUTPUT_BYTES, (f"{path.name}, cell {number}, keeps {kept} bytes of output "
                                         f"(limit {MAX_OUTPUT_BYTES}): clear it before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_first_cell_is_markdown_stating_the_outcome(path):
    first = _read(path)["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown", f"{path.name} opens with a {first['cell_type']} cell, not markdown"
    assert text.startswith("# "), f"{path.name}: the first cell should open with a '# ' title, got {text[:60]!r}"
    assert "After this notebook you will be able to" in text, (
        f"{path.name}: the first cell should say what the learner will be able to do after it "
        "('After this notebook you will be able to ...')")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_in_quick_mode(path, tmp_path, monkeypatch, record_property):
    nbformat = pytest.importorskip("nbformat", reason='the notebook tests need pip install -e ".[dev]"')
    seconds = _execute(nbformat.read(path, as_version=4), path.name, tmp_path, monkeypatch)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s in quick mode")


@pytest.mark.parametrize("name", MNIST_NOTEBOOKS)
def test_without_mnist_quick_mode_goes_on_with_synthetic_digits(name, tmp_path, monkeypatch):
    """Where MNIST cannot be had (here: an empty cache and no download), the MNIST notebooks' data cell
    falls back to synthetic digits in quick mode. Runs the notebook up to and including that cell."""
    nbformat = pytest.importorskip("nbformat", reason='the notebook tests need pip install -e ".[dev]"')
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    loads = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and "tg.data.load_mnist()" in cell.source]
    assert len(loads) == 1, f"{name}: expected one cell calling tg.data.load_mnist(), found {len(loads)}"
    notebook.cells = notebook.cells[:loads[0] + 1]
    notebook.cells[-1].source = notebook.cells[-1].source.replace("tg.data.load_mnist()",
                                                                  "tg.data.load_mnist(download=False)")
    notebook.cells.append(nbformat.v4.new_code_cell(
        'assert source == "synthetic digits", source\n'
        "assert x_train.ndim == 2 and x_train.shape[1] == 784 and x_train.dtype == np.float32\n"
        "assert 0 <= x_train.min() and x_train.max() <= 1\n"
        "assert sorted(set(y_train.tolist())) == list(range(10)) and len(x_test) == len(y_test) > 0"))
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(empty))
    _execute(notebook, f"{name} without MNIST", tmp_path, monkeypatch)


def _execute(notebook, label, folder, monkeypatch):
    """Run every cell of ``notebook`` in a fresh kernel in quick mode; fail with the cell's error; return seconds."""
    nbclient = pytest.importorskip("nbclient", reason='the notebook tests need pip install -e ".[dev]"')
    pytest.importorskip("ipykernel", reason='the notebook tests need pip install -e ".[dev]"')
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("TINYGRAD_EDU_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")   # quiets the debugger's frozen-modules note
    # One BLAS thread: on a small machine shared with other jobs, threaded BLAS oversubscribes the cores
    # (a CNN step measured 10x slower with two threads than with one while other jobs ran).
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, "1")
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    failure = None
    try:
        client.execute()
    except CellExecutionError as error:   # its message holds the failing cell's source and traceback
        failure = ANSI_ESCAPE.sub("", str(error))
    seconds = time.perf_counter() - start
    if failure is not None:
        pytest.fail(f"{label} failed in quick mode after {seconds:.1f} s:\n{failure}", pytrace=False)
    return seconds
