"""DataLoader: a dataset held in memory, served as mini-batches of Tensors.

>>> import numpy as np
>>> x, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)
>>> loader = DataLoader(x, y, batch_size=2, shuffle=False)
>>> len(loader)
3
>>> [yb.tolist() for _, yb in loader]
[[0, 1], [2, 3], [4]]
>>> shuffled = DataLoader(x, y, batch_size=2, seed=0)
>>> sorted(int(label) for _, yb in shuffled for label in yb.tolist())
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import math

import numpy as np

from ..random import generator
from ..tensor import Tensor


class DataLoader:
    """Iterate ``(x_batch, y_batch)`` Tensors over ``x`` and ``y`` (NumPy arrays or Tensors, same length).

    Args:
        x: inputs, first axis = examples. Stored once as C-contiguous float32 (no copy when it already is).
        y: targets, one per example. Integer labels are stored as int64, float targets as float32.
        batch_size: examples per batch; the last batch holds what is left (``len(x) % batch_size``) when it
            does not divide evenly.
        shuffle: visit the examples in a new random order on every pass (each ``iter``).
        seed: seed for that order (a non-negative int). The same seed gives the same sequence of orders,
            pass after pass, whatever else the program draws. ``None``: each pass draws its order from the
            package's default generator when it starts, so ``tg.manual_seed`` (called before or after the
            loader is built) makes the orders repeat, and without it they differ from run to run.

    Each pass visits every example exactly once. A shuffled batch is gathered with one fancy index
    (one copy, contiguous); an unshuffled batch is a slice, a view with no copy. A batch that holds the
    whole set (full-batch training) is served in the stored order even when ``shuffle`` is set: a loss
    reduced by mean or sum, and its gradient, do not depend on the order, and gathering would copy the
    whole set on every pass (188 MB for MNIST).
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=None):
        x, y = _array(x, "x"), _array(y, "y")
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"x and y need a first axis of examples; got shapes {x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}; they must be the same length")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        self.y = np.ascontiguousarray(y, dtype=np.int64 if y.dtype.kind in "iub" else np.float32)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self._rng = None if seed is None else generator(seed)  # None: the default generator, looked up per pass

    def __len__(self):
        """Number of batches in one pass: ``ceil(len(x) / batch_size)``."""
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        n, size = len(self.x), self.batch_size
        if not self.shuffle or size >= n:  # one batch of the whole set: its order changes no mean or sum
            for start in range(0, n, size):
                yield Tensor.from_numpy(self.x[start:start + size]), Tensor.from_numpy(self.y[start:start + size])
            return
        rng = generator() if self._rng is None else self._rng
        order = rng.permutation(n)  # drawn per pass: every epoch gets its own order
        for start in range(0, n, size):
            index = order[start:start + size]
            # the arrays are already checked, so they are wrapped directly, without Tensor()'s checks
            yield Tensor._from_op(self.x.take(index, axis=0), None), Tensor._from_op(self.y.take(index, axis=0), None)

    def __repr__(self):
        return (f"DataLoader({len(self.x)} examples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed})")


def _array(values, name) -> np.ndarray:
    array = values.data if isinstance(values, Tensor) else np.asarray(values)
    if array.dtype.kind not in "iufb":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array
