"""Layers and initialisers: shapes, PyTorch layout and init, gradcheck (float64) for every layer on
hypothesis-drawn inputs, Dropout's scaling and modes, the seed notebooks' init schemes."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import arrays, leaf

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn
from tinygrad_edu.nn import init

batch_and_features = st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))


def f64(module):
    """The module's parameters as float64 (gradcheck needs float64)."""
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


# ---- Linear -------------------------------------------------------------------------------------

def test_linear_uses_pytorch_layout_out_by_in():
    layer = nn.Linear(5, 3, seed=0)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    assert isinstance(layer.weight, nn.Parameter)


def test_a_large_linear_weight_lies_column_major_and_its_gradient_and_adam_state_keep_that_layout():
    """A W of at least COLUMN_MAJOR_FROM elements is (out, in) but stored as the transpose of a
    C-contiguous (in, out) array: the backward hands dL/dW over in that layout itself (no copy into
    .grad) and Adam's moments follow it. A smaller W is row-major, as PyTorch's."""
    from tinygrad_edu.autograd.backprop import backward
    from tinygrad_edu.nn.layers import COLUMN_MAJOR_FROM

    small = nn.Linear(5, 3, seed=0).weight.data
    assert small.flags.c_contiguous and not small.flags.f_contiguous
    layer = nn.Linear(COLUMN_MAJOR_FROM // 64, 64, seed=0)
    assert layer.weight.shape == (64, COLUMN_MAJOR_FROM // 64)
    assert layer.weight.data.flags.f_contiguous and not layer.weight.data.flags.c_contiguous
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, COLUMN_MAJOR_FROM // 64)).astype(np.float32))
    handed = {}
    backward((layer(x) * Tensor(rng.standard_normal((4, 64)).astype(np.float32))).sum(),
             visit=lambda node, g, grads: handed.setdefault(type(node).__name__, grads))
    gw = handed["Linear"][1]
    assert gw.flags.f_contiguous and not gw.flags.c_contiguous and gw.base is None
    assert layer.weight.grad.data.flags.f_contiguous
    np.testing.assert_allclose(layer.weight.grad.data, gw)
    opt = tg.optim.Adam(layer.parameters())
    opt.step()
    assert opt.state[layer.weight]["exp_avg"].flags.f_contiguous and layer.weight.data.flags.f_contiguous


@given(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 16))
def test_linear_values_and_gradients_do_not_depend_on_how_the_weight_lies_in_memory(dims, batched, bias, seed):
    """The same layer with W row-major (e.g. assigned by the user) and column-major (the default) gives
    the same output and gradients, through a random upstream gradient, batched input axes included."""
    n, n_in, n_out = dims
    rng = np.random.default_rng(seed)
    x_shape = (2, n, n_in) if batched else (n, n_in)
    x0, w0, b0 = rng.standard_normal(x_shape), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    upstream = Tensor(rng.standard_normal(x_shape[:-1] + (n_out,)))
    results = []
    for order in ("C", "F"):
        x = leaf(x0)
        w = Tensor(np.array(w0, order=order), requires_grad=True)
        b = leaf(b0) if bias else None
        assert w.data.flags.f_contiguous == (order == "F") or min(n_in, n_out) == 1  # (a vector is both)
        y = F.linear(x, w, b)
        (y * upstream).sum().backward()
        results.append([y.data, x.grad.data, w.grad.data] + ([b.grad.data] if bias else []))
    for row_major, column_major in zip(*results):
        np.testing.assert_allclose(column_major, row_major, rtol=1e-12, atol=1e-12)


def test_linear_second_derivatives_gradgradcheck_with_a_column_major_weight():
    rng = np.random.default_rng(1)
    w = Tensor(np.asfortranarray(rng.standard_normal((3, 4))), requires_grad=True)
    assert w.data.flags.f_contiguous and not w.data.flags.c_contiguous
    x, b = leaf(rng.standard_normal((2, 4))), leaf(rng.standard_normal(3))
    assert tg.gradgradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), (x, w, b))


