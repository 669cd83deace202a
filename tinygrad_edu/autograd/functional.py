"""Derivatives of whole functions, as ``torch.autograd.functional``: each one is a few calls of ``grad``.

For f: inputs -> outputs with Jacobian J:
- ``vjp(f, x, v)``  = v^T J      one reverse sweep (what backward computes)
- ``jvp(f, x, v)``  = J v        two reverse sweeps: u -> J^T u is linear in u, so differentiating it
                                 with respect to u in the direction v gives (J^T)^T v = J v
- ``jacobian(f, x)``             one vjp per output element, the rows of J
- ``hessian(f, x)``              the Jacobian of the gradient (f scalar)
- ``vhp(f, x, v)`` = v^T H, ``hvp(f, x, v)`` = H v     a gradient, then one more sweep through it

``inputs`` is a Tensor or a tuple of Tensors; results have the same structure (a Tensor for a Tensor,
a tuple for a tuple), and are cut from the graph unless ``create_graph=True``.

>>> import numpy as np, tinygrad_edu as tg
>>> from tinygrad_edu.autograd.functional import jacobian, jvp, vjp
>>> f = lambda x: x ** 2                                   # J = diag(2x)
>>> x, v = tg.Tensor(np.array([1.0, 3.0])), tg.Tensor(np.array([1.0, 1.0]))
>>> vjp(f, x, v)[1].tolist(), jvp(f, x, v)[1].tolist(), jacobian(f, x).tolist()
([2.0, 6.0], [2.0, 6.0], [[2.0, 0.0], [0.0, 6.0]])
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .backprop import grad


def _as_tuple(value, what: str) -> tuple[bool, tuple]:
    """(was it a tuple, the values as a tuple); every value must be a Tensor."""
    is_tuple = isinstance(value, (tuple, list))
    values = tuple(value) if is_tuple else (value,)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a Tensor or a tuple of Tensors; element {i} is {type(t).__name__}")
    return is_tuple, values


def _prepare(inputs, create_graph: bool) -> tuple[bool, tuple]:
    """Inputs that require grad: the caller's own tensors under create_graph (so the result stays connected
    to them), otherwise detached float copies, so the caller's graph and ``.grad`` are left alone."""
    is_tuple, inputs = _as_tuple(inputs, "inputs")
    prepared = []
    for t in inputs:
        if t.dtype.kind != "f":
            raise TypeError(f"inputs must be floating-point to be differentiated, got {t.dtype}")
        prepared.append(t if create_graph and t.requires_grad else Tensor._from_op(t.data, None).requires_grad_())
    return is_tuple, tuple(prepared)


def _finish(values, create_graph: bool):
    """Zeros where an input was not used; cut from the graph unless create_graph."""
    return tuple(v if create_graph else v.detach() for v in values)


def _grad(outputs, inputs, grad_outputs, create_graph: bool) -> tuple:
    """grad() that answers zeros (not None) for inputs the outputs do not depend on, as torch's functional API."""
    outputs = [o for o in outputs]
    live = [i for i, o in enumerate(outputs) if o.requires_grad]
    if not live:
        return tuple(Tensor(np.zeros(t.shape, dtype=t.dtype)) for t in inputs)
    grads = grad([outputs[i] for i in live], inputs, [grad_outputs[i] for i in live], retain_graph=True,
                 create_graph=create_graph, allow_unused=True)
    return tuple(Tensor(np.zeros(t.shape, dtype=t.dtype)) if g is None else g for g, t in zip(grads, inputs))


