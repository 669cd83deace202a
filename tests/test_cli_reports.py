"""What the command line reports: the three likeliest digits per image, the accuracy on a labelled Kaggle CSV,
an unwritable ``--plot`` refused before any work, the defaults in ``train --help``; and the package metadata
(the Python version the README states is the one pyproject requires; pip sees no deprecated field).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from cli_runs import last_json
from cli_runs import run_in_process as run

from tinygrad_edu.app import checkpoint, cli
from tinygrad_edu.app.models import MLPArchitecture

REPO = Path(__file__).resolve().parents[1]


def model_file(folder, sizes=(784, 16, 10)):
    arch = MLPArchitecture(tuple(sizes))
    path = folder / f"model-{'-'.join(map(str, sizes))}.npz"
    checkpoint.save_model(path, arch.build(seed=0), arch, checkpoint.Preprocessing(0.13, 0.31))
    return path


def write_csv(path, pixels, labels=None):
    header = ("label," if labels is not None else "") + ",".join(f"pixel{i}" for i in range(784))
    rows = [(f"{labels[i]}," if labels is not None else "") + ",".join(map(str, row)) for i, row in enumerate(pixels)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def digit_png(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    page = np.full((60, 50), 235, np.uint8)
    page[10:50, 22:30] = 20
    Image.fromarray(page).save(tmp_path / "bar.png")
    return tmp_path / "bar.png"


# ---- predict: the three likeliest digits ----------------------------------------------------------------------


def test_predict_prints_the_three_likeliest_digits_with_their_probabilities(tmp_path, digit_png):
    status, stdout, stderr = run(["predict", "--model", model_file(tmp_path), digit_png])
    assert status == 0, stderr
    (line,) = stdout.strip().splitlines()
    match = re.fullmatch(rf"{re.escape(str(digit_png))}: (\d) \(probability (0\.\d{{3}})\), "
                         r"then (\d) \((0\.\d{3})\), (\d) \((0\.\d{3})\)", line)
    assert match, f"not 'IMAGE: d (probability p), then d (p), d (p)': {line!r}"
    digits, probabilities = match.groups()[::2], [float(p) for p in match.groups()[1::2]]
    assert len(set(digits)) == 3 and probabilities == sorted(probabilities, reverse=True)


def test_predict_json_holds_the_same_three_digits_most_probable_first(tmp_path, digit_png):
    status, stdout, stderr = run(["predict", "--model", model_file(tmp_path), digit_png, digit_png, "--json"])
    assert status == 0, stderr
    records = last_json(stdout)["predictions"]
    assert len(records) == 2
    for record in records:
        top = record["top"]
        assert [set(entry) for entry in top] == [{"digit", "probability"}] * 3
        assert (record["digit"], record["probability"]) == (top[0]["digit"], top[0]["probability"])
        assert [entry["probability"] for entry in top] == sorted((e["probability"] for e in top), reverse=True)
        assert 0 < sum(entry["probability"] for entry in top) <= 1 + 1e-6
    text = stdout.strip().splitlines()[0]
    assert text.endswith(", ".join(f"{e['digit']} ({e['probability']:.3f})" for e in records[0]["top"][1:]))


def test_a_model_with_two_classes_shows_both(tmp_path, digit_png):
    status, stdout, stderr = run(["predict", "--model", model_file(tmp_path, (784, 2)), digit_png, "--json"])
    assert status == 0, stderr
    (record,) = last_json(stdout)["predictions"]
    assert sorted(entry["digit"] for entry in record["top"]) == [0, 1]
    assert re.search(r": \d \(probability 0\.\d{3}\), then \d \(0\.\d{3}\)$", stdout.strip().splitlines()[0])


# ---- predict --kaggle-csv on a labelled CSV -------------------------------------------------------------------


def test_kaggle_csv_with_labels_reports_the_accuracy_beside_the_submission(tmp_path):
    model = model_file(tmp_path)
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 784))
    status, _, stderr = run(["predict", "--model", model, "--kaggle-csv", write_csv(tmp_path / "test.csv", pixels),
                             "--out", tmp_path / "first.csv"])
    assert status == 0, stderr
    predicted = [int(row.split(",")[1]) for row in (tmp_path / "first.csv").read_text().splitlines()[1:]]
    labels = predicted[:2] + [(d + 1) % 10 for d in predicted[2:]]  # two right, two wrong
    labelled = write_csv(tmp_path / "train.csv", pixels, labels)
    status, stdout, stderr = run(["predict", "--model", model, "--kaggle-csv", labelled, "--out",
                                  tmp_path / "second.csv", "--json"])
    assert status == 0, stderr
    assert f"accuracy 50.00% on the 4 labelled rows of {labelled} (2 right)" in stdout
    assert last_json(stdout) == {"submission": str(tmp_path / "second.csv"), "rows": 4, "accuracy": 0.5}
    assert (tmp_path / "second.csv").read_text() == (tmp_path / "first.csv").read_text()


def test_kaggle_csv_without_labels_reports_no_accuracy(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 784))
    status, stdout, stderr = run(["predict", "--model", model_file(tmp_path), "--kaggle-csv",
                                  write_csv(tmp_path / "test.csv", pixels), "--out", tmp_path / "s.csv", "--json"])
    assert status == 0, stderr
    assert "accuracy" not in stdout and set(last_json(stdout)) == {"submission", "rows"}


# ---- evaluate --plot to a place nothing can be written ----------------------------------------------------------


@pytest.fixture
def unwritable(tmp_path):
    """A folder nothing can be created in: a read-only folder, or /proc for root (who may write anywhere else)."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
    elif sys.platform.startswith("linux") and Path("/proc/self").is_dir():
        yield Path("/proc")
    else:
        pytest.skip("running as root without /proc: no folder here refuses a new file")


