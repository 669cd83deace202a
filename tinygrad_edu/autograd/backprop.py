"""The reverse-mode sweep behind ``Tensor.backward`` and ``tg.autograd.grad``: order the graph, seed,
walk it backwards, accumulate.

The recorded graph runs from leaves (tensors the user made) through op outputs to the loss. Each
op output knows its node (the Function instance that made it) and the node knows its inputs. To
push gradients from the loss back to the leaves we visit every op output *after* all the tensors
that consumed it, i.e. in reverse topological order, so that when we reach a tensor its gradient
is complete: the sum of what every consumer sent it (the multivariate chain rule).

With ``create_graph=True`` the same sweep runs each node's backward on Tensors instead of arrays, so
the gradients it produces are themselves recorded: a graph of the gradient, ready to be
differentiated again (see ``ops.py``: backward is a computation too).
"""

from __future__ import annotations

import operator
from heapq import heappop, heappush

import numpy as np

from .. import ops
from ..function import _state, check_anomaly, enable_grad, no_grad
from ..tensor import Tensor

FREED = ("this part of the graph was already used by a backward pass, which freed the arrays it saved; "
         "call backward(retain_graph=True) the first time to backpropagate through it again (a backward "
         "refused partway, e.g. for a tensor changed in place, has freed the part it had run)")


def topological_order(roots, leaves: bool = False) -> list:
    """Every op output that the gradient of ``roots`` (a tensor or a list) flows through, each listed after
    all of its inputs. Inputs that needed no gradient when the op ran (constants) are not followed,
    unless ``leaves=True``, which lists the whole recorded graph, leaf tensors and constants included.

    A walk finds the tensors and a sort orders them. Each recorded node carries a sequence number, given
    in the order the ops ran (``Function.sequence_nr``, PyTorch's name), and an op runs only after the ops
    that made its inputs, so sorting by that number lists every tensor after its inputs; leaves, which
    have no inputs, come first. The walk keeps an explicit stack, so a chain of 100 000 ops needs no
    recursion, and a node freed by an earlier backward has no inputs left, so the walk stops there.
    (One exception, with ``leaves=True`` only: a constant that an in-place op turned into an op output
    after an op had used it, ``c += x``, is listed by its new node, which may come after that consumer;
    no gradient flows along that edge.)
    """
    found, leaf_tensors = {}, {}
    stack = list(roots) if isinstance(roots, (list, tuple)) else [roots]
    while stack:
        tensor = stack.pop()
        node = tensor._node
        if node is None:
            if leaves:
                leaf_tensors[id(tensor)] = tensor
        elif id(tensor) not in found:
            found[id(tensor)] = tensor
            for parent, needed in zip(node.inputs, node.needs_input_grad):
                if leaves or needed and parent._node is not None:
                    stack.append(parent)
    return [*leaf_tensors.values(), *sorted(found.values(), key=_sequence_nr)]


_sequence_nr = operator.attrgetter("_node.sequence_nr")  # tensor -> tensor._node.sequence_nr, without a Python call


