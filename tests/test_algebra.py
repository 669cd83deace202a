"""Algebraic properties that any correct autograd must satisfy, checked on hypothesis-drawn inputs."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, leaf, shapes

import tinygrad_edu as tg
from tinygrad_edu import Tensor

matrices = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(lambda s: arrays(s, -10, 10))


@given(matrices, st.sampled_from([0, 1, -1]))
def test_softmax_sums_to_one_along_its_axis(x, axis):
    s = Tensor(x).softmax(axis=axis).data
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-12)
    assert (s >= 0).all()


@given(matrices, st.sampled_from([0, 1, -1]))
def test_log_softmax_equals_log_of_softmax(x, axis):
    t = Tensor(x)
    np.testing.assert_allclose(t.log_softmax(axis=axis).data, np.log(t.softmax(axis=axis).data), rtol=1e-9, atol=1e-12)


@given(shapes().flatmap(arrays))
def test_gradient_of_sum_is_ones(x):
    t = leaf(x)
    t.sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.ones_like(x))


@given(st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(arrays(s), arrays(s), arrays(s), st.floats(-3, 3), st.floats(-3, 3))))
def test_backward_is_linear_in_the_seed_gradient(case):
    """J^T (a u + b v) = a J^T u + b J^T v: the sweep computes a vector-Jacobian product."""
    x, u, v, a, b = case

    def grad_for(seed):
        t = leaf(x)
        (t.tanh() * t).exp().backward(seed)
        return t.grad.data

    np.testing.assert_allclose(grad_for(a * u + b * v), a * grad_for(u) + b * grad_for(v), rtol=1e-9, atol=1e-9)


@given(shapes().flatmap(arrays))
def test_gradients_of_a_reused_node_accumulate(x):
    """x feeds Mul twice, so both paths add: d(x*x)/dx = 2x."""
    t = leaf(x)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.data, 2 * x)


@given(shapes().flatmap(arrays))
def test_a_diamond_graph_sums_both_paths(x):
    """y = 3x feeds two branches that meet again: dL/dx = 3 * (2y + 1) for L = sum(y*y + y)."""
    t = leaf(x)
    y = t * 3
    (y * y + y).sum().backward()
    np.testing.assert_allclose(t.grad.data, 3 * (2 * 3 * x + 1), rtol=1e-12)


@given(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(arrays(s[:2]), arrays(s[1:]), arrays((s[2], s[0])))))
def test_transpose_of_a_product_in_value_and_gradient(case):
    """(a @ b).T == b.T @ a.T, and both sides give a and b the same gradients."""
    a_, b_, seed = case
    a1, b1, a2, b2 = leaf(a_), leaf(b_), leaf(a_), leaf(b_)
    left, right = (a1 @ b1).T, b2.T @ a2.T
    np.testing.assert_allclose(left.data, right.data, rtol=1e-12)
    left.backward(seed)
    right.backward(seed)
    np.testing.assert_allclose(a1.grad.data, a2.grad.data, rtol=1e-12)
    np.testing.assert_allclose(b1.grad.data, b2.grad.data, rtol=1e-12)


@given(shapes(min_dims=1).flatmap(arrays))
def test_gradients_accumulate_across_backward_calls(x):
    t = leaf(x)
    (t * 2).sum().backward()
    (t * 3).sum().backward()
    np.testing.assert_allclose(t.grad.data, np.full_like(x, 5.0))


def test_gradient_of_max_is_split_evenly_among_ties():
    t = leaf([1.0, 3.0, 3.0, 2.0])
    t.max().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_repeated_integer_indices_accumulate_their_gradients():
    t = leaf([10.0, 20.0, 30.0])
    t[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(t.grad.data, [3.0, 0.0, 1.0])


def test_broadcast_operand_gradient_is_summed_to_its_shape():
    a, b = leaf(np.ones((4, 3))), leaf(np.ones((3,)))
    (a * b).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad.data, [4.0, 4.0, 4.0])
    column = leaf(np.ones((4, 1)))
    (a + column).sum().backward()
    np.testing.assert_array_equal(column.grad.data, np.full((4, 1), 3.0))


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return g * x  # should be 2 * x * g

    x = leaf([0.5, -1.5, 2.0])
    try:
        tg.gradcheck(WrongSquare.apply, (x,))
    except tg.GradcheckError as err:
        message = str(err)
    else:
        raise AssertionError("gradcheck accepted a wrong derivative")
    assert "input 0" in message and "analytic" in message and "numeric" in message
    assert "element (2,)" in message  # the worst element: |x - 2x| is largest where |x| is
