"""tinygrad_edu: reverse-mode automatic differentiation on NumPy, small enough to read in an afternoon.

>>> import tinygrad_edu as tg
>>> x = tg.Tensor([[1.0, -2.0]], requires_grad=True)
>>> w = tg.Tensor([[0.5], [0.25]], requires_grad=True)
>>> loss = (x @ w).relu().sum()
>>> loss.backward()
>>> w.grad.tolist()
[[0.0], [0.0]]
"""

# Tensor first: function.py and ops.py import it while the package loads.
from .tensor import Tensor  # noqa: I001
from .function import AnomalyError, Function, detect_anomaly, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .serialization import load, save
from . import data, nn, optim, viz

__all__ = ["AnomalyError", "Function", "GradcheckError", "Tensor", "data", "detect_anomaly", "gradcheck",
           "is_grad_enabled", "load", "nn", "no_grad", "optim", "save", "viz"]
__version__ = "0.1.0"
