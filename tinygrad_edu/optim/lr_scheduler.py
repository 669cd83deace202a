"""Learning-rate schedules: change each param group's ``lr`` once per epoch, as PyTorch does.

Call ``scheduler.step()`` once per epoch, *after* that epoch's ``optimizer.step()`` calls. A
scheduler remembers each group's starting rate (``initial_lr``, stored in the group) and sets
``group["lr"]`` for the next epoch. The rules are PyTorch's *chainable* forms (each new rate computed
from the current one), so a schedule matches ``torch.optim.lr_scheduler`` value for value; the closed
forms in the docstrings give the same numbers up to floating-point rounding.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, optim
>>> opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(sched.get_last_lr()[0])
...     opt.step()
...     sched.step()
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` (the chainable rule) and ``_closed_form_lr()``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: param group {i} has no 'initial_lr'; resuming with "
                               f"last_epoch={last_epoch} needs the optimizer state that a scheduler already ran on")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list:
        raise NotImplementedError

    def _closed_form_lr(self) -> list:
        raise NotImplementedError

    def step(self, epoch: int | None = None):
        """Advance one epoch (or jump to ``epoch``, using the closed form) and set every group's lr."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = int(epoch)
            values = self._closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The learning rate of each param group, as set by the latest ``step``."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything the scheduler holds except the optimizer: numbers and lists, ready for ``tg.save``.

        Lists are copied, so the snapshot does not follow the scheduler as it keeps stepping. The
        learning rates themselves live in the optimizer's param groups: save ``optimizer.state_dict()``
        too, and a fresh optimizer + scheduler that load both continue the schedule value for value.
        """
        return {key: _copy(value) for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict):
        """Restore what ``state_dict()`` returned (from a scheduler of the same class).

        Raises ``TypeError`` if ``state_dict`` is not a dict and ``KeyError`` naming the missing and
        unexpected keys if it was not saved by this kind of scheduler (a StepLR's state does not load
        into a CosineAnnealingLR); nothing is changed then.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict expects the dict from state_dict(), got {type(state_dict).__name__}")
        own = set(self.state_dict())
        missing, unexpected = sorted(own - set(state_dict)), sorted(set(state_dict) - own, key=str)
        if missing or unexpected:
            raise KeyError(f"{name}.load_state_dict: not the state of a {name} (missing keys: "
                           f"{', '.join(missing) or 'none'}; unexpected keys: {', '.join(map(str, unexpected)) or 'none'})")
        self.__dict__.update({key: _copy(value) for key, value in state_dict.items()})

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Closed form: lr(epoch) = base_lr * gamma ** (epoch // step_size).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _check_count(step_size, "StepLR: step_size must be a positive integer")
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"StepLR: gamma must be a positive number (the factor applied to the rate), got {gamma!r}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from base_lr to ``eta_min`` along half a cosine over ``T_max`` epochs.

    Closed form: lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.
    Past T_max the cosine continues, rising back towards base_lr (period 2 * T_max), as in PyTorch.

    >>> import numpy as np
    >>> from tinygrad_edu import Tensor, optim
    >>> opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 6))
    ...     sched.step()
    >>> lrs
    [1.0, 0.853553, 0.5, 0.146447, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        _check_count(T_max, "CosineAnnealingLR: T_max must be positive (a whole number of steps)")
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real) or not (math.isfinite(eta_min)
                                                                                        and eta_min >= 0):
            raise ValueError(f"CosineAnnealingLR: eta_min must be a number >= 0 (the lowest rate), got {eta_min!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        epoch, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:  # resumed at a later epoch: start from the closed form
            return self._closed_form_lr()
        if (epoch - 1 - T) % (2 * T) == 0:      # the bottom of the cosine: the ratio below would be 0/0
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        ratio = (1 + math.cos(math.pi * epoch / T)) / (1 + math.cos(math.pi * (epoch - 1) / T))
        return [ratio * (lr - low) + low for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


def _copy(value):
    """A list copied (scheduler state holds lists of numbers, one per param group); anything else as is."""
    return list(value) if isinstance(value, list) else value


def _check_count(value, rule: str):
    """A number of epochs or steps: a positive integer (1.5 or "10" are refused, not rounded or parsed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{rule}, got {value!r}")
