"""nn.utils.clip_grad_norm_: the total norm it returns and the scaling it applies, against hand
arithmetic and (when torch is installed) torch.nn.utils.clip_grad_norm_; accepted inputs and errors.
parameters_to_vector / vector_to_parameters: values in row-major order whatever the memory layout (a large
nn.Linear weight lies column by column), written back in place, as torch.nn.utils orders them."""

import math

import numpy as np
import pytest

from tinygrad_edu import Tensor, nn


def params_with_grads(*grads, dtype=np.float64):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g), dtype=dtype))
        p.grad = Tensor(np.asarray(g, dtype=dtype))
        params.append(p)
    return params


def test_the_returned_norm_is_the_2_norm_of_all_gradients_laid_end_to_end():
    params = params_with_grads([3.0, 4.0], [[12.0]])  # sqrt(9 + 16 + 144) = 13
    total = nn.utils.clip_grad_norm_(params, max_norm=100.0)
    assert isinstance(total, Tensor) and total.shape == () and total.item() == 13.0


def test_gradients_above_max_norm_are_scaled_by_max_norm_over_total_plus_1e_6():
    params = params_with_grads([3.0, 4.0], [[12.0]])
    total = nn.utils.clip_grad_norm_(params, max_norm=2.0)
    coef = 2.0 / (13.0 + 1e-6)
    assert total.item() == 13.0
    assert params[0].grad.data.tolist() == [3.0 * coef, 4.0 * coef] and params[1].grad.data.tolist() == [[12.0 * coef]]
    clipped = math.sqrt(sum(float((p.grad.data ** 2).sum()) for p in params))
    assert clipped == pytest.approx(2.0 * 13.0 / (13.0 + 1e-6), rel=1e-15) and clipped < 2.0


def test_gradients_within_max_norm_are_left_bit_for_bit():
    params = params_with_grads([0.1, -0.2], [0.3])
    before = [p.grad.data.copy() for p in params]
    nn.utils.clip_grad_norm_(params, max_norm=1.0)
    assert all(np.array_equal(p.grad.data, b) for p, b in zip(params, before))


@pytest.mark.parametrize("norm_type, expected", [(1.0, 3 + 4 + 12), (3, (27 + 64 + 1728) ** (1 / 3)),
                                                 (float("inf"), 12.0), ("inf", 12.0)], ids=str)
def test_other_norm_types(norm_type, expected):
    params = params_with_grads([3.0, -4.0], [[-12.0]])
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert total.item() == pytest.approx(expected, rel=1e-15)
    assert params[1].grad.data.item() == pytest.approx(-12.0 / (expected + 1e-6), rel=1e-15)


def test_a_single_tensor_a_generator_and_a_module_parameters_are_accepted():
    (p,) = params_with_grads([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == 5.0
    params = params_with_grads([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(iter(params), 1.0).item() == 5.0
    assert params[0].grad.data.tolist() == [3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)]  # the generator's items clipped
    model = nn.Linear(2, 1, seed=0)
    model.weight.grad = Tensor(np.array([[6.0, 8.0]], dtype=np.float32))
    assert nn.utils.clip_grad_norm_(model.parameters(), 1.0).item() == 10.0  # bias.grad is None: skipped


def test_parameters_without_gradients_are_skipped_and_none_at_all_gives_zero():
    with_grad, without = params_with_grads([3.0, 4.0])[0], nn.Parameter(np.ones(2))
    assert nn.utils.clip_grad_norm_([with_grad, without], 1.0).item() == 5.0
    assert without.grad is None
    total = nn.utils.clip_grad_norm_([without], 1.0)
    assert total.item() == 0.0 and total.dtype == np.float32 and without.grad is None


def test_float32_gradients_stay_float32_in_the_same_arrays():
    params = params_with_grads([3.0, 4.0], [12.0], dtype=np.float32)
    arrays = [p.grad.data for p in params]
    total = nn.utils.clip_grad_norm_(params, 1.0)
    assert total.dtype == np.float32 and total.item() == 13.0
    assert all(p.grad.data is a and a.dtype == np.float32 for p, a in zip(params, arrays))
    assert params[1].grad.data.item() == pytest.approx(12.0 / 13.0, rel=1e-6)


def test_a_non_finite_norm_makes_nan_gradients_or_raises_when_asked():
    params = params_with_grads([np.nan, 1.0])
    assert math.isnan(nn.utils.clip_grad_norm_(params, 1.0).item())
    assert np.isnan(params[0].grad.data).all()
    params = params_with_grads([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf, so they cannot be "
                                           "clipped"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert params[0].grad.data.tolist() == [np.inf, 1.0]


def test_bad_arguments_are_refused_naming_the_problem():
    params = params_with_grads([1.0])
    with pytest.raises(TypeError, match=r"parameters\[1\] is a ndarray, not a Tensor"):
        nn.utils.clip_grad_norm_([params[0], np.ones(2)], 1.0)
    with pytest.raises(TypeError, match="parameters must be a Tensor or an iterable of Tensors .* got int"):
        nn.utils.clip_grad_norm_(3, 1.0)
    with pytest.raises(ValueError, match="max_norm must be >= 0 .* got -1"):
        nn.utils.clip_grad_norm_(params, -1)
    with pytest.raises(TypeError, match="max_norm must be a number, got str"):
        nn.utils.clip_grad_norm_(params, "1")
    with pytest.raises(ValueError, match="norm_type must be > 0 .* got 0"):
        nn.utils.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="norm_type must be a number or 'inf', got str 'two'"):
        nn.utils.clip_grad_norm_(params, 1.0, norm_type="two")


# ---- optional parity with torch.nn.utils.clip_grad_norm_ --------------------------------------------

SHAPES = [(3, 4), (5,), ()]


@pytest.mark.parametrize("max_norm", [0.5, 100.0], ids=str)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")], ids=str)
def test_norm_and_clipped_gradients_match_torch_in_float64(norm_type, max_norm):
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape) for shape in SHAPES]
    ours = params_with_grads(*grads)
    theirs = [torch.zeros(shape, dtype=torch.float64, requires_grad=True) for shape in SHAPES]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.dtype == np.float64
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-15, atol=0)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-15, atol=1e-16)


