"""Kaggle "Digit Recognizer" CSV files: ``train.csv`` (with labels), ``test.csv`` (without), submissions.

``train.csv`` has the header ``label,pixel0,...,pixel783`` and one image per row: its label, then
784 grey values 0..255 in row-major order (``pixel{28 * row + column}``). ``test.csv`` is the same
without the ``label`` column. A submission is ``ImageId,Label`` with ImageId counting from 1.

>>> import tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> header = "label," + ",".join(f"pixel{i}" for i in range(784))
>>> _ = (folder / "train.csv").write_text(header + "\\n7," + ",".join(["0"] * 783 + ["255"]) + "\\n")
>>> x, y = read_kaggle_csv(folder / "train.csv")
>>> x.shape, x.dtype, int(x[0, -1]), y.tolist()
((1, 784), dtype('uint8'), 255, [7])
>>> write_kaggle_submission(folder / "submission.csv", [3, 1])
>>> (folder / "submission.csv").read_text().splitlines()
['ImageId,Label', '1,3', '2,1']
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .files import DataError, write_atomically

PIXEL_COLUMNS = [f"pixel{i}" for i in range(784)]


def read_kaggle_csv(path, labelled=None):
    """Read a Kaggle digit CSV: ``(x, y)``, ``x`` uint8 ``(n, 784)``, ``y`` int64 ``(n,)`` or None without labels.

    The header decides whether there is a label column (``train.csv``) or not (``test.csv``); pass
    ``labelled=True``/``False`` to insist on one of them. Every failure is a ``DataError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", errors="replace") as stream:  # -sig: files saved by Excel start with a BOM
        columns = [name.strip().strip('"') for name in stream.readline().strip().split(",")]
    has_label = columns[:1] == ["label"]
    if columns[has_label:] != PIXEL_COLUMNS:
        shown = ",".join(columns[:3]) + ("..." if len(columns) > 3 else "")
        raise DataError(f"{path} has the header {shown!r} ({len(columns)} columns); a Kaggle digit CSV has "
                        "label,pixel0,...,pixel783 (train.csv) or pixel0,...,pixel783 (test.csv)")
    if labelled is not None and labelled != has_label:
        wanted = "with a label column (like train.csv)" if labelled else "without a label column (like test.csv)"
        raise DataError(f"{path} should be a Kaggle digit CSV {wanted}, but its header says otherwise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int32, ndmin=2)
    except ValueError as error:  # numpy names the row and the field it could not read
        raise DataError(f"{path} is not a table of {len(columns)} integer columns: {error}") from None
    if table.size == 0:
        raise DataError(f"{path} has a header but no image rows")
    if table.shape[1] != len(columns):
        raise DataError(f"{path} has {table.shape[1]} values per row but {len(columns)} header columns")
    pixels = table[:, has_label:]
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        row = int(np.argmax(((pixels < 0) | (pixels > 255)).any(axis=1)))
        raise DataError(f"{path} row {row + 1} has a pixel outside 0..255")
    labels = None
    if has_label:
        labels = table[:, 0].astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            row = int(np.argmax((labels < 0) | (labels > 9)))
            raise DataError(f"{path} row {row + 1} has the label {labels[row]}; digit labels are 0..9")
    return pixels.astype(np.uint8), labels


def split_kaggle_train(x, y):
    """Split Kaggle's labelled ``train.csv`` into ``(x_train, y_train, x_test, y_test)``.

    Kaggle's ``test.csv`` has no labels, so a test set has to come out of ``train.csv``: its last
    ``n // 7`` rows (MNIST's own 60 000 : 10 000 ratio; 6 000 of Kaggle's 42 000 rows). The rows are
    already in random order, so the tail is a fair sample, and the split needs no seed.

    >>> x_train, y_train, x_test, y_test = split_kaggle_train(np.zeros((42000, 784)), np.zeros(42000))
    >>> len(x_train), len(x_test)
    (36000, 6000)
    """
    cut = len(x) - len(x) // 7
    return x[:cut], y[:cut], x[cut:], y[cut:]


def write_kaggle_submission(path, labels) -> None:
    """Write predicted ``labels`` (one per ``test.csv`` row, in order) as a Kaggle ``ImageId,Label`` file."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"a submission needs one integer label per image, got {labels.dtype} of shape {labels.shape}")
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels.tolist(), start=1))
    write_atomically(path, ("ImageId,Label\n" + rows).encode())
