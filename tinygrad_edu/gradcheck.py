"""Check autograd against calculus: central finite differences.

For a scalar L(x), (L(x + eps) - L(x - eps)) / (2 eps) approaches dL/dx with error O(eps^2), so
with float64 and eps = 1e-6 it agrees with a correct backward to about 1e-8. ``gradcheck`` turns a
tensor-valued ``fn`` into a scalar with a fixed random projection, L = sum(fn(*inputs) * r), whose
gradient is the vector-Jacobian product that ``backward(r)`` computes; a random r exercises every
output element, so any wrong row of the Jacobian shows up. When ``fn``'s output has one element no
projection is needed (r = 1): the numbers compared are the gradient itself, the ones ``backward()``
puts in ``.grad``. The error message says which of the two it compared.

A checker that is itself wrong is worse than none: it either blames a correct backward or blesses
a wrong one. So ``gradcheck`` is careful about three things.

* **Which numbers it nudges.** An input's array may be a transposed or sliced *view*, have negative
  strides, be read-only, be 0-d or empty. ``t.data.reshape(-1)`` of a non-contiguous view is a
  *copy*, and nudging a copy changes nothing ``fn`` sees (every numeric derivative comes out 0).
  Instead, while input ``i`` is varied, the Tensor temporarily holds a private copy of its array,
  laid out like the original, and each element is addressed by its n-d index, so what is nudged is
  exactly what ``fn`` reads. ``fn`` sees it through the Tensor object, which is what its arguments
  and any closure that captured the input both refer to.
* **What it leaves behind.** The caller's arrays are never written; every input gets its own array
  object back with identical contents, its ``.grad`` as it was, its place in the caller's graph
  as it was, even when ``fn`` raises halfway. The ``.grad`` of any other tensor the backward pass
  reaches (a layer's weight used inside ``fn``) is restored too.
* **What it says when it fails.** The message names the input, its shape, the worst element and
  both values, what those values are the derivatives of (fn's output itself, or its projection on r,
  with the line that rebuilds r), then how many elements disagree and, when it can tell, the pattern (nothing reached
  this input, a constant factor, nan from backward).
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import topological_order
from .function import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names the input, element and both values."""


def _call(fn, inputs) -> Tensor:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        what = type(out).__name__
        if isinstance(out, (tuple, list)) and out and all(isinstance(o, Tensor) for o in out):
            hint = ("gradcheck checks one output: return a single Tensor (check each output in its own "
                    "gradcheck, or combine them, e.g. (a * 2 + b).sum())")
        else:
            hint = ("build the result from the Tensor arguments with Tensor operations: a NumPy array or a "
                    "Python number carries no graph, so it has no gradient to check")
        raise TypeError(f"gradcheck: fn must return a Tensor, it returned {what}; {hint}")
    return out


def _describe(t) -> str:
    return f"{t.dtype} Tensor, requires_grad={t.requires_grad}" if isinstance(t, Tensor) else type(t).__name__


def _check_arguments(inputs, eps, atol, rtol) -> None:
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or t.dtype != np.float64 or not t.requires_grad:
            raise TypeError(f"gradcheck: input {i} must be a float64 Tensor with requires_grad=True, got a "
                            f"{_describe(t)} (float32 finite differences are too coarse to check anything)")
    for name, value, lowest in (("eps", eps, "greater than 0"), ("atol", atol, "0 or more"),
                                ("rtol", rtol, "0 or more")):
        try:
            ok = math.isfinite(value) and (value > 0 if name == "eps" else value >= 0)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"gradcheck: {name}={value!r} must be a finite number {lowest}")


