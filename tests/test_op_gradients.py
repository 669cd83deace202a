"""Every differentiable op's backward agrees with finite differences (gradcheck), and so does the
derivative of its backward (gradgradcheck), on hypothesis-drawn shapes (broadcasting, size-1 axes,
0-d and negative axes included) and float64 values away from kinks and domain edges.

One table drives it all: each row names an op, draws its inputs and says how to apply it. Each row
also checks the forward value against the plain NumPy reference.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import arrays, axis_for, distinct_arrays, floats, leaf, shapes
from window_cases import (
    batch_norm_case,
    batch_norm_eval_case,
    batch_norm_reference,
    conv2d_batch_case,
    conv2d_case,
    conv2d_reference,
    fold_case,
    fold_reference,
    layer_norm_case,
    layer_norm_reference,
    pad_case,
    pad_reference,
    pool_case,
    pool_reference,
    tiling_pool_case,
    unfold_case,
    unfold_reference,
)

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import ops
from tinygrad_edu.nn.convolution import batch_norm_composed, conv2d_composed


@st.composite
def broadcast_pair(draw, lo=-3.0, hi=3.0, lo2=None, hi2=None, kinks2=()):
    """Two arrays whose shapes broadcast together (size-1 axes and missing leading axes included)."""
    a_shape, b_shape = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)).input_shapes
    a = draw(arrays(a_shape, lo, hi))
    b = draw(arrays(b_shape, lo if lo2 is None else lo2, hi if hi2 is None else hi2, kinks2))
    return a, b


def unary(lo=-3.0, hi=3.0, kinks=()):
    return shapes().flatmap(lambda s: arrays(s, lo, hi, kinks)).map(lambda a: (a,))


@st.composite
def with_axis(draw, values=None):
    shape = draw(shapes(min_dims=1))
    array = draw(values(shape) if values else arrays(shape))
    return array, draw(axis_for(len(shape))), draw(st.booleans())


@st.composite
def single_axis(draw):
    shape = draw(shapes(min_dims=1))
    return draw(arrays(shape, -5, 5)), draw(st.integers(-len(shape), len(shape) - 1))


@st.composite
def matmul_pair(draw):
    """Operands for @: 1-D, 2-D and batched N-D with broadcast batch axes."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    a_shape = draw(st.sampled_from([(k,), batch_a + (n, k)]))
    b_shape = draw(st.sampled_from([(k,), batch_b + (k, m)]))
    return draw(arrays(a_shape)), draw(arrays(b_shape))


@st.composite
def linear_case(draw):
    """x (..., in), W (out, in), b (out,): the operands of the fused affine primitive."""
    batch = draw(shapes(max_dims=2))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return draw(arrays(batch + (n_in,))), draw(arrays((n_out, n_in))), draw(arrays((n_out,)))


@st.composite
def reshape_case(draw):
    shape = draw(shapes())
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = draw(st.sampled_from(divisors))
    new_shape = draw(st.sampled_from([(first, size // first), (size,), (first, -1), (1, size, 1)]))
    return draw(arrays(shape)), new_shape


@st.composite
def transpose_case(draw):
    """A permutation of the axes, each written non-negative or negative at random."""
    shape = draw(shapes(min_dims=1))
    n = len(shape)
    axes = tuple(a - n if draw(st.booleans()) else a for a in draw(st.permutations(range(n))))
    return draw(arrays(shape)), axes


@st.composite
def scatter_case(draw):
    """Values to add into zeros(shape) at an index (integer arrays may repeat positions: they accumulate)."""
    shape = draw(shapes(min_dims=1))
    if draw(st.booleans()):
        index = tuple(draw(st.one_of(st.integers(-n, n - 1), st.slices(n))) for n in shape)
    else:
        index = (np.array(draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6))),)
    picked_shape = np.zeros(shape)[index].shape
    return draw(arrays(picked_shape)), index, shape


def scatter_add_reference(a, index, shape):
    """zeros(shape) with ``a`` added at ``index`` by NumPy's unbuffered np.add.at (repeats accumulate)."""
    out = np.zeros(shape, dtype=a.dtype)
    np.add.at(out, index, a)
    return out


@st.composite
def swapaxes_case(draw):
    shape = draw(shapes(min_dims=1))
    axis = st.integers(-len(shape), len(shape) - 1)
    return draw(arrays(shape)), draw(axis), draw(axis)


@st.composite
def apart_pair(draw):
    """Two broadcastable arrays whose elements are never within 0.3 of each other (no ties, no kinks):
    x on k + 0.25 and y on k + 0.75 (k an integer), each jittered by less than 0.1."""
    a_shape, b_shape = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)).input_shapes

    def lattice(shape, offset):
        grid = draw(hnp.arrays(np.int64, shape, elements=st.integers(-3, 2)))
        jitter = draw(hnp.arrays(np.float64, shape, elements=st.floats(-0.1, 0.1)))
        return np.asarray(grid + offset + jitter, dtype=np.float64)

    return lattice(a_shape, 0.25), lattice(b_shape, 0.75)


@st.composite
def where_case(draw):
    shapes_ = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3)).input_shapes
    condition = draw(hnp.arrays(np.bool_, shapes_[0]))
    return draw(arrays(shapes_[1])), draw(arrays(shapes_[2])), condition


@st.composite
def pow_constant_exponent(draw):
    """x > 0 and a constant exponent array (float32, so it is not drawn as a tensor) that broadcasts with it."""
    x_shape, p_shape = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)).input_shapes
    exponent = draw(hnp.arrays(np.float32, p_shape, elements=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0])))
    return draw(arrays(x_shape, 0.2, 3.0)), exponent


@st.composite
def expand_case(draw):
    """x with size-1 axes, and a target shape that stretches them (and may add leading axes)."""
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=3))
    target = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return draw(arrays(shape)), lead + target