# ---- parameters_to_vector / vector_to_parameters ------------------------------------------------------

def model_with_both_layouts():
    """A large Linear (weight stored column by column) and a small one (row by row)."""
    model = nn.Sequential(nn.Linear(300, 256, seed=0), nn.ReLU(), nn.Linear(256, 3, seed=1))
    assert model[0].weight.data.flags.f_contiguous and not model[0].weight.data.flags.c_contiguous
    assert model[2].weight.data.flags.c_contiguous
    return model


def test_parameters_to_vector_reads_each_parameter_row_by_row_whatever_its_layout():
    model = model_with_both_layouts()
    vec = nn.utils.parameters_to_vector(model.parameters())
    expected = np.concatenate([np.ascontiguousarray(p.data).reshape(-1) for p in model.parameters()])
    assert vec.shape == (300 * 256 + 256 + 256 * 3 + 3,) and vec.dtype == np.float32
    np.testing.assert_array_equal(vec.data, expected)


def test_vector_to_parameters_writes_in_place_keeping_arrays_layouts_and_counting_versions():
    model = model_with_both_layouts()
    params = list(model.parameters())
    arrays, versions = [p.data for p in params], [p._version for p in params]
    vec = np.random.default_rng(0).standard_normal(sum(p.size for p in params)).astype(np.float32)
    nn.utils.vector_to_parameters(Tensor(vec), model.parameters())
    offset = 0
    for p, array, version in zip(params, arrays, versions):
        assert p.data is array and p._version == version + 1
        np.testing.assert_array_equal(p.data, vec[offset:offset + p.size].reshape(p.shape))
        offset += p.size
    assert model[0].weight.data.flags.f_contiguous                      # the layout is kept
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(params).data, vec)   # and the round trip is exact
    vec[:] = 0
    assert not np.all(model[0].weight.data == 0)                       # no memory shared with vec


def test_vector_functions_refuse_bad_arguments_naming_the_problem():
    w = nn.Parameter(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"vec has shape \(5,\), but the parameters hold 6 values"):
        nn.utils.vector_to_parameters(np.zeros(5), [w])
    with pytest.raises(ValueError, match=r"vec has shape \(2, 3\)"):
        nn.utils.vector_to_parameters(np.zeros((2, 3)), [w])
    with pytest.raises(TypeError, match="vec must be a Tensor or a NumPy array, got list"):
        nn.utils.vector_to_parameters([0.0] * 6, [w])
    with pytest.raises(TypeError, match=r"vector_to_parameters: parameters\[1\] is a ndarray"):
        nn.utils.vector_to_parameters(np.zeros(6), [w, np.zeros(2)])
    with pytest.raises(ValueError, match="parameters_to_vector: no parameters given"):
        nn.utils.parameters_to_vector([])


def test_vector_functions_order_values_as_torch_nn_utils():
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                "skipped")
    model = model_with_both_layouts()
    theirs = torch.nn.Sequential(torch.nn.Linear(300, 256), torch.nn.ReLU(), torch.nn.Linear(256, 3)).double()
    theirs.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in model.state_dict().items()})
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(model.parameters()).data.astype(np.float64),
                                  torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy())
    vec = np.random.default_rng(1).standard_normal(sum(p.size for p in model.parameters()))
    nn.utils.vector_to_parameters(vec.astype(np.float32), model.parameters())
    torch.nn.utils.vector_to_parameters(torch.from_numpy(vec), theirs.parameters())
    for (name, ours), (_, t) in zip(model.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_array_equal(ours, t.numpy().astype(np.float32), err_msg=name)
