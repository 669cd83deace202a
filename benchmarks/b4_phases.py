"""Where a B4 step's time goes: forward / backward / optimizer, and layer by layer, per version.

    python -m benchmarks.b4_phases [--steps 10] [--versions numpy,tinygrad,torch] [--threads N] [--profile]

- The NumPy floor runs its own named stages (``NumpyB4.stages()``), each timed.
- tinygrad_edu and PyTorch run the model layer by layer through the public API, the graph cut between
  layers: each layer's input is the previous output detached (``requires_grad``), so the forward of a layer
  is timed alone, and its backward is ``out.backward(grad)`` from the gradient the next layer handed back.
  The optimizer phase is ``zero_grad()`` + ``step()``. Cutting costs a little (the extra leaf tensors); the
  ``whole step`` row is the uncut step for comparison, and ``sum of parts`` what the cut run added up to.
- The framework layers are grouped as the floor's stages (``pool1+relu`` is MaxPool2d then ReLU,
  ``fc1+relu+dropout`` is Flatten, Linear, ReLU and Dropout).

All versions see the same batches (B4's batch order) and start from the same weights; each runs its steps
back to back (one version after the other); medians over ``--steps`` steps after two warm-up steps. ``--profile`` adds cProfile's top
functions (by own time) of tinygrad_edu's uncut steps: which primitives the engine spends the step in.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import statistics
import sys
import time
from collections import defaultdict

from . import b4_cnn as b4
from .common import batch_indices, load_data
from .report import VERSION_NAMES, parse_versions, text_table
from .workloads import torch_available

STAGES = ["conv1", "bn1", "pool1+relu", "conv2", "bn2", "pool2+relu", "fc1+relu+dropout", "fc2", "softmax+CE"]
# the Sequential's children, in order, grouped as the floor's stages
GROUPS = ["conv1", "bn1", "pool1+relu", "pool1+relu", "conv2", "bn2", "pool2+relu", "pool2+relu",
          "fc1+relu+dropout", "fc1+relu+dropout", "fc1+relu+dropout", "fc1+relu+dropout", "fc2"]
WARMUP = 2


class _Floor:
    """The NumPy floor's own stages, each timed."""

    def __init__(self, data):
        self.trainer = b4.NumpyB4(b4.SPEC, data)

    def cut_step(self, data, index, record):
        trainer = self.trainer
        trainer.batch = (data.x_train, data.y_train, index)
        for phase, layer, stage in trainer._stages:
            start = time.perf_counter()
            stage()
            record[phase, layer].append(time.perf_counter() - start)


class _Framework:
    """Layer-by-layer timing of the tinygrad_edu or PyTorch version through its public API."""

    trainer_class = None

    def __init__(self, data):
        self.trainer = self.trainer_class(b4.SPEC, data)

    @staticmethod
    def leaf(t):
        """t cut from its graph, as a new leaf that records the gradient handed back to it."""
        return t.detach().requires_grad_()

    def cut_step(self, data, index, record):
        xb, yb = data.x_train[index].reshape(-1, 1, 28, 28), data.y_train[index]
        model, opt = self.trainer.model, self.trainer.opt
        start = time.perf_counter()
        opt.zero_grad()
        zero = time.perf_counter() - start
        inputs, outputs = [], []
        a = self.tensor(xb)
        fwd = defaultdict(float)
        for group, layer in zip(GROUPS, model):
            a = self.leaf(a) if inputs else a
            start = time.perf_counter()
            out = layer(a)
            fwd[group] += time.perf_counter() - start
            inputs.append(a)
            outputs.append(out)
            a = out
        logits = self.leaf(a)
        start = time.perf_counter()
        loss = self.trainer.criterion(logits, self.tensor(yb))
        fwd["softmax+CE"] += time.perf_counter() - start
        bwd = defaultdict(float)
        start = time.perf_counter()
        loss.backward()
        bwd["softmax+CE"] += time.perf_counter() - start
        grad = logits.grad
        for k in range(len(outputs) - 1, -1, -1):
            start = time.perf_counter()
            outputs[k].backward(grad)
            bwd[GROUPS[k]] += time.perf_counter() - start
            grad = inputs[k].grad if k else None
        start = time.perf_counter()
        opt.step()
        for phase, times in (("forward", fwd), ("backward", bwd)):
            for group, seconds in times.items():
                record[phase, group].append(seconds)
        record["optimizer", "adam"].append(zero + time.perf_counter() - start)
        self.trainer.loss = loss.item()


class _Tinygrad(_Framework):
    trainer_class = b4.TinygradB4

    @staticmethod
    def tensor(array):
        import tinygrad_edu as tg

        return tg.Tensor(array)


