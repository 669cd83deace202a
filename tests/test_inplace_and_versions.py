"""In-place operators change the tensor itself; a backward through values changed since the forward pass
raises (PyTorch's "modified by an inplace operation") instead of silently using the new values."""

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim

INPLACE = {"+=": (lambda t, v: t.__iadd__(v), np.add), "-=": (lambda t, v: t.__isub__(v), np.subtract),
           "*=": (lambda t, v: t.__imul__(v), np.multiply), "/=": (lambda t, v: t.__itruediv__(v), np.divide)}


@pytest.mark.parametrize("op", sorted(INPLACE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_inplace_operators_change_the_tensor_itself_keeping_dtype(op, dtype, shape):
    apply, reference = INPLACE[op]
    start = np.full(shape, 1.5, dtype=dtype)
    p = Tensor(start, requires_grad=True)
    array, version = p.data, p._version
    with tg.no_grad():
        result = apply(p, Tensor(np.full(shape, 0.5)))
    assert result is p and p.data is array and p.dtype == dtype and p.requires_grad and p.is_leaf
    assert p._version == version + 1
    np.testing.assert_allclose(p.data, reference(start, 0.5))


def test_by_hand_sgd_over_parameters_trains_the_model():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x, y = Tensor(np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)), np.ones((16, 1), np.float32)
    params = {name: p for name, p in model.named_parameters()}
    losses = []
    for _ in range(30):
        model.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        losses.append(float(loss))
        with tg.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert losses[-1] < 0.5 * losses[0]
    assert {name: p for name, p in model.named_parameters()} == params  # same objects, still registered


def test_updating_a_layer_attribute_in_place_keeps_it_registered():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    with tg.no_grad():
        layer.weight -= 1.0
    assert layer.weight is weight and dict(layer.named_parameters())["weight"] is weight


def test_inplace_on_a_leaf_that_requires_grad_outside_no_grad_is_refused():
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"in-place -= on a leaf tensor that requires grad.*tg.no_grad"):
        p -= 0.1
    np.testing.assert_array_equal(p.data, [1.0])


def test_inplace_on_a_tensor_inside_the_graph_is_refused():
    h = Tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"in-place \+= on a tensor that is part of the graph.*t = t \+ x"):
        h += 1


def test_a_constant_that_takes_in_a_graph_value_becomes_its_output():
    x, w = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    acc = tg.zeros(2)
    used_before = acc * 5  # an earlier use of the constant keeps its old value
    acc += x * w
    assert acc.grad_fn is not None and acc.requires_grad
    (acc.sum() + used_before.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0])
    np.testing.assert_array_equal(used_before.data, [0.0, 0.0])


@pytest.mark.parametrize("op", sorted(INPLACE))
def test_a_constant_that_takes_in_a_graph_value_differentiates_for_every_operator(op):
    """c *= x saves c's old values for x's gradient; c gets a new array, so the old one is unchanged and the
    backward must not mistake the tensor's new version for a change of what the node saved."""
    x = Tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True)
    c = Tensor(np.array([0.5, -3.0, 2.0]))
    apply, _ = INPLACE[op]
    apply(c, x)
    g = np.array([0.3, -1.1, 2.0])
    c.backward(g)
    old = np.array([0.5, -3.0, 2.0])
    expected = {"+=": g, "-=": -g, "*=": g * old, "/=": -g * old / x.data ** 2}[op]
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)
    assert c._version == 1


def test_gradcheck_on_an_op_output_leaves_its_graph_usable():
    """gradcheck borrows its inputs and puts them back bit for bit, version count and time included, so a
    backward through a graph that saved an input before the check still runs."""
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = x.tanh()  # Tanh saved h's array
    assert tg.gradcheck(lambda a: a * a, (h,))
    assert tg.gradgradcheck(lambda a: a * a * a, (h,))
    h.backward(np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad.data, np.array([1.0, 2.0]) * (1 - np.tanh([0.5, -1.0]) ** 2), rtol=1e-14)


@pytest.mark.parametrize("op, value, error, pattern", [
    ("+=", 0.5, TypeError, r"in-place \+=: cannot write the result into this int64 tensor"),
    ("/=", 2, TypeError, r"in-place /=: cannot write the result into this int64 tensor"),
    ("*=", np.ones((2, 2), dtype=np.int64), ValueError, r"in-place \*=: cannot write the result into this int64 tensor of shape \(2,\)"),
])
def test_inplace_results_that_do_not_fit_the_tensor_are_refused(op, value, error, pattern):
    t = Tensor(np.array([1, 2]))
    with pytest.raises(error, match=pattern):
        INPLACE[op][0](t, value)
    np.testing.assert_array_equal(t.data, [1, 2])
    assert t._version == 0


# Ops that save an input for backward: changing that input afterwards must be caught.
SAVES_INPUT = {
    "Mul": lambda w, x: w * x, "Div": lambda w, x: x / w, "Pow": lambda w, x: w ** 3, "Log": lambda w, x: w.log(),
    "Sin": lambda w, x: w.sin(), "Cos": lambda w, x: w.cos(), "Abs": lambda w, x: w.abs(),
    "MatMul": lambda w, x: x.reshape(1, 2) @ w.reshape(2, 1), "Max": lambda w, x: w.max(),
    "Clip": lambda w, x: w.clip(0, 1), "Maximum": lambda w, x: w.maximum(x),
    "Linear": lambda w, x: F.linear(x.reshape(1, 2), w.reshape(1, 2)),
}


