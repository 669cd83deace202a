"""The benchmarks run and measure what they claim to; no test here looks at a time.

- ``python -m benchmarks.run --quick`` (a few steps of everything) exits 0, prints every table and writes
  a report that records the machine, the BLAS kernel and the thread counts.
- The versions of each workload compute the same thing: from the same initial weights and batches, the
  NumPy floor, tinygrad_edu and (where torch imports) PyTorch reach the same parameters and loss (B4, the CNN:
  the same first loss, gradients, running statistics and, after one Adam step, parameters).
- The DataLoader serves the batch order the NumPy and PyTorch versions replay.
- B2's bare tape (the least an autograd in Python costs) computes exactly tinygrad_edu's step, and each
  of its functions gives the gradient that finite differences give.
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

from benchmarks import b2_bare_tape, b4_cnn, b4_phases, instructions, phases, run
from benchmarks.common import Data, batch_indices
from benchmarks.workloads import WORKLOADS, torch_available
from tinygrad_edu.data import DataLoader

BENCH_MODULES_WITH_EXAMPLES = ["common", "workloads", "report", "sysinfo", "b4_cnn"]
MLP_WORKLOADS = ["B1", "B2", "B3"]


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
    for expected in ("QUICK SMOKE RUN", "B1:", "B2:", "B3:", "B4:", "Summary", "B1 memory", "B4 memory",
                     "Per-op forward+backward",
                     "NumPy (floor)", "tinygrad_edu", "thread pools:"):
        assert expected in printed, f"{expected!r} missing from the printed report:\n{printed}"
    # a row of PyTorch figures appears exactly when torch imports (the summary header names the column anyway)
    torch_rows = [line for line in printed.splitlines() if line.startswith("PyTorch eager")]
    assert bool(torch_rows) == torch_available()
    text = out.read_text()
    for section in ("# Benchmark results", "## Summary", "## B1:", "## B2:", "## B3:", "## B4:",
                    "## Memory: one B1 epoch", "## Memory: B4 steps", "ms/step",
                    "## Per-op overhead", "## Machine", "## Method", "Quick smoke run", "thread pool (blas)",
                    "NumPy BLAS threads", "OPENBLAS_CORETYPE"):
        assert section in text, f"{section!r} missing from RESULTS.md"
    assert "| B1 |" in text and "| B3 |" in text and "| B4 |" in text
    assert "tinygrad_edu / NumPy (floor) in each round" in text  # the paired ratios (two repeats in a quick run)
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


@pytest.mark.parametrize("key", MLP_WORKLOADS)
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


def _b4_one_step(version, data):
    cls = WORKLOADS["B4"].trainer_class(version)
    trainer = cls(b4_cnn.SPEC, data)
    trainer.train(1)
    return trainer


@pytest.mark.parametrize("version", ["tinygrad", "torch"])
def test_b4_versions_agree_after_one_step(version):
    """B4 from the same weights and batch: the first loss, the gradients, the running statistics and the
    parameters after one Adam step agree with the NumPy floor's (the tinygrad_edu comparison needs no torch).

    Tolerances: the first loss is the same forward pass, so float32 rounding only. The gradients are compared
    as ||g - g_floor|| / ||g_floor|| per tensor, at most 2%: where two values of a max-pool window (or a ReLU
    input and 0) are within rounding of each other, float32 rounding decides the winner, and the gradient goes
    to a different place (measured up to 0.5% on these synthetic images, 1e-6 otherwise). Adam's first step
    is about lr * sign(g) for every entry, so an entry whose gradient is within rounding of 0 can move the other
    way: at most 2 lr apart, and the median entry within lr / 1000. The conv biases are left out: a batch norm
    follows each, so their gradient is exactly 0 (the floor's) or rounding noise (the frameworks'), which
    Adam's normalisation turns into steps of up to lr.
    """
    if version == "torch" and not torch_available():
        pytest.skip("torch does not import")
    data = synthetic_data()
    floor, other = _b4_one_step("numpy", data), _b4_one_step(version, data)
    assert floor_float_dtypes(floor) == {np.dtype(np.float32)}
    assert other.loss == pytest.approx(floor.loss, rel=1e-5)
    lr = b4_cnn.SPEC.lr
    start = floor.initial_params()
    for i, name in enumerate(b4_cnn.PARAM_NAMES):
        g_floor, g = floor.gradients()[i], other.gradients()[i]
        p_floor, p = floor.params()[i], np.asarray(other.params()[i])
        assert g.shape == g_floor.shape and p.shape == p_floor.shape and p.dtype == np.float32, name
        if i in b4_cnn.CONV_BIASES:
            assert not g_floor.any(), f"{name}: the floor's gradient of a bias before a batch norm is exactly 0"
            assert np.abs(p - p_floor).max() <= 1.001 * lr, name
            continue
        rel = np.linalg.norm(g - g_floor) / np.linalg.norm(g_floor)
        assert rel < 2e-2, f"{name}: {version}'s gradient differs from the floor's by {rel:.2e} (relative)"
        diff = np.abs(p - p_floor)
        assert diff.max() <= 2.001 * lr and np.median(diff) <= lr / 1000, (name, diff.max(), np.median(diff))
        assert np.abs(p_floor - start[i]).max() > lr / 2, f"{name}: the floor's step did not move it"
    for a, b in zip(floor.running_stats(), other.running_stats()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_b4_phases_time_every_stage():
    """benchmarks/b4_phases.py: every stage of the floor and every layer group of tinygrad_edu gets a time."""
    data = synthetic_data()
    results = b4_phases.measure(["numpy", "tinygrad"], data, 1)
    table = b4_phases.table(results)
    for stage in b4_phases.STAGES + ["adam", "whole step", "sum of parts"]:
        assert stage in table
    for phase, layer, cells in b4_phases.rows(results):
        assert set(cells) == {"numpy", "tinygrad"} and all(v > 0 for v in cells.values()), (phase, layer, cells)


@pytest.mark.parametrize("key", MLP_WORKLOADS)
def test_phases_time_every_part_and_replay_the_workloads_own_steps(key):
    """benchmarks/phases.py: every part of the floor's and tinygrad_edu's steps gets a time, and running the
    parts one by one trains exactly as the version's own train() does (same parameters after 3 steps)."""
    data = synthetic_data()
    results = phases.measure(key, ["numpy", "tinygrad"], data, 2, 1)
    assert set(results["numpy"]) == set(phases.FLOOR_PARTS)
    assert set(results["tinygrad"]) == set(phases.FRAMEWORK_PARTS)
    assert all(ms > 0 for parts in results.values() for ms in parts.values())
    assert "tinygrad_edu / NumPy (floor)" in phases.table(results)
    for version, by_parts in (("numpy", phases.floor_steps), ("tinygrad", phases.framework_steps)):
        trainer = WORKLOADS[key].trainer_class(version)(WORKLOADS[key].spec, data)
        trainer.train(3)
        own = [p.copy() for p in trainer.params()]
        trainer.reset()
        by_parts(trainer, 3, {})
        for a, b in zip(own, trainer.params()):
            np.testing.assert_array_equal(a, b)


