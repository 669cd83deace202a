"""The Tensor surface promised by the API contract: dtypes, attributes, conversions, graph controls."""

import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor


def test_lists_and_scalars_become_float32_and_numpy_floats_keep_their_dtype():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(3.5).dtype == np.float32
    assert Tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert Tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_integer_data_stays_integer_and_cannot_require_grad():
    t = Tensor([1, 2, 3])
    assert t.dtype.kind == "i"
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients.*int64"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.arange(3)).requires_grad_()


def test_attributes_describe_the_array():
    t = Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    assert (t.shape, t.ndim, t.size, t.dtype, t.requires_grad, t.is_leaf, t.grad) == (
        (2, 3), 2, 6, np.float32, True, True, None)
    y = t * 2
    assert not y.is_leaf and y.requires_grad


def test_conversions_to_numpy_and_python():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(np.asarray(t), np.ndarray) and np.asarray(t).shape == (2, 2)
    assert t.numpy() is t.data
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert Tensor([[7.0]]).item() == 7.0
    assert len(t) == 2
    with pytest.raises(ValueError, match=r"item\(\) needs a one-element tensor.*\(2, 2\)"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))


def test_repr_shows_values_dtype_and_graph_state():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.], dtype=float32)"
    x = Tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=Mul" in repr(x * 2)


def test_grad_is_a_graphless_tensor_of_the_leafs_shape_and_dtype():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, Tensor) and x.grad.shape == (2, 3) and x.grad.dtype == np.float64
    assert x.grad.is_leaf and not x.grad.requires_grad


def test_intermediate_tensors_keep_grad_only_when_retained():
    x = Tensor([1.0, 2.0], requires_grad=True)
    hidden, kept = x * 3, (x * 2).retain_grad()
    (hidden * kept).sum().backward()
    assert hidden.grad is None
    np.testing.assert_allclose(kept.grad.data, [3.0, 6.0])


def test_second_backward_without_retain_graph_raises_a_clear_error():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 8.0])


def test_backward_frees_saved_arrays():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.sum().backward()
    assert y.grad_fn.saved is None


def test_backward_on_a_non_scalar_without_grad_names_the_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"one-element tensor.*\(2, 3\)"):
        (x * 2).backward()


def test_backward_with_a_grad_of_the_wrong_shape_names_both_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    assert sys.getrecursionlimit() < 100_000
    x = Tensor(np.array(2.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_no_grad_records_nothing_and_restores_the_mode():
    x = Tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @tg.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad


def test_detach_cuts_the_graph_but_shares_data():
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])


def test_zero_grad_and_requires_grad_flags():
    x = Tensor([1.0], requires_grad=True)
    (x * 2).sum().backward()
    x.zero_grad()
    assert x.grad is None
    assert x.requires_grad_(False).requires_grad is False
    with pytest.raises(RuntimeError, match="leaf"):
        (Tensor([1.0], requires_grad=True) * 2).requires_grad_(False)


def test_only_inputs_that_need_gradients_get_them():
    x, c = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_shared_gradient_arrays_are_not_aliased_between_leaves():
    """a + b passes the same gradient to both; each leaf must own its .grad."""
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.data[0] == 1.0


def test_operators_accept_numbers_arrays_and_tensors_on_either_side():
    x = Tensor([2.0, 4.0])
    for value in (1 + x, x + 1, 1 - x, x - 1, 2 * x, x * 2, 8 / x, x / 2, -x, x ** 2, 2 ** x,
                  np.ones(2, np.float32) + x, x @ np.ones(2, np.float32)):
        assert isinstance(value, Tensor)
    np.testing.assert_allclose((8 / x).data, [4.0, 2.0])
    np.testing.assert_allclose((1 - x).data, [-1.0, -3.0])
    np.testing.assert_allclose((2 ** x).data, [4.0, 16.0], rtol=1e-6)


def test_comparisons_and_argmax_return_plain_tensors():
    x = Tensor([[1.0, 5.0, 3.0]], requires_grad=True)
    for result in (x == 5.0, x != 5.0, x < 3.0, x <= 3.0, x > 3.0, x >= 3.0):
        assert result.dtype == np.bool_ and not result.requires_grad
    assert (x > 2.0).tolist() == [[False, True, True]]
    assert x.argmax(axis=1).tolist() == [1] and x.argmax().item() == 1
    assert not x.argmax().requires_grad


def test_shape_methods_follow_numpy():
    x = Tensor(np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert x.transpose().shape == (4, 3, 2) and x.transpose(1, 0, 2).shape == (3, 2, 4)
    assert x.T.shape == (4, 3, 2)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x[0, 1:, ::2].shape == (2, 2) and x[Tensor(np.array([1, 1]))].shape == (2, 3, 4)
    assert x[[0, 1], 0].shape == (2, 4)


def test_boolean_mask_indexing_scatters_gradient_back():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    x[x.data > 0].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 1.0])


def test_constructors_make_float32_by_default_and_are_seedable():
    assert Tensor.zeros(2, 3).shape == (2, 3) and Tensor.zeros((2, 3)).dtype == np.float32
    assert Tensor.ones(4, dtype=np.float64).dtype == np.float64
    assert Tensor.zeros(2, requires_grad=True).requires_grad
    np.testing.assert_array_equal(Tensor.randn(3, 2, seed=7).data, Tensor.randn(3, 2, seed=7).data)
    u = Tensor.uniform(1000, low=-2.0, high=-1.0, seed=1)
    assert u.dtype == np.float32 and -2.0 <= u.data.min() and u.data.max() < -1.0


def test_user_defined_function_is_a_first_class_primitive():
    class Cube(tg.Function):
        """z = x^3, dz/dx = 3x^2."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return 3 * x * x * g

    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y.grad_fn, Cube) and y.grad_fn.needs_input_grad == (True,)
    assert tg.gradcheck(Cube.apply, (x,))


def test_function_returning_a_wrong_gradient_shape_is_named():
    class Broken(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    with pytest.raises(RuntimeError, match=r"Broken.backward returned a gradient of shape \(\) .* \(3,\)"):
        Broken.apply(Tensor(np.ones(3), requires_grad=True)).sum().backward()


def test_a_refused_second_backward_leaves_gradients_untouched():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (y * 2).sum().backward()
    before = x.grad.data.copy()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (y + x).sum().backward()  # x's direct path is fine, y's graph is freed
    np.testing.assert_array_equal(x.grad.data, before)


def test_function_apply_accepts_plain_arrays_as_constants():
    class Double(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    out = Double.apply(np.array([1.0, 2.0]))
    assert isinstance(out, Tensor) and out.tolist() == [2.0, 4.0] and not out.requires_grad
    y = Double.apply(Tensor(np.array([1.0]), requires_grad=True))
    assert repr(y.grad_fn) == "<Double node>"


def test_a_function_without_backward_says_so():
    class ForwardOnly(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x + 1

    y = ForwardOnly.apply(Tensor(np.array([1.0]), requires_grad=True))
    with pytest.raises(NotImplementedError,
                       match=r"ForwardOnly\.backward is not defined.* backward\(ctx, grad_output\)"):
        y.sum().backward()
    with pytest.raises(NotImplementedError, match=r"Function\.forward is not defined.* forward\(ctx, \*arrays\)"):
        tg.Function.forward(None, np.ones(1))
