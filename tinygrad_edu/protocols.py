"""How a Tensor meets Python and NumPy: conversions, in-place operators, and ``np.*`` on tensors.

A one-element tensor converts as PyTorch's does (``float(loss)``, ``if loss < best:``,
``f"{loss:.3f}"``); ``np.asarray(t)`` gives the array; ``np.exp(t)`` runs the Tensor op, so a graph is
never dropped silently; ``p -= lr * p.grad`` changes ``p`` itself.

>>> import numpy as np, tinygrad_edu as tg
>>> loss = tg.Tensor([0.25, 0.75]).mean()
>>> float(loss), bool(loss < 1), f"{loss:.2f}"
(0.5, True, '0.50')
>>> p = tg.Tensor([1.0, 2.0], requires_grad=True)
>>> (p * p).sum().backward()
>>> with tg.no_grad():
...     p -= 0.25 * p.grad          # the by-hand update: p itself changes
>>> p.tolist()
[0.5, 1.0]
>>> np.exp(p).grad_fn            # the Tensor op, recorded like p.exp()
<Exp node>
"""

from __future__ import annotations

import numpy as np


def _one_element(t, what: str):
    if t.data.size != 1:
        raise ValueError(f"{what} needs a one-element tensor, this one has shape {t.shape} "
                         f"({t.data.size} elements); reduce it first (.sum(), .mean()) or index one element")
    return t.data.item()


# NumPy ufunc -> (Tensor method, reflected method for a Tensor in second place)
_UFUNCS = {
    np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"),
    np.multiply: ("__mul__", "__rmul__"), np.true_divide: ("__truediv__", "__rtruediv__"),
    np.power: ("__pow__", "__rpow__"), np.matmul: ("__matmul__", "__rmatmul__"),
    np.maximum: ("maximum", None), np.minimum: ("minimum", None),
    np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__"),
    np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
    np.negative: ("__neg__", None), np.exp: ("exp", None), np.log: ("log", None), np.sqrt: ("sqrt", None),
    np.absolute: ("abs", None), np.tanh: ("tanh", None), np.sin: ("sin", None), np.cos: ("cos", None),
    np.square: ("square", None), np.sign: ("sign", None),
    np.bitwise_and: ("__and__", "__rand__"), np.bitwise_or: ("__or__", "__ror__"),
}

# NumPy function -> how to run it as Tensor ops (arguments as NumPy names them)
_FUNCTIONS = {
    np.sum: lambda a, axis=None, keepdims=False: a.sum(axis=axis, keepdims=keepdims),
    np.mean: lambda a, axis=None, keepdims=False: a.mean(axis=axis, keepdims=keepdims),
    np.max: lambda a, axis=None, keepdims=False: a.max(axis=axis, keepdims=keepdims),
    np.min: lambda a, axis=None, keepdims=False: a.min(axis=axis, keepdims=keepdims),
    np.var: lambda a, axis=None, keepdims=False, ddof=0: a.var(axis=axis, keepdims=keepdims, correction=ddof),
    np.std: lambda a, axis=None, keepdims=False, ddof=0: a.std(axis=axis, keepdims=keepdims, correction=ddof),
    np.reshape: lambda a, shape: a.reshape(shape),
    np.transpose: lambda a, axes=None: a.transpose(*(() if axes is None else axes)),
    np.swapaxes: lambda a, axis1, axis2: a.swapaxes(axis1, axis2),
    np.squeeze: lambda a, axis=None: a.squeeze(axis),
    np.expand_dims: lambda a, axis: a.unsqueeze(axis),
    np.clip: lambda a, a_min=None, a_max=None: a.clip(a_min, a_max),
    np.argmax: lambda a, axis=None: a.argmax(axis),
    np.broadcast_to: lambda a, shape: a.expand(*shape),
}


def _grad_enabled() -> bool:
    from .function import is_grad_enabled  # the engine's grad mode (function.py imports tensor.py)

    return is_grad_enabled()