def test_bare_tape_reaches_tinygrad_edus_parameters_bit_for_bit():
    """benchmarks/b2_bare_tape.py makes the same NumPy calls as tinygrad_edu's B2 step, so it must reach the same
    parameters exactly; the NumPy floor (which folds lr / B into one product) agrees to rounding."""
    runs = b2_bare_tape.trainers(synthetic_data())
    assert b2_bare_tape.max_parameter_difference(runs["bare"], runs["tinygrad"], 20) == 0.0
    assert 0 < b2_bare_tape.max_parameter_difference(runs["bare"], runs["numpy"], 20) < 1e-4


def test_bare_tape_gradients_match_finite_differences():
    """Each function of the bare tape gives the gradient of its value, through a random upstream gradient."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s) for s in ((3, 4), (2, 4), (2,)))
    up = rng.standard_normal((3, 2))

    def loss(x, w, b):  # every function of the tape: 0.7 * sum((sigmoid(x W^T + b) - up) * up)
        difference = b2_bare_tape.subtract(b2_bare_tape.sigmoid(b2_bare_tape.linear(x, w, b)), b2_bare_tape.Node(up))
        return b2_bare_tape.scale(b2_bare_tape.total(b2_bare_tape.multiply(difference, b2_bare_tape.Node(up))), 0.7)

    leaves = [b2_bare_tape.Node(a.copy()) for a in (x, w, b)]
    b2_bare_tape.backward(loss(*leaves))
    assert leaves[0].grad is None  # x is an input (a leaf): linear gives no gradient for it, as in B2
    for k, leaf in enumerate(leaves[1:], start=1):
        numeric = np.zeros_like(leaf.data)
        for i in np.ndindex(leaf.data.shape):
            values = [lf.data.copy() for lf in leaves]
            values[k][i] += 1e-6
            hi = float(loss(*[b2_bare_tape.Node(v) for v in values]).data)
            values[k][i] -= 2e-6
            lo = float(loss(*[b2_bare_tape.Node(v) for v in values]).data)
            numeric[i] = (hi - lo) / 2e-6
        np.testing.assert_allclose(leaf.grad, numeric, rtol=1e-6, atol=1e-8)


def test_bare_tape_prints_the_times_and_bytecodes(monkeypatch, capsys):
    monkeypatch.setattr(b2_bare_tape, "load_data", synthetic_data)
    assert b2_bare_tape.main(["--rounds", "1", "--steps", "3", "--bytecodes"]) == 0
    out = capsys.readouterr().out
    assert "parameters differ by at most 0" in out and "tinygrad_edu / bare tape" in out
    assert "bare:" in out and "tinygrad:" in out and "Python bytecodes per step" in out


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


CALLGRIND_OUT = """# callgrind format
version: 1
positions: line
events: Ir
summary: 1060

