"""tinygrad_edu: reverse-mode automatic differentiation on NumPy, small enough to read in an afternoon.

>>> import tinygrad_edu as tg
>>> x = tg.Tensor([[1.0, -2.0]], requires_grad=True)
>>> w = tg.Tensor([[0.5], [0.25]], requires_grad=True)
>>> loss = (x @ w).relu().sum()
>>> loss.backward()
>>> w.grad.tolist()
[[0.0], [0.0]]
"""

from . import allocator, autograd, data, nn, optim, viz
from .creation import arange, cat, eye, ones, ones_like, stack, tensor, where, zeros, zeros_like
from .function import AnomalyError, Function, detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor

__all__ = ["AnomalyError", "Function", "GradcheckError", "Tensor", "arange", "autograd", "cat", "data",
           "detect_anomaly", "enable_grad", "eye", "gradcheck", "gradgradcheck", "is_grad_enabled", "load", "manual_seed", "nn",
           "no_grad", "ones", "ones_like", "optim", "save", "set_grad_enabled", "stack", "tensor", "viz", "where",
           "zeros", "zeros_like"]
__version__ = "0.1.0"

allocator.keep_freed_memory()  # freed arrays stay for the next training step (see allocator.py)
