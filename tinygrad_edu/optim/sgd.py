"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's SGD).

PyTorch's documented algorithm, for each parameter theta with gradient g at step t:

    g <- g + weight_decay * theta                       (if weight_decay != 0)
    if momentum != 0:
        b <- g                                          at the first step
        b <- momentum * b + (1 - dampening) * g         afterwards
        g <- g + momentum * b   if nesterov   else   g <- b
    theta <- theta - lr * g

The momentum buffer b is a running sum of past gradients, so steps keep moving in directions that
gradients agree on; Nesterov's variant looks one momentum step ahead.

>>> import numpy as np
>>> from tinygrad_edu import Tensor
>>> w = Tensor(np.array([1.0]), requires_grad=True)
>>> opt = SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     w.grad = Tensor(np.array([1.0]))    # a constant gradient, for the example
...     opt.step()
>>> w.data.tolist()                          # 1 - 0.1 * 1 - 0.1 * (0.9 * 1 + 1)
[0.71]
"""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check, _check_lr


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0)``.

    State per parameter (with momentum only): ``momentum_buffer``, an array of the parameter's shape
    and dtype (0-d for a 0-d parameter).
    """

    _array_state = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0):
        _check_lr(lr, "SGD")
        _check(momentum >= 0, f"SGD: invalid momentum {momentum} (must be >= 0)")
        _check(weight_decay >= 0, f"SGD: invalid weight_decay {weight_decay} (must be >= 0)")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "SGD: nesterov=True requires momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                      "nesterov": nesterov, "dampening": dampening})

    def _update_group(self, group):
        # Python floats: NumPy keeps a float32 array float32 when the other operand is a Python float.
        lr, momentum = float(group["lr"]), float(group["momentum"])
        decay, dampening, nesterov = float(group["weight_decay"]), float(group["dampening"]), group["nesterov"]
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            theta, g = p._data, grad._data
            work = self._scratch(p, theta, 2 if (decay and nesterov) else 1)
            if decay:
                np.multiply(theta, decay, out=work[0])
                np.add(g, work[0], out=work[0])
                g = work[0]
            if momentum:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy(order="K")  # laid out as g (and the parameter)
                else:
                    if buf.dtype != theta.dtype:  # the parameter was cast (Module.double()/float())
                        buf = state["momentum_buffer"] = buf.astype(theta.dtype)
                    buf *= momentum
                    if dampening:
                        np.multiply(g, 1.0 - dampening, out=work[0])
                        buf += work[0]
                    else:
                        buf += g
                if nesterov:
                    out = work[-1]
                    np.multiply(buf, momentum, out=out)
                    np.add(g, out, out=out)
                    g = out
                else:
                    g = buf
            np.multiply(g, lr, out=work[0])
            theta -= work[0]
            p._changed_in_place()  # _version += 1
