"""Derivatives of derivatives: Newton's method, the first four derivatives of tanh, a Hessian-vector product.

``tg.autograd.grad(y, x, create_graph=True)`` (and ``y.backward(create_graph=True)``) records the
backward pass itself, so the gradient it returns is a Tensor with a graph of its own: differentiate
it again and you get the second derivative, and so on. Three uses of that:

1. Newton's method on f(x) = x^4 - 2x^2 from x = 2: each step divides f'(x) by f''(x), both from
   autograd, and reaches the minimum x = 1 in a handful of steps. Plain gradient descent, which knows
   only f'(x), needs hundreds of steps to the same tolerance.
2. tanh and its first four derivatives on a grid, each one the gradient of the previous one, checked
   against their closed forms and plotted to ``runs/examples/tanh_derivatives.png``.
3. The Hessian of a small MLP's loss with respect to its parameters, times a vector, from
   ``tg.autograd.functional.hvp``, beside central finite differences of the gradient.

    python examples/higher_order.py            # about a second
    python examples/higher_order.py --quick    # a coarser grid (a smoke test)
"""

import argparse
from pathlib import Path

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn

TOLERANCE = 1e-10  # both minimisers stop once |f'(x)| is below this
LEARNING_RATE = 0.01


def f(x):
    return x ** 4 - 2 * x ** 2


def first_two_derivatives(x):
    """f'(x) and f''(x). The first grad records its own computation (create_graph=True), so its result
    has a graph, and the second grad differentiates that graph."""
    (slope,) = tg.autograd.grad(f(x), x, create_graph=True)
    (curvature,) = tg.autograd.grad(slope, x)
    return slope, curvature


def newton(start, max_steps=50):
    """x <- x - f'(x) / f''(x): jump to the minimum of the parabola that matches f's value, slope and
    curvature at x. Prints every step; returns the steps taken and the final x."""
    x = Tensor(np.array(start), requires_grad=True)
    for step in range(max_steps + 1):
        slope, curvature = first_two_derivatives(x)
        print(f"  step {step}: x = {x.item():.12f}  f'(x) = {slope.item():+.3e}  f''(x) = {curvature.item():.6f}")
        if abs(slope.item()) < TOLERANCE:
            return step, x.item()
        with tg.no_grad():
            x -= slope / curvature
    raise RuntimeError(f"Newton's method did not converge in {max_steps} steps")


def gradient_descent(start, lr, max_steps=100_000):
    """x <- x - lr f'(x), first derivatives only; returns the steps taken and the final x."""
    x = Tensor(np.array(start), requires_grad=True)
    for step in range(max_steps + 1):
        (slope,) = tg.autograd.grad(f(x), x)
        if abs(slope.item()) < TOLERANCE:
            return step, x.item()
        with tg.no_grad():
            x -= lr * slope
    raise RuntimeError(f"gradient descent did not converge in {max_steps} steps")


def tanh_derivatives(grid, order=4):
    """tanh and its derivatives of order 1..``order`` at every grid point.

    tanh acts elementwise, so the gradient of sum(d) is the vector of the derivatives of d at each
    point: one grad per order, each with create_graph=True so that the next one can follow."""
    x = Tensor(grid, requires_grad=True)
    values = [x.tanh()]
    for _ in range(order):
        (derivative,) = tg.autograd.grad(values[-1].sum(), x, create_graph=True)
        values.append(derivative)
    return [v.numpy() for v in values]


def tanh_closed_forms(grid):
    """The same derivatives by hand, with t = tanh x and s = 1 - t^2 = tanh'(x):
    t'' = -2 t s,  t''' = -2 s (1 - 3 t^2),  t'''' = 8 t s (2 - 3 t^2)."""
    t = np.tanh(grid)
    s = 1 - t ** 2
    return [t, s, -2 * t * s, -2 * s * (1 - 3 * t ** 2), 8 * t * s * (2 - 3 * t ** 2)]


def plot_tanh_derivatives(grid, values, path):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"  (no plot: matplotlib is not installed; pip install matplotlib to draw {path})")
        return
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    labels = ["tanh x", "1st derivative", "2nd derivative", "3rd derivative", "4th derivative"]
    for label, value in zip(labels, values):
        ax.plot(grid, value, label=label)
    ax.set_xlabel("x")
    ax.set_title("tanh and its derivatives, each the gradient of the one before (create_graph=True)")
    ax.grid(linestyle="--", alpha=0.6)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"  plot: {path}")


