"""gradcheck on every memory layout an input array can have, and what it leaves behind.

A NumPy array is a block of memory plus strides, so the same values can sit in C order, Fortran
order, as a transposed or sliced view, with negative strides, behind a read-only flag or in a
broadcast view whose rows share memory. The finite differences have to nudge exactly the numbers
``fn`` reads whatever the layout, or a correct op is blamed (every numeric derivative 0) and a
wrong one can slip through. Each layout below is run through a few ops that must pass, and through
a deliberately wrong ``tg.Function`` that must be caught at the element the projection predicts.
Afterwards every input must hold its own array, bit for bit, and the ``.grad`` it had.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor

SHAPE = (3, 4)


def _values(shape=SHAPE, seed=0):
    # away from 0, so that a derivative proportional to x is never accidentally right
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _leaf(array):
    """A leaf Tensor holding ``array`` itself, layout and flags included (``Tensor(array)`` would copy it)."""
    share = getattr(Tensor, "from_numpy", None)
    t = share(array) if share is not None else Tensor(array)
    return t.requires_grad_(True)


def _read_only(array):
    array.setflags(write=False)
    return array


LAYOUTS = {  # name -> a float64 array of shape SHAPE (or the layout's own shape) laid out that way
    "C order": lambda: np.ascontiguousarray(_values()),
    "Fortran order": lambda: np.asfortranarray(_values()),
    "transposed view": lambda: _values(SHAPE[::-1]).T,
    "strided slice": lambda: _values((7, 9))[::2, 1::2][:3, :4],
    "negative strides": lambda: _values()[::-1, ::-1],
    "read-only": lambda: _read_only(_values()),
    "read-only transposed": lambda: _read_only(_values(SHAPE[::-1])).T,
    "broadcast view (rows share memory)": lambda: np.broadcast_to(_values((1, SHAPE[1])), SHAPE),
    "0-d": lambda: np.array(1.25),
    "empty": lambda: np.zeros((0, SHAPE[1])),
}

_M = np.random.default_rng(1).normal(size=(SHAPE[1], 2))


def _ramp(shape):
    """A constant of the given shape whose entries all differ, so every element has its own derivative."""
    return Tensor(np.linspace(-1.5, 2.5, int(np.prod(shape))).reshape(shape))


OPS = {  # name -> fn of one Tensor, for any shape the layouts use (0-d included where the op allows)
    "mul": lambda t: t * t * _ramp(t.shape),
    "matmul": lambda t: (t * t) @ Tensor(_M),
    "sum over an axis": lambda t: (t * t * t).sum(axis=0),
    "transpose": lambda t: (t * t).T * _ramp(t.shape[::-1]),
}


def _cases():
    for layout in LAYOUTS:
        for op in OPS:
            if layout == "0-d" and op in ("matmul", "sum over an axis"):
                continue  # neither exists for a 0-d tensor
            yield layout, op


class WrongSquare(tg.Function):
    """x * x with a backward that forgets the factor 2: gradcheck must refuse it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * x  # d(x^2)/dx is 2 * x


def _state(t):
    """Everything gradcheck must give back: the array object, its bytes, strides, flags, and .grad."""
    return (t.data, t.data.tobytes(order="A"), t.data.strides, t.data.flags.writeable, t.data.flags.owndata,
            t.grad, None if t.grad is None else t.grad.data.copy())


def _assert_unchanged(t, before):
    data, payload, strides, writeable, owndata, grad, grad_values = before
    assert t.data is data, "the input holds another array than before"
    assert t.data.tobytes(order="A") == payload, "the input's values changed"
    assert (t.data.strides, t.data.flags.writeable, t.data.flags.owndata) == (strides, writeable, owndata)
    assert t.grad is grad
    if grad is not None:
        assert np.array_equal(t.grad.data, grad_values)


@pytest.mark.parametrize("layout, op", list(_cases()))
def test_a_correct_op_passes_on_every_layout(layout, op):
    x = _leaf(LAYOUTS[layout]())
    assert x.dtype == np.float64
    before = _state(x)
    assert tg.gradcheck(OPS[op], (x,)) is True
    _assert_unchanged(x, before)


