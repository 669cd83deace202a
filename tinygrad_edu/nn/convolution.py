"""Convolution, pooling and normalisation as compositions of Tensor operations (no derivative here).

A convolution is a matrix product over sliding windows: ``F.pad`` adds the border, ``F.unfold`` copies
every kH x kW window into a column (im2col: ``(N, C, H, W) -> (N, C*kH*kW, L)``, L windows), and one
matrix product with the weight reshaped to ``(out, C*kH*kW)`` gives every output pixel at once.
Pooling is unfold followed by a max or a mean over each column's window. The gradients come from the
primitives ``ops.Pad`` (adjoint: slicing), ``ops.Unfold`` (adjoint: ``ops.Fold``, which adds
overlapping windows back) and ``ops.MatMul``, so the gradient of a convolution is itself a
convolution, computed by the same code (``conv2d_composed``). ``conv2d`` itself runs the same calculus
as one primitive, ``ops.Conv2d``, which multiplies the windows of the whole batch at once and keeps less
memory; ``max_pool2d`` and ``batch_norm`` likewise have primitives beside their compositions, each checked
to agree with it. Shapes and values follow PyTorch's ``torch.nn.functional``.

>>> import numpy as np
>>> from tinygrad_edu import Tensor
>>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> conv2d(x, Tensor(np.ones((1, 1, 2, 2)))).shape       # a 2x2 box filter: sums of 2x2 windows
(1, 1, 3, 3)
>>> max_pool2d(x, 2).tolist()
[[[[5.0, 7.0], [13.0, 15.0]]]]
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor


def _is_int(value) -> bool:
    """An int (Python's or NumPy's), not a bool: a size or a count."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _pair(value, name: str, fn: str) -> tuple:
    """An int or a pair of ints as a pair: 3 -> (3, 3) (PyTorch's convention for sizes)."""
    if isinstance(value, str):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r} (sizes given by name, "
                        f"such as 'same', are not supported: give them in pixels)")
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _check_4d(x: Tensor, fn: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected a 4-D input (N, C, H, W), got shape {x.shape}"
                         + (" (add the batch axis with x.unsqueeze(0))" if x.ndim == 3 else ""))


def _check_windows(x: Tensor, kernel, dilation, padding, stride, fn: str) -> None:
    """Checks the sizes of a sliding window over x and names the shapes in the error."""
    if min(padding) < 0:
        raise ValueError(f"{fn}: padding must be >= 0, got {padding}")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{fn}: kernel_size, stride and dilation must be >= 1, got kernel_size={kernel}, "
                         f"stride={stride}, dilation={dilation}")
    height, width = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if span[0] > height or span[1] > width:
        raise ValueError(f"{fn}: the kernel {kernel} (spanning {span} with dilation {dilation}) is larger than "
                         f"the padded input {(height, width)} (input {x.shape}, padding {padding})")


