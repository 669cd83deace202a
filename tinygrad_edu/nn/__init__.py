"""Neural-network building blocks: Module/Parameter, layers, initialisers, losses.

``from tinygrad_edu import nn``; ``import tinygrad_edu.nn.functional as F``.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> model = nn.Sequential(nn.Linear(2, 4, seed=0), nn.Tanh(), nn.Linear(4, 1, seed=1))
>>> loss = nn.MSELoss()(model(Tensor(np.ones((3, 2), dtype=np.float32))), np.zeros((3, 1)))
>>> loss.backward()
>>> [p.grad.shape for p in model.parameters()]
[(4, 2), (4,), (1, 4), (1,)]
"""

from . import functional, init
from .layers import (
           MLP,
           Dropout,
           Flatten,
           Identity,
           LeakyReLU,
           Linear,
           LogSoftmax,
           ReLU,
           Sequential,
           Sigmoid,
           Softmax,
           Tanh,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter

__all__ = [
           "MLP",
           "BCELoss",
           "BCEWithLogitsLoss",
           "CrossEntropyLoss",
           "Dropout",
           "Flatten",
           "Identity",
           "LeakyReLU",
           "Linear",
           "LogSoftmax",
           "MSELoss",
           "Module",
           "ModuleList",
           "NLLLoss",
           "Parameter",
           "ReLU",
           "Sequential",
           "Sigmoid",
           "Softmax",
           "Tanh",
           "functional",
           "init",
]
