"""A user-defined primitive that breaks the Function contract gets a clear error, never a silently
missing or misrouted gradient."""

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor


class OneGradientForTwoInputs(tg.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * y

    @staticmethod
    def backward(ctx, g):
        return g  # forgets y's gradient


class ThreeGradientsForTwoInputs(tg.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, g):
        return g, g, g


class TrailingNone(tg.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, g):
        return g, g, None  # an extra None (for a non-tensor option) is harmless


class ListOfGradients(tg.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, g):
        return [g, g]


class ForwardReturnsTensor(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return Tensor(x * 2)


class ForwardReturnsFloat(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return float(x.sum())


class ForwardReturnsNumpyScalar(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum()  # np.float64, as NumPy reductions return

    @staticmethod
    def backward(ctx, g):
        return np.ones(3) * g


def _inputs():
    return Tensor(np.ones(3), requires_grad=True), Tensor(np.full(3, 2.0), requires_grad=True)


@pytest.mark.parametrize("fn, error, pattern", [
    (OneGradientForTwoInputs, RuntimeError, ("OneGradientForTwoInputs.backward returned one gradient, but forward "
                                             "took 2 inputs")),
    (ThreeGradientsForTwoInputs, RuntimeError, ("ThreeGradientsForTwoInputs.backward returned 3 gradients, but forward "
                                                "took 2 inputs")),
    (ListOfGradients, TypeError, "ListOfGradients.backward returned a list; return a tuple"),
])
def test_wrong_number_or_kind_of_gradients_is_an_error(fn, error, pattern):
    x, y = _inputs()
    with pytest.raises(error, match=pattern):
        fn.apply(x, y).sum().backward()
    assert x.grad is None and y.grad is None


def test_a_trailing_none_gradient_is_accepted():
    x, y = _inputs()
    TrailingNone.apply(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(3))


@pytest.mark.parametrize("fn, pattern", [
    (ForwardReturnsTensor, "ForwardReturnsTensor.forward returned a Tensor; forward works on NumPy arrays"),
    (ForwardReturnsFloat, "ForwardReturnsFloat.forward must return a NumPy array, got float"),
])
def test_forward_must_return_an_array(fn, pattern):
    with pytest.raises(TypeError, match=pattern):
        fn.apply(_inputs()[0])


def test_a_numpy_scalar_from_forward_becomes_a_zero_d_array():
    x = _inputs()[0]
    out = ForwardReturnsNumpyScalar.apply(x)
    assert type(out.data) is np.ndarray and out.shape == ()
    out.backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(3))
