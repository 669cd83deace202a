"""Derivatives of derivatives: ``create_graph=True`` records the backward pass, so a gradient can be
differentiated again, and ``tg.autograd.functional`` (vjp, jvp, jacobian, hessian, hvp, vhp) is built on that.

What is checked, in float64:
- properties any correct implementation has: Hessians are symmetric and equal finite differences of the
  gradient; ``hvp`` is the Hessian times v and equals ``vhp``; jvp and vjp are adjoint,
  <J v, u> = <v, J^T u>;
- closed forms: tanh's first four derivatives, x^3's 3x^2, 6x, 6, 0;
- the behaviour of ``backward(create_graph=True)`` and ``tg.autograd.grad`` (accumulation as PyTorch,
  allow_unused, non-leaf inputs, several outputs, retain_graph's default, the error messages);
- a user ``tg.Function`` under create_graph: a backward on detached arrays passes gradcheck and is caught by
  gradgradcheck; ``differentiable_backward = True`` with a backward written for Tensors passes both;
- where torch is installed, every ``tg.autograd.functional`` function against ``torch.autograd.functional``:
  values, and the structure of the result (a Tensor or a tuple, tuples of tuples, shapes).
"""

import numpy as np
import pytest
from hypothesis import given
from strategies import arrays, shapes

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor
from tinygrad_edu.autograd import functional as AF

A = np.random.default_rng(20240611).standard_normal((2, 3))  # a fixed matrix: R^3 -> R^2, a Jacobian that is not square


def leaf(array):
    return Tensor(np.array(array, dtype=np.float64), requires_grad=True)


def as_matrix(x):
    return x.reshape(x.shape[0], -1)


def const(like, array):
    """``array`` as a constant of the same library as ``like`` (a tinygrad_edu or a torch tensor)."""
    if isinstance(like, Tensor):
        return Tensor(array)
    import torch

    return torch.tensor(array)


# ---- Hessians of scalar functions built from several ops ------------------------------------------------

# name -> scalar function of one float64 tensor of 1 or 2 axes (each side at least 2); inputs stay in
# [-2, 2] and away from 0 (see `nonzero`), where every function here is smooth.
SCALAR_FUNCTIONS = {
    "tanh(x) * sin(x)": lambda x: (x.tanh() * x.sin()).sum(),
    "softmax(x) . x": lambda x: (x.softmax(axis=-1) * x).sum(),
    "logsumexp(x) * sum(x)": lambda x: x.logsumexp(axis=-1).sum() * x.sum(),
    "exp(x) / (1 + x^2)": lambda x: (x.exp() / (1 + x * x)).mean(),
    "sigmoid of the Gram matrix m m^T": lambda x: (as_matrix(x) @ as_matrix(x).T).sigmoid().sum(),
    "tanh of m^T m": lambda x: (as_matrix(x).T @ as_matrix(x)).tanh().sum(),
    "(x^2 + 1/2) ** x, a tensor exponent": lambda x: ((x * x + 0.5) ** x).sum(),
    "picked elements cubed, one picked twice": lambda x: (x.reshape(-1)[[0, -1, 0]] ** 3).sum(),
    "euclidean norm": lambda x: (x * x).sum().sqrt(),
    "log(1 + x^2) * cos(x)": lambda x: ((1 + x * x).log() * x.cos()).sum(),
    "centred rows (broadcast mean) times sum": lambda x: (as_matrix(x) - as_matrix(x).mean(axis=1, keepdims=True))
    .tanh().sum() * x.sum(),
    "cross-entropy of rows as logits": lambda x: F.cross_entropy(as_matrix(x), Tensor(np.zeros(x.shape[0], np.int64))),
    "variance times sum": lambda x: x.var() * x.sum(),
    "x and sin x stacked, Gram matrix": lambda x: (tg.stack([x.reshape(-1), x.reshape(-1).sin()])
                                                   @ tg.stack([x.reshape(-1), x.reshape(-1).sin()]).T).tanh().sum(),
}


def nonzero():
    return shapes(min_dims=1, max_dims=2, min_side=2, max_side=3).flatmap(lambda s: arrays(s, -2.0, 2.0, kinks=(0.0,)))