def test_the_tensors_really_hold_those_layouts():
    """The table would prove little if every Tensor had quietly been given a C-contiguous copy."""
    arrays = {name: _leaf(make()).data for name, make in LAYOUTS.items()}
    assert arrays["Fortran order"].flags.f_contiguous and not arrays["Fortran order"].flags.c_contiguous
    assert not arrays["transposed view"].flags.c_contiguous
    assert not arrays["strided slice"].flags.c_contiguous and not arrays["strided slice"].flags.f_contiguous
    assert all(s < 0 for s in arrays["negative strides"].strides)
    assert not arrays["read-only"].flags.writeable and not arrays["read-only transposed"].flags.writeable
    assert arrays["broadcast view (rows share memory)"].strides[0] == 0
    assert arrays["0-d"].ndim == 0 and arrays["empty"].size == 0


def test_the_transposed_view_that_used_to_read_numeric_zero_passes():
    a = np.random.default_rng(0).normal(size=(3, 2))
    assert tg.gradcheck(lambda t: t * 2, (Tensor(a.T, requires_grad=True),)) is True


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name != "empty"])
def test_a_wrong_backward_is_caught_at_the_predicted_element_on_every_layout(layout):
    x = _leaf(LAYOUTS[layout]())
    before = _state(x)
    # analytic r * x vs numeric 2 r * x: the worst element is where |r * x| is largest, in x's own indices
    projection = np.random.default_rng(0).standard_normal(x.shape)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(projection * x.data)), x.shape))
    with pytest.raises(tg.GradcheckError, match=rf"input 0 \(shape {re_shape(x.shape)}\) at element "
                                                rf"{re_shape(worst)}: analytic \S+ vs numeric \S+") as caught:
        tg.gradcheck(WrongSquare.apply, (x,))
    assert "analytic is 0.5 times numeric" in str(caught.value)
    _assert_unchanged(x, before)


def re_shape(shape):
    """A tuple as it prints, escaped for a regular expression."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_an_empty_input_has_no_element_to_check_so_even_a_wrong_backward_passes():
    x = Tensor(np.zeros((0, 4)), requires_grad=True)
    assert tg.gradcheck(WrongSquare.apply, (x,)) is True


def test_the_wrong_input_is_named_when_only_the_second_one_is_wrong():
    a = Tensor(_values(), requires_grad=True)
    b = _leaf(_values(SHAPE[::-1], seed=3).T)
    with pytest.raises(tg.GradcheckError, match=r"gradcheck failed for input 1 \(shape \(3, 4\)\)"):
        tg.gradcheck(lambda p, q: p * 3 + WrongSquare.apply(q), (a, b))


def test_the_message_says_how_many_elements_disagree_and_shows_a_small_input_whole():
    x = Tensor(_values(), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"12 of 12 elements of input 0 disagree") as caught:
        tg.gradcheck(WrongSquare.apply, (x,))
    lines = str(caught.value).splitlines()
    # one line per row: the analytic rows, then the numeric rows, aligned under each other
    assert len(lines) == 1 + 2 * SHAPE[0]
    assert lines[1].startswith("  analytic (backward):") and lines[1 + SHAPE[0]].startswith("  numeric (finite")
    assert lines[2].index("[") == lines[1].index("[[") + 1


def test_a_graph_that_never_reaches_the_input_is_reported_as_no_gradient():
    x = _leaf(_values().T)
    with pytest.raises(tg.GradcheckError, match=r"analytic 0 vs numeric .*backward sent no gradient"):
        tg.gradcheck(lambda t: Tensor(t.data * 2), (x,))


def test_nan_from_backward_is_a_failure_and_says_so():
    class NanBackward(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * np.nan

    x = Tensor(_values(), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"analytic nan .*backward produced nan or inf"):
        tg.gradcheck(NanBackward.apply, (x,))


# ---- what gradcheck leaves behind ------------------------------------------------------------------


@pytest.mark.parametrize("layout, calls_before_raising", [
    (layout, calls) for layout in LAYOUTS for calls in (0, 1, 2, 3)
    if not (layout == "empty" and calls >= 2)  # an empty input makes only the first two calls
])
def test_the_input_is_restored_exactly_when_fn_raises(layout, calls_before_raising):
    """fn raising in the reference call (0), the backward pass (1), or among the finite differences (2, 3)."""
    x = _leaf(LAYOUTS[layout]())
    x.grad = Tensor(np.full(x.shape, 7.0))
    before, calls = _state(x), []

    def fn(t):
        calls.append(1)
        if len(calls) > calls_before_raising:
            raise ArithmeticError("fn gave up")
        return t * t

    with pytest.raises(ArithmeticError, match="fn gave up"):
        tg.gradcheck(fn, (x,))
    assert len(calls) == calls_before_raising + 1
    _assert_unchanged(x, before)


def test_the_callers_array_is_never_written_even_while_checking():
    """A Tensor sharing a's memory: nudging it in place would change a, seen by anyone else holding a."""
    a = _values(SHAPE[::-1])
    snapshot = a.copy()
    seen = []

    def fn(t):
        seen.append(np.array_equal(a, snapshot))
        return t * t

    x = _leaf(a.T)
    assert np.shares_memory(x.data, a)
    assert tg.gradcheck(fn, (x,))
    assert len(seen) == 2 + 2 * a.size and all(seen)


