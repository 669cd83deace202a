"""Every flag of every command, one row per kind of bad value: refused before any work, in one line.

The command line promises: a bad argument gives exit status 2 and one line on standard error that
names the flag and the value, no traceback, and nothing written (no model, no half file, no empty
folder). "Before any work" is checked directly: reading the data set is replaced by a function that
fails the test, so a value noticed only after the data was loaded shows up as an error here.

Each command has a baseline command line that succeeds on a tiny random data set (checked by the
first tests); every row changes exactly one value of it, so the row is refused for that value alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runs import run_in_process

from tinygrad_edu.app import checkpoint, cli
from tinygrad_edu.app.cli import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_SEED
from tinygrad_edu.app.models import MLPArchitecture
from tinygrad_edu.data import write_idx

REPO = Path(__file__).resolve().parents[1]


# ---- a tiny data set, a model file and a Kaggle CSV -------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """60 training and 20 test images of random pixels, labels 0..9, as the four IDX files."""
    folder = tmp_path_factory.mktemp("tiny_data")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A model file (784-8-10, untrained) and a Kaggle test.csv of three rows."""
    folder = tmp_path_factory.mktemp("inputs")
    model = folder / "model.npz"
    arch = MLPArchitecture((784, 8, 10))
    checkpoint.save_model(model, arch.build(seed=0), arch, checkpoint.Preprocessing())
    csv = folder / "test.csv"
    pixels = np.random.default_rng(1).integers(0, 256, size=(3, 784))
    csv.write_text(",".join(f"pixel{i}" for i in range(784)) + "\n"
                   + "".join(",".join(map(str, row)) + "\n" for row in pixels))
    return {"model": model, "csv": csv}


@pytest.fixture
def place(tmp_path):
    """The working folder of one run, with the obstacles the rows refer to."""
    (tmp_path / "a_file.txt").write_text("x")
    for name in ("folder.npz", "folder.png", "folder.csv", "busy/metrics.json"):
        (tmp_path / name).mkdir(parents=True)
    return tmp_path


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


def baseline(command, data_dir, inputs, out):
    """A command line that succeeds; ``out`` is the folder its outputs go to."""
    return {
        "train": ["train", "--data-dir", data_dir, "--arch", "784-8-10", "--epochs", "1", "--batch-size", "16",
                  "--lr", "0.01", "--optimizer", "adam", "--schedule", "none", "--activation", "relu",
                  "--seed", "0", "--out", out / "model.npz", "--no-plot", "--json"],
        "evaluate": ["evaluate", "--model", inputs["model"], "--data-dir", data_dir, "--plot", out / "cm.png",
                     "--json"],
        "predict": ["predict", "--model", inputs["model"], "--kaggle-csv", inputs["csv"], "--out", out / "s.csv",
                    "--json"],
    }[command]


def with_value(argv, flag, value):
    """``argv`` with ``flag``'s value replaced by ``value`` (appended when the baseline lacks the flag)."""
    argv = list(argv)
    if flag in argv:
        at = argv.index(flag)
        if at + 1 < len(argv) and not str(argv[at + 1]).startswith("--"):
            argv[at + 1] = value
        else:  # a switch such as --json: the "value" is the whole token, e.g. --json=yes
            argv[at] = value
        return argv
    return argv + ([value] if value.startswith(flag) else [flag, value])


