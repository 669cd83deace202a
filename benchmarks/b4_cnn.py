"""B4, a small CNN: the MNIST convolutional network's training step (convolution, batch norm, pooling).

Network (PyTorch notation), input the MNIST images as (N, 1, 28, 28) float32:

    Conv2d(1, 32, 3, padding=1) - BatchNorm2d(32) - MaxPool2d(2) - ReLU
    - Conv2d(32, 64, 3, padding=1) - BatchNorm2d(64) - MaxPool2d(2) - ReLU
    - Flatten - Linear(3136, 128) - ReLU - Dropout(0.25) - Linear(128, 10)

(the default network of ``tinygrad-edu train --arch cnn``). Max pooling before ReLU computes the same
function, values and gradients, as the more common ReLU before pooling: ReLU is monotone, so it commutes
with max, and all three versions pool first so that ReLU runs on a quarter of the values.

softmax cross-entropy (mean), Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, batch 128, BatchNorm's
defaults (eps 1e-5, momentum 0.1, running statistics updated every step). A step is forward + backward +
Adam update; the timed unit is the first ``SPEC.steps`` steps of one epoch (full batches only), reported
in ms/step. PyTorch's default init (weights and biases ~ U(+-1/sqrt(fan_in)), BN weight 1, bias 0),
drawn once with a seed and copied into all three versions. Work: 4 241 152 multiply-adds per image
forward (conv1 225 792, conv2 3 612 672, fc1 401 408, fc2 1 280), counted 6x for a training step as
for B1: 3.26 GFLOP per step (conv1's unused input gradient makes that a slight overstatement).

Dropout: the same masks in all three versions. tinygrad_edu's ``nn.Dropout(0.25, seed=DROPOUT_SEED)``
draws ``rng.random((128, 128), float32) >= 0.25`` from ``numpy.random.default_rng(DROPOUT_SEED)`` every
step and scales the kept units by 1/(1 - 0.25); the NumPy floor and the PyTorch version (a three-line
``torch.nn.Module`` in place of ``torch.nn.Dropout``, whose masks come from torch's own generator) draw
exactly those masks from a generator seeded the same way. Each version pays one (128, 128) draw per step
(~50 us, under 0.1% of a step), and the three compute the same function, so their losses agree.

Test accuracy is measured on the first ``EVAL_IMAGES`` test images only (evaluation mode: running
statistics, no dropout): a full 10 000-image pass of the tinygrad_edu version takes ~20 s, which would
dwarf the timed steps (and ``--quick``'s budget).

The NumPy floor (``NumpyB4``), NHWC throughout, every array preallocated and written with ``out=``.
Its gradients, layer by layer (B the batch, M = B*H*W the values per channel of a conv layer's output):

- softmax cross-entropy, as B1: dL/dlogits = (softmax(logits) - onehot) / B.
- fc2 and fc1 as B1's layers, each weight stored V = W^T (in, out): z = a @ V + b gives dV = a^T @ dz,
  db = sum of dz over the batch, da = dz @ V^T. fc1's rows are permuted once from PyTorch's (c, h, w)
  flattening to NHWC's (h, w, c), so the pooled map is fc1's input as it lies.
- dropout and ReLU after fc1: h = relu(u) * mask (mask: 1/(1 - p) for kept units, 0 for dropped ones), so
  du = dh * mask * (u > 0); the floor multiplies by the mask and by (h > 0), h taken after dropout (zero
  exactly where ReLU or the mask zeroed it).
- max-pool 2x2 then ReLU: p = relu(max of the window). ReLU and max commute (ReLU is monotone), so the floor
  pools first and applies ReLU to a quarter of the values; dL/dmax = dL/dp * (p > 0) either way (a window
  whose max is <= 0 passes no gradient). dL/dy_j = dL/dmax for the window's winner j, 0 for the other three.
  The pool runs in two passes, rows first (pairs of rows are contiguous blocks of W*C floats), then columns;
  each keeps a boolean "the second one won" mask (a tie goes to the first, so each window sends its gradient
  to exactly one input, as PyTorch does), and the backward of a pass is g2 = g * mask, g1 = g - g2 (exact:
  each is g or 0).
- batch norm, per channel over its M values: mu = sum z / M, d = z - mu, s2 = sum d^2 / M (biased),
  r = (s2 + eps)^(-1/2), xhat = r d, y = gamma xhat + beta. With dy = dL/dy:
      dbeta = sum dy,   dgamma = sum dy xhat = r sum dy d,
      dL/ds2 = sum gamma dy d * (-1/2) r^3,   dL/dmu = -gamma r sum dy  (plus dL/ds2 * -2 sum d / M = 0),
      dz = gamma r dy + dL/ds2 * 2 d / M + dL/dmu / M = a dy + b d + c
  with per-channel a = gamma r, b = -a r dgamma / M, c = -a dbeta / M. xhat is never stored, d is. Sums over
  M are a GEMV with a ones vector (``ones @ Z``: 0.18 ms against 1.7 ms for ``Z.sum(axis=0)`` on (100352, 32)),
  sums of products an ``einsum`` (0.5 ms against 1.3 ms for a multiply into a buffer and a GEMV), and
  per-channel broadcasts run on a (B*H, W*C) view with the coefficients tiled W times (a 896-wide inner loop:
  subtracting the means took 0.8 ms, against 2.1 ms broadcasting a 32-vector over (100352, 32)). Running
  statistics as PyTorch: running = 0.9 running + 0.1 batch, the variance unbiased (M / (M - 1)).
- the conv bias before a batch norm cancels exactly: BN(z + b) = BN(z), since the batch mean moves by b.
  The floor adds b only to the running mean (mean(z + b) = mean(z) + b), and its gradient is exactly 0:
  sum over M of dz = a dbeta + b sum d + M c = a dbeta + 0 - a dbeta = 0. The floor writes that 0 and Adam
  leaves b where it was (the frameworks compute sum(dz), rounding noise of ~1e-9 that Adam's normalisation
  turns into steps of up to lr: b moves there, to no effect on the loss; the tests leave the conv biases out
  of the parameter comparison).
- conv as im2col + one GEMM: z[m, o] = sum_k cols[m, k] V[k, o], so dV = cols^T @ dz and dcols = dz @ V^T;
  each cols entry is a copy of one (padded) input value, so the input's gradient adds up the gradients of
  its copies (col2im). Layer 2: the padded input (B, 16, 16, 32) is read through a strided 6-D view as the
  columns (B*14*14, 288), row order (p, q, c), one ``np.copyto``; the weight is V = (kH, kW, C, O) flattened
  to (288, 64), so z = cols @ V is (B*14*14, 64), already NHWC. Layer 1's pooled output is written straight
  into the interior of layer 2's padded input (its zero border is never touched). Backward: dV = cols^T @ dz;
  dcols comes offset by offset, dcols[k] = dz @ V_k^T for each of the 9 offsets k = (p, q) (one batched
  matmul into cols' buffer), so each offset's block is a contiguous (B, 14, 14, 32) array and col2im adds
  whole rows: a copy for the centre offset (it covers every pixel, so no zeroing and no padded gradient
  buffer) and 8 strided adds. Layer 1 (one input channel): its columns are stored transposed, (9, B*28*28),
  built by 9 copies of shifted (B, 28, 28) windows, z = cols^T @ V; its input's gradient is not computed
  (nothing needs it).
- Adam (PyTorch's form, bias corrections folded into two scalars as in B1) in place on ONE flat vector
  holding every parameter (the layers' weights and gradients are views into two flat arrays): 12 NumPy
  calls per step in all.

Layouts and variants measured (2-core AMD EPYC (Zen 4), OpenBLAS 0.3.31, idle machine, minimum of 15 runs):
  layer 2's conv (im2col, forward GEMM, both backward GEMMs, col2im), batch 128     1 thread  2 threads
    NHWC, dcols offset by offset (kept) ........................................ 43.5 ms   33.8 ms
    NHWC, dcols row-major (B*H*W, 9*C), col2im from 32-float runs .............. 47.9 ms   37.6 ms
    CNHW: activations (C, B*H*W), weight (O, 9C), 9 copies per im2col .......... 46.3 ms   46.9 ms
    NCHW: columns (B, 9C, H*W), one GEMM per image ............................. 54.1 ms   55.0 ms
  NHWC also puts fc1's input in place, and its per-channel work runs on 896-wide rows. Layer 1's im2col:
  9 copies into (9, M) 0.33 ms, one strided copy into (M, 9) 1.5 ms (weight gradient 1.9 against 2.1 ms).
  A whole step of this floor: 70-85 ms with 2 threads, ~85 ms of CPU time with one. PyTorch eager takes
  55-60 ms on the same machine: oneDNN's convolutions (conv2's backward 12 ms against the floor's 25 ms) and
  its batch norm and pooling kernels run on both cores, where NumPy's elementwise passes run on one.
  (Splitting those passes over threads would use the second core, but that is no longer plain NumPy.)

>>> params = cnn_init(0)
>>> [tuple(p.shape) for p in params[:2]], [tuple(v.shape) for v in to_floor(params)[::4]]
([(32, 1, 3, 3), (32,)], [(9, 32), (288, 64), (3136, 128)])
>>> all(np.array_equal(a, b) for a, b in zip(params, from_floor(to_floor(params))))
True
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .common import Spec, TinygradTrainer, TorchTrainer, Trainer, accuracy, batch_indices

SPEC = Spec(key="B4", title="MNIST CNN conv32-BN-pool conv64-BN-pool fc128-fc10, Adam, batch 128",
            sizes=(784, 32, 64, 128, 10), activation="relu", init="torch_default", lr=1e-3, batch_size=128,
            steps=40, per="step", macs=4_241_152, unit="ms/step")
BETAS, EPS = (0.9, 0.999), 1e-8
BN_EPS, BN_MOMENTUM = 1e-5, 0.1
DROPOUT_P, DROPOUT_SEED = 0.25, 7
EVAL_IMAGES = 1000
EVAL_CHUNK = 250

C1, C2, F1, NCLS = 32, 64, 128, 10
PARAM_NAMES = ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "conv2.weight", "conv2.bias", "bn2.weight",
               "bn2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
CONV_BIASES = (1, 5)      # positions in PARAM_NAMES of the biases that a batch norm cancels


def cnn_init(seed: int) -> list[np.ndarray]:
    """The initial parameters in PyTorch's layouts and ``named_parameters`` order (``PARAM_NAMES``), float32:
    conv and linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's defaults), BN weight 1,
    bias 0."""
    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    params = []
    for c_in, c_out in ((1, C1), (C1, C2)):
        params += [uniform((c_out, c_in, 3, 3), 9 * c_in), uniform((c_out,), 9 * c_in),
                   np.ones(c_out, np.float32), np.zeros(c_out, np.float32)]
    for fan_in, fan_out in ((7 * 7 * C2, F1), (F1, NCLS)):
        params += [uniform((fan_out, fan_in), fan_in), uniform((fan_out,), fan_in)]
    return params


def dropout_masks(seed: int = DROPOUT_SEED):
    """Yields each step's dropout mask (128, 128) float32: 0 for dropped units, 1/(1-p) for kept ones, drawn
    as ``nn.Dropout(p, seed=seed)`` draws them (``rng.random(shape, float32) >= p``)."""
    rng = np.random.default_rng(seed)
    scale = np.float32(1.0 / (1.0 - DROPOUT_P))
    while True:
        yield (rng.random((SPEC.batch_size, F1), dtype=np.float32) >= DROPOUT_P) * scale


# ---- floor layouts: conversions from and to PyTorch's ----------------------------------------------------------

def _conv_to_floor(w):     # (O, C, 3, 3) -> (3*3*C, O), rows (p, q, c)
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(-1, w.shape[0])


def _conv_from_floor(v, c_in):
    return v.reshape(3, 3, c_in, -1).transpose(3, 2, 0, 1)


def _fc1_to_floor(w):      # (128, 64*7*7) with inputs (c, h, w) -> (7*7*64, 128) with rows (h, w, c)
    return np.ascontiguousarray(w.reshape(F1, C2, 7, 7).transpose(2, 3, 1, 0)).reshape(-1, F1)


def _fc1_from_floor(v):
    return v.reshape(7, 7, C2, F1).transpose(3, 2, 0, 1).reshape(F1, -1)


def to_floor(params):
    """PyTorch-layout parameters (``cnn_init``) in the floor's layouts."""
    w1, b1, g1, be1, w2, b2, g2, be2, w3, b3, w4, b4 = params
    return [_conv_to_floor(w1), b1, g1, be1, _conv_to_floor(w2), b2, g2, be2, _fc1_to_floor(w3), b3,
            np.ascontiguousarray(w4.T), b4]