@st.composite
def cat_case(draw):
    """Two or three arrays that agree on every axis but ``axis`` (drawn negative or not)."""
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    pieces = []
    for _ in range(draw(st.integers(2, 3))):
        piece = list(shape)
        piece[axis] = draw(st.integers(1, 3))
        pieces.append(draw(arrays(tuple(piece))))
    return (*pieces, axis)


@st.composite
def stack_case(draw):
    shape = draw(shapes())
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    return draw(arrays(shape)), draw(arrays(shape)), axis


@st.composite
def squeeze_case(draw):
    shape = draw(shapes(min_side=1, max_side=2))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1))) if shape else None
    return draw(arrays(shape)), axis


@st.composite
def unsqueeze_case(draw):
    shape = draw(shapes())
    return draw(arrays(shape)), draw(st.integers(-len(shape) - 1, len(shape)))


@st.composite
def var_case(draw):
    """Axes with at least two elements each, so the unbiased variance is defined, and distinct values, so
    the standard deviation is never at its kink sqrt(0)."""
    shape = draw(shapes(min_dims=1, min_side=2))
    return draw(distinct_arrays(shape)), draw(axis_for(len(shape))), draw(st.booleans())


@st.composite
def getitem_case(draw):
    """Basic (ints, slices, None) or integer-array indices, the latter with repeated indices."""
    shape = draw(shapes(min_dims=1))
    array = draw(arrays(shape))
    if draw(st.booleans()):
        index = tuple(draw(st.one_of(st.integers(-n, n - 1), st.slices(n))) for n in shape)
        return array, index
    picks = draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6))
    return array, (np.array(picks),)