def snapshot(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---- the table: (command, flag, bad value, words the one line must hold besides the flag) -------------
# {tmp} is the run's folder (see ``place``), {locked} a folder that refuses new files, {csv} the
# Kaggle CSV given as input.

LONG_NAME = "n" * 250 + ".npz"

ROWS = [
    # train --seed
    ("train", "--seed", "-1", "-1 is too small"),
    ("train", "--seed", "-7", "-7 is too small"),
    ("train", "--seed", str(MAX_SEED + 1), f"{MAX_SEED + 1} is too large"),
    ("train", "--seed", "10" * 30, "is too large"),
    ("train", "--seed", "1.5", "'1.5' is not a whole number"),
    ("train", "--seed", "nan", "'nan' is not a whole number"),
    ("train", "--seed", "inf", "'inf' is not a whole number"),
    ("train", "--seed", "seven", "'seven' is not a whole number"),
    ("train", "--seed", "", "'' is not a whole number"),
    # train --epochs
    ("train", "--epochs", "0", "0 is too small: the number of epochs"),
    ("train", "--epochs", "-3", "-3 is too small"),
    ("train", "--epochs", str(MAX_EPOCHS + 1), f"{MAX_EPOCHS + 1} is too large"),
    ("train", "--epochs", "9" * 25, "is too large"),
    ("train", "--epochs", "2.5", "'2.5' is not a whole number"),
    ("train", "--epochs", "1e3", "'1e3' is not a whole number"),
    ("train", "--epochs", "nan", "'nan' is not a whole number"),
    ("train", "--epochs", "ten", "'ten' is not a whole number"),
    # train --batch-size
    ("train", "--batch-size", "0", "0 is too small: the batch size"),
    ("train", "--batch-size", "-8", "-8 is too small"),
    ("train", "--batch-size", str(MAX_BATCH_SIZE + 1), f"{MAX_BATCH_SIZE + 1} is too large"),
    ("train", "--batch-size", "1.5", "'1.5' is not a whole number"),
    ("train", "--batch-size", "inf", "'inf' is not a whole number"),
    ("train", "--batch-size", "all", "'all' is not a whole number"),
    # train --lr
    ("train", "--lr", "0", "'0' is not greater than 0"),
    ("train", "--lr", "-0.1", "'-0.1' is not greater than 0"),
    ("train", "--lr", "-inf", "'-inf' is not finite"),
    ("train", "--lr", "inf", "'inf' is not finite"),
    ("train", "--lr", "1e999", "'1e999' is not finite"),
    ("train", "--lr", "nan", "'nan' is not finite"),
    ("train", "--lr", "1e-400", "'1e-400' is 0.0 in floating point"),
    ("train", "--lr", "fast", "'fast' is not a number"),
    ("train", "--lr", "", "'' is not a number"),
    ("train", "--lr", "--epochs", "expected one argument"),  # the value was forgotten
    # train --arch
    ("train", "--arch", "784", "'784' does not parse"),
    ("train", "--arch", "784-abc-10", "'784-abc-10' does not parse"),
    ("train", "--arch", "784-0-10", "'784-0-10' does not parse"),
    ("train", "--arch", "784--10", "'784--10' does not parse"),
    ("train", "--arch", "784-10-", "'784-10-' does not parse"),
    ("train", "--arch", "-784-10", "'-784-10' does not parse"),
    ("train", "--arch", "784-1.5-10", "'784-1.5-10' does not parse"),
    ("train", "--arch", "784-\u00b2-10", "does not parse"),  # a superscript 2: a digit, but no number
    ("train", "--arch", "", "'' does not parse"),
    ("train", "--arch", "784-1000000000000-10", "--arch 784-1000000000000-10 has 795,000,000,000,010 parameters"),
    ("train", "--arch", "cnn-32", "'cnn-32' does not parse: give two or more positive layer sizes"),
    ("train", "--arch", "cnn2", "or cnn for the convolutional network"),
    # train --augment-shift
    ("train", "--augment-shift", "-1", "-1 is too small: the shift is a whole number from 0 to 8"),
    ("train", "--augment-shift", "9", "9 is too large"),
    ("train", "--augment-shift", "1.5", "'1.5' is not a whole number"),
    ("train", "--augment-shift", "two", "'two' is not a whole number"),
    # train --optimizer, --schedule, --activation
    ("train", "--optimizer", "rmsprop", "invalid choice: 'rmsprop'"),
    ("train", "--optimizer", "ADAM", "invalid choice: 'ADAM'"),
    ("train", "--schedule", "linear", "invalid choice: 'linear'"),
    ("train", "--activation", "gelu", "invalid choice: 'gelu'"),
    # train --out
    ("train", "--out", "{tmp}/run/model.pt", "the file name must end in .npz"),
    ("train", "--out", "{tmp}/run/model", "the file name must end in .npz"),
    ("train", "--out", "{tmp}/folder.npz", "{tmp}/folder.npz is a folder"),
    ("train", "--out", "{tmp}/a_file.txt/model.npz", "{tmp}/a_file.txt is not a folder"),
    ("train", "--out", "{tmp}/a_file.txt/run/model.npz", "{tmp}/a_file.txt is not a folder"),
    ("train", "--out", "{locked}/run/model.npz", "the folder {locked} is not writable"),
    ("train", "--out", "{tmp}/busy/model.npz", "{tmp}/busy/metrics.json is a folder"),
    ("train", "--out", "{tmp}/run/" + LONG_NAME, "is too long"),
    ("train", "--out", "", "an empty path names no file"),
    # train --data-dir
    ("train", "--data-dir", "{tmp}/nowhere", "{tmp}/nowhere: no such folder"),
    ("train", "--data-dir", "{tmp}/a_file.txt", "{tmp}/a_file.txt is not a folder"),
    ("train", "--data-dir", "", "an empty path"),
    # train switches and unknown flags
    ("train", "--json", "--json=yes", "ignored explicit argument 'yes'"),
    ("train", "--no-plot", "--no-plot=1", "ignored explicit argument '1'"),
    ("train", "--colour", "blue", "unrecognized arguments: --colour"),
    # evaluate --model
    ("evaluate", "--model", "{tmp}/none.npz", "{tmp}/none.npz: no such file"),
    ("evaluate", "--model", "{tmp}/folder.npz", "{tmp}/folder.npz is not a file"),
    ("evaluate", "--model", "{tmp}/a_file.txt", "cannot be read"),
    ("evaluate", "--model", "", "an empty path"),
    # evaluate --data-dir
    ("evaluate", "--data-dir", "{tmp}/nowhere", "{tmp}/nowhere: no such folder"),
    ("evaluate", "--data-dir", "{tmp}/a_file.txt", "is not a folder"),
    # evaluate --plot
    ("evaluate", "--plot", "{tmp}/plots/cm.jpg", "the file name must end in .png"),
    ("evaluate", "--plot", "{tmp}/folder.png", "{tmp}/folder.png is a folder"),
    ("evaluate", "--plot", "{tmp}/a_file.txt/cm.png", "{tmp}/a_file.txt is not a folder"),
    ("evaluate", "--plot", "{locked}/cm.png", "the folder {locked} is not writable"),
    ("evaluate", "--plot", "", "an empty path"),
    ("evaluate", "--json", "--json=1", "ignored explicit argument '1'"),
    # predict --model, IMAGE, --kaggle-csv, --out
    ("predict", "--model", "{tmp}/none.npz", "{tmp}/none.npz: no such file"),
    ("predict", "--model", "{tmp}/a_file.txt", "cannot be read"),
    ("predict", "--kaggle-csv", "{tmp}/none.csv", "{tmp}/none.csv: no such file"),
    ("predict", "--kaggle-csv", "{tmp}/folder.csv", "{tmp}/folder.csv is not a file"),
    ("predict", "--kaggle-csv", "", "an empty path"),
    ("predict", "--out", "{tmp}/sub/s.txt", "the file name must end in .csv"),
    ("predict", "--out", "{tmp}/folder.csv", "{tmp}/folder.csv is a folder"),
    ("predict", "--out", "{tmp}/a_file.txt/s.csv", "{tmp}/a_file.txt is not a folder"),
    ("predict", "--out", "{locked}/s.csv", "the folder {locked} is not writable"),
    ("predict", "--out", "{csv}", "is an input file"),
    ("predict", "--out", "", "an empty path"),
    ("predict", "--json", "--json=on", "ignored explicit argument 'on'"),
]


def _row_id(row):
    command, flag, value, _ = row
    return f"{command} {flag} {value!r}"


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_a_bad_value_is_refused_before_any_work_in_one_line_naming_the_flag(row, place, unwritable, data_dir, inputs,
                                                                           monkeypatch):
    command, flag, value, words = row
    names = {"tmp": place, "locked": unwritable, "csv": inputs["csv"]}
    value, words = value.format(**names), words.format(**names)
    out = place / "run"
    argv = with_value(baseline(command, data_dir, inputs, out), flag, value)

    def no_data_yet(*_):
        raise AssertionError(f"the data set was read before {flag} {value!r} was refused")

    monkeypatch.setattr(cli, "_load_data", no_data_yet)
    before = {folder: snapshot(folder) for folder in (place, data_dir, inputs["csv"].parent)}
    status, stdout, stderr = run_in_process(argv, cwd=place)

    assert status == 2, stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), f"expected one line, got {stderr!r}"
    assert "Traceback" not in stderr and ": error: " in stderr
    assert flag.split("=")[0] in stderr, f"the flag {flag} is not named in {stderr!r}"
    assert words in stderr, f"{words!r} not in {stderr!r}"
    assert stdout == ""
    assert not out.exists(), "a refused run made its output folder"
    assert {folder: snapshot(folder) for folder in before} == before, "a refused run left a file behind"
    if unwritable.is_relative_to("/proc"):
        assert not any((unwritable / name).exists() for name in ("run", "cm.png", "s.csv"))


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_the_baseline_of_each_command_succeeds_so_each_row_fails_for_its_value_alone(command, place, data_dir, inputs):
    out = place / "run"
    status, stdout, stderr = run_in_process(baseline(command, data_dir, inputs, out), cwd=place)
    assert status == 0, stderr
    assert stdout.strip().splitlines()[-1].startswith("{")  # --json
    written = {"train": ["metrics.json", "model.npz"], "evaluate": ["cm.png"], "predict": ["s.csv"]}[command]
    assert sorted(p.name for p in out.iterdir()) == written


