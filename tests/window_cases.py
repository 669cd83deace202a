"""Hypothesis strategies and plain-loop NumPy references for the sliding-window rows of the op table
(pad, unfold, fold, conv2d, pooling, batch and layer norm).

Shapes stay small (batch <= 2, channels <= 4, sides <= 6) so that gradgradcheck on every drawn case is
quick; strides, paddings, dilations, groups and non-square kernels and images are all drawn. The
references are written as loops over output positions, independently of ``ops._unfold_arrays``.
"""

import numpy as np
from hypothesis import strategies as st
from strategies import arrays, distinct_arrays

pairs = st.tuples


def _span(kernel, dilation):
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


@st.composite
def window_geometry(draw, max_kernel=3, max_dilation=2, max_padding=1, max_stride=2, padding_at_most_half=False,
                    extra=2, max_batch=2):
    """(input shape (N, C, H, W), kernel, dilation, padding, stride) with the window fitting the padded input
    (each side at most ``extra`` larger than the smallest that fits)."""
    kernel = draw(pairs(st.integers(1, max_kernel), st.integers(1, max_kernel)))
    dilation = draw(pairs(st.integers(1, max_dilation), st.integers(1, max_dilation)))
    if padding_at_most_half:
        padding = tuple(draw(st.integers(0, min(max_padding, k // 2))) for k in kernel)
    else:
        padding = draw(pairs(st.integers(0, max_padding), st.integers(0, max_padding)))
    stride = draw(pairs(st.integers(1, max_stride), st.integers(1, max_stride)))
    span = _span(kernel, dilation)
    size = tuple(draw(st.integers(max(1, s - 2 * p), max(1, s - 2 * p) + extra)) for s, p in zip(span, padding))
    return (draw(st.integers(1, max_batch)), draw(st.integers(1, 2))) + size, kernel, dilation, padding, stride


def _out_size(size, kernel, dilation, padding, stride):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


def unfold_reference(x, kernel, dilation, padding, stride, pad_value=0.0):
    """(N, C*kH*kW, L) by loops: column (i, j), row (c, p, q) = padded x[c, i*sH + p*dH, j*sW + q*dW]."""
    n, c, h, w = x.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=pad_value)
    out_h, out_w = _out_size((h, w), kernel, dilation, padding, stride)
    cols = np.zeros((n, c, kernel[0], kernel[1], out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            for p in range(kernel[0]):
                for q in range(kernel[1]):
                    cols[:, :, p, q, i, j] = x[:, :, i * stride[0] + p * dilation[0], j * stride[1] + q * dilation[1]]
    return cols.reshape(n, c * kernel[0] * kernel[1], out_h * out_w)


def fold_reference(cols, size, kernel, dilation, padding, stride):
    n = cols.shape[0]
    out_h, out_w = _out_size(size, kernel, dilation, padding, stride)
    cols = cols.reshape(n, -1, kernel[0], kernel[1], out_h, out_w)
    out = np.zeros((n, cols.shape[1], size[0] + 2 * padding[0], size[1] + 2 * padding[1]))
    for i in range(out_h):
        for j in range(out_w):
            for p in range(kernel[0]):
                for q in range(kernel[1]):
                    out[:, :, i * stride[0] + p * dilation[0], j * stride[1] + q * dilation[1]] += cols[:, :, p, q, i, j]
    return out[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]


def conv2d_reference(x, w, b, stride, padding, dilation, groups):
    n, _, h, width = x.shape
    o, cg, kh, kw = w.shape
    out_h, out_w = _out_size((h, width), (kh, kw), dilation, padding, stride)
    cols = unfold_reference(x, (kh, kw), dilation, padding, stride).reshape(n, groups, cg * kh * kw, out_h * out_w)
    out = np.einsum("gok,ngkl->ngol", w.reshape(groups, o // groups, cg * kh * kw), cols)
    return out.reshape(n, o, out_h, out_w) + b.reshape(1, o, 1, 1)


def pool_reference(x, kernel, stride, padding, reduce, pad_value):
    n, c, h, w = x.shape
    stride = kernel if stride is None else stride
    cols = unfold_reference(x, kernel, (1, 1), padding, stride, pad_value)
    out_h, out_w = _out_size((h, w), kernel, (1, 1), padding, stride)
    return reduce(cols.reshape(n, c, kernel[0] * kernel[1], out_h, out_w), axis=2)


def pad_reference(x, pad, value):
    """PyTorch's pad tuple (last axis first; negative widths crop) with np.pad and slicing."""
    pairs_ = [(0, 0)] * (x.ndim - len(pad) // 2) + [(pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
    out = np.pad(x, [(max(b, 0), max(a, 0)) for b, a in pairs_], constant_values=value)
    return out[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs_, out.shape))]


@st.composite
def pad_case(draw):
    """An array of 1-3 axes, a pad tuple for some of its trailing axes (widths -1..2, never cropping an
    axis away), and a constant."""
    shape = draw(st.lists(st.integers(2, 3), min_size=1, max_size=3).map(tuple))
    pad = []
    for n in reversed(shape[len(shape) - draw(st.integers(1, len(shape))):]):
        pad += [draw(st.integers(-1, 2)), draw(st.integers(0 if n == 2 and pad and pad[-1] < 0 else -1, 2))]
    return draw(arrays(shape)), tuple(pad), draw(st.sampled_from([0.0, -1.5]))


@st.composite
def unfold_case(draw):
    shape, kernel, dilation, padding, stride = draw(window_geometry(extra=1, max_batch=1))
    return draw(arrays(shape)), kernel, dilation, padding, stride


@st.composite
def fold_case(draw):
    shape, kernel, dilation, padding, stride = draw(window_geometry(extra=1, max_batch=1))
    out_h, out_w = _out_size(shape[2:], kernel, dilation, padding, stride)
    cols = draw(arrays((shape[0], shape[1] * kernel[0] * kernel[1], out_h * out_w)))
    return cols, shape[2:], kernel, dilation, padding, stride


@st.composite
def conv2d_case(draw):
    """x (N, C, H, W) with N <= 2, weight (O, C/groups, kH, kW), bias (O,), then stride, padding, dilation,
    groups. Kernels up to 2x2 and at most 2 input channels keep gradgradcheck quick (larger kernels: the
    unfold row)."""
    groups = draw(st.integers(1, 2))
    (n, per_group, h, w), kernel, dilation, padding, stride = draw(window_geometry(max_kernel=2, extra=1, max_batch=2))
    out_channels = draw(st.sampled_from([groups, 2]))  # 1 or 2 without groups, 2 with 2 groups
    per_group = 1 if groups == 2 else per_group  # at most 2 input channels: gradgradcheck perturbs each element
    x = draw(arrays((n, per_group * groups, h, w)))
    weight = draw(arrays((out_channels, per_group) + kernel))
    return x, weight, draw(arrays((out_channels,))), stride, padding, dilation, groups


@st.composite
def conv2d_batch_case(draw):
    """As ``conv2d_case`` with batches of up to 3 images, up to 3 groups of 1, 2 or 8 channels each, kernels up
    to 3x3, paddings up to 2 and no bias as well: for comparing ``ops.Conv2d`` with the composition, whose
    layouts differ in where the batch axis goes. 8 channels and a 3x3 kernel make 72 rows of windows per
    group, enough for ops.Conv2d to make one product for the batch; fewer make one per image."""
    groups = draw(st.integers(1, 3))
    (_, _, h, w), kernel, dilation, padding, stride = draw(window_geometry(max_padding=2, extra=2))
    n, per_group, out_per_group = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 8])), draw(st.integers(1, 2))
    x = draw(arrays((n, per_group * groups, h, w)))
    weight = draw(arrays((out_per_group * groups, per_group) + kernel))
    bias = draw(st.none() | arrays((out_per_group * groups,)))
    return x, weight, bias, stride, padding, dilation, groups


@st.composite
def pool_case(draw, distinct=False):
    """x (N, C, H, W) (distinct values for max: one winner per window), kernel, stride (None: the kernel),
    padding at most half the kernel."""
    shape, kernel, _, padding, stride = draw(window_geometry(max_dilation=1, padding_at_most_half=True))
    x = draw(distinct_arrays(shape) if distinct else arrays(shape))
    return x, kernel, draw(st.one_of(st.none(), st.just(stride))), padding


@st.composite
def tiling_pool_case(draw, distinct=True):
    """x (N, C, kH*a, kW*b) and a kernel whose windows tile it (stride = kernel, no padding): the windows
    ops.MaxPool2d pools in place. Distinct values, so each window has one maximum."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), kernel[0] * draw(st.integers(1, 2)),
             kernel[1] * draw(st.integers(1, 2)))
    return draw(distinct_arrays(shape) if distinct else arrays(shape)), kernel


@st.composite
def batch_norm_case(draw):
    """x (N, C) or (N, C, H, W) with at least 2 values per channel, distinct (the variance is never 0),
    weight and bias (C,)."""
    channels = draw(st.integers(1, 2))
    shape = draw(st.sampled_from([(draw(st.integers(2, 3)), channels), (1, channels, 2, 1), (2, channels, 1, 1)]))
    return draw(distinct_arrays(shape)), draw(arrays((channels,))), draw(arrays((channels,)))


@st.composite
def batch_norm_eval_case(draw):
    """x (N, C, H, W), weight, bias, and running statistics as lists (constants, not tensors)."""
    channels = draw(st.integers(1, 3))
    x = draw(arrays((draw(st.integers(1, 2)), channels, draw(st.integers(1, 3)), draw(st.integers(1, 3)))))
    mean = draw(arrays((channels,))).tolist()
    var = draw(arrays((channels,), 0.2, 3.0)).tolist()
    return x, draw(arrays((channels,))), draw(arrays((channels,))), mean, var


def batch_norm_reference(x, w, b, mean=None, var=None):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    mean, var = np.reshape(mean, shape), np.reshape(var, shape)
    return (x - mean) / np.sqrt(var + 1e-5) * w.reshape(shape) + b.reshape(shape)


@st.composite
def layer_norm_case(draw):
    """x of 2-3 axes (sides <= 3) with distinct values, normalised over its last 1 or 2 axes (at least 2 elements),
    weight and bias of that shape."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3)))[draw(st.integers(0, 1)):]
    trailing = shape[-draw(st.integers(1, 2)):]
    if int(np.prod(trailing)) == 1:
        shape, trailing = shape[:-1] + (2,), trailing[:-1] + (2,)
    return draw(distinct_arrays(shape)), draw(arrays(trailing)), draw(arrays(trailing)), trailing


def layer_norm_reference(x, w, b, normalized):
    axes = tuple(range(x.ndim - len(normalized), x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w + b