ob=(1) /usr/lib/libpython3.11.so.1.0
fn=(1) _PyEval_EvalFrameDefault
0 500
cob=(2) /venv/numpy.libs/libscipy_openblas64_-32a4b2a6.so
cfn=(2) sgemm_kernel
calls=3 0
0 400
cob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6
cfn=(3) memcpy
calls=1 0
0 50

ob=(2)
fn=(2)
0 400

ob=(3)
fn=(3)
0 50

ob=(4) /venv/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so
fn=(4) FLOAT_add
0 100
+2 10
"""


def test_instruction_counts_charge_each_object_its_own_code_once(tmp_path):
    """benchmarks/instructions.py reads callgrind's self cost per shared object: an object named first in a
    cob= line is known by its id later, and the inclusive cost after calls= is not counted twice."""
    out = tmp_path / "callgrind.out"
    out.write_text(CALLGRIND_OUT)
    costs = instructions.self_cost_by_object(str(out))
    assert costs == {"/usr/lib/libpython3.11.so.1.0": 500, "/venv/numpy.libs/libscipy_openblas64_-32a4b2a6.so": 400,
                     "/usr/lib/x86_64-linux-gnu/libc.so.6": 50,
                     "/venv/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so": 110}
    assert sum(costs.values()) == 1060  # the file's own summary
    assert instructions.grouped(costs) == {"BLAS": 400, "NumPy loops": 110, "Python": 500, "C library": 50, "other": 0}


def test_instruction_counts_without_valgrind_exit_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="^2$"):  # parser.exit(2, ...): the exit status is the message
        instructions.main(["--workload", "B1"])
    assert "valgrind is not installed" in capsys.readouterr().err


def test_round_ratios_pair_the_repeats_that_ran_back_to_back():
    from benchmarks.report import WorkloadResult

    spec = WORKLOADS["B1"].spec
    result = WorkloadResult(spec, 1, 10, {"numpy": [1.0, 2.0, 4.0], "tinygrad": [1.1, 2.4, 4.4]}, {}, {})
    assert result.round_ratios("tinygrad", "numpy") == pytest.approx([1.1, 1.2, 1.1])
    assert result.ratio("tinygrad", "numpy") == pytest.approx(1.2)  # the ratio of medians pairs 2.4 with 2.0
    assert result.round_ratios("torch", "numpy") == []
