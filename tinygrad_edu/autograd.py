"""The reverse-mode sweep behind ``Tensor.backward``: order the graph, seed, walk it backwards, accumulate.

The recorded graph runs from leaves (tensors the user made) through op outputs to the loss. Each
op output knows its node (the Function instance that made it) and the node knows its inputs. To
push gradients from the loss back to the leaves we visit every op output *after* all the tensors
that consumed it, i.e. in reverse topological order, so that when we reach a tensor its gradient
is complete: the sum of what every consumer sent it (the multivariate chain rule).
"""

from __future__ import annotations

import numpy as np

from .function import _state, _version, check_anomaly
from .tensor import Tensor

FREED = ("this part of the graph was already used by a backward pass, which freed the arrays it saved; "
         "call backward(retain_graph=True) the first time to backpropagate through it again")


def topological_order(root: Tensor, leaves: bool = False) -> list:
    """Every op output that ``root``'s gradient flows through (root included), each listed after all of
    its inputs. Inputs that needed no gradient when the op ran (constants) are not followed, unless
    ``leaves=True``, which lists the whole recorded graph, leaf tensors and constants included.

    Iterative depth-first search with an explicit stack, so a chain of 100 000 ops needs no
    recursion: a tensor is appended once all of its inputs have been appended (post-order).
    A node freed by an earlier backward has no inputs left, so the walk stops there.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        node = tensor._node
        if node is None:
            if leaves:
                order.append(tensor)
            continue
        stack.append((tensor, True))
        for parent, needed in zip(node.inputs, node.needs_input_grad):
            if (leaves or needed and parent._node is not None) and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _seed(root: Tensor, grad) -> np.ndarray:
    """dL/dL: ones for a one-element loss, else the caller's ``grad`` (the vector in a vector-Jacobian product)."""
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a grad argument needs a one-element tensor, but this one has shape "
                f"{root.shape}; call .sum() or .mean() first, or pass backward(grad) with that shape"
            )
        return np.ones(root.data.shape, dtype=root.data.dtype)
    grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"backward(grad): grad has shape {grad.shape} but the tensor has shape {root.shape}")
    return grad


def _check_saved_unchanged(tensor: Tensor):
    """Refuse a node whose saved arrays were changed in place after the forward pass (PyTorch's rule).

    Every in-place change bumps a tensor's ``_version``; the node remembered its inputs' versions when it
    ran, and its output started at version 0. Only a changed tensor whose array the node saved matters.
    """
    node = tensor._node
    changed = [(f"input {i}", t) for i, (t, v) in enumerate(zip(node.inputs, node.versions)) if t._version != v]
    if tensor._version:
        changed.append(("its output", tensor))
    for which, t in changed:
        if any(s is not None and np.may_share_memory(s, t.data) for s in node.saved):
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an inplace operation: "
                f"{which} of {type(node).__name__} (shape {t.shape}) is at version {t._version}, but {type(node).__name__} "
                "saved it at the forward pass; compute the loss again after changing it, or change a copy (t.clone())")


def _accumulate_into_leaf(leaf: Tensor, grad: np.ndarray, owned: bool):
    """leaf.grad += grad (created on first use). An array the engine does not own is copied first."""
    if leaf.grad is None:
        leaf.grad = Tensor._from_op(grad if owned else grad.copy(), None)
    else:
        leaf.grad.data += grad


def _as_gradient_tuple(node, grads) -> tuple:
    """What ``backward`` returned as one gradient per input; a wrong count is an error, never silently cut."""
    name, n = type(node).__name__, len(node.inputs)
    if isinstance(grads, list):
        raise TypeError(f"{name}.backward returned a list; return a tuple with one gradient per input "
                        f"({n} here), e.g. return gx, gy")
    if n != 1:
        raise RuntimeError(f"{name}.backward returned one gradient, but forward took {n} inputs; return a tuple "
                           "with one gradient (or None) per input")
    return (grads,)


def _check_gradient_count(node, grads: tuple):
    extra = grads[len(node.inputs):]
    if len(grads) < len(node.inputs) or any(g is not None for g in extra):
        raise RuntimeError(f"{type(node).__name__}.backward returned {len(grads)} gradients, but forward took "
                           f"{len(node.inputs)} inputs; return exactly one gradient (or None) per input")


def backward(root: Tensor, grad=None, retain_graph=None, visit=None):
    """Accumulate d root / d leaf into ``leaf.grad`` for every leaf that requires grad.

    ``grads`` maps each pending tensor to the sum of the gradients its consumers have sent so far;
    ``owned`` holds the ones this function allocated itself and may therefore add into in place.
    Without ``retain_graph`` each node drops its saved arrays and its inputs as soon as it is used,
    so the graph's memory is released during the sweep.

    ``visit``, if given, is called as ``visit(node, grad_output, input_grads)`` for every node the sweep
    runs, in sweep order, before the node is freed; ``tinygrad_edu.viz.trace_backward`` uses it to
    watch the sweep without repeating it.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the computation "
                           "had requires_grad=True (or it ran inside no_grad)")
    seed = _seed(root, grad)
    if root._node is None:
        _accumulate_into_leaf(root, seed, owned=False)
        return
    anomaly = _state["anomaly"]
    grads, owned = {id(root): seed}, set()
    order = topological_order(root)
    for tensor in order:  # checked before any gradient is accumulated, so a refused sweep changes nothing
        if tensor._node.saved is None:
            raise RuntimeError(f"backward through {type(tensor._node).__name__}: {FREED}")
        if tensor._version or tuple(map(_version, tensor._node.inputs)) != tensor._node.versions:
            _check_saved_unchanged(tensor)
    for tensor in reversed(order):
        g = grads.pop(id(tensor), None)
        if g is None:  # nothing downstream sent a gradient here
            continue
        if tensor._retains_grad:
            tensor.grad = Tensor._from_op(g.copy(), None)
        node = tensor._node
        input_grads = node.backward(node, g)
        if type(input_grads) is not tuple:
            input_grads = _as_gradient_tuple(node, input_grads)
        if len(input_grads) != len(node.inputs):
            _check_gradient_count(node, input_grads)
        if visit is not None:
            visit(node, g, input_grads)
        # One array handed to two inputs must not be added into in place; ids reveal such sharing.
        n = len(input_grads)
        distinct = n == 1 or (input_grads[0] is not input_grads[1] if n == 2 else len(set(map(id, input_grads))) == n)
        for parent, pg, needed in zip(node.inputs, input_grads, node.needs_input_grad):
            if pg is None or not needed:
                continue
            data = parent.data
            if type(pg) is not np.ndarray or (pg.dtype is not data.dtype and pg.dtype != data.dtype):
                pg = np.asarray(pg, dtype=data.dtype)
            if pg.shape != data.shape:
                raise RuntimeError(f"{type(node).__name__}.backward returned a gradient of shape {pg.shape} "
                                   f"for an input of shape {data.shape}")
            if anomaly:
                check_anomaly(node, pg, "backward")
            # A fresh array (not g passed through, not a view) belongs to the engine alone.
            fresh = distinct and pg is not g and pg.base is None
            if parent._node is None:
                _accumulate_into_leaf(parent, pg, fresh)
                continue
            key = id(parent)
            if key not in grads:
                grads[key] = pg
                if fresh:
                    owned.add(key)
            elif key in owned:
                grads[key] += pg
            else:
                grads[key] = grads[key] + pg
                owned.add(key)
        if not retain_graph:
            node.saved, node.inputs = None, ()
