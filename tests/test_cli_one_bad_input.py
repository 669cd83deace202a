"""One bad input, one clear error: ``predict`` with an unreadable image among good ones still classifies the
good ones (one error line per bad image, exit status 2); a model file whose weights hold nan or inf is refused
by ``predict`` and ``evaluate`` with one line naming the file and the weight, instead of nan probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from cli_runs import last_json
from cli_runs import run_in_process as run

from tinygrad_edu.app import checkpoint
from tinygrad_edu.app.models import CNNArchitecture, MLPArchitecture

PREP = checkpoint.Preprocessing(0.13, 0.31)


def model_file(path, architecture=None, change=None):
    """A model file of ``architecture`` (default: a 784-16-10 MLP; seed 0); ``change(model)`` edits the model
    before it is saved."""
    architecture = architecture or MLPArchitecture((784, 16, 10))
    model = architecture.build(seed=0)
    if change is not None:
        change(model)
    checkpoint.save_model(path, model, architecture, PREP)
    return path


@pytest.fixture
def images(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    found = {}
    for name, rows, cols in (("bar", slice(10, 50), slice(22, 30)), ("block", slice(15, 45), slice(10, 40))):
        page = np.full((60, 50), 235, np.uint8)
        page[rows, cols] = 20
        Image.fromarray(page).save(tmp_path / f"{name}.png")
        found[name] = tmp_path / f"{name}.png"
    found["text"] = tmp_path / "notes.png"
    found["text"].write_text("this is text, not a PNG\n")
    found["blank"] = tmp_path / "blank.png"
    Image.new("L", (50, 40), 240).save(found["blank"])
    return found


def assert_error_lines(stderr, expected):
    """``stderr`` is exactly one ``tinygrad-edu predict: error:`` line per (file, reason) pair, in order."""
    lines = stderr.splitlines()
    assert stderr.endswith("\n") and len(lines) == len(expected), stderr
    assert "Traceback" not in stderr
    for line, (path, reason) in zip(lines, expected):
        assert line.startswith("tinygrad-edu predict: error: ") and str(path) in line and reason in line, line


# ---- predict: unreadable images among good ones --------------------------------------------------------------


def test_predict_classifies_the_readable_images_and_names_each_unreadable_one(tmp_path, images):
    model = model_file(tmp_path / "model.npz")
    status, stdout, stderr = run(["predict", "--model", model, images["bar"], images["text"], images["block"],
                                  images["blank"]])
    assert status == 2
    assert [line.split(": ")[0] for line in stdout.splitlines()] == [str(images["bar"]), str(images["block"])]
    assert_error_lines(stderr, [(images["text"], "is not an image Pillow can read"),
                                (images["blank"], "shows no digit")])
    _, alone, _ = run(["predict", "--model", model, images["bar"], images["block"]])
    assert stdout == alone  # the bad images change nothing in the others' predictions


def test_predict_json_holds_the_readable_images_predictions_and_the_errors(tmp_path, images):
    model = model_file(tmp_path / "model.npz")
    status, stdout, stderr = run(["predict", "--model", model, images["text"], images["bar"], images["block"],
                                  "--json"])
    assert status == 2
    assert_error_lines(stderr, [(images["text"], "is not an image Pillow can read")])
    report = last_json(stdout)
    _, alone, _ = run(["predict", "--model", model, images["bar"], images["block"], "--json"])
    assert report["predictions"] == last_json(alone)["predictions"]
    assert [record["image"] for record in report["predictions"]] == [str(images["bar"]), str(images["block"])]
    (error,) = report["errors"]
    assert error["image"] == str(images["text"]) and "is not an image Pillow can read" in error["error"]


def test_predict_with_every_image_unreadable_prints_no_prediction(tmp_path, images):
    status, stdout, stderr = run(["predict", "--model", model_file(tmp_path / "model.npz"), images["blank"],
                                  images["text"], "--json"])
    assert status == 2
    report = last_json(stdout)
    assert report["predictions"] == [] and stdout.count("\n") == 1  # the JSON line, and no prediction
    assert [error["image"] for error in report["errors"]] == [str(images["blank"]), str(images["text"])]
    assert_error_lines(stderr, [(images["blank"], "shows no digit"), (images["text"], "not an image")])


# ---- a model file whose weights are not finite ---------------------------------------------------------------


def _set(name, index, value):
    def change(model):
        dict(model.named_parameters())[name].data[index] = value
    return change


def _set_buffer(name, index, value):
    def change(model):
        dict(model.named_buffers())[name][index] = value
    return change


NON_FINITE = {
    "nan weight": (MLPArchitecture((784, 16, 10)), _set("0.weight", (3, 5), np.nan),
                   "parameter 0.weight holds non-finite values (1 nan of 12,544)"),
    "inf bias": (MLPArchitecture((784, 16, 10)), _set("2.bias", 4, -np.inf),
                 "parameter 2.bias holds non-finite values (1 inf of 10)"),
    "nan running variance": (CNNArchitecture((2, 2, 4)), _set_buffer("2.running_var", 0, np.nan),
                             "buffer 2.running_var holds non-finite values (1 nan of 2)"),
}


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("case", sorted(NON_FINITE))
def test_a_model_file_with_non_finite_weights_is_refused_naming_the_file_and_the_weight(case, command, tmp_path,
                                                                                         images):
    architecture, change, words = NON_FINITE[case]
    model = model_file(tmp_path / "model.npz", architecture, change)
    argv = {"predict": ["predict", "--model", model, images["bar"]],
            "evaluate": ["evaluate", "--model", model, "--data-dir", tmp_path / "no-data-needed"]}[command]
    if command == "evaluate":
        (tmp_path / "no-data-needed").mkdir()
    status, stdout, stderr = run(argv)
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(f"tinygrad-edu {command}: error: --model: model file {model}: {words}"), stderr


def test_load_model_refuses_a_non_finite_weight_or_preprocessing_mean(tmp_path):
    path = model_file(tmp_path / "nan.npz", change=_set("0.bias", 0, np.nan))
    with pytest.raises(checkpoint.ModelFileError, match=r"nan\.npz: parameter 0\.bias holds non-finite values"):
        checkpoint.load_model(path)
    arch = MLPArchitecture((4, 2))
    checkpoint.save_model(tmp_path / "mean.npz", arch.build(seed=0), arch, checkpoint.Preprocessing(np.nan, 1.0))
    with pytest.raises(checkpoint.ModelFileError, match=r"mean\.npz records a preprocessing mean of nan"):
        checkpoint.load_model(tmp_path / "mean.npz")
