"""Results behave as a PyTorch user touches them: through NumPy and Python, not only through .data.

Covers: 0-d results are arrays everywhere; one-element tensors convert (bool, float, int, format,
index); many elements refuse by name; np.* on a tensor runs the Tensor op or refuses to drop a graph;
Tensor(ndarray) copies and from_numpy shares.
"""

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
LABELS = np.array([2, 0])

# Every way a result can end up 0-d: full reductions, picking one element, vector products, losses.
ZERO_D = {
    "sum": lambda x: x.sum(), "mean": lambda x: (x * 2).mean(), "max": lambda x: x.max(), "min": lambda x: x.min(),
    "var": lambda x: x.var(), "std": lambda x: x.std(), "logsumexp": lambda x: x.reshape(-1).logsumexp(),
    "index": lambda x: x[0, 1], "vector @ vector": lambda x: x[0] @ x[1],
    "cross_entropy": lambda x: F.cross_entropy(x, LABELS), "mse_loss": lambda x: F.mse_loss(x, np.zeros((2, 3))),
    "nll_loss": lambda x: F.nll_loss(x.log_softmax(axis=1), LABELS),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, np.ones((2, 3))),
    "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), np.ones((2, 3))),
    "np.sum": lambda x: np.sum(x), "np.mean": lambda x: np.mean(x), "sum of squares": lambda x: (x ** 2).sum(),
}


@pytest.mark.parametrize("name", sorted(ZERO_D))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_d_results_are_arrays_that_numpy_and_python_accept(name, dtype):
    x = Tensor(X.astype(dtype), requires_grad=True)
    result = ZERO_D[name](x)
    assert result.shape == () and type(result.data) is np.ndarray
    assert type(np.asarray(result)) is np.ndarray and np.asarray(result).dtype == dtype
    assert float(result) == result.item() == np.asarray(result).item()
    assert bool(result < float(result) + 1) is True
    assert f"{result:.3f}" == f"{result.item():.3f}"
    result.backward()
    assert x.grad.dtype == dtype and type(x.grad.data) is np.ndarray


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
def test_one_element_tensors_convert_like_python_numbers(shape):
    zero, two = Tensor(np.zeros(shape)), Tensor(np.full(shape, 2.5))
    assert bool(zero) is False and bool(two) is True
    assert float(two) == 2.5 and int(two) == 2
    assert format(two, ".2f") == "2.50" and f"{two:>6.1f}" == "   2.5"
    assert [10, 20, 30][Tensor(np.ones(shape, dtype=np.int64))] == 20  # __index__ for integer tensors
    best = Tensor(3.0)
    assert (two < best) and not (two > best)  # `if loss < best:` works


@pytest.mark.parametrize("convert, pattern", [
    (bool, r"truth value of a tensor of shape \(2,\) \(2 elements\) is ambiguous"),
    (float, r"float\(\) needs a one-element tensor, this one has shape \(2,\)"),
    (int, r"int\(\) needs a one-element tensor, this one has shape \(2,\)"),
    (lambda t: format(t, ".3f"), r"format\(\.\.\., '\.3f'\) needs a one-element tensor, this one has shape \(2,\)"),
])
def test_conversions_of_many_elements_raise_naming_the_shape(convert, pattern):
    with pytest.raises((RuntimeError, ValueError), match=pattern):
        convert(Tensor([0.0, 1.0]))


def test_empty_tensor_has_no_truth_value():
    with pytest.raises(RuntimeError, match=r"shape \(0,\) \(0 elements\) is ambiguous"):
        bool(Tensor(np.zeros(0)))


def test_float_tensor_cannot_be_an_index():
    with pytest.raises(TypeError, match="only integer tensors can be used as an index, this one is float32"):
        [1, 2][Tensor(1.0)]


def test_len_and_iteration_of_a_zero_d_tensor_raise():
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(Tensor(1.0))


def test_iterating_a_tensor_yields_its_rows_with_gradients():
    x = Tensor(X, requires_grad=True)
    rows = list(x)
    assert [r.shape for r in rows] == [(3,), (3,)]
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 2, 2], [1, 1, 1]])


def test_format_without_spec_is_the_repr():
    t = Tensor([1.0, 2.0])
    assert f"{t}" == repr(t)


@pytest.mark.parametrize("value, expected_dtype", [([1.0, 2.0], np.float32), (3, np.float32),
                                                   (np.arange(3.0), np.float64), (Tensor(np.ones(2)), np.float64)])
def test_assigning_data_stores_an_ndarray(value, expected_dtype):
    """Arrays and tensors are stored with their dtype; lists and numbers take the tensor's (float32 here)."""
    t = Tensor(np.zeros(2, dtype=np.float32))
    t.data = value
    assert type(t.data) is np.ndarray and t.data.dtype == expected_dtype


def test_assigning_non_numeric_data_is_refused():
    t = Tensor(np.zeros(2))
    with pytest.raises(TypeError, match="not numeric array data"):
        t.data = np.array(["a", "b"])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_setting_requires_grad_on_an_integer_tensor_is_refused(dtype):
    t = Tensor(np.array([1, 2]).astype(dtype))
    with pytest.raises(TypeError, match=f"only floating-point tensors can require gradients; this tensor is "
                                        f"{np.dtype(dtype)}"):
        t.requires_grad = True
    assert t.requires_grad is False


def test_switching_requires_grad_off_on_an_op_output_is_refused():
    y = Tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="use detach\\(\\) instead"):
        y.requires_grad = False