def square(h, n):
    return h.numpy().reshape(n, n)


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
@given(x=nonzero())
def test_hessian_is_symmetric(name, x):
    f = SCALAR_FUNCTIONS[name]
    h = square(AF.hessian(f, leaf(x)), x.size)
    np.testing.assert_allclose(h, h.T, rtol=0, atol=1e-12 * max(1.0, np.abs(h).max()),
                               err_msg=f"{name}: the Hessian of a smooth function must be symmetric")


def gradient(f, x: np.ndarray) -> np.ndarray:
    t = leaf(x)
    (g,) = tg.autograd.grad(f(t), t)
    return g.numpy()


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
def test_hessian_equals_finite_differences_of_the_gradient(name):
    """Column j of H is d grad / d x_j, by central differences of the (first-order, well tested) gradient."""
    f, eps = SCALAR_FUNCTIONS[name], 1e-6
    x = np.random.default_rng(len(name)).uniform(0.3, 1.5, (2, 3)) * np.array([1, -1, 1])
    numeric = np.zeros((x.size, x.size))
    for j in range(x.size):
        step = np.zeros(x.size)
        step[j] = eps
        numeric[:, j] = ((gradient(f, x + step.reshape(x.shape)) - gradient(f, x - step.reshape(x.shape))).reshape(-1)
                         / (2 * eps))
    np.testing.assert_allclose(square(AF.hessian(f, leaf(x)), x.size), numeric, rtol=1e-3, atol=1e-5,
                               err_msg=name)


# ---- hvp, vhp and the Hessian ----------------------------------------------------------------------------

def tuple_scalar(x, y):
    return (x.tanh() @ y).sum() + (x * x).sum() * y.sin().sum()


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
def test_hvp_equals_hessian_times_v_and_vhp(name):
    f = SCALAR_FUNCTIONS[name]
    rng = np.random.default_rng(len(name) + 1)
    x, v = leaf(rng.uniform(-2, 2, (3, 2))), Tensor(rng.standard_normal((3, 2)))
    value, hv = AF.hvp(f, x, v)
    _, vh = AF.vhp(f, x, v)
    expected = square(AF.hessian(f, x), 6) @ v.numpy().reshape(-1)
    assert value.item() == pytest.approx(f(x).item(), rel=1e-15)
    assert hv.shape == vh.shape == x.shape
    np.testing.assert_allclose(hv.numpy().reshape(-1), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vh.numpy(), hv.numpy(), rtol=1e-10, atol=1e-12)


def test_hvp_with_tuple_inputs_equals_the_hessian_blocks_times_v():
    """For inputs (x, y), H is a tuple of blocks H[i][j] of shape x_i.shape + x_j.shape, and
    (H v)_i = sum_j H[i][j] contracted with v_j."""
    rng = np.random.default_rng(5)
    x, y = leaf(rng.uniform(-1, 1, (2, 3))), leaf(rng.uniform(-1, 1, 3))
    v = (Tensor(rng.standard_normal((2, 3))), Tensor(rng.standard_normal(3)))
    blocks = AF.hessian(tuple_scalar, (x, y))
    expected = [sum(np.tensordot(blocks[i][j].numpy(), v[j].numpy(), axes=v[j].ndim) for j in range(2))
                for i in range(2)]
    _, hv = AF.hvp(tuple_scalar, (x, y), v)
    _, vh = AF.vhp(tuple_scalar, (x, y), v)
    assert isinstance(hv, tuple) and isinstance(vh, tuple) and len(hv) == len(vh) == 2
    for ours, theirs, by_vhp in zip(hv, expected, vh):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(by_vhp.numpy(), theirs, rtol=1e-10, atol=1e-12)


# ---- jvp and vjp are adjoint ------------------------------------------------------------------------------

