"""Train the default MNIST model in a page of the public API: the file to read first.

A 784-512-256-10 ReLU network, Adam at 1e-3 with a cosine decay to 0, mini-batches of 128, 8 epochs:
about 98.5% test accuracy (``make mnist`` trains the same model through the command line).
Run: ``python examples/mnist_mlp.py [--epochs N] [--limit N]`` (``--limit`` trains on the first N images).
"""

import argparse
import time

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim
from tinygrad_edu.data import DataLoader, load_mnist

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--limit", type=int, default=None, help="train and test on this many images only")
args = parser.parse_args()

x_train, y_train, x_test, y_test = load_mnist()                # (n, 784) float32 in [0, 1], int64 labels
x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], y_test[:args.limit]
mean, std = x_train.mean(), x_train.std()                      # standardise the pixels: mean 0, std 1
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

model = nn.MLP([784, 512, 256, 10], seed=0)                    # Linear -> ReLU -> Linear -> ReLU -> Linear
loader = DataLoader(x_train, y_train, batch_size=128, shuffle=True, seed=0)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))

start = time.perf_counter()
for epoch in range(1, args.epochs + 1):
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)                    # forward: the graph is recorded
        optimizer.zero_grad()
        loss.backward()                                        # reverse sweep: every parameter's .grad
        optimizer.step()                                       # Adam update
        schedule.step()                                        # lr follows a half cosine, per step
    model.eval()
    with tg.no_grad():                                         # evaluation records no graph
        predictions = model(Tensor(x_test)).argmax(axis=1).numpy()
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}, test accuracy {(predictions == y_test).mean():.2%}, "
          f"{time.perf_counter() - start:.1f} s")