def test_every_flag_of_every_command_has_a_row():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    flags = {(name, option) for name, sub in subparsers.items() for action in sub._actions
             for option in action.option_strings if option not in ("-h", "--help")}
    covered = {(command, flag.split("=")[0]) for command, flag, _, _ in ROWS}
    assert flags - covered == set(), "flags without a bad-value row"


# ---- the ones that need more than one changed value -----------------------------------------------------


def test_predict_image_paths_are_checked_before_the_model_is_used(place, inputs, monkeypatch):
    monkeypatch.setattr(cli, "_load_data", lambda *_: pytest.fail("predict reads no data set"))
    for image, words in ((place / "gone.png", f"{place / 'gone.png'}: no such file"),
                         (place / "folder.png", f"{place / 'folder.png'} is not a file")):
        status, _, stderr = run_in_process(["predict", "--model", inputs["model"], image], cwd=place)
        assert status == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
        assert "argument IMAGE" in stderr and words in stderr


def test_predict_out_without_kaggle_csv_is_refused_and_writes_nothing(place, inputs):
    before = snapshot(place)
    status, _, stderr = run_in_process(["predict", "--model", inputs["model"], place / "a_file.txt", "--out",
                                        place / "run" / "s.csv"], cwd=place)
    assert status == 2 and "--out is the Kaggle submission file and needs --kaggle-csv" in stderr
    assert snapshot(place) == before


def test_the_default_out_folder_is_not_made_for_a_refused_run(tmp_path):
    """``train --seed -1`` with every other flag left to its default, as typed at a prompt."""
    result = subprocess.run([sys.executable, "-m", "tinygrad_edu", "train", "--seed", "-1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                 "TINYGRAD_EDU_DATA": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert result.stderr == ("tinygrad-edu train: error: argument --seed: -1 is too small: a seed is a whole number "
                             f"from 0 to {MAX_SEED} (see tinygrad-edu train --help)\n")
    assert list(tmp_path.iterdir()) == [], "the refused run made a folder (runs/ or the data cache)"


def test_a_run_interrupted_before_its_first_checkpoint_leaves_no_empty_folder(place, data_dir, inputs, monkeypatch):
    from tinygrad_edu.app import training

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_epoch", interrupted)
    out = place / "deep" / "er" / "run"
    status, _, stderr = run_in_process(baseline("train", data_dir, inputs, out), cwd=place)
    assert status == 130 and stderr == "tinygrad-edu: error: interrupted\n"
    assert not (place / "deep").exists()
