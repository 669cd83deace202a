"""The command line end to end on a small synthetic MNIST-like set, and every bad input it must refuse.

The data set is printed digits: each of 0..9 drawn with Pillow's font at random sizes and offsets,
then put through the same MNIST-style preprocessing ``predict`` applies to photos, and written as the
four IDX files. A tiny MLP learns it in a second, so train -> evaluate -> predict -> Kaggle CSV runs
for real. Bad input (files, models, images, data) must give exit status 2, exactly one line on
stderr, no traceback, and leave no output file behind; each flag's bad values are in
``tests/test_cli_arguments.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from cli_runs import last_json, run_in_process
from PIL import Image, ImageDraw, ImageFont

import tinygrad_edu as tg
from tinygrad_edu.app import checkpoint
from tinygrad_edu.app.cli import parse_arch
from tinygrad_edu.app.images import preprocess_image
from tinygrad_edu.app.models import MLPArchitecture
from tinygrad_edu.data import read_idx, write_idx

REPO = Path(__file__).resolve().parents[1]
TINY = ["--arch", "784-32-10", "--epochs", "2", "--batch-size", "32", "--lr", "0.01", "--seed", "1"]


# ---- fixtures: the data set, images, a Kaggle CSV and one trained model ---------------------------


def _printed_digit(digit, rng, size=64):
    """White digit on black, at a random font size and offset (before MNIST-style preprocessing)."""
    canvas = Image.new("L", (size, size), 0)
    font = ImageFont.load_default(size=int(rng.integers(28, 46)))
    ImageDraw.Draw(canvas).text((int(rng.integers(2, 22)), int(rng.integers(0, 14))), str(digit), fill=255, font=font)
    return np.asarray(canvas)


def _on_paper(digit, path, size=(160, 220), at=(70, 40)):
    """A dark digit on light paper, larger and off-centre: what someone would photograph."""
    paper = Image.new("RGB", size, (236, 232, 225))
    ImageDraw.Draw(paper).text(at, str(digit), fill=(25, 25, 40), font=ImageFont.load_default(size=110))
    paper.save(path)
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist_like")
    rng = np.random.default_rng(0)
    labels = np.arange(650) % 10
    rng.shuffle(labels)
    pixels = np.stack([preprocess_image(_printed_digit(d, rng)) for d in labels])
    images = np.round(pixels * 255).astype(np.uint8).reshape(-1, 28, 28)
    write_idx(folder / "train-images-idx3-ubyte.gz", images[:500])
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:500].astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[500:])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[500:].astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory, data_dir):
    """Inputs for predict: digits on paper (PNG and JPEG), broken images, a Kaggle test.csv."""
    folder = tmp_path_factory.mktemp("inputs")
    found = {"seven": _on_paper(7, folder / "seven.png"), "three": _on_paper(3, folder / "three.jpg", at=(20, 70)),
             "blank": folder / "blank.png", "not_image": folder / "notes.png", "kaggle": folder / "test.csv",
             "bad_csv": folder / "bad.csv"}
    Image.new("L", (50, 40), 240).save(found["blank"])
    found["not_image"].write_text("this is text, not a PNG\n")
    x_test = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    header = ",".join(f"pixel{i}" for i in range(784))
    found["kaggle"].write_text(header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in x_test))
    found["bad_csv"].write_text("a,b,c\n1,2,3\n")
    return found


def run_process(argv, cwd):
    return subprocess.run([sys.executable, "-m", "tinygrad_edu", *map(str, argv)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                                       "HOME": str(cwd)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("run")
    status, stdout, stderr = run_in_process(["train", "--data-dir", data_dir, *TINY, "--out", run / "model.npz",
                                             "--json"])
    assert status == 0, stderr
    return {"dir": run, "model": run / "model.npz", "stdout": stdout, "summary": last_json(stdout)}


# ---- the happy path ----------------------------------------------------------------------------------


def test_train_json_last_line_reports_accuracy_loss_and_seconds(trained):
    summary = trained["summary"]
    assert {"test_accuracy", "test_loss", "seconds"} <= set(summary)
    assert summary["test_accuracy"] >= 0.9  # printed digits are easy: a tiny MLP must learn them
    assert 0 < summary["test_loss"] < 1 and summary["seconds"] > 0


def test_train_prints_one_line_per_epoch_with_test_accuracy(trained):
    lines = [line for line in trained["stdout"].splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("test loss" in line and "accuracy" in line for line in lines)


def test_train_writes_model_metrics_and_curve_beside_out(trained):
    assert sorted(p.name for p in trained["dir"].iterdir()) == ["metrics.json", "model.npz", "training_curve.png"]
    metrics = json.loads((trained["dir"] / "metrics.json").read_text())
    assert metrics["test_accuracy"] == trained["summary"]["test_accuracy"]
    assert [record["epoch"] for record in metrics["history"]] == [1, 2]
    assert (trained["dir"] / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_file_records_architecture_and_preprocessing(trained):
    model, info = checkpoint.load_model(trained["model"])
    assert info["architecture"] == MLPArchitecture((784, 32, 10), "relu")
    assert 0 < info["preprocessing"].mean < 1 and info["preprocessing"].std > 0
    assert [p.shape for p in model.parameters()] == [(32, 784), (32,), (10, 32), (10,)]
    assert not list(trained["dir"].glob(".*")), "a temporary file was left behind"


def test_same_seed_gives_the_same_model_and_another_seed_does_not(tmp_path, data_dir, trained):
    for name, seed in (("again", "1"), ("other", "2")):
        argv = ["train", "--data-dir", data_dir, *TINY[:-1], seed, "--out", tmp_path / name / "model.npz", "--no-plot"]
        assert run_in_process(argv)[0] == 0
    weights = {name: checkpoint.load_model(path)[0].state_dict()["0.weight"]
               for name, path in (("first", trained["model"]), ("again", tmp_path / "again" / "model.npz"),
                                  ("other", tmp_path / "other" / "model.npz"))}
    assert np.array_equal(weights["first"], weights["again"])
    assert not np.array_equal(weights["first"], weights["other"])


def test_evaluate_in_a_subprocess_matches_training_and_saves_confusion_png(trained, data_dir, tmp_path):
    plot = tmp_path / "cm.png"
    result = run_process(["evaluate", "--model", trained["model"], "--data-dir", data_dir, "--plot", plot, "--json"],
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = last_json(result.stdout)
    assert report["test_accuracy"] == pytest.approx(trained["summary"]["test_accuracy"])
    assert report["test_loss"] == pytest.approx(trained["summary"]["test_loss"], rel=1e-5)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 150
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["test_accuracy"])
    assert "true\\pred" in result.stdout  # the matrix is printed too
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_default_plot_goes_beside_the_model(trained, data_dir):
    status, stdout, _ = run_in_process(["evaluate", "--model", trained["model"], "--data-dir", data_dir])
    assert status == 0 and (trained["dir"] / "confusion_matrix.png").is_file()
    assert "test accuracy" in stdout


def test_predict_reads_photographed_digits_png_and_jpeg(trained, files, tmp_path):
    result = run_process(["predict", "--model", trained["model"], files["seven"], files["three"]], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{files['seven']}: 7 (probability ")
    assert lines[1].startswith(f"{files['three']}: 3 (probability ")


def test_predict_json_gives_digit_and_probability_per_image(trained, files):
    status, stdout, _ = run_in_process(["predict", "--model", trained["model"], files["seven"], "--json"])
    assert status == 0
    (record,) = last_json(stdout)["predictions"]
    assert record["image"] == str(files["seven"]) and record["digit"] == 7 and 0.5 < record["probability"] <= 1


def test_kaggle_csv_gives_a_submission_matching_the_labels(trained, files, data_dir, tmp_path):
    out = tmp_path / "submission.csv"
    status, _, stderr = run_in_process(["predict", "--model", trained["model"], "--kaggle-csv", files["kaggle"],
                                             "--out", out])
    assert status == 0, stderr
    rows = out.read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 151
    ids, labels = zip(*(map(int, row.split(",")) for row in rows[1:]))
    assert list(ids) == list(range(1, 151))
    truth = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz")
    assert np.mean(np.array(labels) == truth) == pytest.approx(trained["summary"]["test_accuracy"])


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal (POSIX)")
def test_progress_bar_on_a_terminal_shows_loss_and_running_accuracy(tmp_path, data_dir):
    import fcntl
    import os
    import pty
    import struct
    import termios

    pid, terminal = pty.fork()
    if pid == 0:  # the child: a 120-column terminal, then the command line
        try:
            fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            os.environ["PYTHONPATH"] = str(REPO)
            os.execv(sys.executable, [sys.executable, "-m", "tinygrad_edu", "train", "--data-dir", str(data_dir),
                                      *TINY, "--out", str(tmp_path / "model.npz"), "--no-plot"])
        finally:
            os._exit(127)
    output = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    screen = [line.split("\r")[-1] for line in output.decode(errors="replace").replace("\r\n", "\n").split("\n")]
    bars = [line for line in screen if line.startswith("epoch ") and "batch/s" in line]
    assert [bar.split(":")[0] for bar in bars] == ["epoch 1/2", "epoch 2/2"], screen
    assert all("100%" in bar and "acc=" in bar and "loss=" in bar for bar in bars)


def test_help_exits_zero_and_lists_commands(tmp_path):
    result = run_process(["--help"], cwd=tmp_path)
    assert result.returncode == 0 and all(word in result.stdout for word in ("train", "evaluate", "predict"))


def test_parse_arch_reads_sizes():
    assert parse_arch("784-512-256-10") == [784, 512, 256, 10]


# ---- training that diverges -------------------------------------------------------------------------


def test_divergence_stops_with_epoch_and_step_and_writes_no_model(tmp_path, data_dir):
    result = run_process(["train", "--data-dir", data_dir, "--arch", "784-32-10", "--optimizer", "sgd",
                          "--lr", "1e30", "--out", tmp_path / "run" / "model.npz"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "diverged" in result.stderr and "epoch 1, step " in result.stderr
    assert not (tmp_path / "run" / "model.npz").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "diverged"


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    from tinygrad_edu.app import training

    real_epoch, kept = training.train_epoch, {}

    def poisoned_second_epoch(model, loader, optimizer, epoch, *args, **kwargs):
        if epoch == 2:  # as if a step had blown up: the next loss is nan
            kept.update({k: v.copy() for k, v in model.state_dict().items()})
            model[0].weight.data[:] = np.nan
        return real_epoch(model, loader, optimizer, epoch, *args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", poisoned_second_epoch)
    out = tmp_path / "model.npz"
    status, _, stderr = run_in_process(["train", "--data-dir", data_dir, *TINY, "--epochs", "3", "--out", out])
    assert status == 1 and stderr.count("\n") == 1
    assert "epoch 2, step 1" in stderr and "checkpoint of epoch 1 is kept" in stderr
    model, info = checkpoint.load_model(out)
    assert all(np.array_equal(model.state_dict()[k], kept[k]) for k in kept)
    assert [record["epoch"] for record in info["training"]["history"]] == [1]


# ---- bad input: exit 2, one line on stderr, no traceback, nothing left behind -----------------------


def _broken_models(folder: Path, model: Path) -> dict:
    """Model files that must be refused, each for its own reason."""
    folder.mkdir()
    payload = model.read_bytes()
    (folder / "corrupt.npz").write_bytes(b"\x00garbage" * 64)
    (folder / "truncated.npz").write_bytes(payload[: len(payload) // 2])
    np.savez(folder / "plain.npz", weights=np.ones(3))
    content = tg.load(model)
    content["architecture"]["sizes"] = [784, 64, 10]  # the weights stay those of 784-32-10
    tg.save(content, folder / "other_arch.npz")
    for name, sizes in (("narrow", [100, 10]), ("five_classes", [784, 5])):
        arch = MLPArchitecture(tuple(sizes))
        checkpoint.save_model(folder / f"{name}.npz", arch.build(seed=0), arch, checkpoint.Preprocessing())
    return {name: folder / f"{name}.npz" for name in ("corrupt", "truncated", "plain", "other_arch", "narrow",
                                                      "five_classes")}


BAD_TRAIN = {  # case -> (extra argv, words the message must contain); each flag's own bad values are in
    # tests/test_cli_arguments.py, these need the data to be found wrong
    "arch wrong input size": (["--arch", "100-10"], "784 pixels"),
    "arch too few outputs": (["--arch", "784-16-5"], "labels go up to 9"),
    "data dir without data": (["--data-dir", "{tmp}/empty"], "holds no MNIST-like data"),
    "data truncated": (["--data-dir", "{tmp}/truncated"], "train-images"),
    "data corrupt": (["--data-dir", "{tmp}/corrupt"], "train-labels-idx1-ubyte.gz has the wrong magic number"),
    "data partial": (["--data-dir", "{tmp}/partial"], "but not t10k-images-idx3-ubyte"),
    "data of float pixels": (["--data-dir", "{tmp}/floats"], "an image file holds unsigned bytes"),
}


def _case_folder(tmp_path, data_dir):
    (tmp_path / "empty").mkdir()
    (tmp_path / "truncated").mkdir()
    for path in data_dir.iterdir():
        (tmp_path / "truncated" / path.name).write_bytes(path.read_bytes())
    images = tmp_path / "truncated" / "train-images-idx3-ubyte.gz"
    import gzip
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:5000]))
    for name in ("corrupt", "partial", "floats"):  # corrupt labels; train files only; float32 images
        (tmp_path / name).mkdir()
        for path in data_dir.iterdir():
            if name != "partial" or path.name.startswith("train-"):
                (tmp_path / name / path.name).write_bytes(path.read_bytes())
    (tmp_path / "corrupt" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"labels? no, prose" * 10))
    floats = read_idx(data_dir / "train-images-idx3-ubyte.gz").astype(np.float32) / 255
    write_idx(tmp_path / "floats" / "train-images-idx3-ubyte.gz", floats)
    return tmp_path


def _snapshot(*folders):
    return {folder: sorted(p.relative_to(folder) for p in folder.rglob("*")) for folder in folders}


def _assert_refused(status, stderr, words):
    assert status == 2, stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), f"expected one line on stderr, got {stderr!r}"
    assert "Traceback" not in stderr and ": error: " in stderr
    assert words in stderr, f"{words!r} not in {stderr!r}"


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_train_refuses_bad_input(case, tmp_path, data_dir):
    folder = _case_folder(tmp_path, data_dir)
    extra, words = BAD_TRAIN[case]
    argv = ["train", "--data-dir", data_dir, *TINY, "--out", folder / "out" / "model.npz"]
    argv += [a.format(tmp=folder) for a in extra]
    before = _snapshot(folder, data_dir)
    status, _, stderr = run_in_process(argv, cwd=folder)
    _assert_refused(status, stderr, words.format(tmp=folder))
    assert _snapshot(folder, data_dir) == before, "a refused run left a file behind"


def _bad_uses(trained, files, data_dir, folder):
    models = _broken_models(folder / "models", trained["model"])
    model = trained["model"]
    (folder / "empty").mkdir()
    nan_csv = folder / "nan.csv"
    nan_csv.write_text(",".join(f"pixel{i}" for i in range(784)) + "\n" + ",".join(["nan"] * 784) + "\n")
    return {
        "evaluate missing model": (["evaluate", "--model", folder / "none.npz"], "no such file"),
        "evaluate corrupt model": (["evaluate", "--model", models["corrupt"]], "cannot be read"),
        "evaluate truncated model": (["evaluate", "--model", models["truncated"]], "cannot be read"),
        "evaluate npz that is no model": (["evaluate", "--model", models["plain"]], "not a tinygrad_edu model file"),
        "evaluate model of another architecture": (["evaluate", "--model", models["other_arch"]],
                                                   "another architecture"),
        "evaluate model for other inputs": (["evaluate", "--model", models["narrow"], "--data-dir", data_dir],
                                            "takes 100 inputs"),
        "evaluate model with too few classes": (["evaluate", "--model", models["five_classes"], "--data-dir",
                                                 data_dir], "5 outputs"),
        "evaluate plot unwritable": (["evaluate", "--model", model, "--plot", folder / "x.txt" / "cm.png"],
                                     "not a folder"),
        "evaluate missing data": (["evaluate", "--model", model, "--data-dir", folder / "nowhere"], "no such folder"),
        "evaluate data dir without data": (["evaluate", "--model", model, "--data-dir", folder / "empty"],
                                           "holds no MNIST-like data"),
        "predict csv with nan pixels": (["predict", "--model", model, "--kaggle-csv", nan_csv, "--out",
                                         folder / "sub" / "s.csv"], "integer columns"),
        "predict not an image": (["predict", "--model", model, files["not_image"]], "not an image"),
        "predict blank image": (["predict", "--model", model, files["blank"]], "no digit"),
        "predict missing image": (["predict", "--model", model, folder / "gone.png"], "no such file"),
        "predict nothing to predict": (["predict", "--model", model], "IMAGE"),
        "predict images and csv": (["predict", "--model", model, files["seven"], "--kaggle-csv", files["kaggle"]],
                                   "not both"),
        "predict out without csv": (["predict", "--model", model, files["seven"], "--out", folder / "s.csv"],
                                    "--kaggle-csv"),
        "predict csv not kaggle": (["predict", "--model", model, "--kaggle-csv", files["bad_csv"], "--out",
                                    folder / "sub" / "s.csv"], "header"),
        "predict submission unwritable": (["predict", "--model", model, "--kaggle-csv", files["kaggle"], "--out",
                                           folder / "x.txt" / "s.csv"], "not a folder"),
        "predict with corrupt model": (["predict", "--model", models["corrupt"], files["seven"]], "cannot be read"),
        "no command": ([], "required"),
        "unknown command": (["fly"], "invalid choice"),
    }


BAD_USE_CASES = ["evaluate missing model", "evaluate corrupt model", "evaluate truncated model",
                 "evaluate npz that is no model", "evaluate model of another architecture",
                 "evaluate model for other inputs", "evaluate model with too few classes", "evaluate plot unwritable", "evaluate missing data",
                 "evaluate data dir without data", "predict csv with nan pixels",
                 "predict not an image", "predict blank image", "predict missing image", "predict nothing to predict",
                 "predict images and csv", "predict out without csv", "predict csv not kaggle",
                 "predict submission unwritable", "predict with corrupt model", "no command", "unknown command"]


@pytest.mark.parametrize("case", BAD_USE_CASES)
def test_evaluate_and_predict_refuse_bad_input(case, tmp_path, trained, files, data_dir):
    (tmp_path / "x.txt").write_text("x")
    cases = _bad_uses(trained, files, data_dir, tmp_path)
    argv, words = cases[case]
    before = _snapshot(tmp_path, trained["dir"], files["seven"].parent)
    status, _, stderr = run_in_process(argv, cwd=tmp_path)
    _assert_refused(status, stderr, words)
    assert _snapshot(tmp_path, trained["dir"], files["seven"].parent) == before, "a refused run left a file behind"


def test_a_failed_write_is_one_line_and_leaves_no_temporary_file_and_no_empty_folder(tmp_path, data_dir, monkeypatch):
    import os

    def disk_full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", disk_full)
    status, _, stderr = run_in_process(["train", "--data-dir", data_dir, *TINY, "--out", tmp_path / "run" / "m.npz"])
    _assert_refused(status, stderr, "No space left on device")
    assert list(tmp_path.iterdir()) == [], "the folder made for the model was left behind"


def test_predict_without_pillow_says_how_to_install_it(trained, files, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    status, _, stderr = run_in_process(["predict", "--model", trained["model"], files["seven"]])
    _assert_refused(status, stderr, "pip install")


def test_train_without_matplotlib_still_trains_and_notes_the_missing_plot(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status, _, stderr = run_in_process(["train", "--data-dir", data_dir, *TINY, "--out", tmp_path / "model.npz"])
    assert status == 0 and "matplotlib" in stderr and "skipped" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.npz"]


@pytest.mark.parametrize("argv, words", [
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--arch", "784-x-10"], "does not parse"),
    (["predict", "--model", "missing.npz", "a.png"], "no such file"),
])
def test_bad_input_in_a_subprocess_is_one_line_without_traceback(argv, words, tmp_path):
    result = run_process(argv, cwd=tmp_path)
    _assert_refused(result.returncode, result.stderr, words)
    assert list(tmp_path.iterdir()) == []
