"""B2 on a bare tape: what a reverse-mode autograd written in Python costs per step, at the least.

    python -m benchmarks.b2_bare_tape [--rounds 10] [--steps 500] [--bytecodes]

B2 (MLP 784-30-10, sigmoid, batch 10) measures per-step overhead: its arrays are tiny, so a step's time is
mostly the cost of calling each operation. The NumPy floor calls NumPy about 25 times per step and records
nothing. Any autograd records each operation and walks the records backwards, and that costs Python work
the floor does not do. This module measures how much, with the smallest such autograd: ``BareB2`` runs B2's
step on a micrograd-style tape (each node an array, its inputs and a closure giving their gradients; a
topological sort; a dict of pending gradients), with no checks, no dtype rules, no version counters, no
modules, no optimizer classes and no data loader. It computes every value with the same arithmetic as
tinygrad_edu's step, and so reaches the same parameters bit for bit (checked before timing).

The bare tape is a reference, not a design to copy: it accepts any input silently and gets wrong answers
for what tinygrad_edu refuses or handles (shape and dtype mismatches, a tensor changed in place after the
forward pass, second derivatives). What it shows is the share of tinygrad_edu's B2 time that any tape
costs, and the share that comes from those features.

Printed: each version's median time per step over interleaved rounds, and the ratios. ``--bytecodes``
also counts the Python bytecodes executed per step by the bare tape and by tinygrad_edu
(``sys.settrace`` opcode events): deterministic, like ``benchmarks.instructions``, and split by file.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

import numpy as np

from . import b2_nielsen_sgd as b2
from .common import Trainer, batch_indices, load_data
from .report import text_table


class Node:
    """One recorded value: ``data``, the nodes it was computed from, and ``back(g)``, the gradients of
    those inputs given the gradient g of this value (None for a leaf). Leaves collect ``grad``."""

    __slots__ = ("back", "data", "grad", "parents")

    def __init__(self, data, parents=(), back=None):
        self.data, self.grad, self.parents, self.back = data, None, parents, back


def linear(x: Node, w: Node, b: Node) -> Node:
    """z = x W^T + b:  dx = g W,  dW = g^T x,  db = sum of g over the batch."""
    z = x.data @ w.data.T
    z += b.data

    def back(g):
        return (g @ w.data if x.back is not None else None), g.T @ x.data, np.add.reduce(g, axis=0)
    return Node(z, (x, w, b), back)


def sigmoid(x: Node) -> Node:
    """z = 1 / (1 + e^-x):  dx = g z (1 - z).  (e^-x overflows to inf for very negative x: z = 0, right.)"""
    z = np.negative(x.data)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    return Node(z, (x,), lambda g: (g * z * (1 - z),))


def subtract(a: Node, b: Node) -> Node:
    """a - b:  da = g,  db = -g (b is a target here: not needed)."""
    return Node(a.data - b.data, (a, b), lambda g: (g, None))


def multiply(a: Node, b: Node) -> Node:
    """a * b:  da = g b,  db = g a."""
    return Node(a.data * b.data, (a, b), lambda g: (g * b.data, g * a.data))


def total(a: Node) -> Node:
    """The sum of every element:  da = g broadcast to a's shape."""
    return Node(np.add.reduce(a.data, axis=None), (a,), lambda g: (np.broadcast_to(g, a.data.shape),))


def scale(a: Node, c: float) -> Node:
    """a * c for a number c:  da = g c."""
    return Node(a.data * c, (a,), lambda g: (g * c,))