def sweep(roots, seeds, deliver, retain_graph=False, create_graph=False, visit=None, watched=()):
    """Backpropagate ``seeds`` (dL/droot for each root) through the graph. ``deliver(tensor, grad)``
    receives each leaf's gradient (the sum over the paths reaching it) and the complete gradient of each
    op output that is in ``watched`` (ids) or retains its grad (a copy of its own, as a Function's
    backward may change its incoming gradient in place).

    The tensors waiting for their turn sit in a heap keyed by their node's sequence number, and the one
    whose op ran last comes out first. Every op that used a tensor ran after the op that made it, so by
    then each consumer has sent its share: the tensor's gradient is complete. This is the order
    ``topological_order`` gives, reversed, found while sweeping rather than by a walk beforehand
    (PyTorch's engine also takes ready nodes by sequence number). The gradients for ``deliver`` are
    handed over only once every node has run, so a node refused on the way (freed, or its saved arrays
    changed in place) leaves every ``.grad`` as it was; the nodes that ran before it have freed their
    saved arrays, unless ``retain_graph``, as in PyTorch.
    """
    pending = {}  # id(tensor) -> the sum of the gradients its consumers have sent so far
    queue = []  # heap of (-sequence_nr, id(tensor), tensor): the latest op first
    finished = {}  # id(tensor) -> (tensor, its gradient) for deliver, once the sweep has succeeded
    checking = create_graph or _state["anomaly"]  # every gradient is converted or checked, not only odd ones
    mutations = _state["mutations"]
    for root, seed in zip(roots, seeds):
        if root._node is None:
            _finish(finished, root, seed)
        elif id(root) in pending:
            pending[id(root)] = _add(pending[id(root)], seed)
        else:
            pending[id(root)] = seed
            heappush(queue, (-root._node.sequence_nr, id(root), root))
    while queue:  # each tensor after all of its consumers: its gradient is complete
        _, key, tensor = heappop(queue)
        g = pending.pop(key)
        node = tensor._node
        if node.saved is None or node.made_at != mutations:  # freed, or something changed since
            _check_usable(tensor)
        if tensor._retains_grad or watched and key in watched:
            finished[key] = (tensor, g.copy(order="K") if type(g) is np.ndarray else g)
        input_grads = _input_grads(node, tensor, g, create_graph)
        if visit is not None:
            visit(node, g, input_grads)
        for parent, parent_grad, needed in zip(node.inputs, input_grads, node.needs_input_grad):
            if parent_grad is None or not needed:
                continue
            data = parent._data
            if checking or type(parent_grad) is not np.ndarray or parent_grad.dtype is not data.dtype \
                    or parent_grad.shape != data.shape:
                parent_grad = _checked(node, parent, parent_grad, create_graph)  # converted, or a clear error
            parent_node = parent._node
            if parent_node is None:
                _finish(finished, parent, parent_grad)
                continue
            key = id(parent)
            if key in pending:  # the chain rule: a tensor used twice gets the sum of both gradients
                pending[key] = _add(pending[key], parent_grad)
            else:
                pending[key] = parent_grad
                heappush(queue, (-parent_node.sequence_nr, key, parent))
        if not retain_graph:  # release the saved arrays as soon as the node is done
            node.saved, node.inputs = None, ()
    for tensor, g in finished.values():
        deliver(tensor, g)


def _finish(finished: dict, leaf: Tensor, g):
    """Keep a gradient for a leaf until the sweep ends, added to what earlier paths sent it (one array per
    leaf however many paths reach it, as PyTorch accumulates)."""
    key = id(leaf)
    finished[key] = (leaf, _add(finished[key][1], g) if key in finished else g)


def backward(root: Tensor, grad=None, retain_graph=None, create_graph=False, visit=None):
    """Accumulate d root / d leaf into ``leaf.grad`` for every leaf that requires grad.

    ``grad`` is dL/droot (ones for a one-element root). Without ``retain_graph`` (its default is
    ``create_graph``) each node drops its saved arrays and its inputs as soon as it is used. With
    ``create_graph`` the gradients are recorded Tensors that can be differentiated again.
    ``visit(node, grad_output, input_grads)``, if given, is called for every node the sweep runs
    (``tinygrad_edu.viz.trace_backward`` watches the sweep this way).
    """
    if not root._requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input of the computation "
                           "had requires_grad=True (or it ran inside no_grad)")
    seed = _seed(root, grad, create_graph)
    retain_graph = create_graph if retain_graph is None else retain_graph
    if create_graph:
        with enable_grad():
            sweep([root], [seed], _accumulate_recorded, retain_graph, True, visit)
    else:
        sweep([root], [seed], _accumulate, retain_graph, False, visit)


def _accumulate(tensor: Tensor, g: np.ndarray):
    """tensor.grad += g, into a new array (the old one may be held elsewhere). The engine's gradients have
    the tensor's shape and dtype by construction, so ``._grad`` is set without the user-facing checks."""
    if tensor._node is None and tensor._requires_grad:
        tensor._grad = _as_grad(g, False, tensor._data) if tensor._grad is None else _sum(tensor._grad, g, False)
    elif tensor._retains_grad:  # (the sweep hands a retained op output a copy of its own)
        tensor._grad = Tensor._from_op(g, None) if tensor._grad is None else _sum(tensor._grad, g, False)