# name -> (function, input shapes); the outputs are a Tensor or a tuple of Tensors. Written with operations
# torch tensors share, so the same functions drive the torch comparison at the end.
VECTOR_FUNCTIONS = {
    "R^3 -> R^2: tanh(A x)": (lambda x: (const(x, A) @ x).tanh(), [(3,)]),
    "R^(2x3) -> R^4: picked elements times the sum, then exp": (
        lambda x: (x.reshape(6)[[0, 2, 4, 5]] * x.sum()).exp(), [(2, 3)]),
    "two inputs -> one output: tanh(x) @ y": (lambda x, y: x.tanh() @ y, [(2, 3), (3,)]),
    "one input -> two outputs": (lambda x: (x ** 2, x.exp().sum()), [(3,)]),
    "two inputs -> two outputs": (lambda x, y: (x * y.sum(), (x.exp() + y[:2]).sum()), [(2,), (3,)]),
    "0-d input -> R^3": (lambda x: (x * const(x, np.array([1.0, -2.0, 0.5]))).sin(), [()]),
}


def draw_inputs(shapes_, rng, make=leaf):
    values = [make(rng.uniform(-1.5, 1.5, s)) for s in shapes_]
    return values[0] if len(values) == 1 else tuple(values)


def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def like(values, rng, make=Tensor):
    """A random vector shaped like ``values`` (a Tensor or a tuple of them), with the same structure."""
    drawn = tuple(make(rng.standard_normal(tuple(t.shape))) for t in as_tuple(values))
    return drawn if isinstance(values, tuple) else drawn[0]


def inner(a, b) -> float:
    return sum(float(np.sum(np.asarray(x.numpy()) * np.asarray(y.numpy()))) for x, y in zip(as_tuple(a), as_tuple(b)))


@pytest.mark.parametrize("name", VECTOR_FUNCTIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jvp_and_vjp_are_adjoint(name, seed):
    """<J v, u> = <v, J^T u> for random u (outputs' shape) and v (inputs' shape)."""
    f, in_shapes = VECTOR_FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    inputs = draw_inputs(in_shapes, rng)
    outputs = f(*as_tuple(inputs))
    u, v = like(outputs, rng), like(inputs, rng)
    _, jv = AF.jvp(f, inputs, v)
    _, vj = AF.vjp(f, inputs, u)
    assert inner(jv, u) == pytest.approx(inner(v, vj), rel=1e-12, abs=1e-14)
    assert inner(jv, u) != 0.0  # a random pairing of nonzero maps: 0 would mean both sides vanished


@pytest.mark.parametrize("name", VECTOR_FUNCTIONS)
def test_vjp_is_what_backward_computes(name):
    f, in_shapes = VECTOR_FUNCTIONS[name]
    rng = np.random.default_rng(7)
    inputs = draw_inputs(in_shapes, rng)
    u = like(f(*as_tuple(inputs)), rng)
    _, vj = AF.vjp(f, inputs, u)
    outputs = f(*as_tuple(inputs))
    expected = tg.autograd.grad(list(as_tuple(outputs)), list(as_tuple(inputs)), grad_outputs=list(as_tuple(u)))
    for ours, theirs in zip(as_tuple(vj), expected):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", VECTOR_FUNCTIONS)
def test_jvp_equals_the_jacobian_times_v(name):
    f, in_shapes = VECTOR_FUNCTIONS[name]
    rng = np.random.default_rng(11)
    inputs = draw_inputs(in_shapes, rng)
    v = like(inputs, rng)
    _, jv = AF.jvp(f, inputs, v)
    jac = AF.jacobian(f, inputs)
    outputs_are_tuple, inputs_are_tuple = isinstance(jv, tuple), isinstance(inputs, tuple)
    for i, out in enumerate(as_tuple(jv)):
        row = jac[i] if outputs_are_tuple else jac
        expected = sum(np.tensordot(block.numpy(), vj.numpy(), axes=vj.ndim)
                       for block, vj in zip(row if inputs_are_tuple else (row,), as_tuple(v)))
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)


# ---- closed forms -------------------------------------------------------------------------------------------

