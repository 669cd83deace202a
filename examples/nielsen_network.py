"""Seed notebook 004: Michael Nielsen's ``Network`` class, with ``backprop`` replaced by ``backward()``.

What the notebook did: it introduced the multilayer perceptron with Nielsen's ``network.py`` (book
"Neural Networks and Deep Learning", chapter 1): ``Network([784, 16, 16, 10])`` with N(0, 1) weights
and biases, sigmoid units, the quadratic cost C = 1/(2n) sum ||y - a||^2, mini-batch SGD, and a
hand-written ``backprop``. It printed only the parameter shapes; it never trained. Its full-batch
``GD`` method also hard-codes two layers (``nabla_w1``, ``nabla_w2``), so it cannot train the
[784, 16, 16, 10] network it builds. Nielsen's book reports about 95 % test accuracy for
``Network([784, 30, 10])`` trained with ``SGD(training_data, 30, 10, 3.0, test_data=test_data)``.

What this script shows: the same class and the same method names, any number of layers, and no
``backprop`` to write: ``update_mini_batch`` builds the cost of the batch from Tensor operations and
calls ``backward()``. Like the book it trains on the first 50 000 MNIST training digits (the book's
``mnist.pkl.gz`` holds the other 10 000 as validation data), mini-batches of 10, eta = 3.0, and prints
``Epoch j : correct / 10000`` on the MNIST test digits after every epoch, for [784, 30, 10] and then
[784, 16, 16, 10], 30 epochs each as in the book.

    python examples/nielsen_network.py            # ~2 minutes on 2 cores
    python examples/nielsen_network.py --quick    # 2000 digits, 1 epoch each
"""

import argparse
import time

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, data, nn, optim

BOOK_ACCURACY = 95.0  # "about 95 %" for Network([784, 30, 10]), chapter 1


class Network(nn.Module):
    """Nielsen's ``Network(sizes)``: sigmoid layers, every weight and bias drawn from N(0, 1)."""

    def __init__(self, sizes, seed=None):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.num_layers, self.sizes = len(sizes), list(sizes)
        self.layers = nn.MLP(sizes, activation="sigmoid", rng=rng)   # Linear, Sigmoid, ..., Linear
        for param in self.layers.parameters():
            nn.init.standard_normal_(param, rng=rng)

    def feedforward(self, a):
        """Output activations: the MLP's last Linear is followed by a sigmoid too, as in the book."""
        return self.layers(a).sigmoid()

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, seed=None):
        """Mini-batch stochastic gradient descent; prints test accuracy after every epoch, like the book."""
        x, y = training_data
        loader = data.DataLoader(x, np.eye(10, dtype=np.float32)[y], batch_size=mini_batch_size, seed=seed)
        optimizer = optim.SGD(self.parameters(), lr=eta)
        results = []
        for j in range(epochs):
            for xb, yb in loader:                           # a fresh shuffle every epoch
                self.update_mini_batch(xb, yb, optimizer)
            if test_data:
                results.append(self.evaluate(test_data))
                print(f"Epoch {j} : {results[-1]} / {len(test_data[1])}", flush=True)
            else:
                print(f"Epoch {j} complete")
        return results

    def update_mini_batch(self, xb, yb, optimizer):
        """One step: w <- w - (eta / m) * sum over the batch of dC_x/dw, with C_x = ||y - a||^2 / 2.

        The book's ``backprop(x, y)`` is ``cost.backward()``: the mean over the batch of C_x has
        exactly the gradient (1/m) sum dC_x/dw that the book accumulates in ``nabla_w``.
        """
        cost = F.mse_loss(self.feedforward(xb), yb, reduction="sum") * (0.5 / len(xb))
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()

    def evaluate(self, test_data):
        """How many test digits the network classifies correctly (the index of the largest output)."""
        x, y = test_data
        with tg.no_grad():
            return int((self.feedforward(Tensor(x)).data.argmax(axis=1) == y).sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 training digits, 1 epoch per network")
    parser.add_argument("--limit", type=int, default=50000, help="train on the first N MNIST training digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    limit, epochs = args.limit, args.epochs
    if args.quick:
        limit, epochs = min(limit, 2000), min(epochs, 1)

    x_train, y_train, x_test, y_test = data.load_mnist()
    training_data, test_data = (x_train[:limit], y_train[:limit]), (x_test, y_test)
    summary = []
    for sizes in ([784, 30, 10], [784, 16, 16, 10]):
        print(f"\nnet = Network({sizes}); net.SGD(training_data ({limit} digits), {epochs}, 10, 3.0, test_data)")
        net = Network(sizes, seed=args.seed)
        start = time.perf_counter()
        results = net.SGD(training_data, epochs, 10, 3.0, test_data=test_data, seed=args.seed)
        summary.append((sizes, results, time.perf_counter() - start))

    print(f"\n  {'network':<18} book      ours: last epoch   best epoch   seconds")
    for sizes, results, seconds in summary:
        book = f"~{BOOK_ACCURACY:.0f} %" if sizes == [784, 30, 10] else "-"
        last, best = 100 * results[-1] / len(y_test), 100 * max(results) / len(y_test)
        print(f"  {sizes!s:<18} {book:<9} {last:>15.2f} % {best:>10.2f} %   {seconds:>7.1f}")


if __name__ == "__main__":
    main()
