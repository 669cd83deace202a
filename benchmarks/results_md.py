"""benchmarks/RESULTS.md: the tables of one run, the machine they were measured on, and how."""

from __future__ import annotations

import statistics

from . import report
from .workloads import WORKLOADS

NOISY_LOAD = 0.5   # a 1-minute load average above this at the start means other work shared the CPUs


def _machine(info: dict) -> list[str]:
    lines = [f"- CPU: {info['cpu']}, {info['cores']} cores; {info['platform']}",
             (f"- Python {info['python']}, NumPy {info['numpy']}, PyTorch {info.get('torch', 'not installed')}; "
              f"tinygrad_edu at git {info['git']}")]
    for pool in info["blas"]:
        if "note" in pool:
            lines.append(f"- {pool['note']}")
            continue
        kernel = f", kernel {pool['architecture']}" if pool.get("architecture") else ""
        layer = f", {pool['threading_layer']}" if pool.get("threading_layer") else ""
        version = f" {pool['version']}" if pool.get("version") else ""
        lines.append(f"- thread pool ({pool.get('user_api')}): {pool.get('internal_api')}{version}"
                     f"{kernel}{layer}, {pool.get('num_threads')} threads ({pool.get('file')})")
    lines.append(f"- NumPy BLAS threads {info['numpy_blas_threads']}"
                 + (f"; torch.set_num_threads({info['torch_threads']}), torch BLAS {info['torch_blas']}"
                    if "torch_threads" in info else ""))
    lines.append(f"- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the calling environment: "
                 f"{_env(info['openblas_env_before'])}; in the measuring process: {_env(info['openblas_env_in_run'])}")
    start, end = info.get("load_average_at_start"), info.get("load_average", [None])[0]
    lines.append(f"- 1-minute load average at start {_num(start)}, at the end {_num(end)}")
    return lines


def _env(values: dict) -> str:
    return ", ".join(f"{k}={v}" if v is not None else f"{k} not set" for k, v in values.items())


def _num(value) -> str:
    return "?" if value is None else f"{value:.2f}"


METHOD = """\
- Each workload has three versions computing the same thing: a hand-written NumPy forward/backward/update
  (the floor: no autograd, float32 throughout, every array preallocated and written with `out=`), tinygrad_edu
  through its public API (`nn`, `F`, `optim`, `data.DataLoader`), and PyTorch eager. All three start from the
  same initial weights (drawn once with a seed and copied into each) and see the same batches in the same order.
  They agree to float32 rounding after a few steps (tests/test_benchmarks_smoke.py checks parameters and loss);
  over thousands of steps rounding differences grow, so `last loss` (one batch's loss) drifts apart, B2's lr-3.0
  SGD most, while test accuracy stays within a few tenths of a percent.
- A warm-up of a few steps per version, then interleaved repeats (NumPy, tinygrad_edu, PyTorch, NumPy, ...), each
  repeat restarting from the initial weights; the table gives medians, and `spread` = (max - min) / median of the
  repeats, the run's own noise figure. The targets are judged on the ratio of medians; below each table, the ratio
  of the two repeats of each round (run back to back, so a machine slowed for a while slows both) shows how much of
  it is noise. `torch.set_num_threads` equals NumPy's BLAS thread count.
- GFLOP/s counts 6 * samples * multiply-adds per example (forward, input gradient, weight gradient): sum(in*out) for
  the MLPs, 192.6 GFLOP per B1 epoch; B4's CNN does 4 241 152 multiply-adds per image, 3.26 GFLOP per step.
- B4 (the CNN step) times its first 40 steps; its NumPy floor is NHWC with im2col GEMMs, col2im by strided adds,
  batch norm and max-pool written out (benchmarks/b4_cnn.py derives every gradient). Dropout uses the same masks
  in all three versions. Its test accuracy is on the first 1 000 test images (after only 40 steps it says little),
  and `python -m benchmarks.b4_phases` splits a step into forward / backward / optimizer and layer by layer
  (`python -m benchmarks.phases --workload B1` does the same by phase for B1, B2 and B3), and
  `python -m benchmarks.instructions --workload B1` counts the instructions of a step under valgrind's callgrind
  (deterministic where timings are not), split into BLAS, NumPy's loops, the Python interpreter and libc.
- The NumPy floors take the cheapest hand-written route, which is the point of a floor: the plain 1 / (1 + e^-z)
  sigmoid (B2); lr (and 1/B) folded into the output gradient so each SGD update is one subtraction (B2, B3); Adam's
  bias corrections folded into two scalars (B1), 12 in-place NumPy calls per parameter array and step; weights
  stored (in, out) so that each weight gradient is a_in^T @ dz, the orientation OpenBLAS runs fastest and steadiest.
- Memory: `tracemalloc` peak of a B1 epoch (and of 6 B4 steps) above the loaded data set, each version in a fresh
  process; growth is the traced memory after an early step (once optimizer state exists) against after the last step.
- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, set on some of these machines so that older OpenBLAS builds run safely,
  slow a current NumPy: a full run re-runs itself in a subprocess with both unset and records the kernel OpenBLAS
  then picked (above). Tests and CI leave them as they are.
- Timings on a shared 2-core machine vary by 5-10% between runs; compare ratios measured in the same run. When other
  work holds a core, two-thread BLAS calls slow down erratically (5-20x in the median for some shapes): such a run
  says little, and `--threads 1` gives steadier, if not peak, figures."""


