"""Turn measured times into the reported figures, as a terminal table and as RESULTS.md.

Per workload and version: the median time per reporting unit (s/epoch for B1, us/step for B2, s/step for
B3, ms/step for B4), the spread of the repeats ((max - min) / median, the noise), samples/s, achieved GFLOP/s
(6 * samples * multiply-adds per example / seconds), test accuracy and the last step's loss (equal across versions when
they compute the same thing); then tinygrad_edu / NumPy and tinygrad_edu / PyTorch against the targets.

>>> from benchmarks.common import Spec
>>> spec = Spec("B9", "demo", (4, 2), "relu", "torch_default", 0.1, 2, 3, "step")
>>> r = WorkloadResult(spec, steps=3, n_train=6, times={"numpy": [0.3, 0.33, 0.27], "tinygrad": [0.6, 0.6, 0.6]},
...                    accuracy={}, loss={})
>>> round(r.per_unit("numpy"), 6), r.samples_per_second("tinygrad"), r.ratio("tinygrad", "numpy")
(0.1, 10.0, 2.0)
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .common import Spec

# The targets: tinygrad_edu / reference at most this, per workload.
TARGETS = {
    "B1": {"numpy": 1.05, "torch": 1.00},     # torch: the stretch goal
    "B2": {"numpy": 2.5, "torch": 0.5},
    "B3": {"numpy": 1.05},
    "B4": {"numpy": 1.15, "torch": 2.0},
}
MEMORY_TARGETS = {"B1": 1.2, "B4": 1.5}   # tinygrad_edu's traced peak / the NumPy floor's, at most
MEMORY_TARGET = MEMORY_TARGETS["B1"]
VERSION_NAMES = {"numpy": "NumPy (floor)", "tinygrad": "tinygrad_edu", "torch": "PyTorch eager"}


@dataclass
class WorkloadResult:
    spec: Spec
    steps: int                       # steps timed per repeat (all of the workload's unless --quick)
    n_train: int
    times: dict                      # version -> seconds of each repeat
    accuracy: dict                   # version -> test accuracy after the last repeat
    loss: dict                       # version -> loss of the last step
    extra: dict = field(default_factory=dict)

    def median(self, version: str) -> float:
        return statistics.median(self.times[version])

    def per_unit(self, version: str) -> float:
        """Median seconds per epoch (per="epoch", scaled from the steps run) or per step."""
        per_step = self.median(version) / self.steps
        return per_step * self.spec.steps if self.spec.per == "epoch" else per_step

    def spread(self, version: str) -> float:
        t = self.times[version]
        return (max(t) - min(t)) / self.median(version)

    def samples(self) -> int:
        """Examples processed per repeat: the short last batch of an epoch counts as what it holds."""
        if self.spec.batch_size is None:
            return self.steps * self.n_train
        return min(self.steps * self.spec.batch_size, self.n_train)

    def samples_per_second(self, version: str) -> float:
        return self.samples() / self.median(version)

    def gflops(self, version: str) -> float:
        return self.spec.gflop(self.samples()) / self.median(version)

    def ratio(self, version: str, reference: str) -> float | None:
        if version not in self.times or reference not in self.times:
            return None
        return self.median(version) / self.median(reference)

    def round_ratios(self, version: str, reference: str) -> list[float]:
        """``version``'s time over ``reference``'s in each round: the two repeats ran back to back, so a
        machine that slowed down for a while slows both (the ratio of medians can pair a slow repeat of
        one with a fast repeat of the other)."""
        if version not in self.times or reference not in self.times:
            return []
        return [t / r for t, r in zip(self.times[version], self.times[reference])]


def time_unit(spec: Spec) -> str:
    """The spec's own unit if it names one (B4: ms/step); else s/epoch for an epoch workload, us/step for
    mini-batch steps, s/step for full-batch steps."""
    if spec.unit is not None:
        return spec.unit
    if spec.per == "epoch":
        return "s/epoch"
    return "us/step" if spec.batch_size is not None else "s/step"


def format_time(spec: Spec, seconds: float) -> str:
    unit = time_unit(spec)
    if unit == "us/step":
        return f"{seconds * 1e6:.1f} us/step"
    if unit == "ms/step":
        return f"{seconds * 1e3:.1f} ms/step"
    return f"{seconds:.3f} {unit}" if unit == "s/epoch" else f"{seconds:.4f} {unit}"


def _ratio_cell(result: WorkloadResult, reference: str) -> str:
    ratio = result.ratio("tinygrad", reference)
    if ratio is None:
        return "n/a"
    target = TARGETS.get(result.spec.key, {}).get(reference)
    if target is None:
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x (target <= {target:.2f}x: {'met' if ratio <= target else 'missed'})"


def summary_rows(results: list[WorkloadResult]) -> list[list[str]]:
    rows = []
    for r in results:
        cells = [r.spec.key]
        for version in ("numpy", "tinygrad", "torch"):
            cells.append(format_time(r.spec, r.per_unit(version)) if version in r.times else "n/a")
        cells += [_ratio_cell(r, "numpy"), _ratio_cell(r, "torch")]
        rows.append(cells)
    return rows


SUMMARY_HEADER = ["workload", "NumPy (floor)", "tinygrad_edu", "PyTorch eager", "tinygrad/NumPy", "tinygrad/PyTorch"]
DETAIL_HEADER = ["version", "median", "spread", "samples/s", "GFLOP/s", "test acc", "last loss"]


def detail_rows(r: WorkloadResult) -> list[list[str]]:
    rows = []
    for version in r.times:
        rows.append([VERSION_NAMES[version], format_time(r.spec, r.per_unit(version)), f"{r.spread(version):.1%}",
                     f"{r.samples_per_second(version):,.0f}", f"{r.gflops(version):.1f}",
                     f"{r.accuracy[version]:.2%}", f"{r.loss[version]:.5f}"])
    return rows


def memory_rows(memory: dict) -> list[list[str]]:
    """One workload's probes (version -> probe result) as table rows."""
    rows = []
    for version, m in memory.items():
        ratio = m["peak"] / memory["numpy"]["peak"] if "numpy" in memory else float("nan")
        rows.append([VERSION_NAMES[version], f"{m['steps']}", f"{m['peak'] / 2**20:.1f} MiB", f"{ratio:.2f}x",
                     f"{m['growth'] / 1024:+.1f} KiB (steps {m['k0'] + 1}->{m['steps']})",
                     f"{m['max_rss'] / 2**20:.0f} MiB"])
    return rows


