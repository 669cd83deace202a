"""Gradients stay finite (and exact) wherever the true derivative is finite: at 0, at the edges of each
domain, with -inf in masked positions, and at float32 extremes. Values from math or PyTorch float64."""

import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor

try:
    import torch
except ImportError:  # the live PyTorch comparisons run only where it is installed
    torch = None

DTYPES = [np.float32, np.float64]


def grad_of(fn, values, dtype=np.float64, upstream=None):
    x = Tensor(np.array(values, dtype=dtype), requires_grad=True)
    out = fn(x)
    out.backward(np.ones(out.shape, dtype) if upstream is None else upstream)
    return out.data, x.grad.data


# (name, function, input, expected value, expected gradient): the edge cases, from math
EDGES = [
    ("x ** 0 at 0", lambda x: x ** 0, [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]),
    ("x ** 1 at 0", lambda x: x ** 1, [0.0], [0.0], [1.0]),
    ("x ** 2 at 0", lambda x: x ** 2, [0.0], [0.0], [0.0]),
    ("x ** 3 at 0", lambda x: x ** 3, [0.0], [0.0], [0.0]),
    ("x ** tensor 0 at 0", lambda x: x ** Tensor(np.zeros(1)), [0.0], [1.0], [0.0]),
    ("(-2) ** 2", lambda x: x ** 2, [-2.0], [4.0], [-4.0]),
    ("tensor exponent of a negative base", lambda x: Tensor(np.array([-2.0])) ** (x + 2), [0.0], [4.0], [math.nan]),
    ("2 ** x", lambda x: 2 ** x, [3.0], [8.0], [8 * math.log(2)]),
    ("0 ** x at x > 0", lambda x: 0.0 ** x, [2.0], [0.0], [0.0]),
    ("0 ** x at x = 0", lambda x: 0.0 ** x, [0.0], [1.0], [0.0]),
    ("sqrt at 0", lambda x: x.sqrt(), [0.0], [0.0], [math.inf]),
    ("clip at both bounds", lambda x: x.clip(0.0, 1.0), [0.0, 1.0, -0.5, 1.5], [0.0, 1.0, 0.0, 1.0], [1, 1, 0, 0]),
    ("relu at 0", lambda x: x.relu(), [0.0], [0.0], [0.0]),
    ("abs at 0", lambda x: x.abs(), [0.0], [0.0], [0.0]),
    ("maximum at a tie", lambda x: x.maximum(Tensor(np.array([1.0]))), [1.0], [1.0], [0.5]),
    ("max at a tie", lambda x: x.max(), [2.0, 2.0, 1.0], 2.0, [0.5, 0.5, 0.0]),
    ("sigmoid far out", lambda x: x.sigmoid(), [-1e4, 1e4], [0.0, 1.0], [0.0, 0.0]),
    ("tanh far out", lambda x: x.tanh(), [-1e4, 1e4], [-1.0, 1.0], [0.0, 0.0]),
    ("softmax of huge logits", lambda x: x.softmax(), [1e4, 1e4], [0.5, 0.5], [0.0, 0.0]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EDGES, ids=[c[0] for c in EDGES])
def test_values_and_gradients_at_the_edges_follow_the_math(case, dtype):
    _, fn, values, value, gradient = case
    out, grad = grad_of(fn, values, dtype)
    np.testing.assert_allclose(out, value, rtol=1e-6)
    np.testing.assert_allclose(grad, gradient, rtol=1e-6)
    if torch is not None:
        theirs = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        fn_torch = TORCH_EDGES[case[0]]
        result = fn_torch(theirs)
        result.backward(torch.ones_like(result))
        np.testing.assert_allclose(grad, theirs.grad.numpy(), rtol=1e-6, err_msg="differs from PyTorch")


TORCH_EDGES = {
    "x ** 0 at 0": lambda x: x ** 0, "x ** 1 at 0": lambda x: x ** 1, "x ** 2 at 0": lambda x: x ** 2,
    "x ** 3 at 0": lambda x: x ** 3, "x ** tensor 0 at 0": lambda x: x ** torch.zeros(1, dtype=torch.float64),
    "(-2) ** 2": lambda x: x ** 2,
    "tensor exponent of a negative base": lambda x: torch.tensor([-2.0], dtype=torch.float64) ** (x + 2),
    "2 ** x": lambda x: 2 ** x, "0 ** x at x > 0": lambda x: 0.0 ** x, "0 ** x at x = 0": lambda x: 0.0 ** x,
    "sqrt at 0": torch.sqrt if torch else None, "clip at both bounds": lambda x: torch.clamp(x, 0.0, 1.0),
    "relu at 0": torch.relu if torch else None, "abs at 0": torch.abs if torch else None,
    "maximum at a tie": lambda x: torch.maximum(x, torch.tensor([1.0], dtype=torch.float64)),
    "max at a tie": lambda x: x.max(), "sigmoid far out": torch.sigmoid if torch else None,
    "tanh far out": torch.tanh if torch else None, "softmax of huge logits": lambda x: torch.softmax(x, 0),
}


def test_every_edge_case_has_its_pytorch_counterpart():
    assert {c[0] for c in EDGES} == set(TORCH_EDGES)


@pytest.mark.parametrize("scale", [1.0, 1e4, 1e6, 1e8, 1e30])
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_of_equal_logits_is_minus_log_two_at_every_scale(scale, dtype):
    value, grad = grad_of(lambda x: x.log_softmax()[0], [scale, scale], dtype)
    assert value.item() == pytest.approx(-math.log(2), rel=1e-6)
    np.testing.assert_allclose(grad, [0.5, -0.5], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_minus_infinity_logits_give_finite_values_and_zero_gradient(dtype):
    logits = [1.0, -np.inf, 2.0]
    upstream = np.array([0.3, -1.2, 0.7], dtype=dtype)
    for fn in (lambda x: x.softmax(), lambda x: x.log_softmax()[[0, 2]], lambda x: x.logsumexp()):
        x = Tensor(np.array(logits, dtype=dtype), requires_grad=True)
        out = fn(x)
        assert np.isfinite(out.data).all()
        out.backward(upstream[:out.size].reshape(out.shape))
        assert np.isfinite(x.grad.data).all() and x.grad.data[1] == 0.0


def test_logsumexp_of_all_minus_infinity_is_minus_infinity_as_pytorch():
    assert Tensor(np.array([-np.inf, -np.inf])).logsumexp().item() == -np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_division_by_tiny_numbers_has_no_intermediate_underflow(dtype):
    tiny = np.finfo(dtype).tiny * 1e3  # y * y underflows to 0 but x / y and x / y^2 are finite
    x, y = Tensor(np.array([tiny], dtype), requires_grad=True), Tensor(np.array([tiny], dtype), requires_grad=True)
    (x / y).backward(np.ones(1, dtype))
    np.testing.assert_allclose(x.grad.data, [1 / tiny], rtol=1e-5)
    np.testing.assert_allclose(y.grad.data, [-1 / tiny], rtol=1e-5)


def test_cross_entropy_of_equal_float32_logits_is_log_two_at_every_scale():
    for scale in (1e4, 1e6, 1e8):
        loss = tg.nn.functional.cross_entropy(Tensor(np.array([[scale, scale]], np.float32)), np.array([0]))
        assert loss.item() == pytest.approx(0.6931472, rel=1e-7)


def test_a_nan_takes_the_gradient_of_the_max_it_makes_and_the_other_windows_stay_finite():
    """np.max returns the nan; the gradient goes to it, not to nan everywhere (nor a division by zero)."""
    import warnings

    import tinygrad_edu.nn.functional as F

    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    t = tg.Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.max_pool2d(t, 3, stride=1)  # overlapping windows: unfold + max
        out.backward(np.ones(out.shape))
    assert np.isnan(out.data[0, 0, 0, 0]) and not np.isnan(out.data[0, 0, 1, 1])
    grad = t.grad.numpy()[0, 0]
    assert grad[0, 0] == 1.0 and not np.isnan(grad).any() and grad.sum() == 4.0


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("odd", [np.inf, -np.inf, np.nan, 1e30])
def test_relu_gradient_is_zero_where_the_input_lost_whatever_the_upstream_gradient_holds(odd, dtype, layout):
    """One inf, nan or huge entry (1e30: its square overflows float32) where x <= 0, and one where x > 0:
    the losers get exactly 0 and the winners the upstream value, in every dtype and memory layout (the
    finiteness check that picks the fast product takes a different road for each)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 8)).astype(dtype)
    x[0, 0], x[1, 1] = -1.0, 1.0
    base = rng.standard_normal((6, 16) if layout == "strided" else (6, 8)).astype(dtype)
    seed = {"C": base, "F": np.asfortranarray(base), "strided": base[:, ::2]}[layout]
    with np.errstate(over="ignore"):
        seed[0, 0] = seed[1, 1] = odd   # 1e30 is inf in float16
    t = Tensor(x, requires_grad=True)
    t.relu().backward(seed)
    np.testing.assert_array_equal(t.grad.data, np.where(x > 0, seed, 0).astype(dtype))


def test_the_finiteness_check_agrees_with_isfinite_on_every_dtype_and_layout():
    from tinygrad_edu.ops import _all_finite

    rng = np.random.default_rng(1)
    for dtype in (np.float16, np.float32, np.float64, np.int64):
        for make in (lambda a: a, np.asfortranarray, lambda a: a[:, ::2], lambda a: a[:0]):
            assert _all_finite(make(rng.integers(-3, 4, (5, 6)).astype(dtype)))
            if dtype != np.int64 and make(np.ones((5, 6))).size:
                for odd in (np.inf, -np.inf, np.nan):
                    b = make(rng.integers(-3, 4, (5, 6)).astype(dtype))  # the layout kept: odd written into it
                    b[2, 1] = odd
                    assert not _all_finite(b), (dtype, odd, b.flags.c_contiguous)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_to_exactly_0_and_1_with_no_warning_even_when_numpy_is_set_to_raise(dtype):
    """e^-x overflows to inf for x = -1000 and underflows to 0 for x = 1000: both are the right intermediate
    values on the way to sigmoid = 0 and 1, so neither warns, not even under the caller's
    np.errstate(all="raise"). (A result that is itself subnormal, float32 sigmoid(-88) = 6e-39, underflows
    there as any NumPy operation's would.)"""
    import warnings

    x = Tensor(np.array([-1000.0, -50.0, 0.0, 1000.0], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        z = x.sigmoid()
        z.backward(np.ones(4, dtype=dtype))
    assert z.data[0] == 0 and z.data[3] == 1 and z.data[2] == 0.5
    assert z.data[1] == pytest.approx(1.9287498479639178e-22, rel=1e-6)  # the tail keeps its precision
    np.testing.assert_array_equal(x.grad.data[[0, 3]], [0, 0])


def test_relu_backward_through_an_inf_gradient_raises_nothing_when_numpy_is_set_to_raise():
    """The finiteness check squares the gradient (inf, and 1e30 overflowing float32): it silences that itself."""
    x = Tensor(np.array([-1.0, 2.0, -3.0], dtype=np.float32), requires_grad=True)
    with np.errstate(all="raise"):
        x.relu().backward(np.array([np.inf, 1e30, 5.0], dtype=np.float32))
    np.testing.assert_array_equal(x.grad.data, np.array([0, 1e30, 0], dtype=np.float32))
