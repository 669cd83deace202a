"""Habits a PyTorch user brings, each from a case a new user tried: detach shares the version count,
.grad assignments are checked, std of a constant column has a finite gradient, retained gradients
accumulate, both argument spellings at once are refused, unsigned arithmetic wraps, dim= everywhere,
and changing a .grad in place never changes the vector the caller passed to backward(G)."""

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn


def test_an_inplace_change_through_detach_is_caught_at_backward():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (w * w).sum()
    d = w.detach()
    d += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation: input . of Mul"):
        y.backward()


@pytest.mark.parametrize("value, error, pattern", [
    (0, TypeError, "assigned grad must be a Tensor or None, got int"),
    (np.ones(2), TypeError, "assigned grad must be a Tensor or None, got ndarray"),
    (Tensor([1.0, 2.0, 3.0]), ValueError, (r"assigned grad has shape \(3,\) and dtype float32, but the tensor has "
                                           r"shape \(2,\) and dtype float32")),
    (Tensor(np.ones(2)), ValueError, "dtype float64, but the tensor has shape \\(2,\\) and dtype float32"),
])
def test_assigning_a_wrong_grad_is_refused_when_it_is_made(value, error, pattern):
    p = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(error, match=pattern):
        p.grad = value
    assert p.grad is None


def test_integer_data_cannot_be_stored_in_a_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match="cannot store int64 data in a tensor that requires grad"):
        p.data = np.array([1, 2])
    assert p.dtype == np.float32


def test_std_of_a_constant_column_has_a_zero_gradient_as_pytorch():
    data = np.array([[1.0, 2.0], [1.0, 5.0], [1.0, -1.0]])
    x = Tensor(data, requires_grad=True)
    x.std(axis=0).backward(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.data[:, 0], 0.0)  # the constant column
    centred = data[:, 1] - data[:, 1].mean()
    np.testing.assert_allclose(x.grad.data[:, 1], centred / (2 * np.std(data[:, 1], ddof=1)))
    x.grad = None
    ((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-5)).backward(np.arange(6.0).reshape(3, 2))
    assert np.isfinite(x.grad.data).all()


def test_retained_gradients_accumulate_over_backward_calls_as_pytorch():
    w = Tensor([1.0, 2.0], requires_grad=True)
    h = (w * 2).retain_grad()
    y = (h * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(h.grad.data, [8.0, 16.0])


@pytest.mark.parametrize("call", [lambda x: x.sum(axis=0, dim=1), lambda x: x.mean(keepdims=True, keepdim=False)])
def test_both_spellings_of_one_argument_are_refused(call):
    with pytest.raises(TypeError, match="got both (axis= and dim=|keepdims= and keepdim=)"):
        call(Tensor(np.ones((2, 3))))


def test_unsigned_integer_arithmetic_wraps_around_as_numpy_and_pytorch():
    img = Tensor(np.array([0, 1, 200], dtype=np.uint8))
    np.testing.assert_array_equal((255 - img).data, [255, 254, 55])
    np.testing.assert_array_equal((img - 128).data, np.array([0, 1, 200], np.uint8) - np.uint8(128))
    assert (-img).dtype == np.uint8


def test_inplace_graph_value_into_a_view_is_refused_rather_than_lost():
    w = Tensor([1.0, 2.0], requires_grad=True)
    buf = tg.zeros(2, 2)
    row = buf[0]
    with pytest.raises(RuntimeError, match="into a view .* is not supported"):
        row += w
    np.testing.assert_array_equal(buf.data, 0.0)


def test_flatten_and_a_whole_cnn_take_an_empty_batch():
    """A batch of 0 images (the tail of a filtered batch) goes through Flatten as (0, C*H*W), as in PyTorch,
    so a whole CNN runs forward and backward on it."""
    assert nn.Flatten()(Tensor(np.zeros((0, 8, 4, 4)))).shape == (0, 128)
    assert Tensor(np.zeros((0, 3, 2))).flatten(1).shape == (0, 6)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 2 * 2, 3, seed=0))
    out = net(Tensor(np.zeros((0, 1, 4, 4), np.float32)))
    assert out.shape == (0, 3)
    out.sum().backward()
    assert net[0].weight.grad.tolist() == np.zeros((4, 1, 3, 3)).tolist()


def test_inplace_on_a_convolution_output_says_it_is_part_of_the_graph():
    """A convolution's output array is a view of its product, an internal detail: the refusal names what
    matters to the user, that the tensor is part of the graph."""
    out = nn.Conv2d(8, 4, 3, padding=1, seed=0)(Tensor(np.ones((1, 8, 5, 5), np.float32)))
    with pytest.raises(RuntimeError, match=r"in-place \+= on a tensor that is part of the graph"):
        out += 1


def test_all_and_any_exist_as_the_truth_value_message_suggests():
    t = Tensor([1.0, 0.0])
    assert not bool(t.all()) and bool(t.any())
    assert (t == t).all()  # noqa: PLR0124 - elementwise ==, a Tensor, not a comparison of names


