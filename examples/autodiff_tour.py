"""A tour of reverse-mode autodiff on one small expression: its graph, its backward sweep, a check against
finite differences, and what a wrong backward looks like.

    python examples/autodiff_tour.py            # add --svg graph.svg to draw the graph (needs Graphviz)

Without Graphviz the tour runs all the same: the graph is printed as a text tree, and --svg says
that no picture was drawn and why.

The expression is one layer of a network and a squared error:

    loss = sum((sigmoid(x @ W + b) - target) ** 2)

with x (2, 3), W (3, 2), b (2,): small enough to read every number, big enough to broadcast (b is
added to each row) and to reuse nothing by accident.
"""

import argparse

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import Tensor


def make_inputs():
    rng = np.random.default_rng(7)
    x = Tensor(rng.standard_normal((2, 3)))
    target = Tensor(np.array([[1.0, 0.0], [0.0, 1.0]]))
    W = Tensor(rng.standard_normal((3, 2)), requires_grad=True)  # float64 arrays stay float64
    b = Tensor(np.array([0.1, -0.2]), requires_grad=True)
    return x, target, W, b


def layer_loss(x, target, W, b, sigmoid=Tensor.sigmoid):
    return ((sigmoid(x @ W + b) - target) ** 2).sum()


def finite_difference(f, t, eps=1e-6):
    """dL/dt element by element: (L(t + eps) - L(t - eps)) / (2 eps), changing one element at a time."""
    grad = np.zeros(t.shape)
    with tg.no_grad():
        for index in np.ndindex(t.shape):
            original = t.data[index]
            t.data[index] = original + eps
            plus = f().item()
            t.data[index] = original - eps
            minus = f().item()
            t.data[index] = original
            grad[index] = (plus - minus) / (2 * eps)
    return grad


class ForgetfulSigmoid(tg.Function):
    """sigmoid with a deliberately wrong backward: it returns g * z and forgets the factor (1 - z)."""

    @staticmethod
    def forward(ctx, x):
        z = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved
        return g * z  # should be g * z * (1 - z)


def section(title):
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", help="also draw the graph into this .svg/.png file (needs Graphviz's dot)")
    args = parser.parse_args(argv)

    x, target, W, b = make_inputs()
    loss = layer_loss(x, target, W, b)
    print(f"loss = sum((sigmoid(x @ W + b) - target) ** 2) = {loss.item():.6f}")

    section("1. the recorded graph")
    names = {"x": x, "target": target, "W": W, "b": b}
    print(tg.viz.to_text(loss, names=names))
    print("\nthe same graph as Graphviz DOT text (paste it into any Graphviz viewer):")
    print(tg.viz.to_dot(loss, names=names))
    if args.svg:
        try:
            print(f"drawn into {tg.viz.render(loss, args.svg, names=names)}")
        except tg.viz.GraphvizNotFoundError as missing:
            print(f"no picture drawn into {args.svg}: {missing}; the text tree above shows the same graph")

    section("2. the backward sweep, node by node")
    tg.viz.trace_backward(loss, retain_graph=True)
    print("\nafter backward(retain_graph=True) the graph is intact and its parameters carry gradient norms:")
    for line in tg.viz.to_dot(loss, names=names).splitlines():
        if "|grad|" in line:
            print(line)

    section("3. backward against finite differences")
    numeric = finite_difference(lambda: layer_loss(x, target, W, b), W)
    print("dL/dW from backward:\n", np.array2string(W.grad.data, precision=8))
    print("dL/dW from (L(W + eps) - L(W - eps)) / (2 eps):\n", np.array2string(numeric, precision=8))
    print(f"max |analytic - numeric| for W = {np.abs(W.grad.data - numeric).max():.3e}")
    numeric_b = finite_difference(lambda: layer_loss(x, target, W, b), b)
    print(f"max |analytic - numeric| for b = {np.abs(b.grad.data - numeric_b).max():.3e}")
    ok = tg.gradcheck(lambda W, b: layer_loss(x, target, W, b), (W, b))
    print(f"tg.gradcheck(layer_loss, (W, b)) -> {ok}")

    section("4. a wrong backward under gradcheck")
    print("ForgetfulSigmoid.backward returns g * z instead of g * z * (1 - z); its forward is right:")
    same = np.allclose(ForgetfulSigmoid.apply(x).data, x.sigmoid().data)
    print(f"forward equals Tensor.sigmoid: {same}")
    try:
        tg.gradcheck(lambda W, b: layer_loss(x, target, W, b, sigmoid=ForgetfulSigmoid.apply), (W, b))
        print("gradcheck passed?! (it should not)")
    except tg.GradcheckError as err:
        print(f"GradcheckError: {err}")


if __name__ == "__main__":
    main()
