"""Function: the unit of differentiation, and the graph node it leaves behind.

A primitive is a subclass of :class:`Function` with two static methods on plain NumPy arrays::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved
            return 2 * x * grad_output       # d(x^2)/dx = 2x, times the incoming gradient

    y = Square.apply(t)                      # t a Tensor; y records Square as its creator

``apply`` runs ``forward`` and, when any input requires grad (and grad mode is on), keeps the instance
as ``y``'s graph node: it remembers the input tensors and whatever ``forward`` saved, so that
``Tensor.backward`` can later call ``backward`` with the gradient of the loss with respect to ``y``
and receive one gradient per input (``None`` where an input needs none).

The ctx *is* the node: the same object holds the saved arrays, the inputs and the Function's
``backward``. This is the shape of ``torch.autograd.Function`` and of minitorch.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import traceback

import numpy as np

_state = {"grad_enabled": True, "anomaly": False, "mutations": 0}
_requires_grad, _data = operator.attrgetter("_requires_grad"), operator.attrgetter("_data")
_sequence = itertools.count()  # numbers the recorded nodes in the order their ops ran (see Function.sequence_nr)


def _count_past(number: int) -> None:
    """Make every node recorded from now on take a number above ``number`` (that of a node restored from
    a pickle, which another process counted)."""
    global _sequence
    if number >= next(_sequence):
        _sequence = itertools.count(number + 1)


def mutation() -> int:
    """Tick the clock of in-place changes and return its new time (see ``Tensor._version``)."""
    _state["mutations"] += 1
    return _state["mutations"]


class no_grad:
    """Context manager (and decorator, with or without parentheses) inside which no graph is recorded.

    >>> import tinygrad_edu as tg
    >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    mode = False  # the grad mode inside the block

    def __new__(cls, *args):
        if cls is not set_grad_enabled and args and callable(args[0]):  # used bare: @tg.no_grad
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._previous = _state["grad_enabled"]
        _state["grad_enabled"] = self.mode
        return self

    def __exit__(self, *exc):
        _state["grad_enabled"] = self._previous

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            previous, _state["grad_enabled"] = _state["grad_enabled"], mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state["grad_enabled"] = previous

        return wrapper


class enable_grad(no_grad):
    """Context manager (and decorator) that switches graph recording back on, e.g. inside ``no_grad``."""

    mode = True


class set_grad_enabled(no_grad):
    """``set_grad_enabled(False)`` switches recording off at once; as a ``with`` block or decorator the
    previous mode comes back afterwards (as ``torch.set_grad_enabled``)."""

    def __init__(self, mode: bool):
        self._previous, self.mode = _state["grad_enabled"], bool(mode)
        _state["grad_enabled"] = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        _state["grad_enabled"] = self._previous  # decorating switches nothing now, only inside each call
        return super().__call__(fn)


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad`` (or ``set_grad_enabled(False)``)."""
    return _state["grad_enabled"]


class AnomalyError(FloatingPointError):
    """Raised under ``detect_anomaly`` by the first op whose output or gradient holds nan/inf."""


class detect_anomaly:
    """Context manager: the first op whose forward output or backward gradient holds nan/inf raises.

    The error names the op, the shapes of its inputs and output, and the line of user code that
    created the op (recorded only while anomaly detection is on, since it costs a stack walk per op).

    >>> import numpy as np, tinygrad_edu as tg
    >>> x = tg.Tensor(np.array([-1.0]), requires_grad=True)
    >>> with tg.detect_anomaly():
    ...     x.log()
    Traceback (most recent call last):
    ...
    tinygrad_edu.function.AnomalyError: Log forward produced nan/inf: ...
    """

    def __enter__(self):
        self._previous = _state["anomaly"]
        _state["anomaly"] = True
        return self

    def __exit__(self, *exc):
        _state["anomaly"] = self._previous


def _user_frame() -> str:
    """'file:line in function: code' of the innermost frame outside this package."""
    package_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep  # any OS; not a sibling like tinygrad_edu_x/
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(package_dir):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "<unknown>"


_NOT_RECORDED = "an unrecorded place (the forward pass ran outside detect_anomaly; run it inside to see the line)"


def _has_nonfinite(array) -> bool:
    return array is not None and array.dtype.kind == "f" and not np.isfinite(array).all()


def check_anomaly(node, array, stage: str):
    """Raise AnomalyError if ``array`` (a forward output or a gradient) holds nan/inf."""
    if _has_nonfinite(array):
        shapes = ", ".join(str(t.shape) for t in node.inputs) if node.inputs else "?"
        raise AnomalyError(
            f"{type(node).__name__} {stage} produced nan/inf: input shapes ({shapes}), "
            f"result shape {array.shape}; op created at {getattr(node, 'created_at', _NOT_RECORDED)}"
        )


def _share_version(view: Tensor, inputs):
    for t in inputs:
        if np.may_share_memory(view.data, t.data):
            view._versions = t._versions
            return


def _as_output(cls, out) -> np.ndarray:
    """A forward's result as an ndarray: NumPy scalars (what reductions return) become 0-d arrays."""
    if isinstance(out, np.generic):
        return np.asarray(out)
    if isinstance(out, Tensor):
        raise TypeError(f"{cls.__name__}.forward returned a Tensor; forward works on NumPy arrays and must return "
                        "one (return the array itself, e.g. x * 2, not Tensor(x * 2))")
    raise TypeError(f"{cls.__name__}.forward must return a NumPy array, got {type(out).__name__}; wrap it, "
                    "e.g. return np.asarray(value)")


