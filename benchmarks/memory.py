"""Peak memory of a training run and its growth across steps, each version in a fresh process.

A fresh interpreter per measurement keeps one version's garbage and allocator state out of another's
figure. ``tracemalloc`` sees every NumPy array buffer (NumPy reports its allocations to it) and every
Python object, so its peak is what the run itself allocated: the data set is loaded before tracing
starts and is not counted; the model, the optimizer state, the batches, the activations and the graph
are. (PyTorch's allocations are invisible to it, so only the NumPy floor and tinygrad_edu are compared.)

Growth: traced memory after step ``k0`` (past the first steps, which create optimizer state and warm
caches) against after the last step. A framework that keeps anything per step grows linearly.

Run one probe by hand:  python -m benchmarks.memory --workload B1 --version tinygrad --steps 50
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tracemalloc

from .common import load_data
from .workloads import WORKLOADS


def probe(workload: str, version: str, steps: int | None) -> dict:
    """Train ``steps`` steps (the whole workload when None) under tracemalloc; sizes in bytes."""
    wl = WORKLOADS[workload]
    data = load_data()
    total = wl.spec.steps if steps is None else min(steps, wl.spec.steps)
    k0 = min(10, max(total // 2 - 1, 0))
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    trainer = wl.trainer_class(version)(wl.spec, data)
    at = {}

    def on_step(i):
        if i == k0 or i == total - 1:
            gc.collect()  # free lists and unreachable garbage are not growth; what survives a collection is
            at[i] = tracemalloc.get_traced_memory()[0]

    trainer.train(total, on_step)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "workload": workload, "version": version, "steps": total, "k0": k0,
        "peak": peak - base,
        "at_k0": at[k0] - base, "at_end": at[total - 1] - base,
        "growth": at[total - 1] - at[k0],
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,   # KiB on Linux
    }


def measure(workload: str, versions, steps: int | None, env=None) -> dict:
    """``probe`` for each version, each in its own ``python -m benchmarks.memory`` subprocess."""
    results = {}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for version in versions:
        cmd = [sys.executable, "-m", "benchmarks.memory", "--workload", workload, "--version", version]
        if steps is not None:
            cmd += ["--steps", str(steps)]
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory probe {workload}/{version} failed (exit {done.returncode}):\n{done.stderr}")
        results[version] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="B1", choices=sorted(WORKLOADS))
    parser.add_argument("--version", default="tinygrad", choices=("numpy", "tinygrad", "torch"))
    parser.add_argument("--steps", type=int, default=None, help="steps to run (default: the whole workload)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        print("python -m benchmarks.memory: --steps must be at least 1", file=sys.stderr)
        return 2
    print(json.dumps(probe(args.workload, args.version, args.steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