class _Torch(_Framework):
    trainer_class = b4.TorchB4

    @staticmethod
    def tensor(array):
        import torch

        return torch.from_numpy(array)


TIMERS = {"numpy": _Floor, "tinygrad": _Tinygrad, "torch": _Torch}


def measure(versions, data, steps):
    """{version: (samples {(phase, layer): [seconds per step]}, median seconds of an uncut step)}.

    Each version runs its steps back to back, as in training (alternating versions step by step left each
    step to start cold, PyTorch's thread pool asleep and the caches full of another version's arrays: PyTorch's
    step measured 79 ms that way against 59 ms back to back), first cut (after ``WARMUP`` cut steps), then
    uncut: the trainer's own ``train(steps)``, each step's time taken from its ``on_step`` callback."""
    batches = batch_indices(len(data.x_train), b4.SPEC.batch_size, b4.SPEC.order_seed)
    timers = {v: TIMERS[v](data) for v in versions}
    samples = {v: defaultdict(list) for v in versions}
    for version, timer in timers.items():
        for i, index in enumerate(batches[:WARMUP + steps]):
            timer.cut_step(data, index, samples[version] if i >= WARMUP else defaultdict(list))
    whole = {}
    for version, timer in timers.items():
        timer.trainer.reset()
        stamps = [time.perf_counter()]
        timer.trainer.train(steps, on_step=lambda i, stamps=stamps: stamps.append(time.perf_counter()))
        whole[version] = statistics.median(b - a for a, b in itertools.pairwise(stamps))
    return {v: (samples[v], whole[v]) for v in versions}


def rows(results):
    """[(phase, layer, {version: ms})] for every stage, then per-phase totals."""
    out = []
    phases = [("forward", s) for s in STAGES] + [("backward", s) for s in reversed(STAGES)] + [("optimizer", "adam")]
    for phase, layer in phases:
        out.append((phase, layer, {v: 1e3 * statistics.median(r[0][phase, layer]) for v, r in results.items()
                                   if (phase, layer) in r[0]}))
    for phase in ("forward", "backward", "optimizer"):
        out.append((phase, "(all)", {v: sum(cells[v] for p, _, cells in out[:len(phases)] if p == phase and v in cells)
                                     for v in results}))
    out.append(("step", "sum of parts", {v: sum(cells[v] for p, layer, cells in out if layer == "(all)")
                                         for v in results}))
    out.append(("step", "whole step", {v: 1e3 * r[1] for v, r in results.items()}))
    return out


def table(results) -> str:
    versions = list(results)
    header = ["phase", "layer"] + [f"{VERSION_NAMES[v]} ms" for v in versions]
    if "numpy" in results and "tinygrad" in results:
        header.append("tinygrad/floor")
    if "tinygrad" in results and "torch" in results:
        header.append("tinygrad/torch")
    lines = []
    for phase, layer, cells in rows(results):
        line = [phase, layer] + [f"{cells[v]:.2f}" if v in cells else "-" for v in versions]
        for a, b in (("tinygrad", "numpy"), ("tinygrad", "torch")):
            if a in results and b in results:
                line.append(f"{cells[a] / cells[b]:.1f}x" if cells.get(b) else "-")
        lines.append(line)
    return text_table(header, lines)


def profile_tinygrad(data, steps, top=25) -> str:
    trainer = b4.TinygradB4(b4.SPEC, data)
    trainer.train(WARMUP)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.train(steps)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_phases", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per version (median; default 10)")
    parser.add_argument("--versions", default="numpy,tinygrad,torch")
    parser.add_argument("--threads", type=int, default=None, help="BLAS (and torch) threads")
    parser.add_argument("--profile", action="store_true", help="also cProfile tinygrad_edu's step")
    args = parser.parse_args(argv)
    versions = parse_versions(parser, args.versions, list(TIMERS), "b4_phases")
    if "torch" in versions and not torch_available():
        print("b4_phases: torch does not import; skipping the PyTorch column", file=sys.stderr)
        versions.remove("torch")
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)
    if "torch" in versions:
        import torch

        from .sysinfo import numpy_blas_threads

        torch.set_num_threads(numpy_blas_threads())
    data = load_data()
    print(f"  timing {', '.join(versions)} ...", file=sys.stderr, flush=True)
    results = measure(versions, data, args.steps)
    print(f"B4 step, median of {args.steps} steps (ms)")
    print(table(results))
    if args.profile:
        print("\ntinygrad_edu, cProfile of whole steps (by own time):")
        print(profile_tinygrad(data, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
