"""Tensor: a NumPy array that remembers how it was made, so its gradient can be computed.

>>> from tinygrad_edu import Tensor
>>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> loss = (x * x).sum()          # records Mul, then Sum
>>> loss.backward()               # walks the record in reverse: d(sum x^2)/dx = 2x
>>> x.grad
Tensor([2., 4., 6.], dtype=float32)

Every operator below is one line: a call to a primitive in ``ops.py`` or a composition of
other operators. ``backward`` is the reverse-mode sweep in ``autograd/backprop.py``: order the graph, seed,
walk, accumulate. How a Tensor meets Python and NumPy (``float(t)``, ``np.exp(t)``, ``t += 1``) is in
``protocols.py`` (mixed in); the module-level constructors (``tg.zeros``, ``tg.cat``, ...) in ``creation.py``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .protocols import PythonProtocols

_FLOAT_KINDS = "f"
_NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex: no strings, objects, dates
_NUMBERS = (int, float, bool, np.number, np.bool_)  # "weak" scalars: they take the tensor's dtype


def _as_array(data, dtype, copy=True) -> np.ndarray:
    """The array a Tensor holds: NumPy arrays keep their dtype (copied unless ``copy=False``),
    Python lists and floats become float32, integers stay integers."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        array = np.array(data, dtype=dtype, copy=copy or None)
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


def result_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    """The dtype of a binary op on two tensors, as in PyTorch: a float beats an integer or bool whatever
    their sizes (int64 with float32 is float32, where NumPy would say float64); within one kind the
    wider wins."""
    a_float, b_float = a.kind == _FLOAT_KINDS, b.kind == _FLOAT_KINDS
    if a_float != b_float:
        return a if a_float else b
    return np.result_type(a, b)


def _constant(value, like: Tensor) -> Tensor:
    """A Python or NumPy number as a 0-d constant beside ``like``: it takes ``like``'s dtype, except
    that a float beside an integer tensor is float32 (so int64 tensor + 0.1 is float32, as in PyTorch)."""
    dtype = like._data.dtype
    if dtype.kind != _FLOAT_KINDS:
        if isinstance(value, (float, np.floating)):
            dtype = np.float32
        elif dtype.kind == "b" and not isinstance(value, (bool, np.bool_)):
            dtype = np.int64
    return Tensor._from_op(np.asarray(value, dtype=dtype), None)


def _operands(a, b) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors of one dtype (numbers adapt; NumPy arrays are copied)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype is b._data.dtype:  # the common case
        return a, b
    if not isinstance(a, Tensor):
        a = _constant(a, b) if isinstance(a, _NUMBERS) else Tensor(a)
    if not isinstance(b, Tensor):
        b = _constant(b, a) if isinstance(b, _NUMBERS) else Tensor(b)
    if a._data.dtype != b._data.dtype:
        dtype = result_dtype(a._data.dtype, b._data.dtype)
        if (a._data.ndim == 0) != (b._data.ndim == 0) and _kind_rank(a) == _kind_rank(b):
            dtype = (b if a._data.ndim == 0 else a)._data.dtype  # a 0-d tensor does not widen its own kind
        a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    return a, b


def _kind_rank(t: Tensor) -> int:
    """bool < integer < floating point: the categories of PyTorch's promotion rules. Within one category a
    tensor with axes keeps its dtype beside a 0-d one (float32 t * a float64 0-d tensor is float32)."""
    kind = t._data.dtype.kind
    return 2 if kind == _FLOAT_KINDS else 0 if kind == "b" else 1


def _torch_spelling(name, axis, keepdims, dim, keepdim):
    """PyTorch's ``dim=`` / ``keepdim=`` as ``axis`` / ``keepdims`` (giving both spellings is an error)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: got both axis= and dim= (the same argument)")
        axis = dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{name}: got both keepdims= and keepdim= (the same argument)")
        keepdims = keepdim
    return axis, keepdims


def _torch_names(method):
    """Accept PyTorch's ``dim=`` / ``keepdim=`` as spellings of ``axis=`` / ``keepdims=``."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if "dim" in kwargs or "keepdim" in kwargs:
            axis, keepdims = _torch_spelling(method.__name__, kwargs.get("axis"), kwargs.get("keepdims"),
                                             kwargs.pop("dim", None), kwargs.pop("keepdim", None))
            if axis is not None:
                kwargs["axis"] = axis
            if keepdims is not None:
                kwargs["keepdims"] = keepdims
        return method(self, *args, **kwargs)

    return wrapper


