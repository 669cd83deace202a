"""Losses: values against NumPy references, gradcheck (float64) for every loss, reduction and target
kind on hypothesis-drawn inputs, numerical stability at the extremes, errors, and (when torch is
installed) parity with torch.nn.functional."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays, leaf

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn

REDUCTIONS = ["mean", "sum", "none"]


def reduce(values, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@st.composite
def logits_and_classes(draw, max_extra_dims=0):
    """Logits (N, C, *extra) in [-5, 5] and integer class targets (N, *extra)."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=max_extra_dims)))
    logits = draw(arrays((n, c, *extra), -5.0, 5.0))
    target = draw(hnp.arrays(np.int64, (n, *extra), elements=st.integers(0, c - 1)))
    return logits, target


@st.composite
def logits_and_probabilities(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    logits = draw(arrays((n, c), -5.0, 5.0))
    weights = draw(arrays((n, c), 0.05, 1.0))
    return logits, weights / weights.sum(axis=1, keepdims=True)


def same_shape_pair(lo, hi, lo2, hi2):
    return st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
        lambda s: st.tuples(arrays(s, lo, hi), arrays(s, lo2, hi2)))


# ---- cross_entropy / nll_loss ---------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=logits_and_classes(max_extra_dims=1))
def test_cross_entropy_with_class_indices_matches_numpy_and_gradchecks(reduction, data):
    logits, target = data
    x = leaf(logits)
    picked = np.take_along_axis(np_log_softmax(logits, 1), np.expand_dims(target, 1), axis=1).squeeze(1)
    np.testing.assert_allclose(F.cross_entropy(x, target, reduction).data, reduce(-picked, reduction),
                               rtol=1e-12, atol=1e-14)
    assert tg.gradcheck(lambda t: F.cross_entropy(t, target, reduction), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=logits_and_probabilities())
def test_cross_entropy_with_probability_targets_matches_numpy_and_gradchecks(reduction, data):
    logits, probs = data
    x, p = leaf(logits), leaf(probs)
    expected = reduce(-(probs * np_log_softmax(logits, 1)).sum(axis=1), reduction)
    np.testing.assert_allclose(F.cross_entropy(x, probs, reduction).data, expected, rtol=1e-12, atol=1e-14)
    assert tg.gradcheck(lambda a, b: F.cross_entropy(a, b, reduction), (x, p))


@given(data=logits_and_classes())
def test_class_indices_equal_their_one_hot_probability_targets(data):
    logits, target = data
    one_hot = np.eye(logits.shape[1])[target]
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(F.cross_entropy(Tensor(logits), target, reduction).data,
                                   F.cross_entropy(Tensor(logits), one_hot, reduction).data, rtol=1e-13, atol=1e-15)


@given(data=logits_and_classes())
def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n(data):
    logits, target = data
    x = leaf(logits)
    F.cross_entropy(x, target).backward()
    softmax = np.exp(np_log_softmax(logits, 1))
    expected = (softmax - np.eye(logits.shape[1])[target]) / len(target)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-10, atol=1e-14)


def test_cross_entropy_on_one_unbatched_example():
    logits = leaf(np.array([1.0, 2.0, 0.5]))
    assert F.cross_entropy(logits, np.array(1)).item() == pytest.approx(-np_log_softmax(logits.data, 0)[1])
    assert tg.gradcheck(lambda t: F.cross_entropy(t, np.array(1)), (logits,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=logits_and_classes(max_extra_dims=1))
def test_nll_loss_picks_minus_the_target_log_probability_and_gradchecks(reduction, data):
    log_probs, target = data
    x = leaf(log_probs)
    picked = np.take_along_axis(log_probs, np.expand_dims(target, 1), axis=1).squeeze(1)
    np.testing.assert_allclose(F.nll_loss(x, target, reduction).data, reduce(-picked, reduction), rtol=1e-13)
    assert tg.gradcheck(lambda t: F.nll_loss(t, target, reduction), (x,))


def test_cross_entropy_is_finite_and_exact_for_huge_logits():
    logits = leaf(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(logits, np.array([0, 0]), reduction="none")
        loss.sum().backward()
    assert loss.data.tolist() == [0.0, 2e4]
    assert np.isfinite(logits.grad.data).all()
    np.testing.assert_allclose(logits.grad.data, [[0, 0, 0], [-1, 1, 0]], atol=1e-12)


def test_cross_entropy_keeps_float32():
    logits = Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([0, 2]))
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32
    assert F.cross_entropy(logits, np.full((2, 3), 1 / 3)).dtype == np.float32


def test_cross_entropy_errors_name_the_problem():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target holds class 3, but there are 3 classes"):
        F.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match="target holds class -1"):
        F.cross_entropy(logits, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"needs class-index targets of shape \(2,\), got \(3,\)"):
        F.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"must have the logits' shape \(2, 3\), got \(2,\)"):
        F.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="class-index targets must be integers"):
        F.nll_loss(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, np.array([0, 1]), reduction="avg")


