"""Tensor: a NumPy array that remembers how it was made, so its gradient can be computed.

>>> from tinygrad_edu import Tensor
>>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> loss = (x * x).sum()          # records Mul, then Sum
>>> loss.backward()               # walks the record in reverse: d(sum x^2)/dx = 2x
>>> x.grad
Tensor([2., 4., 6.], dtype=float32)

Every operator below is one line: a call to a primitive in ``ops.py`` or a composition of
other operators. ``backward`` is the reverse-mode sweep: order the graph, seed, walk, accumulate.
"""

from __future__ import annotations

import numpy as np

_FLOAT_KINDS = "f"
_NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex: no strings, objects, dates


def _as_array(data, dtype):
    """The array a Tensor holds: NumPy float arrays keep their dtype, Python floats become float32."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        array = data if dtype is None else data.astype(dtype, copy=False)
    else:
        try:
            array = np.asarray(data, dtype=dtype)
        except (ValueError, TypeError) as error:  # ragged nested lists, strings with a float dtype
            raise type(error)(f"cannot make a Tensor from this {type(data).__name__}: {error}") from None
        if dtype is None and array.dtype.kind == _FLOAT_KINDS and array.dtype != np.float32:
            array = array.astype(np.float32)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"cannot make a Tensor from {type(data).__name__} of dtype {array.dtype}: it is not "
                        "numeric array data (a Tensor holds bool, integer or floating-point numbers)")
    return array


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` a NumPy array (its dtype is kept),
    a nested list or a scalar (float32 unless ``dtype`` is given; integers stay integers).
    """

    __slots__ = ("__weakref__", "_node", "_retains_grad", "_version", "data", "grad", "requires_grad")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._node = None
        self._retains_grad = False
        self._version = 0  # bumped by every in-place change; backward refuses saved tensors that changed
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, data, node):
        """The output of a primitive: ``node`` is its graph node, or None when nothing needs a gradient."""
        t = cls.__new__(cls)
        t.data, t.grad, t._node, t._retains_grad, t._version = data, None, node, False, 0
        t.requires_grad = node is not None
        return t

    # ---- attributes --------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="Tuple of axis lengths.")
    ndim = property(lambda self: self.data.ndim, doc="Number of axes.")
    dtype = property(lambda self: self.data.dtype, doc="The NumPy dtype of ``data``.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    is_leaf = property(lambda self: self._node is None,
                       doc="True for tensors made by the user rather than by an op (their .grad is kept).")
    grad_fn = property(lambda self: self._node, doc="The graph node (a Function instance) that made this tensor.")
    T = property(lambda self: self.transpose(), doc="All axes reversed (the matrix transpose for 2-D).")

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a one-element tensor, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn={type(self._node).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def _repr_svg_(self):
        """Jupyter shows an op output as its recorded graph (None, so the text repr, without Graphviz)."""
        from . import viz

        return viz._repr_svg(self)

    # ---- autograd controls --------------------------------------------------------------------
    def requires_grad_(self, flag=True):
        """Mark this leaf as a variable whose gradient ``backward`` should accumulate into ``.grad``."""
        if flag and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients; this tensor is {self.dtype}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor; use detach() instead")
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """The same data, cut off from the graph (no gradient flows through it)."""
        return Tensor._from_op(self.data, None)

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient (sets ``.grad = None``)."""
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Reverse-mode sweep from this tensor; see :func:`tinygrad_edu.autograd.backward`."""
        autograd.backward(self, grad, retain_graph)

    # ---- arithmetic (broadcasting as in NumPy) ------------------------------------------------
    def _lift(self, other) -> Tensor:
        """``other`` as a Tensor; Python numbers take this tensor's dtype (no float32 -> float64)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool)) and self.data.dtype.kind == "f":
            return Tensor._from_op(np.asarray(other, dtype=self.data.dtype), None)
        return Tensor(other)

    def __add__(self, other):
        return ops.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return ops.Add.apply(self._lift(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._lift(other), self)

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) + (-self)

    def __truediv__(self, other):
        other = self._lift(other)
        if not other.requires_grad:  # dividing by a constant: multiply by its reciprocal, one op
            return self * Tensor._from_op(1 / other.data, None)
        return self * other ** -1

    def __rtruediv__(self, other):
        if not self.requires_grad:  # a constant divisor (integers too: 1 / int tensor is a float, as in NumPy)
            return self._lift(other) * Tensor._from_op(1 / self.data, None)
        return self._lift(other) * self ** -1

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return (exponent * self.log()).exp()
        if self.data.dtype.kind in "biu" and isinstance(exponent, (int, np.integer)) and exponent < 0:
            raise ValueError(f"pow: an integer tensor ({self.dtype}) cannot be raised to the negative power "
                             f"{exponent}; make it floating-point first, e.g. Tensor(t.data.astype(np.float32))")
        return ops.Pow.apply(self, exponent=exponent)

    def __rpow__(self, base):
        return (self * np.log(base)).exp()

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._lift(other), self)

    # ---- comparisons: not differentiable, plain boolean tensors ------------------------------
    def _compare(self, other, fn):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(fn(self.data, other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__

    def argmax(self, axis=None) -> Tensor:
        """Index of the largest element (along ``axis``); an int64 tensor, not differentiable."""
        if self.data.size == 0 and (axis is None or self.shape[axis] == 0):
            raise ValueError(f"argmax: an empty tensor of shape {self.shape} has no largest element"
                             + ("" if axis is None else f" along axis {axis}"))
        return Tensor(np.argmax(self.data, axis=axis))

    # ---- elementwise --------------------------------------------------------------------------
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return self ** 0.5

    def abs(self):
        return ops.Abs.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def leaky_relu(self, negative_slope=0.01):
        return ops.LeakyReLU.apply(self, negative_slope=negative_slope)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def clip(self, lo=None, hi=None):
        return ops.Clip.apply(self, lo=lo, hi=hi)

    # ---- reductions ---------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Sum divided by the number of elements summed."""
        axes = ops._normalize_axis(axis, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        if count == 0:  # 0 / 0: NumPy and PyTorch answer nan; a clear error is more useful to a learner
            where = "" if axis is None else f" along axis {axis}"
            raise ValueError(f"mean: cannot average zero elements (an empty tensor of shape {self.shape}{where}); "
                             "the mean of nothing is undefined")
        return self.sum(axis=axes, keepdims=keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims=False):
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis=-1):
        return ops.Softmax.apply(self, axis=axis)

    def logsumexp(self, axis=-1, keepdims=False):
        """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m = max(x) held constant.

        The shift m changes nothing mathematically (it cancels), so it is detached: its gradient
        path would contribute exactly zero, and keeping it out keeps the graph small.
        """
        m = self.detach().max(axis=axis, keepdims=True)
        out = (self - m).exp().sum(axis=axis, keepdims=True).log() + m
        return out if keepdims else out.reshape(np.squeeze(out.data, axis=axis).shape)

    def log_softmax(self, axis=-1):
        """x - logsumexp(x): stable for any finite x (no exp of a large number, no log of 0)."""
        return self - self.logsumexp(axis=axis, keepdims=True)

    # ---- shape --------------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if axes and sorted(a % self.ndim for a in axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {self.ndim} axes of {self.shape}")
        return ops.Transpose.apply(self, axes=axes or None)

    def flatten(self, start_axis=0):
        start_axis %= max(self.ndim, 1)
        return self.reshape(*self.shape[:start_axis], -1)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        elif isinstance(index, list):
            index = np.asarray(index)
        return ops.GetItem.apply(self, index=index)

    # ---- constructors -------------------------------------------------------------------------
    @staticmethod
    def _shape(shape):
        return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape

    @classmethod
    def zeros(cls, *shape, dtype=None, requires_grad=False):
        return cls(np.zeros(cls._shape(shape), dtype=dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=None, requires_grad=False):
        return cls(np.ones(cls._shape(shape), dtype=dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def randn(cls, *shape, seed=None, dtype=None, requires_grad=False):
        """Standard normal samples; ``seed`` makes them reproducible."""
        data = np.random.default_rng(seed).standard_normal(cls._shape(shape), dtype=np.float64)
        return cls(data.astype(dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def uniform(cls, *shape, low=0.0, high=1.0, seed=None, dtype=None, requires_grad=False):
        """Samples from U(low, high); ``seed`` makes them reproducible."""
        data = np.random.default_rng(seed).uniform(low, high, cls._shape(shape))
        return cls(data.astype(dtype or np.float32), requires_grad=requires_grad)


# Imported last: ops -> function -> tensor, and function needs the Tensor class defined above.
from . import autograd, ops