MEMORY_HEADER = ["version", "steps", "traced peak", "vs NumPy", "traced growth", "max RSS (with data)"]


def memory_title(workload: str, memory: dict) -> str:
    """What a workload's memory table measured, and its target."""
    steps = next(iter(memory.values()))["steps"]
    what = "one B1 epoch" if workload == "B1" and steps >= 469 else f"{steps} {workload} steps"
    ratio = memory["tinygrad"]["peak"] / memory["numpy"]["peak"] if {"numpy", "tinygrad"} <= set(memory) else None
    verdict = "" if ratio is None else f": {ratio:.2f}x, {'met' if ratio <= MEMORY_TARGETS[workload] else 'missed'}"
    return (f"{what}; target tinygrad_edu's traced peak <= {MEMORY_TARGETS[workload]}x the NumPy floor's"
            f"{verdict}, no growth")


OPS_HEADER = ["op", "size", "NumPy us", "tinygrad us", "overhead us", "ratio"]


def ops_rows(rows: list[dict]) -> list[list[str]]:
    return [[r["op"], r["size"], f"{r['numpy_us']:.2f}", f"{r['tinygrad_us']:.2f}", f"{r['overhead_us']:.2f}",
             f"{r['ratio']:.1f}x"] for r in rows]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, for the terminal."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def parse_versions(parser, text: str, known, prog: str) -> list[str]:
    """The comma-separated ``--versions`` as a list; an unknown or empty one exits 2 with one line."""
    versions = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in versions if v not in known]
    if unknown or not versions:
        parser.exit(2, f"{prog}: unknown version(s) {unknown}; choose from {','.join(known)}\n")
    return versions


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
