"""Check autograd against calculus: central finite differences.

For a scalar L(x), (L(x + eps) - L(x - eps)) / (2 eps) approaches dL/dx with error O(eps^2), so
with float64 and eps = 1e-6 it agrees with a correct backward to about 1e-8. ``gradcheck`` turns a
tensor-valued ``fn`` into a scalar with a fixed random projection, L = sum(fn(*inputs) * r), whose
gradient is the vector-Jacobian product that ``backward(r)`` computes; a random r exercises every
output element, so any wrong row of the Jacobian shows up.
"""

from __future__ import annotations

import numpy as np

from .function import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names the input, element and both values."""


def _call(fn, inputs) -> Tensor:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, it returned {type(out).__name__}")
    return out


def _describe(t) -> str:
    return f"{t.dtype} Tensor, requires_grad={t.requires_grad}" if isinstance(t, Tensor) else type(t).__name__


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Compare the gradients of ``fn`` at ``inputs`` from backward with central finite differences.

    ``inputs`` is a tuple of float64 Tensors with requires_grad=True. Returns True, or raises
    GradcheckError for the first input whose worst element violates |analytic - numeric| <=
    atol + rtol * |numeric|.

    >>> import numpy as np, tinygrad_edu as tg
    >>> x = tg.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    >>> tg.gradcheck(lambda t: (t * t).sigmoid(), (x,))
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or t.dtype != np.float64 or not t.requires_grad:
            raise TypeError(f"gradcheck: input {i} must be a float64 Tensor with requires_grad=True, got a "
                            f"{_describe(t)} (float32 finite differences are too coarse to check anything)")
    with no_grad():
        out = _call(fn, inputs)
    projection = np.random.default_rng(seed).standard_normal(out.shape)

    for t in inputs:
        t.grad = None
    out = _call(fn, inputs)
    if out.requires_grad:
        out.backward(projection)
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.data.copy() for t in inputs]

    with no_grad():
        for i, t in enumerate(inputs):
            numeric = np.zeros(t.shape)
            flat, nflat = t.data.reshape(-1), numeric.reshape(-1)
            for k in range(flat.size):
                original = flat[k]
                flat[k] = original + eps
                plus = np.sum(_call(fn, inputs).data * projection)
                flat[k] = original - eps
                minus = np.sum(_call(fn, inputs).data * projection)
                flat[k] = original
                nflat[k] = (plus - minus) / (2 * eps)
            excess = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
            if excess.size and (excess.max() > 0 or not np.isfinite(analytic[i]).all()):
                where = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(excess), excess, np.inf))), t.shape)
                raise GradcheckError(
                    f"gradcheck failed for input {i} (shape {t.shape}) at element {tuple(int(w) for w in where)}: "
                    f"analytic {analytic[i][where]:.8g} vs numeric {numeric[where]:.8g} "
                    f"(tolerance {atol} + {rtol} * |numeric|)"
                )
    return True
