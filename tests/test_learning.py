"""Learning actually happens: layers + losses + optimizers fit XOR exactly, and classify two moons
(generated here, evaluated on held-out points) at >= 97%."""

import numpy as np

import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim


def accuracy(model, x, y):
    model.eval()
    predictions = model(Tensor(x)).data.argmax(axis=1)
    model.train()
    return float((predictions == y).mean())


def two_moons(n, noise, seed):
    """Two interleaved half circles (as sklearn.datasets.make_moons draws them), labels 0 and 1."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, np.pi, n)
    labels = rng.integers(0, 2, n)
    x = np.where(labels[:, None] == 0,
                 np.stack([np.cos(angles), np.sin(angles)], axis=1),
                 np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], axis=1))
    return (x + noise * rng.standard_normal((n, 2))).astype(np.float32), labels


def test_mlp_learns_xor_perfectly_with_sgd_momentum():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    model = nn.MLP([2, 8, 2], activation="tanh", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        opt.step()
    assert accuracy(model, x, y) == 1.0
    assert loss.item() < 0.05


def test_mlp_classifies_two_moons_above_97_percent_on_held_out_points():
    x_train, y_train = two_moons(600, noise=0.15, seed=0)
    x_test, y_test = two_moons(400, noise=0.15, seed=1)
    model = nn.Sequential(nn.Linear(2, 32, seed=0), nn.ReLU(), nn.Dropout(0.1, seed=0),
                          nn.Linear(32, 32, seed=1), nn.ReLU(), nn.Linear(32, 2, seed=2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    order_rng = np.random.default_rng(0)
    for _epoch in range(60):
        order = order_rng.permutation(len(x_train))
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x_train[batch])), y_train[batch]).backward()
            opt.step()
        scheduler.step()
    test_accuracy = accuracy(model, x_test, y_test)
    assert test_accuracy >= 0.97, f"two-moons held-out accuracy {test_accuracy:.3f}"


def test_logistic_regression_from_zero_init_with_bce_with_logits():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))])
    y = np.repeat([0.0, 1.0], 100)[:, None]
    layer = nn.Linear(2, 1, dtype=np.float64, seed=0)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(layer(Tensor(x)), y).backward()
        opt.step()
    predictions = layer(Tensor(x)).data > 0
    assert (predictions == (y > 0.5)).mean() >= 0.97