def test_indexing_with_an_empty_list_picks_nothing():
    x = Tensor(np.arange(3.0), requires_grad=True)
    assert x[[]].shape == (0,)


def test_clip_of_an_integer_tensor_with_float_bounds_is_float32():
    assert Tensor([1, 5]).clip(0, 2.5).dtype == np.float32
    assert Tensor([1, 5]).clip(0, 2).dtype == np.int64


def test_softmax_layers_and_functions_accept_dim():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3)))
    for out, reference in ((F.softmax(x, dim=0), x.softmax(axis=0)), (F.log_softmax(x, dim=0), x.log_softmax(0)),
                           (nn.Softmax(dim=0)(x), x.softmax(0))):
        np.testing.assert_array_equal(out.data, reference.data)


def _paths_to_a_leaf():
    """Ways the vector G of backward(G) can reach a leaf's .grad unchanged or as a view of it."""
    return {
        "the leaf itself": lambda a, b: a,
        "a + 0": lambda a, b: a + 0,
        "a * 1": lambda a, b: a * 1,
        "a + b": lambda a, b: a + b,
        "a reshaped and back": lambda a, b: a.reshape(3, 1).reshape(3),
    }


@pytest.mark.parametrize("path", list(_paths_to_a_leaf()))
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("create_graph", [False, True])
def test_changing_grad_in_place_leaves_the_callers_backward_vector_alone(path, as_tensor, create_graph):
    """backward(G) never hands the caller's G (array or Tensor) to a .grad: zero_grad(set_to_none=False) and
    clip_grad_norm_ write into .grad, and G must not change with it (PyTorch gives .grad its own storage),
    also when the gradients are recorded."""
    a, b = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    G = np.array([3.0, -4.0, 12.0])
    vector = Tensor(G.copy()) if as_tensor else G.copy()
    _paths_to_a_leaf()[path](a, b).backward(vector, create_graph=create_graph)
    nn.utils.clip_grad_norm_([a, b], 1.0)
    tg.optim.SGD([a, b], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(vector.data if as_tensor else vector, G)


def test_grad_outputs_of_autograd_grad_are_not_the_returned_gradients():
    a = Tensor(np.zeros(3), requires_grad=True)
    G = np.array([1.0, 2.0, 3.0])
    (ga,) = tg.autograd.grad(a + 0, a, grad_outputs=G)
    ga.data[...] = 0
    np.testing.assert_array_equal(G, [1.0, 2.0, 3.0])


def test_leaves_given_one_gradient_by_a_recorded_sweep_get_a_grad_each():
    """x + w sends one g to both; under create_graph each .grad is its own recorded copy, so clipping them
    together scales each once (PyTorch: both 1/sqrt(6) here), and the copies still lead back to the graph."""
    x, w = nn.Parameter(np.array([1.0, 2.0, 3.0])), nn.Parameter(np.array([4.0, 5.0, 6.0]))
    ((x + w) * 1.0).backward(Tensor(np.ones(3)), create_graph=True)  # Add hands both leaves one g
    assert x.grad is not w.grad and not np.shares_memory(x.grad.data, w.grad.data)
    nn.utils.clip_grad_norm_([x, w], 1.0)  # total norm sqrt(6): each scaled once
    np.testing.assert_allclose(x.grad.data, np.full(3, 1 / np.sqrt(6)), rtol=1e-6)
    np.testing.assert_allclose(w.grad.data, np.full(3, 1 / np.sqrt(6)), rtol=1e-6)
    a, b = nn.Parameter(np.array([1.0, 2.0, 3.0])), nn.Parameter(np.array([4.0, 5.0, 6.0]))
    ((a + b) * a).backward(Tensor(np.ones(3)), create_graph=True)
    (d2,) = tg.autograd.grad(b.grad.sum(), a)  # b.grad = a, a recorded copy: still differentiable
    np.testing.assert_array_equal(d2.data, np.ones(3))


@pytest.mark.parametrize("how", ["retain_grad", "autograd.grad"])
def test_a_retained_gradient_is_what_arrived_even_if_a_function_then_changes_it_in_place(how):
    """A Function's backward may scale its incoming gradient in place and return it. The gradient of y kept
    by retain_grad (or returned by autograd.grad for y) is the one that arrived at y, as in PyTorch:
    [3, 5] here, not the doubled [6, 10]."""
    class DoubleInPlace(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            g *= 2
            return g

    x = Tensor([1.0, 2.0], requires_grad=True)
    y = DoubleInPlace.apply(x * 1.0)
    loss = (y * Tensor([3.0, 5.0])).sum()
    if how == "retain_grad":
        y.retain_grad()
        loss.backward()
        got_y, got_x = y.grad, x.grad
    else:
        got_y, got_x = tg.autograd.grad(loss, [y, x])
    np.testing.assert_array_equal(got_y.data, [3.0, 5.0])
    np.testing.assert_array_equal(got_x.data, [6.0, 10.0])
