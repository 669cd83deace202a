"""What every benchmark version shares: the data, the initial weights, the batch order, the work count.

The three versions of a workload (NumPy floor, tinygrad_edu, PyTorch) must do the same computation for
their times to compare, so everything that decides *what* is computed lives here and is handed to each:
the initial parameters are drawn once with a seed and copied into each framework, and every version walks
the same permutation of the training set.

>>> import numpy as np
>>> params = init_params((784, 30, 10), "torch_default", seed=0)
>>> [p.shape for p in params], {str(p.dtype) for p in params}
([(30, 784), (30,), (10, 30), (10,)], {'float32'})
>>> bool(np.abs(params[0]).max() <= 1 / np.sqrt(784))
True
>>> [len(b) for b in batch_indices(10, 4, seed=0)]
[4, 4, 2]
>>> round(epoch_gflop(60_000, (784, 512, 256, 10)), 1)   # B1's work per epoch
192.6
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Data:
    """MNIST in the layout every version reads: images float32 (n, 784) in [0, 1], labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def y_train_onehot(self) -> np.ndarray:
        """(n, 10) float32 targets for the quadratic cost of B2, made once and cached."""
        cached = getattr(self, "_onehot", None)
        if cached is None:
            cached = np.zeros((len(self.y_train), 10), dtype=np.float32)
            cached[np.arange(len(self.y_train)), self.y_train] = 1.0
            self._onehot = cached
        return cached


def load_data() -> Data:
    """The MNIST training and test sets via ``tinygrad_edu.data.load_mnist`` (cached after the first call)."""
    from tinygrad_edu.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist()
    return Data(np.ascontiguousarray(x_train, dtype=np.float32), y_train.astype(np.int64, copy=False),
                np.ascontiguousarray(x_test, dtype=np.float32), y_test.astype(np.int64, copy=False), "MNIST")


def init_params(sizes, scheme: str, seed: int) -> list[np.ndarray]:
    """Initial ``[W1, b1, W2, b2, ...]`` as float32, each W in PyTorch's (out, in) layout.

    Schemes, one per workload's recipe:
      - ``"torch_default"``: PyTorch's nn.Linear init, W and b ~ U(-1/sqrt(in), 1/sqrt(in)) (B1);
      - ``"nielsen"``: W and b ~ N(0, 1), as in Nielsen's network.py (B2);
      - ``"uniform_half"``: W and b ~ U(-0.5, 0.5), notebook 000's ``rand() - 0.5`` (B3).
    """
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        for shape in ((fan_out, fan_in), (fan_out,)):
            if scheme == "torch_default":
                bound = 1.0 / math.sqrt(fan_in)
                values = rng.uniform(-bound, bound, size=shape)
            elif scheme == "nielsen":
                values = rng.standard_normal(size=shape)
            elif scheme == "uniform_half":
                values = rng.uniform(-0.5, 0.5, size=shape)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}; use torch_default, nielsen or uniform_half")
            params.append(values.astype(np.float32))
    return params


