"""On the real MNIST (from the cache, fetched once): one epoch of the default model through the command
line reaches 95% test accuracy, its model file evaluates to the same figure, and the newcomer's example
script runs.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from tinygrad_edu.app.cli import main

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_mlp.py"


@pytest.fixture(scope="module")
def mnist():
    from tinygrad_edu.data import load_mnist

    return load_mnist()  # from the cache; the first run on a machine fetches it


def _json_line(text):
    return json.loads(text.strip().splitlines()[-1])


def test_one_epoch_of_the_default_model_reaches_95_percent(mnist, tmp_path, capsys):
    out = tmp_path / "model.npz"
    assert main(["train", "--epochs", "1", "--out", str(out), "--no-plot", "--json"]) == 0
    trained = _json_line(capsys.readouterr().out)
    assert trained["test_accuracy"] >= 0.95, trained
    assert trained["config"]["test_examples"] == 10_000

    assert main(["evaluate", "--model", str(out), "--plot", str(tmp_path / "cm.png"), "--json"]) == 0
    evaluated = _json_line(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == pytest.approx(trained["test_accuracy"])
    assert sum(map(sum, evaluated["confusion_matrix"])) == 10_000


def test_example_script_runs_on_a_subset(mnist, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--epochs", "1", "--limit", "3000"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    accuracy = float(line.split("test accuracy ")[1].split("%")[0]) / 100
    assert line.startswith("epoch 1:") and accuracy > 0.6, line  # 3000 images, 24 steps: well above chance


CNN_EXAMPLE = EXAMPLE.with_name("mnist_cnn.py")


def test_cnn_example_script_learns_on_a_subset(mnist, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(CNN_EXAMPLE), "--epochs", "1", "--limit", "3072"])
    runpy.run_path(str(CNN_EXAMPLE), run_name="__main__")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    accuracy = float(line.split("test accuracy ")[1].split("%")[0]) / 100
    assert line.startswith("epoch 1:") and accuracy > 0.5, line  # 24 steps of 128 images: well above chance
