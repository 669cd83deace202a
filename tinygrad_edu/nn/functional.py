"""Activations and losses as functions: compositions of Tensor operations, nothing more.

No function here knows a derivative. ``cross_entropy`` is ``log_softmax``, a multiply and a sum;
backward differentiates it through those primitives, and arrives at the familiar
``softmax(logits) - one_hot(target)`` by itself.

Every loss takes ``reduction``: "mean" (the default: average over examples), "sum", or "none"
(one loss per example).

>>> import numpy as np
>>> import tinygrad_edu.nn.functional as F
>>> from tinygrad_edu import Tensor
>>> logits = Tensor(np.array([[2.0, 0.0, 0.0]]), requires_grad=True)
>>> loss = F.cross_entropy(logits, np.array([0]))
>>> round(loss.item(), 4)
0.2395
>>> loss.backward()
>>> logits.grad.data.round(4).tolist()     # softmax - one_hot
[[-0.213, 0.1065, 0.1065]]
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from .init import _generator

REDUCTIONS = ("mean", "sum", "none")


# ---- helpers ------------------------------------------------------------------------------------

def _tensor(x, name: str, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; a float array or number beside a float tensor takes that tensor's dtype."""
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like is not None and array.dtype.kind in "fb" and like.dtype.kind == "f":
        array = array.astype(like.dtype, copy=False)
    elif array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got {array.dtype}")
    return Tensor(array)


def _reduce(loss: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "mean":
        if loss.size == 0:
            raise ValueError(f"{fn}: the mean over an empty batch (loss of shape {loss.shape}) is undefined; "
                             "use reduction='sum' for 0")
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _same_shape(a: Tensor, b: Tensor, fn: str, a_name="input", b_name="target"):
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {a_name} has shape {a.shape} but {b_name} has shape {b.shape}; they must match "
                         "(broadcasting them silently is a classic bug, e.g. (N, 1) against (N,))")


def _class_axis(x: Tensor) -> int:
    """Classes lie along axis 1 for a batch (N, C, ...), along axis 0 for one unbatched example (C,)."""
    if x.ndim == 0:
        raise ValueError("expected class scores of shape (C,) or (N, C, ...), got a 0-d tensor")
    return 0 if x.ndim == 1 else 1


def _one_hot(target: np.ndarray, num_classes: int, axis: int, dtype, fn: str) -> np.ndarray:
    """1.0 at each target class along ``axis``, 0.0 elsewhere: shape of target with C inserted at ``axis``."""
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        bad = target[(target < 0) | (target >= num_classes)].ravel()[0]
        raise ValueError(f"{fn}: target holds class {bad}, but there are {num_classes} classes "
                         f"(valid classes are 0 to {num_classes - 1})")
    classes = np.arange(num_classes).reshape([num_classes if a == axis else 1 for a in range(target.ndim + 1)])
    return (np.expand_dims(target, axis) == classes).astype(dtype)


def _class_indices(target, scores: Tensor, axis: int, fn: str) -> np.ndarray:
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    expected = scores.shape[:axis] + scores.shape[axis + 1:]
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: class-index targets must be integers, got {target.dtype} "
                        f"(cast with .astype(np.int64); for probability targets pass shape {scores.shape})")
    if target.shape != expected:
        raise ValueError(f"{fn}: input of shape {scores.shape} needs class-index targets of shape {expected}, "
                         f"got {target.shape}")
    return target


# ---- activations (mirrors of the Tensor methods) ------------------------------------------------