def batch_indices(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """One epoch's mini-batches: a permutation of range(n) from ``default_rng(seed)``, cut into batches.

    This is exactly the order ``tinygrad_edu.data.DataLoader(x, y, batch_size, seed=seed)`` serves on its
    first pass, so the NumPy and PyTorch versions see the tinygrad_edu version's batches
    (``tests/test_benchmarks_smoke.py`` checks that).
    """
    order = np.random.default_rng(seed).permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def layer_work(sizes) -> int:
    """sum(in * out) over the layers: multiply-adds per example in one forward pass."""
    return sum(a * b for a, b in itertools.pairwise(sizes))


def epoch_gflop(samples: int, sizes) -> float:
    """Training work in GFLOP: 6 * samples * sum(in * out).

    Per example and layer a forward matmul is 2 * in * out FLOP, and backward is two more of the same
    size (input gradient and weight gradient). The first layer's input gradient is not actually needed,
    so this slightly overstates the work; it is the usual convention, kept so that figures compare.
    """
    return 6.0 * samples * layer_work(sizes) / 1e9


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the label."""
    return float((np.asarray(logits).argmax(axis=1) == labels).mean())


@dataclass(frozen=True)
class Spec:
    """One workload's recipe, shared by its three versions.

    ``steps`` is the number of optimizer steps in the timed unit (one epoch for B1 and B2, 100 full-batch
    steps for B3); ``per`` says how the runner reports the time: per "epoch" or per "step".
    """

    key: str
    title: str
    sizes: tuple
    activation: str
    init: str
    lr: float
    batch_size: int | None     # None: full batch
    steps: int
    per: str
    init_seed: int = 0
    order_seed: int = 1
    macs: int | None = None    # multiply-adds per example, forward; None: sum(in * out) over ``sizes``
    unit: str | None = None    # the reporting unit when not the default one (report.time_unit)

    def samples_per_step(self, n_train: int) -> int:
        return n_train if self.batch_size is None else self.batch_size

    def gflop(self, samples: int) -> float:
        """Training work for ``samples`` examples: 6 multiply-add FLOP per forward multiply-add (forward,
        input gradient, weight gradient), as ``epoch_gflop``."""
        return epoch_gflop(samples, self.sizes) if self.macs is None else 6.0 * samples * self.macs / 1e9


class Trainer:
    """One version of one workload. The runner calls ``reset()`` (untimed), then times ``train()``.

    Subclasses set ``version`` and implement ``reset``, ``train``, ``params`` and ``predict``.
    ``train(steps)`` runs the first ``steps`` optimizer steps of the workload (all of them when None)
    from the state ``reset`` left; ``on_step(i)``, when given, is called after step i (the memory probe
    uses it; timing runs pass None).
    """

    version = "?"

    def __init__(self, spec: Spec, data: Data):
        self.spec, self.data = spec, data
        self.init = self.initial_params()
        self.reset()

    def initial_params(self) -> list[np.ndarray]:
        """The initial parameters, the same for every version of a workload: an MLP's by default."""
        return init_params(self.spec.sizes, self.spec.init, self.spec.init_seed)

    def reset(self):
        raise NotImplementedError

    def train(self, steps=None, on_step=None):
        raise NotImplementedError

    def params(self) -> list[np.ndarray]:
        """Current ``[W1, b1, W2, b2, ...]`` as NumPy arrays (W in (out, in) layout)."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (or output activations) for a batch of images."""
        raise NotImplementedError

    def test_accuracy(self) -> float:
        return accuracy(self.predict(self.data.x_test), self.data.y_test)


class AutogradTrainer(Trainer):
    """A version written with an autograd framework: ``reset`` builds ``self.model`` and ``self.opt``;
    ``batches(steps)`` yields each step's (inputs, target) and ``criterion(output, target)`` is the loss, so
    ``losses(steps)`` yields each step's loss; the optimizer loop below is the same for both frameworks
    (``benchmarks.phases`` times the same parts one by one)."""

    def batches(self, steps):
        raise NotImplementedError

    def criterion(self, output, target):
        raise NotImplementedError

    def losses(self, steps):
        model = self.model
        for inputs, target in self.batches(steps):
            yield self.criterion(model(inputs), target)

    def train(self, steps=None, on_step=None):
        opt = self.opt
        for i, loss in enumerate(self.losses(steps)):
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(i)
        self.loss = loss.item()


class TinygradTrainer(AutogradTrainer):
    """A tinygrad_edu version: ``reset`` builds ``self.model``, whose parameters and outputs are read here."""

    def params(self):
        return [p.data for p in self.model.parameters()]

    def predict(self, x):
        import tinygrad_edu as tg

        with tg.no_grad():
            return self.model(tg.Tensor(x)).numpy()


class TorchTrainer(AutogradTrainer):
    """A PyTorch version: ``reset`` builds ``self.model`` (a ``torch.nn.Module``)."""

    def params(self):
        return [p.detach().numpy() for p in self.model.parameters()]

    def predict(self, x):
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()


def to_in_out(params: list[np.ndarray]) -> list[np.ndarray]:
    """Copies with each weight transposed to NumPy's natural (in, out) layout, so that ``x @ W`` is the layer.

    The NumPy floors keep their weights this way: the weight gradient is then ``a_in^T @ dz``, which
    OpenBLAS runs faster and far more steadily than ``dz^T @ a_in`` when the other core is busy (the
    (out, in) orientation measured 5-20x slower in the median on this project's shared 2-core machines).
    """
    return [np.ascontiguousarray(p.T) if p.ndim == 2 else p.copy() for p in params]


def to_out_in(params: list[np.ndarray]) -> list[np.ndarray]:
    """Views of (in, out) weights in PyTorch's (out, in) layout: what ``Trainer.params`` returns."""
    return [p.T if p.ndim == 2 else p for p in params]


def tinygrad_mlp(sizes, activation: str, init: list[np.ndarray]):
    """``nn.Sequential`` of Linear layers with ``activation`` between them (and after the last one for
    sigmoid, as in Nielsen's network), loaded with ``init`` through the public ``load_state_dict``."""
    from tinygrad_edu import nn

    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[activation]
    layers = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2 or activation == "sigmoid":
            layers.append(act())
    model = nn.Sequential(*layers)
    names = [name for name, _ in model.named_parameters()]
    model.load_state_dict(dict(zip(names, init)))
    return model


def torch_mlp(sizes, activation: str, init: list[np.ndarray]):
    """The same network as ``tinygrad_mlp`` in PyTorch, with the same initial values copied in."""
    import torch

    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[activation]
    layers = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2 or activation == "sigmoid":
            layers.append(act())
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for param, value in zip(model.parameters(), init):
            param.copy_(torch.from_numpy(value))
    return model
