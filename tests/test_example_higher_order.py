"""examples/higher_order.py runs as a user would run it (``--quick``, in a subprocess) and prints what it
promises: Newton's method converging in a handful of steps where gradient descent needs hundreds, tanh's
derivatives equal to their closed forms (and their plot), and a Hessian-vector product that agrees with
finite differences of the gradient. It needs no data set, so it is not marked slow."""

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "higher_order.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("higher_order")
    result = subprocess.run([sys.executable, str(EXAMPLE), "--quick", "--out-dir", str(out_dir)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"higher_order.py --quick exited with {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout, out_dir


def number_after(pattern, text):
    match = re.search(pattern, text)
    assert match, f"no line matching {pattern!r} in:\n{text}"
    return float(match.group(1))


def test_newton_reaches_the_minimum_at_one_in_a_handful_of_steps(run):
    out, _ = run
    steps = [(int(k), float(x)) for k, x in re.findall(r"^  step (\d+): x = ([\d.]+)", out, re.MULTILINE)]
    assert [k for k, _ in steps] == list(range(len(steps))) and 3 <= len(steps) <= 9, out
    assert steps[0][1] == 2.0 and abs(steps[-1][1] - 1.0) < 1e-10
    # Quadratic convergence: near the minimum the error e = x - 1 becomes f'''(1) / (2 f''(1)) e^2 = 1.5 e^2
    distances = [abs(x - 1.0) for _, x in steps]
    for earlier, later in itertools.pairwise(distances):
        assert later < earlier and (earlier > 0.1 or later <= 3 * earlier ** 2), distances
    assert number_after(r"Newton's method: (\d+) steps", out) == len(steps) - 1


def test_gradient_descent_needs_hundreds_of_steps_to_the_same_tolerance(run):
    out, _ = run
    newton = number_after(r"Newton's method: (\d+) steps to \|f'\(x\)\| < 1e-10", out)
    descent = number_after(r"gradient descent \(lr 0\.01\): (\d+) steps to \|f'\(x\)\| < 1e-10", out)
    assert descent >= 100 and descent > 20 * newton
    assert abs(number_after(r"gradient descent .* x = ([\d.]+)", out) - 1.0) < 1e-10


def test_tanh_derivatives_equal_their_closed_forms_and_are_plotted(run):
    out, out_dir = run
    differences = [float(d) for d in re.findall(r"derivative \d: max \|autograd - closed form\| = (\S+)", out)]
    assert len(differences) == 4 and max(differences) < 1e-13
    assert (out_dir / "tanh_derivatives.png").stat().st_size > 10_000


def test_hessian_vector_product_agrees_with_finite_differences_of_the_gradient(run):
    out, _ = run
    assert number_after(r"max \|hvp - finite differences\| / max \|hvp\| = (\S+)", out) < 1e-7
