"""The benchmarks run and measure what they claim to; no test here looks at a time.

- ``python -m benchmarks.run --quick`` (a few steps of everything) exits 0, prints every table and writes
  a report that records the machine, the BLAS kernel and the thread counts.
- The versions of each workload compute the same thing: from the same initial weights and batches, the
  NumPy floor, tinygrad_edu and (where torch imports) PyTorch reach the same parameters and loss.
- The DataLoader serves the batch order the NumPy and PyTorch versions replay.
- The OPENBLAS_* variables are unset for a full run only, never for the quick (CI) run; bad options exit 2.
"""

import doctest
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # benchmarks/ is a package beside tinygrad_edu, not an installed one

from benchmarks import run
from benchmarks.common import Data, batch_indices
from benchmarks.workloads import WORKLOADS, torch_available
from tinygrad_edu.data import DataLoader

BENCH_MODULES_WITH_EXAMPLES = ["common", "workloads", "report", "sysinfo"]


def synthetic_data(n=600, n_test=50, seed=5) -> Data:
    """Random images and labels of MNIST's shapes: enough to compare the versions step by step."""
    rng = np.random.default_rng(seed)
    return Data(rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n),
                rng.random((n_test, 784), dtype=np.float32), rng.integers(0, 10, n_test), "synthetic")


def floor_float_dtypes(trainer) -> set:
    """dtypes of every float array the NumPy floor keeps: parameters, gradients, optimizer state, buffers."""
    arrays = []
    for value in vars(trainer).values():
        arrays += value if isinstance(value, list) else [value]
    return {a.dtype for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == "f"}


def test_quick_run_prints_every_table_and_writes_the_report(tmp_path):
    out = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--output", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    for expected in ("QUICK SMOKE RUN", "B1:", "B2:", "B3:", "Summary", "B1 memory", "Per-op forward+backward",
                     "NumPy (floor)", "tinygrad_edu", "thread pools:"):
        assert expected in printed, f"{expected!r} missing from the printed report:\n{printed}"
    # a row of PyTorch figures appears exactly when torch imports (the summary header names the column anyway)
    torch_rows = [line for line in printed.splitlines() if line.startswith("PyTorch eager")]
    assert bool(torch_rows) == torch_available()
    text = out.read_text()
    for section in ("# Benchmark results", "## Summary", "## B1:", "## B2:", "## B3:", "## Memory: one B1 epoch",
                    "## Per-op overhead", "## Machine", "## Method", "Quick smoke run", "thread pool (blas)",
                    "NumPy BLAS threads", "OPENBLAS_CORETYPE"):
        assert section in text, f"{section!r} missing from RESULTS.md"
    assert "| B1 |" in text and "| B3 |" in text
    ops_lines = [line for line in text.splitlines() if line.startswith("| matmul |")]
    assert len(ops_lines) == 2          # one row per size


def test_the_committed_results_are_not_a_quick_run():
    """benchmarks/RESULTS.md holds a full run's figures."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert "Quick smoke run" not in text
    assert "## Summary" in text and "| B1 |" in text


@pytest.mark.parametrize("argv, expected", [
    ([], run.RESULTS),
    (["--quick"], None),
    (["--quick", "--output", "elsewhere.md"], Path("elsewhere.md")),
    (["--output", "elsewhere.md"], Path("elsewhere.md")),
    (["--no-write"], None),
])
def test_only_a_full_run_writes_the_committed_report(argv, expected):
    assert run.report_path(run.parse_args(argv)) == expected


@pytest.mark.parametrize("key", sorted(WORKLOADS))
def test_versions_reach_the_same_parameters_and_loss(key):
    """Same initial weights and batches in, same numbers out (float32 rounding apart): the times compare
    like with like. Includes PyTorch when torch imports."""
    data, workload = synthetic_data(), WORKLOADS[key]
    versions = [cls for cls in workload.versions if cls.version != "torch" or torch_available()]
    trained = {}
    for cls in versions:
        trainer = cls(workload.spec, data)
        trainer.train(4)
        trained[cls.version] = ([np.array(p, copy=True) for p in trainer.params()], trainer.loss)
        if cls.version == "numpy":
            assert floor_float_dtypes(trainer) == {np.dtype(np.float32)}, f"{key}: the floor holds non-float32 arrays"
    floor_params, floor_loss = trained["numpy"]
    assert all(p.dtype == np.float32 for p in floor_params)
    for version, (params, loss) in trained.items():
        assert [p.shape for p in params] == [p.shape for p in floor_params]
        assert all(p.dtype == np.float32 for p in params), version
        worst = max(float(np.abs(a - b).max()) for a, b in zip(floor_params, params))
        assert worst < 5e-5, f"{key}: {version} parameters differ from the NumPy floor's by {worst}"
        assert loss == pytest.approx(floor_loss, rel=1e-5), f"{key}: {version} loss {loss} vs {floor_loss}"
    # and training moved the parameters at all (a version that did nothing would agree with nothing)
    start = WORKLOADS[key].versions[0](workload.spec, data).init
    assert max(float(np.abs(a - b).max()) for a, b in zip(start, floor_params)) > 1e-4


def test_dataloader_serves_the_batches_the_other_versions_replay():
    x = np.arange(1000, dtype=np.float32).reshape(500, 2)
    y = np.arange(500)
    served = [yb.numpy() for _, yb in DataLoader(x, y, batch_size=128, shuffle=True, seed=1)]
    replayed = batch_indices(500, 128, seed=1)
    assert [len(b) for b in served] == [128, 128, 128, 116]
    assert all(np.array_equal(s, y[r]) for s, r in zip(served, replayed))


def test_full_run_reruns_itself_without_the_openblas_variables(monkeypatch):
    seen = {}

    def fake_run(cmd, env, check):
        seen["cmd"], seen["env"] = cmd, env
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    monkeypatch.delenv(run.CHILD_MARK, raising=False)
    assert run.rerun_without_openblas_vars(run.parse_args([]), []) == 0
    assert "OPENBLAS_CORETYPE" not in seen["env"] and "OPENBLAS_L2_SIZE" not in seen["env"]
    assert "Haswell" in seen["env"][run.CHILD_MARK]
    assert seen["cmd"][1:3] == ["-m", "benchmarks.run"]


def test_quick_run_and_the_child_leave_the_environment_alone(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv(run.CHILD_MARK, raising=False)
    assert run.rerun_without_openblas_vars(run.parse_args(["--quick"]), ["--quick"]) is None
    monkeypatch.setenv(run.CHILD_MARK, '{"OPENBLAS_CORETYPE": "Haswell"}')
    assert run.rerun_without_openblas_vars(run.parse_args([]), []) is None
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"


@pytest.mark.parametrize("argv, message", [
    (["--workloads", "B1,B7"], "unknown workload"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_options_exit_2_with_one_line(argv, message):
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("name", BENCH_MODULES_WITH_EXAMPLES)
def test_benchmark_docstring_examples_pass(name):
    module = importlib.import_module(f"benchmarks.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