def backward(root: Node) -> None:
    """Reverse mode: every node after all of its consumers (a depth-first topological order, reversed), each
    node's gradient the sum of what its consumers sent; leaves (back is None) accumulate ``grad``."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if p.back is not None and id(p) not in seen)
    pending = {id(root): np.ones_like(root.data)}
    for node in reversed(order):
        g = pending.pop(id(node))
        for parent, parent_grad in zip(node.parents, node.back(g)):
            if parent_grad is None:
                continue
            if parent.back is None:
                parent.grad = parent_grad if parent.grad is None else parent.grad + parent_grad
            else:
                key = id(parent)
                pending[key] = pending[key] + parent_grad if key in pending else parent_grad


class BareB2(Trainer):
    """B2's step on the bare tape: the model, the quadratic cost and SGD written out with the functions above."""

    version = "bare"

    def reset(self):
        self.nodes = [Node(p.copy()) for p in self.init]

    def train(self, steps=None, on_step=None):
        x, y = self.data.x_train, self.data.y_train_onehot
        w1, b1, w2, b2_ = self.nodes
        size, lr = self.spec.batch_size, self.spec.lr
        with np.errstate(over="ignore"):
            for i, index in enumerate(batch_indices(len(x), size, self.spec.order_seed)[:steps]):
                xb, yb = Node(np.take(x, index, axis=0)), Node(np.take(y, index, axis=0))
                out = sigmoid(linear(sigmoid(linear(xb, w1, b1)), w2, b2_))
                d = subtract(out, yb)
                loss = scale(total(multiply(d, d)), 0.5 / size)
                for p in self.nodes:
                    p.grad = None
                backward(loss)
                for p in self.nodes:
                    p.data -= lr * p.grad
                if on_step is not None:
                    on_step(i)
        self.loss = float(loss.data)

    def params(self):
        return [p.data for p in self.nodes]

    def predict(self, x):
        w1, b1, w2, b2_ = (p.data for p in self.nodes)
        with np.errstate(over="ignore"):
            h = 1 / (1 + np.exp(-(x @ w1.T + b1)))
            return 1 / (1 + np.exp(-(h @ w2.T + b2_)))


def trainers(data) -> dict:
    """{version: trainer} for the NumPy floor, the bare tape and tinygrad_edu on B2."""
    return {cls.version: cls(b2.SPEC, data) for cls in (b2.NumpyB2, BareB2, b2.TinygradB2)}


def max_parameter_difference(a: Trainer, b: Trainer, steps: int) -> float:
    """The largest difference between two versions' parameters after ``steps`` steps from the same start."""
    for t in (a, b):
        t.reset()
        t.train(steps)
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a.params(), b.params()))


def time_rounds(runs: dict, rounds: int, steps: int) -> dict:
    """{version: [us per step in each round]}: every version trains ``steps`` steps per round from its reset
    state, in an order that alternates between rounds."""
    times = {version: [] for version in runs}
    order = list(runs)
    for r in range(rounds):
        for version in (order if r % 2 == 0 else order[::-1]):
            trainer = runs[version]
            trainer.reset()
            start = time.perf_counter()
            trainer.train(steps)
            times[version].append(1e6 * (time.perf_counter() - start) / steps)
    return times


def bytecodes_per_step(trainer: Trainer, steps: int) -> collections.Counter:
    """Python bytecodes executed per step, by file (``sys.settrace`` with opcode events), after a warm-up.
    The trainer's own loop setup (computing the epoch's batch order) is left out: it is not per-step work."""
    trainer.reset()
    trainer.train(5)
    counts = collections.Counter()

    def trace(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts[frame.f_code.co_filename.rsplit("/", 1)[-1]] += 1
        return trace

    sys.settrace(trace)
    try:
        trainer.train(steps)
    finally:
        sys.settrace(None)
    del counts["common.py"]  # batch_indices: once per train() call, for the whole epoch
    return collections.Counter({name: n / steps for name, n in counts.items()})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b2_bare_tape", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--steps", type=int, default=500, help="steps per version per round (default 500)")
    parser.add_argument("--bytecodes", action="store_true", help="also count Python bytecodes per step")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.exit(2, "b2_bare_tape: --rounds and --steps must be at least 1\n")
    runs = trainers(load_data())
    difference = max_parameter_difference(runs["bare"], runs["tinygrad"], 50)
    print(f"bare tape and tinygrad_edu after 50 steps: parameters differ by at most {difference:.3g}")
    for trainer in runs.values():  # warm-up
        trainer.train(50)
    times = time_rounds(runs, args.rounds, args.steps)
    median = {version: float(np.median(t)) for version, t in times.items()}
    rows = [[version, f"{median[version]:.1f}", f"{median[version] / median['numpy']:.2f}x"] for version in runs]
    print(f"B2, median of {args.rounds} interleaved rounds of {args.steps} steps")
    print(text_table(["version", "us per step", "/ NumPy floor"], rows))
    print(f"tinygrad_edu / bare tape: {median['tinygrad'] / median['bare']:.2f}x")
    if args.bytecodes:
        for version in ("bare", "tinygrad"):
            counts = bytecodes_per_step(runs[version], 20)
            parts = ", ".join(f"{name} {n:.0f}" for name, n in counts.most_common(8))
            print(f"{version}: {sum(counts.values()):.0f} Python bytecodes per step ({parts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
