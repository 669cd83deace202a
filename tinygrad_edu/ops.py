"""The primitives: every derivative in tinygrad_edu is written in this file and nowhere else.

Each class is one differentiable operation. ``forward`` computes the value on NumPy arrays;
``backward`` receives ``g``, the gradient of the final scalar loss L with respect to this op's
output, and returns the gradient of L with respect to each input (the vector-Jacobian product
``g^T J``). Its docstring derives that product. Everything else -- mean, variance, logsumexp,
every loss and layer -- is a composition of these, so it is differentiated for free.

Backward is a computation too. Every ``backward`` here is written only with operations that NumPy
arrays and Tensors both have (``* / + @``, ``.sum``, ``.reshape``, ``np.exp``, ``np.where``, ...; on a
Tensor, NumPy's functions run the Tensor op). A normal ``loss.backward()`` hands it arrays: plain
NumPy, no graph, no extra cost. ``backward(create_graph=True)`` hands it Tensors (``g`` and the saved
values), so the gradient computation is itself recorded and can be differentiated again. The
operations that only NumPy had come in adjoint pairs, each the other's backward: Sum and Expand,
GetItem and ScatterAdd, Reshape and Reshape, Transpose and its inverse, Pad and slicing,
Unfold and Fold (the sliding windows a convolution is built from).

Notation in the derivations: x, y inputs; z the output; g = dL/dz; sums run over the axes named.
"""

from __future__ import annotations

import numpy as np

from .function import Function
from .tensor import Tensor


