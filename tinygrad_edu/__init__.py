"""tinygrad_edu: reverse-mode automatic differentiation on NumPy, small enough to read in an afternoon.

>>> import tinygrad_edu as tg
>>> x = tg.Tensor([[1.0, -2.0]], requires_grad=True)
>>> w = tg.Tensor([[0.5], [0.25]], requires_grad=True)
>>> loss = (x @ w).relu().sum()
>>> loss.backward()
>>> w.grad.tolist()
[[0.0], [0.0]]
"""

from .tensor import Tensor
from .function import Function, detect_anomaly, is_grad_enabled, no_grad, AnomalyError
from .gradcheck import GradcheckError, gradcheck
from .serialization import load, save
from . import nn, optim
from . import viz
from . import data

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "detect_anomaly", "AnomalyError",
           "gradcheck", "GradcheckError", "save", "load", "nn", "optim", "viz", "data"]
__version__ = "0.1.0"
