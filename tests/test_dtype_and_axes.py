"""dtypes follow PyTorch's rules, and every op that takes axes reads negative axes, tuples and PyTorch's
``dim=``/``keepdim=`` spellings the same way, gradients included."""

import operator

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor

torch = None
try:
    import torch
except ImportError:  # the comparisons with torch's promotion table run only where it is installed
    pass

INTS = np.array([-2, 0, 3])

# Floating-point functions of an integer tensor compute in float32, as PyTorch's do.
FLOAT_FUNCTIONS = {
    "exp": (lambda t: t.exp(), np.exp), "log": (lambda t: (t + 3).log(), lambda a: np.log(a + 3)),
    "sqrt": (lambda t: (t + 3).sqrt(), lambda a: np.sqrt(a + 3)), "sin": (lambda t: t.sin(), np.sin),
    "cos": (lambda t: t.cos(), np.cos), "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    "tanh": (lambda t: t.tanh(), np.tanh),
    "leaky_relu": (lambda t: t.leaky_relu(0.01), lambda a: np.where(a > 0, a, 0.01 * a)),
    "softmax": (lambda t: t.softmax(), lambda a: np.exp(a) / np.exp(a).sum()),
    "log_softmax": (lambda t: t.log_softmax(), lambda a: a - np.log(np.exp(a).sum())),
    "logsumexp": (lambda t: t.logsumexp(), lambda a: np.log(np.exp(a).sum())),
    "mean": (lambda t: t.mean(), np.mean), "var": (lambda t: t.var(), lambda a: np.var(a, ddof=1)),
    "std": (lambda t: t.std(), lambda a: np.std(a, ddof=1)), "true division": (lambda t: t / 2, lambda a: a / 2),
    "1 / t": (lambda t: 1 / (t + 3), lambda a: 1 / (a + 3)), "t ** 0.5": (lambda t: (t + 3) ** 0.5,
                                                                        lambda a: (a + 3) ** 0.5),
}


