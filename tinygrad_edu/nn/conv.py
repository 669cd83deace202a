"""Convolutional and normalisation layers: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``BatchNorm1d``,
``BatchNorm2d``, ``LayerNorm``. Each holds its parameters (and buffers) and calls the function of the
same name in ``nn.functional``; names, layouts, defaults and state_dict keys are PyTorch's, so a
model's ``state_dict()`` loads into the same architecture built with ``torch.nn``.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
>>> net(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32))).shape
(2, 4, 4, 4)
>>> list(net.state_dict())
['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']
"""

from __future__ import annotations

import math

import numpy as np

from ..random import generator
from . import functional as F
from . import init
from .convolution import _pair
from .layers import _check_size
from .module import Module, Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation) of ``(N, in_channels, H, W)`` input with a weight of shape
    ``(out_channels, in_channels // groups, kH, kW)`` and a bias ``(out_channels,)``: ``F.conv2d``.

    Init as PyTorch's: ``kaiming_uniform_(weight, a=sqrt(5))`` and bias ~ U(+-1/sqrt(fan_in)), with
    fan_in = in_channels / groups * kH * kW. ``seed`` / ``rng`` / ``dtype`` as for ``Linear``.
    Raises ValueError when groups does not divide both channel counts.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, *, dtype=np.float32, seed=None, rng=None):
        super().__init__()
        self.in_channels = _check_size(in_channels, "in_channels", "Conv2d")
        self.out_channels = _check_size(out_channels, "out_channels", "Conv2d")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be at least 1 on both axes, got {self.kernel_size}")
        self.stride, self.padding = _pair(stride, "stride", "Conv2d"), _pair(padding, "padding", "Conv2d")
        self.dilation, self.groups = _pair(dilation, "dilation", "Conv2d"), groups
        rng = generator(seed, rng)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
            init.fan_in_uniform_(self.bias, fan_in=in_channels // groups * int(np.prod(self.kernel_size)), rng=rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}")


class MaxPool2d(Module):
    """The max of each window: ``F.max_pool2d`` (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """The mean of each window (zero padding counted): ``F.avg_pool2d``."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: weight (ones) and bias (zeros) of shape ``(num_features,)``
    when ``affine``; buffers ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``
    when ``track_running_stats``. Training normalises with the batch's statistics and updates the running
    ones (``momentum=None``: their cumulative average, as PyTorch); ``eval()`` normalises with the running ones."""

    expected_dims: tuple = ()
    # As PyTorch's BatchNorm: a state dict without the count (an old checkpoint) loads, keeping the layer's own.
    _buffers_a_state_dict_may_lack = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, dtype=np.float32):
        super().__init__()
        self.num_features = _check_size(num_features, "num_features", type(self).__name__)
        self.eps, self.momentum, self.affine = eps, momentum, affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self.expected_dims:
            raise ValueError(f"{name}: expected an input with {' or '.join(map(str, self.expected_dims))} axes "
                             f"(N, C{', L' if name.endswith('1d') else ', H, W'}), got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}) got an input with {x.shape[1]} features on axis 1 "
                             f"(shape {x.shape})")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if momentum is None:  # PyTorch's cumulative average: the k-th batch weighs 1/k
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input over the batch (and L) per feature."""

    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input over N, H and W per channel."""

    expected_dims = (4,)


class LayerNorm(Module):
    """Normalises each example over its trailing ``normalized_shape`` axes: ``F.layer_norm``; weight (ones)
    and bias (zeros) of that shape when ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, *, dtype=np.float32):
        super().__init__()
        self.normalized_shape = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
                                 else tuple(normalized_shape))
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "LayerNorm", "MaxPool2d"]
