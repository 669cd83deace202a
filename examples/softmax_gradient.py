"""Seed notebook 001: the softmax derivative the notebook could not write, then the network it meant to train.

What the notebook did: it explained forward and backward propagation for a 784-10-10 network (ReLU
hidden layer, softmax output, N(0, 1) initial weights via ``np.random.randn``, squared error
E = (A - Y)^2, gradient descent with alpha = 0.10 for 501 iterations on Kaggle's 42 000 digits), and
stopped at the backward pass: "I could not find how to apply derivative of the softmax (for backprop)
to every element of the vector", so dW = 2 (A - Y) f'(Z) X was coded without f'(Z). It never ran to
an accuracy (its training cells have no output), and it recommended Leaky ReLU against dead units.
Two more slips: its ``softmax`` divides by ``np.sum(exps)`` over the whole matrix (every example of the
batch at once, not each column), and ``db = 1/m * np.sum(dE)`` gives every bias the same update.

What this script shows:
  1. The missing piece. The Jacobian of s = softmax(z) is J = diag(s) - s s^T, so the
     vector-Jacobian product backprop needs is J^T g = s * (g - sum(g * s)): no n x n matrix, one line
     in ``ops.Softmax.backward``. The script prints that line, compares it with the explicit Jacobian
     built in NumPy, and checks it with ``tg.gradcheck`` against finite differences.
  2. The notebook's network trained as it was meant to be, on 42 000 MNIST training digits (the
     size of its Kaggle file; ``--limit 60000`` for the whole training set): softmax output, squared
     error, N(0, 1) init, alpha 0.1, 501 full-batch iterations; ReLU and the Leaky ReLU variant.
     Nothing is derived by hand: the gradient passes through ``Softmax.backward``. Three more networks
     show why N(0, 1) is the other half of the problem: with 784 inputs the scores are in the tens,
     the softmax saturates and squared error barely moves. Cross-entropy (whose gradient at the
     scores is the notebook's ``A2 - Y``) learns from the same start; squared error learns once the
     init is scaled by 1/sqrt(fan_in). The five networks share one matrix product with the images
     (their hidden layers are one (50, 784) matrix, sliced per network), which is most of the work;
     nothing else is shared.

    python examples/softmax_gradient.py            # ~2 minutes on 2 cores
    python examples/softmax_gradient.py --quick    # 2000 digits, 20 iterations
"""

import argparse
import inspect
import time

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, data, nn, ops, optim

HIDDEN, CLASSES = 10, 10


def softmax_vector_jacobian_product(seed=0):
    """Part 1: autograd's softmax backward vs the explicit Jacobian, then gradcheck. Returns the largest gap."""
    print("ops.Softmax.backward, the derivative the notebook was missing:\n")
    print(inspect.getsource(ops.Softmax.backward))

    rng = np.random.default_rng(seed)
    z = Tensor(rng.standard_normal(CLASSES), requires_grad=True)      # float64: exact enough to compare
    g = rng.standard_normal(CLASSES)                                     # an upstream gradient dE/ds
    s = z.softmax()
    s.backward(g)                                                        # z.grad = J^T g, from ops.Softmax
    s = s.data
    jacobian = np.diag(s) - np.outer(s, s)                               # ds_i/dz_k = s_i (delta_ik - s_k)
    explicit = jacobian.T @ g
    one_line = s * (g - np.sum(g * s))
    print(f"{'k':>2} {'backward (autograd)':>20} {'J^T g (explicit)':>18} {'s*(g - sum(g*s))':>18}")
    for k in range(CLASSES):
        print(f"{k:>2} {z.grad.data[k]:>20.12f} {explicit[k]:>18.12f} {one_line[k]:>18.12f}")
    gap = float(np.max(np.abs(z.grad.data - explicit)))
    print(f"largest |autograd - explicit Jacobian| = {gap:.2e}")

    batch = Tensor(rng.standard_normal((4, CLASSES)) * 3, requires_grad=True)
    weights = Tensor(rng.standard_normal((4, CLASSES)))
    ok = tg.gradcheck(lambda t: (t.softmax(axis=-1) * weights).sum(axis=-1), (batch,))
    print(f"tg.gradcheck(softmax over a batch of 4 rows, central finite differences): {ok}")
    one_hot = Tensor(np.eye(CLASSES)[rng.integers(0, CLASSES, 4)])
    ok = tg.gradcheck(lambda t: ((t.softmax(axis=-1) - one_hot) ** 2).sum(), (batch,))
    print(f"tg.gradcheck(squared error through softmax, the notebook's E = (A - Y)^2): {ok}")
    return gap


