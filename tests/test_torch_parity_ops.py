"""Every op in the property-test table agrees with PyTorch in float64: values, and gradients through a
random upstream gradient (an all-ones seed would hide a transposed or misrouted gradient).

Optional: skipped, with the reason shown, when torch is not installed (it is never a dependency).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_op_gradients import OPS, _split

import tinygrad_edu as tg

torch = pytest.importorskip("torch", reason="PyTorch parity is checked only where torch is installed")


def _t(a):
    return torch.as_tensor(np.array(a))  # a copy: torch refuses negative strides


def _all_axes(a, axis):
    return tuple(range(a.ndim)) if axis is None else axis


def _sum(a, axis, keep):
    return a.sum(dim=_all_axes(a, axis), keepdim=keep) if a.ndim else a.clone()


def _mean(a, axis, keep):
    return a.mean(dim=_all_axes(a, axis), keepdim=keep) if a.ndim else a.clone()


def _amax(a, axis, keep):
    return torch.amax(a, dim=() if axis is None else axis, keepdim=keep) if a.ndim else a.clone()


def _amin(a, axis, keep):
    return torch.amin(a, dim=() if axis is None else axis, keepdim=keep) if a.ndim else a.clone()


def _var(a, axis, keep, correction=1):
    return torch.var(a, dim=axis, keepdim=keep, correction=correction)


def _getitem(a, index):
    """NumPy indexing (negative steps too, which torch lacks) as a gather of flat positions."""
    positions = np.arange(a.numel()).reshape(a.shape)[index]
    return a.reshape(-1)[_t(positions)]


def _scatter_add(a, index, shape):
    """zeros(shape) with a added at a NumPy index, as index_add_ on flat positions."""
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    flat = torch.zeros(int(np.prod(shape)), dtype=a.dtype).index_add(0, _t(positions).reshape(-1), a.reshape(-1))
    return flat.reshape(shape)


# name in OPS -> the same computation written with torch, on torch tensors and the same options
TORCH = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "div_negative_denominator": lambda a, b: a / b, "neg": lambda a: -a,
    "pow_square": lambda a: a ** 2, "pow_cube": lambda a: a ** 3, "pow_fractional": lambda a: a ** 1.5,
    "pow_negative": lambda a: a ** -1, "rpow": lambda a: 2.0 ** a,
    "pow_tensor_exponent": lambda a, b: a ** b, "rpow_tensor_base": lambda a, b: b ** a,
    "pow_constant_array_exponent": lambda a, p: a ** _t(p).double(),
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs, "relu": torch.relu,
    "leaky_relu": lambda a: torch.nn.functional.leaky_relu(a, 0.1), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "sin": torch.sin, "cos": torch.cos, "square": torch.square,
    "clip": lambda a: torch.clamp(a, -1.0, 1.0), "clamp_lower_only": lambda a: torch.clamp(a, min=-1.0),
    "clamp_upper_only": lambda a: torch.clamp(a, max=1.0),
    "maximum": torch.maximum, "minimum": torch.minimum,
    "where": lambda a, b, c: torch.where(_t(c), a, b),
    "sum": _sum, "mean": _mean,
    "max": _amax, "min": _amin, "var": _var,
    "std_population": lambda a, axis, keep: torch.std(a, dim=axis, keepdim=keep, correction=0),
    "softmax": lambda a, axis: torch.softmax(a, dim=axis), "log_softmax": lambda a, axis: torch.log_softmax(a, dim=axis),
    "logsumexp": lambda a, axis: torch.logsumexp(a, dim=axis),
    "matmul": lambda a, b: a @ b,
    "linear": lambda x, w, b: torch.nn.functional.linear(x, w, b),
    "linear_without_bias": lambda x, w, b: torch.nn.functional.linear(x, w) + b,
    "reshape": lambda a, shape: a.reshape(shape), "transpose": lambda a, axes: a.permute(*axes) if axes else a.clone(),
    "permute": lambda a, axes: a.permute(*axes) if axes else a.clone(), "T": lambda a: a.permute(*reversed(range(a.ndim))) if a.ndim else a.clone(),
    "swapaxes": lambda a, i, j: a.transpose(i, j), "flatten": lambda a: a.flatten(),
    "getitem": _getitem, "expand": lambda a, shape: a.expand(*shape) if shape else a.clone(),
    "cat": lambda *args: torch.cat(args[:-1], dim=args[-1]),
    "stack": lambda a, b, axis: torch.stack([a, b], dim=axis),
    "squeeze": lambda a, axis: a.squeeze() if axis is None else a.squeeze(axis),
    "unsqueeze": lambda a, axis: a.unsqueeze(axis), "clone": lambda a: a.clone(),
    "scatter_add": lambda a, index, shape: _scatter_add(a, index, shape),
    "pad": lambda a, pad, value: torch.nn.functional.pad(a, pad, value=value),
    "unfold": lambda a, k, d, p, s: torch.nn.functional.unfold(a, k, dilation=d, padding=p, stride=s),
    "fold": lambda a, size, k, d, p, s: torch.nn.functional.fold(a, size, k, dilation=d, padding=p, stride=s),
    "conv2d": lambda x, w, b, s, p, d, g: torch.nn.functional.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g),
    "max_pool2d": lambda a, k, s, p: torch.nn.functional.max_pool2d(a, k, stride=s, padding=p),
    "max_pool2d_tiles": lambda a, k: torch.nn.functional.max_pool2d(a, k),
    "avg_pool2d": lambda a, k, s, p: torch.nn.functional.avg_pool2d(a, k, stride=s, padding=p),
    "batch_norm_training": lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True),
    "batch_norm_eval": lambda x, w, b, m, v: torch.nn.functional.batch_norm(
        x, torch.tensor(m, dtype=torch.float64), torch.tensor(v, dtype=torch.float64), w, b),
    "layer_norm": lambda x, w, b, shape: torch.nn.functional.layer_norm(x, shape, w, b),
}


def test_every_row_of_the_op_table_has_a_torch_counterpart():
    assert set(OPS) <= set(TORCH), f"rows without a PyTorch counterpart: {set(OPS) - set(TORCH)}"


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=40)
@given(data=st.data())
def test_values_and_gradients_equal_pytorch_float64(name, data):
    strategy, fn, _ = OPS[name]
    arrays_, options = _split(data.draw(strategy, label="inputs"))
    ours = [tg.Tensor(a, requires_grad=True) for a in arrays_]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays_]
    out, expected = fn(*ours, *options), TORCH[name](*theirs, *options)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.as_tensor(upstream))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        want = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad.data
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name}: gradient of input {i}")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_max_pool_sends_ties_nans_and_infinities_where_pytorch_does(data):
    """Windows full of ties (values from {0, 1, 2}), nan, inf and -inf, over strides, paddings and overlapping
    or tiling windows: the same values and the same gradient as torch, through a random upstream gradient."""
    kernel = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)),
             data.draw(st.integers(kernel[0], 7)), data.draw(st.integers(kernel[1], 7)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.choice(np.array([0.0, 1.0, 2.0, np.nan, np.inf, -np.inf]), size=shape, p=[0.3, 0.3, 0.2, 0.05, 0.05, 0.1])
    theirs = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.max_pool2d(theirs, kernel, stride=stride, padding=padding)
    seed = rng.standard_normal(out.shape)
    out.backward(torch.tensor(seed))
    ours = tg.Tensor(x, requires_grad=True)
    mine = tg.nn.functional.max_pool2d(ours, kernel, stride=stride, padding=padding)
    mine.backward(seed)
    np.testing.assert_array_equal(mine.data, out.detach().numpy())
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "clamp", "maximum", "max_pool2d"])
def test_masked_gradients_meet_inf_and_nan_as_pytorchs(name):
    """An upstream gradient holding inf and nan: the elements that lost get 0, as in torch."""
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (2, 3, 4, 6)).astype(np.float64)
    ops = {"relu": (lambda t: torch.relu(t), lambda t: t.relu()),
           "clamp": (lambda t: t.clamp(-1, 1), lambda t: t.clip(-1, 1)),
           "maximum": (lambda t: torch.maximum(t, torch.zeros(())), lambda t: t.maximum(tg.Tensor(np.array(0.0)))),
           "max_pool2d": (lambda t: torch.nn.functional.max_pool2d(t, 2), lambda t: tg.nn.functional.max_pool2d(t, 2))}
    theirs_op, ours_op = ops[name]
    theirs = torch.tensor(x, requires_grad=True)
    out = theirs_op(theirs)
    seed = rng.choice(np.array([1.0, -2.0, np.inf, -np.inf, np.nan]), size=out.shape)
    out.backward(torch.tensor(seed))
    ours = tg.Tensor(x, requires_grad=True)
    ours_op(ours).backward(seed)
    np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())