# ---- mse_loss -------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=same_shape_pair(-3.0, 3.0, -3.0, 3.0))
def test_mse_loss_matches_numpy_and_gradchecks_both_inputs(reduction, pair):
    a, b = pair
    np.testing.assert_allclose(F.mse_loss(Tensor(a), b, reduction).data, reduce((a - b) ** 2, reduction), rtol=1e-13)
    assert tg.gradcheck(lambda x, y: F.mse_loss(x, y, reduction), (leaf(a), leaf(b)))


def test_mse_loss_refuses_silently_broadcasting_shapes():
    with pytest.raises(ValueError, match=r"input has shape \(4, 1\) but target has shape \(4,\)"):
        F.mse_loss(Tensor(np.zeros((4, 1))), np.zeros(4))


def test_mse_loss_keeps_float32_with_a_float64_target():
    assert F.mse_loss(Tensor(np.ones(3, dtype=np.float32)), np.zeros(3)).dtype == np.float32


# ---- binary_cross_entropy ---------------------------------------------------------------------------

def np_bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=same_shape_pair(0.02, 0.98, 0.0, 1.0))
def test_binary_cross_entropy_matches_numpy_and_gradchecks(reduction, pair):
    p, t = pair
    np.testing.assert_allclose(F.binary_cross_entropy(Tensor(p), t, reduction).data, reduce(np_bce(p, t), reduction),
                               rtol=1e-12)
    assert tg.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction), (leaf(p), leaf(t)))


def test_binary_cross_entropy_at_probabilities_zero_and_one_is_finite_and_floored_at_100():
    for dtype in (np.float64, np.float32):
        p = Tensor(np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype), requires_grad=True)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            loss = F.binary_cross_entropy(p, np.array([0.0, 1.0, 1.0, 0.0]), reduction="none")
            loss.sum().backward()
        assert np.isfinite(loss.data).all() and np.isfinite(p.grad.data).all()
        assert loss.data[0] == loss.data[1] == 0
        assert loss.data[2:].tolist() == [100.0, 100.0]  # PyTorch's floor of -100 on each log


def test_binary_cross_entropy_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\], found values in \[-0.5, 2.0\]"):
        F.binary_cross_entropy(Tensor(np.array([-0.5, 2.0])), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(Tensor(np.array([np.nan])), np.array([0.0]))


# ---- binary_cross_entropy_with_logits ---------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=same_shape_pair(-10.0, 10.0, 0.0, 1.0))
def test_bce_with_logits_equals_bce_of_sigmoid_and_gradchecks(reduction, pair):
    x, t = pair
    expected = reduce(np_bce(1 / (1 + np.exp(-x)), t), reduction)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(Tensor(x), t, reduction).data, expected,
                               rtol=1e-9, atol=1e-12)
    assert tg.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction), (leaf(x), leaf(t)))


@given(x=arrays((5,), -30.0, 30.0), t=arrays((5,), 0.0, 1.0))
def test_bce_with_logits_gradient_is_sigmoid_minus_target(x, t):
    logits = leaf(x)
    F.binary_cross_entropy_with_logits(logits, t, reduction="sum").backward()
    np.testing.assert_allclose(logits.grad.data, 1 / (1 + np.exp(-x)) - t, rtol=1e-12, atol=1e-15)


def test_bce_with_logits_gradient_at_exactly_zero_is_one_half_minus_target():
    logits = leaf(np.zeros(3))
    F.binary_cross_entropy_with_logits(logits, np.array([0.0, 1.0, 0.25]), reduction="sum").backward()
    assert logits.grad.data.tolist() == [0.5, -0.5, 0.25]


def test_bce_with_logits_is_stable_at_plus_minus_1e4():
    for dtype in (np.float64, np.float32):
        x = Tensor(np.array([1e4, 1e4, -1e4, -1e4], dtype=dtype), requires_grad=True)
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
            warnings.simplefilter("error")
            loss = F.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0, 0.0]), reduction="none")
            loss.sum().backward()
        assert loss.data.tolist() == [0.0, 1e4, 1e4, 0.0]
        assert x.grad.data.tolist() == [0.0, 1.0, -1.0, 0.0]


def test_softplus_matches_log1p_exp_to_relative_precision_even_in_the_far_negative_tail():
    # log(1 + e^x) as a plain log of a sum near 1 would return 0 for x < -37; the compensated log1p keeps
    # every digit (softplus(-700) = e^-700).
    x = np.concatenate([np.linspace(-30, 30, 61), [-40.0, -50.0, -100.0, -700.0]])
    np.testing.assert_allclose(F.softplus(Tensor(x)).data, np.log1p(np.exp(x)), rtol=1e-14, atol=0)


# ---- loss modules, l2_penalty, mirrors ----------------------------------------------------------------