def run_with(model, params, x):
    """model(x) with ``params`` (one tensor per model parameter, in model.parameters() order) in place
    of the model's own: the loss as a function of the parameters, which is what hvp differentiates."""
    remaining = iter(params)
    for layer in model:
        x = F.linear(x, next(remaining), next(remaining)) if isinstance(layer, nn.Linear) else layer(x)
    return x


def hessian_vector_product_check(sizes, batch, eps=1e-5, seed=0):
    """H v by hvp (two more reverse sweeps through the gradient) against central finite differences of
    the gradient along v, (grad L(theta + eps v) - grad L(theta - eps v)) / (2 eps), computed with the
    model itself. Returns the largest difference relative to the largest entry of H v."""
    rng = np.random.default_rng(seed)
    model = nn.MLP(sizes, activation="tanh", dtype=np.float64, seed=seed)
    inputs = Tensor(rng.standard_normal((batch, sizes[0])))
    labels = Tensor(rng.integers(0, sizes[-1], size=batch))
    params = tuple(model.parameters())
    v = tuple(Tensor(rng.standard_normal(p.shape)) for p in params)

    loss, hv = tg.autograd.functional.hvp(lambda *ps: F.cross_entropy(run_with(model, ps, inputs), labels), params, v)

    def gradient_at(shift):
        with tg.no_grad():
            for p, direction in zip(params, v):
                p += shift * direction
        gradient = tg.autograd.grad(F.cross_entropy(model(inputs), labels), params)
        with tg.no_grad():
            for p, direction in zip(params, v):
                p -= shift * direction
        return gradient

    plus, minus = gradient_at(eps), gradient_at(-eps)
    fd = [(a.numpy() - b.numpy()) / (2 * eps) for a, b in zip(plus, minus)]
    exact = [h.numpy() for h in hv]
    largest = max(np.abs(h).max() for h in exact)
    difference = max(np.abs(h - d).max() for h, d in zip(exact, fd))
    count = sum(p.numel() for p in params)
    print(f"  MLP {sizes} (tanh), cross-entropy on {batch} random points: loss {loss.item():.6f}, "
          f"{count} parameters")
    print(f"  |H v| largest entry {largest:.6f}; finite differences with eps = {eps:g}")
    print(f"  max |hvp - finite differences| / max |hvp| = {difference / largest:.2e}")
    return difference / largest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a coarser tanh grid and a smaller MLP (a smoke test)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/examples"))
    args = parser.parse_args(argv)

    print("1. minimise f(x) = x^4 - 2x^2 from x = 2 (minimum at x = 1, f''(1) = 8)")
    print("  Newton's method, x <- x - f'(x) / f''(x), both derivatives from tg.autograd.grad:")
    newton_steps, newton_x = newton(2.0)
    gd_steps, gd_x = gradient_descent(2.0, LEARNING_RATE)
    print(f"  Newton's method: {newton_steps} steps to |f'(x)| < {TOLERANCE:g}, x = {newton_x:.12f}")
    print(f"  gradient descent (lr {LEARNING_RATE}): {gd_steps} steps to |f'(x)| < {TOLERANCE:g}, x = {gd_x:.12f}")

    print("\n2. tanh and its first four derivatives, each the gradient of the previous one")
    grid = np.linspace(-4.0, 4.0, 81 if args.quick else 401)
    values = tanh_derivatives(grid)
    for order, (ours, closed) in enumerate(zip(values[1:], tanh_closed_forms(grid)[1:]), start=1):
        print(f"  derivative {order}: max |autograd - closed form| = {np.abs(ours - closed).max():.1e} "
              f"on {len(grid)} points")
    plot_tanh_derivatives(grid, values, args.out_dir / "tanh_derivatives.png")

    print("\n3. Hessian-vector product of an MLP's loss: tg.autograd.functional.hvp against finite differences")
    hessian_vector_product_check([3, 5, 2] if args.quick else [4, 16, 3], batch=8 if args.quick else 32)


if __name__ == "__main__":
    main()