class SharedInputPass(nn.Module):
    """One 784-10-10 network per activation; returns their output scores, a list of (n, 10) Tensors.

    Network j's hidden layer is rows 10j .. 10j+9 of ``hidden``, so one product with the images serves
    all of them. Every weight and bias starts as N(0, 1), the notebook's ``np.random.randn``; where
    ``scaled[j]`` is true, network j's layers are scaled by 1 / sqrt(fan_in) (1/28 for the hidden
    layer, 1/sqrt(10) for the output layer), which keeps each unit's input sum of order 1.
    """

    def __init__(self, activations, scaled, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.activations = activations
        self.hidden = nn.Linear(784, HIDDEN * len(activations), rng=rng)
        self.outputs = nn.ModuleList([nn.Linear(HIDDEN, CLASSES, rng=rng) for _ in activations])
        for param in self.parameters():
            nn.init.standard_normal_(param, rng=rng)
        hidden_scale = np.repeat([1 / np.sqrt(784) if s else 1.0 for s in scaled], HIDDEN).astype(np.float32)
        self.hidden.weight.data *= hidden_scale[:, None]          # row by row: unit by unit
        self.hidden.bias.data *= hidden_scale
        for out, s in zip(self.outputs, scaled):
            for param in out.parameters():
                param.data *= 1 / np.sqrt(HIDDEN) if s else 1.0

    def forward(self, x):
        z = self.hidden(x)
        return [out(act(z[:, HIDDEN * j:HIDDEN * (j + 1)]))
                for j, (act, out) in enumerate(zip(self.activations, self.outputs))]


def squared_error_through_softmax(scores, one_hot):
    """The notebook's E = (A - Y)^2 with A = softmax(Z): summed over the 10 outputs, averaged over examples."""
    return F.mse_loss(scores.softmax(axis=-1), one_hot, reduction="sum") * (1.0 / len(one_hot))


def cross_entropy(scores, one_hot):
    return F.cross_entropy(scores, one_hot)


RUNS = [  # (name, activation, loss, init scaled by 1/sqrt(fan_in)?)
    ("ReLU, SE, N(0,1)", F.relu, squared_error_through_softmax, False),            # the notebook's network
    ("Leaky ReLU, SE, N(0,1)", F.leaky_relu, squared_error_through_softmax, False),  # its Leaky ReLU advice
    ("ReLU, CE, N(0,1)", F.relu, cross_entropy, False),
    ("ReLU, SE, N(0,1/fan_in)", F.relu, squared_error_through_softmax, True),
    ("Leaky ReLU, SE, N(0,1/fan_in)", F.leaky_relu, squared_error_through_softmax, True),
]
LEGEND = ("SE: squared error through softmax (the notebook's E = (A - Y)^2); CE: cross-entropy;\n"
          "N(0,1): np.random.randn as in the notebook; N(0,1/fan_in): the same scaled by 1/sqrt(inputs per unit)")


def train(x, y, iterations, alpha, seed):
    model = SharedInputPass([run[1] for run in RUNS], [run[3] for run in RUNS], seed=seed)
    optimizer = optim.SGD(model.parameters(), lr=alpha)
    images, one_hot = Tensor(x), np.eye(CLASSES, dtype=np.float32)[y]
    print(LEGEND)
    print(f"\n{'iteration':>9}  " + "  ".join(f"{run[0]:>29}" for run in RUNS) + "   (training accuracy)")
    for i in range(iterations):                           # the notebook: for i in range(iterations), 501
        outputs = model(images)
        losses = [loss(scores, one_hot) for scores, (_, _, loss, _) in zip(outputs, RUNS)]
        optimizer.zero_grad()
        sum(losses[1:], losses[0]).backward()             # no parameter is shared: one backward for all
        optimizer.step()
        if i % 50 == 0 or i == iterations - 1:
            acc = [float((scores.data.argmax(axis=1) == y).mean()) for scores in outputs]
            print(f"{i:>9}  " + "  ".join(f"{a:>29.4f}" for a in acc))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 digits and 20 iterations (a smoke test)")
    parser.add_argument("--limit", type=int, default=42000, help="train on the first N MNIST training digits")
    parser.add_argument("--iterations", type=int, default=501)
    parser.add_argument("--alpha", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    limit, iterations = args.limit, args.iterations
    if args.quick:
        limit, iterations = min(limit, 2000), min(iterations, 20)

    softmax_vector_jacobian_product(args.seed)

    x_train, y_train, x_test, y_test = data.load_mnist()
    x, y = x_train[:limit], y_train[:limit]
    print(f"\ntraining the notebook's 784-10-10 network and four variants on {len(x)} MNIST training digits: "
          f"alpha {args.alpha:g}, {iterations} full-batch iterations")
    start = time.perf_counter()
    model = train(x, y, iterations, args.alpha, args.seed)
    seconds = time.perf_counter() - start

    with tg.no_grad():
        train_out, test_out = model(Tensor(x)), model(Tensor(x_test))
    print(f"\n  {'network':<30} notebook   ours: train   test")
    for (name, *_), a, b in zip(RUNS, train_out, test_out):
        train_acc, test_acc = (a.data.argmax(1) == y).mean(), (b.data.argmax(1) == y_test).mean()
        print(f"  {name:<30} {'(no run)':<10} {train_acc:>11.4f} {test_acc:>6.4f}")
    print(f"trained in {seconds:.1f} s (the notebook published no accuracy: its backward pass was unfinished)")


if __name__ == "__main__":
    main()