def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return x.relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    return x.leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x)."""
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    """tanh x."""
    return x.tanh()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along ``axis``."""
    return x.softmax(axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``."""
    return x.log_softmax(axis)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), computed as logsumexp over the pair (0, x): stable for any finite x.

    Stacking 0 and x along a new axis and taking logsumexp uses the detached-max shift, so
    e^x is never formed for large x; the gradient is the softmax weight of x in the pair, which
    is sigmoid(x), exact everywhere (including x = 0). For very negative x the result, a log of a
    sum close to 1, is accurate to ~1e-16 in absolute terms (there is no log1p primitive).

    >>> import numpy as np
    >>> softplus(Tensor(np.array([-1e4, 0.0, 1e4]))).tolist()
    [0.0, 0.6931471805599453, 10000.0]
    """
    pair = np.array([0, 1], dtype=x.dtype).reshape((2,) + (1,) * x.ndim)
    return (x.reshape((1,) + x.shape) * Tensor(pair)).logsumexp(axis=0)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias, with weight in PyTorch's (out_features, in_features) layout.

    Runs as the single primitive ``ops.Linear``, whose gradients equal those of the composition
    ``x @ weight.T + bias`` (a property test checks this) but come out in each operand's own layout.
    """
    return ops.Linear.apply(x, weight) if bias is None else ops.Linear.apply(x, weight, bias)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, *, seed=None, rng=None) -> Tensor:
    """x * mask / (1 - p) with mask_i ~ Bernoulli(1 - p) while training; x itself otherwise.

    >>> import numpy as np
    >>> dropout(Tensor(np.ones(4)), 0.5, seed=1).tolist()
    [2.0, 2.0, 0.0, 2.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1], got p={p}")
    if not training or p == 0.0:
        return x
    draws = _generator(seed, rng).random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (draws >= p) * np.asarray(scale, dtype=x.dtype)
    return x * Tensor(mask)


# ---- losses -------------------------------------------------------------------------------------

def nll_loss(log_probs: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[n, target[n]], from log-probabilities (N, C) or (C,).

    The pick is written as a product with the one-hot of ``target`` summed over classes, so
    the gradient reaching ``log_probs`` is minus that one-hot (divided by N for "mean").
    Targets must be integer class indices of shape (N,) (or (N, d1, ...) for inputs (N, C, d1, ...)).

    >>> import numpy as np
    >>> nll_loss(Tensor(np.log(np.array([[0.5, 0.25, 0.25]]))), np.array([1])).item()
    1.3862943611198906
    """
    return _nll(log_probs, target, reduction, "nll_loss")


def _nll(log_probs: Tensor, target, reduction: str, fn: str) -> Tensor:
    """``nll_loss`` whose error messages name ``fn``, the function the user called."""
    axis = _class_axis(log_probs)
    target = _class_indices(target, log_probs, axis, fn)
    one_hot = _one_hot(target, log_probs.shape[axis], axis, log_probs.dtype, fn)
    return _reduce(-(log_probs * Tensor(one_hot)).sum(axis=axis), reduction, fn)


def cross_entropy(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """-sum_c t_c * log_softmax(logits)_c per example: class-index or probability targets.

    ``target`` is either integer class indices (shape (N,) for logits (N, C)) or a float array of
    the logits' shape holding a probability distribution (e.g. one-hot) per example. The
    log-probabilities come from the stable ``log_softmax`` (x - logsumexp x), so logits of 1e4
    give no inf or nan. Class indices are the special case t = one_hot(target).

    >>> import numpy as np
    >>> logits = Tensor(np.array([[1.0, 2.0, 3.0]]))
    >>> a = cross_entropy(logits, np.array([2])).item()
    >>> b = cross_entropy(logits, np.array([[0.0, 0.0, 1.0]])).item()
    >>> round(a, 6), a == b
    (0.407606, True)
    """
    logits = _tensor(logits, "cross_entropy input")
    axis = _class_axis(logits)
    log_probs = logits.log_softmax(axis)
    target_dtype = target.dtype if isinstance(target, (Tensor, np.ndarray)) else np.asarray(target).dtype
    if target_dtype.kind in "iu":
        return _nll(log_probs, target, reduction, "cross_entropy")
    probs = _tensor(target, "cross_entropy target", like=logits)
    if probs.shape != logits.shape:
        raise ValueError(f"cross_entropy: a float target holds probabilities and must have the logits' shape "
                         f"{logits.shape}, got {probs.shape} (for class indices use an integer array)")
    return _reduce(-(log_probs * probs).sum(axis=axis), reduction, "cross_entropy")


def mse_loss(pred: Tensor, target, reduction: str = "mean") -> Tensor:
    """(pred - target)^2 elementwise, then reduced.

    >>> import numpy as np
    >>> mse_loss(Tensor(np.array([1.0, 2.0])), np.array([0.0, 0.0])).item()
    2.5
    """
    target = _tensor(target, "mse_loss target", like=pred)
    _same_shape(pred, target, "mse_loss")
    return _reduce((pred - target) ** 2, reduction, "mse_loss")


def binary_cross_entropy(probs: Tensor, target, reduction: str = "mean", eps: float = 1e-12) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) elementwise, for probabilities p in [0, 1].

    log(0) = -inf would make the loss inf and its gradient nan, so p and 1 - p are clipped from
    below at ``eps`` before the log: the loss is floored at -log(eps) ~ 27.6 per element and stays
    finite, and at a clipped element the gradient is 0. (PyTorch floors each log at -100 instead;
    the two agree for every p in [eps, 1 - eps].)

    >>> import numpy as np
    >>> p = Tensor(np.array([0.0, 1.0, 0.5]))      # the first two are confidently wrong
    >>> binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="none").data.round(4).tolist()
    [27.631, 27.631, 0.6931]
    """
    probs = _tensor(probs, "binary_cross_entropy input")
    target = _tensor(target, "binary_cross_entropy target", like=probs)
    _same_shape(probs, target, "binary_cross_entropy")
    if probs.size and not (probs.data.min() >= 0 and probs.data.max() <= 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], found values in "
                         f"[{probs.data.min()}, {probs.data.max()}] (for raw scores use "
                         "binary_cross_entropy_with_logits)")
    log_p = probs.clip(eps, None).log()
    log_not_p = (1 - probs).clip(eps, None).log()
    return _reduce(-(target * log_p + (1 - target) * log_not_p), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """binary_cross_entropy(sigmoid(x), t) without forming sigmoid: softplus(x) - x * t.

    Derivation: log sigmoid(x) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x), and
    softplus(-x) = softplus(x) - x, so -(t log s + (1 - t) log(1 - s)) = softplus(x) - x t.
    ``softplus`` is a logsumexp, so logits of +-1e4 give exact, finite values, and the gradient is
    sigmoid(x) - t everywhere. (The often-quoted relu(x) - x t + log(1 + e^-|x|) has the right value,
    but as a composition its two kinks at 0 would give gradient -t there instead of 0.5 - t.)

    >>> import numpy as np
    >>> x = Tensor(np.array([1e4, -1e4, 0.0]))
    >>> binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0]), reduction="none").data.round(4).tolist()
    [0.0, 0.0, 0.6931]
    """
    logits = _tensor(logits, "binary_cross_entropy_with_logits input")
    target = _tensor(target, "binary_cross_entropy_with_logits target", like=logits)
    _same_shape(logits, target, "binary_cross_entropy_with_logits")
    return _reduce(softplus(logits) - logits * target, reduction, "binary_cross_entropy_with_logits")


def l2_penalty(params, lam: float, m: int = 1) -> Tensor:
    """Ng's regularisation term (lam / (2 m)) * sum of squared weights, biases excluded.

    ``params`` is a Module (every parameter whose name does not end in "bias" counts) or an
    iterable of the weight Tensors to penalise. ``m`` is the number of training examples, so that
    cost + l2_penalty(model, lam, m) is notebook 003's regularised cost.

    >>> import numpy as np
    >>> from tinygrad_edu import nn
    >>> layer = nn.Linear(2, 1, seed=0)
    >>> layer.weight.data[...] = [[1.0, 2.0]]
    >>> l2_penalty(layer, lam=1.0, m=5).item()       # (1 / 10) * (1 + 4); the bias is not counted
    0.5
    """
    from .module import Module  # functional is imported by module's users; this keeps the import one-way

    if isinstance(params, Module):
        weights = [p for name, p in params.named_parameters() if name.rsplit(".", 1)[-1] != "bias"]
    else:
        weights = list(params)
    if not weights:
        raise ValueError("l2_penalty: no weights to penalise (every parameter is named 'bias' or the list is empty)")
    total = (weights[0] ** 2).sum()
    for w in weights[1:]:
        total = total + (w ** 2).sum()
    return total * (lam / (2 * m))