@pytest.mark.parametrize("name", sorted(FLOAT_FUNCTIONS))
@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_floating_point_functions_of_integer_tensors_return_float32(name, int_dtype):
    fn, reference = FLOAT_FUNCTIONS[name]
    values = np.abs(INTS) if int_dtype == np.uint8 else INTS
    out = fn(Tensor(values.astype(int_dtype)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, reference(values.astype(np.float64)), rtol=1e-6)


def test_leaky_relu_slope_is_not_truncated_for_integer_input():
    np.testing.assert_array_equal(Tensor([-100, 5]).leaky_relu(0.01).data, np.array([-1.0, 5.0], np.float32))


@pytest.mark.parametrize("fn", [lambda t: t.abs(), lambda t: t.relu(), lambda t: t.sum(), lambda t: t.max(),
                                lambda t: t.min(), lambda t: t + 1, lambda t: t * 2, lambda t: t - 1,
                                lambda t: t ** 2, lambda t: -t, lambda t: t.clip(-1, 1)])
def test_integer_arithmetic_stays_integer(fn):
    assert fn(Tensor(INTS)).dtype == np.int64


# (left operand, right operand, PyTorch's result dtype)
PROMOTION = [
    (lambda: Tensor([3]), lambda: 0.1, np.float32),
    (lambda: Tensor([3]), lambda: 2, np.int64),
    (lambda: Tensor(np.array([3], np.int32)), lambda: 2, np.int32),
    (lambda: Tensor([3.0]), lambda: 0.1, np.float32),
    (lambda: Tensor([3.0]), lambda: np.float64(0.1), np.float32),
    (lambda: Tensor(np.array([3.0])), lambda: 0.1, np.float64),
    (lambda: Tensor([3.0]), lambda: Tensor(np.array([0.1])), np.float64),
    (lambda: Tensor([3]), lambda: Tensor([0.1]), np.float32),
    (lambda: Tensor(np.array([True])), lambda: 1, np.int64),
    (lambda: Tensor(np.array([True])), lambda: 0.5, np.float32),
    (lambda: Tensor(np.array([1], np.uint8)), lambda: Tensor(np.array([1], np.int64)), np.int64),
    (lambda: Tensor([3.0]), lambda: Tensor(np.array(0.5)), np.float32),
    (lambda: Tensor(np.array([3], np.int32)), lambda: Tensor(np.array(2)), np.int32),
    (lambda: Tensor(np.array([3])), lambda: Tensor(np.array(0.5)), np.float64),
    (lambda: Tensor(np.array(3.0)), lambda: Tensor(np.array(0.5, np.float32)), np.float64),
]


@pytest.mark.parametrize("op", [operator.add, operator.mul, operator.sub])
@pytest.mark.parametrize("case", range(len(PROMOTION)))
def test_binary_ops_promote_dtypes_as_pytorch_does(op, case):
    left, right, expected = PROMOTION[case]
    a, b = left(), right()
    for out in (op(a, b), op(b, a) if isinstance(b, Tensor) else None):
        if out is not None:
            assert out.dtype == expected, f"{a.dtype} with {b!r}: got {out.dtype}, PyTorch gives {np.dtype(expected)}"
    if torch is not None and not (op is operator.sub and a.dtype == np.bool_):  # torch refuses bool subtraction
        as_torch = (lambda v: torch.as_tensor(v.data) if isinstance(v, Tensor) else v)
        assert str(op(as_torch(a), as_torch(b)).dtype) == f"torch.{np.dtype(expected).name}"


def test_adding_a_float_to_an_integer_tensor_is_exact_in_float32():
    assert (Tensor([3]) + 0.1).item() == np.float32(3.1).item()


def test_float32_tensor_with_python_and_numpy_numbers_stays_float32():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for out in (x * 0.5, 0.5 * x, x / 3, 3 / x, x ** 2.0, x - np.float64(1), x.maximum(0.5), x.clamp(0.1, 1.5),
                tg.where(x > 1, x, 0.0), x.mean(), x.var(), x.logsumexp(), x.log_softmax()):
        assert out.dtype == np.float32


def test_astype_between_floats_is_differentiable_and_integer_casts_are_constants():
    x = Tensor(np.array([1.5, -2.5]), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.grad_fn is not None
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    assert x.astype(np.int64).requires_grad is False and x.double() is x


# ---- axes ---------------------------------------------------------------------------------------

def test_transpose_with_negative_axes_routes_the_gradient_correctly():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    x.transpose(-1, 0).backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(x.grad.data, [[1.0, 3.0], [2.0, 4.0]])


def test_transpose_with_negative_axes_on_three_axes():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = Tensor(a, requires_grad=True)
    upstream = np.random.default_rng(0).standard_normal((4, 2, 3))
    x.transpose(-1, 0, -2).backward(upstream)
    np.testing.assert_array_equal(x.grad.data, np.transpose(upstream, np.argsort((2, 0, 1))))


# method -> how it is called with an axis; each is checked with the axis written both ways
AXIS_OPS = {
    "sum": lambda t, ax: t.sum(axis=ax), "mean": lambda t, ax: t.mean(axis=ax), "max": lambda t, ax: t.max(axis=ax),
    "min": lambda t, ax: t.min(axis=ax), "var": lambda t, ax: t.var(axis=ax), "std": lambda t, ax: t.std(axis=ax),
    "softmax": lambda t, ax: t.softmax(axis=ax), "log_softmax": lambda t, ax: t.log_softmax(axis=ax),
    "logsumexp": lambda t, ax: t.logsumexp(axis=ax), "argmax": lambda t, ax: t.argmax(axis=ax),
    "squeeze": lambda t, ax: t.reshape(2, 3, 1, 4).squeeze(ax if ax in (2, -2) else 2),
    "cat": lambda t, ax: tg.cat([t, t * 2], axis=ax),
    "swapaxes": lambda t, ax: t.swapaxes(ax, 0), "flatten": lambda t, ax: t.flatten(ax),
    "sum over a tuple": lambda t, ax: t.sum(axis=(ax, 0) if ax % 3 != 0 else (ax,)),
}


# these take an axis of their 4-axis result (a new axis may go last): axis a is a - 4
NEW_AXIS_OPS = {"unsqueeze": lambda t, ax: t.unsqueeze(ax), "stack": lambda t, ax: tg.stack([t, t * 2], axis=ax)}


AXIS_CASES = [(name, axis) for name in sorted(AXIS_OPS) for axis in range(3)]
AXIS_CASES += [(name, axis) for name in sorted(NEW_AXIS_OPS) for axis in range(4)] + [("squeeze", 3)]


@pytest.mark.parametrize("name, axis", AXIS_CASES)
def test_negative_axes_mean_the_same_axis_in_value_and_gradient(name, axis):
    fn = AXIS_OPS.get(name) or NEW_AXIS_OPS[name]
    ndim = 4 if name in NEW_AXIS_OPS or name == "squeeze" else 3
    a = np.random.default_rng(axis).standard_normal((2, 3, 4))
    results = []
    for ax in (axis, axis - ndim):
        x = Tensor(a, requires_grad=True)
        out = fn(x, ax)
        if out.requires_grad:
            out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        results.append((out.data, None if x.grad is None else x.grad.data))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    if results[0][1] is not None:
        np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("method", ["sum", "mean", "max", "min", "var", "std", "logsumexp"])
def test_dim_and_keepdim_are_spellings_of_axis_and_keepdims(method):
    a = np.random.default_rng(1).standard_normal((2, 3))
    torch_style = getattr(Tensor(a), method)(dim=1, keepdim=True)
    numpy_style = getattr(Tensor(a), method)(axis=1, keepdims=True)
    assert torch_style.shape == (2, 1)
    np.testing.assert_array_equal(torch_style.data, numpy_style.data)


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (3, 1)])
def test_reductions_of_size_one_and_zero_d_tensors(shape):
    x = Tensor(np.full(shape, 2.0), requires_grad=True)
    for out in (x.sum(), x.mean(), x.max(), x.min(), x.logsumexp(axis=None) if shape else x.exp()):
        x.grad = None
        out.backward()
        assert x.grad.shape == shape and np.isfinite(x.grad.data).all()


