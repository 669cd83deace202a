"""Layers: each ``forward`` is a few Tensor operations, so each gradient comes from the primitives.

>>> import numpy as np
>>> from tinygrad_edu import Tensor, nn
>>> model = nn.MLP([4, 8, 3], seed=0)
>>> model
MLP(
  (0): Linear(in_features=4, out_features=8, bias=True)
  (1): ReLU()
  (2): Linear(in_features=8, out_features=3, bias=True)
)
>>> model(Tensor(np.ones((5, 4), dtype=np.float32))).shape
(5, 3)
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections import OrderedDict

import numpy as np

from ..random import generator
from . import functional as F
from . import init
from .module import Module, ModuleList, Parameter


def _check_size(value, what: str, layer: str) -> int:
    """A layer width: an integer of at least 1 (``bool`` and ``2.0`` are refused, not silently converted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {what} must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{layer} needs positive sizes, got {what}={value}")
    return int(value)


COLUMN_MAJOR_FROM = 2**16  # nn.Linear stores weights of at least this many elements column by column


class Linear(Module):
    """y = x @ W^T + b, with W of shape (out_features, in_features) and b of shape (out_features,).

    This is PyTorch's shape: row i of W holds the weights into output unit i (in memory a large W is
    stored column by column, see ``__init__``; values, shape and state_dict are PyTorch's, but
    ``weight.data.reshape(-1)`` of such a W is a copy, so write through ``weight.data[...] = ...``,
    ``nn.utils.vector_to_parameters`` or ``load_state_dict``). The default init is
    PyTorch's too: ``kaiming_uniform_(W, a=sqrt(5))`` and b ~ U(+-1/sqrt(in_features)), which makes
    both W and b uniform on [-1/sqrt(in_features), 1/sqrt(in_features)]. ``seed`` (a non-negative int)
    or ``rng`` (a ``numpy.random.Generator``) make it reproducible; with neither, the weights come from
    the package's default generator, which ``tg.manual_seed`` resets. ``dtype`` is float32 unless given.

    >>> import numpy as np
    >>> from tinygrad_edu import Tensor
    >>> layer = Linear(3, 2, seed=0)
    >>> layer.weight.shape, layer.bias.shape, layer.weight.dtype
    ((2, 3), (2,), dtype('float32'))
    >>> layer(Tensor(np.zeros((4, 3), dtype=np.float32))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype=np.float32,
                 seed=None, rng=None):
        super().__init__()
        self.in_features = _check_size(in_features, "in_features", "Linear")
        self.out_features = _check_size(out_features, "out_features", "Linear")
        rng = generator(seed, rng)
        # W is (out, in) as PyTorch's. A large W lies in memory column by column (Fortran order): its
        # transpose (in, out) is the C-contiguous array, so the forward x @ W^T multiplies by a row-major
        # (in, out) matrix, the orientation OpenBLAS runs fastest for large products here, and ops.Linear
        # writes dL/dW in W's layout. Measured (float32, batch 128): x @ W^T for W of 512 x 784 took
        # 1.10 ms column-major against 1.22 ms row-major, and B1's training step (784-512-256-10) ran
        # 3-7 % faster in four of five interleaved A/B runs (even in the fifth). Small products take OpenBLAS's small-matrix kernels, faster the other way round:
        # a 784 -> 30 layer on a batch of 10 took 38 us forward + backward column-major, 33 us row-major.
        shape = (out_features, in_features)
        if in_features * out_features >= COLUMN_MAJOR_FROM:
            self.weight = Parameter(np.empty(shape[::-1], dtype=dtype).T)
        else:
            self.weight = Parameter(np.empty(shape, dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            init.fan_in_uniform_(self.bias, fan_in=in_features, rng=rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict passed as the only argument),
    hence parameter names like ``"0.weight"``. Indexable (a slice gives a Sequential), ``len``, iterable.

    >>> from collections import OrderedDict
    >>> net = Sequential(OrderedDict([("fc1", Linear(2, 3, seed=0)), ("act", ReLU())]))
    >>> [name for name, _ in net.named_parameters()], len(net), net[1]
    (['fc1.weight', 'fc1.bias'], 2, ReLU())
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    """tanh x, elementwise."""

    def forward(self, x):
        return x.tanh()


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """e^x / sum(e^x) along ``axis`` (PyTorch calls it ``dim``)."""

    def __init__(self, axis: int = -1, *, dim=None):
        super().__init__()
        self.axis = axis if dim is None else dim

    def forward(self, x):
        return x.softmax(self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """x - logsumexp(x) along ``axis``: log-probabilities, stable for any finite x."""

    def __init__(self, axis: int = -1, *, dim=None):
        super().__init__()
        self.axis = axis if dim is None else dim

    def forward(self, x):
        return x.log_softmax(self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class Dropout(Module):
    """While training, zero each element with probability p and scale survivors by 1/(1-p).

    The scaling ("inverted dropout") keeps every element's expected value unchanged, so evaluation
    (``model.eval()``) uses the layer as the identity with no rescaling. ``seed`` or ``rng`` make the
    masks reproducible: the layer owns one generator and draws a new mask per call. With neither, each
    mask is drawn from the package's default generator at call time, so ``tg.manual_seed`` (called
    before or after the layer is built) makes the sequence of masks repeat.

    >>> import numpy as np
    >>> from tinygrad_edu import Tensor
    >>> drop = Dropout(0.5, seed=0)
    >>> drop(Tensor(np.ones(6))).tolist()
    [2.0, 0.0, 0.0, 0.0, 2.0, 2.0]
    >>> drop.eval()(Tensor(np.ones(3))).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, *, seed=None, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must lie in [0, 1], got p={p}")
        self.p = p
        self._rng = generator(seed, rng) if (seed is not None or rng is not None) else None

    def forward(self, x):
        return F.dropout(x, self.p, self.training, rng=self._rng)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    """Reshape (N, d1, d2, ...) to (N, d1 * d2 * ...): axes from ``start_axis`` on become one."""

    def __init__(self, start_axis: int = 1):
        super().__init__()
        self.start_axis = start_axis

    def forward(self, x):
        return x.flatten(self.start_axis)

    def extra_repr(self):
        return f"start_axis={self.start_axis}"


