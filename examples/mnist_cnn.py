"""Train the default convolutional network on MNIST in a page of the public API.

Two convolution blocks (3x3 convolution, batch norm, 2x2 max pooling, ReLU), then a small classifier:
each convolution runs as pad + unfold (every 3x3 window becomes a column) + one matrix product, and its
gradient comes from the same primitives (docs/autodiff.md, section 10). Pooling before ReLU gives the same
network as the usual Conv-BN-ReLU-MaxPool (ReLU is monotone, so it commutes with max) at a quarter of ReLU's work. Adam at 1e-3 with a cosine decay
to 0, mini-batches of 128, each training image moved by up to 2 pixels anew every epoch.
``make mnist-cnn`` trains the same network through the command line (``tinygrad-edu train --arch cnn``).
Run: ``python examples/mnist_cnn.py [--epochs N] [--limit N] [--seed S]`` (``--limit``: the first N images).
"""

import argparse
import time

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim
from tinygrad_edu.app.augment import random_shift
from tinygrad_edu.data import load_mnist

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--limit", type=int, default=None, help="train and test on this many images only")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

x_train, y_train, x_test, y_test = load_mnist()                # (n, 784) float32 in [0, 1], int64 labels
x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], y_test[:args.limit]
tg.manual_seed(args.seed)                                      # initial weights and dropout masks
rng = np.random.default_rng(args.seed)                         # batch order and shifts

model = nn.Sequential(
    nn.Unflatten(1, (1, 28, 28)),                              # (N, 784) -> (N, 1, 28, 28)
    nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),    # -> (N, 32, 14, 14)
    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(),   # -> (N, 64, 7, 7)
    nn.Flatten(),                                              # -> (N, 3136)
    nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))             # -> (N, 10) logits
batch_size = 128
steps_per_epoch = -(-len(x_train) // batch_size)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)

start = time.perf_counter()
for epoch in range(1, args.epochs + 1):
    model.train()
    order = rng.permutation(len(x_train))
    for i in range(0, len(x_train), batch_size):
        batch = order[i:i + batch_size]
        x = Tensor(random_shift(x_train[batch], 2, rng))        # each digit moved by up to 2 pixels
        loss = F.cross_entropy(model(x), Tensor(y_train[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()                                               # batch norm uses its running statistics
    with tg.no_grad():
        predictions = np.concatenate([model(Tensor(x_test[i:i + 1000])).argmax(axis=1).numpy()
                                      for i in range(0, len(x_test), 1000)])
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}, test accuracy {(predictions == y_test).mean():.2%}, "
          f"{time.perf_counter() - start:.1f} s")