def test_tensor_of_an_array_copies_it_and_from_numpy_shares_it():
    weights = np.array([1.0, 2.0])
    copied, shared = Tensor(weights, requires_grad=True), Tensor.from_numpy(weights)
    with tg.no_grad():
        copied -= 1.0
        shared *= 3.0
    np.testing.assert_array_equal(weights, [3.0, 6.0])  # only the shared one wrote through
    np.testing.assert_array_equal(copied.data, [0.0, 1.0])


def test_training_a_layer_never_changes_the_users_weight_array():
    w = np.ones((1, 2), dtype=np.float32)
    layer = nn.Linear(2, 1)
    layer.weight = nn.Parameter(w)
    opt = tg.optim.SGD(layer.parameters(), lr=0.5)
    F.mse_loss(layer(Tensor(np.ones((1, 2), dtype=np.float32))), np.zeros((1, 1), dtype=np.float32)).backward()
    opt.step()
    assert not np.array_equal(layer.weight.data, w) and np.array_equal(w, np.ones((1, 2)))


def test_from_numpy_refuses_anything_but_an_array():
    with pytest.raises(TypeError, match="from_numpy expects a numpy.ndarray, got list"):
        Tensor.from_numpy([1.0, 2.0])


# NumPy ufuncs and functions with a Tensor op: they return it, recorded like the method
NUMPY_CALLS = {
    "np.exp": (lambda t: np.exp(t), lambda a: np.exp(a)), "np.log": (lambda t: np.log(t + 3), lambda a: np.log(a + 3)),
    "np.sqrt": (lambda t: np.sqrt(t + 3), lambda a: np.sqrt(a + 3)), "np.tanh": (np.tanh, np.tanh),
    "np.sin": (np.sin, np.sin), "np.cos": (np.cos, np.cos), "np.abs": (np.abs, np.abs),
    "np.square": (np.square, np.square), "np.negative": (np.negative, np.negative),
    "np.add(t, 1)": (lambda t: np.add(t, 1), lambda a: a + 1), "np.add(1, t)": (lambda t: np.add(1, t), lambda a: 1 + a),
    "ndarray + t": (lambda t: np.ones(3) + t, lambda a: 1 + a), "ndarray * t": (lambda t: np.arange(3.0) * t,
                                                                             lambda a: np.arange(3.0) * a),
    "ndarray - t": (lambda t: np.ones(3) - t, lambda a: 1 - a), "ndarray / t": (lambda t: np.ones(3) / (t + 3),
                                                                              lambda a: 1 / (a + 3)),
    "np.maximum": (lambda t: np.maximum(t, 0.1), lambda a: np.maximum(a, 0.1)),
    "np.power": (lambda t: np.power(t, 2), lambda a: a ** 2), "np.matmul": (lambda t: np.matmul(t, t), lambda a: a @ a),
    "np.sum": (np.sum, np.sum), "np.mean(axis=0)": (lambda t: np.mean(t, axis=0), lambda a: np.mean(a, axis=0)),
    "np.max": (np.max, np.max), "np.min": (np.min, np.min), "np.var": (np.var, np.var), "np.std": (np.std, np.std),
    "np.reshape": (lambda t: np.reshape(t, (3, 1)), lambda a: a.reshape(3, 1)),
    "np.transpose": (lambda t: np.transpose(t), lambda a: a.T),
    "np.expand_dims": (lambda t: np.expand_dims(t, 0), lambda a: a[None]),
    "np.concatenate": (lambda t: np.concatenate([t, t]), lambda a: np.concatenate([a, a])),
    "np.stack": (lambda t: np.stack([t, t], axis=1), lambda a: np.stack([a, a], axis=1)),
    "np.clip": (lambda t: np.clip(t, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CALLS))
def test_numpy_functions_on_a_tensor_run_the_tensor_op_and_keep_the_graph(name):
    call, reference = NUMPY_CALLS[name]
    a = np.array([0.3, -1.2, 2.0])
    t = Tensor(a, requires_grad=True)
    out = call(t)
    assert isinstance(out, Tensor) and out.grad_fn is not None, f"{name} dropped the graph"
    np.testing.assert_allclose(out.data, reference(a))
    out.sum().backward()
    assert t.grad is not None


@pytest.mark.parametrize("call, name", [(lambda t: np.linalg.norm(t), "np.linalg.norm"),
                                        (lambda t: np.cumsum(t), "np.cumsum"),
                                        (lambda t: np.arctan(t), "np.arctan"),
                                        (lambda t: np.add(t, 1, out=np.empty(3)), "np.add")])
def test_numpy_functions_without_a_tensor_op_refuse_to_drop_a_graph(call, name):
    with pytest.raises(TypeError, match=f"{name} has no Tensor op here, and running it on the array would drop "
                                        "the graph"):
        call(Tensor([3.0, 4.0, 0.0], requires_grad=True))


def test_numpy_functions_without_a_tensor_op_run_on_tensors_without_a_graph():
    assert np.linalg.norm(Tensor([3.0, 4.0])) == 5.0
    assert np.allclose(Tensor([1.0, 2.0]), [1.0, 2.0])
    np.testing.assert_allclose(Tensor([1.0, 2.0]), [1.0, 2.0])


def test_asarray_gives_the_array_and_honours_dtype_and_copy():
    t = Tensor(np.array([1.0, 2.0]))
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.array(t, copy=True) is not t.data