@pytest.mark.parametrize("name", sorted(SAVES_INPUT))
def test_backward_refuses_an_input_changed_since_the_forward_pass(name):
    w, x = Tensor([2.0, 0.5], requires_grad=True), Tensor([1.0, 3.0], requires_grad=True)
    out = SAVES_INPUT[name](w, x).sum()
    with tg.no_grad():
        w -= 1.0
    with pytest.raises(RuntimeError, match=f"modified by an inplace operation: input . of {name} "
                                           r"\(shape \(.*\)\) is at version 1"):
        out.backward()
    assert w.grad is None and x.grad is None  # refused before anything was accumulated


SAVES_OUTPUT = ["exp", "relu", "sigmoid", "tanh", "softmax"]


def test_views_share_the_version_count_of_the_tensor_they_view():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    for view in (w.T, w.reshape(6), w[0], w[:, 1:]):
        before = view._version
        with tg.no_grad():
            w += 1.0
        assert view._version == before + 1
    assert (w * 2)._version == 0  # a new array has a count of its own


@pytest.mark.parametrize("method", SAVES_OUTPUT)
def test_backward_refuses_an_output_changed_since_the_forward_pass(method):
    x = Tensor([0.5, 1.0], requires_grad=True)
    y = getattr(x, method)()
    loss = (y + Tensor([1.0, 2.0])).sum()  # Add saves nothing: only the op that made y saved it
    with tg.no_grad():
        y *= 2
    with pytest.raises(RuntimeError, match="modified by an inplace operation: its output of"):
        loss.backward()


@pytest.mark.parametrize("make", [lambda x: x + 1, lambda x: x.reshape(2, 1), lambda x: x.sum(), lambda x: x[0]])
def test_ops_that_saved_nothing_allow_changing_their_inputs(make):
    x = Tensor([0.5, 1.0], requires_grad=True)
    out = make(x).sum()
    with tg.no_grad():
        x += 10.0
    out.backward()
    assert x.grad is not None


def test_optimizer_step_between_forward_and_backward_is_caught():
    """Forward with w = 2, a step sets w = 1, then backward: the gradient would silently use w = 1."""
    w = Tensor(np.array(2.0), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    loss = (w * w).sum()
    w.grad = Tensor(np.array(1.0))
    opt.step()
    assert w.item() == 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation: input 0 of Mul"):
        loss.backward()


def test_layer_weight_stepped_between_forward_and_backward_is_caught():
    layer = nn.Linear(2, 1)
    out = layer(Tensor(np.ones((3, 2), dtype=np.float32))).sum()
    with tg.no_grad():
        layer.weight *= 0.5
    with pytest.raises(RuntimeError, match="modified by an inplace operation: input 1 of Linear"):
        out.backward()


def test_writing_into_data_directly_bypasses_the_check_as_in_pytorch():
    w = Tensor([2.0], requires_grad=True)
    loss = (w * w).sum()
    w.data[...] = 1.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [2.0])


def test_refilling_an_index_or_target_array_after_the_forward_pass_leaves_the_gradient_as_recorded():
    """The gradient of x[i] scatters through i at backward time; a loop that refills its index or label
    buffer before calling backward must not move that gradient (the index arrays are copied when recorded)."""
    index = np.array([0, 2])
    x = tg.Tensor(np.arange(3.0), requires_grad=True)
    picked = x[index]
    index[:] = 1
    picked.backward(np.array([1.0, 10.0]))
    assert x.grad.tolist() == [1.0, 0.0, 10.0]

    rows, cols = np.array([0, 1]), np.array([2, 0])
    y = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    picked = y[rows, cols]
    cols[:] = 1
    picked.sum().backward()
    assert y.grad.tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]

    labels = np.array([0, 1])
    logits = tg.Tensor(np.array([[1.0, 2.0, 3.0], [0.5, 0.1, -1.0]]), requires_grad=True)
    loss = F.cross_entropy(logits, labels)
    labels[:] = 2                                  # the next batch's labels, written into the same buffer
    loss.backward()
    p = np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad.data, (p - np.eye(3)[[0, 1]]) / 2, rtol=1e-12)


def test_after_a_refused_backward_a_second_one_says_the_first_may_have_freed_the_graph():
    """A backward refused partway (here: a saved input changed in place) has freed the nodes it ran before
    the refusal, as in PyTorch; the next backward through them says so, and still changes no .grad."""
    w, c = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0])
    y = w * c
    h = (2.0 - w).sigmoid()                 # recorded after y: the sweep runs h's nodes before y's
    loss = y.sum() + h.sum()
    with tg.no_grad():
        c -= 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    with pytest.raises(RuntimeError, match="refused partway"):
        (h * 2).sum().backward()
    assert w.grad is None
