"""Seed notebook 003: Andrew Ng's ex4 network (400-25-10, sigmoid) trained by conjugate gradient.

What the notebook did: Ng's machine-learning exercise 4 in Python. 5000 handwritten digits of
20 x 20 pixels (500 per class, ``ex4data1.mat``), a 400-25-10 network with sigmoid units, the
cost J = -(1/m) sum [y log h + (1 - y) log(1 - h)] + lambda/(2m) sum(theta^2) (biases not
penalised), gradients from a hand-written backpropagation checked on 10 random parameters by
central differences, then ``scipy.optimize.fmin_cg`` for 100 iterations with lambda = 0.09:
99.26 % training accuracy (cost 0.1135 without the penalty). Finally it photographed a "4" written on
paper, resized it to 20 x 20, and the network said 4.

What went wrong there: its initialiser writes ``(6/(lin+lout))**1/2``, which Python reads as
(6/(lin+lout)) / 2 rather than the square root; it fed the photo's 0-255 grey values to the network
as they were (not inverted, although the training digits are bright ink on dark, not scaled to
[0, 1], not centred); and it measured accuracy only on the 5000 training digits.

What this script shows, with the public API only:
  * the data: 500 digits of each class from the MNIST training set, each 28 x 28 image shrunk to
    20 x 20 with Pillow's BOX filter (each new pixel the area-weighted mean of the pixels it covers).
    Labels are 0-9 (ex4 wrote 0 as 10, a MATLAB habit);
  * the cost as a composition: ``F.binary_cross_entropy_with_logits`` summed over the ten output
    units plus ``F.l2_penalty`` (weights only), in float64 as SciPy works;
  * the notebook's gradient check: 10 random parameters, central differences (eps = 1e-4) beside
    ``backward()``, then ``tg.gradcheck`` over all 10 285 parameters on a few digits;
  * conjugate gradient through ``optim.minimize(model, cost, method="CG", maxiter=100)``;
  * accuracy on the 5000 training digits (the notebook's figure) and on the 10 000 MNIST test digits;
  * a digit drawn with Pillow as dark ink on light paper, saved as PNG, turned into an MNIST-style
    28 x 28 input by ``app.images.preprocess_image`` (the ``predict`` command's preprocessing), shrunk to
    20 x 20 like the training digits, and classified.

    python examples/ng_ex4_cg.py            # ~10-30 s on 2 cores
    python examples/ng_ex4_cg.py --quick    # 500 digits, 10 CG iterations
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, data, nn, optim
from tinygrad_edu.app.images import preprocess_image

SIDE, HIDDEN, CLASSES = 20, 25, 10
NOTEBOOK_ACCURACY, NOTEBOOK_COST = 99.26, 0.1135


def to_20x20(images):
    """(n, 784) MNIST images -> (n, 400): each 28 x 28 image shrunk by Pillow's area-averaging BOX filter."""
    from PIL import Image

    out = np.empty((len(images), SIDE * SIDE), np.float64)
    for i, image in enumerate(images):
        small = Image.fromarray(image.reshape(28, 28).astype(np.float32)).resize((SIDE, SIDE), Image.Resampling.BOX)
        out[i] = np.asarray(small).reshape(-1)
    return out


def ex4_digits(x, y, per_class):
    """The first ``per_class`` training digits of each class, like ex4data1's 500 per digit, as 20 x 20."""
    index = np.concatenate([np.flatnonzero(y == digit)[:per_class] for digit in range(CLASSES)])
    return to_20x20(x[index]), y[index]


def make_network(seed):
    """400-25-10 sigmoid network in float64, every weight and bias ~ U(-eps, eps), eps = sqrt(6 / (in + out))."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(SIDE * SIDE, HIDDEN, dtype=np.float64, rng=rng), nn.Sigmoid(),
                          nn.Linear(HIDDEN, CLASSES, dtype=np.float64, rng=rng))
    for layer in (model[0], model[2]):
        nn.init.epsilon_uniform_(layer.weight, rng=rng)
        bound = np.sqrt(6.0 / (layer.in_features + layer.out_features))
        nn.init.uniform_(layer.bias, -bound, bound, rng=rng)
    return model


def ex4_cost(model, x, one_hot, lam):
    """J = -(1/m) sum_{examples, units} [y log h + (1-y) log(1-h)] + lambda/(2m) sum(W^2), h = sigmoid(scores)."""
    m = len(one_hot)
    fit = F.binary_cross_entropy_with_logits(model(x), one_hot, reduction="sum") * (1.0 / m)
    return fit + F.l2_penalty(model, lam, m) if lam else fit


def check_gradient(model, x, one_hot, lam, seed, count=10, eps=1e-4):
    """The notebook's check: ``count`` random parameters, (J(theta + eps) - J(theta - eps)) / 2 eps vs backward."""
    params = list(model.parameters())
    sizes = [p.size for p in params]
    model.zero_grad()
    ex4_cost(model, x, one_hot, lam).backward()
    rng = np.random.default_rng(seed)
    print(f"gradient check on {count} random parameters of {sum(sizes)} (lambda {lam:g}, eps {eps:g}):")
    numeric, analytic = np.empty(count), np.empty(count)
    for i, flat in enumerate(rng.choice(sum(sizes), size=count, replace=False)):
        which = int(np.searchsorted(np.cumsum(sizes), flat, side="right"))
        p, index = params[which], np.unravel_index(flat - sum(sizes[:which]), params[which].shape)
        original = p.data[index]
        with tg.no_grad():
            p.data[index] = original + eps
            high = ex4_cost(model, x, one_hot, lam).item()
            p.data[index] = original - eps
            low = ex4_cost(model, x, one_hot, lam).item()
        p.data[index] = original
        numeric[i], analytic[i] = (high - low) / (2 * eps), p.grad.data[index]
        print(f"  Element: {flat:5d}. Numerical Gradient = {numeric[i]:+.9f}. BackProp Gradient = {analytic[i]:+.9f}.")
    model.zero_grad()
    # Ng's checkNNGradients: norm(numeric - analytic) / norm(numeric + analytic)
    return float(np.linalg.norm(numeric - analytic) / np.linalg.norm(numeric + analytic))


