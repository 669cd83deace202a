"""Neural-network building blocks: Module/Parameter, layers, initialisers, losses, ``utils`` (clip_grad_norm_,
parameters_to_vector, vector_to_parameters).

``from tinygrad_edu import nn``; ``import tinygrad_edu.nn.functional as F``.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> model = nn.Sequential(nn.Linear(2, 4, seed=0), nn.Tanh(), nn.Linear(4, 1, seed=1))
>>> loss = nn.MSELoss()(model(Tensor(np.ones((3, 2), dtype=np.float32))), np.zeros((3, 1)))
>>> loss.backward()
>>> [p.grad.shape for p in model.parameters()]
[(4, 2), (4,), (1, 4), (1,)]
"""

from . import conv, functional, init, layers, losses, utils
from .conv import *
from .layers import *  # layers.__all__ is the one list of layer names
from .losses import *
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "functional", "init", "utils"]
__all__ += layers.__all__
__all__ += conv.__all__
__all__ += losses.__all__
