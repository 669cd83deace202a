"""A float32 training step stays float32: parameters, gradients, loss and optimizer state.

NumPy promotes float32 to float64 silently (a float64 scalar array, a float64 buffer added in place...),
and one such array makes every step slower and every buffer twice as large. These tests train the B1 model
(784-512-256-10, ReLU, cross-entropy; a small batch) with Adam and with SGD + momentum and look at every
array afterwards, including optimizer state reached through its public ``state`` and ``state_dict()``.
"""

import numpy as np
import pytest

import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, data, nn, optim

OPTIMIZERS = {
    "adam": lambda params: optim.Adam(params, lr=1e-3),
    "sgd_momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
}


def b1_model(dtype=np.float32):
    return nn.Sequential(nn.Linear(784, 512, dtype=dtype), nn.ReLU(), nn.Linear(512, 256, dtype=dtype), nn.ReLU(),
                         nn.Linear(256, 10, dtype=dtype))


def train(optimizer: str, steps: int, dtype=np.float32):
    """``steps`` steps on batches of 16 random images from a DataLoader; returns model, optimizer, last loss."""
    rng = np.random.default_rng(0)
    model = b1_model(dtype)
    opt = OPTIMIZERS[optimizer](model.parameters())
    loader = data.DataLoader(rng.random((16 * steps, 784), dtype=np.float32), rng.integers(0, 10, 16 * steps),
                             batch_size=16, seed=0)
    for xb, yb in loader:
        x = xb if dtype == np.float32 else Tensor(xb.data.astype(dtype))
        loss = F.cross_entropy(model(x), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt, loss


def float_leaves(obj, path="state"):
    """(path, dtype) of every floating NumPy array or NumPy float scalar inside nested dicts/lists/tuples."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, (np.ndarray, np.generic)):
        if obj.dtype.kind == "f":
            yield path, obj.dtype
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from float_leaves(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from float_leaves(value, f"{path}[{i}]")


def not_float32(pairs):
    return [f"{path}: {dtype}" for path, dtype in pairs if dtype != np.float32]


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_parameters_gradients_and_loss_are_float32_after_a_step(optimizer, steps):
    model, _, loss = train(optimizer, steps)
    assert loss.dtype == np.float32
    named = list(model.named_parameters())
    assert len(named) == 6
    for name, p in named:
        assert p.data.dtype == np.float32, f"parameter {name} is {p.data.dtype}"
        assert p.grad is not None, f"parameter {name} got no gradient"
        assert p.grad.dtype == np.float32, f"gradient of {name} is {p.grad.dtype}"


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizer_state_is_float32_after_a_step(optimizer, steps):
    model, opt, _ = train(optimizer, steps)
    live = [pair for p in model.parameters() for pair in float_leaves(opt.state.get(p, {}), "state")]
    saved = list(float_leaves(opt.state_dict()))
    # Both optimizers keep per-parameter arrays (Adam's moments, SGD's momentum buffer): an empty state would
    # make the dtype check vacuous.
    for p in model.parameters():
        assert any(isinstance(v, np.ndarray) and v.shape == p.shape for v in opt.state.get(p, {}).values()), \
            f"{optimizer} keeps no state array for a parameter of shape {p.shape}"
    assert len(saved) >= len(list(model.parameters()))
    assert not_float32(live) == []
    assert not_float32(saved) == []


def test_the_dtype_walk_reports_a_float64_array():
    """The check above can fail: a float64 model's parameters and state are reported."""
    model, opt, _ = train("adam", 1, dtype=np.float64)
    assert not_float32(float_leaves([p.data for p in model.parameters()]))
    assert not_float32(float_leaves(opt.state_dict()))
