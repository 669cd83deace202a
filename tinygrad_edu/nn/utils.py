"""Parameter utilities, PyTorch's ``torch.nn.utils`` names: ``clip_grad_norm_`` and, at the end,
``parameters_to_vector`` / ``vector_to_parameters``.

Gradient clipping by total norm (Pascanu, Mikolov & Bengio, 2013, "On the difficulty of training
recurrent neural networks"): treat all gradients of a model as one long vector g; when its norm
exceeds ``max_norm``, scale every gradient by the same factor so the norm becomes (about) ``max_norm``.
The direction of the update is kept, only its length is capped, so one exploding batch cannot throw
the weights far away. With p = ``norm_type``::

    total_norm = ( sum over parameters of ||grad||_p ^ p ) ^ (1/p)      (p = inf: the largest |g_i|)
    clip_coef  = min(1, max_norm / (total_norm + 1e-6))
    grad <- grad * clip_coef                                            (every gradient, in place)

The 1e-6 keeps the division finite when every gradient is zero and makes the clipped norm land a
hair below ``max_norm``; both are PyTorch's choices, so values match ``torch.nn.utils`` step for step.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> w = nn.Parameter(np.zeros(2))
>>> w.grad = Tensor(np.array([3.0, 4.0]))          # norm 5
>>> nn.utils.clip_grad_norm_([w], max_norm=1.0).item()
5.0
>>> w.grad.data.round(6).tolist()                   # scaled by 1 / (5 + 1e-6)
[0.6, 0.8]
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "parameters_to_vector", "vector_to_parameters"]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients of ``parameters`` in place so their total ``norm_type``-norm is at most ``max_norm``.

    ``parameters``: one Tensor or an iterable of Tensors (``model.parameters()``); those whose
    ``.grad`` is None are skipped. ``max_norm``: a number >= 0 (``float("inf")`` clips nothing).
    ``norm_type``: p > 0 of the p-norm, or ``float("inf")`` / ``"inf"`` for the largest absolute entry.

    Returns the total norm *before* clipping as a 0-d Tensor in the gradients' dtype (float32 when
    there are no gradients, whose norm is 0), as PyTorch does. Each gradient keeps its dtype and its
    array object.

    Raises ``TypeError`` for a ``parameters`` entry that is not a Tensor or a ``max_norm`` /
    ``norm_type`` that is not a number; ``ValueError`` for a negative or nan ``max_norm`` or a
    ``norm_type`` that is not > 0; ``RuntimeError`` when ``error_if_nonfinite=True`` and the total norm
    is nan or inf (the gradients are then left untouched). Without that flag a non-finite norm turns
    the gradients into nan or 0, as in PyTorch.
    """
    params = _as_tensor_list(parameters)
    max_norm = _check_max_norm(max_norm)
    p = _check_norm_type(norm_type)
    grads = [param.grad.data for param in params if param.grad is not None]
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*grads)
    norms = np.array([_vector_norm(g, p) for g in grads], dtype=np.float64)
    total = np.asarray(_vector_norm(norms, p), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total.item()}, "
                           "so they cannot be clipped; set error_if_nonfinite=False to scale them by it anyway")
    # In the gradients' dtype, like PyTorch's tensor arithmetic: max_norm / (total + 1e-6), at most 1.
    coef = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor(total)


def _vector_norm(values: np.ndarray, p: float) -> float:
    """The p-norm of all entries of ``values`` (any shape), accumulated in float64."""
    flat = np.abs(values.ravel().astype(np.float64, copy=False))
    if flat.size == 0:
        return 0.0
    if math.isinf(p):
        return float(flat.max())
    if p == 2.0:
        return float(np.sqrt(np.dot(flat, flat)))
    if p == 1.0:
        return float(flat.sum())
    return float(np.sum(flat ** p) ** (1.0 / p))


def _as_tensor_list(parameters, fn: str = "clip_grad_norm_") -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{fn}: parameters must be a Tensor or an iterable of Tensors "
                        f"(e.g. model.parameters()), got {type(parameters).__name__}") from None
    for i, param in enumerate(params):
        if not isinstance(param, Tensor):
            raise TypeError(f"{fn}: parameters[{i}] is a {type(param).__name__}, not a Tensor")
    return params


# ---- all parameters as one vector ------------------------------------------------------------------

def parameters_to_vector(parameters) -> Tensor:
    """Every parameter's values laid end to end in one 1-D Tensor (a copy), each parameter flattened row by
    row (C order), in the order given: ``torch.nn.utils.parameters_to_vector``. The order is that of the
    values, not of memory: a large ``nn.Linear`` weight, stored column by column, is read row by row too.
    Mixed dtypes give NumPy's common dtype.

    Raises ``TypeError`` for an entry that is not a Tensor, ``ValueError`` for no parameters at all.

    >>> import numpy as np
    >>> from tinygrad_edu import nn
    >>> layer = nn.Linear(2, 2, seed=0)
    >>> vec = parameters_to_vector(layer.parameters())
    >>> vec.shape, bool((vec.data[:4] == layer.weight.data.ravel()).all())
    ((6,), True)
    """
    params = _as_tensor_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return Tensor(np.concatenate([p.data.reshape(-1) for p in params]))


def vector_to_parameters(vec, parameters) -> None:
    """Write the 1-D ``vec`` back into ``parameters``, in place, in the order and row-by-row layout of
    ``parameters_to_vector``: ``torch.nn.utils.vector_to_parameters``.

    Each parameter keeps its array (``weight.data[...] = ...``), its dtype and its memory layout, and its
    ``_version`` goes up by one, as after an optimizer step. (PyTorch instead points each parameter at a
    slice of ``vec``; here ``vec`` and the parameters share no memory.) Write through this, ``data[...]``
    or ``load_state_dict``, not through ``weight.data.reshape(-1)``: for a weight stored column by
    column (a large ``nn.Linear``) NumPy's reshape is a copy, and a write into it is lost.

    Raises ``TypeError`` for a ``vec`` that is not a Tensor or array, or a parameter that is not a Tensor;
    ``ValueError`` when ``vec`` is not 1-D or its length differs from the parameters' total number of values.
    """
    if not isinstance(vec, (Tensor, np.ndarray)):
        raise TypeError(f"vector_to_parameters: vec must be a Tensor or a NumPy array, got {type(vec).__name__}")
    values = vec.data if isinstance(vec, Tensor) else vec
    params = _as_tensor_list(parameters, "vector_to_parameters")
    total = sum(p.data.size for p in params)
    if values.ndim != 1 or values.size != total:
        raise ValueError(f"vector_to_parameters: vec has shape {values.shape}, but the parameters hold {total} "
                         f"values: it must have shape ({total},)")
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = values[offset:offset + n].reshape(p.shape)
        p._version += 1
        offset += n


def _check_max_norm(max_norm) -> float:
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real):
        raise TypeError(f"clip_grad_norm_: max_norm must be a number, got {type(max_norm).__name__} {max_norm!r}")
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0 (the largest total norm allowed), got {max_norm}")
    return float(max_norm)


def _check_norm_type(norm_type) -> float:
    if isinstance(norm_type, str) and norm_type.strip().lower() == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"clip_grad_norm_: norm_type must be a number or 'inf', got {type(norm_type).__name__} "
                        f"{norm_type!r}")
    if math.isnan(norm_type) or norm_type <= 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (the p of the p-norm) or inf, got {norm_type}")
    return float(norm_type)