# name -> (strategy drawing a tuple (*arrays, option), function of (*tensors, option), numpy reference)
OPS = {
    "add": (broadcast_pair(), lambda a, b: a + b, np.add),
    "sub": (broadcast_pair(), lambda a, b: a - b, np.subtract),
    "mul": (broadcast_pair(), lambda a, b: a * b, np.multiply),
    "div": (broadcast_pair(lo2=0.3, hi2=3.0), lambda a, b: a / b, np.divide),
    "div_negative_denominator": (broadcast_pair(lo2=-3.0, hi2=-0.3), lambda a, b: a / b, np.divide),
    "neg": (unary(), lambda a: -a, np.negative),
    "pow_square": (unary(), lambda a: a ** 2, lambda a: a ** 2),
    "pow_cube": (unary(), lambda a: a ** 3, lambda a: a ** 3),
    "pow_fractional": (unary(0.2, 3.0), lambda a: a ** 1.5, lambda a: a ** 1.5),
    "pow_negative": (unary(0.2, 3.0), lambda a: a ** -1, lambda a: 1 / a),
    "rpow": (unary(), lambda a: 2.0 ** a, lambda a: 2.0 ** a),
    "exp": (unary(), lambda a: a.exp(), np.exp),
    "log": (unary(0.1, 5.0), lambda a: a.log(), np.log),
    "sqrt": (unary(0.1, 5.0), lambda a: a.sqrt(), np.sqrt),
    "abs": (unary(kinks=(0.0,)), lambda a: a.abs(), np.abs),
    "relu": (unary(kinks=(0.0,)), lambda a: a.relu(), lambda a: np.maximum(a, 0)),
    "leaky_relu": (unary(kinks=(0.0,)), lambda a: a.leaky_relu(0.1), lambda a: np.where(a > 0, a, 0.1 * a)),
    "sigmoid": (unary(-8, 8), lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    "tanh": (unary(), lambda a: a.tanh(), np.tanh),
    "clip": (unary(kinks=(-1.0, 1.0)), lambda a: a.clip(-1.0, 1.0), lambda a: np.clip(a, -1, 1)),
    "sum": (with_axis(), lambda a, axis, keep: a.sum(axis=axis, keepdims=keep),
            lambda a, axis, keep: np.sum(a, axis=axis, keepdims=keep)),
    "mean": (with_axis(), lambda a, axis, keep: a.mean(axis=axis, keepdims=keep),
             lambda a, axis, keep: np.mean(a, axis=axis, keepdims=keep)),
    "max": (with_axis(distinct_arrays), lambda a, axis, keep: a.max(axis=axis, keepdims=keep),
            lambda a, axis, keep: np.max(a, axis=axis, keepdims=keep)),
    "softmax": (single_axis(), lambda a, axis: a.softmax(axis=axis),
                lambda a, axis: np.exp(a) / np.exp(a).sum(axis=axis, keepdims=True)),
    "log_softmax": (single_axis(), lambda a, axis: a.log_softmax(axis=axis),
                    lambda a, axis: a - np.log(np.exp(a).sum(axis=axis, keepdims=True))),
    "logsumexp": (single_axis(), lambda a, axis: a.logsumexp(axis=axis),
                  lambda a, axis: np.log(np.exp(a).sum(axis=axis))),
    "matmul": (matmul_pair(), lambda a, b: a @ b, np.matmul),
    "linear": (linear_case(), lambda x, w, b: ops.Linear.apply(x, w, b), lambda x, w, b: x @ w.T + b),
    "linear_without_bias": (linear_case(), lambda x, w, b: ops.Linear.apply(x, w) + b, lambda x, w, b: x @ w.T + b),
    "reshape": (reshape_case(), lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape)),
    "transpose": (transpose_case(), lambda a, axes: a.transpose(*axes), np.transpose),
    "T": (unary(), lambda a: a.T, lambda a: a.T),
    "flatten": (unary(), lambda a: a.flatten(), lambda a: a.reshape(-1)),
    "getitem": (getitem_case(), lambda a, index: a[index], lambda a, index: a[index]),
    "pow_tensor_exponent": (broadcast_pair(0.2, 3.0, -2.0, 2.0), lambda a, b: a ** b, np.power),
    "pow_constant_array_exponent": (pow_constant_exponent(), lambda a, p: a ** p.astype(a.dtype), np.power),
    "rpow_tensor_base": (broadcast_pair(-2.0, 2.0, 0.2, 3.0), lambda a, b: b ** a, lambda a, b: b ** a),
    "sin": (unary(), lambda a: a.sin(), np.sin),
    "cos": (unary(), lambda a: a.cos(), np.cos),
    "square": (unary(), lambda a: a.square(), np.square),
    "maximum": (apart_pair(), lambda a, b: a.maximum(b), np.maximum),
    "minimum": (apart_pair(), lambda a, b: a.minimum(b), np.minimum),
    "where": (where_case(), lambda a, b, c: tg.where(c, a, b), lambda a, b, c: np.where(c, a, b)),
    "clamp_lower_only": (unary(kinks=(-1.0,)), lambda a: a.clamp(min=-1.0), lambda a: np.maximum(a, -1.0)),
    "clamp_upper_only": (unary(kinks=(1.0,)), lambda a: a.clamp(max=1.0), lambda a: np.minimum(a, 1.0)),
    "min": (with_axis(distinct_arrays), lambda a, axis, keep: a.min(dim=axis, keepdim=keep),
            lambda a, axis, keep: np.min(a, axis=axis, keepdims=keep)),
    "var": (var_case(), lambda a, axis, keep: a.var(axis=axis, keepdims=keep),
            lambda a, axis, keep: np.var(a, axis=axis, keepdims=keep, ddof=1)),
    "std_population": (var_case(), lambda a, axis, keep: a.std(axis=axis, keepdims=keep, correction=0),
                       lambda a, axis, keep: np.std(a, axis=axis, keepdims=keep)),
    "expand": (expand_case(), lambda a, shape: a.expand(*shape), np.broadcast_to),
    "cat": (cat_case(), lambda *args: tg.cat(args[:-1], axis=args[-1]),
            lambda *args: np.concatenate(args[:-1], axis=args[-1])),
    "stack": (stack_case(), lambda a, b, axis: tg.stack([a, b], dim=axis), lambda a, b, axis: np.stack([a, b], axis)),
    "squeeze": (squeeze_case(), lambda a, axis: a.squeeze(axis),
                lambda a, axis: np.squeeze(a, axis) if axis is None or a.shape[axis] == 1 else a),
    "unsqueeze": (unsqueeze_case(), lambda a, axis: a.unsqueeze(axis), np.expand_dims),
    "swapaxes": (swapaxes_case(), lambda a, i, j: a.swapaxes(i, j), np.swapaxes),
    "permute": (transpose_case(), lambda a, axes: a.permute(*axes), np.transpose),
    "clone": (unary(), lambda a: a.clone(), np.copy),
    "scatter_add": (scatter_case(), lambda a, index, shape: ops.scatter_add(a, index, shape),
                    scatter_add_reference),
    # sliding windows: small shapes, every stride / padding / dilation / groups setting drawn
    "pad": (pad_case(), lambda a, pad, value: F.pad(a, pad, value), pad_reference),
    "unfold": (unfold_case(), lambda a, k, d, p, s: F.unfold(a, k, d, p, s),
               lambda a, k, d, p, s: unfold_reference(a, k, d, p, s)),
    "fold": (fold_case(), lambda a, size, k, d, p, s: F.fold(a, size, k, d, p, s), fold_reference),
    "conv2d": (conv2d_case(), F.conv2d, conv2d_reference),
    "max_pool2d": (pool_case(distinct=True), F.max_pool2d,
                   lambda a, k, s, p: pool_reference(a, k, s, p, np.max, -np.inf)),
    "max_pool2d_tiles": (tiling_pool_case(), F.max_pool2d, lambda a, k: pool_reference(a, k, k, (0, 0), np.max, -np.inf)),
    "avg_pool2d": (pool_case(), F.avg_pool2d, lambda a, k, s, p: pool_reference(a, k, s, p, np.mean, 0.0)),
    "batch_norm_training": (batch_norm_case(), lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                            batch_norm_reference),
    "batch_norm_eval": (batch_norm_eval_case(), lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b),
                        batch_norm_reference),
    "layer_norm": (layer_norm_case(), lambda x, w, b, shape: F.layer_norm(x, shape, w, b),
                   layer_norm_reference),
}


def _split(case):
    """(tensor arrays, non-tensor options): arrays are the leading float64 ndarrays of the case."""
    arrays_, options = [], []
    for item in case:
        (arrays_ if isinstance(item, np.ndarray) and item.dtype == np.float64 and not options else options).append(item)
    return arrays_, options


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_backward_matches_finite_differences(name, data):
    strategy, fn, reference = OPS[name]
    arrays_, options = _split(data.draw(strategy, label="inputs"))
    tensors = tuple(leaf(a) for a in arrays_)
    out = fn(*tensors, *options)
    np.testing.assert_allclose(out.data, reference(*arrays_, *options), rtol=1e-10, atol=1e-12)
    assert out.dtype == np.float64
    assert type(out.data) is np.ndarray, f"{name} returned {type(out.data).__name__} data, not an ndarray"
    assert tg.gradcheck(lambda *ts: fn(*ts, *options), tensors)


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_float32_inputs_give_float32_values_and_gradients(name, data):
    """No op silently promotes a float32 computation to float64, forward or backward."""
    strategy, fn, _ = OPS[name]
    arrays_, options = _split(data.draw(strategy, label="inputs"))
    tensors = tuple(tg.Tensor(a.astype(np.float32), requires_grad=True) for a in arrays_)
    out = fn(*tensors, *options)
    assert out.dtype == np.float32 and type(out.data) is np.ndarray
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert all(t.grad is None or t.grad.dtype == np.float32 for t in tensors)