def test_tanh_derivatives_up_to_the_fourth_equal_their_closed_forms():
    """With t = tanh x and s = 1 - t^2 (= t'), using s' = -2 t s:
    t'' = -2 t s;  t''' = -2 (s^2 - 2 t^2 s) = -2 s (1 - 3 t^2);
    t'''' = -2 (s' (1 - 3 t^2) - 6 t s^2) = 4 t s (1 - 3 t^2) + 12 t s^2 = 8 t s (2 - 3 t^2)."""
    grid = np.linspace(-4.0, 4.0, 161)
    x = leaf(grid)
    t = np.tanh(grid)
    s = 1 - t ** 2
    closed = [s, -2 * t * s, -2 * s * (1 - 3 * t ** 2), 8 * t * s * (2 - 3 * t ** 2)]
    current = x.tanh()
    for order, expected in enumerate(closed, start=1):
        (current,) = tg.autograd.grad(current.sum(), x, create_graph=True)  # elementwise: sum's grad = derivative
        np.testing.assert_allclose(current.numpy(), expected, rtol=0, atol=1e-13, err_msg=f"derivative {order}")


def test_cube_derivatives_are_3x2_6x_6_then_zero():
    x = leaf([1.5, -2.0, 0.25])
    d1, = tg.autograd.grad((x ** 3).sum(), x, create_graph=True)
    d2, = tg.autograd.grad(d1.sum(), x, create_graph=True)
    d3, = tg.autograd.grad(d2.sum(), x, create_graph=True)
    np.testing.assert_allclose(d1.numpy(), 3 * x.numpy() ** 2, rtol=1e-15)
    np.testing.assert_allclose(d2.numpy(), 6 * x.numpy(), rtol=1e-15)
    np.testing.assert_allclose(d3.numpy(), [6.0, 6.0, 6.0], rtol=1e-15)
    if d3.requires_grad:  # recorded as 6 * (something of x): its derivative must vanish
        d4, = tg.autograd.grad(d3.sum(), x, allow_unused=True)
        assert d4 is None or not d4.numpy().any(), f"the fourth derivative of x^3 is 0, got {d4}"
    else:  # recorded as a constant: there is nothing left to differentiate, and grad says so
        with pytest.raises(RuntimeError, match=r"output 0 does not require grad"):
            tg.autograd.grad(d3.sum(), x)


def test_backward_with_create_graph_records_the_gradient():
    x = leaf([1.5, -2.0])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    np.testing.assert_allclose(x.grad.numpy(), [6.75, 12.0])
    (second,) = tg.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), [9.0, -12.0])  # 6x


def test_second_backward_adds_the_derivative_of_the_recorded_grad_into_grad():
    """x.grad = 3x^2 with a graph; x.grad.sum().backward() adds d(sum 3x^2)/dx = 6x to it: 3x^2 + 6x."""
    x = leaf([1.5, -2.0])
    (x ** 3).sum().backward(create_graph=True)
    x.grad.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [15.75, 0.0])


def test_two_backwards_with_create_graph_accumulate_a_recorded_sum():
    x = leaf([1.5, -2.0])
    (x ** 3).sum().backward(create_graph=True)
    (x * x).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2 + 2 * x.numpy())
    (second,) = tg.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), 6 * x.numpy() + 2)


# ---- tg.autograd.grad's contract -----------------------------------------------------------------------------

def test_grad_returns_gradients_without_touching_dot_grad():
    x = leaf([1.0, 2.0])
    x.grad = Tensor(np.array([10.0, 20.0]))
    (g,) = tg.autograd.grad((x * x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 20.0])


def test_grad_gives_none_for_an_unused_input_with_allow_unused():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    gx, gu = tg.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    np.testing.assert_allclose(gx.numpy(), [2.0, 2.0])
    assert gu is None


def test_grad_refuses_an_unused_input_without_allow_unused():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(1,\)\) was not used to compute the outputs; "
                                           r"pass allow_unused=True"):
        tg.autograd.grad((x * 2).sum(), [x, unused])


def test_grad_refuses_an_input_that_does_not_require_grad():
    x, constant = leaf([1.0, 2.0]), Tensor(np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError, match=r"input 1 does not require grad.*requires_grad=True"):
        tg.autograd.grad((x * constant).sum(), [x, constant])


def test_grad_refuses_an_output_that_depends_on_no_input():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"output 0 does not require grad: it does not depend on any input"):
        tg.autograd.grad(Tensor(np.array(3.0)), x)


