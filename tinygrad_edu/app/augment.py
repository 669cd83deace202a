"""Data augmentation for training: every image moved by a few random whole pixels, anew every epoch.

A digit shifted by a pixel or two is the same digit, so the network sees slightly different images
each epoch instead of memorising the exact ones; the convolutional network's test error drops by
that. Only training batches are shifted, never the test set.

>>> import numpy as np
>>> x = np.zeros((1, 16), np.float32); x[0, 5] = 1.0          # one 4 x 4 image, ink at row 1, column 1
>>> random_shift(x, 1, np.random.default_rng(0), side=4).reshape(4, 4).nonzero()
(array([2]), array([1]))
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor


def random_shift(x, max_shift: int, rng: np.random.Generator, side: int | None = None, fill: float = 0.0):
    """Each image of ``x`` moved by its own random whole-pixel offset, the uncovered border set to ``fill``.

    Args:
        x: images as rows, ``(n, side * side)``, or as ``(n, side, side)``; any float dtype.
        max_shift: each image moves by ``dy, dx`` drawn uniformly from the integers in
            ``[-max_shift, max_shift]`` (independently per axis and per image); content moved past the
            edge is dropped. 0 returns an unchanged copy.
        rng: the ``numpy.random.Generator`` the offsets are drawn from (its state advances).
        side: the image side; default ``sqrt(pixels)`` for rows, the array's own for ``(n, side, side)``.
        fill: the value of uncovered pixels: 0.0 (black paper) for raw pixels; for standardised
            inputs, what 0.0 becomes, ``(0 - mean) / std``.

    Returns:
        a new array of the shape and dtype of ``x``; ``x`` is not changed.

    Raises:
        ValueError: the rows are not square images, or ``max_shift`` is negative or not smaller than ``side``.
    """
    x = np.asarray(x)
    rows = x.ndim == 2
    if side is None:
        side = math.isqrt(x.shape[1]) if rows else x.shape[-1]
    if rows and x.shape[1] != side * side:
        raise ValueError(f"random_shift: rows of {x.shape[1]} pixels are not {side} x {side} images; pass images "
                         "as (n, side * side) rows or as (n, side, side)")
    if not rows and (x.ndim != 3 or x.shape[1:] != (side, side)):
        raise ValueError(f"random_shift: expected images shaped (n, side * side) or (n, side, side), got {x.shape}")
    if not 0 <= max_shift < side:
        raise ValueError(f"random_shift: max_shift must be from 0 to {side - 1} for {side} x {side} images, "
                         f"got {max_shift}")
    images = x.reshape(len(x), side, side)
    # Pad once, then cut each image's window: out[r, c] = x[r - dy, c - dx], i.e. the window starts at
    # (m - dy, m - dx) of the padded image. One vectorised cut per offset pair, at most (2m + 1)^2 of them.
    m = max_shift
    padded = np.full((len(x), side + 2 * m, side + 2 * m), fill, dtype=x.dtype)
    padded[:, m:m + side, m:m + side] = images
    dy, dx = rng.integers(-m, m + 1, size=(2, len(x)))
    shifted = np.empty_like(images)
    for oy in range(-m, m + 1):
        for ox in range(-m, m + 1):
            chosen = np.flatnonzero((dy == oy) & (dx == ox))
            if chosen.size:
                shifted[chosen] = padded[chosen, m - oy:m - oy + side, m - ox:m - ox + side]
    return shifted.reshape(x.shape)


class ShiftedBatches:
    """The batches of ``loader`` (a ``DataLoader``), each image shifted by ``random_shift`` as it is served.

    An image is served once per epoch, so it gets a new offset every epoch. ``seed`` makes the offsets
    repeat from run to run; they come from a stream of their own, independent of the loader's order.
    ``len()`` is the loader's number of batches, so ``fit`` and the learning-rate schedule count steps
    as without augmentation.

    >>> import numpy as np
    >>> from tinygrad_edu.data import DataLoader
    >>> loader = DataLoader(np.ones((3, 784), np.float32), np.arange(3), batch_size=2, shuffle=False)
    >>> batches = ShiftedBatches(loader, max_shift=2, seed=0)
    >>> len(batches), [tuple(xb.shape) for xb, _ in batches]
    (2, [(2, 784), (1, 784)])
    """

    def __init__(self, loader, max_shift: int, seed=None, fill: float = 0.0):
        self.loader, self.max_shift, self.fill = loader, int(max_shift), float(fill)
        self.rng = np.random.default_rng(None if seed is None else [int(seed), 1])  # [seed, 1]: not the order's stream

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x_batch, y_batch in self.loader:
            yield Tensor(random_shift(x_batch.data, self.max_shift, self.rng, fill=self.fill)), y_batch