class Unflatten(Module):
    """Reshape axis ``axis`` of the input into ``unflattened_size``: the inverse of ``Flatten``.

    ``Unflatten(1, (1, 28, 28))`` turns a batch of MNIST rows ``(N, 784)`` into images ``(N, 1, 28, 28)``,
    as ``Conv2d`` expects. The sizes must multiply to the length of that axis (one of them may be -1).
    PyTorch's name for ``axis`` (``dim=``) is accepted too.

    >>> import numpy as np
    >>> from tinygrad_edu import Tensor
    >>> Unflatten(1, (1, 28, 28))(Tensor(np.zeros((5, 784), dtype=np.float32))).shape
    (5, 1, 28, 28)
    """

    def __init__(self, axis: int = 1, unflattened_size=(), *, dim=None):
        super().__init__()
        self.axis = axis if dim is None else dim
        self.unflattened_size = tuple(int(size) for size in unflattened_size)
        if not self.unflattened_size:
            raise ValueError("Unflatten needs the sizes to split the axis into, e.g. Unflatten(1, (1, 28, 28))")

    def forward(self, x):
        axis = self.axis + x.ndim if self.axis < 0 else self.axis
        if not 0 <= axis < x.ndim:
            raise ValueError(f"Unflatten: axis {self.axis} is out of range for an input of shape {x.shape}")
        known = math.prod(size for size in self.unflattened_size if size != -1)
        if -1 not in self.unflattened_size and known != x.shape[axis]:
            raise ValueError(f"Unflatten: axis {self.axis} of the input has {x.shape[axis]} elements, which cannot be "
                             f"split into {self.unflattened_size} ({known} elements); input shape {x.shape}")
        return x.reshape(*x.shape[:axis], *self.unflattened_size, *x.shape[axis + 1:])

    def extra_repr(self):
        return f"axis={self.axis}, unflattened_size={self.unflattened_size}"


class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x):
        return x


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "identity": Identity}


class MLP(Sequential):
    """A multilayer perceptron: Linear layers of the given sizes with ``activation`` between them.

    ``MLP([784, 16, 16, 10])`` is Linear(784, 16), act, Linear(16, 16), act, Linear(16, 10): the last
    layer has no activation, so it outputs logits for ``F.cross_entropy`` (or
    ``F.binary_cross_entropy_with_logits``). ``activation`` is a name in ``ACTIVATIONS`` or a
    Module class. ``seed``/``rng`` make the whole init reproducible (with neither, it draws from the
    package's default generator, which ``tg.manual_seed`` resets); ``dtype`` defaults to float32.

    >>> [name for name, _ in MLP([3, 4, 2], activation="sigmoid", seed=0).named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, sizes, activation="relu", bias: bool = True, *, dtype=np.float32, seed=None, rng=None):
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (list, tuple, np.ndarray, range)):
            raise TypeError(f"MLP: sizes must be a list of layer sizes such as [784, 16, 10], got "
                            f"{type(sizes).__name__} {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got sizes={list(sizes)}")
        sizes = [_check_size(s, f"sizes[{i}]", "MLP") for i, s in enumerate(sizes)]
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"MLP: unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)} "
                                 "or pass a Module class")
            activation = ACTIVATIONS[activation]
        rng = generator(seed, rng)
        layers = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype, rng=rng))
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)
        self.sizes = sizes


__all__ = [
    "MLP",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ModuleList",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
]