class Primitive(Function):
    """A built-in primitive: its backward is written with operations arrays and Tensors share, so the
    engine may run it on Tensors to differentiate it again (see the module docstring)."""

    differentiable_backward = True


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` back to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along its size-1 axes, so each input
    element feeds many output elements; the chain rule adds up their gradients. No copy is made
    when the shapes already agree.

    >>> unbroadcast(np.ones((4, 2, 3)), (2, 1)).tolist()
    [[12.0], [12.0]]
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    summed = grad.sum(axis=axes, keepdims=True) if axes else grad
    return summed.reshape(shape)


def masked(g, mask):
    """g * mask for a mask that is 0 where an element took no part (a boolean mask, or Maximum's shares
    0, 1/2, 1), with exactly 0 there whatever g holds: the product alone gives inf * 0 = nan, where
    PyTorch's gradients of relu, clamp, maximum and max pooling give an element that lost nothing.

    The product is the fast way (``np.where`` with an array condition ran 8-15x slower on a (128, 32, 28, 28)
    map), so ``np.where`` runs only when g is not all finite, which a sum of g tells in one read. Under
    create_graph (g a Tensor) the recorded ``Where`` runs, then the product with a mask of shares."""
    if isinstance(g, Tensor):  # g through Where first, so that no inf * 0 is formed
        mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        zero = Tensor._from_op(np.zeros((), dtype=g.dtype), None)
        kept = Where.apply(g, zero, condition=np.broadcast_to(mask != 0, np.broadcast_shapes(g.shape, mask.shape)))
        return kept if mask.dtype == bool else kept * mask
    if _all_finite(g):
        return g * mask
    with np.errstate(invalid="ignore"):  # inf * 0 = nan, about to be replaced by 0: not worth a warning
        return np.where(mask != 0, g * mask, 0)


def laid_out_like(array: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``array`` itself when its axes lie in memory as ``like``'s do (strides compared in elements, so the
    dtypes may differ), else a copy laid out as ``like``: elementwise passes over the two then read both
    in step, and a gradient keeps its tensor's layout (PyTorch's rule for .grad)."""
    if array.itemsize == like.itemsize:  # (the usual case: strides compared as they are)
        same = array.strides == like.strides
    else:
        same = [s // array.itemsize for s in array.strides] == [s // like.itemsize for s in like.strides]
    if same or array.size <= 1:
        return array
    laid_out = np.empty_like(like, dtype=array.dtype)
    laid_out[...] = array
    return laid_out


def _column_major(a: np.ndarray) -> bool:
    """Whether an array lies in memory column by column (Fortran order) and not also row by row, as
    ``nn.Linear`` stores its weight."""
    return a.flags.f_contiguous and not a.flags.c_contiguous


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes np.dot hands to BLAS


# np.errstate as a decorator rather than a with block, here and in _exp_overflowing: the same NumPy
# setting, made in one call instead of three (measured 1.5 us less per call, per op on a batch of 10).
@np.errstate(invalid="ignore", over="ignore")  # inf - inf or an overflow: just "no"
def _all_finite(g: np.ndarray) -> bool:
    """Whether g holds no nan or inf, told by one number that any nan or inf in g makes nan or inf: the
    dot product of g with itself, a BLAS call (one read, no temporary), for contiguous float32/float64,
    else the sum. A square or a sum overflowing to inf (|g| above 1e19 in float32) says no too, which
    only costs the slow path. Measured: 9 us against 19 us for the sum on (128, 512) float32, 52 us
    against 127 us on (128, 32, 14, 14)."""
    if g.dtype in _BLAS_FLOATS and g.flags.c_contiguous:
        flat = g.reshape(-1)
        return bool(np.isfinite(np.dot(flat, flat)))
    return bool(np.isfinite(np.add.reduce(g, axis=None)))


def _broadcast_error(op: str, *arrays) -> ValueError:
    shapes = " and ".join(str(a.shape) for a in arrays)
    return ValueError(f"{op}: operands with shapes {shapes} cannot be broadcast together")


# ---------------------------------------------------------------------------------------------
# elementwise binary
# ---------------------------------------------------------------------------------------------


class Add(Primitive):
    """z = x + y (broadcasting).  dz/dx = 1, dz/dy = 1, so both receive g, summed to their shape."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.shapes = (x.shape, y.shape)
        try:
            return x + y
        except ValueError:
            raise _broadcast_error("add", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x_shape, y_shape = ctx.shapes
        return (unbroadcast(g, x_shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(g, y_shape) if ctx.needs_input_grad[1] else None)


class Sub(Primitive):
    """z = x - y (broadcasting).  dz/dx = 1, dz/dy = -1, so x receives g and y receives -g, each summed
    to its shape."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.shapes = (x.shape, y.shape)
        try:
            return x - y
        except ValueError:
            raise _broadcast_error("sub", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x_shape, y_shape = ctx.shapes
        return (unbroadcast(g, x_shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(-g, y_shape) if ctx.needs_input_grad[1] else None)


class Mul(Primitive):
    """z = x * y (broadcasting).  dz/dx = y, dz/dy = x:  dL/dx = g * y, dL/dy = g * x."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        try:
            return x * y
        except ValueError:
            raise _broadcast_error("mul", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return (unbroadcast(g * y, x.shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(g * x, y.shape) if ctx.needs_input_grad[1] else None)


class Div(Primitive):
    """z = x / y (broadcasting).  dz/dx = 1/y, dz/dy = -x/y^2 = -z/y:  dL/dx = g / y, dL/dy = -g * z / y.

    Written with z / y rather than x / y^2 so that no intermediate overflows: for x = y = 1e-200 the
    true dz/dy = -1e200 is finite, but y^2 would underflow to 0 first.
    """

    @staticmethod
    def forward(ctx, x, y):
        try:
            z = x / y
        except ValueError:
            raise _broadcast_error("div", x, y) from None
        ctx.save_for_backward(y, z)
        ctx.shapes = (x.shape, y.shape)
        return z

    @staticmethod
    def backward(ctx, g):
        y, z = ctx.saved
        x_shape, y_shape = ctx.shapes
        return (unbroadcast(g / y, x_shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(-g * z / y, y_shape) if ctx.needs_input_grad[1] else None)


def _number(a: np.ndarray):
    """A 0-d array as a Python number: NumPy's fast paths for x**2 and x**0.5 take only numbers (4x faster)."""
    return a.item() if a.ndim == 0 else a


class Pow(Primitive):
    """z = x ** y (broadcasting; y a constant number or a tensor).

    dz/dx = y * x^(y-1).  At y = 0, z = 1 is constant, so dz/dx = 0 -- but 0 * 0^(-1) would be nan at
    x = 0, so there (and only there: elsewhere the formula must stay a function of y, to be differentiated
    again) the exponent y - 1 is replaced by 1 (0 * 0^1 = 0).
    dz/dy = x^y * ln x = z * ln x.  At x = 0 with y >= 0, z * ln x is 0 * -inf; the limit is 0
    (PyTorch's convention too), so those elements get 0.
    """

    @staticmethod
    def forward(ctx, x, y):
        try:
            z = x ** _number(y)
        except ValueError:
            raise _broadcast_error("pow", x, y) from None
        ctx.save_for_backward(x, y, z if ctx.needs_input_grad[1] else None)
        return z

    @staticmethod
    def backward(ctx, g):
        x, y, z = ctx.saved
        gx = gy = None
        if ctx.needs_input_grad[0]:
            if y.ndim == 0 and not ctx.needs_input_grad[1] and y.item() != 0:  # a constant number: x**2, x**-1
                p = y.item()
                gx = g * x ** (p - 1) * p  # g first: g * x^(p-1) may be finite where p * x^(p-1) is not
            else:
                gx = unbroadcast(g * (y * x ** np.where((y == 0) & (x == 0), 1, y - 1)), x.shape)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):  # the 0 * -inf at x = 0 is replaced just below
                z_log_x = z * np.log(x)
            gy = unbroadcast(g * np.where((x == 0) & (y >= 0), 0, z_log_x), y.shape)
        return gx, gy


# ---------------------------------------------------------------------------------------------
# elementwise unary
# ---------------------------------------------------------------------------------------------


class Exp(Primitive):
    """z = e^x.  dz/dx = e^x = z, so backward reuses the output:  dL/dx = g * z."""

    @staticmethod
    def forward(ctx, x):
        z = np.exp(x)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved
        return g * z


class Log(Primitive):
    """z = ln x.  dz/dx = 1/x:  dL/dx = g / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x


class Abs(Primitive):
    """z = |x|.  dz/dx = sign(x) (0 at the kink x = 0, as in PyTorch):  dL/dx = g * sign(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * np.sign(x)


class ReLU(Primitive):
    """z = max(x, 0).  dz/dx = 1 where x > 0, else 0:  dL/dx = g * [z != 0] (0 where z = 0 whatever g holds,
    see ``masked``; a nan passes g on, as PyTorch's ``x <= 0 ? 0 : g``: z is never negative, so z != 0 is
    "not z <= 0" in one comparison)."""

    @staticmethod
    def forward(ctx, x):
        z = np.maximum(x, 0)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved
        return masked(g, z != 0)


class LeakyReLU(Primitive):
    """z = x if x > 0 else a*x.  dz/dx = 1 where x > 0, else a:  dL/dx = g * where(x > 0, 1, a)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        return np.where(positive, x, x * np.asarray(negative_slope, dtype=x.dtype))

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved
        return np.where(positive, g, g * ctx.slope)


class Clip(Primitive):
    """z = min(max(x, lo), hi).  dz/dx = 1 on [lo, hi], 0 where clipped:  dL/dx = g * [lo <= x <= hi]
    (0 where clipped whatever g holds, see ``masked``).

    Exactly at a bound the derivative is one-sided; the gradient 1 there is PyTorch's convention
    (``torch.clamp``), and it matters: MNIST pixels sit exactly on 0 and 1.
    """

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        lo, hi = ctx.bounds
        above_lo = True if lo is None else x >= lo
        below_hi = True if hi is None else x <= hi
        return masked(g, above_lo & below_hi)


class Maximum(Primitive):
    """z = max(x, y) elementwise (broadcasting).  dz/dx = 1 where x > y, 0 where x < y; at a tie the
    gradient is split evenly, 1/2 each (PyTorch's convention):
        dL/dx = g * (1 - [x < y] - [x == y] / 2),   dL/dy = g * (1 - [y < x] - [x == y] / 2)
    (the loser gets 0 whatever g holds, see ``masked``; where either is nan, nothing is less or equal,
    and both get g, as in PyTorch).
    """

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        try:
            return np.maximum(x, y)
        except ValueError:
            raise _broadcast_error("maximum", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        tie = 0.5 * (x == y)
        return (unbroadcast(masked(g, 1 - (x < y) - tie), x.shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(masked(g, 1 - (y < x) - tie), y.shape) if ctx.needs_input_grad[1] else None)


class Where(Primitive):
    """z = x where condition else y (broadcasting; the condition is a constant boolean array).

    Each output element comes from exactly one of x and y, so the gradient goes back the same way:
        dL/dx = g where condition else 0,   dL/dy = 0 where condition else g.
    """

    @staticmethod
    def forward(ctx, x, y, condition):
        ctx.condition, ctx.shapes = condition, (x.shape, y.shape)
        try:
            return np.where(condition, x, y)
        except ValueError:
            raise ValueError(f"where: condition, x and y with shapes {condition.shape}, {x.shape} and {y.shape} "
                             "cannot be broadcast together") from None

    @staticmethod
    def backward(ctx, g):
        x_shape, y_shape = ctx.shapes
        zero = np.zeros((), dtype=g.dtype)
        return (unbroadcast(np.where(ctx.condition, g, zero), x_shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(np.where(ctx.condition, zero, g), y_shape) if ctx.needs_input_grad[1] else None)


@np.errstate(over="ignore", under="ignore")
def _exp_overflowing(z: np.ndarray) -> np.ndarray:
    """z <- e^z in place, where an overflow to inf and an underflow to 0 are the wanted intermediate values:
    no warning, nor an error under the caller's ``np.errstate(all="raise")``. (The decorator form is
    thread-safe from NumPy 2.0 on, which pyproject.toml requires.)"""
    return np.exp(z, out=z)


class Sigmoid(Primitive):
    """z = 1 / (1 + e^-x).  dz/dx = z (1 - z):  dL/dx = g * z * (1 - z).

    For very negative x, e^-x overflows to inf and 1 / (1 + inf) = 0, the correctly rounded answer,
    so the overflow warning is silenced rather than avoided; every finite x gives a finite z with
    full relative precision in both tails (sigmoid(-50) = 1.9e-22).
    """

    @staticmethod
    def forward(ctx, x):
        z = np.negative(x, out=np.empty_like(x))  # out= keeps 0-d results arrays
        _exp_overflowing(z)
        z += 1
        np.reciprocal(z, out=z)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved
        return g * z * (1 - z)


class Tanh(Primitive):
    """z = tanh x.  dz/dx = 1 - tanh^2 x = 1 - z^2:  dL/dx = g * (1 - z^2)."""

    @staticmethod
    def forward(ctx, x):
        z = np.tanh(x)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved
        return g * (1 - z * z)


class Sin(Primitive):
    """z = sin x.  dz/dx = cos x:  dL/dx = g * cos x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * np.cos(x)


class Cos(Primitive):
    """z = cos x.  dz/dx = -sin x:  dL/dx = -g * sin x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return -g * np.sin(x)


class Softmax(Primitive):
    """s_i = e^{x_i} / sum_j e^{x_j} along ``axis``.

    Jacobian: ds_i/dx_k = s_i (delta_ik - s_k). Its vector product never needs the n x n matrix:
    dL/dx_k = sum_i g_i s_i (delta_ik - s_k) = s_k (g_k - sum_i g_i s_i),
    i.e.  dL/dx = s * (g - sum(g * s, axis)).  Forward subtracts the max first: softmax is unchanged
    by a constant shift, and the largest exponent becomes e^0 = 1, so nothing overflows.
    """

    @staticmethod
    def forward(ctx, x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        s = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(s)
        ctx.axis = axis
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved
        return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Primitive):
    """l_i = x_i - log sum_j e^{x_j} along ``axis``: the log-probabilities of softmax, as cross-entropy uses.

    Jacobian: dl_i/dx_k = delta_ik - s_k, with s = softmax(x) = e^l (each x_k moves every l_i through the
    log-sum). Its vector product: dL/dx_k = sum_i g_i (delta_ik - s_k) = g_k - s_k sum_i g_i, i.e.
        dL/dx = g - e^l * sum(g, axis).
    Forward subtracts the row's maximum m first (l does not change, and no exponent overflows) and never
    adds m back: l = (x - m) - log sum e^{x - m}, so float32 logits of 1e8 keep the log 2 that m + log 2
    would round away. A fully masked row (all -inf, so m = -inf) is shifted by 0 instead and gives nan; a
    row holding +inf gives nan throughout (x - inf, then inf - inf); both as in PyTorch.

    The same function composes from Exp, Sum and Log (``Tensor.logsumexp``); as one primitive it makes
    fewer passes over the logits and records one node instead of six, and its max and sums run along a
    short class axis column by column (``_reduce_short_axis``).
    """

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        if x.size == 0:  # nothing to normalise (an empty batch, or no classes: max would refuse)
            np.add.reduce(x, axis=axis)  # (NumPy's AxisError for a bad axis)
            ctx.save_for_backward(x)
            return x.copy()
        m = _reduce_short_axis(np.maximum, x, axis)
        shifted = x - np.where(m == -np.inf, 0, m).astype(x.dtype, copy=False)
        shifted -= np.log(_reduce_short_axis(np.add, np.exp(shifted), axis))
        ctx.save_for_backward(shifted)
        return shifted

    @staticmethod
    def backward(ctx, g):
        (l,) = ctx.saved
        return g - np.exp(l) * _reduce_short_axis(np.add, g, ctx.axis)


def _reduce_short_axis(ufunc, x, axis):
    """``ufunc.reduce(x, axis, keepdims=True)`` (np.add: the sum, np.maximum: the max). NumPy reduces a
    short axis one row at a time: the 10 classes of a (60000, 10) batch take 2.6 ms for the max and
    1.2 ms for the sum. Combining whole columns instead, m = max(x[:, 0], x[:, 1]), then m = max(m, x[:, 2])
    and so on, makes long vectorised passes: 0.36 ms each. That pays from about 1000 rows (measured on
    (n, 10) float32: the max 2.2x and the sum 1.1x faster at 1024 rows, 7x and 3x at 60 000); fewer rows,
    long axes and Tensors (under create_graph) use the reduction itself."""
    if type(x) is not np.ndarray or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim \
            or not 1 < x.shape[axis] <= 32 or x.size < 1024 * x.shape[axis]:  # (a bad axis: NumPy's error)
        return x.sum(axis=axis, keepdims=True) if ufunc is np.add else ufunc.reduce(x, axis=axis, keepdims=True)
    columns = np.moveaxis(x, axis, 0)
    out = ufunc(columns[0], columns[1])
    for column in columns[2:]:
        ufunc(out, column, out=out)
    return np.expand_dims(out, axis)


# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------


def _normalize_axis(axis, ndim):
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    normalized = sorted(int(a) % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis {axis} names the same axis twice")
    return tuple(normalized)


def _kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` kept as size 1: where a reduction's gradient broadcasts from."""
    kept = list(shape)
    for axis in axes:
        kept[axis] = 1
    return tuple(kept)