def _accumulate_recorded(tensor: Tensor, g: Tensor):
    """tensor.grad += g, recorded (under create_graph). A first gradient is stored as a recorded copy (as
    PyTorch does): g may be the caller's seed or go to several leaves (x + w sends both the same g), and a
    ``.grad`` may be changed in place by zero_grad or clip_grad_norm_."""
    if tensor._node is None and tensor._requires_grad or tensor._retains_grad:
        tensor._grad = g.clone() if tensor._grad is None else tensor._grad + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, returned rather than stored in ``.grad``
    (as ``torch.autograd.grad``).

    Args:
        outputs: a Tensor or a sequence of Tensors (d sum_k <grad_outputs[k], outputs[k]> is taken).
        inputs: a Tensor or a sequence of Tensors that the outputs depend on (leaves or op outputs).
        grad_outputs: the vector of each vector-Jacobian product, one per output (default: ones, which
            a one-element output allows).
        retain_graph: keep the graph for another sweep (default: ``create_graph``).
        create_graph: record the gradients, so they can be differentiated again.
        allow_unused: give None for an input the outputs do not depend on, instead of raising.

    Returns:
        A tuple with one gradient Tensor (or None) per input, whatever ``inputs`` was.

    >>> import numpy as np, tinygrad_edu as tg
    >>> x = tg.Tensor(np.array(3.0), requires_grad=True)
    >>> (dy,) = tg.autograd.grad(x ** 3, x, create_graph=True)       # 3x^2 = 27
    >>> (d2y,) = tg.autograd.grad(dy, x)                              # 6x = 18
    >>> float(dy), float(d2y)
    (27.0, 18.0)
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    grad_outputs = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad, so no gradient can be taken with respect "
                               "to it (create it with requires_grad=True)")
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad: it does not depend on any input")
    wanted = {id(t): i for i, t in enumerate(inputs)}
    results = [None] * len(inputs)

    def deliver(tensor, g):
        i = wanted.get(id(tensor))
        if i is not None:
            results[i] = (_as_grad(g, create_graph, tensor._data) if results[i] is None
                          else _sum(results[i], g, create_graph))

    seeds = [_seed(out, g, create_graph) for out, g in zip(outputs, grad_outputs)]
    retain_graph = create_graph if retain_graph is None else retain_graph
    with enable_grad() if create_graph else no_grad():  # first order: nothing to record
        sweep(outputs, seeds, deliver, retain_graph, create_graph, watched=wanted)
    for i, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
    return tuple(results)


# ---- the parts of a sweep step --------------------------------------------------------------------

def _seed(root: Tensor, grad, create_graph: bool):
    """dL/dL: ones for a one-element loss, else the caller's ``grad`` (the vector in a vector-Jacobian product)."""
    if grad is None:
        data = root._data
        if data.size != 1:
            raise RuntimeError(
                f"backward() without a grad argument needs a one-element tensor, but this one has shape "
                f"{root.shape}; call .sum() or .mean() first, or pass backward(grad) with that shape"
            )
        # (np.array for the usual 0-d loss: np.ones costs three times as much, in a loop of tiny steps)
        seed = np.array(1, dtype=data.dtype) if data.ndim == 0 else np.ones(data.shape, dtype=data.dtype)
    elif isinstance(grad, Tensor) and create_graph:
        seed = grad if grad.dtype == root.dtype else grad.astype(root.dtype)
    else:  # a copy: the seed can reach a leaf unchanged (x + 0) and become its .grad, which zero_grad and
        # clip_grad_norm_ change in place; the caller's array must not change with it (PyTorch's rule too)
        seed = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
    if seed.shape != root.shape:
        raise ValueError(f"backward(grad): grad has shape {seed.shape} but the tensor has shape {root.shape}")
    return Tensor._from_op(seed, None) if create_graph and not isinstance(seed, Tensor) else seed


def _add(a, b):
    """a + b, never in place (either array may be held elsewhere); 0-d sums stay arrays."""
    total = a + b
    return total if isinstance(total, (np.ndarray, Tensor)) else np.asarray(total)


def _sum(grad: Tensor, g, create_graph: bool) -> Tensor:
    """grad + g as a new ``.grad`` Tensor, laid out as ``grad`` was (as the tensor itself, see ``_as_grad``)."""
    if create_graph:
        return grad + g
    return Tensor._from_op(np.add(grad._data, g, out=np.empty_like(grad._data)), None)


def _as_grad(g, create_graph: bool, like: np.ndarray) -> Tensor:
    """A gradient as stored on ``.grad``: a recorded Tensor under create_graph, else a Tensor of its own
    array, laid out in memory as ``like`` (the tensor's own array, PyTorch's rule for .grad): copied when
    it is laid out otherwise (a convolution hands back channels-last gradients) or is a view or read-only
    (it might be shared). Gradients handed to two inputs at once were made distinct by ``_distinct``."""
    if create_graph:
        return g
    laid_out = ops.laid_out_like(g, like)
    if laid_out is not g:
        return Tensor._from_op(laid_out, None)
    return Tensor._from_op(g if g.base is None and g.flags.writeable else g.copy(order="K"), None)