class PythonProtocols:
    """Mixed into Tensor: Python conversions, in-place operators and the NumPy dispatch protocols."""

    __slots__ = ()

    # ---- conversions --------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the ndarray itself (a copy when ``copy=True`` or another dtype is asked)."""
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} ({self.data.size} elements) is "
                               "ambiguous; use (t == x).all(), .any(), or compare one element")
        return bool(self.data.item())

    def __float__(self):
        return float(_one_element(self, "float()"))

    def __int__(self):
        return int(_one_element(self, "int()"))

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.dtype}")
        return int(_one_element(self, "use as an index"))

    def __format__(self, spec):
        if spec == "":
            return str(self)
        return format(_one_element(self, f"format(..., {spec!r})"), spec)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    # ---- in-place operators -------------------------------------------------------------------
    def _inplace(self, other, ufunc, method: str):
        """``self <op>= other``. Outside the graph (no_grad, or nothing requires grad) the array changes
        in place, keeping its dtype, and the version counter ticks so that backward can refuse a node
        that saved the old values. A constant tensor that takes in a value with a graph becomes that
        value's op output, as in PyTorch, holding a new array: unlike PyTorch, views of the constant made
        before keep the old values (and need no gradient). Changing a tensor the graph already holds is
        refused: the graph refers to tensors by identity, so the change would rewrite history."""
        other_requires_grad = getattr(other, "requires_grad", False)
        if not _grad_enabled() or not (self.requires_grad or other_requires_grad):
            value = other.data if isinstance(other, PythonProtocols) else other
            try:
                ufunc(self.data, value, out=self.data, casting="same_kind")
            except (TypeError, ValueError) as error:  # an int tensor /= 2, a float into an int, wrong shape
                raise (TypeError if isinstance(error, TypeError) else ValueError)(f"in-place {method}=: cannot write the result into this {self.dtype} tensor of "
                                  f"shape {self.shape} ({error})") from None
            self._version += 1
            return self
        if self.requires_grad:
            kind = "a leaf tensor that requires grad" if self.is_leaf else "a tensor that is part of the graph"
            raise RuntimeError(f"in-place {method}= on {kind} would change values the graph needs; update "
                               f"parameters inside `with tg.no_grad():`, or write t = t {method} x")
        if self.data.base is not None:  # a view: the change would have to reach the tensor it views
            raise RuntimeError(f"in-place {method}= of a value that requires grad into a view (a slice, reshape or "
                               "transpose of another tensor) is not supported: build the new tensor instead, e.g. "
                               "with tg.where or tg.cat")
        result = getattr(type(self), _INPLACE[method])(self.detach(), other)
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
                raise TypeError(f"in-place {method}=: the result is {result.dtype}, which cannot be stored in this "
                                f"{self.dtype} tensor")
            result = result.astype(self.dtype)
        if result.shape != self.shape:
            raise ValueError(f"in-place {method}=: the result has shape {result.shape}, this tensor {self.shape}")
        self.data, self._node, self._requires_grad = result.data, result._node, True
        # The tensor now holds the result's new array, unchanged since the node made it. The old array, which
        # the node may have saved, is unchanged too, and views of it keep the old count. So the tensor counts
        # on alone: one change more, stamped as the result (not changed since it was made).
        self._versions = [self._versions[0] + 1, result._versions[1]]
        return self

    def __iadd__(self, other):
        return self._inplace(other, np.add, "+")

    def __isub__(self, other):
        return self._inplace(other, np.subtract, "-")

    def __imul__(self, other):
        return self._inplace(other, np.multiply, "*")

    def __itruediv__(self, other):
        return self._inplace(other, np.true_divide, "/")

    # ---- NumPy dispatch -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``np.exp(t)``, ``np.add(a, t)``, ``ndarray + t``: the Tensor op. Other ufuncs run on the arrays
        when no input requires grad, and raise rather than drop a graph."""
        names = _UFUNCS.get(ufunc)
        if method == "__call__" and names and not kwargs:
            first, *rest = inputs
            if isinstance(first, PythonProtocols):
                return getattr(first, names[0])(*rest)
            if names[1] is not None:  # the tensor is the second operand: its reflected method
                return getattr(rest[0], names[1])(first)
        if method == "reduce" and ufunc is np.add and not kwargs.keys() - {"axis", "keepdims"}:
            return inputs[0].sum(axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
        return _on_arrays(f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"),
                          getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """``np.sum(t)``, ``np.mean(t, axis=0)``, ...: the Tensor op where one exists."""
        tensor_version = _FUNCTIONS.get(func)
        if tensor_version is not None and args and isinstance(args[0], PythonProtocols):
            try:
                return tensor_version(*args, **kwargs)
            except TypeError:  # an argument the Tensor op does not take (out=, dtype=, ...)
                pass
        if func in (np.concatenate, np.stack, np.where) and args:
            from . import creation

            name = {np.concatenate: "cat", np.stack: "stack", np.where: "where"}[func]
            return getattr(creation, name)(*args, **kwargs)
        module = func.__module__.replace("numpy", "np", 1) if func.__module__ else "np"
        return _on_arrays(f"{module}.{func.__name__}", func, args, kwargs)


_INPLACE = {"+": "__add__", "-": "__sub__", "*": "__mul__", "/": "__truediv__"}


def _unwrap(value, tensors: list):
    if isinstance(value, PythonProtocols):
        tensors.append(value)
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, tensors) for v in value)
    return value


def _on_arrays(name, fn, args, kwargs):
    """Run a NumPy function on the tensors' arrays, unless that would drop a graph."""
    tensors = []
    args = _unwrap(args, tensors)
    kwargs = {k: _unwrap(v, tensors) for k, v in kwargs.items()}
    if any(t.requires_grad for t in tensors):
        raise TypeError(f"{name} has no Tensor op here, and running it on the array would drop the graph of a "
                        "tensor that requires grad; use the Tensor methods, or call it on t.detach().numpy() "
                        "if no gradient is wanted")
    return fn(*args, **kwargs)