@pytest.mark.parametrize("where", ["{locked}/cm.png", "{locked}/plots/cm.png", "{file}/cm.png"])
def test_evaluate_plot_to_an_unwritable_place_is_refused_before_the_model_or_the_data_is_read(
        where, tmp_path, unwritable, monkeypatch):
    model = model_file(tmp_path)
    (tmp_path / "a_file.txt").write_text("x")
    plot = Path(where.format(locked=unwritable, file=tmp_path / "a_file.txt"))
    monkeypatch.setattr(cli, "_load_model", lambda *_: pytest.fail("the model was read before --plot was checked"))
    monkeypatch.setattr(cli, "_load_data", lambda *_: pytest.fail("the data was read before --plot was checked"))
    before = sorted(tmp_path.rglob("*"))
    status, stdout, stderr = run(["evaluate", "--model", model, "--plot", plot], cwd=tmp_path)
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    reason = "is not a folder, so nothing can be written there" if where.startswith("{file}") else f"the folder {unwritable} is not writable"
    assert stderr.startswith(f"tinygrad-edu evaluate: error: --plot {plot}: ") and reason in stderr, stderr
    assert sorted(tmp_path.rglob("*")) == before


# ---- train --help ------------------------------------------------------------------------------------------------


def test_every_train_option_states_its_default_in_the_help():
    train = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["train"]
    undocumented = [action.option_strings[0] for action in train._actions
                    if action.option_strings and action.option_strings[0] != "-h"
                    and "default" not in (action.help or "")]
    assert not undocumented, f"train options whose help gives no default: {undocumented}"


def test_train_help_shows_the_mlp_and_the_cnn_defaults(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinygrad_edu", "train", "--help"], capture_output=True, text=True,
                            timeout=120, check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines where the terminal width says
    for shown in ("(default 784-512-256-10)", "passes over the training set (default 8)",
                  "(default 0; 2 with --arch cnn)", "(default 128)", "(default 0.001)", "(default adam)",
                  "(default cosine)", "(default runs/mnist/model.npz)"):
        assert shown in text, f"{shown!r} is not in train --help:\n{result.stdout}"


# ---- package metadata --------------------------------------------------------------------------------------------


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_readme_states_the_python_version_pyproject_requires():
    required = pyproject()["project"]["requires-python"]
    stated = re.findall(r"Python (3\.\d+)\+", (REPO / "README.md").read_text(encoding="utf-8"))
    assert stated, "README.md states no 'Python 3.x+'"
    assert {f">={version}" for version in stated} == {required}, \
        f"README.md says Python {', '.join(stated)}+ but pyproject.toml requires-python is {required!r}"


def test_pyproject_uses_no_field_form_that_setuptools_reports_as_deprecated():
    metadata = pyproject()
    license_field = metadata["project"].get("license")
    assert isinstance(license_field, str), \
        f"project.license is {license_field!r}: setuptools deprecates the table form; give an SPDX string like 'MIT'"
    builders = [r for r in metadata["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)", builders[0]) if builders else None
    assert minimum and int(minimum.group(1)) >= 77, \
        f"build-system requires {builders}: an SPDX license string needs setuptools>=77"