class _Borrowed:
    """What gradcheck changes on one input Tensor, recorded so that ``restore`` puts it all back."""

    def __init__(self, t: Tensor):
        self.tensor, self.data, self.grad, self.node = t, t.data, t.grad, t._node
        self.versions = list(t._versions)  # [count, time]: put back as they were, not counted as a new change
        # A snapshot of the values: if ``fn`` writes into its argument in place, restore undoes it.
        self.values = np.array(t.data, copy=True)

    def reset_values(self) -> None:
        """Undo any write ``fn`` made into the caller's array (only a writable array can have one)."""
        if self.data.flags.writeable and not _same_bits(self.data, self.values):
            np.copyto(self.data, self.values)

    def restore(self) -> None:
        t = self.tensor
        t.data, t.grad, t._node = self.data, self.grad, self.node
        self.reset_values()
        # the values are the caller's again, bit for bit: graphs that saved them before stay usable
        t._versions[:] = self.versions


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (so nan == nan and -0.0 != 0.0): 'exactly restored' means this."""
    return a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _analytic(fn, inputs, projection) -> list:
    """The gradient of sum(fn(*inputs) * projection) with respect to each input, from backward.

    Every input is treated as a leaf for this pass (a non-leaf input would otherwise pass its
    gradient on to its own parents instead of keeping it), and every ``.grad`` the pass reaches
    is saved first and put back after, so only the returned arrays carry the result.
    """
    for t in inputs:
        t._node, t.grad = None, None
    out = _call(fn, inputs)
    if not out.requires_grad:  # fn does not depend on any input through the graph
        return [np.zeros(t.shape) for t in inputs]
    reached = {id(t): t for t in topological_order(out, leaves=True) if t.requires_grad}
    for t in inputs:
        reached.pop(id(t), None)
    others = {key: t.grad for key, t in reached.items()}
    try:
        # retain_graph: a closure may pull in tensors of the caller's own graph, which must stay usable
        out.backward(projection, retain_graph=True)
        return [np.zeros(t.shape) if t.grad is None else np.array(t.grad.data, dtype=np.float64) for t in inputs]
    finally:
        for key, t in reached.items():
            t.grad = others[key]


def _numeric(fn, inputs, i, projection, eps) -> np.ndarray:
    """d sum(fn(*inputs) * projection) / d inputs[i], one element at a time, by central differences.

    The Tensor holds a private copy of its array while its elements are nudged (``order="K"`` keeps
    the layout: a transposed view stays column-major). The copy is writable even when the caller's
    array is read-only, and nudging it cannot reach any other array that shares the caller's memory.
    """
    t = inputs[i]
    base = t.data
    work = np.array(base, dtype=np.float64, order="K", copy=True)
    numeric = np.zeros(base.shape)
    t.data = work
    for index in np.ndindex(base.shape):  # n-d indices: correct for every layout, one () for a 0-d input
        original = work[index]
        work[index] = original + eps
        plus = np.sum(_call(fn, inputs).data * projection)
        work[index] = original - eps
        minus = np.sum(_call(fn, inputs).data * projection)
        work[index] = original
        numeric[index] = (plus - minus) / (2 * eps)
    t.data = base
    return numeric


def _projection(shape, seed):
    """The r of L = sum(fn(*inputs) * r), and the words that tell a reader what the compared numbers are.

    A one-element output needs no projection (r = 1): the compared numbers are then the gradient the
    learner sees in ``.grad`` after ``fn(*inputs).backward()``. Otherwise r is random, fixed by ``seed``,
    and the message gives the line that rebuilds it, so ``backward(r)`` reproduces the analytic values.
    """
    if math.prod(shape) == 1:
        return np.ones(shape), "the gradient of fn's one-element output itself"
    words = (f"derivatives of sum(fn(*inputs) * r) for a fixed random r of shape {shape}, "
             f"r = np.random.default_rng({seed}).standard_normal({shape}), what backward(r) computes")
    return np.random.default_rng(seed).standard_normal(shape), words


def _failure(i, shape, analytic, numeric, atol, rtol, compared="the gradient"):
    """The GradcheckError for input ``i``, or None when every element is within tolerance.

    ``compared`` says what the two numbers are derivatives of (see :func:`_projection`).
    """
    with np.errstate(invalid="ignore"):
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        bad = ~(excess <= 0) | ~np.isfinite(analytic)  # nan counts as a disagreement
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(np.isfinite(excess), excess, np.inf))), shape)
    where = tuple(int(w) for w in worst)
    a, n = analytic[worst], numeric[worst]
    message = (f"gradcheck failed for input {i} (shape {shape}) at element {where}: analytic {a:.8g} vs numeric "
               f"{n:.8g} ({compared}; tolerance {atol} + {rtol} * |numeric| = {atol + rtol * abs(n):.3g}, |difference| "
               f"{abs(a - n):.3g}); {int(bad.sum())} of {bad.size} elements of input {i} disagree")
    hint = _pattern(analytic[bad], numeric[bad])
    if hint:
        message += f". {hint}"
    if analytic.size <= 16:  # small enough to show whole, so the pattern can be seen
        for label, values in (("analytic (backward):", analytic), ("numeric (finite differences):", numeric)):
            prefix = f"\n  {label:<29} "
            message += prefix + np.array2string(values, precision=6, separator=", ", prefix=prefix[1:],
                                                 max_line_width=200)
    return GradcheckError(message)


def _pattern(analytic, numeric) -> str:
    """A guess at what went wrong, from the disagreeing elements only; '' when there is no clear pattern."""
    if not np.isfinite(analytic).all():
        return "backward produced nan or inf here: look for a division by zero or a log of 0 in it"
    if not analytic.any():
        return ("backward sent no gradient to this input (analytic 0): does the graph reach it, or does fn go "
                "through .data, NumPy or an op whose backward returns None or zeros?")
    if not numeric.any():
        return ("fn's output does not change when this input does (numeric 0), yet backward gives it a gradient: "
                "does fn replace or ignore the argument?")
    if numeric.all():
        ratios = analytic / numeric
        if np.allclose(ratios, ratios.flat[0], rtol=1e-3, atol=0):
            return (f"analytic is {ratios.flat[0]:.4g} times numeric at every element that disagrees: a constant "
                    "factor or a sign in backward is wrong")
    return ""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Compare the gradients of ``fn`` at ``inputs`` from backward with central finite differences.

    ``inputs`` is a tuple of float64 Tensors with requires_grad=True, of any shape (0-d and empty
    included) and any memory layout (views, transposes, negative strides, read-only arrays).
    Returns True, or raises GradcheckError for the first input whose worst element violates
    |analytic - numeric| <= atol + rtol * |numeric|. When ``fn``'s output has one element the compared
    numbers are its gradient, as ``backward()`` gives it; otherwise they are the gradient of
    sum(fn(*inputs) * r) for a random r fixed by ``seed``, and the message shows how to rebuild r. Afterwards every input holds the same array
    object with the same values and the same ``.grad`` as before, whether the check passed, failed
    or ``fn`` raised.

    >>> import numpy as np, tinygrad_edu as tg
    >>> x = tg.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    >>> tg.gradcheck(lambda t: (t * t).sigmoid(), (x,))
    True
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> tg.gradcheck(lambda t: (t @ t.T).sum(axis=0), (tg.Tensor(a.T, requires_grad=True),))  # a view
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    _check_arguments(inputs, eps, atol, rtol)
    borrowed = {}
    for t in inputs:  # an input passed twice is borrowed (and restored) once
        borrowed.setdefault(id(t), _Borrowed(t))
    try:
        with no_grad():
            out = _call(fn, inputs)
        projection, compared = _projection(out.shape, seed)
        analytic = _analytic(fn, inputs, projection)
        for saved in borrowed.values():  # the finite differences start from the caller's values
            saved.reset_values()
        with no_grad():
            for i, t in enumerate(inputs):
                numeric = _numeric(fn, inputs, i, projection, eps)
                error = _failure(i, t.shape, analytic[i], numeric, atol, rtol, compared)
                if error is not None:
                    raise error
    finally:
        for saved in reversed(list(borrowed.values())):
            saved.restore()
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0) -> bool:
    """Compare second derivatives of ``fn`` from autograd with finite differences of first derivatives.

    The first derivatives are a function too: (x, v) -> v^T J(x), the vector-Jacobian product that
    ``backward(v, create_graph=True)`` records as a graph. ``gradgradcheck`` runs :func:`gradcheck` on
    that function, so it checks the derivative of the backward pass itself, with respect to the
    inputs and to v. ``grad_outputs`` is v (random, of the output's shape, when omitted). A primitive
    whose backward is computed on plain arrays (not recorded) gives first derivatives that look
    constant to autograd, and is reported here. Raises GradcheckError naming the input (the
    inputs count from 0; v is input ``len(inputs)``).

    >>> import numpy as np, tinygrad_edu as tg
    >>> x = tg.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    >>> tg.gradgradcheck(lambda t: (t * t).tanh(), (x,))
    True
    """
    from .autograd import grad
    from .creation import cat
    from .function import enable_grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    _check_arguments(inputs, eps, atol, rtol)
    with no_grad():
        out = _call(fn, inputs)
    if grad_outputs is None:
        v = Tensor(np.random.default_rng(seed + 1).standard_normal(out.shape), requires_grad=True)
    else:
        v = Tensor(np.asarray(grad_outputs.data if isinstance(grad_outputs, Tensor) else grad_outputs,
                              dtype=np.float64), requires_grad=True)
        if v.shape != out.shape:
            raise ValueError(f"gradgradcheck: grad_outputs has shape {v.shape} but fn's output has shape {out.shape}")
    n = len(inputs)

    def first_derivatives(*args):
        xs, vector = args[:n], args[n]
        with enable_grad():
            value = _call(fn, xs)
            if not value.requires_grad:
                return cat([x.reshape(-1) * 0.0 for x in xs])
            grads = grad(value, xs, grad_outputs=vector, create_graph=True, allow_unused=True)
            return cat([(x * 0.0 if g is None else g).reshape(-1) for g, x in zip(grads, xs)])

    try:
        return gradcheck(first_derivatives, (*inputs, v), eps, atol, rtol, seed)
    except GradcheckError as error:
        raise GradcheckError(f"gradgradcheck: the second derivatives disagree with finite differences of the "
                             f"first (input {n} is the vector v of v^T J). {error}") from None
