"""Run the benchmarks side by side and report: ``python -m benchmarks.run`` (what ``make bench`` does).

For each workload (B1, B2, B3, B4) every version -- the hand-written NumPy floor, tinygrad_edu, PyTorch eager
when ``torch`` imports -- first runs a few warm-up steps; then the versions take turns (numpy, tinygrad,
torch, numpy, tinygrad, torch, ...) for ``--repeats`` rounds, each repeat starting again from the same
initial weights and batch order, and the medians are reported. Interleaving spreads slow drifts of a
shared machine over all versions instead of loading them onto one. Then the peak memory of a B1 epoch and
of a few B4 steps (NumPy floor and tinygrad_edu, each in a fresh process) and the per-op overhead table.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: some machines set these so that old OpenBLAS builds pick a safe
kernel; they slow a current NumPy's. A full run therefore re-runs itself in a subprocess with both unset
(and records which kernel OpenBLAS then picked, via threadpoolctl). ``--quick``, the CI smoke run, leaves
the environment as it is (``--openblas-env`` overrides either choice).

Options: ``--quick`` (a few steps each: checks that everything runs; figures mean nothing),
``--workloads B1,B3`` (default: all four), ``--repeats N``, ``--no-memory``, ``--no-ops``, ``--output PATH``/``--no-write``
(a full run writes benchmarks/RESULTS.md; a quick run writes only where ``--output`` says),
``--threads N`` (BLAS threads; on a busy machine one thread
is far steadier than two), ``--note TEXT`` (a line for RESULTS.md, e.g. that the machine was busy), ``--json PATH`` (every repeat's time).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import memory, ops_overhead, report, results_md, sysinfo
from .common import load_data
from .workloads import MEMORY_WORKLOADS, VERSIONS, WORKLOADS, torch_available

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
CHILD_MARK = "TINYGRAD_EDU_BENCH_OPENBLAS_BEFORE"   # set in the re-run child: the values the parent saw
QUICK_STEPS = {"B1": 4, "B2": 20, "B3": 2, "B4": 2}
WARMUP_STEPS = {"B1": 20, "B2": 300, "B3": 1, "B4": 2}
QUICK_WARMUP_STEPS = {"B1": 1, "B2": 5, "B3": 1, "B4": 1}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description="tinygrad_edu against hand-written NumPy and PyTorch, side by side.")
    parser.add_argument("--quick", action="store_true", help="a few steps per workload (smoke run; no real figures)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per version (default 3; quick 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS (and torch) to this many threads (default: as the BLAS starts)")
    parser.add_argument("--no-memory", action="store_true", help="skip the B1 and B4 peak-memory probes")
    parser.add_argument("--no-ops", action="store_true", help="skip the per-op overhead table")
    parser.add_argument("--output", type=Path, default=None, help="where to write the Markdown report")
    parser.add_argument("--no-write", action="store_true", help="print only, write no report")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures (every repeat) as JSON")
    parser.add_argument("--note", default="", help="a line added to the report (e.g. 'noisy: shared machine')")
    parser.add_argument("--openblas-env", choices=("auto", "unset", "keep"), default="auto",
                        help="auto: unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for full runs, keep them for --quick")
    args = parser.parse_args(argv)
    keys = [k.strip().upper() for k in args.workloads.split(",") if k.strip()]
    unknown = [k for k in keys if k not in WORKLOADS]
    if not keys or unknown:
        parser.exit(2, f"python -m benchmarks.run: unknown workload(s) {unknown or args.workloads!r}; "
                       f"choose from {','.join(WORKLOADS)}\n")
    if args.threads is not None and args.threads < 1:
        parser.exit(2, f"python -m benchmarks.run: --threads must be at least 1, got {args.threads}\n")
    if args.repeats is not None and args.repeats < 1:
        parser.exit(2, f"python -m benchmarks.run: --repeats must be at least 1, got {args.repeats}\n")
    args.workloads = keys
    args.repeats = args.repeats or (2 if args.quick else 3)
    return args


def rerun_without_openblas_vars(args, argv) -> int | None:
    """Re-run this command in a child without the two variables; None when there is nothing to do."""
    present = {k: os.environ[k] for k in sysinfo.OPENBLAS_VARS if k in os.environ}
    unset = args.openblas_env == "unset" or (args.openblas_env == "auto" and not args.quick)
    if not present or not unset or CHILD_MARK in os.environ:
        return None
    env = {k: v for k, v in os.environ.items() if k not in sysinfo.OPENBLAS_VARS}
    env[CHILD_MARK] = json.dumps(present)
    print(f"benchmarks: re-running with {' and '.join(present)} unset (were {present})", file=sys.stderr, flush=True)
    return subprocess.run([sys.executable, "-m", "benchmarks.run", *argv], env=env, check=False).returncode


def report_path(args) -> Path | None:
    """Where the Markdown report goes: --output, else RESULTS.md for a full run; nowhere for --quick or --no-write."""
    if args.no_write:
        return None
    return args.output or (None if args.quick else RESULTS)


def time_workload(key: str, data, versions, repeats: int, quick: bool) -> report.WorkloadResult:
    """Warm up each version, then time them interleaved; each repeat restarts from the initial state."""
    wl = WORKLOADS[key]
    steps = QUICK_STEPS[key] if quick else wl.spec.steps
    trainers = {v: wl.trainer_class(v)(wl.spec, data) for v in versions}
    for trainer in trainers.values():
        trainer.train((QUICK_WARMUP_STEPS if quick else WARMUP_STEPS)[key])
    times = {v: [] for v in versions}
    for r in range(repeats):
        for version, trainer in trainers.items():
            trainer.reset()
            gc.collect()   # the previous version's garbage is not this one's to collect
            start = time.perf_counter()
            trainer.train(steps)
            times[version].append(time.perf_counter() - start)
            print(f"  {key} repeat {r + 1}/{repeats} {version:<8} {times[version][-1]:9.4f} s", file=sys.stderr,
                  flush=True)
    return report.WorkloadResult(wl.spec, steps, len(data.x_train), times,
                                 accuracy={v: t.test_accuracy() for v, t in trainers.items()},
                                 loss={v: float(t.loss) for v, t in trainers.items()})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    code = rerun_without_openblas_vars(args, argv)
    if code is not None:
        return code
    before = json.loads(os.environ[CHILD_MARK]) if CHILD_MARK in os.environ else None
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads)   # stays in force for the rest of this process
    versions = [v for v in VERSIONS if v != "torch" or torch_available()]
    if "torch" in versions:
        import torch

        torch.set_num_threads(sysinfo.numpy_blas_threads())   # the same number of threads as NumPy's BLAS
    data = load_data()
    print(f"benchmarks: {'quick smoke run, ' if args.quick else ''}versions {', '.join(versions)}; "
          f"{args.repeats} interleaved repeats after a warm-up", file=sys.stderr, flush=True)

    results = [time_workload(key, data, versions, args.repeats, args.quick) for key in args.workloads]
    mem = {}
    for key, steps in MEMORY_WORKLOADS.items():
        if key in args.workloads and not args.no_memory:
            print(f"  {key} peak memory: one process per version ...", file=sys.stderr, flush=True)
            mem[key] = memory.measure(key, ("numpy", "tinygrad"), QUICK_STEPS[key] if args.quick else steps)
    ops = None
    if not args.no_ops:
        print("  per-op overhead ...", file=sys.stderr, flush=True)
        ops = ops_overhead.measure(args.quick)
    info = sysinfo.collect(before)
    info["load_average_at_start"] = load_at_start

    print(console_report(results, mem, ops, info, args))
    output = report_path(args)
    if output is not None:
        Path(output).write_text(results_md.render(results, mem, ops, info, args))
        print(f"\nwrote {output}")
    if args.json is not None:
        raw = {"info": info, "quick": args.quick, "memory": mem, "ops": ops,
               "workloads": {r.spec.key: {"steps": r.steps, "times": r.times, "accuracy": r.accuracy, "loss": r.loss}
                             for r in results}}
        args.json.write_text(json.dumps(raw, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


def console_report(results, mem, ops, info, args) -> str:
    parts = []
    if args.quick:
        parts.append("QUICK SMOKE RUN: a few steps each; the figures below say nothing about performance.")
    for r in results:
        parts.append(f"\n{r.spec.key}: {r.spec.title}  ({r.steps} steps per repeat, median of {args.repeats})")
        parts.append(report.text_table(report.DETAIL_HEADER, report.detail_rows(r)))
    parts.append("\nSummary")
    parts.append(report.text_table(report.SUMMARY_HEADER, report.summary_rows(results)))
    for key, probes in (mem or {}).items():
        parts.append(f"\n{key} memory ({report.memory_title(key, probes)})")
        parts.append(report.text_table(report.MEMORY_HEADER, report.memory_rows(probes)))
    if ops:
        parts.append("\nPer-op forward+backward (microseconds, median)")
        parts.append(report.text_table(report.OPS_HEADER, report.ops_rows(ops)))
    blas = "; ".join(" ".join(str(p[k]) for k in ("internal_api", "version", "architecture") if p.get(k))
                     + f" x{p.get('num_threads', '?')}" for p in info["blas"])
    parts.append(f"\n{info['date']}  {info['cpu']} ({info['cores']} cores)  Python {info['python']}  "
                 f"NumPy {info['numpy']}  torch {info.get('torch', 'not installed')}  git {info['git']}")
    parts.append(f"thread pools: {blas}; OPENBLAS_* before: {results_md._env(info['openblas_env_before'])}, "
                 f"in run: {results_md._env(info['openblas_env_in_run'])}; "
                 f"load average at start {results_md._num(info['load_average_at_start'])}")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
