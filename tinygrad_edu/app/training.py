"""The training loop behind ``tinygrad-edu train``: mini-batch steps, a per-epoch test, divergence detection.

One step is the whole of reverse-mode training in four lines::

    loss = F.cross_entropy(model(x_batch), y_batch)   # forward: records the graph
    optimizer.zero_grad()                              # forget the previous step's gradients
    loss.backward()                                    # reverse sweep: every parameter's .grad
    optimizer.step()                                   # move each parameter against its gradient

Everything else here is bookkeeping: a progress bar, running loss and accuracy, the test after each
epoch, and a check that the loss is still a finite number (a learning rate that is too large makes
it overflow to inf and then nan, after which every further step is wasted work).

>>> import numpy as np
>>> from tinygrad_edu import nn, optim
>>> from tinygrad_edu.data import DataLoader
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(64, 2)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.int64)                   # a line separates the classes
>>> model = nn.MLP([2, 8, 2], seed=0)
>>> opt = optim.Adam(model.parameters(), lr=0.05)
>>> loader = DataLoader(x, y, batch_size=16, seed=0)
>>> history = fit(model, opt, loader, x, y, epochs=5, progress=False)
>>> [record["epoch"] for record in history], history[-1]["test_accuracy"] > 0.9
([1, 2, 3, 4, 5], True)
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..function import no_grad
from ..nn import functional as F
from ..tensor import Tensor


class Diverged(RuntimeError):
    """The training loss stopped being a finite number; names the epoch and the step where it happened.

    ``history`` holds the records of the epochs completed before (filled in by ``fit``).
    """

    def __init__(self, epoch: int, step: int, loss: float):
        self.epoch, self.step, self.loss, self.history = epoch, step, loss, []
        super().__init__(f"training diverged: the loss became {loss} at epoch {epoch}, step {step}")


def fit(model, optimizer, loader, x_test, y_test, epochs, scheduler=None, scheduler_per_step=True,
        on_epoch_end=None, progress=True, eval_batch_size=2000) -> list:
    """Train for ``epochs`` passes over ``loader``, testing on ``(x_test, y_test)`` after each.

    Returns the history: one record per epoch with ``epoch``, ``train_loss``, ``train_accuracy``,
    ``test_loss``, ``test_accuracy`` and ``seconds`` (wall time since the start, tests included).
    ``scheduler.step()`` runs after every batch (``scheduler_per_step``) or after every epoch.
    ``on_epoch_end(history)`` runs after each epoch's record is added (to save a checkpoint, print).
    ``loader`` is any re-iterable of ``(x_batch, y_batch)`` with a ``len`` (a ``DataLoader``, or one
    wrapped by ``augment.ShiftedBatches``). The test runs in eval mode (BatchNorm's running statistics,
    no dropout), ``eval_batch_size`` images at a time.
    Raises ``Diverged`` (with the history so far) when the loss, or a parameter, stops being finite.
    """
    history, started = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        try:
            train_loss, train_accuracy = train_epoch(model, loader, optimizer, epoch, epochs,
                                                     scheduler if scheduler_per_step else None, progress)
            if scheduler is not None and not scheduler_per_step:
                scheduler.step()
            result = evaluate(model, x_test, y_test, batch_size=eval_batch_size)
            if not (math.isfinite(result["loss"]) and all(np.isfinite(p.data).all() for p in model.parameters())):
                # the epoch's last step poisoned the weights after its loss was checked
                raise Diverged(epoch, len(loader), math.nan)
        except Diverged as diverged:
            diverged.history = history
            raise
        history.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                        "test_loss": result["loss"], "test_accuracy": result["accuracy"],
                        "seconds": time.perf_counter() - started})
        if on_epoch_end is not None:
            on_epoch_end(history)
    return history


def train_epoch(model, loader, optimizer, epoch, epochs=None, scheduler=None, progress=True):
    """One pass over ``loader``; returns ``(mean training loss, training accuracy)`` of the pass.

    ``scheduler`` (optional) has its ``step()`` called after every optimizer step, so a schedule's
    period is counted in steps. Raises ``Diverged`` before the first step whose loss is nan or inf,
    so the parameters are left as they were when that loss was computed.
    """
    model.train()
    batches = _progress_bar(loader, f"epoch {epoch}" + (f"/{epochs}" if epochs else ""), progress)
    total_loss, correct, seen, last = 0.0, 0, 0, len(loader)
    # A diverging run overflows before its loss turns nan; the check below reports that once, in
    # words, instead of NumPy warning about every overflowing operation on the way.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step, (x_batch, y_batch) in enumerate(batches, start=1):
            logits = model(x_batch)
            loss = F.cross_entropy(logits, y_batch)
            value = loss.item()
            if not math.isfinite(value):
                _close(batches)
                raise Diverged(epoch, step, value)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = len(y_batch)
            total_loss += value * n
            correct += int((logits.data.argmax(axis=1) == y_batch.data).sum())
            seen += n
            if hasattr(batches, "set_postfix") and (step % 20 == 0 or step == last):  # cheap, but not free
                batches.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=step == last)
    _close(batches)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def predict_proba(model, x, batch_size=2000) -> np.ndarray:
    """Class probabilities ``softmax(model(x))``, float32 ``(n, classes)``, in batches of ``batch_size`` without a graph.

    The model is put in eval mode first: BatchNorm normalises with its running statistics, dropout is off.
    """
    model.eval()
    x = np.asarray(x, dtype=np.float32)
    outputs = []
    with no_grad():
        for start in range(0, len(x), batch_size):
            outputs.append(model(Tensor(x[start:start + batch_size])).softmax(axis=-1).data)
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)


def evaluate(model, x, y, batch_size=2000) -> dict:
    """Accuracy, mean cross-entropy loss, predictions and confusion matrix of ``model`` on ``(x, y)``.

    The loss is the mean over examples of ``-log p(true class)``, the quantity training minimises.
    The model is put in eval mode first (BatchNorm's running statistics, no dropout), and ``x`` goes
    through it ``batch_size`` examples at a time, so memory stays bounded for any ``len(x)``.
    """
    model.eval()
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    total_loss, predictions = 0.0, []
    with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # callers check the loss
        for start in range(0, len(x), batch_size):
            logits = model(Tensor(x[start:start + batch_size]))
            total_loss += F.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
            predictions.append(logits.data.argmax(axis=1))
    predictions = np.concatenate(predictions).astype(np.int64)
    classes = max(int(y.max()) + 1 if len(y) else 0, int(predictions.max()) + 1 if len(y) else 0)
    return {"accuracy": float((predictions == y).mean()), "loss": total_loss / len(y),
            "predictions": predictions, "confusion": confusion_matrix(y, predictions, classes)}


def confusion_matrix(labels, predictions, classes=None) -> np.ndarray:
    """``m[i, j]`` = number of examples of true class i predicted as class j (rows: truth, columns: guess).

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if classes is None:
        classes = int(max(labels.max(initial=-1), predictions.max(initial=-1))) + 1
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)  # add.at, not fancy +=, so repeated pairs all count
    return matrix


