"""Weight initialisation: fill a Parameter's array in place with random numbers of a chosen scale.

Why the scale matters: a layer computes sums of ``fan_in`` products, so weights of size ~1 make
activations grow like sqrt(fan_in) per layer (and sigmoids saturate, gradients vanish); weights of
size ~1/sqrt(fan_in) keep them of order 1. Each scheme below is one answer to "how small".

Every function writes into ``param.data`` (the same array object; its dtype is kept), raises the
parameter's ``_version`` by one (an in-place change), returns the parameter, and draws from ``rng``
(a ``numpy.random.Generator``) or from a fresh generator seeded with ``seed``; with neither it uses
the package's default generator (``tinygrad_edu.random``), which ``tg.manual_seed`` resets.
Samples are drawn in float64 and then stored in the parameter's dtype, so a float32 and a
float64 model built with the same seed hold the same numbers (up to rounding).

>>> import numpy as np
>>> from tinygrad_edu import nn
>>> w = nn.Parameter(np.empty((2, 3)))
>>> bool(np.all(np.abs(nn.init.kaiming_uniform_(w, a=5 ** 0.5, seed=0).data) <= 1 / 3 ** 0.5))
True
"""

from __future__ import annotations

import math

import numpy as np

from ..random import generator as _generator
from ..random import manual_seed  # noqa: F401  (tinygrad_edu.manual_seed, also reachable as nn.init.manual_seed)
from ..tensor import Tensor


def _fill(param, values):
    if not isinstance(param, Tensor):
        raise TypeError(f"init functions fill a Parameter or Tensor in place, got {type(param).__name__}")
    param.data[...] = values
    param._version += 1  # an in-place change, like every optimizer step
    return param


