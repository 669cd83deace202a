"""When one machine is no longer enough, a learner moves to PyTorch: a model trained here, converted to torch.nn.

tinygrad_edu keeps PyTorch's layouts and names (Linear's weight is (out, in), Conv2d's (out, in/groups, kH, kW),
BatchNorm's buffers running_mean, running_var and num_batches_tracked), so a model's ``state_dict()`` loads as it
is into the same architecture built with ``torch.nn``. The one thing to write is that architecture: ``to_torch``
walks the model and builds each layer's torch.nn twin (the table ``TWINS``), then loads the weights.

The script converts an MLP and a CNN, checks that both frameworks compute the same outputs on a batch (eval mode,
float32; the largest difference is printed and must stay below 1e-4), and continues training in PyTorch with
``torch.optim.Adam``, printing the loss as it goes down:

    python examples/to_pytorch.py                      # trains a small MLP and a small CNN here first
    python examples/to_pytorch.py --model model.npz    # a model file of `tinygrad-edu train [--arch cnn] --out ...`

Data: MNIST (``data.load_mnist``, cached after the first run); ``--synthetic`` uses random images instead, which
is enough to check the conversion on a machine without the data set.

Without PyTorch it prints one line saying to ``pip install torch`` and exits with status 2, as for a usage error:
nothing was converted or checked, so a script running the examples must not count this run as passed.

From your own code (with ``examples/`` on ``sys.path``)::

    from to_pytorch import to_torch
    torch_model = to_torch(model)      # model: a tinygrad_edu nn.Module of the layers in TWINS
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim

try:
    import torch
except ImportError:  # the check is in require_torch(), so this file imports (and says what is missing) without it
    torch = None

INSTALL_HINT = "examples/to_pytorch.py needs PyTorch, which is not installed: pip install torch"
TOLERANCE = 1e-4  # float32: the two frameworks add in different orders, so outputs differ by a few ulps


class UnsupportedLayerError(TypeError):
    """A layer with no torch.nn twin in ``TWINS`` (a Module with its own ``forward``, for one)."""


def require_torch():
    """The ``torch`` module, or an ImportError whose message says how to install it."""
    if torch is None:
        raise ImportError(INSTALL_HINT)
    return torch


def _batch_norm(name):
    return lambda m: getattr(torch.nn, name)(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                                             track_running_stats=m.track_running_stats)


# Each tinygrad_edu layer and how to build its torch.nn twin with the same settings. Looked up along the class's
# MRO (nn.MLP is a Sequential), but only while the subclass keeps the parent's forward: a subclass computing
# something else has no twin here.
TWINS = {
    nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    nn.Conv2d: lambda m: torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                                         padding=m.padding, dilation=m.dilation, groups=m.groups,
                                         bias=m.bias is not None),
    nn.BatchNorm1d: _batch_norm("BatchNorm1d"),
    nn.BatchNorm2d: _batch_norm("BatchNorm2d"),
    nn.LayerNorm: lambda m: torch.nn.LayerNorm(m.normalized_shape, eps=m.eps,
                                               elementwise_affine=m.elementwise_affine),
    nn.MaxPool2d: lambda m: torch.nn.MaxPool2d(m.kernel_size, stride=m.stride, padding=m.padding),
    nn.AvgPool2d: lambda m: torch.nn.AvgPool2d(m.kernel_size, stride=m.stride, padding=m.padding),
    nn.ReLU: lambda m: torch.nn.ReLU(),
    nn.Sigmoid: lambda m: torch.nn.Sigmoid(),
    nn.Tanh: lambda m: torch.nn.Tanh(),
    nn.LeakyReLU: lambda m: torch.nn.LeakyReLU(m.negative_slope),
    nn.Softmax: lambda m: torch.nn.Softmax(dim=m.axis),
    nn.LogSoftmax: lambda m: torch.nn.LogSoftmax(dim=m.axis),
    nn.Identity: lambda m: torch.nn.Identity(),
    nn.Flatten: lambda m: torch.nn.Flatten(start_dim=m.start_axis),
    nn.Unflatten: lambda m: torch.nn.Unflatten(m.axis, m.unflattened_size),
    nn.Dropout: lambda m: torch.nn.Dropout(m.p),
    nn.Sequential: lambda m: torch.nn.Sequential(),  # its children's twins are added by _twin, under the same names
}


def _twin(module, path):
    """The torch.nn twin of ``module`` (untrained), children included; ``path`` names it in errors."""
    kind = type(module)
    for cls in kind.__mro__:
        if cls in TWINS:
            if kind.forward is not cls.forward:
                break  # a subclass with a forward of its own: the parent's twin would compute something else
            twin = TWINS[cls](module)
            for name, child in module.named_children():
                twin.add_module(name, _twin(child, f"{path}.{name}" if path else name))
            twin.training = module.training
            return twin
    where = f" at '{path}'" if path else ""
    supported = ", ".join(sorted(cls.__name__ for cls in TWINS))
    raise UnsupportedLayerError(f"to_torch: no torch.nn twin for the layer {kind.__name__}{where}; supported "
                                f"layers: {supported} (convert that layer by hand: build its torch.nn version and "
                                f"load its weights with load_state_dict)")


def to_torch(model):
    """``model`` (a tinygrad_edu ``nn.Module`` made of the layers in ``TWINS``) as the same ``torch.nn`` network,
    carrying its weights and buffers through ``state_dict`` (PyTorch's keys on both sides), its dtype (float32
    for any model trained here) and its train/eval mode. The torch model's arrays are copies: training one
    leaves the other as it was.

    Raises UnsupportedLayerError naming the first layer without a twin, ImportError without PyTorch.
    """
    require_torch()
    twin = _twin(model, "")
    state = model.state_dict()
    floats = {array.dtype for array in state.values() if array.dtype.kind == "f"}
    twin.to(torch.float64 if np.dtype(np.float64) in floats else torch.float32)
    twin.load_state_dict({name: torch.from_numpy(np.array(array)) for name, array in state.items()}, strict=True)
    return twin


def max_abs_difference(model, torch_model, x) -> float:
    """The largest |model(x) - torch_model(x)| over a batch ``x`` (a NumPy array), both in eval mode (the
    running statistics of batch norm, no dropout); each model's mode is restored afterwards."""
    modes = model.training, torch_model.training
    model.eval()
    torch_model.eval()
    try:
        with tg.no_grad():
            ours = model(Tensor(x)).numpy()
        with torch.no_grad():
            theirs = torch_model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    finally:
        model.train(modes[0])
        torch_model.train(modes[1])
    return float(np.abs(ours.astype(np.float64) - theirs).max())