def _shape_args(shape) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike, as PyTorch takes shapes."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


class Tensor(PythonProtocols):
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` a NumPy array (copied, dtype kept),
    a nested list or a scalar (float32 unless ``dtype`` is given; integers stay integers).
    ``Tensor.from_numpy(array)`` shares the array instead of copying it.
    """

    __slots__ = ("__weakref__", "_data", "_grad", "_node", "_requires_grad", "_retains_grad", "_versions")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self._data = _as_array(data, dtype)
        self._grad = None
        self._node = None
        self._retains_grad = False
        self._versions = [0, 0]  # [changes so far, when the last one happened]: a list views of it share
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, data, node):
        """The output of a primitive: ``node`` is its graph node, or None when nothing needs a gradient."""
        t = cls.__new__(cls)
        t._data = data
        t._node = node
        t._requires_grad = node is not None
        t._grad = None
        t._retains_grad = False
        t._versions = [0, 0]
        return t

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> Tensor:
        """A Tensor that shares ``array`` (no copy): in-place changes to either show in both."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
        return cls._from_op(_as_array(array, None, copy=False), None)

    # ---- attributes --------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The values, always a ``numpy.ndarray`` (0-d for a scalar). Writing into it bypasses autograd."""
        return self._data

    @data.setter
    def data(self, value):
        """An array (or Tensor) is stored as it is; a list or number takes the current dtype."""
        value = value.data if isinstance(value, Tensor) else value
        array = _as_array(value, None if isinstance(value, np.ndarray) else self._data.dtype, copy=False)
        if self._requires_grad and array.dtype.kind != _FLOAT_KINDS:
            raise TypeError(f"cannot store {array.dtype} data in a tensor that requires grad (gradients need "
                            "floating-point numbers); convert it first, e.g. array.astype(np.float32)")
        self._data = array

    @property
    def grad(self):
        """The accumulated gradient: a Tensor of this tensor's shape and dtype, or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__} (to reset it, "
                                "assign None, not 0)")
            if value.shape != self._data.shape or value.dtype != self._data.dtype:
                raise ValueError(f"assigned grad has shape {value.shape} and dtype {value.dtype}, but the tensor has "
                                 f"shape {self.shape} and dtype {self.dtype}")
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor; setting it is ``requires_grad_(flag)``."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's values have had (optimizer steps included); views made by
        reshape, transpose or indexing share the count with the tensor they view, as in PyTorch.

        Every change is also numbered on a package-wide clock (``function.mutations``): a node remembers
        the clock when it ran, so backward knows at once whether anything changed since, and if so,
        which of the node's tensors (those changed later than the node was made)."""
        return self._versions[0]

    @_version.setter
    def _version(self, value: int):
        self._versions[0] = value
        self._versions[1] = function.mutation()

    def _changed_in_place(self):
        """``_version += 1`` in one call, for the optimizers' loops over every parameter."""
        self._versions[0] += 1
        self._versions[1] = function.mutation()

    shape = property(lambda self: self._data.shape, doc="Tuple of axis lengths.")
    ndim = property(lambda self: self._data.ndim, doc="Number of axes.")
    dtype = property(lambda self: self._data.dtype, doc="The NumPy dtype of ``data``.")
    size = property(lambda self: self._data.size, doc="Number of elements (an attribute, as in NumPy).")
    is_leaf = property(lambda self: self._node is None,
                       doc="True for tensors made by the user rather than by an op (their .grad is kept).")
    grad_fn = property(lambda self: self._node, doc="The graph node (a Function instance) that made this tensor.")
    T = property(lambda self: self.transpose(), doc="All axes reversed (the matrix transpose for 2-D).")

    def numel(self) -> int:
        """Number of elements (PyTorch's name for ``.size``)."""
        return self._data.size

    def numpy(self) -> np.ndarray:
        """The array itself (shared, not copied), as ``torch.Tensor.numpy``."""
        return self._data

    def item(self):
        """The single element as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a one-element tensor, this one has shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn={type(self._node).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def _repr_svg_(self):
        """Jupyter shows an op output as its recorded graph: drawn by Graphviz, or as the text tree of
        ``tg.viz.to_text`` where Graphviz is missing."""
        from . import viz

        return viz._repr_svg(self)

    # ---- autograd controls --------------------------------------------------------------------
    def requires_grad_(self, flag=True):
        """Mark this leaf as a variable whose gradient ``backward`` should accumulate into ``.grad``.

        Raises TypeError for an integer or bool tensor (a gradient needs real numbers) and RuntimeError
        when switching it off on an op output (use ``detach()``).
        """
        if flag and self._data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients; this tensor is {self.dtype} "
                            "(make it float first: t.float())")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor; use detach() instead")
        self._requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """The same data (shared), cut off from the graph (no gradient flows through it). It shares the
        version count too, so an in-place change through it is still caught by backward."""
        t = Tensor._from_op(self._data, None)
        t._versions = self._versions
        return t

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient (sets ``.grad = None``)."""
        self.grad = None

    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Reverse-mode sweep from this tensor: every leaf that requires grad gets d self / d leaf added
        to its ``.grad``. ``grad`` may be omitted only for a one-element tensor. With ``create_graph`` the
        gradients are recorded and can be differentiated again. See :func:`tinygrad_edu.autograd.backward`."""
        autograd.backward(self, grad, retain_graph, create_graph)

    # ---- arithmetic (broadcasting as in NumPy, dtypes as in PyTorch) ------------------------
    def __add__(self, other):
        return ops.Add.apply(*_operands(self, other))

    def __radd__(self, other):
        return ops.Add.apply(*_operands(other, self))

    def __mul__(self, other):
        return ops.Mul.apply(*_operands(self, other))

    def __rmul__(self, other):
        return ops.Mul.apply(*_operands(other, self))

    def __neg__(self):
        """-x = x * -1, recorded as a product when x needs a gradient; otherwise there is nothing to record,
        and the array is negated directly. -x of unsigned integers wraps around, as in NumPy and PyTorch;
        -x of booleans is refused, as there."""
        if self._data.dtype.kind in "ub" or not (self._requires_grad and function.is_grad_enabled()):
            return Tensor._from_op(np.negative(self._data, out=np.empty_like(self._data)), None)  # (0-d stays an array)
        return self * -1

    def __sub__(self, other):
        return ops.Sub.apply(*_operands(self, other))

    def __rsub__(self, other):
        return ops.Sub.apply(*_operands(other, self))

    def __truediv__(self, other):
        return ops.Div.apply(*_operands(self._floating(), other))

    def __rtruediv__(self, other):
        return ops.Div.apply(*_operands(other, self._floating()))

    def __pow__(self, exponent):
        base, exponent = _operands(self, exponent)
        if base.dtype.kind in "biu" and (exponent.data < 0).any():
            power = exponent.item() if exponent.size == 1 else "in " + str(exponent.shape)
            raise ValueError(f"pow: an integer tensor ({base.dtype}) cannot be raised to the negative power {power}; "
                             "make it floating-point first: t.float() ** p")
        return ops.Pow.apply(base, exponent)

    def __rpow__(self, base):
        return ops.Pow.apply(*_operands(base, self))

    def __matmul__(self, other):
        return ops.MatMul.apply(*_operands(self, other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(*_operands(other, self))

    def pow(self, exponent):
        return self ** exponent

    def square(self):
        return self ** 2

    def maximum(self, other):
        """Elementwise max (broadcasting); a tie splits the gradient evenly between the two."""
        return ops.Maximum.apply(*_operands(self, other))

    def minimum(self, other):
        """Elementwise min: -max(-a, -b)."""
        a, b = _operands(self, other)
        return -(-a).maximum(-b)

    # ---- comparisons: not differentiable, plain boolean tensors ------------------------------
    def _compare(self, other, fn):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._from_op(np.asarray(fn(self._data, other)), None)

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

    def __and__(self, other):
        """Elementwise and of boolean (or bitwise and of integer) tensors, e.g. masks: (x > 0) & (x < 1)."""
        return self._compare(other, np.bitwise_and)

    def __or__(self, other):
        return self._compare(other, np.bitwise_or)

    __rand__, __ror__ = __and__, __or__

    def __invert__(self):
        return Tensor._from_op(np.logical_not(self._data), None)

    __hash__ = object.__hash__

    def all(self, axis=None) -> Tensor:
        """True where every element (along ``axis``) is nonzero; a boolean tensor, not differentiable."""
        return Tensor._from_op(np.asarray(np.all(self._data, axis=axis)), None)

    def any(self, axis=None) -> Tensor:
        """True where some element (along ``axis``) is nonzero; a boolean tensor, not differentiable."""
        return Tensor._from_op(np.asarray(np.any(self._data, axis=axis)), None)

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element; a constant (its derivative is 0 wherever it exists)."""
        return Tensor._from_op(np.sign(self._data), None)

    @_torch_names
    def argmax(self, axis=None, keepdims=False) -> Tensor:
        """Index of the largest element (along ``axis``); an int64 tensor, not differentiable."""
        if self._data.size == 0 and (axis is None or self.shape[axis] == 0):
            raise ValueError(f"argmax: an empty tensor of shape {self.shape} has no largest element"
                             + ("" if axis is None else f" along axis {axis}"))
        return Tensor._from_op(np.asarray(np.argmax(self._data, axis=axis, keepdims=keepdims)), None)

    # ---- dtype --------------------------------------------------------------------------------
    def astype(self, dtype, copy=True) -> Tensor:
        """This tensor converted to ``dtype`` (a new array; differentiable between float dtypes).
        A conversion to an integer or bool dtype is not differentiable and gives a plain tensor."""
        dtype = np.dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        if dtype.kind != _FLOAT_KINDS:
            return Tensor._from_op(self._data.astype(dtype), None)
        return ops.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        """float32 (this tensor itself if it already is)."""
        return self.astype(np.float32, copy=False)

    def double(self) -> Tensor:
        """float64 (this tensor itself if it already is)."""
        return self.astype(np.float64, copy=False)

    def clone(self) -> Tensor:
        """A copy with its own array; gradients flow through it to this tensor."""
        return self.astype(self.dtype)

    def _floating(self) -> Tensor:
        """Floating-point functions of an integer tensor compute in float32 (PyTorch's rule)."""
        return self if self._data.dtype.kind == _FLOAT_KINDS else self.astype(np.float32)

    # ---- elementwise --------------------------------------------------------------------------
    def exp(self):
        return ops.Exp.apply(self._floating())

    def log(self):
        return ops.Log.apply(self._floating())

    def sqrt(self):
        return self._floating() ** 0.5

    def sin(self):
        return ops.Sin.apply(self._floating())

    def cos(self):
        return ops.Cos.apply(self._floating())

    def abs(self):
        return ops.Abs.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def leaky_relu(self, negative_slope=0.01):
        return ops.LeakyReLU.apply(self._floating(), negative_slope=negative_slope)

    def sigmoid(self):
        return ops.Sigmoid.apply(self._floating())

    def tanh(self):
        return ops.Tanh.apply(self._floating())

    def clip(self, lo=None, hi=None):
        """Values limited to [lo, hi] (either may be None); gradient 1 inside and at the bounds. A float
        bound on an integer tensor gives float32 (PyTorch's promotion)."""
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of the bounds lo (min) and hi (max)")
        if isinstance(lo, Tensor) or isinstance(hi, Tensor):
            raise TypeError("clip: the bounds must be numbers; for tensor bounds use x.maximum(lo).minimum(hi)")
        x = self._floating() if isinstance(lo, float) or isinstance(hi, float) else self
        return ops.Clip.apply(x, lo=lo, hi=hi)

    def clamp(self, min=None, max=None):
        """PyTorch's name for ``clip(min, max)``."""
        return self.clip(min, max)

    # ---- reductions ---------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Sum over ``axis`` (None: all; an int or a tuple, negatives allowed)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _torch_spelling("sum", axis, keepdims, dim, keepdim)
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    @_torch_names
    def mean(self, axis=None, keepdims=False):
        """Sum divided by the number of elements summed."""
        count = self._count(axis, "mean")
        return self._floating().sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    @_torch_names
    def var(self, axis=None, keepdims=False, correction=1):
        """Variance: sum((x - mean)^2) / (n - correction); correction=1 is the unbiased estimate
        (PyTorch's default), 0 the population variance (NumPy's). Two passes, so no cancellation."""
        count = self._count(axis, "var")
        centred = self._floating() - self._floating().mean(axis=axis, keepdims=True)
        with np.errstate(divide="ignore"):  # n <= correction: inf, and nan where the sum is 0, as PyTorch
            scale = np.float64(1.0) / max(count - correction, 0)
        return (centred * centred).sum(axis=axis, keepdims=keepdims) * float(scale)

    @_torch_names
    def std(self, axis=None, keepdims=False, correction=1):
        """Standard deviation: sqrt(var(...)). Where all values are equal (var = 0) sqrt has no derivative;
        the gradient there is 0, as PyTorch's, so standardising a constant column stays finite."""
        var = self.var(axis=axis, keepdims=keepdims, correction=correction)
        constant = var.data == 0
        if not constant.any():
            return var.sqrt()
        from .creation import where

        return where(constant, 0.0, where(constant, 1.0, var).sqrt())

    def _count(self, axis, name) -> int:
        axes = ops._normalize_axis(axis, self.ndim)
        count = math.prod(self.shape[a] for a in axes)
        if count == 0:  # 0 / 0: NumPy and PyTorch answer nan; a clear error is more useful to a learner
            where = "" if axis is None else f" along axis {axis}"
            raise ValueError(f"{name}: cannot average zero elements (an empty tensor of shape {self.shape}{where}); "
                             f"the {name} of nothing is undefined")
        return count

    @_torch_names
    def max(self, axis=None, keepdims=False):
        """Largest element (along ``axis``); the gradient is split evenly among ties."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    @_torch_names
    def min(self, axis=None, keepdims=False):
        """Smallest element: -max(-x)."""
        return -(-self).max(axis=axis, keepdims=keepdims)

    @_torch_names
    def softmax(self, axis=-1):
        return ops.Softmax.apply(self._floating(), axis=axis)

    def _minus_max(self, axis):
        """x - m with m = max(x) along ``axis`` held constant (it cancels in what follows, so it needs no
        gradient). A non-finite m is replaced by 0, so an all -inf (fully masked) row stays -inf."""
        m = np.max(self._data, axis=axis, keepdims=True)
        m = Tensor._from_op(np.where(np.isfinite(m), m, 0).astype(self.dtype), None)
        return self - m, m

    @_torch_names
    def logsumexp(self, axis=-1, keepdims=False):
        """log(sum(exp(x))) along ``axis``, computed as m + log(sum(exp(x - m))) with m = max(x), so that
        no exponent overflows."""
        shifted, m = self._floating()._minus_max(axis)
        out = shifted.exp().sum(axis=axis, keepdims=True).log() + m
        return out if keepdims else out.squeeze(axis)

    @_torch_names
    def log_softmax(self, axis=-1):
        """x - logsumexp(x) along ``axis``, as the one primitive ``ops.LogSoftmax`` (its docstring derives the
        gradient g - e^l * sum(g)); computed (x - m) - log(sum(exp(x - m))) so that m is never added back and
        subtracted again: float32 logits of 1e8 keep the log 2 that m + log 2 would round away."""
        return ops.LogSoftmax.apply(self._floating(), axis=axis)

    # ---- shape --------------------------------------------------------------------------------
    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape=_shape_args(shape))

    view = reshape

    def transpose(self, *axes):
        """NumPy's transpose: ``axes`` a permutation of all axes (negatives allowed); none: reverse them.
        (PyTorch's two-axis ``transpose(0, 1)`` is ``swapaxes`` here.)"""
        axes = _shape_args(axes)
        if axes and sorted(a % self.ndim if -self.ndim <= a < self.ndim else a for a in axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {self.ndim} axes of {self.shape}"
                             + ("; to swap two axes use swapaxes(a, b)" if len(axes) == 2 and self.ndim != 2 else ""))
        return ops.Transpose.apply(self, axes=axes or None)

    def permute(self, *dims):
        """PyTorch's name for ``transpose(*axes)`` with a full permutation."""
        return self.transpose(*dims)

    def swapaxes(self, axis1, axis2):
        """Exchange two axes (PyTorch's ``transpose(dim0, dim1)``)."""
        axes = list(range(self.ndim))
        a, b = ops._normalize_axis(axis1, self.ndim)[0], ops._normalize_axis(axis2, self.ndim)[0]
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(*axes)

    def flatten(self, start_axis=0, end_axis=-1, *, start_dim=None, end_dim=None):
        """Axes start_axis..end_axis merged into one (PyTorch's ``start_dim``/``end_dim`` accepted)."""
        start = start_axis if start_dim is None else start_dim
        end = end_axis if end_dim is None else end_dim
        if self.ndim == 0:
            return self.reshape(1)
        start, end = ops._normalize_axis(start, self.ndim)[0], ops._normalize_axis(end, self.ndim)[0]
        if start > end:
            raise ValueError(f"flatten: start axis {start_axis} comes after end axis {end_axis} for shape {self.shape}")
        merged = math.prod(self.shape[start:end + 1])  # (not -1: an empty batch leaves it ambiguous)
        return self.reshape(*self.shape[:start], merged, *self.shape[end + 1:])

    @_torch_names
    def squeeze(self, axis=None):
        """Remove size-1 axes (only those named by ``axis``; naming a longer axis leaves it, as PyTorch)."""
        axes = ops._normalize_axis(axis, self.ndim)
        return self.reshape(*(n for i, n in enumerate(self.shape) if not (i in axes and n == 1)))

    @_torch_names
    def unsqueeze(self, axis):
        """Insert a size-1 axis at position ``axis`` (-1: last), as ``np.expand_dims``."""
        if not -self.ndim - 1 <= axis <= self.ndim:
            raise ValueError(f"unsqueeze: axis {axis} is out of range for a tensor with {self.ndim} dimensions "
                             f"(valid: {-self.ndim - 1} to {self.ndim})")
        axis %= self.ndim + 1
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def expand(self, *shape):
        """Broadcast to ``shape`` (-1 keeps an axis's length); the gradient sums back (PyTorch's expand)."""
        shape = _shape_args(shape)
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
        return ops.Expand.apply(self, shape=shape)

    def __getitem__(self, index):
        """x[index] with NumPy's rules (``ops.GetItem``, which keeps its own copy of index arrays)."""
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        elif isinstance(index, list):
            index = np.asarray(index, dtype=np.intp if len(index) == 0 else None)
        return ops.GetItem.apply(self, index=index)

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def zeros(cls, *shape, dtype=None, requires_grad=False):
        return cls(np.zeros(_shape_args(shape), dtype=dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=None, requires_grad=False):
        return cls(np.ones(_shape_args(shape), dtype=dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def randn(cls, *shape, seed=None, dtype=None, requires_grad=False):
        """Standard normal samples; ``seed`` makes them reproducible (else ``tg.manual_seed`` does)."""
        data = random.generator(seed).standard_normal(_shape_args(shape), dtype=np.float64)
        return cls(data.astype(dtype or np.float32), requires_grad=requires_grad)

    @classmethod
    def uniform(cls, *shape, low=0.0, high=1.0, seed=None, dtype=None, requires_grad=False):
        """Samples from U(low, high); ``seed`` makes them reproducible (else ``tg.manual_seed`` does)."""
        data = random.generator(seed).uniform(low, high, _shape_args(shape))
        return cls(data.astype(dtype or np.float32), requires_grad=requires_grad)


# The engine is one unit that refers to itself in a circle: a Tensor method calls a primitive (ops),
# a primitive's apply (function.py) makes a Tensor. The circle closes here, once the class exists.
from . import autograd, function, ops, random