class Sum(Primitive):
    """z = sum of x over ``axis``.  dz/dx_i = 1 for every summed element: x's gradient is g copied
    (broadcast) along the summed axes."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = _normalize_axis(axis, x.ndim)
        ctx.shape, ctx.kept_shape = x.shape, _kept_shape(x.shape, axes)
        return np.asarray(np.add.reduce(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return expand(g.reshape(ctx.kept_shape), ctx.shape)


class Max(Primitive):
    """z = max of x over ``axis``.  dz/dx_i = 1/k for each of the k elements equal to the max
    (the gradient is split evenly among ties, as in PyTorch), 0 elsewhere; where the max is nan, the nan
    elements share it."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = _normalize_axis(axis, x.ndim)
        if x.size == 0 and any(x.shape[a] == 0 for a in axes):  # (0, 3) over axis 1 is fine: shape (0,)
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape} over axis {axes}: "
                             "the max of no elements is undefined")
        z = np.asarray(x.max(axis=axes, keepdims=True))
        ctx.save_for_backward(x, z)
        ctx.axes = axes
        return z if keepdims else np.squeeze(z, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, z = ctx.saved
        # a nan is the max of its reduction (np.max returns it) and gets the gradient; x != x (not np.isnan)
        # is an operation that Tensors have too, for create_graph
        is_max = (x == z) | (x != x)  # noqa: PLR0124
        return is_max * (g.reshape(z.shape) / is_max.sum(axis=ctx.axes, keepdims=True).astype(x.dtype))


# ---------------------------------------------------------------------------------------------
# normalisation: batch norm fused (its composition of mean, var, sub, div, mul, add sits beside it)
# ---------------------------------------------------------------------------------------------


def _centred(x, axes, eps):
    """d = x - mean and r = 1 / sqrt(var + eps), the statistics over ``axes`` (kept as size 1), written
    with Tensor operations so that, under create_graph, both carry x's graph."""
    d = x - x.mean(axis=axes, keepdims=True)
    return d, ((d * d).mean(axis=axes, keepdims=True) + eps) ** -0.5


class BatchNorm(Primitive):
    """z = xhat * weight + bias with xhat = d r, d = x - mean, r = 1 / sqrt(var + eps): batch norm in
    training, mean and biased variance taken over every axis but 1 (the channels) of x itself, m values
    each. ``running = (running_mean, running_var, momentum)`` (arrays of shape (C,)) are updated in place
    with the batch's statistics, the variance unbiased, as PyTorch's batch_norm kernel does.

    Every x of a channel moves that channel's mean and var, so besides the direct path x -> xhat the
    chain rule collects a share through each statistic. With h = g * weight (Ioffe & Szegedy 2015):
        dL/dbias = sum g,   dL/dweight = sum g * xhat = r sum g d,
        dL/dx = r * (h - mean(h) - xhat * mean(h * xhat)) = weight * r * (g - dL/dbias / m - xhat * dL/dweight / m)
              = a g + b d + c,   per channel a = weight r,  b = -a r dL/dweight / m,  c = -a dL/dbias / m.
    The forward saves d (not xhat, one pass fewer) and writes z = d (weight r) + bias.

    The composition ``(x - x.mean()) / sqrt(x.var() + eps) * weight + bias`` gives the same gradients
    (a property test checks it) with more passes over x: forward and backward of the MNIST CNN's two
    batch norms (batch 128) took 69 ms as the composition, 35 ms as this primitive when it saved xhat;
    saving d and summing g d by einsum took 3 ms more off (21.9 -> 18.5, 28.8 -> 25.1, 24.7 -> 21.9 ms in
    three runs alternating the two forms in one process). The per-channel sums of x and g are einsums
    too: 0.18 ms against 0.56 ms for x.sum(axis=(0, 2, 3)) on a (128, 32, 28, 28) map, 0.27 against
    0.44 ms on a channels-last (128, 64, 14, 14) one, with the same rounding (float32: 4e-7, 7e-6).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps, running=None):
        axes, shape = (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)
        (n, c), m = x.shape[:2], x.size // x.shape[1]
        mean = (np.einsum("ncl->c", x.reshape(n, c, -1)) / m).reshape(shape)  # sums by einsum (see the docstring)
        d = x - mean
        rows = d.reshape(n, c, -1)
        var = np.einsum("ncl,ncl->c", rows, rows) / m  # the sum of squares by einsum: one pass, no temporary
        r = (var + eps) ** -0.5
        ctx.save_for_backward(x, weight, d, r)
        ctx.axes, ctx.eps, ctx.shape = axes, eps, shape
        if running is not None:
            running_mean, running_var, momentum = running
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean.reshape(-1)
            running_var[...] = (1 - momentum) * running_var + momentum * (m / (m - 1)) * var
        out = d * (weight * r).reshape(shape)
        out += bias.reshape(shape)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, d, r = ctx.saved
        m, axes, shape = x.size // x.shape[1], ctx.axes, ctx.shape
        if isinstance(x, Tensor):  # under create_graph: d and r recomputed, so that they carry x's graph
            d, r = _centred(x, axes, ctx.eps)
            r = r.reshape(-1)
            g_weight = (g * d).sum(axis=axes) * r
            g_bias = g.sum(axis=axes)
        else:  # sum g d by einsum: one pass, no temporary (g * d would write a whole array)
            n, c = x.shape[:2]
            g_weight = np.einsum("ncl,ncl->c", g.reshape(n, c, -1), d.reshape(n, c, -1)) * r
            g_bias = np.einsum("ncl->c", g.reshape(n, c, -1))
        g_x = None
        if ctx.needs_input_grad[0]:
            a = weight * r
            g_x = a.reshape(shape) * g + (-a * r * g_weight / m).reshape(shape) * d + (-a * g_bias / m).reshape(shape)
        return g_x, g_weight, g_bias


# ---------------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------------


class MatMul(Primitive):
    """z = x @ y with NumPy's rules (1-D operands, batched N-D operands broadcast over leading axes).

    For matrices z_ij = sum_k x_ik y_kj, so dL/dx_ik = sum_j g_ij y_kj and dL/dy_kj = sum_i x_ik g_ij:
        dL/dx = g @ y^T,   dL/dy = x^T @ g.
    A 1-D x is a row (1, n) and a 1-D y a column (n, 1) whose added axis is dropped from z; batch
    axes that were broadcast are summed back by ``unbroadcast``.
    """

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {x.shape} and {y.shape}")
        if x.shape[-1] != y.shape[0 if y.ndim == 1 else -2]:
            raise ValueError(
                f"matmul: shapes {x.shape} and {y.shape} do not align: x has {x.shape[-1]} columns "
                f"but y has {y.shape[0 if y.ndim == 1 else -2]} rows"
            )
        try:
            return np.matmul(x, y)
        except ValueError:
            raise _broadcast_error("matmul (batch axes)", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        need_x, need_y = ctx.needs_input_grad
        if x.ndim == 2 and y.ndim == 2:  # the common case, without reshaping
            return (g @ y.T if need_x else None), (x.T @ g if need_y else None)
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        if y.ndim == 1:  # restore the dropped axes: y's column first, then x's row
            g = np.expand_dims(g, -1)
        if x.ndim == 1:
            g = np.expand_dims(g, -2)
        gx = gy = None
        if need_x:
            gx = unbroadcast(np.matmul(g, np.swapaxes(y2, -1, -2)), x2.shape).reshape(x.shape)
        if need_y:
            gy = unbroadcast(np.matmul(np.swapaxes(x2, -1, -2), g), y2.shape).reshape(y.shape)
        return gx, gy


class Linear(Primitive):
    """z = x @ W^T + b: the affine layer of ``nn.Linear`` as one primitive, W of shape (out, in).

    The same calculus as MatMul then Add, written out so that each gradient comes out directly in its
    operand's layout (the composition x @ W.T + b would hand W a transposed view to copy):
        dL/dx = g @ W,   dL/dW = g^T @ x,   dL/db = sum of g over the batch axes.
    x may carry any leading batch axes (..., in); they are flattened for the weight gradient.
    ``nn.Linear`` stores W column by column (its transpose is the C-contiguous array); dL/dW is then
    written as x^T @ g into the transpose of an array laid out as W: the same numbers, in W's layout, in
    an array of its own, so .grad takes it without a copy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features "
                             f"but the weight of shape {weight.shape} expects {weight.shape[1]}")
        # NumPy would silently promote float32 @ float64 (or int64) to float64; uint8 images are fine
        if x.dtype != weight.dtype and np.result_type(x, weight) != weight.dtype:
            raise TypeError(f"linear: input is {x.dtype} but the weight is {weight.dtype}; convert the input "
                            f"first, e.g. Tensor(x, dtype=np.{weight.dtype})")
        ctx.save_for_backward(x, weight)
        z = x @ weight.T
        if bias is not None:
            z += bias
        return z

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved
        need = ctx.needs_input_grad
        gx = g @ weight if need[0] else None
        if g.ndim != 2:  # batch axes (..., out) flattened into one
            g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        if not need[1]:
            gw = None
        elif type(weight) is np.ndarray and _column_major(weight):  # dL/dW laid out as W: (x^T @ g) into W^T
            gw = np.empty_like(weight)
            np.matmul(x.T, g, out=gw.T)
        else:
            gw = g.T @ x
        gb = np.add.reduce(g, axis=0) if len(need) > 2 and need[2] else None
        return gx, gw, gb