def test_linear_computes_x_times_weight_transposed_plus_bias():
    layer = nn.Linear(4, 3, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((6, 4))
    np.testing.assert_allclose(layer(Tensor(x)).data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-12)


def test_linear_without_bias_registers_no_bias():
    layer = nn.Linear(4, 2, bias=False, seed=0)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=4, out_features=2, bias=False)"


def test_linear_default_init_is_pytorchs_uniform_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300, seed=0)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound
        assert np.abs(p.data).max() > 0.95 * bound  # fills the range
    # U(-b, b) has variance b^2 / 3
    assert abs(layer.weight.data.var() - bound ** 2 / 3) < 0.05 * bound ** 2 / 3
    assert abs(layer.weight.data.mean()) < 0.01 * bound


def test_linear_init_is_reproducible_from_a_seed_and_differs_across_seeds():
    a, b, c = nn.Linear(3, 2, seed=5), nn.Linear(3, 2, seed=5), nn.Linear(3, 2, seed=6)
    assert np.array_equal(a.weight.data, b.weight.data) and np.array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_manual_seed_makes_unseeded_layers_reproducible():
    init.manual_seed(123)
    first = nn.Linear(3, 2).weight.data.copy()
    init.manual_seed(123)
    assert np.array_equal(first, nn.Linear(3, 2).weight.data)


def test_linear_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="in_features=0"):
        nn.Linear(0, 3)


@given(batch_and_features, st.booleans(), st.integers(0, 2 ** 16))
def test_linear_gradcheck_input_weight_bias(dims, bias, seed):
    n, n_in, n_out = dims
    layer = nn.Linear(n_in, n_out, bias=bias, dtype=np.float64, seed=seed)
    x = leaf(np.random.default_rng(seed).standard_normal((n, n_in)))
    inputs = (x, layer.weight) + ((layer.bias,) if bias else ())
    assert tg.gradcheck(lambda *_: layer(x), inputs)


@given(st.integers(1, 3), st.integers(0, 2 ** 16))
def test_linear_gradcheck_on_batched_and_unbatched_inputs(n_in, seed):
    layer = nn.Linear(n_in, 2, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed)
    for shape in [(n_in,), (2, 3, n_in)]:
        x = leaf(rng.standard_normal(shape))
        assert layer(x).shape == shape[:-1] + (2,)
        assert tg.gradcheck(lambda t, *_: layer(t), (x, layer.weight, layer.bias))


# ---- activations, Flatten, Sequential, MLP --------------------------------------------------------

ELEMENTWISE = [
    (nn.ReLU(), lambda a: np.maximum(a, 0), (0.0,)),
    (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a)), ()),
    (nn.Tanh(), np.tanh, ()),
    (nn.LeakyReLU(0.2), lambda a: np.where(a > 0, a, 0.2 * a), (0.0,)),
    (nn.Identity(), lambda a: a, ()),
]


@pytest.mark.parametrize("module, reference, kinks", ELEMENTWISE, ids=lambda v: type(v).__name__)
@given(data=st.data())
def test_elementwise_activation_matches_numpy_and_gradchecks(module, reference, kinks, data):
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    x = leaf(data.draw(arrays(shape, -4.0, 4.0, kinks)))
    np.testing.assert_allclose(module(x).data, reference(x.data), rtol=1e-12, atol=1e-15)
    assert tg.gradcheck(module, (x,))