def test_grad_refuses_a_grad_outputs_count_that_does_not_match_the_outputs():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad: 2 grad_outputs for 1 outputs"):
        tg.autograd.grad(x * 2, x, grad_outputs=[Tensor(np.ones(2)), Tensor(np.ones(2))])


def test_grad_with_respect_to_non_leaf_tensors_and_leaves_together():
    """z = sum(sin(h)), h = x^2: dz/dh = cos h, and dz/dx = 2x cos(x^2), even when h is asked for too."""
    x = leaf([1.0, 2.0])
    h = x * x
    z = h.sin().sum()
    gh, gx = tg.autograd.grad(z, [h, x])
    np.testing.assert_allclose(gh.numpy(), np.cos([1.0, 4.0]), rtol=1e-15)
    np.testing.assert_allclose(gx.numpy(), 2 * np.array([1.0, 2.0]) * np.cos([1.0, 4.0]), rtol=1e-15)


def test_grad_of_several_outputs_sums_their_vector_jacobian_products():
    """d (<u, 3x> + <w, e^x>) / dx = 3u + w e^x."""
    x = leaf([0.5, -1.0])
    u, w = np.array([1.0, -1.0]), np.array([2.0, 0.5])
    (g,) = tg.autograd.grad([x * 3, x.exp()], x, grad_outputs=[Tensor(u), Tensor(w)])
    np.testing.assert_allclose(g.numpy(), 3 * u + w * np.exp(x.numpy()), rtol=1e-15)


def test_retain_graph_defaults_to_create_graph():
    x = leaf([0.5, -1.0])
    z = x.exp().sum()
    tg.autograd.grad(z, x, create_graph=True)           # keeps the graph: retain_graph defaults to True
    (again,) = tg.autograd.grad(z, x)                    # so a second sweep works; this one frees it
    np.testing.assert_allclose(again.numpy(), np.exp(x.numpy()))
    with pytest.raises(RuntimeError, match=r"already used by a backward pass.*retain_graph=True"):
        tg.autograd.grad(z, x)


def test_backward_with_create_graph_keeps_the_graph_for_another_backward():
    x = leaf([0.5, -1.0])
    z = x.exp().sum()
    z.backward(create_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.numpy()))


def test_create_graph_with_retain_graph_false_frees_the_graph():
    x = leaf([0.5, -1.0])
    z = x.exp().sum()
    tg.autograd.grad(z, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match=r"already used by a backward pass"):
        tg.autograd.grad(z, x)


# ---- user Functions under create_graph ------------------------------------------------------------------------