def test_array_exponent_broadcasts_forward_and_backward():
    x = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    y = x ** np.array([1.0, 2.0, 3.0])
    assert y.shape == (2, 3)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1 + 2 + 3], [1 + 4 + 12]])


@pytest.mark.parametrize("call, pattern", [
    (lambda t: t.sum(axis=3), "axis 3 is out of range for a tensor with 3 dimensions"),
    (lambda t: t.sum(axis=(0, -3)), r"axis \(0, -3\) names the same axis twice"),
    (lambda t: t.transpose(0, 1), r"axes \(0, 1\) are not a permutation of the 3 axes.*use swapaxes"),
    (lambda t: t.unsqueeze(4), "unsqueeze: axis 4 is out of range for a tensor with 3 dimensions"),
    (lambda t: t.expand(5, 3, 4), r"expand: a tensor of shape \(2, 3, 4\) cannot be broadcast to shape \(5, 3, 4\)"),
    (lambda t: tg.cat([t, t[0]]), r"cat: shapes \[\(2, 3, 4\), \(3, 4\)\] differ"),
    (lambda t: tg.stack([t, t[0]]), r"stack: all tensors must have the same shape"),
    (lambda t: tg.cat(t), "cat takes a list or tuple of tensors"),
    (lambda t: tg.where(t, t, t), "where: condition must be boolean, got float64"),
])
def test_bad_axes_and_shapes_name_the_problem(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call(Tensor(np.zeros((2, 3, 4))))
