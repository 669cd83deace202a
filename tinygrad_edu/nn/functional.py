"""Activations and losses as functions: compositions of Tensor operations, nothing more.

No function here knows a derivative. ``cross_entropy`` is ``log_softmax`` followed by picking each
example's target entry (integer-array indexing, itself a primitive); backward differentiates it
through those primitives, and arrives at the familiar ``softmax(logits) - one_hot(target)`` by itself.

The losses stay finite and exact wherever their true values and gradients are, including at the
edges: a log-probability of -inf (a masked class, log 0) is never multiplied by 0, so it gives no nan;
probabilities of exactly 0 and 1 give PyTorch's floored logs; logits of +-1e30 or +-inf give PyTorch's
values and finite gradients. Each loss's docstring says where its values come from and what happens
at its edges.

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
from ..creation import where
from ..random import generator
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


# ---- argument checks and the small pieces the losses share -------------------------------------

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


def _check_classes(target: np.ndarray, num_classes: int, fn: str) -> None:
    """Refuse class indices outside [0, num_classes): a negative index would silently wrap around."""
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        bad = target[(target < 0) | (target >= num_classes)].ravel()[0]
        raise ValueError(f"{fn}: target holds class {bad}, but there are {num_classes} classes "
                         f"(valid classes are 0 to {num_classes - 1})")


def _pick(x: Tensor, index: np.ndarray, axis: int) -> Tensor:
    """The entry of ``x`` at class ``index`` along ``axis``, at every position: integer-array indexing.

    ``index`` has the shape of ``x`` without ``axis``, and so has the result:
    ``out[n, d] = x[n, index[n, d], d]`` for x of shape (N, C, D). Indexing is a differentiable
    primitive that copies the picked values and scatters the gradient back to them, so entries that
    are not picked take part in no arithmetic at all: an unpicked -inf stays harmless.
    """
    grids = list(np.indices(index.shape, sparse=True))
    grids.insert(axis, index)
    return ops.GetItem.apply(x, index=tuple(grids), unique=True)  # one class per position: no element twice


def _tiny(dtype) -> float:
    """The smallest positive number of a float dtype (a subnormal): log of it is below -100 in float32 too."""
    return float(np.finfo(np.result_type(dtype, np.float32)).smallest_subnormal)


def _log1p(y: Tensor) -> Tensor:
    """log(1 + y) for y >= -1, accurate to a few ulp relative to the result even for tiny y.

    log(1 + y) alone loses y's low bits when 1 + y is rounded (for |y| < 1e-16 it returns 0), so the
    rounding error of u = 1 + y, which is exactly y - (u - 1), is added back to first order:
    log(1 + y) = log(u) + (y - (u - 1)) / u. Differentiated by autograd, the correction's two paths
    through y cancel exactly and the gradient is 1/u - (y - (u - 1))/u^2, i.e. 1/(1 + y) to first
    order as well. u is clipped at the dtype's smallest positive number, so at y = -1 the result is
    log(tiny) (below -100) with a finite gradient instead of log 0 and 0/0.
    """
    u = y + 1
    u_positive = u.clip(_tiny(y.dtype), None)
    return u_positive.log() + (y - (u - 1)) / u_positive


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


def softmax(x: Tensor, axis: int = -1, *, dim=None) -> Tensor:
    """e^x / sum(e^x) along ``axis`` (``dim=`` is PyTorch's spelling)."""
    return x.softmax(axis if dim is None else dim)


def log_softmax(x: Tensor, axis: int = -1, *, dim=None) -> Tensor:
    """x - logsumexp(x) along ``axis`` (``dim=`` is PyTorch's spelling)."""
    return x.log_softmax(axis if dim is None else dim)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): finite for every finite x, the right limits at +-inf.

    e^-|x| lies in (0, 1], so nothing overflows, and ``_log1p`` keeps full relative precision where
    e^-|x| is tiny (softplus(-50) = 1.9e-22, not 0). -|x| is formed as x times a constant sign (-1
    where x > 0, +1 elsewhere) rather than with ``abs``, whose derivative at 0 is 0: the gradient is
    then [x > 0] + s e^(s x) / (1 + e^(s x)), which is sigmoid(x) on both sides and exactly 0.5 at
    x = 0. At x = +inf the value is inf and the gradient 1; at x = -inf the value and the gradient
    are 0 (no inf - inf is formed).

    >>> import numpy as np
    >>> softplus(Tensor(np.array([-1e4, -50.0, 0.0, 1e4]))).tolist()
    [0.0, 1.9287498479639178e-22, 0.6931471805599453, 10000.0]
    """
    sign = np.where(x.data > 0, -1, 1).astype(x.dtype)
    return x.relu() + _log1p((x * Tensor(sign)).exp())


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias, with weight in PyTorch's (out_features, in_features) layout.

    Runs as the single primitive ``ops.Linear``, whose gradients equal those of the composition
    ``x @ weight.T + bias`` (a property test checks this) but come out in each operand's own layout.
    """
    return ops.Linear.apply(x, weight) if bias is None else ops.Linear.apply(x, weight, bias)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, *, seed=None, rng=None) -> Tensor:
    """x * mask / (1 - p) with mask_i ~ Bernoulli(1 - p) while training; x itself otherwise.

    The mask is drawn from ``rng`` (a ``numpy.random.Generator``), or from a fresh generator seeded
    with ``seed``; with neither, from the package's default generator, which ``tg.manual_seed`` resets.
    Raises ValueError for p outside [0, 1].

    >>> import numpy as np
    >>> dropout(Tensor(np.ones(4)), 0.5, seed=1).tolist()
    [2.0, 2.0, 0.0, 2.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1], got p={p}")
    if not training or p == 0.0:
        return x
    if x.dtype.kind != "f":  # integer tensors compute in float32, as the other floating functions do
        x = x.astype(np.float32)
    draws = generator(seed, rng).random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (draws >= p) * np.asarray(scale, dtype=x.dtype)
    return x * Tensor(mask)


# ---- losses -------------------------------------------------------------------------------------

def nll_loss(log_probs: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[n, target[n]], from log-probabilities (N, C) or (C,).

    Args:
        log_probs: float Tensor (N, C), (N, C, d1, ...) or one unbatched example (C,).
        target: integer class indices (NumPy array, list or Tensor) of shape (N,), (N, d1, ...) or ().
        reduction: "mean" (over the N * d1 * ... picks), "sum" or "none" (shape of ``target``).

    Returns a Tensor of ``log_probs``' dtype. The target entry is picked by integer-array indexing,
    so the gradient reaching ``log_probs`` is -1 at each target entry and 0 everywhere else (divided
    by the number of picks for "mean"), as PyTorch's. Entries that are not picked never enter the
    arithmetic: a log-probability of -inf (log 0) elsewhere in the row leaves the loss finite, where a
    product with a one-hot would form 0 * -inf = nan. A target entry of -inf gives inf (the true value).

    Raises:
        TypeError: ``target`` is not an integer array.
        ValueError: ``target`` has the wrong shape, or holds a class outside [0, C); bad ``reduction``.

    >>> import numpy as np
    >>> nll_loss(Tensor(np.log(np.array([[0.5, 0.25, 0.25]]))), np.array([1])).item()
    1.3862943611198906
    >>> with np.errstate(divide="ignore"):
    ...     log_probs = Tensor(np.log(np.array([[0.5, 0.0, 0.5]])))       # log 0 = -inf
    >>> round(nll_loss(log_probs, np.array([0])).item(), 4)
    0.6931
    """
    return _nll(log_probs, target, reduction, "nll_loss")