@pytest.mark.parametrize("module_class", [nn.Softmax, nn.LogSoftmax])
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), axis=st.sampled_from([0, 1, -1]), data=st.data())
def test_softmax_modules_gradcheck_along_their_axis(module_class, shape, axis, data):
    x = leaf(data.draw(arrays(shape, -5.0, 5.0)))
    module = module_class(axis)
    out = module(x).data
    probs = out if module_class is nn.Softmax else np.exp(out)
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=1e-12)
    assert tg.gradcheck(module, (x,))


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), data=st.data())
def test_flatten_keeps_the_batch_axis_and_gradchecks(shape, data):
    x = leaf(data.draw(arrays(shape)))
    assert nn.Flatten()(x).shape == (shape[0], shape[1] * shape[2])
    assert nn.Flatten(0)(x).shape == (shape[0] * shape[1] * shape[2],)
    assert tg.gradcheck(nn.Flatten(), (x,))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@given(n=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_mlp_gradchecks_through_every_parameter(activation, n, seed):
    model = nn.MLP([3, 4, 2], activation=activation, dtype=np.float64, seed=seed)
    x = leaf(np.random.default_rng(seed).standard_normal((n, 3)))
    if activation in ("relu", "leaky_relu"):  # finite differences must not straddle the kink at 0
        assume(np.abs(model[0](x).data).min() > 1e-3)
    assert tg.gradcheck(lambda *_: model(x), (x, *model.parameters()))


def test_mlp_structure_for_the_mnist_sizes():
    model = nn.MLP([784, 16, 16, 10], seed=0)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [p.shape for p in model.parameters()] == [(16, 784), (16,), (16, 16), (16,), (10, 16), (10,)]
    assert model(Tensor(np.zeros((2, 784), dtype=np.float32))).dtype == np.float32
    assert repr(model).startswith("MLP(\n  (0): Linear(in_features=784, out_features=16, bias=True)\n  (1): ReLU()")


def test_mlp_accepts_an_activation_class_and_rejects_unknown_names():
    assert isinstance(nn.MLP([2, 3, 1], activation=nn.Tanh, seed=0)[1], nn.Tanh)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 3, 1], activation="swish")
    with pytest.raises(ValueError, match="at least an input and an output size"):
        nn.MLP([5])


def test_mlp_seed_makes_the_whole_model_reproducible():
    a, b = nn.MLP([4, 5, 3], seed=1), nn.MLP([4, 5, 3], seed=1)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    c = nn.MLP([4, 5, 3], seed=2)
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


def test_sequential_applies_modules_in_order_and_supports_indexing():
    model = nn.Sequential(nn.Linear(2, 3, dtype=np.float64, seed=0), nn.ReLU(), nn.Linear(3, 1, dtype=np.float64,
                                                                                            seed=1))
    x = Tensor(np.array([[1.0, -2.0]]))
    np.testing.assert_array_equal(model(x).data, model[2](model[1](model[0](x))).data)
    assert len(model) == 3 and isinstance(model[-1], nn.Linear)
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is model[0]
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]


# ---- Dropout --------------------------------------------------------------------------------------

def test_dropout_zeroes_about_p_and_scales_survivors_to_keep_the_mean():
    drop = nn.Dropout(0.3, seed=0)
    out = drop(Tensor(np.ones((200, 500)))).data
    assert set(np.unique(out)) <= {0.0, 1 / 0.7}
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.02


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)))
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_with_p_one_drops_everything():
    assert np.all(nn.Dropout(1.0, seed=0)(Tensor(np.ones(5))).data == 0)


def test_dropout_is_reproducible_from_a_seed_and_draws_a_new_mask_per_call():
    a, b = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3)
    x = Tensor(np.ones(64))
    first = a(x).data
    assert np.array_equal(first, b(x).data)
    assert not np.array_equal(first, a(x).data)


def test_dropout_keeps_float32():
    assert nn.Dropout(0.5, seed=0)(Tensor(np.ones(4, dtype=np.float32))).dtype == np.float32


def test_dropout_rejects_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match=r"p=1.5"):
        nn.Dropout(1.5)


@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), p=st.floats(0.1, 0.9), seed=st.integers(0, 99),
       data=st.data())