class Softplus(tg.Function):
    """softplus x = log(1 + e^x); its derivative is sigmoid x = 1 / (1 + e^-x).

    Its backward is written with operations Tensors have too (np.exp on a Tensor runs Tensor.exp), but the
    class does not say so: under create_graph the engine hands it detached arrays, so the gradient it
    returns is a constant to whatever differentiates it next."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (1 + np.exp(-x))


class TwiceDifferentiableSoftplus(Softplus):
    """The same backward, declared differentiable: under create_graph it receives Tensors and is recorded."""

    differentiable_backward = True


class DetachingSoftplus(Softplus):
    """Declared differentiable, but its backward turns the saved Tensor back into an array (np.asarray):
    the dependence of the gradient on x is cut, only its dependence on g survives."""

    differentiable_backward = True

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (1 + np.exp(-np.asarray(x)))


POINTS = np.array([0.5, -1.0, 2.0])


@pytest.mark.parametrize("function", [Softplus, TwiceDifferentiableSoftplus, DetachingSoftplus])
def test_user_function_first_derivative_passes_gradcheck(function):
    assert tg.gradcheck(function.apply, (leaf(POINTS),))


@pytest.mark.parametrize("function", [Softplus, DetachingSoftplus])
def test_gradgradcheck_catches_a_backward_on_detached_arrays(function):
    with pytest.raises(tg.GradcheckError, match=r"gradgradcheck: the second derivatives disagree.*input 0 "
                                                r"\(shape \(3,\)\).*analytic 0 vs numeric"):
        tg.gradgradcheck(function.apply, (leaf(POINTS),))


def test_differentiable_backward_makes_a_user_function_twice_differentiable():
    x = leaf(POINTS)
    assert tg.gradgradcheck(TwiceDifferentiableSoftplus.apply, (x,))
    (d1,) = tg.autograd.grad(TwiceDifferentiableSoftplus.apply(x).sum(), x, create_graph=True)
    (d2,) = tg.autograd.grad(d1.sum(), x)
    sigmoid = 1 / (1 + np.exp(-POINTS))
    np.testing.assert_allclose(d2.numpy(), sigmoid * (1 - sigmoid), rtol=1e-14)


def test_array_only_user_function_gives_a_right_but_constant_gradient_under_create_graph():
    x = leaf(POINTS)
    (d1,) = tg.autograd.grad(Softplus.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(d1.numpy(), 1 / (1 + np.exp(-POINTS)), rtol=1e-15)
    assert not d1.requires_grad


# ---- the functional API ---------------------------------------------------------------------------------------

def test_functional_results_leave_the_callers_tensors_alone():
    x = leaf([0.5, -1.0])
    x.grad = Tensor(np.array([7.0, 7.0]))
    results = [AF.jacobian(lambda t: t.exp(), x), AF.hessian(lambda t: (t ** 3).sum(), x),
               AF.vjp(lambda t: t.exp(), x, Tensor(np.ones(2)))[1], AF.jvp(lambda t: t.exp(), x, Tensor(np.ones(2)))[1],
               AF.hvp(lambda t: (t ** 3).sum(), x, Tensor(np.ones(2)))[1]]
    assert not any(r.requires_grad for r in results)
    np.testing.assert_allclose(x.grad.numpy(), [7.0, 7.0])
    assert x.is_leaf and x.grad_fn is None


def test_hessian_with_create_graph_can_be_differentiated_again():
    """sum over H of sum(x^3) = sum(6 x), whose gradient is 6 everywhere."""
    x = leaf([0.5, -1.0, 2.0])
    h = AF.hessian(lambda t: (t ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(h.numpy(), np.diag(6 * x.numpy()))
    (third,) = tg.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(third.numpy(), [6.0, 6.0, 6.0])


# ---- against torch.autograd.functional ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is not installed: the optional comparison with "
                                               "torch.autograd.functional is skipped")


# name -> (scalar function of its inputs, input shapes): for hessian, hvp and vhp (and vjp without v)
SCALAR_CASES = {
    "one matrix input: sum(sin(x) * x)": (lambda x: (x.sin() * x).sum(), [(2, 3)]),
    "a 0-d input: x^3": (lambda x: x ** 3, [()]),
    "two inputs: tanh(x) @ y plus a product of sums": (tuple_scalar, [(2, 3), (3,)]),
    "two inputs, the second unused": (lambda x, y: x.exp().sum(), [(2,), (3,)]),
}


def assert_same_result(ours, theirs, where):
    """The same structure (tuples where torch has tuples, a Tensor where torch has one), shapes and values."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple), f"{where}: torch returns a tuple, we return {type(ours).__name__}"
        assert len(ours) == len(theirs), f"{where}: {len(ours)} elements, torch has {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_result(a, b, f"{where}[{i}]")
        return
    assert isinstance(ours, Tensor), f"{where}: torch returns a tensor, we return {type(ours).__name__}"
    assert ours.shape == tuple(theirs.shape), f"{where}: shape {ours.shape}, torch's {tuple(theirs.shape)}"
    assert ours.requires_grad == theirs.requires_grad, f"{where}: requires_grad differs from torch's"
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=where)


def both(shapes_, seed, torch):
    """The same random values as our inputs and as torch's (a Tensor for one shape, else a tuple)."""
    arrays_ = [np.random.default_rng(seed + i).uniform(-1.5, 1.5, s) for i, s in enumerate(shapes_)]
    ours = tuple(Tensor(a) for a in arrays_)
    theirs = tuple(torch.tensor(a) for a in arrays_)
    return (ours[0], theirs[0]) if len(arrays_) == 1 else (ours, theirs)


