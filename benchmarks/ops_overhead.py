"""Per-op overhead: forward + backward of each primitive, tinygrad_edu against the raw NumPy calls.

For each primitive and two sizes, a 1-element tensor (where the time is all call overhead) and a
128 x 512 tensor (B1's hidden-layer size, where the arithmetic starts to count), this times

- tinygrad_edu: ``z = op(x); z.backward(g); x.zero_grad()`` with ``x.requires_grad`` (every input of a
  binary op requires grad too), i.e. graph recording, the sweep and gradient accumulation;
- NumPy: the calls a hand-written forward and backward need for the same values (``exp``: ``z = e^x``
  and ``g * z``; ``matmul``: ``x @ w``, ``g @ w.T`` and ``x.T @ g``; ...).

and reports the median over repeats in microseconds per forward+backward, their difference (the
framework's overhead) and ratio. Run alone:  python -m benchmarks.ops_overhead [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

import numpy as np

SIZES = {"1": (1,), "128x512": (128, 512)}


def _np_exp(x, g):
    z = np.exp(x)
    return z, g * z


def _np_tanh(x, g):
    z = np.tanh(x)
    return z, g * (1.0 - z * z)


def _np_max(x, g):
    z = x.max(axis=-1)
    mask = x == z[..., None]
    return z, mask * (g / mask.sum(axis=-1))[..., None]


def _np_softmax(x, g):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    s = e / e.sum(axis=-1, keepdims=True)
    return s, s * (g - (g * s).sum(axis=-1, keepdims=True))


def _np_getitem(x, g):
    z = x[::2]
    grad = np.zeros_like(x)
    grad[::2] = g
    return z, grad


def _np_sigmoid(x, g):
    z = 1.0 / (1.0 + np.exp(-x))
    return z, g * z * (1.0 - z)


# name -> (inputs: "x" unary, "xy" binary same shape, "xw" matmul; tinygrad op; NumPy forward + backward)
OPS = {
    "add": ("xy", lambda x, y: x + y, lambda x, y, g: (x + y, g, g)),
    "mul": ("xy", lambda x, y: x * y, lambda x, y, g: (x * y, g * y, g * x)),
    "pow (x**2)": ("x", lambda x: x ** 2, lambda x, g: (x ** 2, 2.0 * x * g)),
    "exp": ("x", lambda x: x.exp(), _np_exp),
    "log": ("x", lambda x: x.log(), lambda x, g: (np.log(x), g / x)),
    "abs": ("x", lambda x: x.abs(), lambda x, g: (np.abs(x), g * np.sign(x))),
    "relu": ("x", lambda x: x.relu(), lambda x, g: (np.maximum(x, 0), g * (x > 0))),
    "leaky_relu": ("x", lambda x: x.leaky_relu(0.01),
                   lambda x, g: (np.where(x > 0, x, 0.01 * x), np.where(x > 0, g, 0.01 * g))),
    "clip": ("x", lambda x: x.clip(0.6, 1.4), lambda x, g: (np.clip(x, 0.6, 1.4), g * ((x > 0.6) & (x < 1.4)))),
    "sigmoid": ("x", lambda x: x.sigmoid(), _np_sigmoid),
    "tanh": ("x", lambda x: x.tanh(), _np_tanh),
    "softmax (last axis)": ("x", lambda x: x.softmax(-1), _np_softmax),
    "sum (all)": ("x", lambda x: x.sum(), lambda x, g: (x.sum(), np.broadcast_to(g, x.shape))),
    "max (last axis)": ("x", lambda x: x.max(-1), _np_max),
    "matmul": ("xw", lambda x, w: x @ w, lambda x, w, g: (x @ w, g @ w.T, x.T @ g)),
    "reshape": ("x", lambda x: x.reshape(-1), lambda x, g: (x.reshape(-1), g.reshape(x.shape))),
    "transpose": ("x", lambda x: x.T, lambda x, g: (x.T, g.T)),
    "getitem (x[::2])": ("x", lambda x: x[::2], _np_getitem),
}


def _inputs(kind: str, shape: tuple, rng) -> list[np.ndarray]:
    """Float32 values in [0.5, 1.5): positive for log, away from the kinks of relu, abs and clip's ends."""
    def draw(s):
        return rng.uniform(0.5, 1.5, size=s).astype(np.float32)

    if kind == "x":
        return [draw(shape)]
    if kind == "xy":
        return [draw(shape), draw(shape)]
    rows, cols = shape if len(shape) == 2 else (1, 1)
    return [draw((rows, cols)), draw((cols, 256 if len(shape) == 2 else 1))]   # matmul: (128,512) @ (512,256)


def _time_per_call(fn, min_seconds: float, repeats: int) -> float:
    """Median seconds per call over ``repeats`` runs of a loop that lasts about ``min_seconds``."""
    timer = timeit.Timer(fn)
    number = 1
    while True:  # grow the loop until one run takes min_seconds (timeit.autorange, with our threshold)
        if timer.timeit(number) >= min_seconds:
            break
        number *= 4
    return statistics.median(timer.repeat(repeat=repeats, number=number)) / number


def measure(quick: bool = False) -> list[dict]:
    """One row per (op, size): NumPy and tinygrad_edu microseconds per forward+backward."""
    from tinygrad_edu import Tensor

    min_seconds, repeats = (0.002, 2) if quick else (0.05, 5)
    rng = np.random.default_rng(0)
    rows = []
    for name, (kind, tg_op, np_op) in OPS.items():
        for size, shape in SIZES.items():
            arrays = _inputs(kind, shape, rng)
            tensors = [Tensor(a, requires_grad=True) for a in arrays]
            out = tg_op(*tensors)
            g = np.ones(out.shape, dtype=np.float32)

            def tinygrad_step(tensors=tensors, tg_op=tg_op, g=g):
                tg_op(*tensors).backward(g)
                for t in tensors:
                    t.zero_grad()

            def numpy_step(arrays=arrays, np_op=np_op, g=g):
                np_op(*arrays, g)

            t_np = _time_per_call(numpy_step, min_seconds, repeats) * 1e6
            t_tg = _time_per_call(tinygrad_step, min_seconds, repeats) * 1e6
            rows.append({"op": name, "size": size, "numpy_us": t_np, "tinygrad_us": t_tg,
                         "overhead_us": t_tg - t_np, "ratio": t_tg / t_np})
    return rows


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of ``measure``'s rows."""
    lines = [f"{'op':<20} {'size':>8} {'numpy us':>10} {'tinygrad us':>12} {'overhead us':>12} {'ratio':>7}"]
    for r in rows:
        lines.append(f"{r['op']:<20} {r['size']:>8} {r['numpy_us']:>10.2f} {r['tinygrad_us']:>12.2f} "
                     f"{r['overhead_us']:>12.2f} {r['ratio']:>6.1f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ops_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short loops (a smoke run; figures are rough)")
    args = parser.parse_args(argv)
    print(format_rows(measure(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
