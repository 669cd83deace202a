"""Plots for training: loss/accuracy curves and a grid of digit images with their labels.

matplotlib is an optional extra: it is imported only when a plot is drawn, and its absence is
reported with the command that installs it. The figures are built without ``pyplot`` (no GUI
backend, no global state), returned for a notebook to display, and written to ``path`` if given.

>>> fig = plot_training_curves({"train_loss": [2.3, 0.9, 0.5], "test_accuracy": [0.80, 0.91, 0.94]})
>>> [ax.get_ylabel() for ax in fig.axes]
['loss', 'accuracy']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plotting needs matplotlib, which is not installed: pip install matplotlib "
                          "(or pip install 'tinygrad_edu[mnist]')") from err
    return Figure(**kwargs)


def _save(fig, path):
    """Write ``fig`` to ``path`` (format from its suffix) through a temporary file, so no half-written picture remains."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save the plot: the folder {str(path.parent)!r} does not exist")
    fmt = path.suffix.lower().lstrip(".") or "png"
    with atomic_write(path) as stream:
        fig.savefig(stream, format=fmt, bbox_inches="tight")


def _as_series(history) -> dict:
    """{name: list of numbers} from either that mapping or a list of per-epoch records (dicts)."""
    if isinstance(history, dict):
        series = {k: list(v) for k, v in history.items()}
    elif isinstance(history, (list, tuple)) and all(isinstance(r, dict) for r in history):
        series = {}
        for record in history:
            for key, value in record.items():
                series.setdefault(key, []).append(value)
    else:
        raise TypeError("plot_training_curves: history must be a dict of name -> list of numbers "
                        f"or a list of per-epoch dicts, got {type(history).__name__}")
    if not series or not any(k != "epoch" for k in series):
        raise ValueError("plot_training_curves: history holds no series to plot")
    return series


def plot_training_curves(history, path=None, title=None, xlabel="epoch"):
    """Line plot of each series in ``history``; returns the matplotlib Figure.

    ``history`` is ``{"train_loss": [...], "test_accuracy": [...]}`` or a list of per-epoch dicts;
    an ``"epoch"`` series, if present, is the x axis. Series whose name contains "loss" share the
    left panel, the rest (accuracies) the right one. ``path`` (``.png``, ``.svg``, ``.pdf``) saves it.
    """
    series = _as_series(history)
    epochs = series.pop("epoch", None)
    groups = [("loss", [k for k in series if "loss" in k]), ("accuracy", [k for k in series if "loss" not in k])]
    groups = [(label, keys) for label, keys in groups if keys]
    fig = _figure(figsize=(5 * len(groups), 3.6), layout="constrained")
    for i, (label, keys) in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), i + 1)
        for key in keys:
            values = np.asarray(series[key], dtype=float)
            x = np.asarray(epochs, dtype=float) if epochs is not None else np.arange(1, len(values) + 1)
            if len(x) != len(values):
                raise ValueError(f"plot_training_curves: series {key!r} has {len(values)} values "
                                 f"but there are {len(x)} epochs")
            ax.plot(x, values, marker="o" if len(values) <= 30 else None, label=key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig


def _as_images(images) -> np.ndarray:
    """(n, side, side) from (n, side*side) or (n, side, side) data, Tensors included."""
    images = np.asarray(images, dtype=float)
    if images.ndim == 2:
        side = round(images.shape[1] ** 0.5)
        if side * side != images.shape[1]:
            raise ValueError(f"plot_digit_grid: rows of {images.shape[1]} pixels are not square images; "
                             "pass (n, side*side) or (n, height, width) data")
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(f"plot_digit_grid: expected images shaped (n, pixels) or (n, height, width), got {images.shape}")
    return images


def plot_digit_grid(images, labels=None, predictions=None, path=None, ncols=10, title=None):
    """A grid of grey-scale images, e.g. MNIST digits, titled with their labels; returns the Figure.

    ``images``: (n, 784) or (n, 28, 28). ``labels`` are the true classes; with ``predictions`` as
    well, each title is the prediction, green when right and red (with the true label) when wrong.

    >>> import numpy as np
    >>> fig = plot_digit_grid(np.zeros((12, 784)), labels=list(range(12)), ncols=6)
    >>> len(fig.axes), fig.axes[7].get_title()
    (12, '7')
    """
    images = _as_images(images)
    n = len(images)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != n:
            raise ValueError(f"plot_digit_grid: {n} images but {len(values)} {name}")
    if n == 0:
        raise ValueError("plot_digit_grid: no images to show")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(figsize=(1.2 * ncols, 1.35 * nrows), layout="constrained")
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(image, cmap="gray_r")  # ink dark on white, as digits are drawn
        ax.set_xticks([])
        ax.set_yticks([])
        if predictions is not None:
            right = labels is None or int(predictions[i]) == int(labels[i])
            text = f"{int(predictions[i])}" + ("" if right else f" (true {int(labels[i])})")
            ax.set_title(text, fontsize=9, color="green" if labels is not None and right else
                         ("red" if not right else "black"))
        elif labels is not None:
            ax.set_title(f"{int(labels[i])}", fontsize=9)
    if title:
        fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig
