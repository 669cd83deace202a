"""Where a B1, B2 or B3 step's time goes: batch, forward, loss, backward, optimizer, per version.

    python -m benchmarks.phases [--workload B1] [--steps 100] [--rounds 6] [--versions numpy,tinygrad,torch]

- tinygrad_edu and PyTorch run the workload's own trainer through its public API, one part at a time:
  ``batch`` (the next (inputs, target) from ``trainer.batches``), ``forward`` (``model(inputs)``), ``loss``
  (``trainer.criterion``), ``backward`` (``zero_grad()`` and ``loss.backward()``), ``optimizer`` (``step()``).
- The NumPy floor computes batch, forward, loss and backward in one function (``_gradients``: it takes
  the batch into a preallocated buffer and writes every gradient in place) and then updates the
  parameters (``_update``); its rows are those two.
- The versions take turns every ``--steps`` steps, for ``--rounds`` rounds, and the times are summed over
  the rounds: a machine that slows down for a while slows every version alike (whole-epoch repeats on
  this 2-core virtual machine spread by 10-60 %). Each round starts from the initial weights and batches.
  B4 has its own, layer by layer: ``python -m benchmarks.b4_phases``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

from .common import load_data
from .report import VERSION_NAMES, parse_versions, text_table
from .workloads import WORKLOADS, torch_available

FRAMEWORK_PARTS = ("batch", "forward", "loss", "backward", "optimizer")
FLOOR_PARTS = ("batch+forward+loss+backward", "optimizer")


def framework_steps(trainer, steps: int, totals: dict) -> None:
    """Run ``steps`` steps of an autograd version, adding each part's seconds to ``totals``."""
    model, opt, clock = trainer.model, trainer.opt, time.perf_counter
    batches = iter(trainer.batches(steps))
    for _ in range(steps):
        start = clock()
        inputs, target = next(batches)
        batched = clock()
        output = model(inputs)
        forward = clock()
        loss = trainer.criterion(output, target)
        lossed = clock()
        opt.zero_grad()
        loss.backward()
        backward = clock()
        opt.step()
        stepped = clock()
        for part, seconds in zip(FRAMEWORK_PARTS, (batched - start, forward - batched, lossed - forward,
                                                   backward - lossed, stepped - backward)):
            totals[part] = totals.get(part, 0.0) + seconds


def floor_steps(trainer, steps: int, totals: dict) -> None:
    """Run ``steps`` steps of the NumPy floor, adding the gradient and update seconds to ``totals``."""
    import numpy as np

    clock = time.perf_counter
    with np.errstate(over="ignore"):  # B2's sigmoid: e^-z overflows to inf, giving the right 0
        for arguments in trainer.step_arguments(steps):
            start = clock()
            trainer._gradients(*arguments)
            middle = clock()
            trainer._update()
            end = clock()
            for part, seconds in zip(FLOOR_PARTS, (middle - start, end - middle)):
                totals[part] = totals.get(part, 0.0) + seconds


def measure(workload: str, versions, data, steps: int, rounds: int) -> dict:
    """{version: {part: milliseconds per step}}, the versions taking turns every ``steps`` steps."""
    wl = WORKLOADS[workload]
    trainers = {v: wl.trainer_class(v)(wl.spec, data) for v in versions}
    for trainer in trainers.values():  # warm-up: first calls, caches, thread pools
        trainer.train(min(steps, 20))
    totals = {v: {} for v in versions}
    for _ in range(rounds):
        for version, trainer in trainers.items():
            trainer.reset()
            gc.collect()
            (floor_steps if version == "numpy" else framework_steps)(trainer, steps, totals[version])
    return {v: {part: 1e3 * seconds / (steps * rounds) for part, seconds in parts.items()}
            for v, parts in totals.items()}


def table(results: dict) -> str:
    """One row per part and a total per version, then tinygrad_edu's total against the others'."""
    lines = []
    for version, parts in results.items():
        for part, ms in parts.items():
            lines.append((VERSION_NAMES[version], part, f"{ms:.3f}"))
        lines.append((VERSION_NAMES[version], "whole step", f"{sum(parts.values()):.3f}"))
    totals = {v: sum(parts.values()) for v, parts in results.items()}
    if "tinygrad" in totals:
        for other in ("numpy", "torch"):
            if other in totals:
                lines.append(("tinygrad_edu / " + VERSION_NAMES[other], "whole step",
                              f"{totals['tinygrad'] / totals[other]:.2f}x"))
    return text_table(["version", "part", "ms per step"], lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phases", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="B1", choices=("B1", "B2", "B3"))
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per turn (default: 100 for B1, 500 for B2, 10 for B3)")
    parser.add_argument("--rounds", type=int, default=6, help="turns per version (default 6)")
    parser.add_argument("--versions", default="numpy,tinygrad,torch")
    args = parser.parse_args(argv)
    versions = parse_versions(parser, args.versions, VERSION_NAMES, "phases")
    steps = args.steps or {"B1": 100, "B2": 500, "B3": 10}[args.workload]
    if steps < 1 or args.rounds < 1:
        parser.exit(2, f"phases: --steps and --rounds must be at least 1, got {steps} and {args.rounds}\n")
    if "torch" in versions:
        if not torch_available():
            print("phases: torch does not import; skipping the PyTorch rows", file=sys.stderr)
            versions.remove("torch")
        else:
            import torch

            from .sysinfo import numpy_blas_threads

            torch.set_num_threads(numpy_blas_threads())
    print(f"  timing {', '.join(versions)} on {args.workload} ...", file=sys.stderr, flush=True)
    results = measure(args.workload, versions, load_data(), steps, args.rounds)
    print(f"{args.workload} step by part: {args.rounds} turns of {steps} steps per version, mean ms per step")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
