"""The seed-notebook examples run end to end on a small subset of the real MNIST (``--quick``) and print
the notebook's figure beside a measured one. Each runs in a subprocess, as a user would run it; the data
comes from the MNIST cache (fetched once, like the other real-MNIST tests)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args, cwd=None):
    result = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", *args], capture_output=True,
                            text=True, timeout=600, check=False, cwd=cwd)
    assert result.returncode == 0, f"{name} --quick exited with {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


def number_after(pattern, text):
    match = re.search(pattern, text)
    assert match, f"no line matching {pattern!r} in:\n{text[-3000:]}"
    return float(match.group(1))


def test_init_scale_grid_prints_six_runs_beside_the_notebook_and_writes_the_plot(tmp_path):
    out = run_example("init_scale_grid.py", "--out-dir", str(tmp_path))
    rows = re.findall(r"^  init \[[-+.\d]+, [-+.\d]+\] alpha (0\.[12])\s+(0\.\d{4})\s+(0\.\d{4})", out, re.MULTILINE)
    assert [alpha for alpha, _, _ in rows] == ["0.1"] * 3 + ["0.2"] * 3
    assert [theirs for _, theirs, _ in rows] == ["0.6576", "0.8460", "0.8722", "0.7499", "0.8544", "0.8749"]
    best = number_after(r"best training accuracy: notebook 0\.8749, ours (0\.\d{4})", out)
    assert best > 0.2  # ten classes: chance is 0.1; 20 steps on 2000 digits already reach ~0.4
    assert (tmp_path / "init_scale_grid.png").stat().st_size > 10_000


def test_softmax_gradient_matches_the_explicit_jacobian_and_trains_five_networks():
    out = run_example("softmax_gradient.py")
    assert "return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True))" in out
    assert number_after(r"largest \|autograd - explicit Jacobian\| = (\S+)", out) < 1e-12
    assert out.count(": True") == 2 and "tg.gradcheck(softmax over a batch" in out
    assert len(re.findall(r"^  (?:Leaky )?ReLU, (?:SE|CE), N\(0,1(?:/fan_in)?\)\s+\(no run\)\s+0\.\d{4} 0\.\d{4}$",
                          out, re.MULTILINE)) == 5
    assert re.search(r"trained in [\d.]+ s", out)


def test_mse_vs_cross_entropy_prints_both_losses_beside_the_notebook():
    out = run_example("mse_vs_cross_entropy.py")
    mse = number_after(r"\n  mse\s+88\.41 %\s+([\d.]+) %", out)
    ce = number_after(r"\n  cross_entropy\s+92\.51 %\s+([\d.]+) %", out)
    assert mse > 40 and ce > 40  # one epoch on 5000 digits: ~70 % each; chance is 10 %
    assert len(re.findall(r"epoch 0: training loss [\d.]+, validation accuracy [\d.]+ %", out)) == 2


def test_ng_ex4_checks_ten_gradients_trains_with_cg_and_predicts_drawn_digits(tmp_path):
    out = run_example("ng_ex4_cg.py", "--out-dir", str(tmp_path))
    checks = re.findall(r"Element: +\d+\. Numerical Gradient = ([-+.\d]+)\. BackProp Gradient = ([-+.\d]+)\.", out)
    assert len(checks) == 10
    assert number_after(r"Relative Difference: (\S+)", out) < 1e-6
    assert "tg.gradcheck over all 10285 parameters on 4 digits: True" in out
    assert "Iterations: 10" in out
    assert number_after(r"training accuracy: notebook 99\.26 %, ours ([\d.]+) %", out) > 50
    said = re.findall(r"drawn_(\d)\.png: drew \d, network says (\d) \(output unit \d: [\d.]+\)", out)
    assert sorted(digit for digit, _ in said) == ["0", "4", "7"]
    assert all((tmp_path / f"drawn_{digit}.png").is_file() for digit, _ in said)


def test_nielsen_network_prints_epochs_in_the_books_format():
    out = run_example("nielsen_network.py")
    epochs = [int(correct) for correct in re.findall(r"^Epoch 0 : (\d+) / 10000$", out, re.MULTILINE)]
    assert len(epochs) == 2 and min(epochs) > 2000  # chance is ~1000 of 10000
    assert re.search(r"\[784, 30, 10\]\s+~95 %\s+[\d.]+ %", out)
    assert re.search(r"\[784, 16, 16, 10\]\s+-\s+[\d.]+ %", out)