def test_loss_modules_equal_their_functions():
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    probs, binary = rng.uniform(0.1, 0.9, (4, 3)), rng.integers(0, 2, (4, 3)).astype(float)
    for reduction in REDUCTIONS:
        pairs = [
            (nn.CrossEntropyLoss(reduction)(Tensor(logits), target), F.cross_entropy(Tensor(logits), target, reduction)),
            (nn.NLLLoss(reduction)(Tensor(logits), target), F.nll_loss(Tensor(logits), target, reduction)),
            (nn.MSELoss(reduction)(Tensor(probs), binary), F.mse_loss(Tensor(probs), binary, reduction)),
            (nn.BCELoss(reduction)(Tensor(probs), binary), F.binary_cross_entropy(Tensor(probs), binary, reduction)),
            (nn.BCEWithLogitsLoss(reduction)(Tensor(logits), binary),
             F.binary_cross_entropy_with_logits(Tensor(logits), binary, reduction)),
        ]
        for module_value, function_value in pairs:
            np.testing.assert_array_equal(module_value.data, function_value.data)
    assert repr(nn.MSELoss()) == "MSELoss()" and repr(nn.BCELoss("sum")) == "BCELoss(reduction='sum')"
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss("average")


def test_l2_penalty_is_ngs_term_without_biases():
    model = nn.MLP([3, 4, 2], activation="sigmoid", dtype=np.float64, seed=0)
    lam, m = 0.7, 10
    expected = lam / (2 * m) * sum((layer.weight.data ** 2).sum() for layer in (model[0], model[2]))
    penalty = F.l2_penalty(model, lam, m)
    assert penalty.item() == pytest.approx(expected, rel=1e-13)
    penalty.backward()
    np.testing.assert_allclose(model[0].weight.grad.data, lam / m * model[0].weight.data, rtol=1e-13)
    assert model[0].bias.grad is None and model[2].bias.grad is None
    assert tg.gradcheck(lambda *ws: F.l2_penalty(ws, lam, m), (model[0].weight, model[2].weight))
    with pytest.raises(ValueError, match="no weights to penalise"):
        F.l2_penalty([], 1.0)


def test_activation_mirrors_equal_the_tensor_methods():
    x = Tensor(np.linspace(-2, 2, 6).reshape(2, 3))
    for fn, method in [(F.relu, x.relu), (F.sigmoid, x.sigmoid), (F.tanh, x.tanh), (F.softmax, x.softmax),
                       (F.log_softmax, x.log_softmax), (F.leaky_relu, x.leaky_relu)]:
        np.testing.assert_array_equal(fn(x).data, method().data)


# ---- optional parity with PyTorch ---------------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is skipped")


def _parity(ours_fn, torch_fn, *arrays):
    """Max |ours - torch| over the loss value and the gradient of every input."""
    torch = _torch()
    ours_inputs = [leaf(a) for a in arrays]
    theirs_inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*ours_inputs), torch_fn(*theirs_inputs)
    ours.backward()
    theirs.backward()
    diffs = [abs(ours.item() - theirs.item())]
    diffs += [np.abs(a.grad.data - b.grad.numpy()).max() for a, b in zip(ours_inputs, theirs_inputs)]
    return max(diffs)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_torch_nn_functional(reduction):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    logits, classes = rng.standard_normal((16, 10)) * 3, rng.integers(0, 10, 16)
    soft = rng.dirichlet(np.ones(10), 16)
    probs, binary = rng.uniform(0.01, 0.99, (16, 4)), rng.uniform(0, 1, (16, 4))
    wide = rng.standard_normal((16, 4)) * 20
    cases = {
        "cross_entropy (indices)": _parity(lambda x: F.cross_entropy(x, classes, reduction),
                                           lambda x: tf.cross_entropy(x, torch.tensor(classes), reduction=reduction),
                                           logits),
        "cross_entropy (probabilities)": _parity(lambda x, t: F.cross_entropy(x, t, reduction),
                                                 lambda x, t: tf.cross_entropy(x, t, reduction=reduction),
                                                 logits, soft),
        "nll_loss": _parity(lambda x: F.nll_loss(x.log_softmax(1), classes, reduction),
                            lambda x: tf.nll_loss(x.log_softmax(1), torch.tensor(classes), reduction=reduction),
                            logits),
        "mse_loss": _parity(lambda x, t: F.mse_loss(x, t, reduction),
                            lambda x, t: tf.mse_loss(x, t, reduction=reduction), probs, binary),
        "binary_cross_entropy": _parity(lambda p, t: F.binary_cross_entropy(p, t, reduction),
                                        lambda p, t: tf.binary_cross_entropy(p, t, reduction=reduction),
                                        probs, binary),
        "binary_cross_entropy_with_logits": _parity(
            lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction),
            lambda x, t: tf.binary_cross_entropy_with_logits(x, t, reduction=reduction), wide, binary),
    }
    print({name: f"{diff:.2e}" for name, diff in cases.items()})
    for name, diff in cases.items():
        assert diff < 1e-12, f"{name}: max |ours - torch| = {diff:.3e}"