def _fans(param):
    """(fan_in, fan_out) of a weight: for PyTorch's layout (out, in, *kernel) fan_in = in * kernel size."""
    shape = param.shape
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight with at least 2 axes (out, in), got shape {shape}; "
                         "for a bias pass fan_in= explicitly where the function accepts it")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps activation variance constant through ``nonlinearity`` (PyTorch's table).

    relu: sqrt(2) (half the inputs are zeroed); leaky_relu with slope a: sqrt(2 / (1 + a^2));
    tanh: 5/3; linear and sigmoid: 1.

    >>> round(calculate_gain("leaky_relu", 5 ** 0.5), 6)
    0.57735
    """
    if nonlinearity in ("linear", "identity", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r} "
                     "(choose linear, sigmoid, tanh, relu or leaky_relu)")


# ---- the standard schemes (PyTorch's torch.nn.init) ---------------------------------------------

def uniform_(param, low=0.0, high=1.0, *, seed=None, rng=None):
    """Fill with samples of U(low, high).

    >>> import numpy as np
    >>> p = uniform_(Tensor(np.empty(4)), -1, 1, seed=0)
    >>> bool(((p.data >= -1) & (p.data < 1)).all())
    True
    """
    return _fill(param, _generator(seed, rng).uniform(low, high, param.shape))


def normal_(param, mean=0.0, std=1.0, *, seed=None, rng=None):
    """Fill with samples of N(mean, std^2).

    >>> import numpy as np
    >>> normal_(Tensor(np.empty(2)), seed=0).data.round(3).tolist()
    [0.126, -0.132]
    """
    return _fill(param, _generator(seed, rng).normal(mean, std, param.shape))


def zeros_(param):
    """Fill with zeros (the usual start for biases).

    >>> import numpy as np
    >>> zeros_(Tensor(np.ones(2))).data.tolist()
    [0.0, 0.0]
    """
    return _fill(param, 0)


def ones_(param):
    """Fill with ones."""
    return _fill(param, 1)


def constant_(param, value):
    """Fill with ``value``."""
    return _fill(param, value)


def xavier_uniform_(param, gain=1.0, *, seed=None, rng=None):
    """Glorot & Bengio (2010): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).

    Keeps the variance of activations (forward) and of gradients (backward) about equal across
    layers for tanh/sigmoid networks: Var(w) = 2 / (fan_in + fan_out), and U(-b, b) has variance b^2/3.

    >>> import numpy as np
    >>> w = xavier_uniform_(Tensor(np.empty((4, 2))), seed=0)
    >>> bool(np.all(np.abs(w.data) <= 1.0))    # sqrt(6 / 6) = 1
    True
    """
    fan_in, fan_out = _fans(param)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound, seed=seed, rng=rng)


def kaiming_uniform_(param, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None, rng=None):
    """He et al. (2015): U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's default for ``Linear.weight`` is ``kaiming_uniform_(w, a=sqrt(5))``: gain = sqrt(1/3),
    so b = 1 / sqrt(fan_in).

    >>> import numpy as np
    >>> w = kaiming_uniform_(Tensor(np.empty((3, 4))), a=5 ** 0.5, seed=0)
    >>> bool(np.all(np.abs(w.data) <= 0.5))    # 1 / sqrt(4)
    True
    """
    fan_in, fan_out = _fans(param)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(param, -bound, bound, seed=seed, rng=rng)


# ---- the schemes of the course networks in examples/, by name ------------------------------------

def centered_uniform_(param, factor=1.0, *, seed=None, rng=None):
    """(U(0, 1) - 0.5) * factor, i.e. U(-factor/2, factor/2): ``init_params(factor)`` of examples/init_scale_grid.py.

    >>> import numpy as np
    >>> w = centered_uniform_(Tensor(np.empty((10, 784))), factor=0.2, seed=0)
    >>> bool(np.all(np.abs(w.data) <= 0.1))
    True
    """
    return _fill(param, (_generator(seed, rng).random(param.shape) - 0.5) * factor)


def fan_in_uniform_(param, fan_in=None, *, seed=None, rng=None):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): ``limit = 1/np.sqrt(784)`` of examples/mse_vs_cross_entropy.py.

    ``fan_in`` defaults to the weight's input size (``shape[1]``); a bias (1-D) needs it given.
    This is also the distribution of PyTorch's default ``Linear`` init, weights and biases alike.

    >>> import numpy as np
    >>> b = fan_in_uniform_(Tensor(np.empty(30)), fan_in=784, seed=0)
    >>> bool(np.all(np.abs(b.data) <= 1 / 28))
    True
    """
    if fan_in is None:
        fan_in = _fans(param)[0]
    bound = 1.0 / math.sqrt(fan_in)
    return uniform_(param, -bound, bound, seed=seed, rng=rng)


def epsilon_uniform_(param, *, seed=None, rng=None):
    """Andrew Ng's rule (ex4, examples/ng_ex4_cg.py): U(-eps, eps) with eps = sqrt(6) / sqrt(L_in + L_out).

    L_in and L_out are the layer's input and output sizes (``shape[1]`` and ``shape[0]``). It is
    Xavier's uniform bound. (The notebook behind that example writes ``(6/(lin+lout))**1/2``, which
    Python reads as ``(6/(lin+lout)) / 2``; the formula from the course is the square root, used here.)

    >>> import numpy as np
    >>> w = epsilon_uniform_(Tensor(np.empty((25, 400))), seed=0)
    >>> bool(np.all(np.abs(w.data) <= 6 ** 0.5 / 425 ** 0.5))
    True
    """
    fan_in, fan_out = _fans(param)
    epsilon = math.sqrt(6.0) / math.sqrt(fan_in + fan_out)
    return uniform_(param, -epsilon, epsilon, seed=seed, rng=rng)


def standard_normal_(param, *, seed=None, rng=None):
    """N(0, 1) for every weight and bias: Nielsen's ``np.random.randn(y, x)`` (examples/nielsen_network.py).

    >>> import numpy as np
    >>> standard_normal_(Tensor(np.empty(2)), seed=0).data.round(3).tolist()
    [0.126, -0.132]
    """
    return normal_(param, 0.0, 1.0, seed=seed, rng=rng)