def test_an_input_fn_writes_into_is_restored_to_its_values():
    a = _values()
    x = Tensor(a, requires_grad=True)
    before = _state(x)

    def clobbering(t):
        t.data[...] = 0.0  # a broken fn: it overwrites its argument in place
        return t * 2

    # the zeros also erase each nudge, so the finite differences see an fn that ignores its input
    with pytest.raises(tg.GradcheckError, match=r"numeric 0 .*does not change when this input does"):
        tg.gradcheck(clobbering, (x,))
    _assert_unchanged(x, before)


def test_the_callers_grad_is_kept_not_wiped():
    x = Tensor(_values(), requires_grad=True)
    (x * 3).sum().backward()
    kept = x.grad
    assert tg.gradcheck(lambda t: t * t, (x,))
    assert x.grad is kept and np.array_equal(kept.data, np.full(SHAPE, 3.0))


def test_the_grad_of_a_tensor_fn_captures_is_kept_too():
    x = Tensor(_values(), requires_grad=True)
    weight = Tensor(_values(seed=5), requires_grad=True)
    assert tg.gradcheck(lambda t: t * weight, (x,))
    assert weight.grad is None


def test_a_failing_check_also_restores_data_and_grad():
    x = _leaf(_values().T)
    x.grad = Tensor(np.ones(x.shape))
    before = _state(x)
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(WrongSquare.apply, (x,))
    _assert_unchanged(x, before)


def test_a_closure_over_the_input_sees_the_nudges():
    """fn may ignore its arguments and use the tensors it captured (a layer's weight): the same objects."""
    w = Tensor(_values(), requires_grad=True)
    assert tg.gradcheck(lambda *_: (w * w).sum(axis=1), (w,))


def test_a_non_leaf_input_is_checked_as_a_variable_and_its_graph_still_works():
    x = Tensor(_values(), requires_grad=True)
    y = x * 2  # made by an op: backward would not keep a .grad on it
    assert tg.gradcheck(lambda t: t * t, (y,))
    assert x.grad is None and y.grad is None and not y.is_leaf
    y.sum().backward()  # the caller's graph is untouched and still usable
    assert np.array_equal(x.grad.data, np.full(SHAPE, 2.0))


def test_an_input_passed_twice_is_checked_and_restored():
    x = _leaf(_values().T)
    before = _state(x)
    assert tg.gradcheck(lambda p, q: p * q, (x, x))
    _assert_unchanged(x, before)


# ---- clear errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("returned, words", [
    (lambda t: t.data * 2, r"must return a Tensor, it returned ndarray; build the result .* Tensor operations"),
    (lambda t: 3.0, r"must return a Tensor, it returned float"),
    (lambda t: (t * 2, t * 3), r"must return a Tensor, it returned tuple; gradcheck checks one output"),
    (lambda t: None, r"must return a Tensor, it returned NoneType"),
])
def test_fn_that_does_not_return_a_tensor_is_a_clear_error(returned, words):
    x = Tensor(_values(), requires_grad=True)
    before = _state(x)
    with pytest.raises(TypeError, match=words):
        tg.gradcheck(returned, (x,))
    _assert_unchanged(x, before)


@pytest.mark.parametrize("option, value, words", [
    ("eps", 0.0, r"eps=0.0 must be a finite number greater than 0"),
    ("eps", -1e-6, r"eps=-1e-06 must be a finite number greater than 0"),
    ("eps", float("nan"), r"eps=nan must be"),
    ("atol", -1.0, r"atol=-1.0 must be a finite number 0 or more"),
    ("rtol", float("inf"), r"rtol=inf must be a finite number 0 or more"),
    ("atol", "small", r"atol='small' must be a finite number"),
])
def test_bad_tolerances_are_refused_by_name(option, value, words):
    with pytest.raises(ValueError, match=words):
        tg.gradcheck(lambda t: t * 2, (Tensor(_values(), requires_grad=True),), **{option: value})
