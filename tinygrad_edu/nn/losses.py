"""Loss modules: the functions of ``nn.functional`` held with their ``reduction``, PyTorch style.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> criterion = nn.CrossEntropyLoss()
>>> round(criterion(Tensor(np.array([[1.0, 2.0, 3.0]])), np.array([2])).item(), 6)
0.407606
"""

from __future__ import annotations

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in F.REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {F.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """``F.cross_entropy(logits, target)``: integer class indices or probability targets."""

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.reduction)


class NLLLoss(_Loss):
    """``F.nll_loss(log_probs, target)``: pairs with a ``LogSoftmax`` output layer."""

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, self.reduction)


class MSELoss(_Loss):
    """``F.mse_loss(pred, target)``: mean squared error."""

    def forward(self, pred, target):
        return F.mse_loss(pred, target, self.reduction)


class BCELoss(_Loss):
    """``F.binary_cross_entropy(probs, target)``: probabilities (e.g. after a Sigmoid) against 0/1 targets."""

    def forward(self, probs, target):
        return F.binary_cross_entropy(probs, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``F.binary_cross_entropy_with_logits(logits, target)``: the sigmoid is folded in, stably."""

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)


__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss"]
