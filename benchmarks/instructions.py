"""Instructions per training step, counted by valgrind's callgrind, split by where they run.

    python -m benchmarks.instructions [--workload B1] [--steps 10] [--versions numpy,tinygrad]

Timings on a shared 2-core virtual machine spread by 10-60 %; the number of instructions a step executes
does not. Each version runs under ``valgrind --tool=callgrind`` twice in a fresh process, for ``steps``
and for ``2 * steps`` training steps; everything else (interpreter start, imports, loading MNIST, building
the model, the first steps' allocations) is the same in both runs, so the difference divided by ``steps``
is what one step in the steady state executes. BLAS runs one thread (``OPENBLAS_NUM_THREADS=1``), so the
count does not depend on how threads meet.

Each instruction is charged to the shared object whose code executed it (callgrind's self cost), grouped:

- ``BLAS``: OpenBLAS, the matrix products; the same products cost the same in every version.
- ``NumPy loops``: NumPy's C code: elementwise and reduction loops, copies, array creation, dispatch.
- ``Python``: the interpreter running Python code (the framework's bookkeeping, the trainer's loop).
- ``C library``: libc and the loader: ``memcpy``/``memset`` and ``malloc``/``free``.
- ``other``: everything else (e.g. torch's own libraries, when it is measured).

Instructions are not time: a BLAS instruction does 16 multiply-adds, an interpreter instruction none;
a cache miss costs no instruction. What the count shows deterministically is work one version does that
another does not. valgrind must be installed (``apt install valgrind``); the count takes minutes (each
run executes ~50x slower than natively).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from .report import VERSION_NAMES, parse_versions, text_table

GROUPS = ("BLAS", "NumPy loops", "Python", "C library", "other")
DEFAULT_STEPS = {"B1": 10, "B2": 200, "B3": 2, "B4": 2}


def group_of(shared_object: str) -> str:
    """The group of ``GROUPS`` that a shared object's path belongs to."""
    name = os.path.basename(shared_object)
    if "blas" in name.lower():
        return "BLAS"
    if "numpy" in shared_object or name.startswith(("_multiarray", "_umath")):
        return "NumPy loops"
    if name.startswith(("python", "libpython")) or ".cpython-" in name:
        return "Python"
    if name.startswith(("libc.so", "libc-", "ld-linux", "libm.", "libm-")):
        return "C library"
    return "other"


def self_cost_by_object(path: str) -> dict:
    """{shared object: instructions executed in its own code} from a callgrind output file.

    The format (valgrind's docs, "Callgrind Format Specification"): ``ob=`` names the object of the
    functions that follow, cost lines are ``position events...``, and the cost line right after a
    ``calls=`` line is the inclusive cost of that call, already counted in the callee, so it is skipped.
    Names may be compressed: ``ob=(3) /path`` or ``cob=(3) /path`` defines id 3, a later ``ob=(3)`` refers
    to it.
    """
    names, costs, current, after_call = {}, {}, "?", False
    compressed = re.compile(r"\((\d+)\)\s*(.*)")
    with open(path) as lines:
        for line in lines:
            if line.startswith(("ob=", "cob=")):  # a called function's object (cob=) may define an id first
                key, _, value = line.strip().partition("=")
                match = compressed.match(value)
                if match and match.group(2):
                    names[match.group(1)] = match.group(2)
                if key == "ob":
                    current = names.get(match.group(1), "?") if match else value
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                fields = line.split()
                if len(fields) >= 2:
                    costs[current] = costs.get(current, 0) + int(fields[1])
    return costs


def grouped(costs: dict) -> dict:
    """Self costs summed into ``GROUPS``."""
    totals = dict.fromkeys(GROUPS, 0)
    for shared_object, instructions in costs.items():
        totals[group_of(shared_object)] += instructions
    return totals


def count(workload: str, version: str, steps: int) -> dict:
    """{group: instructions} of running ``steps`` steps of one version under callgrind, in a fresh process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no",
                   sys.executable, "-m", "benchmarks.instructions", "--run", workload, version, str(steps)]
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"callgrind run failed ({' '.join(command)}):\n{done.stderr[-2000:]}")
        return grouped(self_cost_by_object(out))


def per_step(workload: str, version: str, steps: int) -> dict:
    """{group: instructions per step}: (count of 2*steps - count of steps) / steps."""
    once, twice = count(workload, version, steps), count(workload, version, 2 * steps)
    return {group: (twice[group] - once[group]) / steps for group in GROUPS}


def run_steps(workload: str, version: str, steps: int) -> None:
    """The measured process: build the version's trainer on MNIST and train ``steps`` steps."""
    import numpy as np

    from .common import load_data
    from .workloads import WORKLOADS

    wl = WORKLOADS[workload]
    trainer = wl.trainer_class(version)(wl.spec, load_data())
    with np.errstate(over="ignore"):  # B2's sigmoid floor: e^-z overflows to inf, giving the right 0
        trainer.train(steps)


def table(workload: str, results: dict) -> str:
    """Millions of instructions per step, by group, per version, and each version's total against the floor's."""
    header = ["group"] + [VERSION_NAMES[v] for v in results]
    rows = [[group] + [f"{results[v][group] / 1e6:.2f}" for v in results] for group in GROUPS]
    totals = {v: sum(parts.values()) for v, parts in results.items()}
    rows.append(["total"] + [f"{totals[v] / 1e6:.2f}" for v in results])
    if "numpy" in totals:
        rows.append(["total / floor"] + [f"{totals[v] / totals['numpy']:.3f}x" for v in results])
    return (f"{workload}: millions of instructions per step (callgrind, self cost by shared object)\n"
            + text_table(header, rows))


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--run"]:
        workload, version, steps = argv[1:4]
        run_steps(workload, version, int(steps))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="B1", choices=("B1", "B2", "B3", "B4"))
    parser.add_argument("--steps", type=int, default=None, help="steps of the shorter run (default: "
                        + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")")
    parser.add_argument("--versions", default="numpy,tinygrad")
    args = parser.parse_args(argv)
    versions = parse_versions(parser, args.versions, VERSION_NAMES, "instructions")
    steps = args.steps or DEFAULT_STEPS[args.workload]
    if steps < 1:
        parser.exit(2, f"instructions: --steps must be at least 1, got {steps}\n")
    if shutil.which("valgrind") is None:
        parser.exit(2, "instructions: valgrind is not installed (it counts the instructions); "
                       "install it, e.g. apt install valgrind\n")
    results = {}
    for version in versions:
        print(f"  counting {version} on {args.workload}: {steps} and {2 * steps} steps under callgrind ...",
              file=sys.stderr, flush=True)
        try:
            results[version] = per_step(args.workload, version, steps)
        except RuntimeError as error:
            print(f"instructions: {error}", file=sys.stderr)
            return 1
    print(table(args.workload, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