def test_dropout_gradchecks_with_a_fixed_mask(shape, p, seed, data):
    x = leaf(data.draw(arrays(shape)))
    # the same seed on every call gives the same mask, so the function is deterministic
    assert tg.gradcheck(lambda t: F.dropout(t, p, seed=seed), (x,))
    mask = F.dropout(Tensor(np.ones(shape)), p, seed=seed).data
    x.grad = None
    F.dropout(x, p, seed=seed).sum().backward()
    np.testing.assert_allclose(x.grad.data, mask)  # gradient flows only through kept units, scaled


# ---- init -----------------------------------------------------------------------------------------

def fresh(shape, dtype=np.float64):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


def test_init_functions_fill_in_place_and_keep_dtype():
    for fn in [init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_uniform_, init.zeros_,
               init.epsilon_uniform_, init.standard_normal_, init.centered_uniform_, init.fan_in_uniform_]:
        p = fresh((6, 5), np.float32)
        array = p.data
        assert fn(p) is p and p.data is array and p.dtype == np.float32, fn.__name__


def test_init_is_reproducible_from_seed_or_rng():
    a = init.normal_(fresh((3, 3)), seed=4).data.copy()
    b = init.normal_(fresh((3, 3)), rng=np.random.default_rng(4)).data
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="either seed= or rng="):
        init.normal_(fresh(2), seed=1, rng=np.random.default_rng(1))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        init.normal_(fresh(2), rng=1)


def test_uniform_and_normal_have_the_requested_distribution():
    u = init.uniform_(fresh(100_000), -2.0, 3.0, seed=0).data
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.02
    n = init.normal_(fresh(100_000), 1.0, 2.0, seed=0).data
    assert abs(n.mean() - 1.0) < 0.03 and abs(n.std() - 2.0) < 0.03


def test_xavier_and_kaiming_bounds():
    w = init.xavier_uniform_(fresh((300, 200)), seed=0).data
    bound = math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = init.kaiming_uniform_(fresh((300, 200)), nonlinearity="relu", seed=0).data
    bound = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = init.kaiming_uniform_(fresh((300, 200)), mode="fan_out", nonlinearity="relu", seed=0).data
    assert np.abs(w).max() <= math.sqrt(2) * math.sqrt(3 / 300)


def test_calculate_gain_matches_pytorchs_table():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        init.calculate_gain("gelu")


def test_fan_based_init_on_a_1d_tensor_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.xavier_uniform_(fresh(4))


def test_notebook_000_centered_uniform_is_u01_minus_half_times_factor():
    w = init.centered_uniform_(fresh((10, 784)), factor=0.5, seed=0).data
    expected = (np.random.default_rng(0).random((10, 784)) - 0.5) * 0.5
    np.testing.assert_array_equal(w, expected)
    assert np.abs(w).max() <= 0.25


def test_notebook_002_fan_in_uniform():
    w = init.fan_in_uniform_(fresh((30, 784)), seed=0).data
    assert np.abs(w).max() <= 1 / math.sqrt(784) and np.abs(w).max() > 0.99 / math.sqrt(784)
    b = init.fan_in_uniform_(fresh(30), fan_in=784, seed=0).data
    assert np.abs(b).max() <= 1 / math.sqrt(784)


def test_notebook_003_ng_epsilon_is_sqrt6_over_sqrt_lin_plus_lout():
    w = init.epsilon_uniform_(fresh((25, 400)), seed=0).data
    epsilon = math.sqrt(6) / math.sqrt(400 + 25)
    assert np.abs(w).max() <= epsilon and np.abs(w).max() > 0.99 * epsilon


def test_notebook_004_standard_normal():
    w = init.standard_normal_(fresh((300, 300)), seed=0).data
    np.testing.assert_array_equal(w, np.random.default_rng(0).standard_normal((300, 300)))
    assert abs(w.std() - 1) < 0.01


def test_init_rejects_non_tensors():
    with pytest.raises(TypeError, match="fill a Parameter or Tensor in place"):
        init.zeros_(np.zeros(3))
