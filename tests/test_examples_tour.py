"""examples/autodiff_tour.py runs as a user would run it and shows what it promises."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOUR = Path(__file__).resolve().parent.parent / "examples" / "autodiff_tour.py"


def run_tour(*args):
    result = subprocess.run([sys.executable, str(TOUR), *args], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"the tour failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def output():
    return run_tour()


def test_tour_prints_the_graph(output):
    assert "digraph tinygrad_edu {" in output
    for op in ("MatMul", "Add", "Sigmoid", "Pow", "Sum"):
        assert f'label="{op}"' in output
    assert r'label="W (parameter)\n(3, 2) float64"' in output


def test_tour_prints_the_backward_trace_loss_first(output):
    trace = output.split("=== 2.")[1].split("=== 3.")[0]
    ops = [line.split()[1] for line in trace.splitlines() if re.match(r"\s+\d+\s", line)]
    assert ops == ["Sum", "Pow", "Sub", "Sigmoid", "Add", "MatMul"]


def test_tour_finite_differences_agree_with_backward(output):
    differences = [float(v) for v in re.findall(r"max \|analytic - numeric\| for \w+ = (\S+)", output)]
    assert len(differences) == 2 and max(differences) < 1e-7
    assert "tg.gradcheck(layer_loss, (W, b)) -> True" in output


def test_tour_shows_gradcheck_catching_the_wrong_backward(output):
    assert "forward equals Tensor.sigmoid: True" in output
    assert re.search(r"GradcheckError: gradcheck failed for input 0 \(shape \(3, 2\)\) at element \(\d, \d\): "
                     r"analytic \S+ vs numeric \S+", output)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed (apt-get install graphviz)")
def test_tour_draws_the_graph_with_dot(tmp_path):
    svg = tmp_path / "tour.svg"
    run_tour("--svg", str(svg))
    assert "<svg" in svg.read_text()


def test_tour_prints_the_graph_as_a_text_tree(output):
    tree = output.split("=== 1.")[1].split("the same graph as Graphviz DOT text")[0]
    assert "Sum () float64 value 1.302\n`-- Pow (2, 2) float64\n" in tree
    assert "\n    |   |       |   |-- x: constant (2, 3) float64 requires_grad=False\n" in tree
    assert "\n    |   |       |   `-- W: leaf (3, 2) float64 requires_grad=True\n" in tree


def test_tour_without_graphviz_asked_for_a_picture_says_so_and_goes_on(tmp_path, monkeypatch, capsys):
    import importlib.util

    from tinygrad_edu import viz

    spec = importlib.util.spec_from_file_location("autodiff_tour", TOUR)
    tour = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tour)
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)  # where render looks for 'dot'
    svg = tmp_path / "tour.svg"
    tour.main(["--svg", str(svg)])
    printed = capsys.readouterr().out
    assert f"no picture drawn into {svg}: rendering needs the Graphviz 'dot' program" in printed
    assert "the text tree above shows the same graph" in printed
    assert "=== 4. a wrong backward under gradcheck" in printed  # the tour went on to the end
    assert not svg.exists()