def _windows(x: Tensor, kernel, dilation, padding, stride, fn: str, pad_value=0.0):
    """x padded by ``padding`` and unfolded: ((N, C*kH*kW, L) columns, (out_h, out_w)).
    Checks the sizes and names the shapes in the error."""
    _check_windows(x, kernel, dilation, padding, stride, fn)
    height, width = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if max(padding) > 0:
        x = ops.Pad.apply(x, widths=((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), value=pad_value)
    out_size = ops._window_geometry(height, width, kernel, dilation, stride)
    return ops.unfold(x, kernel, dilation, stride), out_size


def pad(input: Tensor, pad, value: float = 0.0) -> Tensor:
    """``input`` with a constant border, PyTorch's pad tuple: ``(left, right)`` pads the last axis,
    ``(left, right, top, bottom)`` the last two, and so on (last axis first). A negative width crops,
    as in PyTorch. The border takes ``value``; the result keeps the input's dtype.

    Raises ValueError for a tuple of odd length or longer than twice the number of axes, or negative
    widths that crop more than an axis holds.

    >>> pad(Tensor(np.ones((1, 2))), (1, 0)).tolist()
    [[0.0, 1.0, 1.0]]
    """
    input = _as_tensor(input)
    if not all(_is_int(p) for p in pad):
        raise TypeError(f"pad: the pad widths must be ints, got {tuple(pad)}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) > 2 * input.ndim:
        raise ValueError(f"pad: the pad tuple must hold (before, after) pairs for at most {input.ndim} axes of "
                         f"an input of shape {input.shape}, got {pad}")
    pairs = [(0, 0)] * (input.ndim - len(pad) // 2) + [(pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
    out = input
    if any(b > 0 or a > 0 for b, a in pairs):
        out = ops.Pad.apply(input, widths=tuple((max(b, 0), max(a, 0)) for b, a in pairs), value=value)
    if any(b < 0 or a < 0 for b, a in pairs):  # a negative width crops the input itself (PyTorch's rule)
        kept = [n - max(-b, 0) - max(-a, 0) for (b, a), n in zip(pairs, input.shape)]
        if min(kept) < 0:
            raise ValueError(f"pad: the negative widths {pad} crop more than the input of shape {input.shape} holds")
        out = out[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs, out.shape))]
    return out


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: ``(N, C, H, W) -> (N, C*kH*kW, L)``, every kH x kW window (after zero padding) as one column,
    L = out_h * out_w windows in row-major order, out_h = (H + 2*pad - dil*(kH-1) - 1) // stride + 1
    (torch.nn.Unfold's formula). Row ``c*kH*kW + p*kW + q`` of a column is channel c at offset (p, q)."""
    input = _as_tensor(input)
    _check_4d(input, "unfold")
    args = [_pair(v, n, "unfold") for v, n in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                 (padding, "padding"), (stride, "stride"))]
    return _windows(input, args[0], args[1], args[2], args[3], "unfold")[0]


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, unfold's adjoint: ``(N, C*kH*kW, L) -> (N, C, H, W)`` with ``(H, W) = output_size``, each column
    added into the window it came from (overlaps add up), then the padding cropped (torch.nn.Fold).

    Raises ValueError when the input is not 3-D, its rows are not a multiple of kH*kW, or L differs from
    the number of windows that fit ``output_size``.
    """
    input = _as_tensor(input)
    size, kernel, dil, padding_, step = (_pair(v, n, "fold") for v, n in (
        (output_size, "output_size"), (kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"),
        (stride, "stride")))
    if input.ndim != 3:
        raise ValueError(f"fold: expected a 3-D input (N, C*kH*kW, L), got shape {input.shape}")
    if min(padding_) < 0:
        raise ValueError(f"fold: padding must be >= 0, got {padding_}")
    if min(kernel) < 1 or min(step) < 1 or min(dil) < 1:
        raise ValueError(f"fold: kernel_size, stride and dilation must be >= 1, got kernel_size={kernel}, "
                         f"stride={step}, dilation={dil}")
    if input.shape[1] % (kernel[0] * kernel[1]):
        raise ValueError(f"fold: the input's {input.shape[1]} rows (shape {input.shape}) are not a multiple of "
                         f"kH*kW = {kernel[0] * kernel[1]} for kernel_size {kernel}")
    padded = (size[0] + 2 * padding_[0], size[1] + 2 * padding_[1])
    out_h, out_w = ops._window_geometry(*padded, kernel, dil, step)
    if out_h < 1 or out_w < 1 or out_h * out_w != input.shape[2]:
        raise ValueError(f"fold: an input of shape {input.shape} has {input.shape[2]} columns, but "
                         f"{max(out_h, 0) * max(out_w, 0)} windows of kernel {kernel} fit output_size {size} "
                         f"(padding {padding_}, dilation {dil}, stride {step})")
    out = ops.fold(input, padded, kernel, dil, step)
    if max(padding_) > 0:
        out = out[:, :, padding_[0]:padded[0] - padding_[0], padding_[1]:padded[1] - padding_[1]]
    return out


def _conv2d_arguments(input, weight, bias, stride, padding, dilation, groups):
    """conv2d's operands as Tensors and its sizes as pairs, checked: the errors name the shapes."""
    input, weight = _as_tensor(input), _as_tensor(weight)
    _check_4d(input, "conv2d")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (out_channels, in_channels/groups, kH, kW), "
                         f"got shape {weight.shape}")
    channels = input.shape[1]
    out_channels, group_channels, kh, kw = weight.shape
    if not _is_int(groups):
        raise TypeError(f"conv2d: groups must be a positive int, got {groups!r}")
    if out_channels < 1:
        raise ValueError(f"conv2d: the weight {weight.shape} has no output channels (its first axis must be >= 1)")
    if groups < 1 or channels % groups or out_channels % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input's {channels} channels "
                         f"(input {input.shape}) and the weight's {out_channels} output channels (weight {weight.shape})")
    if channels // groups != group_channels:
        raise ValueError(f"conv2d: the input has {channels} channels (shape {input.shape}) but the weight {weight.shape} "
                         f"with groups={groups} expects {group_channels * groups}")
    if input.dtype != weight.dtype and np.result_type(input.dtype, weight.dtype) != weight.dtype:
        raise TypeError(f"conv2d: input is {input.dtype} but the weight is {weight.dtype}; convert the input "
                        f"first, e.g. x.astype(np.{weight.dtype}) (or the model, e.g. model.double())")
    if bias is not None:
        bias = _as_tensor(bias)
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(f"conv2d: bias must have shape ({out_channels},) for a weight of shape {weight.shape}, "
                             f"got {tuple(bias.shape)}")
        if bias.dtype != weight.dtype:
            raise TypeError(f"conv2d: the bias is {bias.dtype} but the weight is {weight.dtype}; give both one dtype "
                            f"(PyTorch refuses the mix too)")
    sizes = {name: _pair(value, name, "conv2d") for name, value in
             (("stride", stride), ("padding", padding), ("dilation", dilation))}
    _check_windows(input, (kh, kw), sizes["dilation"], sizes["padding"], sizes["stride"], "conv2d")
    return input, weight, bias, sizes


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d): input ``(N, C, H, W)``, weight ``(O, C/groups, kH, kW)``,
    bias ``(O,)`` -> ``(N, O, out_h, out_w)``, out_h = (H + 2*pad - dil*(kH-1) - 1) // stride + 1.

    Runs the primitive ``ops.Conv2d``: the windows of the whole batch as the columns of one matrix, one
    matrix product per group. ``conv2d_composed`` computes the same function from pad, unfold and matmul
    (the picture to read first). The dtype is that of the operands (float32 stays float32).

    Raises ValueError naming the shapes for: an input that is not 4-D, a weight that is not 4-D, groups that
    do not divide the input or output channels, a channel count that does not match the weight, a bias of
    the wrong shape, a negative padding, a kernel larger than the padded input; TypeError for an input
    whose dtype would promote the weight's (float64 images into a float32 layer), as ``linear`` does, and
    for a bias whose dtype is not the weight's.
    """
    input, weight, bias, sizes = _conv2d_arguments(input, weight, bias, stride, padding, dilation, groups)
    operands = (input, weight) if bias is None else (input, weight, bias)
    return ops.Conv2d.apply(*operands, groups=groups, **sizes)


def conv2d_composed(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
                    groups: int = 1) -> Tensor:
    """conv2d as a composition of Tensor operations, the same function, arguments and errors as ``conv2d``.

    pad + unfold gives columns ``(N, C*kH*kW, L)``; with G groups they are viewed as ``(N, G, C/G*kH*kW, L)``
    and the weight as ``(G, O/G, C/G*kH*kW)``, and one batched matrix product ``weight @ columns`` gives
    ``(N, G, O/G, L)``, reshaped to the output. Its gradients come from Pad, Unfold, MatMul and Add.
    """
    input, weight, bias, sizes = _conv2d_arguments(input, weight, bias, stride, padding, dilation, groups)
    n, out_channels, (group_channels, kh, kw) = input.shape[0], weight.shape[0], weight.shape[1:]
    cols, (out_h, out_w) = _windows(input, (kh, kw), sizes["dilation"], sizes["padding"], sizes["stride"], "conv2d")
    cols = cols.reshape(n, groups, group_channels * kh * kw, out_h * out_w)
    out = weight.reshape(groups, out_channels // groups, group_channels * kh * kw) @ cols
    out = out.reshape(n, out_channels, out_h, out_w)
    return out if bias is None else out + bias.reshape(1, out_channels, 1, 1)


def _pool_windows(input, kernel_size, stride, padding, fn, pad_value):
    input = _as_tensor(input)
    _check_4d(input, fn)
    kernel = _pair(kernel_size, "kernel_size", fn)
    step = kernel if stride is None or stride == () else _pair(stride, "stride", fn)
    padding = _pair(padding, "padding", fn)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{fn}: padding {padding} must be at most half the kernel {kernel}")
    cols, (out_h, out_w) = _windows(input, kernel, (1, 1), padding, step, fn, pad_value)
    n, c = input.shape[:2]
    return cols.reshape(n, c, kernel[0] * kernel[1], out_h, out_w)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """The max of each kH x kW window: ``(N, C, H, W) -> (N, C, out_h, out_w)``; ``stride`` defaults to the
    kernel size, the padding is at most half the kernel and never wins (PyTorch's rules): -inf (the
    lowest integer, for integer images). Integer images stay integer.

    The whole gradient of a window goes to one element, PyTorch's winner: the first maximum in row-major
    order; in a window holding nan, the last nan (the output is nan); in a window whose values are all
    -inf, its first element inside the input (padding never wins). Windows that tile the input (stride =
    kernel, no padding, sizes multiples of the kernel, e.g. the usual 2x2) run the primitive
    ``ops.MaxPool2d``, which reads them in place; other windows run unfold, then pick each window's
    winner by indexing (see ``_window_winners``), so that the gradient is indexing's: scattered back to
    the winner, and folded back into the image.
    """
    input = _as_tensor(input)
    kernel = _pair(kernel_size, "kernel_size", "max_pool2d")
    step = kernel if stride is None or stride == () else _pair(stride, "stride", "max_pool2d")
    padding = _pair(padding, "padding", "max_pool2d")
    if (input.ndim == 4 and step == kernel and padding == (0, 0) and min(kernel) >= 1
            and input.shape[2] % kernel[0] == 0 and input.shape[3] % kernel[1] == 0 and input.size > 0):
        return ops.MaxPool2d.apply(input, kernel_size=kernel)
    kind = input.dtype.kind  # padded with the dtype's lowest value: -inf, an integer type's minimum, False
    lowest = -np.inf if kind in "fc" else np.iinfo(input.dtype).min if kind in "iu" else False
    windows = _pool_windows(input, kernel_size, stride, padding, "max_pool2d", lowest)  # (N, C, kH*kW, oh, ow)
    return windows.reshape(-1)[_window_winners(windows.data, input.shape, kernel, step, padding, lowest)]


def _window_winners(values: np.ndarray, shape, kernel, stride, padding, lowest) -> np.ndarray:
    """Where each window's winner lies in ``values.reshape(-1)``: values (N, C, kH*kW, out_h, out_w) are the
    unfolded windows of an input of ``shape``, padded with ``lowest``; the result is (N, C, out_h, out_w).

    The winner is the one PyTorch's max-pooling kernel picks, found the same way, for every window at
    once: read the window in row-major order, starting from its first element inside the input with the
    maximum so far at ``lowest``; a value takes over when it is larger than the maximum so far, or is nan.
    So ties go to the first maximum, a nan window to its last nan, an all -inf window to its first element
    inside the input, and padding never wins. (np.argmax over the window axis, plus fixes for nan and -inf,
    took twice as long: it reads across a non-contiguous axis.)

    Which element wins is a decision on the values, not a derivative: the max is then plain indexing,
    whose gradient (scatter) sends g to the winner alone."""
    n, c, size, out_h, out_w = values.shape
    winner = np.zeros((n, c, out_h, out_w), dtype=np.int16 if size < 2**15 else np.intp)  # (small: fewer bytes to move)
    if max(padding) > 0:  # each window starts at its first element inside the input
        inside = np.zeros((1, 1, shape[2] + 2 * padding[0], shape[3] + 2 * padding[1]), dtype=bool)
        inside[..., padding[0]:padding[0] + shape[2], padding[1]:padding[1] + shape[3]] = True
        windows = ops._window_view(inside, kernel, (1, 1), stride)  # (1, 1, out_h, out_w, kH, kW)
        winner += np.argmax(windows.reshape(windows.shape[:4] + (-1,)), axis=4)
    best = np.full(winner.shape, lowest, dtype=values.dtype)
    nan = values.dtype.kind == "f" and bool(np.isnan(values).any())  # (one pass, not one per candidate)
    for k in range(size):
        candidate = values[:, :, k]
        took = candidate > best
        if nan:
            took |= np.isnan(candidate)
        best = np.maximum(best, candidate)  # (a nan stays the maximum so far, as in the kernel)
        winner += took * (k - winner)       # k where it took over
    window_starts = (np.arange(n * c).reshape(n, c, 1, 1) * size + winner.astype(np.intp)) * (out_h * out_w)
    return window_starts + np.arange(out_h * out_w).reshape(out_h, out_w)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """The mean of each kH x kW window: ``(N, C, H, W) -> (N, C, out_h, out_w)``; ``stride`` defaults to the
    kernel size; zero padding counts in the mean (PyTorch's default ``count_include_pad=True``)."""
    return _pool_windows(input, kernel_size, stride, padding, "avg_pool2d", 0.0).mean(axis=2)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def batch_norm(input: Tensor, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1) of ``(N, C)``, ``(N, C, L)`` or
    ``(N, C, H, W)`` input (Ioffe & Szegedy 2015; PyTorch's F.batch_norm).

    Training: mean and biased variance over every axis but 1, and, when given, the running statistics
    (arrays or Tensors of shape ``(C,)``) are updated in place outside the graph:
    ``running = (1 - momentum) * running + momentum * batch_stat``, the variance unbiased (n / (n - 1)) as
    PyTorch does. Training runs the fused primitive ``ops.BatchNorm`` (``batch_norm_composed`` is the same
    function as a composition of Tensor operations). Evaluation: the running statistics normalise.

    Raises ValueError for an input with fewer than 2 axes, statistics or affine parameters whose size is not
    C, a batch with one value per channel in training, or evaluation without running statistics;
    TypeError for integer running statistics in training (they could not hold the update).
    """
    input = _as_tensor(input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, ...) with at least 2 axes, got shape {input.shape}")
    if input.dtype.kind != "f":  # integer images are normalised in floating point: float32, or the weight's dtype
        input = input.astype(np.float32 if weight is None else np.result_type(np.float32, _data(weight).dtype))
    channels = input.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if v is not None and tuple(np.shape(_data(v))) != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(np.shape(_data(v)))} but the input {input.shape} "
                             f"has {channels} features (channels on axis 1)")
    if training:
        if momentum is None and (running_mean is not None or running_var is not None):
            raise TypeError("batch_norm: momentum must be a number to update the running statistics; momentum=None "
                            "(their cumulative average) is nn.BatchNorm's option, which passes 1 / batches seen")
        if input.size // channels < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {input.shape}")
        weight = _as_tensor(np.ones(channels, dtype=input.dtype) if weight is None else weight)
        bias = _as_tensor(np.zeros(channels, dtype=input.dtype) if bias is None else bias)
        running = None
        if running_mean is not None or running_var is not None:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm: give both running_mean and running_var, or neither")
            running = (_data(running_mean), _data(running_var), momentum)
            if any(np.asarray(stat).dtype.kind != "f" for stat in running[:2]):
                raise TypeError(f"batch_norm: running_mean and running_var must be floating-point arrays to be updated "
                                f"in place, got {np.asarray(running[0]).dtype} and {np.asarray(running[1]).dtype}")
        return ops.BatchNorm.apply(input, weight, bias, eps=eps, running=running)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    shape = (1, channels) + (1,) * (input.ndim - 2)
    mean = Tensor(np.asarray(_data(running_mean), dtype=input.dtype).reshape(shape))
    var = Tensor(np.asarray(_data(running_var), dtype=input.dtype).reshape(shape))
    return _affine((input - mean) / (var + eps).sqrt(), weight, bias, shape)


def batch_norm_composed(input: Tensor, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Training-mode batch norm written as a composition of Tensor operations:
    ``(x - mean) / sqrt(var + eps) * weight + bias``, mean and biased variance over every axis but 1.
    ``batch_norm(training=True)`` runs the fused primitive ``ops.BatchNorm`` instead (fewer passes over
    the input); a property test checks that the two agree in value, gradient and second derivative."""
    input = _as_tensor(input)
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    mean = input.mean(axis=axes, keepdims=True)
    var = input.var(axis=axes, keepdims=True, correction=0)
    return _affine((input - mean) / (var + eps).sqrt(), weight, bias, shape)


def _affine(out: Tensor, weight, bias, shape) -> Tensor:
    if weight is not None:
        out = out * _as_tensor(weight).reshape(shape)
    if bias is not None:
        out = out + _as_tensor(bias).reshape(shape)
    return out


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing axes ``normalized_shape`` (an int or a
    tuple; mean and biased variance of each example; Ba, Kiros & Hinton 2016; PyTorch's F.layer_norm).
    ``weight`` and ``bias`` have shape ``normalized_shape``.

    Raises ValueError when the input's trailing axes, or the shape of ``weight`` or ``bias``, are not
    ``normalized_shape``.
    """
    input = _as_tensor(input)
    normalized = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not normalized or input.shape[input.ndim - len(normalized):] != normalized or len(normalized) > input.ndim:
        raise ValueError(f"layer_norm: normalized_shape {normalized} must equal the trailing axes of the input, "
                         f"got shape {input.shape}")
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(np.shape(_data(v))) != normalized:
            raise ValueError(f"layer_norm: {name} has shape {tuple(np.shape(_data(v)))} but must have the shape "
                             f"normalized_shape {normalized} (input {input.shape})")
    axes = tuple(range(input.ndim - len(normalized), input.ndim))
    mean = input.mean(axis=axes, keepdims=True)
    out = (input - mean) / (input.var(axis=axes, keepdims=True, correction=0) + eps).sqrt()
    if weight is not None:
        out = out * _as_tensor(weight)
    if bias is not None:
        out = out + _as_tensor(bias)
    return out