# ---------------------------------------------------------------------------------------------
# shape and indexing: gradients are moved back, never changed
# ---------------------------------------------------------------------------------------------


class Reshape(Primitive):
    """z = x viewed with a new shape.  Each element keeps its value, so dL/dx = g reshaped back.

    An x that does not lie in C order (a convolution's output lies channels last, see Conv2d) gets its
    gradient laid out as it was, so that the backward of the ops before it reads memory in order."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape, ctx.strides = x.shape, None if x.flags.c_contiguous else x.strides
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        if ctx.strides is None or isinstance(g, Tensor):
            return g.reshape(ctx.shape)
        g_x = _empty_in_order(ctx.shape, ctx.strides, g.dtype)
        g_x[...] = g.reshape(ctx.shape)
        return g_x


def _empty_in_order(shape, strides, dtype):
    """np.empty(shape) with its axes in memory in the order of ``strides`` (the largest outermost): laid out
    as the array those strides came from."""
    order = sorted(range(len(shape)), key=lambda axis: -strides[axis])
    return np.empty([shape[axis] for axis in order], dtype=dtype).transpose(np.argsort(order))


class Transpose(Primitive):
    """z = x with its axes permuted by ``axes``.  dL/dx = g permuted by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = None if axes is None else tuple(a % x.ndim for a in axes)  # argsort needs axes >= 0
        return np.transpose(x, ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, None if ctx.axes is None else tuple(np.argsort(ctx.axes)))


def expand(g, shape):
    """g copied along its size-1 and missing leading axes to ``shape``: Sum's backward, on arrays or
    (recorded, as Expand) on Tensors."""
    if isinstance(g, Tensor):
        return Expand.apply(g, shape=shape)
    out = np.empty(shape, dtype=g.dtype)  # (np.broadcast_to costs more in Python overhead than this copy)
    out[...] = g
    return out


class Expand(Primitive):
    """z = x broadcast to ``shape`` (copied along new leading axes and size-1 axes).
    Each x element feeds every copy of itself, so dL/dx = g summed back: the adjoint pair of Sum."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return np.broadcast_to(x, shape).copy()  # a copy: the result is a tensor of its own, writable
        except ValueError:
            raise ValueError(f"expand: a tensor of shape {x.shape} cannot be broadcast to shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


class Cat(Primitive):
    """z = the inputs joined along ``axis``.  Each input owns a slab of z, so its gradient is that slab of g."""

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.ends = np.cumsum([a.shape[axis] for a in arrays])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        starts = (0, *ctx.ends[:-1])
        before = (slice(None),) * ctx.axis
        return tuple(g[(*before, slice(start, end))] for start, end in zip(starts, ctx.ends))


class Cast(Primitive):
    """z = x converted to ``dtype`` (always a new array).  The identity in value, so dL/dx = g converted
    back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype)


