"""B2, per-step overhead (Nielsen's recipe): MLP 784-30-10, sigmoid, quadratic cost, SGD lr 3.0, batch 10.

One epoch = 6 000 steps over the 60 000 MNIST training images, float32, weights and biases ~ N(0, 1) as in
Nielsen's network.py. The arrays are tiny (a 10 x 784 batch), so the time per step is mostly the cost of
each operation's call, which is what this workload measures.

The NumPy floor, with weights stored as V = W^T (in, out), z = a_in @ V + b, a = sigmoid(z) at each layer
and the cost C = 0.5 * sum((a2 - y)^2) / B:
    dC/dz2 = (a2 - y) * a2 (1 - a2) / B,   dC/dz1 = (dC/dz2 @ V2^T) * a1 (1 - a1),
    dC/dV = a_in^T @ dz,   dC/db = sum of dz over the batch,   theta <- theta - lr * dC/dtheta.
It multiplies lr / B into dC/dz2 once, so its gradient arrays hold lr * dC/dtheta and each update is a
single subtraction: the fewest NumPy calls a careful hand-written step needs. Its sigmoid is the plain
1 / (1 + e^-z) (exp overflow to inf gives the correct 0), four in-place calls.
"""

from __future__ import annotations

import itertools

import numpy as np

from .common import (
    Spec,
    TinygradTrainer,
    TorchTrainer,
    Trainer,
    batch_indices,
    tinygrad_mlp,
    to_in_out,
    to_out_in,
    torch_mlp,
)

SPEC = Spec(key="B2", title="MLP 784-30-10 sigmoid, quadratic cost, SGD lr 3.0, batch 10, 6000 steps",
            sizes=(784, 30, 10), activation="sigmoid", init="nielsen", lr=3.0, batch_size=10, steps=6000,
            per="step")


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """a <- 1 / (1 + e^-a), in place."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1.0
    return np.reciprocal(a, out=a)


class NumpyB2(Trainer):
    """Hand-written forward, backward and SGD; weights (in, out); every array preallocated, written with ``out=``."""

    version = "numpy"

    def reset(self):
        b, (n0, n1, n2) = self.spec.batch_size, self.spec.sizes
        f32 = np.float32
        self.theta = to_in_out(self.init)
        self.grads = [np.empty_like(p) for p in self.theta]
        self.xb, self.yb = np.empty((b, n0), f32), np.empty((b, n2), f32)
        self.a1, self.t1, self.e1 = (np.empty((b, n1), f32) for _ in range(3))
        self.a2, self.t2, self.e2 = (np.empty((b, n2), f32) for _ in range(3))

    def step_arguments(self, steps=None):
        """The arguments of ``_gradients`` for each of the first ``steps`` steps: (x, one-hot y, batch index)."""
        x, y = self.data.x_train, self.data.y_train_onehot
        return [(x, y, index) for index in batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)[:steps]]

    def train(self, steps=None, on_step=None):
        with np.errstate(over="ignore"):          # e^-z overflows to inf for z < -88: sigmoid is then 0
            for i, arguments in enumerate(self.step_arguments(steps)):
                self._gradients(*arguments)
                self._update()
                if on_step is not None:
                    on_step(i)

    def _gradients(self, x, y, index):
        V1, b1, V2, b2 = self.theta
        gV1, gb1, gV2, gb2 = self.grads
        xb = np.take(x, index, axis=0, out=self.xb, mode="clip")
        yb = np.take(y, index, axis=0, out=self.yb, mode="clip")
        a1 = np.matmul(xb, V1, out=self.a1)
        a1 += b1
        _sigmoid_(a1)
        a2 = np.matmul(a1, V2, out=self.a2)
        a2 += b2
        _sigmoid_(a2)
        e2 = np.subtract(a2, yb, out=self.e2)
        self.loss = 0.5 * float(np.vdot(e2, e2)) / len(index)
        t2 = np.subtract(1.0, a2, out=self.t2)
        t2 *= a2
        e2 *= t2
        e2 *= self.spec.lr / len(index)            # e2 = lr * dC/dz2
        np.matmul(a1.T, e2, out=gV2)
        np.sum(e2, axis=0, out=gb2)
        e1 = np.matmul(e2, V2.T, out=self.e1)
        t1 = np.subtract(1.0, a1, out=self.t1)
        t1 *= a1
        e1 *= t1                                   # e1 = lr * dC/dz1
        np.matmul(xb.T, e1, out=gV1)
        np.sum(e1, axis=0, out=gb1)

    def _update(self):  # SGD: the gradients already hold lr * dC/dtheta
        for theta, g in zip(self.theta, self.grads):
            theta -= g

    def params(self):
        return to_out_in(self.theta)

    def predict(self, x):
        V1, b1, V2, b2 = self.theta
        with np.errstate(over="ignore"):
            return _sigmoid_(_sigmoid_(x @ V1 + b1) @ V2 + b2)


class TinygradB2(TinygradTrainer):
    """What a user writes: nn.Sequential, F.mse_loss(reduction="sum") * 0.5 / B, optim.SGD, DataLoader."""

    version = "tinygrad"

    def reset(self):
        from tinygrad_edu import data, optim

        self.model = tinygrad_mlp(self.spec.sizes, "sigmoid", self.init)
        self.opt = optim.SGD(self.model.parameters(), lr=self.spec.lr)
        self.loader = data.DataLoader(self.data.x_train, self.data.y_train_onehot, batch_size=self.spec.batch_size,
                                      shuffle=True, seed=self.spec.order_seed)

    def batches(self, steps):
        return itertools.islice(self.loader, steps)

    def criterion(self, output, target):
        import tinygrad_edu.nn.functional as F

        return F.mse_loss(output, target, reduction="sum") * (0.5 / self.spec.batch_size)


class TorchB2(TorchTrainer):
    """PyTorch eager: the same model, F.mse_loss(reduction="sum") * 0.5 / B, torch.optim.SGD."""

    version = "torch"

    def reset(self):
        import torch

        self.model = torch_mlp(self.spec.sizes, "sigmoid", self.init)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.spec.lr)
        self.x, self.y = torch.from_numpy(self.data.x_train), torch.from_numpy(self.data.y_train_onehot)

    def batches(self, steps):
        import torch

        x, y = self.x, self.y
        for index in batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)[:steps]:
            index = torch.from_numpy(index)
            yield x.index_select(0, index), y.index_select(0, index)

    def criterion(self, output, target):
        import torch.nn.functional as F

        return F.mse_loss(output, target, reduction="sum") * (0.5 / self.spec.batch_size)
