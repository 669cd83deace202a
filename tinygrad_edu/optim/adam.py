"""Adam and AdamW: per-parameter step sizes from running moments of the gradient (PyTorch's algorithms).

Adam (Kingma & Ba, 2015) as PyTorch documents it, at step t = 1, 2, ...:

    g <- g + weight_decay * theta                      (Adam's L2 weight decay, through the gradient)
    m <- beta1 * m + (1 - beta1) * g                   (first moment: a running mean of g)
    v <- beta2 * v + (1 - beta2) * g^2                 (second moment: a running mean of g^2)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)     (bias correction: m, v start at 0)
    theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

eps sits *outside* the square root and is added after the bias correction. With ``amsgrad`` the
denominator uses the running maximum of v instead of v.

AdamW (Loshchilov & Hutter, 2019) decouples the weight decay from the gradient statistics:

    theta <- theta * (1 - lr * weight_decay)           then the Adam update above, without decay in g.

>>> import numpy as np
>>> from tinygrad_edu import Tensor
>>> w = Tensor(np.array([1.0, -1.0]), requires_grad=True)
>>> opt = Adam([w], lr=0.1)
>>> w.grad = Tensor(np.array([1e-3, 5.0]))
>>> opt.step()                   # the first step moves every coordinate by ~lr, whatever |g| is
>>> w.data.round(4).tolist()
[0.9, -1.1]
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _check, _check_lr


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False)``.

    State per parameter: ``step`` (an int, the t of the bias corrections), ``exp_avg`` (m) and
    ``exp_avg_sq`` (v), plus ``max_exp_avg_sq`` with ``amsgrad``: arrays of the parameter's shape and
    dtype (0-d for a 0-d parameter), updated in place.
    """

    decoupled_weight_decay = False
    _array_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _count_state = ("step",)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        name = type(self).__name__
        _check_lr(lr, name)
        _check(eps >= 0, f"{name}: invalid eps {eps} (must be >= 0)")
        _check(len(betas) == 2 and all(0 <= b < 1 for b in betas), f"{name}: betas must be two numbers in [0, 1), "
               f"got {betas}")
        _check(weight_decay >= 0, f"{name}: invalid weight_decay {weight_decay} (must be >= 0)")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                      "weight_decay": weight_decay, "amsgrad": amsgrad})

    def _update_group(self, group):
        lr, eps, decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad = group["amsgrad"]
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            theta, g = p._data, grad._data
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = {"step": 0, "exp_avg": np.zeros_like(theta),
                                         "exp_avg_sq": np.zeros_like(theta)}
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(theta)
            decay_through_gradient = decay and not self.decoupled_weight_decay
            work = self._scratch(p, theta, 2 if decay_through_gradient else 1)
            tmp = work[0]
            state["step"] += 1
            t = state["step"]
            if decay and self.decoupled_weight_decay:
                theta *= 1.0 - lr * decay
            elif decay:
                np.multiply(theta, decay, out=work[1])
                np.add(g, work[1], out=work[1])
                g = work[1]
            if state["exp_avg"].dtype != theta.dtype:  # the parameter was cast (Module.double()/float())
                self._cast_state(state, theta.dtype)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            np.multiply(g, 1.0 - beta1, out=tmp)
            m += tmp
            v *= beta2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - beta2
            v += tmp
            if amsgrad:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            # lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - beta1^t), v_hat = v / c^2, c = sqrt(1 - beta2^t)
            # equals (lr * c / (1 - beta1^t)) * m / (sqrt(v) + eps * c): both bias corrections fold into
            # two scalars, saving a pass over the parameter.
            c = math.sqrt(1.0 - beta2 ** t)
            np.sqrt(v, out=tmp)
            tmp += eps * c
            np.divide(m, tmp, out=tmp)
            tmp *= lr * c / (1.0 - beta1 ** t)
            theta -= tmp
            p._changed_in_place()  # _version += 1


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False)``."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