def render(results, mem, ops, info, args) -> str:
    out = ["# Benchmark results", "",
           f"Measured by `{' '.join(['python -m benchmarks.run', *_argv(args)])}` on {info['date']}."]
    if args.quick:
        out.append("\n**Quick smoke run: a few steps per workload. These figures say nothing about performance.**")
    if args.note:
        out.append(f"\n**Note: {args.note}**")
    load = info.get("load_average_at_start")
    if load is not None and load > NOISY_LOAD:
        out.append(f"\n**The 1-minute load average was {load:.2f} when this run started: other work shared the "
                   f"{info['cores']} cores, so these figures are noisy.**")
    out += ["", "## Summary", "", f"Median of {args.repeats} interleaved repeats.", "",
            report.markdown_table(report.SUMMARY_HEADER, report.summary_rows(results))]
    for r in results:
        out += ["", f"## {r.spec.key}: {r.spec.title}", "",
                f"{r.steps} steps per repeat; median time in {report.time_unit(r.spec)}.",
                "", report.markdown_table(report.DETAIL_HEADER, report.detail_rows(r))]
        rounds = r.round_ratios("tinygrad", "numpy")
        if len(rounds) > 1:
            out += ["", (f"tinygrad_edu / NumPy (floor) in each round (the two repeats back to back): "
                         f"{min(rounds):.2f}x to {max(rounds):.2f}x, median {statistics.median(rounds):.2f}x.")]
    for key, probes in (mem or {}).items():
        heading = "one B1 epoch" if key == "B1" else f"{key} steps"
        out += ["", f"## Memory: {heading}", "", f"Measured: {report.memory_title(key, probes)}.", "",
                report.markdown_table(report.MEMORY_HEADER, report.memory_rows(probes))]
    if ops:
        out += ["", "## Per-op overhead", "",
                ("Forward + backward of one primitive, microseconds (median): tinygrad_edu (`z = op(x); "
                 "z.backward(g)`) against the NumPy calls a hand-written forward and backward need. 1-element and "
                 "128x512 inputs; matmul is (1,1)@(1,1) and (128,512)@(512,256)."), "",
                report.markdown_table(report.OPS_HEADER, report.ops_rows(ops))]
    out += ["", "## Every repeat", "", "Seconds per repeat, in the order they ran (interleaved across versions).", ""]
    for r in results:
        for version, times in r.times.items():
            out.append(f"- {r.spec.key} {report.VERSION_NAMES[version]}: " + ", ".join(f"{t:.4f}" for t in times))
    out += ["", "## Machine", "", *_machine(info), "", "## Method", "", METHOD, ""]
    return "\n".join(out)


def _argv(args) -> list[str]:
    parts = []
    if args.quick:
        parts.append("--quick")
    if args.workloads != list(WORKLOADS):
        parts.append("--workloads " + ",".join(args.workloads))
    if args.repeats != (2 if args.quick else 3):
        parts.append(f"--repeats {args.repeats}")
    if args.threads is not None:
        parts.append(f"--threads {args.threads}")
    return parts
