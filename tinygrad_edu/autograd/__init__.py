"""Reverse-mode automatic differentiation: the sweep behind ``Tensor.backward`` and its relatives.

- ``backprop.py``: the sweep itself (order the graph, seed, walk it backwards, accumulate), and
  ``grad(outputs, inputs, ...)``, which returns gradients instead of storing them in ``.grad``.
- ``functional.py``: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``, ``vhp`` (as
  ``torch.autograd.functional``), each a few calls of ``grad``.

>>> import numpy as np, tinygrad_edu as tg
>>> x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
>>> tg.autograd.functional.hessian(lambda t: (t ** 3).sum(), x).tolist()      # diag(6x)
[[6.0, 0.0], [0.0, 12.0]]
"""

from . import functional
from .backprop import backward, grad, sweep, topological_order

__all__ = ["backward", "functional", "grad", "sweep", "topological_order"]