def accuracy(model, x, y):
    with tg.no_grad():
        return 100.0 * float((model(Tensor(x)).data.argmax(axis=1) == y).mean())


def draw_digits(folder):
    """Digits drawn with Pillow lines, dark ink on light paper and off-centre, as a phone photo of a note."""
    from PIL import Image, ImageDraw

    strokes = {
        4: [[(150, 40), (80, 170), (200, 170)], [(165, 95), (165, 250)]],
        7: [[(70, 60), (200, 60), (120, 250)], [(110, 150), (180, 150)]],
        0: [],
    }
    paths = {}
    for digit, lines in strokes.items():
        paper = Image.new("L", (280, 300), 225)
        pen = ImageDraw.Draw(paper)
        if digit == 0:
            pen.ellipse((80, 50, 190, 250), outline=30, width=16)
        for line in lines:
            pen.line(line, fill=30, width=16, joint="curve")
        paths[digit] = folder / f"drawn_{digit}.png"
        paper.save(paths[digit])
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 digits and 10 CG iterations (a smoke test)")
    parser.add_argument("--limit", type=int, default=None, help="use N digits (N/10 per class) instead of 5000")
    parser.add_argument("--maxiter", type=int, default=100)
    parser.add_argument("--lam", type=float, default=0.09)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/examples"))
    args = parser.parse_args(argv)
    limit, maxiter = args.limit or 5000, args.maxiter
    if args.quick:
        limit, maxiter = min(limit, 500), min(maxiter, 10)

    x_train, y_train, x_test, y_test = data.load_mnist()
    x, y = ex4_digits(x_train, y_train, per_class=limit // CLASSES)
    one_hot = np.eye(CLASSES)[y]
    images = Tensor(x)
    print(f"{len(x)} MNIST training digits shrunk to {SIDE}x{SIDE} (Pillow BOX filter), 400-25-10 sigmoid network")

    model = make_network(args.seed)
    print(f"cost at the random start: {ex4_cost(model, images, one_hot, args.lam).item():.6f} "
          f"(notebook: 6.907571; about 10 log 2 = 6.93 while every output is near 1/2)")
    relative = check_gradient(model, images, one_hot, args.lam, args.seed)
    print(f"Relative Difference: {relative:.3g} (central differences with eps 1e-4 are good to ~eps^2 = 1e-8; "
          "a wrong gradient is off by far more)")
    few = Tensor(x[:4])
    ok = tg.gradcheck(lambda *params: ex4_cost(model, few, one_hot[:4], args.lam), tuple(model.parameters()))
    print(f"tg.gradcheck over all {sum(p.size for p in model.parameters())} parameters on 4 digits: {ok}")

    print(f"\nconjugate gradient (lambda {args.lam:g}, at most {maxiter} iterations):")
    start = time.perf_counter()
    result = optim.minimize(model, lambda: ex4_cost(model, images, one_hot, args.lam), method="CG", maxiter=maxiter)
    seconds = time.perf_counter() - start
    print(f"  {result.message}\n  Current function value: {result.fun:.6f}\n  Iterations: {result.nit}\n"
          f"  Function evaluations: {result.nfev}\n  Gradient evaluations: {result.njev}")
    with tg.no_grad():
        cost = ex4_cost(model, images, one_hot, 0).item()
    train_acc = accuracy(model, x, y)
    test_acc = accuracy(model, to_20x20(x_test), y_test)
    print(f"\n  {'':<32} notebook   ours")
    print(f"  {'cost without the penalty':<32} {NOTEBOOK_COST:>8.4f}   {cost:.4f}")
    print(f"  {f'training accuracy ({len(x)} digits)':<32} {NOTEBOOK_ACCURACY:>7.2f} %   {train_acc:.2f} %")
    print(f"  {f'test accuracy ({len(x_test)} digits)':<32} {'-':>8}   {test_acc:.2f} %")
    print(f"training accuracy: notebook {NOTEBOOK_ACCURACY:.2f} %, ours {train_acc:.2f} % "
          f"({result.nit} CG iterations in {seconds:.1f} s)")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    print("\npredict on digits drawn with Pillow (dark ink on light paper):")
    for digit, path in draw_digits(args.out_dir).items():
        mnist_style = preprocess_image(path)                          # 28 x 28, ink bright, centred by mass
        with tg.no_grad():
            outputs = model(Tensor(to_20x20(mnist_style[None]))).sigmoid().data[0]
        guess = int(outputs.argmax())
        print(f"  {path}: drew {digit}, network says {guess} (output unit {guess}: {outputs[guess]:.3f})")


if __name__ == "__main__":
    main()
