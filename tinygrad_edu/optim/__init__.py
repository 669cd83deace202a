"""Optimizers: turn the gradients that ``backward`` left in ``.grad`` into parameter updates.

``from tinygrad_edu import optim``: ``SGD``, ``Adam``, ``AdamW`` (PyTorch's update rules, step for
step), ``lr_scheduler.StepLR`` / ``lr_scheduler.CosineAnnealingLR``, and ``minimize`` (SciPy's CG or
L-BFGS on the flattened parameters).

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn, optim
>>> model = nn.Linear(2, 1, dtype=np.float64, seed=0)
>>> opt = optim.Adam(model.parameters(), lr=0.1)
>>> x, y = Tensor(np.array([[1.0, 2.0]])), np.array([[3.0]])
>>> for _ in range(100):
...     opt.zero_grad()
...     loss = nn.functional.mse_loss(model(x), y)
...     loss.backward()
...     opt.step()
>>> loss.item() < 1e-3
True
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .minimize import minimize
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler", "minimize"]