def random_like(values, seed, torch):
    arrays_ = [np.random.default_rng(seed + 100 + i).standard_normal(tuple(t.shape))
               for i, t in enumerate(as_tuple(values))]
    ours, theirs = tuple(Tensor(a) for a in arrays_), tuple(torch.tensor(a) for a in arrays_)
    return (ours, theirs) if isinstance(values, tuple) else (ours[0], theirs[0])


VECTOR_FUNCTIONALS = ["vjp", "jvp", "jacobian"]
SCALAR_FUNCTIONALS = ["hessian", "hvp", "vhp", "vjp without v"]


@pytest.mark.parametrize("name", VECTOR_FUNCTIONS)
@pytest.mark.parametrize("which", VECTOR_FUNCTIONALS)
def test_vjp_jvp_jacobian_match_torch(torch, name, which):
    f, in_shapes = VECTOR_FUNCTIONS[name]
    inputs, torch_inputs = both(in_shapes, 3, torch)
    if which == "jacobian":
        ours, theirs = AF.jacobian(f, inputs), torch.autograd.functional.jacobian(f, torch_inputs)
    else:
        like_what = f(*as_tuple(inputs)) if which == "vjp" else inputs
        v, torch_v = random_like(like_what, 5, torch)
        ours = getattr(AF, which)(f, inputs, v)
        theirs = getattr(torch.autograd.functional, which)(f, torch_inputs, torch_v)
    assert_same_result(ours, theirs, f"{which}({name})")


@pytest.mark.parametrize("name", SCALAR_CASES)
@pytest.mark.parametrize("which", SCALAR_FUNCTIONALS)
def test_hessian_hvp_vhp_match_torch(torch, name, which):
    f, in_shapes = SCALAR_CASES[name]
    inputs, torch_inputs = both(in_shapes, 8, torch)
    if which == "hessian":
        ours, theirs = AF.hessian(f, inputs), torch.autograd.functional.hessian(f, torch_inputs)
    elif which == "vjp without v":
        ours, theirs = AF.vjp(f, inputs), torch.autograd.functional.vjp(f, torch_inputs)
    else:
        v, torch_v = random_like(inputs, 9, torch)
        ours = getattr(AF, which)(f, inputs, v)
        theirs = getattr(torch.autograd.functional, which)(f, torch_inputs, torch_v)
    assert_same_result(ours, theirs, f"{which}({name})")


@pytest.mark.parametrize("which", ["jacobian", "hessian"])
def test_create_graph_results_differentiate_like_torch(torch, which):
    """With create_graph=True the result stays connected to the inputs: d sum(result) / dx matches torch's."""
    values = np.array([0.5, -1.0, 2.0])
    f = (lambda t: (t ** 3).sin()) if which == "jacobian" else (lambda t: (t ** 3).sin().sum())
    x, tx = leaf(values), torch.tensor(values, requires_grad=True)
    ours = getattr(AF, which)(f, x, create_graph=True)
    theirs = getattr(torch.autograd.functional, which)(f, tx, create_graph=True)
    assert_same_result(ours, theirs, which)
    (d_ours,) = tg.autograd.grad(ours.sum(), x)
    (d_theirs,) = torch.autograd.grad(theirs.sum(), tx)
    np.testing.assert_allclose(d_ours.numpy(), d_theirs.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")  # torch's note on .grad cycles
def test_backward_with_create_graph_accumulates_as_torch(torch):
    values = np.array([1.5, -2.0, 0.3])
    x, tx = leaf(values), torch.tensor(values, requires_grad=True)
    for t in (x, tx):
        ((t ** 3).sin()).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.detach().numpy(), rtol=1e-13)
    assert x.grad.requires_grad and tx.grad.requires_grad
    for t in (x, tx):
        (t.grad * t.grad).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.detach().numpy(), rtol=1e-12)


def test_all_six_functionals_are_compared_with_torch():
    """The torch comparisons above cover every function of tg.autograd.functional."""
    covered = {which.split()[0] for which in VECTOR_FUNCTIONALS + SCALAR_FUNCTIONALS}
    public = {name for name in dir(AF) if not name.startswith("_") and callable(getattr(AF, name))
              and getattr(getattr(AF, name), "__module__", "") == AF.__name__}
    assert public == covered, f"functions without a torch comparison: {sorted(public - covered)}"
