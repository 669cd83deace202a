"""B3, full batch (notebook 000's recipe): 784-10-10, ReLU, softmax cross-entropy, gradient descent lr 0.1.

Every step uses all 60 000 training images; 100 steps, reported in seconds per step. Initial weights and
biases ~ U(-0.5, 0.5), the notebook's ``np.random.rand(...) - 0.5``. (The notebook's bias gradient sums
over units as well as examples; here, as in any framework, each bias gets its own gradient.)

With N = 60 000 the arrays are tall and thin: X @ W1^T reads the whole 188 MB image matrix, and so does the
weight gradient dz1^T @ X. The time is mostly those two passes over X, which is what this workload measures:
whether the framework adds anything around large matrix products.
"""

from __future__ import annotations

import itertools

import numpy as np

from .common import Spec, TinygradTrainer, TorchTrainer, Trainer, tinygrad_mlp, to_in_out, to_out_in, torch_mlp

SPEC = Spec(key="B3", title="784-10-10 ReLU, softmax CE, full-batch GD lr 0.1, 100 steps", sizes=(784, 10, 10),
            activation="relu", init="uniform_half", lr=0.1, batch_size=None, steps=100, per="step")


def _row_reduce(ufunc, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (N, 1) <- ufunc.reduce(z, axis=1) (np.maximum: the max of each row, np.add: the sum), combined
    column by column: NumPy reduces a row of 10 at a time, 7x (max) and 3x (sum) slower for 60 000 rows.
    tinygrad_edu's LogSoftmax reduces the same way (``ops._reduce_short_axis``)."""
    column = out[:, 0]
    ufunc(z[:, 0], z[:, 1], out=column)
    for j in range(2, z.shape[1]):
        ufunc(column, z[:, j], out=column)
    return out


class NumpyB3(Trainer):
    """Hand-written forward, backward and update on the whole training set; weights (in, out), arrays preallocated.

    With V = W^T:  z = a_in @ V + b,  dV = a_in^T @ dz,  da_in = dz @ V^T  (see b1_mlp_adam for the rest).
    """

    version = "numpy"

    def reset(self):
        n, (_, n1, n2) = len(self.data.x_train), self.spec.sizes
        self.theta = to_in_out(self.init)
        self.grads = [np.empty_like(p) for p in self.theta]
        self.a1, self.d1 = np.empty((n, n1), np.float32), np.empty((n, n1), np.float32)
        self.z2 = np.empty((n, n2), np.float32)
        self.mask1 = np.empty((n, n1), bool)
        self.row = np.empty((n, 1), np.float32)
        self.rows = np.arange(n)

    def step_arguments(self, steps=None):
        """The arguments of ``_gradients`` for each of the first ``steps`` steps: the whole set, every time."""
        return [(self.data.x_train, self.data.y_train)] * (self.spec.steps if steps is None else steps)

    def train(self, steps=None, on_step=None):
        for i, arguments in enumerate(self.step_arguments(steps)):
            self._gradients(*arguments)
            self._update()
            if on_step is not None:
                on_step(i)

    def _gradients(self, x, labels):
        V1, b1, V2, b2 = self.theta
        gV1, gb1, gV2, gb2 = self.grads
        n, rows = len(x), self.rows
        a1 = np.matmul(x, V1, out=self.a1)
        a1 += b1
        np.maximum(a1, 0, out=a1)
        z = np.matmul(a1, V2, out=self.z2)
        z += b2
        row = _row_reduce(np.maximum, z, self.row)
        z -= row
        picked = z[rows, labels]
        np.exp(z, out=z)
        _row_reduce(np.add, z, row)
        self.loss = float(np.mean(np.log(row[:, 0]) - picked))
        z /= row
        z[rows, labels] -= 1.0
        z *= self.spec.lr / n                      # z = lr * dL/dz2: the update is then one subtraction
        np.matmul(a1.T, z, out=gV2)
        np.sum(z, axis=0, out=gb2)
        d1 = np.matmul(z, V2.T, out=self.d1)
        d1 *= np.greater(a1, 0, out=self.mask1)
        np.matmul(x.T, d1, out=gV1)
        np.sum(d1, axis=0, out=gb1)

    def _update(self):  # gradient descent: the gradients already hold lr * dL/dtheta
        for theta, g in zip(self.theta, self.grads):
            theta -= g

    def params(self):
        return to_out_in(self.theta)

    def predict(self, x):
        V1, b1, V2, b2 = self.theta
        return np.maximum(x @ V1 + b1, 0) @ V2 + b2


class TinygradB3(TinygradTrainer):
    """What a user writes: nn.Sequential, F.cross_entropy on the whole set, optim.SGD."""

    version = "tinygrad"

    def reset(self):
        from tinygrad_edu import Tensor, optim

        self.model = tinygrad_mlp(self.spec.sizes, "relu", self.init)
        self.opt = optim.SGD(self.model.parameters(), lr=self.spec.lr)
        self.x = Tensor(self.data.x_train)

    def batches(self, steps):
        return itertools.repeat((self.x, self.data.y_train), self.spec.steps if steps is None else steps)

    def criterion(self, output, target):
        import tinygrad_edu.nn.functional as F

        return F.cross_entropy(output, target)


class TorchB3(TorchTrainer):
    """PyTorch eager: the same model, F.cross_entropy on the whole set, torch.optim.SGD."""

    version = "torch"

    def reset(self):
        import torch

        self.model = torch_mlp(self.spec.sizes, "relu", self.init)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.spec.lr)
        self.x, self.y = torch.from_numpy(self.data.x_train), torch.from_numpy(self.data.y_train)

    def batches(self, steps):
        return itertools.repeat((self.x, self.y), self.spec.steps if steps is None else steps)

    def criterion(self, output, target):
        import torch.nn.functional as F

        return F.cross_entropy(output, target)
