"""Training-curve and digit-grid plots: what they draw, what they write, and how they fail."""

import sys

import numpy as np
import pytest
from PIL import Image

import tinygrad_edu as tg
from tinygrad_edu import viz

HISTORY = {"train_loss": [2.3, 1.0, 0.6, 0.4], "test_loss": [1.2, 0.8, 0.6, 0.5],
           "test_accuracy": [0.7, 0.85, 0.9, 0.93]}


def test_training_curves_put_losses_and_accuracies_on_separate_panels():
    fig = viz.plot_training_curves(HISTORY)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train_loss", "test_loss"]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["test_accuracy"]
    np.testing.assert_array_equal(acc_ax.get_lines()[0].get_ydata(), HISTORY["test_accuracy"])
    np.testing.assert_array_equal(acc_ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])


def test_training_curves_accept_per_epoch_records_with_an_epoch_axis():
    records = [{"epoch": e, "train_loss": loss} for e, loss in [(0, 2.0), (5, 1.0), (10, 0.5)]]
    (ax,) = viz.plot_training_curves(records).axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 5, 10])


def test_training_curves_write_a_png(tmp_path):
    path = tmp_path / "curve.png"
    viz.plot_training_curves(HISTORY, path=path, title="MNIST MLP")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


@pytest.mark.parametrize("history, error, message", [
    ({}, ValueError, "no series"),
    ([1.0, 2.0], TypeError, "dict of name -> list"),
    ({"epoch": [1, 2], "train_loss": [1.0]}, ValueError, "'train_loss' has 1 values but there are 2 epochs"),
])
def test_training_curves_reject_malformed_history(history, error, message):
    with pytest.raises(error, match=message):
        viz.plot_training_curves(history)


def test_digit_grid_titles_show_labels_or_mistakes():
    images = tg.Tensor(np.random.default_rng(0).uniform(size=(5, 784)).astype(np.float32))
    fig = viz.plot_digit_grid(images, labels=[0, 1, 2, 3, 4], predictions=[0, 1, 7, 3, 4], ncols=5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["0", "1", "7 (true 2)", "3", "4"]
    assert fig.axes[2].title.get_color() == "red" and fig.axes[0].title.get_color() == "green"


def test_digit_grid_accepts_2d_images_and_writes_a_png(tmp_path):
    path = tmp_path / "digits.png"
    fig = viz.plot_digit_grid(np.zeros((7, 28, 28)), labels=range(7), ncols=3, path=path)
    assert len(fig.axes) == 7
    assert fig.axes[0].get_images()[0].get_array().shape == (28, 28)
    with Image.open(path) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((3, 783))}, "783 pixels are not square"),
    ({"images": np.zeros((3, 784)), "labels": [1, 2]}, "3 images but 2 labels"),
    ({"images": np.zeros((0, 784))}, "no images"),
    ({"images": np.zeros(784)}, r"got \(784,\)"),
])
def test_digit_grid_rejects_malformed_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_digit_grid(**kwargs)


def test_plot_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.plot_training_curves(HISTORY, path=tmp_path / "missing" / "curve.png")


def test_plots_without_matplotlib_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes any import of it fail
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        viz.plot_training_curves(HISTORY)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        viz.plot_digit_grid(np.zeros((1, 784)))
