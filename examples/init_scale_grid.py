"""Seed notebook 000: six 784-10-10 networks, full-batch gradient descent, init scale x learning rate.

What the notebook did: a 784-10-10 network (ReLU hidden layer, softmax output) trained by full-batch
gradient descent for 500 iterations on Kaggle's digit-recognizer ``train.csv`` (42 000 MNIST digits),
every weight and bias drawn as (U(0, 1) - 0.5) * factor, for factor in {2, 1, 0.5} and learning rate
alpha in {0.1, 0.2}. It plotted training accuracy every 5 iterations; its best was 0.8749 (factor 0.5).

What went wrong there, all in the hand-written backward pass:
  * ``train`` sets ``alp = .10`` and then updates with a global ``alpha``, so every run used the same
    learning rate: its "alpha 0.2" curves differ from the "alpha 0.1" ones only by their random start,
    and the conclusion "larger alpha values perform significantly worse" is not supported.
  * ``db = 1/m * np.sum(dz)`` sums over the units as well as the examples, so all ten biases of a
    layer received the same (wrong) update.

What this script shows: the same six networks with gradients from ``backward()`` (the loss is
``F.cross_entropy``, whose gradient with respect to the logits is the notebook's ``a2 - Y`` divided by
m), each learning rate really applied. Kaggle's ``train.csv`` is 42 000 of the MNIST digits; this
script uses the MNIST training set from ``data.load_mnist``, by default its first 42 000 digits so that
the full batch has the notebook's size (``--limit 60000`` takes all of it: about 1.4 times longer).
It prints the notebook's accuracies beside ours every 50 iterations, our accuracy on the 10 000 MNIST
test digits at the end (the notebook measured training accuracy only), and writes the
accuracy-every-5-iterations plot to ``runs/examples/init_scale_grid.png``.

The six networks share no parameter, but they are computed side by side (``SideBySide`` below): their
first layers are one (60, 784) matrix, so the 42 000 x 784 images are multiplied once per step
instead of six times, which is most of the work. Summing the six losses, each scaled by its own
alpha, and stepping with lr = 1 is exactly six separate gradient-descent steps with lr = alpha.

    python examples/init_scale_grid.py            # ~1-2 minutes on 2 cores
    python examples/init_scale_grid.py --quick    # 2000 digits, 20 iterations: a few seconds
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, data, nn, optim

HIDDEN, CLASSES = 10, 10
FACTORS = (2.0, 1.0, 0.5)  # init (U(0,1) - 0.5) * factor: weights in [-1, 1], [-0.5, 0.5], [-0.25, 0.25]
ALPHAS = (0.1, 0.2)

# The notebook's printed training accuracy at iterations 0, 50, ..., 500, keyed by (factor, alpha).
NOTEBOOK = {
    (2.0, 0.1): [0.0720, 0.2071, 0.2992, 0.3825, 0.4455, 0.4959, 0.5462, 0.5897, 0.6274, 0.6297, 0.6576],
    (1.0, 0.1): [0.1357, 0.4846, 0.6533, 0.7334, 0.7718, 0.7955, 0.8113, 0.8233, 0.8329, 0.8391, 0.8460],
    (0.5, 0.1): [0.0980, 0.4662, 0.6476, 0.7505, 0.8013, 0.8267, 0.8422, 0.8526, 0.8593, 0.8666, 0.8722],
    (2.0, 0.2): [0.1585, 0.3715, 0.4553, 0.5299, 0.5968, 0.6438, 0.6756, 0.6989, 0.7180, 0.7352, 0.7499],
    (1.0, 0.2): [0.1620, 0.5036, 0.6667, 0.7406, 0.7777, 0.8025, 0.8191, 0.8319, 0.8410, 0.8492, 0.8544],
    (0.5, 0.2): [0.0856, 0.3093, 0.5698, 0.7477, 0.8071, 0.8314, 0.8461, 0.8562, 0.8644, 0.8707, 0.8749],
}
NOTEBOOK_BEST = 0.8749
COLORS = ["skyblue", "coral", "forestgreen", "gold", "magenta", "royalblue"]  # the notebook's, in its order


class SideBySide(nn.Module):
    """k independent 784-10-10 ReLU networks evaluated in one pass; ``forward`` returns (k, n, 10) logits.

    Network j's first layer is rows 10j .. 10j+9 of ``hidden`` and its output layer is
    ``out_weight[j]``, ``out_bias[j]``. Every weight and bias starts as (U(0, 1) - 0.5) * factors[j].
    """

    def __init__(self, factors, seed=0):
        super().__init__()
        self.k = len(factors)
        rng = np.random.default_rng(seed)
        self.hidden = nn.Linear(784, HIDDEN * self.k, rng=rng)
        self.out_weight = nn.Parameter(np.empty((self.k, CLASSES, HIDDEN), np.float32))
        self.out_bias = nn.Parameter(np.empty((self.k, 1, CLASSES), np.float32))
        per_unit = np.repeat(np.asarray(factors, np.float32), HIDDEN)   # factor of each hidden unit's row
        per_net = np.asarray(factors, np.float32)[:, None, None]
        for param, factor in ((self.hidden.weight, per_unit[:, None]), (self.hidden.bias, per_unit),
                              (self.out_weight, per_net), (self.out_bias, per_net)):
            nn.init.centered_uniform_(param, factor=1.0, rng=rng)   # U(-0.5, 0.5) ...
            param.data *= factor                                      # ... * factor, network by network

    def forward(self, x):
        n = x.shape[0]
        h = self.hidden(x).reshape(n, self.k, HIDDEN).relu()          # (n, k, 10)
        return h.transpose(1, 0, 2) @ self.out_weight.transpose(0, 2, 1) + self.out_bias   # (k, n, 10)


def per_network_loss(logits, labels):
    """Mean cross-entropy of each network: a (k,) Tensor.

    The (k, n, 10) logits are read as k * n rows of 10 scores (a reshape, no copy), each row
    scored against its label, and the k * n losses averaged network by network.
    """
    k, n, classes = logits.shape
    rows = F.cross_entropy(logits.reshape(k * n, classes), np.tile(labels, k), reduction="none")
    return rows.reshape(k, n).mean(axis=1)


def accuracy(logits, labels):
    """Fraction of correct argmax predictions, per network: (k,) NumPy array."""
    return (logits.data.argmax(axis=-1) == labels).mean(axis=-1)


def train(x, y, runs, iterations, seed):
    """Full-batch gradient descent for every (factor, alpha) in ``runs``; accuracy history every 5 iterations."""
    model = SideBySide([factor for factor, _ in runs], seed=seed)
    alphas = Tensor(np.array([alpha for _, alpha in runs], np.float32))
    optimizer = optim.SGD(model.parameters(), lr=1.0)   # lr = 1: each network's alpha is in its loss
    images = Tensor(x)
    history = []
    print("iteration  " + "  ".join(f"f={f:<3g} a={a:<3g}" for f, a in runs) + "   (ours | notebook)")
    for i in range(iterations + 1):                     # 0 .. iterations inclusive, like the notebook
        logits = model(images)
        losses = per_network_loss(logits, y)
        acc = accuracy(logits, y)                        # measured before this step's update, as there
        optimizer.zero_grad()
        (losses * alphas).sum().backward()
        optimizer.step()
        if i % 5 == 0:
            history.append(acc)
        if i % 50 == 0:
            theirs = [NOTEBOOK[run][i // 50] if i <= 500 else float("nan") for run in runs]
            print(f"{i:>9}  " + "  ".join(f"{a:.3f}|{b:.3f}" for a, b in zip(acc, theirs)))
    return model, np.array(history), acc


def plot(history, runs, iterations, path):
    """The notebook's figure: accuracy every 5 iterations, one line per run; its printed points as dots."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), layout="constrained")
    ax = fig.add_subplot()
    steps = np.arange(0, iterations + 1, 5)
    for j, (factor, alpha) in enumerate(runs):
        label = f"weights at start: {-factor / 2:g} to {factor / 2:g}, alpha: {alpha:g}"
        ax.plot(steps, history[:, j], color=COLORS[j], label=label)
        shown = [i for i in range(0, min(iterations, 500) + 1, 50)]
        ax.plot(shown, [NOTEBOOK[(factor, alpha)][i // 50] for i in shown], "o--", color=COLORS[j],
                alpha=0.5, markersize=4)
    ax.set_xlabel("iterations (full-batch gradient descent steps)")
    ax.set_ylabel("training accuracy")
    ax.set_title("Notebook 000 reproduced: lines = tinygrad_edu, dashed dots = the notebook's printed values")
    ax.grid(axis="y", linestyle="--", alpha=0.7)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 digits and 20 iterations (a smoke test)")
    parser.add_argument("--limit", type=int, default=42000, help="train on the first N MNIST training digits")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/examples"))
    args = parser.parse_args(argv)
    limit, iterations = args.limit, args.iterations
    if args.quick:
        limit, iterations = min(limit, 2000), min(iterations, 20)

    x_train, y_train, x_test, y_test = data.load_mnist()
    x, y = x_train[:limit], y_train[:limit]
    runs = [(factor, alpha) for alpha in ALPHAS for factor in FACTORS]   # the notebook's order
    print(f"training 6 networks 784-10-10 on {len(x)} MNIST training digits, {iterations} iterations "
          f"(the notebook: the 42000 digits of Kaggle's train.csv, 500 iterations)")
    start = time.perf_counter()
    model, history, final = train(x, y, runs, iterations, args.seed)
    seconds = time.perf_counter() - start

    with tg.no_grad():
        test_acc = accuracy(model(Tensor(x_test)), y_test)
    print(f"\n  {'final training accuracy':<32} notebook ours    (ours on the {len(y_test)} test digits)")
    for j, (factor, alpha) in enumerate(runs):
        theirs = NOTEBOOK[(factor, alpha)][-1]
        run = f"init [{-factor / 2:+g}, {factor / 2:+g}] alpha {alpha:g}"
        print(f"  {run:<32} {theirs:.4f}   {final[j]:.4f}  "
              f"({test_acc[j]:.4f})")
    best = int(np.argmax(final))
    print(f"best training accuracy: notebook {NOTEBOOK_BEST:.4f}, ours {final[best]:.4f} "
          f"(factor {runs[best][0]:g}, alpha {runs[best][1]:g}; test {test_acc[best]:.4f}) in {seconds:.1f} s")
    path = args.out_dir / "init_scale_grid.png"
    plot(history, runs, iterations, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
