"""Full-batch training with SciPy's optimizers (conjugate gradient, L-BFGS, ...).

``scipy.optimize.minimize`` wants a function of one flat float64 vector that returns the cost and
its gradient. A model is many arrays, so this bridge lays all parameters end to end (in
``model.parameters()`` order, each flattened row-major), and for every vector SciPy proposes it
writes the pieces back into the parameters, runs ``loss_fn()``, backpropagates, and hands SciPy the
loss and the gradients laid end to end the same way. This is the ``fmin_cg(cost, thetas, fprime=grad)``
of Ng's ex4 (examples/ng_ex4_cg.py) with the hand-derived gradient replaced by ``backward``.

SciPy is an optional extra (``pip install 'tinygrad_edu[scipy]'``), imported only when called.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn, optim
>>> w = nn.Parameter(np.array([3.0, -1.0]))
>>> result = optim.minimize([w], lambda: ((w - Tensor(np.array([1.0, 2.0]))) ** 2).sum(), method="CG")
>>> bool(result.success), w.data.round(6).tolist()
(True, [1.0, 2.0])
"""

from __future__ import annotations

import numpy as np

from ..nn.utils import parameters_to_vector, vector_to_parameters
from ..tensor import Tensor

_GRADIENT_FREE = {"nelder-mead", "powell", "cobyla", "cobyqa"}


def _scipy_minimize():
    try:
        from scipy.optimize import minimize as scipy_minimize
    except ImportError as err:
        raise ImportError("optim.minimize needs SciPy, an optional extra of tinygrad_edu: "
                          "pip install 'tinygrad_edu[scipy]' (or pip install scipy)") from err
    return scipy_minimize


def _parameters(model) -> list:
    params = model.parameters() if hasattr(model, "parameters") else model
    params = [params] if isinstance(params, Tensor) else list(params)
    unique, seen = [], set()
    for p in params:
        if not isinstance(p, Tensor) or p.dtype.kind != "f":
            raise TypeError(f"optim.minimize: every parameter must be a float Tensor, got {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    if not unique:
        raise ValueError("optim.minimize: the model has no parameters")
    return unique


def flatten_parameters(params) -> np.ndarray:
    """All parameters laid end to end as one float64 vector (the layout ``minimize`` hands to SciPy):
    ``nn.utils.parameters_to_vector``, in float64."""
    return parameters_to_vector(params).data.astype(np.float64)


def assign_flat(params, vector: np.ndarray):
    """Write a flat vector back into the parameters, in place, each in its own dtype, shape and memory
    layout (``nn.utils.vector_to_parameters``): every parameter's ``_version`` goes up by one."""
    vector_to_parameters(vector, params)


def minimize(model, loss_fn, method: str = "CG", maxiter: int = 100, tol=None, callback=None, options=None):
    """Minimise ``loss_fn()`` over the parameters of ``model`` with ``scipy.optimize.minimize``.

    ``model`` is a Module (or an iterable of parameter Tensors); ``loss_fn`` takes no arguments and
    returns the scalar loss Tensor computed from those parameters on the full training set.
    ``method`` is any SciPy method ("CG", "L-BFGS-B", "BFGS", ...); gradient-based ones receive the
    gradient from ``backward``. ``maxiter``, ``tol``, ``callback`` (called with the flat vector) and
    ``options`` pass through to SciPy.

    Returns SciPy's ``OptimizeResult`` (``.x``, ``.fun``, ``.success``, ``.nit``, ...); the model is left
    holding ``result.x`` and with no ``.grad``. SciPy works in float64; a float32 model's values are
    rounded to float32 on every evaluation, which can stall line searches, so use float64 models here.
    """
    scipy_minimize = _scipy_minimize()
    params = _parameters(model)
    uses_gradient = method.lower() not in _GRADIENT_FREE

    def loss_and_gradient(vector):
        assign_flat(params, vector)
        for p in params:
            p.grad = None
        loss = loss_fn()
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise TypeError(f"optim.minimize: loss_fn must return a one-element Tensor, got "
                            f"{type(loss).__name__}{getattr(loss, 'shape', '')}")
        if not uses_gradient:
            return float(loss.item())
        if not loss.requires_grad:
            raise RuntimeError("optim.minimize: the loss does not depend on any parameter that requires grad")
        loss.backward()
        gradient = np.concatenate([np.zeros(p.size) if p.grad is None else p.grad.data.ravel() for p in params])
        return float(loss.item()), gradient.astype(np.float64)

    opts = {"maxiter": maxiter, **(options or {})}
    result = scipy_minimize(loss_and_gradient, flatten_parameters(params), jac=uses_gradient or None,
                            method=method, tol=tol, callback=callback, options=opts)
    assign_flat(params, result.x)
    for p in params:
        p.grad = None
    return result