def _nll(log_probs: Tensor, target, reduction: str, fn: str) -> Tensor:
    """``nll_loss`` whose error messages name ``fn``, the function the user called."""
    axis = _class_axis(log_probs)
    target = _class_indices(target, log_probs, axis, fn)
    _check_classes(target, log_probs.shape[axis], fn)
    return _reduce(-_pick(log_probs, target, axis), reduction, fn)


def cross_entropy(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """-sum_c t_c * log_softmax(logits)_c per example: class-index or probability targets.

    Args:
        logits: float Tensor (N, C), (N, C, d1, ...) or one unbatched example (C,).
        target: integer class indices of shape (N,) (the logits' shape without the class axis), or a
            float array of the logits' shape holding a probability distribution (e.g. one-hot) per example.
        reduction: "mean" (over examples), "sum" or "none" (one loss per example).

    The log-probabilities come from the stable ``log_softmax`` (x - logsumexp x), so logits of 1e4
    give no inf or nan. Class indices pick the target's log-probability (``nll_loss``); class indices
    and their one-hot probability targets give the same value and gradient.

    Masked classes (a logit of -inf, log-probability -inf): with class indices the masked entries are
    never touched, and the value and the logits' gradient equal PyTorch's. With probability targets, a
    class whose target probability is 0 and whose log-probability is -inf contributes 0 (the limit
    t log p -> 0, as in ``torch.special.xlogy``) instead of 0 * -inf = nan. PyTorch returns nan for that
    value (its gradient with respect to the logits is finite and equals this one); here the value is the
    finite true one, so masking never turns a loss into nan. The gradient with respect to such a target
    entry is 0 here (PyTorch: inf). A positive target probability on a -inf logit gives inf, as in PyTorch.
    A row whose logits are all -inf, or a logit of +inf, gives nan, as in PyTorch.

    Raises:
        TypeError: class-index targets that are not integers.
        ValueError: wrong target shape, a class outside [0, C), or a bad ``reduction``.

    >>> import numpy as np
    >>> logits = Tensor(np.array([[1.0, 2.0, 3.0]]))
    >>> a = cross_entropy(logits, np.array([2])).item()
    >>> b = cross_entropy(logits, np.array([[0.0, 0.0, 1.0]])).item()
    >>> round(a, 6), a == b
    (0.407606, True)
    >>> masked = Tensor(np.array([[1.0, -np.inf, 3.0]]))
    >>> round(cross_entropy(masked, np.array([[0.5, 0.0, 0.5]])).item(), 6)
    1.126928
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
    masked = (probs.data == 0) & (log_probs.data == -np.inf)
    if masked.any():  # select 0 there instead of forming 0 * -inf; ``where`` sends those entries no gradient
        log_probs = where(masked, 0.0, log_probs)
    return _reduce(-(log_probs * probs).sum(axis=axis), reduction, "cross_entropy")


def mse_loss(pred: Tensor, target, reduction: str = "mean") -> Tensor:
    """(pred - target)^2 elementwise, then reduced.

    Args:
        pred: float Tensor of any shape.
        target: array or Tensor of the same shape (refused otherwise: no silent broadcasting).
        reduction: "mean" (over all elements), "sum" or "none".

    The square is the product d * d of the difference d = pred - target with itself, so its gradient
    g d + g d = 2 g d is accumulated from the two factors and 2 d is never formed on its own: it does not
    overflow where the true gradient is representable (float32 d = 2e38 averaged over 4 elements has
    gradient 1e38). Values and gradients are PyTorch's.

    Raises:
        ValueError: shapes differ, or a bad ``reduction``.

    >>> import numpy as np
    >>> mse_loss(Tensor(np.array([1.0, 2.0])), np.array([0.0, 0.0])).item()
    2.5
    """
    target = _tensor(target, "mse_loss target", like=pred)
    _same_shape(pred, target, "mse_loss")
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


def binary_cross_entropy(probs: Tensor, target, reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) elementwise, for probabilities p in [0, 1], each log floored at -100.

    Args:
        probs: float Tensor of probabilities in [0, 1] (e.g. a sigmoid output), any shape.
        target: array or Tensor of the same shape, usually 0/1 labels (any value in [0, 1] works).
        reduction: "mean" (over all elements), "sum" or "none".

    This is PyTorch's definition: log(0) = -inf would make the loss inf and its gradient nan, so each
    log is floored at -100, and a confidently wrong element (p = 0 with t = 1) costs 100. The floor is
    built as log(clip(p, tiny)).clip(-100) with tiny the smallest positive number of the dtype: the
    inner clip keeps log(0) and its derivative 1/0 out of the graph, the outer one sets the floor.
    log(1 - p) is ``_log1p(-p)``, so a tiny p with t = 0 costs p to full precision (1 - p would round
    p's low bits away: -log(1 - 1e-13) computed plainly is 9.992e-14).

    Gradient with respect to p: the exact derivative of that value, -t/p + (1 - t)/(1 - p) wherever
    log p and log(1 - p) lie above the floor, and 0 from a floored log. PyTorch's backward divides by
    max(p (1 - p), 1e-12) instead, so the two agree wherever p (1 - p) >= 1e-12; closer to 0 or 1
    PyTorch's gradient is that clamped quotient (e.g. at p = 1e-13, t = 0 it gives 0.1 where the true
    derivative is 1.0), and this one stays the true derivative. Gradient with respect to t:
    log(1 - p) - log p with the floored logs (PyTorch uses unfloored logs there: +-inf at p = 0 or 1).
    With a soft target t, the two terms of the p-gradient cancel as p approaches t, so near p = t
    that gradient is exact to ~1e-16 * (t/p + (1 - t)/(1 - p)) in absolute terms.

    Raises:
        ValueError: ``probs`` holds a value outside [0, 1] (or nan), shapes differ, or a bad ``reduction``.

    >>> import numpy as np
    >>> p = Tensor(np.array([0.0, 1.0, 0.5]))      # the first two are confidently wrong
    >>> binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="none").data.round(4).tolist()
    [100.0, 100.0, 0.6931]
    """
    probs = _tensor(probs, "binary_cross_entropy input")
    target = _tensor(target, "binary_cross_entropy target", like=probs)
    _same_shape(probs, target, "binary_cross_entropy")
    if probs.size and not (probs.data.min() >= 0 and probs.data.max() <= 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], found values in "
                         f"[{probs.data.min()}, {probs.data.max()}] (for raw scores use "
                         "binary_cross_entropy_with_logits)")
    log_p = probs.clip(_tiny(probs.dtype), None).log().clip(-100.0, None)
    log_not_p = _log1p(-probs).clip(-100.0, None)
    return _reduce(-(target * log_p + (1 - target) * log_not_p), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """binary_cross_entropy(sigmoid(x), t) without forming sigmoid: (1 - t) softplus(x) + t softplus(-x).

    Args:
        logits: float Tensor of raw scores x, any shape.
        target: array or Tensor of the same shape, usually 0/1 labels (any value in [0, 1] works).
        reduction: "mean" (over all elements), "sum" or "none".

    Derivation: log sigmoid(x) = -softplus(-x) and log(1 - sigmoid(x)) = -softplus(x), so
    -(t log s + (1 - t) log(1 - s)) = (1 - t) softplus(x) + t softplus(-x), which equals
    softplus(x) - x t; ``softplus`` = max(x, 0) + log(1 + e^-|x|) is the stable form PyTorch uses, so
    logits of +-1e4 or +-1e30 give exact, finite values. The gradient (1 - t) sigmoid(x) - t sigmoid(-x)
    equals PyTorch's sigmoid(x) - t (0.5 - t at x = 0), but with 0/1 labels it is a single term, so it
    keeps full relative precision where sigmoid(x) - t cancels (x = 50, t = 1: -1.9e-22, not 0).
    At x = +-inf the gradient is still the limit (1 - t or -t), as PyTorch's, and the value is inf for a
    wrong label; where the label is right it is nan, a 0 * inf (PyTorch gives nan there too, and also at
    x = -inf with t = 1, where this gives inf). For a right label the value keeps full relative
    precision (x = 50, t = 1: 1.9e-22, through ``softplus``'s log1p).

    Raises:
        ValueError: shapes differ, or a bad ``reduction``.

    >>> import numpy as np
    >>> x = Tensor(np.array([1e4, -1e4, 0.0]))
    >>> binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0]), reduction="none").data.round(4).tolist()
    [0.0, 0.0, 0.6931]
    """
    logits = _tensor(logits, "binary_cross_entropy_with_logits input")
    target = _tensor(target, "binary_cross_entropy_with_logits target", like=logits)
    _same_shape(logits, target, "binary_cross_entropy_with_logits")
    loss = (1 - target) * softplus(logits) + target * softplus(-logits)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def l2_penalty(params, lam: float, m: int = 1) -> Tensor:
    """Ng's regularisation term (lam / (2 m)) * sum of squared weights, biases excluded.

    ``params`` is a Module (every parameter whose name does not end in "bias" counts) or an
    iterable of the weight Tensors to penalise. ``m`` is the number of training examples, so that
    cost + l2_penalty(model, lam, m) is ex4's regularised cost (examples/ng_ex4_cg.py).

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


# ---- convolution, pooling, normalisation (compositions of pad, unfold and matmul) -----------------

from .convolution import avg_pool2d, batch_norm, conv2d, fold, layer_norm, max_pool2d, pad, unfold  # noqa: F401