def _is_basic_index(index) -> bool:
    """True for indices made of ints, slices, None and Ellipsis only (no element is picked twice)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Primitive):
    """z = x[index].  Each picked element passes its gradient back to where it came from:
    dL/dx = zeros with g scattered into x[index]. With integer-array indices the same element can be
    picked several times; ``np.add.at`` adds (rather than overwrites) its gradients. A caller that knows
    every element is picked at most once says ``unique=True`` (cross-entropy's one class per example):
    then the gradient is written in with plain assignment, 3x faster than ``np.add.at`` (60 000 picks:
    0.3 ms against 1.0 ms). Backward scatters through the index, so index arrays are copied here: a caller
    that refills its index or label buffer before backward must not move the gradient."""

    @staticmethod
    def forward(ctx, x, index, unique=False):
        if isinstance(index, np.ndarray):
            index = index.copy()
        elif isinstance(index, tuple):
            index = tuple(i.copy() if isinstance(i, np.ndarray) else i for i in index)
        ctx.shape, ctx.dtype, ctx.index, ctx.unique = x.shape, x.dtype, index, unique
        try:
            return np.asarray(x[index])
        except IndexError as err:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: {err}") from None

    @staticmethod
    def backward(ctx, g):
        return scatter_add(g, ctx.index, ctx.shape, ctx.unique)


def _scatter_add_arrays(g, index, shape, unique=False):
    grad = np.zeros(shape, dtype=g.dtype)
    if unique or _is_basic_index(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)
    return grad


def scatter_add(g, index, shape, unique=False):
    """zeros(shape) with g added in at ``index``: the adjoint of indexing, on arrays or (recorded) Tensors.
    ``unique``: no element of ``shape`` is indexed twice, so assignment adds nothing up wrongly."""
    if isinstance(g, Tensor):
        return ScatterAdd.apply(g, index=index, shape=shape, unique=unique)
    return _scatter_add_arrays(g, index, shape, unique)


class ScatterAdd(Primitive):
    """z = zeros(shape) with x added in at ``index`` (repeated indices accumulate): GetItem's backward.
    It is linear, and its adjoint is indexing itself:  dL/dx = g[index]."""

    @staticmethod
    def forward(ctx, x, index, shape, unique=False):
        ctx.index = index
        return _scatter_add_arrays(x, index, shape, unique)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]


# ---------------------------------------------------------------------------------------------
# sliding windows: pad and slice, unfold and fold (the adjoint pairs a convolution is built from)
# ---------------------------------------------------------------------------------------------


class Pad(Primitive):
    """z = x with ``widths[i] = (before, after)`` elements of ``value`` added at both ends of axis i
    (NumPy's ``np.pad`` order, first axis first; widths >= 0).  The padding is constant, so only the
    copied interior depends on x:  dL/dx = g[before : before + n] on every axis (slicing is its adjoint).

    >>> Pad.apply(Tensor(np.array([1.0, 2.0])), widths=((1, 2),), value=0.0).tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    """

    @staticmethod
    def forward(ctx, x, widths, value=0.0):
        ctx.interior = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.interior]


def _window_geometry(height, width, kernel_size, dilation, stride):
    """Output rows and columns of a sliding window: (n - dilation * (k - 1) - 1) // stride + 1 per axis
    (the formula of torch.nn.Unfold's documentation, without padding: Pad does that)."""
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    return (height - dh * (kh - 1) - 1) // sh + 1, (width - dw * (kw - 1) - 1) // sw + 1


def _window_view(x, kernel_size, dilation, stride):
    """windows[n, c, i, j, p, q] = x[n, c, i * sH + p * dH, j * sW + q * dW]: every window of x
    (N, C, H, W) as a view (N, C, out_h, out_w, kH, kW), no copy."""
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)  # the window's extent on the input, dilation included
    return np.lib.stride_tricks.sliding_window_view(x, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]


def _unfold_arrays(x, kernel_size, dilation, stride):
    windows = _window_view(x, kernel_size, dilation, stride)
    n, c, out_h, out_w, kh, kw = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, out_h * out_w)


def _add_windows(out, cols, kernel_size, dilation, stride):
    """col2im into ``out`` (A, B, H, W), zeros: ``cols[p, q]`` (A, B, out_h, out_w) holds every window's value
    at kernel offset (p, q), and each is added where that window put it. Returns ``out``."""
    (kh, kw), (dh, dw), (sh, sw) = kernel_size, dilation, stride
    out_h, out_w = cols.shape[-2:]
    # one strided slab per kernel position: kh * kw vectorised adds (np.add.at over precomputed indices
    # measured 6x slower: 13 ms against 2 ms on (8, 16, 28, 28) with a 3x3 kernel). Windows that do not
    # overlap (pooling's stride = kernel) are written rather than added: 5 ms against 9 on (128, 32, 28, 28).
    overlap = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
    for p in range(kh):
        rows = slice(p * dh, p * dh + sh * (out_h - 1) + 1, sh)
        for q in range(kw):
            slab = (slice(None), slice(None), rows, slice(q * dw, q * dw + sw * (out_w - 1) + 1, sw))
            if overlap:
                out[slab] += cols[p, q]
            else:
                out[slab] = cols[p, q]
    return out


def _fold_arrays(cols, output_size, kernel_size, dilation, stride):
    n, ckk, _ = cols.shape
    (kh, kw), channels = kernel_size, ckk // (kernel_size[0] * kernel_size[1])
    out_h, out_w = _window_geometry(*output_size, kernel_size, dilation, stride)
    offsets_first = cols.reshape(n, channels, kh, kw, out_h, out_w).transpose(2, 3, 0, 1, 4, 5)
    return _add_windows(np.zeros((n, channels) + tuple(output_size), dtype=cols.dtype), offsets_first,
                        kernel_size, dilation, stride)


def unfold(x, kernel_size, dilation, stride):
    """im2col on arrays, or (recorded, as Unfold) on Tensors: Fold's backward."""
    if isinstance(x, Tensor):
        return Unfold.apply(x, kernel_size=kernel_size, dilation=dilation, stride=stride)
    return _unfold_arrays(x, kernel_size, dilation, stride)


def fold(cols, output_size, kernel_size, dilation, stride):
    """col2im on arrays, or (recorded, as Fold) on Tensors: Unfold's backward."""
    if isinstance(cols, Tensor):
        return Fold.apply(cols, output_size=output_size, kernel_size=kernel_size, dilation=dilation, stride=stride)
    return _fold_arrays(cols, output_size, kernel_size, dilation, stride)


class Unfold(Primitive):
    """im2col: x of shape (N, C, H, W) -> z of shape (N, C*kH*kW, L), column l holding the l-th window
    (row-major over the output positions), row c*kH*kW + p*kW + q holding channel c at kernel offset (p, q):
    z[n, (c, p, q), (i, j)] = x[n, c, i*sH + p*dH, j*sW + q*dW]  (torch.nn.functional.unfold, padding 0;
    ``kernel_size``, ``dilation``, ``stride`` are pairs).  Each z element is a copy of one x element,
    and an x element is copied into every window that covers it, so dL/dx adds up the gradients of all
    its copies: that is fold (col2im), Unfold's adjoint.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, dilation, stride):
        ctx.geometry = (x.shape[2:], kernel_size, dilation, stride)
        return _unfold_arrays(x, kernel_size, dilation, stride)

    @staticmethod
    def backward(ctx, g):
        return fold(g, *ctx.geometry)


class Fold(Primitive):
    """col2im: columns of shape (N, C*kH*kW, L) -> z of shape (N, C, H, W) = ``output_size``, each column
    added back into the window it came from (overlapping windows add up; torch.nn.functional.fold,
    padding 0).  It is linear and Unfold's adjoint, so its own adjoint is Unfold:  dL/dcols = unfold(g).
    """

    @staticmethod
    def forward(ctx, cols, output_size, kernel_size, dilation, stride):
        ctx.geometry = (kernel_size, dilation, stride)
        return _fold_arrays(cols, output_size, kernel_size, dilation, stride)

    @staticmethod
    def backward(ctx, g):
        return unfold(g, *ctx.geometry)


def _pad_widths(padding):
    return ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2)


def _columns(x, kernel_size, dilation, padding, stride):
    """x (N, C, H, W), zero-padded, as one matrix whose columns are its windows: (C*kH*kW, N*L), row
    (c, p, q) as in Unfold, column (n, i, j), the batch's windows side by side: Unfold's result with the
    batch axis moved into the columns, so that a convolution of the whole batch is one matrix product.
    Recorded, as Pad then Unfold, for Conv2d's backward under create_graph; on arrays Conv2d copies the
    same windows out itself (``_conv_columns``)."""
    if max(padding) > 0:
        x = Pad.apply(x, widths=_pad_widths(padding), value=0.0)
    cols = unfold(x, kernel_size, dilation, stride)  # (N, C*kH*kW, L)
    return cols.transpose(1, 0, 2).reshape(cols.shape[1], cols.shape[0] * cols.shape[2])


def _fold_columns(cols, shape, kernel_size, dilation, padding, stride):
    """The adjoint of ``_columns``: each column (C*kH*kW, N*L) added back into the window it came from
    (overlaps add up), then the padding cropped, giving an array of ``shape`` (N, C, H, W)."""
    n, c, height, width = shape
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    interior = (slice(None), slice(None), slice(padding[0], padding[0] + height), slice(padding[1], padding[1] + width))
    out_h, out_w = _window_geometry(*padded, kernel_size, dilation, stride)
    if isinstance(cols, Tensor):
        by_image = cols.reshape(cols.shape[0], n, out_h * out_w).transpose(1, 0, 2)  # (N, C*kH*kW, L), as Fold takes
        return fold(by_image, padded, kernel_size, dilation, stride)[interior]
    # added channels first, as the rows of cols lie (C, N, ...), then laid out as (N, C, ...): adding straight
    # into (N, C, ...) reads cols against its layout (conv2 of the MNIST CNN: 11.7 ms against 7.9 + 0.4)
    offsets_first = cols.reshape(c, *kernel_size, n, out_h, out_w).transpose(1, 2, 0, 3, 4, 5)
    out = _add_windows(np.zeros((c, n) + padded, dtype=cols.dtype), offsets_first, kernel_size, dilation, stride)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3)[interior])


def _fold_columns_last(by_offset, shape, kernel_size, dilation, padding, stride):
    """The adjoint of Conv2d's channels-last windows (``_conv_columns``), from the windows' gradients offset
    by offset: ``by_offset`` (kH*kW, N*L, C) holds, for kernel offset (p, q), every window's gradient at
    that offset. Each is added where its window lay, into a padded channels-last buffer; returns the
    interior as an (N, C, H, W) view of it (laid out channels last)."""
    n, c, height, width = shape
    (kh, kw), padded = kernel_size, (n, height + 2 * padding[0], width + 2 * padding[1], c)
    out_h, out_w = _window_geometry(*padded[1:3], kernel_size, dilation, stride)
    out = np.zeros(padded, dtype=by_offset.dtype)
    offsets = by_offset.reshape(kh, kw, n, out_h, out_w, c).transpose(0, 1, 2, 5, 3, 4)  # [p, q]: (N, C, out_h, out_w)
    _add_windows(out.transpose(0, 3, 1, 2), offsets, kernel_size, dilation, stride)
    return out[:, padding[0]:padding[0] + height, padding[1]:padding[1] + width].transpose(0, 3, 1, 2)


def _windows_channels_last(channels, kernel_size, dilation, stride, out_w):
    """Whether Conv2d copies its windows out channels last: when that copies the longer runs of neighbouring
    values, kW*C (C when dilated) against out_w (1 when strided) channels first."""
    run_last = channels * (kernel_size[1] if dilation[1] == 1 else 1)
    run_first = out_w if stride[1] == 1 else 1
    return run_last >= run_first


class Conv2d(Primitive):
    """z = conv2d(x, W) + b, the cross-correlation of PyTorch's conv2d, as one primitive: x (N, C, H, W),
    W (O, C/G, kH, kW) in G groups, b (O,) or absent, z (N, O, out_h, out_w). ``stride``, ``padding``,
    ``dilation`` are pairs.

    The windows of the padded x, laid side by side as the columns of X (C*kH*kW, N*L, see ``_columns``),
    make the convolution one matrix product per group: Z = W X with W viewed as (O, C*kH*kW), then Z
    (O, N*L) is laid out as (N, O, out_h, out_w). The calculus is MatMul's and Unfold's:
        dL/dW = G X^T,   dL/db = sum of g over (n, i, j),   dL/dx = fold(W^T G)
    with G = g laid out as Z (O, N*L), and fold (_fold_columns) adding each column back into its window:
    the gradient of a convolution is again a product with the same windows.

    The bias rides in the product: X gets a row of ones and W the column b (the "bias unit" x0 = 1 of
    a neural-network course), so [W b] [X; 1] = W X + b needs no pass of its own over z, and the weight
    gradient G [X; 1]^T ends in the column G 1 = dL/db. (The MNIST CNN's first convolution, batch 128:
    forward 5.2 -> 3.3 ms, backward 2.9 -> 2.2 ms, medians of 20 steps in three alternating runs.)

    Copying the windows out is NumPy's work, not BLAS's, and how fast it goes depends on how long the runs
    of neighbouring values it copies are: channels first, a run is one output row (out_w values, 14 for
    the MNIST CNN's second convolution). With many channels the windows are laid out channels last
    instead, X^T (N*L, kH*kW*C), whose runs are the kW*C values of kW neighbouring pixels (96): 2.5 ms
    against 5.9 ms at batch 128. Then Z^T = X^T [W b]^T (N*L, O) is z with its channels last, returned as
    an (N, O, out_h, out_w) view, not laid out again (PyTorch's ``channels_last`` memory format). The ops
    after it take that layout as it is (NumPy's elementwise results keep their operand's layout), the
    gradient comes back in it, and G^T is a view of g as (N*L, O); the backward mirrors the forward (see
    ``_conv_backward_channels_last``). ``_windows_channels_last`` chooses the longer run; groups keep the
    windows channels first. Whole training steps of the MNIST CNN (B4), three runs alternating the two
    versions: 1.38x, 1.39x, 1.32x the NumPy floor's time channels first only, 1.28x, 1.21x, 1.29x with
    both layouts.

    X is kH*kW times the size of x (29 MB against 3.2 MB for the MNIST CNN's second convolution at batch
    128), so the first backward drops it as soon as G X^T is made, before it makes W^T G, as large again;
    a second backward (retain_graph) or one under create_graph copies the windows out of x again.

    ``conv2d_composed`` (pad, unfold, batched matmul, add) is the same function; a property test checks
    that the two agree in value, gradient and second derivative. The composition multiplies image by
    image, (O, C*kH*kW) by (C*kH*kW, L) for each of the N images, sums N weight gradients and keeps X;
    this primitive makes one product for the whole batch (unless X has few rows, see _ONE_PRODUCT_FROM)
    and lets X go early. Measured on the MNIST CNN at batch 128: the second convolution's forward and
    backward 46 ms composed, 41 ms as this primitive (copying X out again in backward instead of keeping
    it cost 5-9 % of a whole step); the whole training step's peak memory 189 MB and 152 MB.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        (n, channels, height, width), out_channels, kernel = x.shape, weight.shape[0], weight.shape[2:]
        out_h, out_w = _window_geometry(height + 2 * padding[0], width + 2 * padding[1], kernel, dilation, stride)
        ctx.save_for_backward(x, weight)
        ctx.geometry, ctx.groups, ctx.ones = (kernel, dilation, padding, stride), groups, int(bias is not None)
        ctx.channels_last = groups == 1 and _windows_channels_last(channels, kernel, dilation, stride, out_w)
        if ctx.channels_last:
            return _conv_forward_channels_last(ctx, x, weight, bias, (n, out_channels, out_h, out_w))
        rows = weight[0].size + ctx.ones               # X's rows per group: C/G*kH*kW, and the row of ones
        cols = _conv_columns(ctx, x, weight).reshape(groups, rows, n, out_h * out_w)  # X: (groups, rows, N, L)
        w = _with_bias(weight.reshape(groups, out_channels // groups, rows - ctx.ones), bias)  # [W b]: (groups, O/G, rows)
        if rows < _ONE_PRODUCT_FROM:  # a product per image, written in place: (N, groups, O/G, L)
            z = (w @ cols.transpose(2, 0, 1, 3)).reshape(n, out_channels, out_h, out_w)
        else:                                 # one product for the batch, (groups, O/G, N*L), then laid out
            z = w @ cols.reshape(groups, rows, n * out_h * out_w)
            z = np.ascontiguousarray(z.reshape(out_channels, n, out_h, out_w).transpose(1, 0, 2, 3))
        ctx.cols = cols  # for the first backward only (see the docstring)
        return z

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved
        if ctx.channels_last and not isinstance(x, Tensor):  # (under create_graph: the channels-first formulas)
            return _conv_backward_channels_last(ctx, x, weight, g)
        (n, out_channels, out_h, out_w), groups, need = g.shape, ctx.groups, ctx.needs_input_grad
        ones = ctx.ones and not isinstance(x, Tensor)  # (under create_graph X is recorded without the ones)
        kept, ctx.cols = ctx.cols if need[1] else None, None
        rows, columns = weight[0].size, n * out_h * out_w        # C/G*kH*kW (W's columns, X's rows without ones), N*L
        per_image = rows + ones < _ONE_PRODUCT_FROM             # (as the forward chose)
        g_rows = None
        if need[0] or not per_image:
            g_rows = g.transpose(1, 0, 2, 3).reshape(groups, out_channels // groups, columns)  # G: (groups, O/G, N*L)
        g_x = g_weight = g_bias = None
        if need[1]:
            if kept is None or isinstance(x, Tensor):  # a second backward, or under create_graph: copied out again
                kept = _conv_columns(ctx, x, weight)
            cols = kept.reshape(groups, rows + ones, columns)                            # X: (groups, rows, N*L)
            if per_image:  # G X^T as N products, one per image, summed
                images = cols.reshape(groups, rows + ones, n, out_h * out_w).transpose(2, 0, 3, 1)  # (N, groups, L, rows)
                g_weight = (g.reshape(n, groups, out_channels // groups, out_h * out_w) @ images).sum(axis=0)
            else:
                g_weight = g_rows @ cols.transpose(0, 2, 1)
            if ones and len(need) > 2 and need[2]:  # G times the row of ones: the sum of g over (n, i, j)
                g_bias = g_weight[..., rows].reshape(out_channels)
            g_weight = g_weight[..., :rows].reshape(weight.shape)
            del cols, kept  # G X^T made: X may go before W^T G is made
        if need[0]:
            g_cols = weight.reshape(groups, out_channels // groups, rows).transpose(0, 2, 1) @ g_rows  # W^T G
            g_x = _fold_columns(g_cols.reshape(groups * rows, columns), x.shape, *ctx.geometry)
        if len(need) > 2 and need[2] and g_bias is None:
            g_bias = g.sum(axis=(0, 2, 3)) if g_rows is None else g_rows.reshape(out_channels, columns).sum(axis=1)
        return g_x, g_weight, g_bias


# Conv2d's products: with few rows in X (C/G*kH*kW: 9 for a first layer on grey images) a product per
# image writes z in its own layout, where one product for the batch must lay out z (and G) again; with
# many rows the one large product wins. Measured at batch 128 (ms, forward and weight gradient, product
# per image / one product): 9 rows 2.9 / 5.8, 36 rows 7.4 / 10.5, 72 rows 5.8 / 5.5, 288 rows 16.6 / 14.5.
_ONE_PRODUCT_FROM = 64


def _conv_forward_channels_last(ctx, x, weight, bias, shape):
    """Conv2d's forward with the windows channels last: X (N*L, kH*kW*C [+ 1]) and Z = X [W b]^T (N*L, O),
    W viewed as (O, kH*kW*C) with its columns in X's (p, q, c) order. Z is z with the channels last,
    returned as the (N, O, out_h, out_w) view of it: no copy to lay it out again."""
    n, out_channels, out_h, out_w = shape
    cols = _conv_columns(ctx, x, weight)
    z = cols @ _with_bias(weight.transpose(0, 2, 3, 1).reshape(out_channels, -1), bias).T
    ctx.cols = cols  # for the first backward only (see Conv2d's docstring)
    return z.reshape(n, out_h, out_w, out_channels).transpose(0, 3, 1, 2)


def _conv_backward_channels_last(ctx, x, weight, g):
    """Conv2d's backward for ``_conv_forward_channels_last``, the same calculus with G = g viewed as
    (N*L, O) (no copy when g lies channels last, as z did):
        dL/d[W b] = G^T X,   dL/dx = the adjoint of the channels-last windows, applied to G W,
    where G W is formed offset by offset, G W_pq (N*L, C) for each kernel offset (p, q), so that each
    offset's gradients are one block for _fold_columns_last to add back."""
    (n, out_channels, out_h, out_w), need = g.shape, ctx.needs_input_grad
    kernel, channels = ctx.geometry[0], x.shape[1]
    kept, ctx.cols = ctx.cols if need[1] else None, None
    g_rows = g.transpose(0, 2, 3, 1).reshape(n * out_h * out_w, out_channels)        # G: (N*L, O)
    g_x = g_weight = g_bias = None
    if need[1]:
        cols = kept if kept is not None else _conv_columns(ctx, x, weight)         # X: (N*L, kH*kW*C [+ 1])
        g_weight = g_rows.T @ cols                                                 # (O, kH*kW*C [+ 1])
        if ctx.ones and len(need) > 2 and need[2]:  # G^T times the column of ones: the sum of g over (n, i, j)
            g_bias = g_weight[:, -1].copy()
        g_weight = g_weight[:, :weight[0].size].reshape(out_channels, *kernel, channels)   # (O, kH, kW, C)
        g_weight = np.ascontiguousarray(g_weight.transpose(0, 3, 1, 2))
        del cols, kept  # G^T X made: X may go before G W is made
    if need[0]:
        by_offset = g_rows @ weight.transpose(2, 3, 0, 1).reshape(-1, out_channels, channels)  # (kH*kW, N*L, C)
        g_x = _fold_columns_last(by_offset, x.shape, *ctx.geometry)
    if len(need) > 2 and need[2] and g_bias is None:
        g_bias = g_rows.sum(axis=0)
    return g_x, g_weight, g_bias


def _with_bias(w, bias):
    """[W b]: the weight matrix w (..., O', K) with the bias as one more column, or w itself without a bias."""
    if bias is None:
        return w
    return np.concatenate([w, bias.reshape(w.shape[:-1] + (1,)).astype(w.dtype, copy=False)], axis=-1)


def _conv_columns(ctx, x, weight):
    """Conv2d's X, the windows of x copied out side by side, in the weight's dtype (integer images are cast
    as they are copied, so that the products run in BLAS), with a row of ones per group when there is a
    bias (ctx.ones), so that one product gives W X + b:
      - channels first: (groups, C/G*kH*kW [+ 1], N*L), rows (c, p, q), columns (n, i, j) (as ``_columns``);
      - ctx.channels_last: (N*L, kH*kW*C [+ 1]), rows (n, i, j), columns (p, q, c) (groups: 1).
    Under create_graph (x a Tensor): the recorded ``_columns(x)``, without ones."""
    if isinstance(x, Tensor):
        return _columns(x, *ctx.geometry)
    (kernel, dilation, padding, stride), ones = ctx.geometry, ctx.ones
    n, c, height, width = x.shape
    dtype = np.result_type(x.dtype, weight.dtype)
    if ctx.channels_last:  # x copied channels last into a zero border: (N, H + 2 pH, W + 2 pW, C)
        padded = np.zeros((n, height + 2 * padding[0], width + 2 * padding[1], c), dtype=x.dtype)
        padded[:, padding[0]:padding[0] + height, padding[1]:padding[1] + width] = x.transpose(0, 2, 3, 1)
        windows = _window_view(padded.transpose(0, 3, 1, 2), kernel, dilation, stride)  # (N, C, out_h, out_w, kH, kW)
        _, _, out_h, out_w, kh, kw = windows.shape
        cols = np.empty((n, out_h, out_w, kh * kw * c + ones), dtype=dtype)
        cols[..., :kh * kw * c].reshape(n, out_h, out_w, kh, kw, c)[...] = windows.transpose(0, 2, 3, 4, 5, 1)
        cols[..., kh * kw * c:] = 1
        return cols.reshape(n * out_h * out_w, kh * kw * c + ones)
    windows = _window_view(np.pad(x, _pad_widths(padding)) if max(padding) > 0 else x, kernel, dilation, stride)
    _, _, out_h, out_w, kh, kw = windows.shape
    groups, rows = ctx.groups, c // ctx.groups * kh * kw
    cols = np.empty((groups, rows + ones, n, out_h, out_w), dtype=dtype)
    cols[:, :rows].reshape(groups, c // groups, kh, kw, n, out_h, out_w)[...] = (
        windows.transpose(1, 4, 5, 0, 2, 3).reshape(groups, c // groups, kh, kw, n, out_h, out_w))
    cols[:, rows:] = 1
    return cols.reshape(groups, rows + ones, n * out_h * out_w)


class MaxPool2d(Primitive):
    """z = the max of each kH x kW window of x (N, C, H, W), for windows that tile x exactly (stride = kernel,
    no padding, H and W multiples of the kernel: the usual 2x2 pooling).  Taken in two passes that read x
    where it lies: the max of each window row over its kW columns (x viewed as (N, C, H, out_w, kW)), then
    the max of those over the kH rows ((N, C, out_h, kH, out_w)), each pass remembering which one won.
    z is one element of its window, so dL/dx = g at that element and 0 at the others: backward sends g to
    the winning row, then to the winning column (each a stack of g or 0).  A tie goes to the first maximum
    in row-major order, as in PyTorch; a nan in a window makes its output nan and takes the gradient (the
    last nan in row-major order, as in PyTorch).

    NumPy compares every kW-th value of a C-order row without its vector instructions (np.maximum of two
    stride-2 views of a (128, 32, 28, 28) map: 3.0 ms, copying one out: 0.75 ms), so such columns are
    copied out contiguous before the passes: forward 9.5, 9.6, 8.2 -> 6.8, 7.5, 5.5 ms on that map. In a
    channels-last x the columns are already runs of C neighbouring values.

    The composition unfold -> max over each column -> (backward) fold gives the same gradient wherever a
    window's maximum is unique (a property test checks it; ``F.max_pool2d`` on other windows picks the
    same winners as this primitive, by index), but copies every window out and back: forward and backward
    of the MNIST CNN's two poolings (batch 128) took 26 ms as that composition, 17 ms as this primitive.
    """

    @staticmethod
    def forward(ctx, x, kernel_size):
        (kh, kw), (n, c, height, width) = kernel_size, x.shape
        columns = [x.reshape(n, c, height, width // kw, kw)[..., q] for q in range(kw)]
        if kw > 1 and x.strides[3] == x.itemsize:  # rows in C order: each column copied out contiguous first
            columns = [np.ascontiguousarray(column) for column in columns]
        row_max, column_winner = _max_and_winner(columns)               # (N, C, H, out_w): max of each window row
        rows = [row_max.reshape(n, c, height // kh, kh, width // kw)[:, :, :, p] for p in range(kh)]
        z, row_winner = _max_and_winner(rows)                            # (N, C, out_h, out_w)
        ctx.winners, ctx.shape = (row_winner, column_winner), x.shape
        return z

    @staticmethod
    def backward(ctx, g):
        row_winner, column_winner = ctx.winners
        (n, c, height, width), kw = ctx.shape, len(column_winner)
        finite = not isinstance(g, Tensor) and _all_finite(g)  # else g * 0 gives a loser nan (see ``masked``)
        g_row_max = _to_winners(g, row_winner, 3, finite).reshape(n, c, height, width // kw)
        return _to_winners(g_row_max, column_winner, 4, finite).reshape(n, c, height, width)


def _max_and_winner(candidates):
    """The elementwise max of equally shaped arrays, and for each candidate a boolean array: True where it
    is the first to hold the max."""
    best, took_over = candidates[0], [None]
    for candidate in candidates[1:]:
        # where it beats every candidate before it; a nan takes over too, so that the last nan wins (as in PyTorch)
        took_over.append((candidate > best) | np.isnan(candidate))
        best = np.maximum(best, candidate)  # (np.maximum, so that a nan reaches the output)
    won, later = [None] * len(candidates), None  # later: where a later candidate took over
    for k in range(len(candidates) - 1, 0, -1):  # the winner is the last candidate that took over
        won[k] = took_over[k] if later is None else took_over[k] & ~later
        later = took_over[k] if later is None else later | took_over[k]
    if later is None:  # a 1-wide window: its one candidate wins, and is copied (never a view of the input)
        return best.copy(order="K"), [np.ones_like(best, dtype=bool)]
    won[0] = ~later
    return best, won


def _to_winners(g, winners, axis, finite):
    """g sent to the winning candidate: a new axis ``axis`` with one entry per candidate, g where it won
    and 0 elsewhere (np.stack of g * won; on arrays written in place, without the stack's extra copy,
    laid out as the candidates were, the new axis next to axis - 1: a channels-last x gets a channels-last
    gradient). ``finite``: g holds no inf or nan, so that g * won is exactly g or 0 (else np.where).

    Of two candidates exactly one wins, so the first gets g minus what the second got: a subtraction of
    floats instead of a second product with a boolean mask, which NumPy runs about twice as slowly, as it
    converts the mask as it goes. Both, and g laid out as the winners first (a gradient arriving in the
    other memory order makes every pass stride), took a (128, 64, 14, 14) channels-last pooling's
    backward from 7.3-7.6 to 1.6-2.6 ms against a C-order g, and a (128, 32, 28, 28) one's from 5.3-5.4 to
    3.8-5.0 ms (three runs alternating the two versions)."""
    if isinstance(g, Tensor):  # under create_graph
        return np.stack([masked(g, won) for won in winners], axis=axis)
    strides = winners[0].strides  # the new axis is given a stride just below axis - 1's, to sit next to it
    out = _empty_in_order(g.shape[:axis] + (len(winners),) + g.shape[axis:],
                          strides[:axis] + (strides[axis - 1] - 0.5,) + strides[axis:], g.dtype)
    slot = [out[(slice(None),) * axis + (k,)] for k in range(len(winners))]
    g = laid_out_like(g, winners[0])  # (one pass over g, so that the passes below read in step)
    if not finite:
        for k, won in enumerate(winners):
            slot[k][...] = masked(g, won)
    elif len(winners) == 2:
        np.multiply(g, winners[1], out=slot[1])
        np.subtract(g, slot[1], out=slot[0])
    else:
        for k, won in enumerate(winners):
            np.multiply(g, won, out=slot[k])
    return out
