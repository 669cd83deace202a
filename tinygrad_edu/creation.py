"""Module-level constructors and joins, named as in PyTorch: ``tg.tensor``, ``tg.zeros``, ``tg.arange``,
``tg.cat``, ``tg.stack``, ``tg.where``.

Floating-point results are float32 unless ``dtype=`` says otherwise; ``arange`` of integers is int64.

>>> import tinygrad_edu as tg
>>> a, b = tg.ones(2, 3), tg.zeros(2, 3)
>>> tg.cat([a, b], axis=0).shape, tg.stack([a, b], axis=-1).shape
((4, 3), (2, 3, 2))
>>> tg.where(tg.arange(3) > 0, tg.ones(3), tg.zeros(3)).tolist()
[0.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from . import ops
from .tensor import Tensor, _operands, _shape_args, result_dtype


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """``Tensor(data, requires_grad, dtype)``, with PyTorch's argument order."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape_args(shape), dtype=dtype or np.float32), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of ones; ``ones(2, 3)`` or ``ones((2, 3))``."""
    return Tensor(np.ones(_shape_args(shape), dtype=dtype or np.float32), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``t``."""
    return Tensor(np.zeros(np.shape(t.data if isinstance(t, Tensor) else t), dtype=dtype or _dtype_of(t)),
                  requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``t``."""
    return Tensor(np.ones(np.shape(t.data if isinstance(t, Tensor) else t), dtype=dtype or _dtype_of(t)),
                  requires_grad=requires_grad)


def _dtype_of(t):
    return t.dtype if isinstance(t, (Tensor, np.ndarray)) else np.float32


def arange(start, stop=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    """Evenly spaced values in [start, stop); int64 when every argument is an integer, else float32."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    integers = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, stop, step))
    return Tensor(np.arange(start, stop, step, dtype=dtype or (np.int64 if integers else np.float32)),
                  requires_grad=requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    """The n x m identity matrix (m defaults to n), float32 unless ``dtype`` is given."""
    return Tensor(np.eye(n, m, dtype=dtype or np.float32), requires_grad=requires_grad)


def _as_tensors(tensors, name: str) -> list:
    if isinstance(tensors, Tensor) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{name} takes a list or tuple of tensors, e.g. tg.{name}([a, b]), "
                        f"got {type(tensors).__name__}")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor, got an empty list")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = result_dtype(dtype, t.dtype)
    return [t.astype(dtype, copy=False) for t in tensors]


def cat(tensors, axis=0, *, dim=None) -> Tensor:
    """Join tensors along an existing axis (``torch.cat`` / ``np.concatenate``); the gradient of each is
    its slab of the output's gradient. Every other axis must match."""
    tensors = _as_tensors(tensors, "cat")
    axis = axis if dim is None else dim
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("cat: 0-d tensors cannot be joined along an axis; use tg.stack")
    (axis,) = ops._normalize_axis(axis, first.ndim)
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise ValueError(f"cat: shapes {[u.shape for u in tensors]} differ in an axis other than axis {axis}")
    return ops.Cat.apply(*tensors, axis=axis)


def stack(tensors, axis=0, *, dim=None) -> Tensor:
    """Join tensors of one shape along a new axis: each gets a size-1 axis there, then ``cat``."""
    tensors = _as_tensors(tensors, "stack")
    axis = axis if dim is None else dim
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    return cat([t.unsqueeze(axis) for t in tensors], axis=axis)


def where(condition, x, y) -> Tensor:
    """``x`` where ``condition`` holds, else ``y`` (broadcasting); differentiable in x and y."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got {condition.dtype} (compare first, e.g. x > 0)")
    x, y = _operands(x, y) if isinstance(x, Tensor) or isinstance(y, Tensor) else _operands(Tensor(x), y)
    return ops.Where.apply(x, y, condition=condition)