def _vector(v, like: tuple, name: str) -> tuple:
    """``v`` as one Tensor per element of ``like``, shapes checked; None allowed only for one-element ones."""
    if v is None:
        if any(t.data.size != 1 for t in like):
            raise RuntimeError(f"{name}: v can be omitted only when every {name} operand has one element; "
                               f"got shapes {[t.shape for t in like]}")
        return tuple(Tensor(np.ones(t.shape, dtype=t.dtype)) for t in like)
    _, vs = _as_tuple(v if isinstance(v, (tuple, list)) else (v,), "v")
    if len(vs) != len(like) or any(a.shape != b.shape for a, b in zip(vs, like)):
        raise ValueError(f"{name}: v has shapes {[a.shape for a in vs]} but must match {[b.shape for b in like]}")
    return vs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product, one reverse sweep. ``v`` has the output's shape
    (a tuple for a tuple of outputs); it may be omitted for a one-element output."""
    is_tuple, inputs = _prepare(inputs, create_graph)
    out_is_tuple, outputs = _as_tuple(func(*inputs), "func's output")
    vs = _vector(v, outputs, "vjp")
    result = _finish(_grad(outputs, inputs, vs, create_graph), create_graph)
    return _finish(outputs, create_graph) if out_is_tuple else _finish(outputs, create_graph)[0], \
        result if is_tuple else result[0]


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product by the double-vjp construction. ``v`` has the
    inputs' shape; it may be omitted for one-element inputs."""
    _, inputs = _prepare(inputs, create_graph)
    vs = _vector(v, inputs, "jvp")
    out_is_tuple, outputs = _as_tuple(func(*inputs), "func's output")
    # u is a free variable: g(u) = J^T u is linear in u, and d<g(u), v>/du = J v
    us = tuple(Tensor(np.zeros(o.shape, dtype=o.dtype), requires_grad=True) for o in outputs)
    g = _grad(outputs, inputs, us, create_graph=True)
    result = _finish(_grad(g, us, vs, create_graph), create_graph)
    return (_finish(outputs, create_graph) if out_is_tuple else _finish(outputs, create_graph)[0],
            result if out_is_tuple else result[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """d func / d inputs, of shape output.shape + input.shape: one vjp with each one-hot output vector.
    For tuples, J[i][j] is output i by input j (a tuple level is dropped where the argument was no tuple)."""
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: only strategy='reverse-mode' is computed here, got {strategy!r}")
    is_tuple, inputs = _prepare(inputs, create_graph)
    out_is_tuple, outputs = _as_tuple(func(*inputs), "func's output")
    blocks = []
    for out in outputs:
        rows = [[] for _ in inputs]
        for k in range(out.data.size):
            one_hot = np.zeros(out.data.size, dtype=out.dtype)
            one_hot[k] = 1
            row = _grad([out], inputs, [Tensor(one_hot.reshape(out.shape))], create_graph)
            for j, r in enumerate(row):
                rows[j].append(r)
        blocks.append(tuple(_stack_rows(rows[j], out.shape, t.shape, t.dtype, create_graph)
                            for j, t in enumerate(inputs)))
    blocks = [b if is_tuple else b[0] for b in blocks]
    return tuple(blocks) if out_is_tuple else blocks[0]


def _stack_rows(rows, out_shape, in_shape, dtype, create_graph):
    if not rows:
        return Tensor(np.zeros(out_shape + in_shape, dtype=dtype))
    if create_graph:
        from ..creation import stack

        return stack(rows).reshape(*out_shape, *in_shape)
    return Tensor(np.stack([r.data for r in rows]).reshape(out_shape + in_shape))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The matrix of second derivatives of a scalar ``func``: shape input.shape + input.shape (H[i][j] for
    tuples of inputs). It is the Jacobian of the gradient."""
    is_tuple, inputs = _as_tuple(inputs, "inputs")

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.data.size != 1:
            raise RuntimeError(f"hessian: func must return a one-element Tensor, got "
                               f"{getattr(out, 'shape', type(out).__name__)}")
        g = _grad([out], xs, [None], create_graph=True)
        return g if is_tuple else g[0]

    return jacobian(gradient, inputs if is_tuple else inputs[0], create_graph=create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar ``func``: the gradient, then one vjp through it."""
    is_tuple, inputs = _prepare(inputs, create_graph)
    out = _scalar(func(*inputs), "vhp")
    vs = _vector(v, inputs, "vhp")
    g = _grad([out], inputs, [None], create_graph=True)
    result = _finish(_grad(g, inputs, vs, create_graph), create_graph)
    return _finish([out], create_graph)[0], result if is_tuple else result[0]


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar ``func``: the jvp of the gradient (the double-vjp construction), as
    PyTorch computes it. For a Hessian that is symmetric (any twice continuously differentiable func)
    it equals ``vhp``."""
    is_tuple, inputs = _prepare(inputs, create_graph)
    out = _scalar(func(*inputs), "hvp")
    vs = _vector(v, inputs, "hvp")
    g = _grad([out], inputs, [None], create_graph=True)
    us = tuple(Tensor(np.zeros(t.shape, dtype=t.dtype), requires_grad=True) for t in inputs)
    h_u = _grad(g, inputs, us, create_graph=True)  # H^T u, linear in u
    result = _finish(_grad(h_u, us, vs, create_graph), create_graph)
    return _finish([out], create_graph)[0], result if is_tuple else result[0]


def _scalar(out, name: str) -> Tensor:
    if not isinstance(out, Tensor) or out.data.size != 1:
        raise RuntimeError(f"{name}: func must return a one-element Tensor, got "
                           f"{getattr(out, 'shape', type(out).__name__)}")
    return out