def test_every_primitive_is_in_the_table():
    """Each Function subclass in ops.py is exercised by at least one row above, so each has its first-order
    (gradcheck), second-order (gradgradcheck) and PyTorch rows."""
    import inspect

    primitives = {n for n, c in vars(ops).items() if inspect.isclass(c) and issubclass(c, tg.Function)
                  and c not in (tg.Function, ops.Primitive)}
    covered = {"Add": "add", "Sub": "sub", "Mul": "mul", "Pow": "pow_square", "Exp": "exp", "Log": "log", "Abs": "abs",
               "ReLU": "relu", "LeakyReLU": "leaky_relu", "Clip": "clip", "Sigmoid": "sigmoid", "Tanh": "tanh",
               "Softmax": "softmax", "LogSoftmax": "log_softmax", "Sum": "sum", "Max": "max", "MatMul": "matmul", "Linear": "linear", "Reshape": "reshape",
               "Transpose": "transpose", "GetItem": "getitem", "Div": "div", "Sin": "sin", "Cos": "cos",
               "Maximum": "maximum", "Where": "where", "Expand": "expand", "Cat": "cat", "Cast": "clone",
               "ScatterAdd": "scatter_add", "Pad": "pad", "Unfold": "unfold", "Fold": "fold",
               "BatchNorm": "batch_norm_training", "MaxPool2d": "max_pool2d_tiles", "Conv2d": "conv2d"}
    assert primitives <= set(covered), f"primitives without a gradcheck row: {primitives - set(covered)}"
    assert all(row in OPS for row in covered.values())


@given(floats(-3, 3))
def test_scalar_tensors_differentiate(value):
    x = leaf(value)
    assert tg.gradcheck(lambda t: (t * t).sigmoid() + t.exp(), (x,))


@given(linear_case())
def test_fused_linear_equals_its_composition_in_value_and_gradients(case):
    fused, composed = [leaf(a) for a in case], [leaf(a) for a in case]
    out_fused = ops.Linear.apply(*fused)
    out_composed = composed[0] @ composed[1].T + composed[2]
    np.testing.assert_allclose(out_fused.data, out_composed.data, rtol=1e-12, atol=1e-12)
    seed = np.cos(np.arange(out_fused.size)).reshape(out_fused.shape)
    out_fused.backward(seed)
    out_composed.backward(seed)
    for f, c in zip(fused, composed):
        np.testing.assert_allclose(f.grad.data, c.grad.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("create_graph", [False, True])
def test_indexing_marked_unique_gives_the_gradient_of_accumulating_indexing(create_graph):
    """GetItem(unique=True), as cross-entropy picks one class per example, writes its gradient with assignment
    instead of np.add.at: the same gradient when no element is picked twice, and under create_graph the
    same recorded ScatterAdd, whose own gradient (with respect to the upstream gradient) is indexing again."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 10))
    index = (np.arange(2000), rng.integers(0, 10, 2000))
    weights, upstream = rng.normal(size=x.shape), rng.normal(size=2000)
    results = []
    for unique in (True, False):
        t, seed = leaf(x), leaf(upstream)
        out = ops.GetItem.apply(t, index=index, unique=unique)
        (g,) = tg.autograd.grad(out, t, grad_outputs=seed, create_graph=create_graph)
        d_seed = tg.autograd.grad((g * weights).sum(), seed)[0].data if create_graph else None
        results.append((g.data, d_seed))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert np.count_nonzero(results[0][0]) == 2000
    if create_graph:
        np.testing.assert_array_equal(results[0][1], weights[index])
        np.testing.assert_array_equal(results[1][1], weights[index])


def _log_softmax_composed(x, axis):
    """x - logsumexp(x) from Exp, Sum and Log: the composition the LogSoftmax primitive stands for."""
    m = np.max(x.data, axis=axis, keepdims=True)
    shifted = x - tg.Tensor(np.where(np.isfinite(m), m, 0))
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


@given(single_axis())
def test_log_softmax_primitive_equals_its_composition_in_value_and_gradient(case):
    a, axis = case
    fused, composed = leaf(a), leaf(a)
    out_fused, out_composed = fused.log_softmax(axis), _log_softmax_composed(composed, axis)
    assert type(out_fused.grad_fn).__name__ == "LogSoftmax"
    np.testing.assert_allclose(out_fused.data, out_composed.data, rtol=1e-12, atol=1e-12)
    seed = np.cos(np.arange(out_fused.size)).reshape(out_fused.shape)
    out_fused.backward(seed)
    out_composed.backward(seed)
    np.testing.assert_allclose(fused.grad.data, composed.grad.data, rtol=1e-12, atol=1e-12)


def test_log_softmax_takes_a_tuple_of_axes_and_names_an_axis_out_of_range():
    x = leaf(np.random.default_rng(0).normal(size=(2048, 3)))
    out = x.log_softmax(axis=(0, 1))
    np.testing.assert_allclose(np.exp(out.data).sum(), 1.0)
    with pytest.raises(np.exceptions.AxisError, match="axis 5 is out of bounds"):
        x.log_softmax(axis=5)


@pytest.mark.parametrize("rows", [1, 2048])
def test_log_softmax_of_a_row_holding_plus_infinity_is_nan_throughout_as_pytorch(rows):
    """m = +inf is subtracted like any maximum (x - inf, inf - inf): the whole row and its gradient are nan,
    and the cross-entropy is nan whichever class is the target (it was -inf beside nan, and a loss of inf)."""
    x = np.tile(np.array([[1.0, np.inf, 2.0]]), (rows, 1))
    t = leaf(x)
    with np.errstate(invalid="ignore"):
        out = t.log_softmax(1)
        out.backward(np.ones(x.shape))
        loss = F.cross_entropy(leaf(x), np.zeros(rows, dtype=np.int64))
    assert np.isnan(out.data).all() and np.isnan(t.grad.data).all() and np.isnan(loss.item())


def test_log_softmax_of_no_classes_or_no_rows_is_empty_as_pytorch():
    for shape in ((10, 0), (0, 10)):
        t = leaf(np.zeros(shape))
        out = t.log_softmax(1)
        out.backward(np.zeros(shape))
        assert out.shape == shape and t.grad.shape == shape


@pytest.mark.parametrize("axis", [1, 0, -1])
def test_log_softmax_over_many_rows_reduces_column_by_column_to_the_same_values_and_gradients(axis):
    """From 1024 rows the max and the sums combine whole columns (_reduce_short_axis); the result must be the
    row-by-row one, -inf (masked) entries, a fully masked row's nan and large logits included."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 10)) * 30
    x[5, 3] = x[7, :2] = -np.inf
    x[9] = -np.inf
    x[11, 4] = 1e8
    x = x if axis != 0 else np.ascontiguousarray(x.T)
    fused, composed = leaf(x), leaf(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        out_fused, out_composed = fused.log_softmax(axis), _log_softmax_composed(composed, axis)
        np.testing.assert_allclose(out_fused.data, out_composed.data, rtol=1e-12, atol=1e-12)
        assert np.isnan(out_fused.data).sum() == 10 and np.isneginf(out_fused.data).sum() == 3
        seed = rng.normal(size=x.shape)
        seed[np.isnan(out_fused.data)] = 0
        out_fused.backward(seed)
        out_composed.backward(seed)
    finite = np.isfinite(composed.grad.data)
    np.testing.assert_array_equal(np.isfinite(fused.grad.data), finite)
    np.testing.assert_allclose(fused.grad.data[finite], composed.grad.data[finite], rtol=1e-12, atol=1e-12)


@given(tiling_pool_case())
def test_max_pool_primitive_equals_unfold_then_max_in_value_and_gradient(case):
    """Tiling windows run ops.MaxPool2d; the composition unfold -> max over each column must agree (one
    maximum per window: distinct values)."""
    x, kernel = case
    fused, composed = leaf(x), leaf(x)
    out_fused = F.max_pool2d(fused, kernel)
    assert type(out_fused.grad_fn).__name__ == "MaxPool2d"
    n, c = x.shape[:2]
    out_composed = F.unfold(composed, kernel, stride=kernel).reshape(n, c, kernel[0] * kernel[1], -1).max(axis=2)
    out_composed = out_composed.reshape(out_fused.shape)
    np.testing.assert_array_equal(out_fused.data, out_composed.data)
    seed = np.cos(np.arange(out_fused.size)).reshape(out_fused.shape)
    out_fused.backward(seed)
    out_composed.backward(seed)
    np.testing.assert_array_equal(fused.grad.data, composed.grad.data)


def test_max_pool_primitive_gives_a_tie_to_the_first_maximum_as_pytorch():
    x = leaf(np.array([[[[1.0, 1.0, 0.0, 2.0], [0.0, 1.0, 2.0, 2.0]]]]))
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]]]