def _check_usable(tensor: Tensor):
    node = tensor._node
    if node.saved is None:
        raise RuntimeError(f"backward through {type(node).__name__}: {FREED}")
    _check_saved_unchanged(tensor)


def _check_saved_unchanged(tensor: Tensor):
    """Refuse a node whose saved arrays were changed in place after the forward pass (PyTorch's rule).

    Every in-place change bumps a tensor's ``_version`` and stamps it with the time on the package's
    clock of changes; the node remembered that clock when it ran. Only a tensor changed later, whose
    array the node saved, matters.
    """
    node = tensor._node
    changed = [(f"input {i}", t) for i, t in enumerate(node.inputs) if t._versions[1] > node.made_at]
    if tensor._versions[1] > node.made_at:
        changed.append(("its output", tensor))
    for which, t in changed:
        if any(s is not None and np.may_share_memory(s, t.data) for s in node.saved):
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an inplace operation: "
                f"{which} of {type(node).__name__} (shape {t.shape}) is at version {t._version}, but {type(node).__name__} "
                "saved it at the forward pass; compute the loss again after changing it, or change a copy (t.clone())")


def _input_grads(node, output: Tensor, g, create_graph: bool) -> tuple:
    """Run the node's backward: on arrays, or under ``create_graph`` on Tensors (a primitive whose backward
    is written for both), and check that it returned one gradient (or None) per input."""
    if not create_graph:
        grads = node.backward(node, g)
    elif getattr(node, "differentiable_backward", False):
        grads = _backward_on_tensors(node, output, g)
    else:  # a Function written for arrays only: its gradient is right, but a constant to what follows
        grads = node.backward(node, g.data)
    n = len(node.inputs)
    if type(grads) is not tuple:
        grads = (grads,) if n == 1 and type(grads) is not list else _as_gradient_tuple(node, grads)
    elif len(grads) != n:
        _check_gradient_count(node, grads)
    # x + y passes the same g to both (two inputs, the common case, are compared without building a set)
    if n > 1 and not create_graph and (grads[0] is grads[1] if n == 2 else len(set(map(id, grads))) < n):
        grads = _distinct(grads)
    return grads


def _distinct(grads: tuple) -> tuple:
    """One array handed to several inputs is copied for all but the first, so that no two leaves' ``.grad``
    share an array. (Recorded Tensors under create_graph may be shared here: a leaf stores its first one
    as a recorded copy, see ``_accumulate_recorded``.)"""
    seen = set()
    distinct = []
    for pg in grads:
        distinct.append(pg.copy() if pg is not None and id(pg) in seen else pg)
        seen.add(id(pg))
    return tuple(distinct)


def _checked(node, parent, pg, create_graph):
    """One input's gradient as the input's dtype (an array, or a Tensor under create_graph), its shape
    checked, nan/inf caught under detect_anomaly."""
    data = parent.data
    if create_graph:
        if not isinstance(pg, Tensor):
            pg = Tensor._from_op(np.asarray(pg, dtype=data.dtype), None)
        elif pg.dtype != data.dtype:
            pg = pg.astype(data.dtype)
        array = pg.data
    else:
        if type(pg) is not np.ndarray or pg.dtype != data.dtype:
            pg = np.asarray(pg.data if isinstance(pg, Tensor) else pg, dtype=data.dtype)
        array = pg
    if array.shape != data.shape:
        raise RuntimeError(f"{type(node).__name__}.backward returned a gradient of shape {array.shape} "
                           f"for an input of shape {data.shape}")
    if _state["anomaly"]:
        check_anomaly(node, array, "backward")
    return pg


def _backward_on_tensors(node, output: Tensor, g: Tensor):
    """Call ``node.backward`` with Tensors: each saved array becomes the tensor it belongs to (an input or
    the output, so the gradient's graph reaches them) or else a constant."""
    owners = {id(t.data): t for t in (*node.inputs, output)}
    arrays = node.saved
    node.saved = tuple(s if s is None or id(s) not in owners else owners[id(s)] for s in arrays)
    node.saved = tuple(Tensor._from_op(s, None) if isinstance(s, np.ndarray) else s for s in node.saved)
    try:
        return node.backward(node, g)
    finally:
        node.saved = arrays


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
