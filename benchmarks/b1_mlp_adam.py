"""B1, the standard workload: MLP 784-512-256-10, ReLU, softmax cross-entropy (mean), Adam, batch 128.

One epoch over the 60 000 MNIST training images (469 steps, the last one of 96 images), float32,
PyTorch's default Linear init, Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8. Work: 192.6 GFLOP per epoch.

The NumPy floor writes out what autograd derives, with each weight stored as V = W^T of shape (in, out).
With z3 the logits, p = softmax(z3), Y one-hot and B the batch size, the mean cross-entropy has
dL/dz3 = (p - Y) / B;  each layer z = a @ V + b then gives  dV = a^T @ dz,  db = sum of dz over the batch,
da = dz @ V^T,  and ReLU passes da where its output is > 0.
Adam (PyTorch's form), for every parameter with gradient g at step t:
    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
    theta <- theta - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
"""

from __future__ import annotations

import itertools
import math

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

SPEC = Spec(key="B1", title="MLP 784-512-256-10 ReLU, Adam, batch 128, one epoch", sizes=(784, 512, 256, 10),
            activation="relu", init="torch_default", lr=1e-3, batch_size=128, steps=469, per="epoch")
BETAS, EPS = (0.9, 0.999), 1e-8


class NumpyB1(Trainer):
    """Hand-written forward, backward and Adam; weights (in, out); every array preallocated, written with ``out=``."""

    version = "numpy"

    def reset(self):
        b, (n0, n1, n2, n3) = self.spec.batch_size, self.spec.sizes
        self.theta = to_in_out(self.init)
        self.grads = [np.empty_like(p) for p in self.theta]
        self.m = [np.zeros_like(p) for p in self.theta]
        self.v = [np.zeros_like(p) for p in self.theta]
        self.tmp = [np.empty_like(p) for p in self.theta]
        self.t = 0
        f32 = np.float32
        # Buffers sized for a full batch; the short last batch uses their leading rows (still contiguous).
        self.xb, self.a1, self.a2, self.z3 = (np.empty((b, n), f32) for n in (n0, n1, n2, n3))
        self.d1, self.d2 = np.empty((b, n1), f32), np.empty((b, n2), f32)
        self.mask1, self.mask2 = np.empty((b, n1), bool), np.empty((b, n2), bool)
        self.row = np.empty((b, 1), f32)

    def step_arguments(self, steps=None):
        """The arguments of ``_gradients`` for each of the first ``steps`` steps: (x, y, batch index)."""
        x, y = self.data.x_train, self.data.y_train
        return [(x, y, index) for index in batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)[:steps]]

    def train(self, steps=None, on_step=None):
        for i, arguments in enumerate(self.step_arguments(steps)):
            self._gradients(*arguments)
            self._update()
            if on_step is not None:
                on_step(i)

    def _gradients(self, x, y, index):
        n = len(index)
        V1, b1, V2, b2, V3, b3 = self.theta
        gV1, gb1, gV2, gb2, gV3, gb3 = self.grads
        xb = np.take(x, index, axis=0, out=self.xb[:n], mode="clip")  # clip: no bounds-check buffering
        labels = y[index]
        rows = np.arange(n)
        # forward
        a1 = np.matmul(xb, V1, out=self.a1[:n])
        a1 += b1
        np.maximum(a1, 0, out=a1)
        a2 = np.matmul(a1, V2, out=self.a2[:n])
        a2 += b2
        np.maximum(a2, 0, out=a2)
        z = np.matmul(a2, V3, out=self.z3[:n])
        z += b3
        # softmax cross-entropy: shift by the row max, loss = mean(log sum e^z - z_label)
        row = np.max(z, axis=1, keepdims=True, out=self.row[:n])
        z -= row
        picked = z[rows, labels]
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=row)
        self.loss = float(np.mean(np.log(row[:, 0]) - picked))
        z /= row                                   # z is now p
        z[rows, labels] -= 1.0
        z *= 1.0 / n                               # dL/dz3 = (p - Y) / B
        # backward
        np.matmul(a2.T, z, out=gV3)
        np.sum(z, axis=0, out=gb3)
        d2 = np.matmul(z, V3.T, out=self.d2[:n])
        d2 *= np.greater(a2, 0, out=self.mask2[:n])
        np.matmul(a1.T, d2, out=gV2)
        np.sum(d2, axis=0, out=gb2)
        d1 = np.matmul(d2, V2.T, out=self.d1[:n])
        d1 *= np.greater(a1, 0, out=self.mask1[:n])
        np.matmul(xb.T, d1, out=gV1)
        np.sum(d1, axis=0, out=gb1)

    def _update(self):  # Adam
        (beta1, beta2), lr = BETAS, self.spec.lr
        self.t += 1
        # m / (sqrt(v) / c + eps) = c * m / (sqrt(v) + eps * c) with c = sqrt(1 - b2^t): the bias
        # corrections fold into two scalars, which saves a pass over every parameter.
        c = math.sqrt(1.0 - beta2 ** self.t)
        step_size, eps_hat = lr * c / (1.0 - beta1 ** self.t), EPS * c
        for theta, g, m, v, tmp in zip(self.theta, self.grads, self.m, self.v, self.tmp):
            m *= beta1
            np.multiply(g, 1.0 - beta1, out=tmp)
            m += tmp
            v *= beta2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps_hat
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            theta -= tmp

    def params(self):
        return to_out_in(self.theta)

    def predict(self, x):
        V1, b1, V2, b2, V3, b3 = self.theta
        a1 = np.maximum(x @ V1 + b1, 0)
        a2 = np.maximum(a1 @ V2 + b2, 0)
        return a2 @ V3 + b3


class TinygradB1(TinygradTrainer):
    """What a user writes: nn.Sequential, F.cross_entropy, optim.Adam, data.DataLoader."""

    version = "tinygrad"

    def reset(self):
        from tinygrad_edu import data, optim

        self.model = tinygrad_mlp(self.spec.sizes, "relu", self.init)
        self.opt = optim.Adam(self.model.parameters(), lr=self.spec.lr, betas=BETAS, eps=EPS)
        self.loader = data.DataLoader(self.data.x_train, self.data.y_train, batch_size=self.spec.batch_size,
                                      shuffle=True, seed=self.spec.order_seed)

    def batches(self, steps):
        return itertools.islice(self.loader, steps)

    def criterion(self, output, target):
        import tinygrad_edu.nn.functional as F

        return F.cross_entropy(output, target)


class TorchB1(TorchTrainer):
    """PyTorch eager: torch.nn.Sequential, F.cross_entropy, torch.optim.Adam, the same index batches."""

    version = "torch"

    def reset(self):
        import torch

        self.model = torch_mlp(self.spec.sizes, "relu", self.init)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.spec.lr, betas=BETAS, eps=EPS)
        self.x, self.y = torch.from_numpy(self.data.x_train), torch.from_numpy(self.data.y_train)

    def batches(self, steps):
        import torch

        x, y = self.x, self.y
        for index in batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)[:steps]:
            index = torch.from_numpy(index)
            yield x.index_select(0, index), y.index_select(0, index)

    def criterion(self, output, target):
        import torch.nn.functional as F

        return F.cross_entropy(output, target)