def train_in_torch(torch_model, x, y, steps=300, batch_size=64, lr=1e-3, seed=0) -> list[float]:
    """``steps`` Adam steps of cross-entropy on random mini-batches of (x, y): the same loop as here, written with
    torch.optim. Returns the loss of each step. (Adam starts from zero moments: its state is not carried over.)"""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=lr)
    torch_model.train()
    losses = []
    for _ in range(steps):
        batch = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        loss = torch.nn.functional.cross_entropy(torch_model(torch.from_numpy(x[batch])),
                                                 torch.from_numpy(y[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def small_mlp(seed=0):
    """784-64-10 with ReLU and dropout: the kind of MLP the command line trains, smaller."""
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))


def small_cnn(seed=0):
    """Two conv-batchnorm-relu-pool blocks on (N, 1, 28, 28) images, then a linear layer: 28 -> 14 -> 7 pixels."""
    tg.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def train_here(model, x, y, steps, batch_size=64, lr=1e-3, seed=0) -> float:
    """``steps`` Adam steps in tinygrad_edu; returns the last loss."""
    rng = np.random.default_rng(seed)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        loss = F.cross_entropy(model(Tensor(x[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def accuracy_in_torch(torch_model, x, y) -> float:
    torch_model.eval()
    with torch.no_grad():
        return float((torch_model(torch.from_numpy(x)).argmax(dim=1).numpy() == y).mean())


def load_model_file(path):
    """A model file of the command line (``tinygrad-edu train [--arch cnn] --out model.npz``): ``(model, info)``
    by the application's own loader. Both networks take rows of 784 pixels (the CNN starts with an Unflatten
    to (N, 1, 28, 28)); ``info["preprocessing"]`` turns pixels in [0, 1] into the model's input."""
    from tinygrad_edu.app.checkpoint import load_model

    return load_model(path)


def _mnist(args):
    """(x_train, y_train, x_test, y_test): pixels in [0, 1] shaped (n, 784), int64 labels."""
    if args.synthetic:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, size=args.limit + 500)
        # each class lights up its own band of pixels, so a few steps learn something
        x = rng.uniform(0, 0.3, size=(len(y), 784)).astype(np.float32)
        for label in range(10):
            x[y == label, label * 78: label * 78 + 78] += 0.7
        return x[:args.limit], y[:args.limit], x[args.limit:], y[args.limit:]
    from tinygrad_edu.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist()
    return x_train[:args.limit], y_train[:args.limit], x_test, y_test


def convert_check_continue(name, model, inputs, args):
    """The three steps for one model: convert, compare on a batch, continue training in torch."""
    x_train, y_train, x_test, y_test = inputs
    torch_model = to_torch(model)
    print(f"\n{name} in torch.nn:\n{torch_model}")
    batch = x_test[:256]
    difference = max_abs_difference(model, torch_model, batch)
    print(f"same outputs: max |tinygrad_edu - torch| = {difference:.2e} on a batch of {len(batch)} "
          f"(eval mode, {batch.dtype})")
    if not difference < TOLERANCE:
        raise SystemExit(f"{name}: the outputs differ by {difference:.2e}, more than {TOLERANCE:g}")
    before = accuracy_in_torch(torch_model, x_test, y_test)
    start = time.perf_counter()
    losses = train_in_torch(torch_model, x_train, y_train, steps=args.steps, lr=args.lr)
    seconds = time.perf_counter() - start
    window = max(1, len(losses) // 5)
    for first in range(0, len(losses), window):
        chunk = losses[first:first + window]
        print(f"  torch steps {first + 1:3}-{first + len(chunk):3}: mean loss {np.mean(chunk):.4f}")
    print(f"test accuracy {before:.2%} -> {accuracy_in_torch(torch_model, x_test, y_test):.2%} after {len(losses)} "
          f"torch.optim.Adam steps ({seconds:.1f} s)")
    return torch_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a model file of `tinygrad-edu train --out model.npz` (MLP or CNN); "
                                        "without it, a small MLP and CNN are trained here first")
    parser.add_argument("--steps", type=int, default=300, help="training steps in PyTorch (default 300)")
    parser.add_argument("--here-steps", type=int, default=40, help="training steps here before converting")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate in PyTorch")
    parser.add_argument("--limit", type=int, default=10000, help="training images used (default 10000)")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--save", help="write the last converted torch model's state_dict here (torch.save)")
    args = parser.parse_args(argv)
    try:
        require_torch()
    except ImportError as error:
        print(error, file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # the small batches here gain nothing from threads
    x_train, y_train, x_test, y_test = _mnist(args)
    if args.model:
        model, info = load_model_file(args.model)
        prepare = info["preprocessing"]
        inputs = (prepare(x_train), y_train, prepare(x_test), y_test)
        print(f"{args.model}: {info['architecture']} with {sum(p.size for p in model.parameters()):,} parameters")
        models = [(args.model, model, inputs)]
    else:
        mean, std = x_train.mean(), x_train.std()
        flat = tuple(a if a.dtype.kind == "i" else ((a - mean) / std).astype(np.float32)
                     for a in (x_train, y_train, x_test, y_test))
        images = tuple(a.reshape(-1, 1, 28, 28) if a.ndim == 2 else a for a in flat)
        models = [("MLP", small_mlp(), flat), ("CNN", small_cnn(), images)]
        for name, model, (x, y, _, _) in models:
            start = time.perf_counter()
            loss = train_here(model, x, y, args.here_steps)
            print(f"{name} trained here: {args.here_steps} Adam steps, last loss {loss:.4f} "
                  f"({time.perf_counter() - start:.2f} s)")
    for name, model, inputs in models:
        torch_model = convert_check_continue(name, model, inputs, args)
    if args.save:
        torch.save(torch_model.state_dict(), args.save)
        print(f"wrote {args.save}: load it with torch_model.load_state_dict(torch.load({args.save!r}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