def test_max_pool_primitive_lets_a_nan_reach_the_output():
    x = tg.Tensor(np.array([[[[1.0, np.nan], [0.0, 1.0]]]]))
    assert np.isnan(F.max_pool2d(x, 2).item())


@pytest.mark.parametrize(("window", "kernel", "expected"), [
    ([[1.0, 2.0], [np.nan, 0.0]], 2, [[0.0, 0.0], [1.0, 0.0]]),
    ([[np.nan, 2.0, np.nan, 1.0]], (1, 4), [[0.0, 0.0, 1.0, 0.0]]),
    ([[np.nan], [3.0], [np.nan]], (3, 1), [[0.0], [0.0], [1.0]]),
], ids=["nan after the max", "two nans in a row", "two nans in a column"])
def test_max_pool_primitive_gives_the_gradient_to_the_last_nan_as_pytorch(window, kernel, expected):
    """A window holding nan outputs nan, and its gradient goes to the last nan in row-major order (PyTorch's
    kernel takes every nan it meets as the new maximum), not to the largest number."""
    x = leaf(np.array([[window]]))
    F.max_pool2d(x, kernel).backward(np.full((1, 1, 1, 1), 2.0))
    assert x.grad.tolist() == [[(np.array(expected) * 2).tolist()]]


@pytest.mark.parametrize(("window", "kernel", "stride", "padding", "expected"), [
    ([[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]], 2, 1, 0, [[0.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
    ([[2.0, 2.0, 2.0]], (1, 3), 1, 0, [[1.0, 0.0, 0.0]]),
    ([[1.0, np.nan, 5.0, np.nan, 0.0]], (1, 3), 1, 0, [[0.0, 1.0, 0.0, 2.0, 0.0]]),
    ([[-np.inf, -np.inf], [-np.inf, -np.inf]], 3, 2, 1, [[1.0, 0.0], [0.0, 0.0]]),
    ([[-np.inf, 1.0, -np.inf]], (1, 3), 1, (0, 1), [[0.0, 3.0, 0.0]]),
], ids=["ties overlap", "a 3-way tie", "nan windows", "all -inf with padding", "-inf beside the padding"])
def test_composed_max_pool_gives_each_window_gradient_to_pytorchs_winner(window, kernel, stride, padding, expected):
    """Overlapping or padded windows (unfold, then the winner picked by index) send a window's whole
    gradient to one element, as PyTorch's max_pool2d: the first maximum, the last nan, never the padding."""
    x = leaf(np.array([[window]]))
    out = F.max_pool2d(x, kernel, stride=stride, padding=padding)
    assert type(out.grad_fn).__name__ == "GetItem"
    out.sum().backward()
    assert x.grad.tolist() == [[expected]]


def test_composed_max_pool_has_a_second_derivative():
    """Picking by index is linear in x once the winners are fixed: the second derivative is zero, and the
    gradient's own graph (scatter, fold) is recorded."""
    x = leaf(np.random.default_rng(0).standard_normal((1, 2, 5, 5)))
    (g,) = tg.autograd.grad(F.max_pool2d(x, 3, stride=2, padding=1).pow(2).sum(), x, create_graph=True)
    assert tg.gradgradcheck(lambda t: F.max_pool2d(t, 3, stride=2, padding=1).pow(2).sum(), (x,))
    assert g.requires_grad


LOSERS_GET_ZERO = {  # op, x, the elements that lose (get no gradient) for x = [-1, 2, 0, 5, 1, 1]
    "relu": (lambda t: t.relu(), [0, 2]),
    "clip": (lambda t: t.clip(0, 1), [1, 3]),
    "maximum": (lambda t: t.maximum(tg.Tensor(np.array(1.0))), [0, 2]),
    "minimum": (lambda t: t.minimum(tg.Tensor(np.array(1.0))), [1, 3]),
    "max_pool2d tiling": (lambda t: F.max_pool2d(t.reshape(1, 1, 2, 3), (1, 3)).reshape(-1), [0, 2, 4, 5]),
    "max_pool2d overlapping": (lambda t: F.max_pool2d(t.reshape(1, 1, 1, 6), (1, 2), stride=1).reshape(-1), [0, 2]),
}


@pytest.mark.parametrize("create_graph", [False, True], ids=["arrays", "create_graph"])
@pytest.mark.parametrize("name", list(LOSERS_GET_ZERO))
def test_an_element_that_loses_gets_zero_even_from_an_inf_or_nan_gradient(name, create_graph):
    """relu, clip, maximum/minimum and max pooling send no gradient to an element that lost, whatever the
    upstream gradient holds: g * 0 would make inf or nan into nan there (PyTorch gives 0)."""
    op, losers = LOSERS_GET_ZERO[name]
    x = leaf(np.array([-1.0, 2.0, 0.0, 5.0, 1.0, 1.0]))
    out = op(x)
    seed = np.resize(np.array([np.inf, np.nan, -np.inf, 1.0, np.inf, 2.0]), out.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no "invalid value" warning on the way
        (grad,) = tg.autograd.grad(out, x, seed, create_graph=create_graph)
    assert np.all(grad.data[losers] == 0)
    assert not np.isfinite(grad.data).all()  # the winners' inf and nan do pass


@pytest.mark.parametrize("op", ["relu", "maximum", "minimum"])
def test_a_nan_input_passes_the_gradient_on_as_pytorch(op):
    """PyTorch blocks the gradient only where the input is known to lose (x <= 0 for relu, x < y for
    maximum): a nan, neither, gets g (and for maximum/minimum the other side too)."""
    x, y = leaf(np.array([np.nan, 1.0, -1.0])), leaf(np.array(0.0))
    out = {"relu": lambda: x.relu(), "maximum": lambda: x.maximum(y), "minimum": lambda: x.minimum(y)}[op]()
    out.backward(np.array([2.0, 3.0, 4.0]))
    assert x.grad.tolist() == {"relu": [2.0, 3.0, 0.0], "maximum": [2.0, 3.0, 0.0], "minimum": [2.0, 0.0, 4.0]}[op]
    if op != "relu":
        assert y.grad.item() == 2.0 + (4.0 if op == "maximum" else 3.0)


def test_backward_meeting_inf_minus_inf_gives_nan():
    """inf - inf is nan in an unbroadcast sum and when a second backward adds into .grad, as in PyTorch (NumPy
    also says so, with a RuntimeWarning pointing at where it happened; PyTorch is silent)."""
    x, y = leaf(np.array([1.0, 3.0])), leaf(np.array(1.0))
    with np.errstate(invalid="ignore"):
        x.minimum(y).backward(np.array([np.inf, -np.inf]))
        out = x * 2
        out.backward(np.array([np.inf, 1.0]), retain_graph=True)
        out.backward(np.array([-np.inf, 1.0]))
    assert np.isnan(y.grad.item()) and np.isnan(x.grad.data[0])


def test_grad_keeps_the_leafs_layout_when_a_second_backward_adds_another_layout():
    x = leaf(np.ascontiguousarray(np.random.default_rng(0).random((2, 4, 5, 3))).transpose(0, 3, 1, 2))  # channels last
    out = x * 2
    out.backward(np.ones(out.shape), retain_graph=True)
    out.backward(np.ones(out.shape)[..., ::-1])  # a gradient laid out otherwise
    assert x.grad.data.strides == x.data.strides
    np.testing.assert_array_equal(x.grad.data, 4.0)


@pytest.mark.parametrize("kernel", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_max_pool_primitive_output_never_shares_memory_with_its_input(kernel):
    """Even a 1x1 window (each output its one input) gives a new array: changing the output in place must not
    change the input, as in PyTorch."""
    data = np.arange(16.0).reshape(1, 1, 4, 4)
    x = tg.Tensor.from_numpy(data)
    out = F.max_pool2d(x, kernel)
    assert not np.shares_memory(out.data, data)
    out += 100.0
    assert data.max() == 15.0


# ops.Conv2d's ways of multiplying: windows channels first (_columns) with a product per image (few rows) or
# one product for the batch, and windows channels last (output a channels-last view); which
# one a shape takes is forced here, so that each is tested whatever _windows_channels_last would choose
CONV_WAYS = {"channels first, product per image": (3, False), "channels first, one product": (8, False),
             "channels last": (8, True)}


def force_windows(monkeypatch, channels_last):
    monkeypatch.setattr(ops, "_windows_channels_last", lambda *geometry: channels_last)


@pytest.mark.parametrize("way", CONV_WAYS)
def test_conv2d_backward_twice_with_retain_graph_gives_the_same_gradients(way, monkeypatch):
    """The first backward uses (and drops) the windows the forward copied out; the second copies them out of x
    again: both must give the same gradients, so .grad ends at exactly twice one backward's."""
    channels, channels_last = CONV_WAYS[way]
    force_windows(monkeypatch, channels_last)
    rng = np.random.default_rng(channels)
    x, w, b = leaf(rng.standard_normal((2, channels, 5, 4))), leaf(rng.standard_normal((3, channels, 3, 3))), leaf(rng.standard_normal(3))
    out = F.conv2d(x, w, b, padding=1)
    seed = rng.standard_normal(out.shape)
    out.backward(seed, retain_graph=True)
    once = [t.grad.data.copy() for t in (x, w, b)]
    out.backward(seed)
    for t, g in zip((x, w, b), once):
        np.testing.assert_allclose(t.grad.data, 2 * g, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("way", CONV_WAYS)
def test_conv2d_of_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(way, monkeypatch):
    """A batch of 0 images (the tail of a split, a filtered batch) convolves to (0, O, out_h, out_w); the
    weight and bias gradients are zeros, as PyTorch gives."""
    channels, channels_last = CONV_WAYS[way]
    force_windows(monkeypatch, channels_last)
    x = leaf(np.zeros((0, channels, 6, 5)))
    w, b = leaf(np.ones((4, channels, 3, 3))), leaf(np.ones(4))
    out = F.conv2d(x, w, b, padding=1, stride=(2, 1))
    assert out.shape == (0, 4, 3, 5)
    out.backward(np.zeros(out.shape))
    assert x.grad.shape == x.shape and w.grad.tolist() == np.zeros((4, channels, 3, 3)).tolist()
    assert b.grad.tolist() == [0.0] * 4


@given(conv2d_batch_case())
def test_conv2d_primitive_equals_its_composition_in_value_and_first_and_second_derivatives(case):
    """ops.Conv2d (one product for the whole batch) and conv2d_composed (pad, unfold, a product per image)
    are the same function: values, gradients through a random upstream gradient, and the gradient of
    a function of those gradients (second derivatives) agree."""
    x, weight, bias, stride, padding, dilation, groups = case
    fused, composed = ([leaf(a) for a in (x, weight) + (() if bias is None else (bias,))] for _ in range(2))
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    out_fused = F.conv2d(*fused, **options)
    out_composed = conv2d_composed(*composed, **options)
    assert type(out_fused.grad_fn).__name__ == "Conv2d"
    np.testing.assert_allclose(out_fused.data, out_composed.data, rtol=1e-12, atol=1e-12)
    seed = tg.Tensor(np.cos(np.arange(out_fused.size) * 1.3).reshape(out_fused.shape))
    grads_fused = tg.autograd.grad(out_fused, fused, seed, create_graph=True)
    grads_composed = tg.autograd.grad(out_composed, composed, seed, create_graph=True)
    for f, c in zip(grads_fused, grads_composed):
        np.testing.assert_allclose(f.data, c.data, rtol=1e-12, atol=1e-12)
    second_fused = tg.autograd.grad(sum((q * q.cos()).sum() for q in grads_fused), fused, allow_unused=True)
    second_composed = tg.autograd.grad(sum((q * q.cos()).sum() for q in grads_composed), composed, allow_unused=True)
    for f, c in zip(second_fused, second_composed):
        assert (f is None) == (c is None)
        if f is not None:
            np.testing.assert_allclose(f.data, c.data, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("channels", "kernel", "channels_last"), [(1, (3, 3), False), (16, (2, 2), False),
                                                                   (4, (2, 3), True)],
                         ids=["9 rows: product per image", "64 rows: one product for the batch", "channels last"])
def test_conv2d_primitive_passes_gradcheck_and_gradgradcheck_in_each_way_of_multiplying(channels, kernel,
                                                                                        channels_last, monkeypatch):
    """ops.Conv2d multiplies image by image when a group's windows have few rows (C/G*kH*kW), makes one
    product for the batch otherwise, or lays the windows out channels last: each way is differentiated
    right, to first and second order."""
    force_windows(monkeypatch, channels_last)
    rng = np.random.default_rng(channels)
    x = leaf(rng.standard_normal((2, channels, 3, 3)))
    w = leaf(rng.standard_normal((2, channels) + kernel))
    b = leaf(rng.standard_normal(2))
    assert type(F.conv2d(x, w, b, padding=1).grad_fn).__name__ == "Conv2d"
    assert tg.gradcheck(lambda *t: F.conv2d(*t, padding=1, stride=(1, 2)), (x, w, b))
    assert tg.gradgradcheck(lambda *t: F.conv2d(*t, padding=1, stride=(1, 2)), (x, w, b))


@pytest.mark.parametrize("way", CONV_WAYS)
def test_conv2d_bias_gradient_is_the_same_with_the_weight_frozen(way, monkeypatch):
    """The bias gradient comes out of the weight-gradient product (X carries a row of ones); with the weight
    frozen there is no such product and it is summed instead: both give sum of g over (n, i, j)."""
    channels, channels_last = CONV_WAYS[way]
    force_windows(monkeypatch, channels_last)
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, channels, 5, 4)), rng.standard_normal((3, channels, 3, 3)), rng.standard_normal(3)
    seed = rng.standard_normal((2, 3, 5, 4))
    grads = []
    for weight in (leaf(w), tg.Tensor(w)):
        bias = leaf(b)
        F.conv2d(leaf(x), weight, bias, padding=1).backward(seed)
        grads.append(bias.grad.data)
    np.testing.assert_allclose(grads[0], seed.sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(grads[1], seed.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_windows_channels_first_and_last_give_the_same_values_and_gradients(groups, monkeypatch):
    """The two layouts of the windows are one function: values and gradients (random upstream gradient) agree
    to rounding, the channels-last output is a channels-last view (no copy laid out again), and a gradient
    that went through ops after it (batch norm, ReLU, max-pool, flatten) is laid out channels last when it
    reaches the convolution. Groups always take the channels-first windows."""
    rng = np.random.default_rng(groups)
    data = [rng.standard_normal((3, 4, 6, 8)), rng.standard_normal((6, 4 // groups, 3, 3)), rng.standard_normal(6)]
    seed = rng.standard_normal((3, 6 * 3 * 4))
    results = []
    for channels_last in (False, True):
        force_windows(monkeypatch, channels_last)
        x, w, b = (leaf(a) for a in data)
        z = F.conv2d(x, w, b, padding=1, groups=groups)
        assert z.data.transpose(0, 2, 3, 1).flags.c_contiguous == (channels_last and groups == 1)
        out = F.max_pool2d(F.relu(F.batch_norm(z, None, None, training=True)), 2).reshape(3, -1)
        out.backward(seed)
        results.append([z.data, x.grad.data, w.grad.data, b.grad.data])
    for first, last in zip(*results):
        np.testing.assert_allclose(last, first, rtol=1e-12, atol=1e-12)


def test_gradients_come_back_in_the_layout_the_ops_forward_saw():
    """Reshape's and MaxPool2d's gradients are laid out as their input was: a channels-last input gets a
    channels-last gradient, equal to the one a C-order input gets."""
    rng = np.random.default_rng(3)
    data, seed = rng.standard_normal((2, 5, 4, 6)), rng.standard_normal((2, 5 * 2 * 3))
    channels_last = np.ascontiguousarray(data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    grads = []
    for array in (data, channels_last):
        x = tg.Tensor.from_numpy(array).requires_grad_()
        F.max_pool2d(x, 2).reshape(2, -1).backward(seed)
        grads.append(x.grad.data)
        flat = tg.Tensor.from_numpy(array).requires_grad_()
        flat.reshape(2, -1).backward(np.arange(2 * 5 * 4 * 6.0).reshape(2, -1))
        np.testing.assert_array_equal(flat.grad.data, np.arange(2 * 5 * 4 * 6.0).reshape(2, 5, 4, 6))
        assert flat.grad.data.strides == array.strides
    np.testing.assert_array_equal(grads[1], grads[0])
    assert grads[0].flags.c_contiguous and grads[1].transpose(0, 2, 3, 1).flags.c_contiguous


def test_a_leaf_gradient_is_laid_out_as_the_leaf_whatever_layout_the_ops_hand_back(monkeypatch):
    """PyTorch's rule for .grad: laid out in memory as the tensor itself. A C-order image into a convolution
    whose windows lie channels last gets a C-order .grad, a channels-last weight a channels-last .grad, and
    a channels-last map through a 1x1 max pool a channels-last one; the values do not change."""
    force_windows(monkeypatch, True)
    rng = np.random.default_rng(5)
    x_data, w_data = rng.standard_normal((2, 6, 5, 4)), rng.standard_normal((3, 6, 3, 3))
    w_last = np.ascontiguousarray(w_data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    seed = rng.standard_normal((2, 3, 5, 4))
    x, w = leaf(x_data), tg.Tensor.from_numpy(w_last).requires_grad_()
    F.conv2d(x, w, padding=1).backward(seed)
    reference = [leaf(x_data), leaf(w_data)]
    conv2d_composed(*reference, padding=1).backward(seed)
    assert x.grad.data.flags.c_contiguous and w.grad.data.strides == w_last.strides
    np.testing.assert_allclose(x.grad.data, reference[0].grad.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.data, reference[1].grad.data, rtol=1e-12, atol=1e-12)
    m_last = np.ascontiguousarray(x_data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    m = tg.Tensor.from_numpy(m_last).requires_grad_()
    F.max_pool2d(m, 1).backward(x_data)
    assert m.grad.data.strides == m_last.strides
    np.testing.assert_array_equal(m.grad.data, x_data)


@given(batch_norm_case())
def test_fused_batch_norm_equals_its_composition_in_value_and_first_and_second_derivatives(case):
    fused, composed = [leaf(a) for a in case], [leaf(a) for a in case]
    out_fused = F.batch_norm(fused[0], None, None, fused[1], fused[2], training=True)
    out_composed = batch_norm_composed(*composed)
    np.testing.assert_allclose(out_fused.data, out_composed.data, rtol=1e-10, atol=1e-10)
    seed = tg.Tensor(np.cos(np.arange(out_fused.size)).reshape(out_fused.shape))
    grads_fused = tg.autograd.grad(out_fused, fused, seed, create_graph=True)
    grads_composed = tg.autograd.grad(out_composed, composed, seed, create_graph=True)
    for f, c in zip(grads_fused, grads_composed):
        np.testing.assert_allclose(f.data, c.data, rtol=1e-9, atol=1e-9)
    # second derivatives: differentiate <grad_x, u> once more, with respect to every input
    u = np.sin(np.arange(case[0].size)).reshape(case[0].shape)
    second_fused = tg.autograd.grad((grads_fused[0] * u).sum(), fused, allow_unused=True)
    second_composed = tg.autograd.grad((grads_composed[0] * u).sum(), composed, allow_unused=True)
    for f, c, a in zip(second_fused, second_composed, case):  # None: grad_x does not depend on that input
        np.testing.assert_allclose(np.zeros_like(a) if f is None else f.data,
                                   np.zeros_like(a) if c is None else c.data, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_second_derivatives_match_finite_differences_of_first(name, data):
    """Every primitive is differentiable twice: gradgradcheck differentiates the recorded backward pass
    (with respect to the inputs and to the upstream gradient) and compares with finite differences."""
    strategy, fn, _ = OPS[name]
    arrays_, options = _split(data.draw(strategy, label="inputs"))
    tensors = tuple(leaf(a) for a in arrays_)
    assert tg.gradgradcheck(lambda *ts: fn(*ts, *options), tensors)