def format_confusion_matrix(matrix) -> str:
    """The matrix as aligned text, truth down the side and prediction across the top.

    >>> print(format_confusion_matrix([[5, 1], [0, 7]]))
    true\\pred   0   1
            0   5   1
            1   0   7
    """
    matrix = np.asarray(matrix)
    width = max(4, len(str(matrix.max(initial=0))) + 1)
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(matrix.shape[1]))]
    lines += [f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix.tolist())]
    return "\n".join(lines)


def plot_confusion_matrix(matrix, path=None, title=None):
    """A heat map of the confusion matrix with the counts written in the cells; returns the Figure."""
    from ..viz_plots import _figure, _save

    matrix = np.asarray(matrix)
    fig = _figure(figsize=(5.2, 4.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    # Log scale so the few mistakes are visible next to the large diagonal.
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
    threshold = np.log1p(matrix).max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if np.log1p(count) > threshold else "black")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    if title:
        ax.set_title(title)
    if path is not None:
        _save(fig, path)
    return fig


def _progress_bar(iterable, description, enabled):
    """A tqdm bar when tqdm is installed and output goes to a terminal (``disable=None``), else the iterable."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=description, unit="batch", leave=True, disable=None, dynamic_ncols=True)


def _close(batches):
    if hasattr(batches, "close"):
        batches.close()