class Function:
    """Base class of every differentiable primitive (see the module docstring for an example).

    Subclasses define ``forward(ctx, *arrays, **options) -> array`` and
    ``backward(ctx, grad_output) -> array | tuple`` as static methods. Inside them ``ctx`` offers:

    - ``ctx.save_for_backward(*arrays)`` / ``ctx.saved``: the arrays backward needs (and only those);
    - ``ctx.needs_input_grad``: one bool per input, so backward can skip gradients nobody wants;
    - any attribute you set on it (``ctx.axis = axis``).

    ``backward`` must return new arrays, ``grad_output`` itself, or views of ``grad_output``; the
    engine then knows which gradients it may add into in place.
    """

    inputs: tuple = ()
    saved: tuple | None = ()
    needs_input_grad: tuple = ()
    sequence_nr: int = -1  # when the op ran, among recorded ops: the nodes that had made its inputs have smaller ones

    def __init_subclass__(cls, **kwargs):
        """Catch a forgotten ``@staticmethod`` when the class is written, not at the first backward:
        the engine calls ``backward(ctx, g)`` on the node itself, so a plain method would get the node twice."""
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            method = cls.__dict__.get(name)
            if method is not None and not isinstance(method, staticmethod):
                raise TypeError(f"{cls.__name__}.{name} must be a @staticmethod: write @staticmethod on the line "
                                f"above 'def {name}(ctx, ...)' (ctx is the node, passed in explicitly)")

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @staticmethod
    def forward(ctx, *arrays, **options):
        name = type(ctx).__name__ if isinstance(ctx, Function) else "Function"
        raise NotImplementedError(f"{name}.forward is not defined: write @staticmethod forward(ctx, *arrays) "
                                  "returning the output array")

    @staticmethod
    def backward(ctx, grad_output):
        name = type(ctx).__name__ if isinstance(ctx, Function) else "Function"
        raise NotImplementedError(f"{name}.backward is not defined, so nothing can be differentiated through it: "
                                  "write @staticmethod backward(ctx, grad_output) returning one gradient per input")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run ``forward`` on the inputs' arrays; record the node when a gradient will be needed."""
        # map with attrgetter rather than comprehensions: no extra frame per call on Python 3.11
        try:
            needs = tuple(map(_requires_grad, inputs))
        except AttributeError:  # an input that is not a Tensor (an array, a number) is made one
            inputs = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in inputs)
            needs = tuple(map(_requires_grad, inputs))
        ctx = cls()
        ctx.needs_input_grad = needs
        out = cls.forward(ctx, *map(_data, inputs), **options)
        if type(out) is not np.ndarray:  # a NumPy scalar (0-d results): the same value as a 0-d array,
            array = _as_output(cls, out)  # also where forward saved it, so the saved output stays the output
            ctx.saved = tuple(array if s is out else s for s in ctx.saved)
            out = array
        record = True in needs and _state["grad_enabled"]
        if record or _state["anomaly"]:
            ctx.inputs, ctx.sequence_nr = inputs, next(_sequence)
            ctx.made_at = _state["mutations"]  # backward checks that nothing it saved was changed after this
            if _state["anomaly"]:
                ctx.created_at = _user_frame()
                check_anomaly(ctx, out, "forward")
        result = Tensor._from_op(out, ctx if record else None)
        if out.base is not None:  # a view (reshape, transpose, basic indexing) counts changes with its base
            _share_version(result, inputs)
        return result

    def __setstate__(self, state):
        """A node restored by pickle or copy.deepcopy keeps its sequence number, which orders it among the
        nodes restored with it, and the ops recorded from then on are numbered above it: numbers counted in
        another process do not come after this process's new ops. A recorded node saved without a number
        (by a version of tinygrad_edu that had none) cannot be ordered and is refused."""
        if "sequence_nr" in state:
            _count_past(state["sequence_nr"])
        elif state.get("inputs"):
            raise ValueError(f"cannot restore this {type(self).__name__} node: it was saved by an older tinygrad_edu "
                             "whose graph nodes carry no sequence number, so backward could not order them; "
                             "pickle tensors after .detach(), or recompute the graph")
        self.__dict__.update(state)

    def __repr__(self):
        return f"<{type(self).__name__} node>"


# The engine's one import cycle closes here: Tensor's methods call the primitives, and apply() above
# makes Tensors. Everything in this module is defined by now, so tensor.py (which imports the engine
# at its own end) finds it complete, whichever module of the package is imported first.
from .tensor import Tensor