def from_floor(theta):
    """The floor's parameters in PyTorch's layouts (copies)."""
    v1, b1, g1, be1, v2, b2, g2, be2, v3, b3, v4, b4 = theta
    return [np.array(a, order="C", copy=True) for a in (
        _conv_from_floor(v1, 1), b1, g1, be1, _conv_from_floor(v2, C1), b2, g2, be2, _fc1_from_floor(v3), b3,
        v4.T, b4)]


def _windows(xpad, h, c):
    """The (B, h, h, 3, 3, c) im2col view of a padded NHWC array (B, h+2, h+2, c): no copy."""
    sb, si, sj, sc = xpad.strides
    return as_strided(xpad, (xpad.shape[0], h, h, 3, 3, c), (sb, si, sj, si, sj, sc), writeable=False)


class NumpyB4(Trainer):
    """Hand-written forward, backward and Adam (the module docstring derives every gradient and lists the
    layouts measured); NHWC, im2col GEMMs, every array preallocated for a batch of 128, one flat parameter
    vector. A step is the named stages of ``stages()``, run in order."""

    version = "numpy"

    def initial_params(self):
        return cnn_init(self.spec.init_seed)

    def reset(self):
        b, f32 = self.spec.batch_size, np.float32
        floor = to_floor(self.init)
        sizes = [p.size for p in floor]
        offsets = [0, *itertools.accumulate(sizes)]
        self.flat = np.empty(offsets[-1], f32)
        self.gflat = np.zeros(offsets[-1], f32)       # the conv biases' gradients stay exactly 0
        self.m, self.v, self.tmp = (np.zeros(offsets[-1], f32) for _ in range(3))
        self.theta = [self.flat[a:z].reshape(p.shape) for a, z, p in zip(offsets, offsets[1:], floor)]
        self.grads = [self.gflat[a:z].reshape(p.shape) for a, z, p in zip(offsets, offsets[1:], floor)]
        for view, value in zip(self.theta, floor):
            view[...] = value
        self.t = 0
        self.running = [np.zeros(C1, f32), np.ones(C1, f32), np.zeros(C2, f32), np.ones(C2, f32)]
        self.masks = dropout_masks()
        m1, m2 = b * 28 * 28, b * 14 * 14
        # layer 1
        self.xpad1 = np.zeros((b, 30, 30), f32)
        self.cols1 = np.empty((9, b, 28, 28), f32)   # one input channel: columns stored transposed, (9, M)
        self.z1 = np.empty((m1, C1), f32)             # conv output, then d1 = z1 - mean (kept for backward)
        self.y1 = np.empty((b, 28, 28, C1), f32)      # BN output, then its gradient
        self.rsel1, self.csel1 = np.empty((b, 14, 28 * C1), bool), np.empty((b, 14, 14, C1), bool)
        self.pos1 = np.empty((b, 14, 14, C1), bool)
        # layer 2: its padded input's interior is layer 1's pooled output (the border stays 0)
        self.xpad2 = np.zeros((b, 16, 16, C1), f32)
        self.p1 = self.xpad2[:, 1:15, 1:15, :]
        self.win2 = _windows(self.xpad2, 14, C1)
        self.cols2 = np.empty((b, 14, 14, 3, 3, C1), f32)   # columns, then their gradient
        self.z2 = np.empty((m2, C2), f32)
        self.y2 = np.empty((b, 14, 14, C2), f32)
        self.rsel2, self.csel2 = np.empty((b, 7, 14 * C2), bool), np.empty((b, 7, 7, C2), bool)
        self.pos2 = np.empty((b, 7, 7, C2), bool)
        self.p2 = np.empty((b, 7, 7, C2), f32)
        self.dp1 = np.empty((b, 14, 14, C1), f32)
        # fc layers
        self.h, self.dh = np.empty((b, F1), f32), np.empty((b, F1), f32)
        self.hpos = np.empty((b, F1), bool)
        self.logits, self.row = np.empty((b, NCLS), f32), np.empty((b, 1), f32)
        self.dp2 = np.empty((b, 7 * 7 * C2), f32)
        # the pools' half-way buffer (rows pooled, columns not yet), forward and backward, both layers
        self.scratch = np.empty(m1 * C1 // 2, f32)
        self.ones = np.ones(b * 28, f32)
        self.wide = np.empty(28 * C1, f32)
        self.rows = np.arange(b)
        self._stages = self.stages()

    def train(self, steps=None, on_step=None):
        x, y = self.data.x_train, self.data.y_train
        batches = batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)
        for i, index in enumerate(batches[:self.spec.steps if steps is None else steps]):
            if len(index) != self.spec.batch_size:
                raise ValueError("B4 times full batches only")
            self._step(x, y, index)
            if on_step is not None:
                on_step(i)

    # ---- batch norm ---------------------------------------------------------------------------------------------

    def _channel_sum(self, wide_view, width, channels):
        """Per-channel sum of a (rows, width*channels) view: a GEMV with ones, then the width copies folded."""
        out = np.matmul(self.ones[:wide_view.shape[0]], wide_view, out=self.wide[:width * channels])
        return out.reshape(width, channels).sum(axis=0)

    def _channel_dot(self, u, v, width, channels):
        """Per-channel sum of u * v over (rows, width*channels) views: einsum reads both once and writes nothing
        (2.3x faster than a multiply into a buffer and a GEMV)."""
        out = np.einsum("ij,ij->j", u, v, out=self.wide[:width * channels])
        return out.reshape(width, channels).sum(axis=0)

    def _bn_forward(self, z, y, layer, width):
        """y = BN(z) (training); z becomes d = z - mean. Returns (r, a): 1/sqrt(var + eps) and gamma * r."""
        m, c = z.shape
        _, bias, gamma, beta = self.theta[4 * layer:4 * layer + 4]
        zw, yw = z.reshape(-1, width * c), y.reshape(-1, width * c)
        mean = self._channel_sum(zw, width, c) / m
        zw -= np.tile(mean, width)
        var = self._channel_dot(zw, zw, width, c) / m
        r = 1.0 / np.sqrt(var + BN_EPS)
        a = gamma * r
        np.multiply(zw, np.tile(a, width), out=yw)
        yw += np.tile(beta, width)
        running_mean, running_var = self.running[2 * layer:2 * layer + 2]
        running_mean *= 1.0 - BN_MOMENTUM
        running_mean += BN_MOMENTUM * (mean + bias)
        running_var *= 1.0 - BN_MOMENTUM
        running_var += (BN_MOMENTUM * m / (m - 1)) * var
        return r, a

    def _bn_backward(self, dy, d, r, a, layer, width):
        """dy (the gradient of y) becomes dz = a*dy + b*d + c; writes dgamma and dbeta (see the module docstring).
        d is used up (nothing needs it afterwards): b*d + c is formed in its buffer."""
        m, c = d.shape
        dyw, dw = dy.reshape(-1, width * c), d.reshape(-1, width * c)
        dbeta = self._channel_sum(dyw, width, c)
        dgamma = r * self._channel_dot(dyw, dw, width, c)
        self.grads[4 * layer + 2][...] = dgamma
        self.grads[4 * layer + 3][...] = dbeta
        dw *= np.tile(-a * r * dgamma / m, width)
        dw += np.tile(-a * dbeta / m, width)
        dyw *= np.tile(a, width)
        dyw += dw

    # ---- max-pool 2x2 then ReLU -----------------------------------------------------------------------------------

    def _pool_forward(self, y, rsel, csel, out):
        b, h, _, c = y.shape
        rows = y.reshape(b, h // 2, 2, h * c)
        half = self.scratch[:b * h * h * c // 2].reshape(b, h // 2, h * c)
        np.greater(rows[:, :, 1], rows[:, :, 0], out=rsel)
        np.maximum(rows[:, :, 0], rows[:, :, 1], out=half)
        cols = half.reshape(b, h // 2, h // 2, 2, c)
        np.greater(cols[:, :, :, 1], cols[:, :, :, 0], out=csel)
        np.maximum(cols[:, :, :, 0], cols[:, :, :, 1], out=out)
        np.maximum(out, 0, out=out)

    def _pool_backward(self, g, pooled, pos, rsel, csel, dy):
        """g, the gradient of the pooled ReLU output, is overwritten; dy receives the gradient of y."""
        b, h, _, c = dy.shape
        g *= np.greater(pooled, 0, out=pos)
        half = self.scratch[:b * h * h * c // 2].reshape(b, h // 2, h // 2, 2, c)
        np.multiply(g, csel, out=half[:, :, :, 1])
        np.subtract(g, half[:, :, :, 1], out=half[:, :, :, 0])
        half = half.reshape(b, h // 2, h * c)
        rows = dy.reshape(b, h // 2, 2, h * c)
        np.multiply(half, rsel, out=rows[:, :, 1])
        np.subtract(half, rows[:, :, 1], out=rows[:, :, 0])

    # ---- the step: named stages, run in order (benchmarks/b4_phases.py times each) ---------------------------------

    def stages(self):
        """[(phase, layer, method)] of one step, in order: forward, backward, optimizer."""
        forward = [("conv1", self._conv1), ("bn1", self._bn1), ("pool1+relu", self._pool1), ("conv2", self._conv2),
                   ("bn2", self._bn2), ("pool2+relu", self._pool2), ("fc1+relu+dropout", self._fc1),
                   ("fc2", self._fc2), ("softmax+CE", self._loss)]
        backward = [("softmax+CE", self._loss_grad), ("fc2", self._fc2_grad), ("fc1+relu+dropout", self._fc1_grad),
                    ("pool2+relu", self._pool2_grad), ("bn2", self._bn2_grad), ("conv2", self._conv2_grad),
                    ("pool1+relu", self._pool1_grad), ("bn1", self._bn1_grad), ("conv1", self._conv1_grad)]
        return ([("forward", n, f) for n, f in forward] + [("backward", n, f) for n, f in backward]
                + [("optimizer", "adam", self._adam)])

    def _step(self, x, y, index):
        self.batch = (x, y, index)
        for _, _, stage in self._stages:
            stage()

    def _conv1(self):
        x, _, index = self.batch
        self.xpad1[:, 1:29, 1:29] = x[index].reshape(len(index), 28, 28)
        for k, (p, q) in enumerate(itertools.product(range(3), range(3))):
            self.cols1[k] = self.xpad1[:, p:p + 28, q:q + 28]
        np.matmul(self.cols1.reshape(9, -1).T, self.theta[0], out=self.z1)

    def _bn1(self):
        self.r1, self.a1 = self._bn_forward(self.z1, self.y1, 0, 28)

    def _pool1(self):      # into conv 2's padded input
        self._pool_forward(self.y1, self.rsel1, self.csel1, self.p1)

    def _conv2(self):
        np.copyto(self.cols2, self.win2)
        np.matmul(self.cols2.reshape(-1, 9 * C1), self.theta[4], out=self.z2)

    def _bn2(self):
        self.r2, self.a2 = self._bn_forward(self.z2, self.y2, 1, 14)

    def _pool2(self):
        self._pool_forward(self.y2, self.rsel2, self.csel2, self.p2)

    def _fc1(self):
        h = np.matmul(self.p2.reshape(len(self.h), -1), self.theta[8], out=self.h)
        h += self.theta[9]
        np.maximum(h, 0, out=h)
        self.mask = next(self.masks)
        h *= self.mask

    def _fc2(self):
        np.matmul(self.h, self.theta[10], out=self.logits)
        self.logits += self.theta[11]

    def _loss(self):
        """Softmax cross-entropy as in B1; the logits buffer becomes p = softmax(logits)."""
        _, y, index = self.batch
        z, row = self.logits, self.row
        self.labels = y[index]
        np.max(z, axis=1, keepdims=True, out=row)
        z -= row
        picked = z[self.rows, self.labels]
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=row)
        self.loss = float(np.mean(np.log(row[:, 0]) - picked))
        z /= row

    def _loss_grad(self):   # dL/dlogits = (p - Y) / B, in place
        z = self.logits
        z[self.rows, self.labels] -= 1.0
        z *= 1.0 / len(z)

    def _fc2_grad(self):
        z = self.logits
        np.matmul(self.h.T, z, out=self.grads[10])
        np.sum(z, axis=0, out=self.grads[11])
        np.matmul(z, self.theta[10].T, out=self.dh)

    def _fc1_grad(self):
        dh = self.dh
        dh *= self.mask
        dh *= np.greater(self.h, 0, out=self.hpos)
        flat = self.p2.reshape(len(dh), -1)
        np.matmul(flat.T, dh, out=self.grads[8])
        np.sum(dh, axis=0, out=self.grads[9])
        np.matmul(dh, self.theta[8].T, out=self.dp2)

    def _pool2_grad(self):  # the gradient of y2 into y2's buffer
        self._pool_backward(self.dp2.reshape(self.p2.shape), self.p2, self.pos2, self.rsel2, self.csel2, self.y2)

    def _bn2_grad(self):
        self._bn_backward(self.y2.reshape(-1, C2), self.z2, self.r2, self.a2, 1, 14)

    def _conv2_grad(self):
        """The weight gradient, then the columns' gradient offset by offset into cols2's buffer, then col2im."""
        cols2, dz2 = self.cols2.reshape(-1, 9 * C1), self.y2.reshape(-1, C2)
        np.matmul(cols2.T, dz2, out=self.grads[4])
        # dcols[k] = dz @ V_k^T for each kernel offset k = (p, q), V_k the (C1, C2) rows of V for that offset:
        # one batched matmul, each offset's (B, 14, 14, C1) block contiguous, so col2im adds whole rows
        dcols = self.cols2.reshape(9, -1, C1)
        np.matmul(dz2, self.theta[4].reshape(9, C1, C2).transpose(0, 2, 1), out=dcols)
        self._col2im(dcols.reshape(9, *self.dp1.shape), self.dp1)

    def _pool1_grad(self):
        self._pool_backward(self.dp1, self.p1, self.pos1, self.rsel1, self.csel1, self.y1)

    def _bn1_grad(self):
        self._bn_backward(self.y1.reshape(-1, C1), self.z1, self.r1, self.a1, 0, 28)

    def _conv1_grad(self):
        np.matmul(self.cols1.reshape(9, -1), self.y1.reshape(-1, C1), out=self.grads[0])

    @staticmethod
    def _col2im(dcols, out):
        """out[n, u, v] = sum over offsets (p, q) of dcols[3p + q][n, u - p + 1, v - q + 1] (within bounds): the
        transpose of the padded im2col. The centre offset covers every pixel, so it is a copy and the others add."""
        h = out.shape[1]
        np.copyto(out, dcols[4])
        for k, (p, q) in enumerate(itertools.product(range(3), range(3))):
            if k == 4:
                continue
            di, dj = p - 1, q - 1
            out[:, max(di, 0):h + min(di, 0), max(dj, 0):h + min(dj, 0)] += \
                dcols[k][:, max(-di, 0):h - max(di, 0), max(-dj, 0):h - max(dj, 0)]

    def _adam(self):
        (beta1, beta2), lr = BETAS, self.spec.lr
        self.t += 1
        c = math.sqrt(1.0 - beta2 ** self.t)
        step_size, eps_hat = lr * c / (1.0 - beta1 ** self.t), EPS * c
        theta, g, m, v, tmp = self.flat, self.gflat, self.m, self.v, self.tmp
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

    # ---- evaluation -----------------------------------------------------------------------------------------------

    def params(self):
        return from_floor(self.theta)

    def running_stats(self):
        return [a.copy() for a in self.running]

    def gradients(self):
        """The last step's gradients in PyTorch's layouts (for the agreement tests)."""
        return from_floor(self.grads)

    def predict(self, x):
        """Logits in evaluation mode (running statistics, no dropout); plain NumPy, not preallocated."""
        v1, b1, g1, be1, v2, b2, g2, be2, v3, b3, v4, b4 = self.theta
        rm1, rv1, rm2, rv2 = self.running
        a = x.reshape(-1, 28, 28, 1)
        for v, bias, gamma, beta, rm, rv in ((v1, b1, g1, be1, rm1, rv1), (v2, b2, g2, be2, rm2, rv2)):
            n, h, _, c = a.shape
            pad = np.zeros((n, h + 2, h + 2, c), np.float32)
            pad[:, 1:-1, 1:-1] = a
            z = _windows(pad, h, c).reshape(n * h * h, 9 * c) @ v + bias
            z = (z - rm) / np.sqrt(rv + BN_EPS) * gamma + beta
            a = np.maximum(z.reshape(n, h // 2, 2, h // 2, 2, -1).max(axis=(2, 4)), 0)
        hidden = np.maximum(a.reshape(len(a), -1) @ v3 + b3, 0)
        return hidden @ v4 + b4

    def test_accuracy(self):
        return chunked_accuracy(self.predict, self.data)


def chunked_accuracy(predict, data) -> float:
    """Accuracy on the first EVAL_IMAGES test images, predicted EVAL_CHUNK at a time."""
    x, y = data.x_test[:EVAL_IMAGES], data.y_test[:EVAL_IMAGES]
    logits = np.concatenate([predict(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])
    return accuracy(logits, y)


class TinygradB4(TinygradTrainer):
    """What a user writes: nn.Sequential of Conv2d, BatchNorm2d, MaxPool2d, ReLU, Flatten, Linear, Dropout;
    F.cross_entropy, optim.Adam, data.DataLoader over the images reshaped to (N, 1, 28, 28)."""

    version = "tinygrad"

    def initial_params(self):
        return cnn_init(self.spec.init_seed)

    def reset(self):
        from tinygrad_edu import data, nn, optim

        self.model = nn.Sequential(
            nn.Conv2d(1, C1, 3, padding=1), nn.BatchNorm2d(C1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(C1, C2, 3, padding=1), nn.BatchNorm2d(C2), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(7 * 7 * C2, F1), nn.ReLU(), nn.Dropout(DROPOUT_P, seed=DROPOUT_SEED),
            nn.Linear(F1, NCLS))
        names = [name for name, _ in self.model.named_parameters()]
        self.model.load_state_dict(dict(zip(names, self.init)), strict=False)   # buffers keep their defaults
        self.opt = optim.Adam(self.model.parameters(), lr=self.spec.lr, betas=BETAS, eps=EPS)
        self.loader = data.DataLoader(self.data.x_train.reshape(-1, 1, 28, 28), self.data.y_train,
                                      batch_size=self.spec.batch_size, shuffle=True, seed=self.spec.order_seed)

    def batches(self, steps):
        return itertools.islice(self.loader, self.spec.steps if steps is None else steps)

    def criterion(self, output, target):
        import tinygrad_edu.nn.functional as F

        return F.cross_entropy(output, target)

    def running_stats(self):
        return [np.array(b, copy=True) for name, b in self.model.named_buffers() if "running" in name]

    def gradients(self):
        return [p.grad.numpy().copy() for p in self.model.parameters()]

    def predict(self, x):
        import tinygrad_edu as tg

        self.model.eval()
        try:
            with tg.no_grad():
                return self.model(tg.Tensor(x.reshape(-1, 1, 28, 28))).numpy()
        finally:
            self.model.train()

    def test_accuracy(self):
        return chunked_accuracy(self.predict, self.data)


def _torch_model():
    import torch

    class SharedMaskDropout(torch.nn.Module):
        """Dropout with the masks of ``dropout_masks()`` (the ones tinygrad_edu's nn.Dropout draws)."""

        def __init__(self):
            super().__init__()
            self.masks = dropout_masks()

        def forward(self, x):
            return x * torch.from_numpy(next(self.masks)) if self.training else x

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, C1, 3, padding=1), nn.BatchNorm2d(C1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(C1, C2, 3, padding=1), nn.BatchNorm2d(C2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(7 * 7 * C2, F1), nn.ReLU(), SharedMaskDropout(), nn.Linear(F1, NCLS))


class TorchB4(TorchTrainer):
    """PyTorch eager: the same torch.nn.Sequential (dropout's masks shared, see above), F.cross_entropy,
    torch.optim.Adam, the same index batches."""

    version = "torch"

    def initial_params(self):
        return cnn_init(self.spec.init_seed)

    def reset(self):
        import torch

        self.model = _torch_model()
        with torch.no_grad():
            for param, value in zip(self.model.parameters(), self.init):
                param.copy_(torch.from_numpy(value))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.spec.lr, betas=BETAS, eps=EPS)
        self.x = torch.from_numpy(self.data.x_train.reshape(-1, 1, 28, 28))
        self.y = torch.from_numpy(self.data.y_train)

    def batches(self, steps):
        import torch

        x, y, steps = self.x, self.y, self.spec.steps if steps is None else steps
        for index in batch_indices(len(x), self.spec.batch_size, self.spec.order_seed)[:steps]:
            index = torch.from_numpy(index)
            yield x.index_select(0, index), y.index_select(0, index)

    def criterion(self, output, target):
        import torch.nn.functional as F

        return F.cross_entropy(output, target)

    def running_stats(self):
        return [b.detach().numpy().copy() for name, b in self.model.named_buffers() if "running" in name]

    def gradients(self):
        return [p.grad.numpy().copy() for p in self.model.parameters()]

    def predict(self, x):
        import torch

        self.model.eval()
        try:
            with torch.no_grad():
                return self.model(torch.from_numpy(np.ascontiguousarray(x).reshape(-1, 1, 28, 28))).numpy()
        finally:
            self.model.train()

    def test_accuracy(self):
        return chunked_accuracy(self.predict, self.data)
