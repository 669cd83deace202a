"""optim.minimize: the SciPy bridge trains a small regularised sigmoid net (notebook 003's setup) to a
lower cost, hands SciPy the true gradient, leaves the model at the solution, and names the missing extra."""

import importlib
import sys

import numpy as np
import pytest

import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim

pytest.importorskip("scipy", reason="scipy (the optional 'scipy' extra) is not installed")

bridge = importlib.import_module("tinygrad_edu.optim.minimize")


def three_blobs(m=90, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    labels = np.arange(m) % 3
    return centres[labels] + 0.7 * rng.standard_normal((m, 2)), labels


def ng_setup(lam=1.0, seed=0):
    """A 2-5-3 sigmoid net, Ng's init and Ng's regularised cost: BCE over one-hot outputs, summed over
    classes and averaged over examples, plus (lam / 2m) * sum of squared weights (biases excluded)."""
    x, labels = three_blobs(seed=seed)
    y = np.eye(3)[labels]
    m = len(x)
    model = nn.MLP([2, 5, 3], activation="sigmoid", dtype=np.float64)
    for i, layer in enumerate((model[0], model[2])):
        nn.init.epsilon_uniform_(layer.weight, seed=seed + i)
        nn.init.zeros_(layer.bias)

    def cost():
        outputs = model(Tensor(x)).sigmoid()
        return F.binary_cross_entropy(outputs, y, reduction="sum") * (1.0 / m) + F.l2_penalty(model, lam, m)

    return model, cost, x, labels


@pytest.mark.parametrize("method", ["CG", "L-BFGS-B", "BFGS"])
def test_minimize_drives_a_regularised_sigmoid_net_to_a_lower_cost(method):
    model, cost, x, labels = ng_setup()
    start = cost().item()
    result = optim.minimize(model, cost, method=method, maxiter=60)
    final = cost().item()
    assert final < 0.5 * start, f"{method}: cost {start:.4f} -> {final:.4f}"
    assert final == pytest.approx(result.fun, rel=1e-12)
    accuracy = (model(Tensor(x)).data.argmax(axis=1) == labels).mean()
    assert accuracy >= 0.9


def test_the_model_is_left_at_the_solution_without_gradients():
    model, cost, _, _ = ng_setup()
    result = optim.minimize(model, cost, method="CG", maxiter=20)
    np.testing.assert_array_equal(bridge.flatten_parameters(list(model.parameters())), result.x)
    assert all(p.grad is None for p in model.parameters())


def test_scipy_receives_the_autograd_gradient():
    model, cost, _, _ = ng_setup(lam=0.5)
    result = optim.minimize(model, cost, method="BFGS", maxiter=3)
    loss = cost()
    loss.backward()
    autograd = np.concatenate([p.grad.data.ravel() for p in model.parameters()])
    np.testing.assert_allclose(result.jac, autograd, rtol=1e-10, atol=1e-14)
    # and the gradient is the true one: compare with SciPy's own finite differences
    from scipy.optimize import approx_fprime

    params = list(model.parameters())

    def flat_cost(vector):
        bridge.assign_flat(params, vector)
        return cost().item()

    numeric = approx_fprime(result.x, flat_cost, 1e-7)
    np.testing.assert_allclose(autograd, numeric, atol=1e-6)


def test_flatten_and_assign_round_trip_in_parameter_order():
    model = nn.MLP([2, 3, 1], dtype=np.float64, seed=0)
    params = list(model.parameters())
    flat = bridge.flatten_parameters(params)
    assert flat.dtype == np.float64 and flat.size == 2 * 3 + 3 + 3 + 1
    np.testing.assert_array_equal(flat[:6], model[0].weight.data.ravel())
    bridge.assign_flat(params, np.arange(flat.size, dtype=np.float64))
    assert model[2].bias.data.tolist() == [12.0]
    with pytest.raises(ValueError, match=r"vec has shape \(3,\), but the parameters hold 13 values"):
        bridge.assign_flat(params, np.zeros(3))


def test_a_list_of_parameters_and_a_float32_model_work():
    w = nn.Parameter(np.array([3.0, -1.0], dtype=np.float32))
    result = optim.minimize([w], lambda: ((w - 1.0) ** 2).sum(), method="L-BFGS-B")
    assert w.dtype == np.float32 and result.fun < 1e-8
    np.testing.assert_allclose(w.data, [1.0, 1.0], atol=1e-4)


def test_gradient_free_methods_get_only_the_loss():
    w = nn.Parameter(np.array([2.0, 2.0]))
    result = optim.minimize([w], lambda: ((w - 0.5) ** 2).sum(), method="Nelder-Mead", maxiter=400)
    assert result.fun < 1e-6


def test_loss_fn_must_return_a_scalar_tensor():
    w = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match="one-element Tensor"):
        optim.minimize([w], lambda: w * 2)
    with pytest.raises(ValueError, match="no parameters"):
        optim.minimize([], lambda: w.sum())


def test_missing_scipy_is_a_clear_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    w = nn.Parameter(np.ones(2))
    with pytest.raises(ImportError, match=r"needs SciPy.*pip install 'tinygrad_edu\[scipy\]'"):
        optim.minimize([w], lambda: (w * w).sum())
