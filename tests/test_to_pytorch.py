"""examples/to_pytorch.py: a model trained here converts to the same torch.nn network (equal outputs), training
continues there, an unsupported layer is named, the command line's model files convert, and without PyTorch the
script says how to install it. The tests that need PyTorch are skipped, with that reason, where it is missing."""

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "to_pytorch.py"
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (pip install torch)")


def load_example():
    spec = importlib.util.spec_from_file_location("to_pytorch", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    if HAVE_TORCH:
        import torch

        torch.set_num_threads(1)  # small batches: threads only compete with the other tests for the cores
    return load_example()


def trained(model, x, y, steps=5, seed=0):
    """``model`` after a few Adam steps in train mode (so batch norm's running statistics move off 0 and 1)."""
    rng = np.random.default_rng(seed)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        batch = rng.choice(len(x), size=16, replace=False)
        loss = F.cross_entropy(model(Tensor(x[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def data(shape, n=64, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, classes, size=n)


def cnn():
    tg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2, bias=False), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 2 * 2, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.1),
                         nn.LayerNorm(8), nn.Dropout(0.2), nn.Sigmoid(), nn.Linear(8, 3))


@needs_torch
def test_trained_mlp_converts_with_equal_outputs_and_pytorch_keys(example):
    import torch

    x, y = data((10,))
    model = trained(nn.MLP([10, 16, 12, 3], activation="tanh", seed=0), x, y)
    twin = example.to_torch(model)
    assert isinstance(twin, torch.nn.Sequential)
    assert [type(layer).__name__ for layer in twin] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert list(twin.state_dict()) == list(model.state_dict())
    assert all(p.dtype == torch.float32 for p in twin.parameters())
    assert example.max_abs_difference(model, twin, x) < 1e-5


@needs_torch
def test_trained_cnn_with_batch_norm_converts_running_statistics_and_outputs(example):
    x, y = data((2, 8, 8))
    model = trained(cnn(), x, y, steps=5)
    assert model[1].num_batches_tracked.item() == 5 and np.abs(model[1].running_mean.data).max() > 1e-3
    twin = example.to_torch(model)
    assert twin.training and twin[1].num_batches_tracked.item() == 5
    np.testing.assert_array_equal(twin[1].running_var.numpy(), model[1].running_var.data)
    np.testing.assert_array_equal(twin[9].running_mean.numpy(), model[9].running_mean.data)
    assert example.max_abs_difference(model, twin, x) < 1e-5
    assert model.training and twin.training, "max_abs_difference puts both back in their mode"


@needs_torch
def test_train_mode_outputs_agree_too_when_dropout_is_off(example):
    """Training mode normalises with the batch's statistics: the same in both, and both update the running ones alike."""
    import torch

    x, y = data((2, 8, 8))
    model = trained(cnn(), x, y)
    model[12].p = 0.0
    twin = example.to_torch(model)
    ours = model(Tensor(x)).numpy()
    theirs = twin(torch.from_numpy(x)).detach().numpy()
    assert np.abs(ours - theirs).max() < 1e-5
    np.testing.assert_allclose(twin[1].running_mean.numpy(), model[1].running_mean.data, atol=1e-6)


@needs_torch
def test_a_float64_model_stays_float64(example):
    import torch

    x, _ = data((5,))
    model = nn.MLP([5, 4, 2], seed=0).double()
    twin = example.to_torch(model)
    assert all(p.dtype == torch.float64 for p in twin.parameters())
    assert example.max_abs_difference(model, twin, x.astype(np.float64)) < 1e-12


@needs_torch
def test_training_continues_in_torch_with_the_loss_going_down_and_leaves_the_original_alone(example):
    x, y = data((2, 8, 8), n=128)
    model = trained(cnn(), x, y)
    before = {name: array.copy() for name, array in model.state_dict().items()}
    twin = example.to_torch(model)
    losses = example.train_in_torch(twin, x, y, steps=30, batch_size=32, lr=1e-2)
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]), losses
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name], err_msg=f"{name} changed in the tinygrad_edu model")


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4, seed=0)

    def forward(self, x):
        return x + self.inner(x)


class Swish(nn.Sigmoid):  # a subclass computing something else must not pass for its parent
    def forward(self, x):
        return x * x.sigmoid()


@needs_torch
@pytest.mark.parametrize("layer, name", [(Residual(), "Residual"), (Swish(), "Swish")])
def test_an_unsupported_layer_is_named_with_where_it_sits(example, layer, name):
    model = nn.Sequential(nn.Linear(4, 4, seed=0), nn.Sequential(nn.ReLU(), layer))
    with pytest.raises(example.UnsupportedLayerError, match=rf"no torch\.nn twin for the layer {name} at '1\.1'; "
                                                            r"supported layers: AvgPool2d, BatchNorm1d, .*Linear"):
        example.to_torch(model)


@pytest.fixture(scope="module")
def mnist_like(tmp_path_factory):
    """A tiny MNIST-like folder (the four IDX files of random digits) for `tinygrad-edu train --data-dir`."""
    from tinygrad_edu.data import write_idx

    folder = tmp_path_factory.mktemp("mnist_like")
    rng = np.random.default_rng(0)
    labels = (np.arange(240) % 10).astype(np.uint8)
    images = rng.integers(0, 256, size=(240, 28, 28)).astype(np.uint8)
    for part, rows in (("train", slice(0, 200)), ("t10k", slice(200, 240))):
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images[rows])
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels[rows])
    return folder


def model_file(folder, out, *arch):
    """Train with the command line (in this process) and return the model file it wrote."""
    from tinygrad_edu.app.cli import main

    argv = ["train", "--data-dir", folder, *arch, "--epochs", "1", "--batch-size", "50", "--seed", "0",
            "--out", out, "--no-plot"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        status = main([str(a) for a in argv])
    assert status == 0, err.getvalue()
    return out


@needs_torch
def test_an_mlp_model_file_of_the_command_line_converts(example, mnist_like, tmp_path):
    path = model_file(mnist_like, tmp_path / "mlp.npz", "--arch", "784-16-10")
    model, info = example.load_model_file(path)
    twin = example.to_torch(model)
    assert [type(layer).__name__ for layer in twin] == ["Linear", "ReLU", "Linear"]
    x = info["preprocessing"](np.random.default_rng(1).uniform(size=(32, 784)))
    assert example.max_abs_difference(model, twin, x) < 1e-5


@pytest.fixture(scope="module")
def cnn_file(mnist_like, tmp_path_factory):
    return model_file(mnist_like, tmp_path_factory.mktemp("cnn") / "cnn.npz", "--arch", "cnn", "--augment-shift", "0")


@needs_torch
def test_a_cnn_model_file_of_the_command_line_converts_with_its_batch_norm_statistics(example, cnn_file):
    model, info = example.load_model_file(cnn_file)
    assert int(model[2].num_batches_tracked.item()) == 4 and np.abs(model[2].running_mean.data).max() > 0
    twin = example.to_torch(model)
    assert [type(layer).__name__ for layer in twin] == [type(layer).__name__ for layer in model]
    np.testing.assert_array_equal(twin[2].running_var.numpy(), model[2].running_var.data)
    x = info["preprocessing"](np.random.default_rng(1).uniform(size=(16, 784)))
    assert example.max_abs_difference(model, twin, x) < 1e-5


@needs_torch
def test_the_script_converts_a_cnn_model_file_and_trains_it_in_torch(cnn_file):
    result = subprocess.run([sys.executable, str(EXAMPLE), "--model", str(cnn_file), "--synthetic", "--limit", "300",
                             "--steps", "10"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"cnn\.npz: cnn 32-64-128 with 421,834 parameters", result.stdout), result.stdout
    difference = float(re.search(r"max \|tinygrad_edu - torch\| = (\S+)", result.stdout).group(1))
    assert difference < 1e-4
    assert len(re.findall(r"torch steps +\d+- *\d+: mean loss \d", result.stdout)) == 5


def test_without_torch_the_script_names_pip_install_torch_and_exits_2():
    hide_torch = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = [sys.argv[1], '--synthetic']; "
                  "runpy.run_path(sys.argv[0], run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", hide_torch, str(EXAMPLE)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "examples/to_pytorch.py needs PyTorch, which is not installed: pip install torch"]


@needs_torch
def test_the_script_trains_here_converts_both_models_and_continues_in_torch(tmp_path):
    saved = tmp_path / "cnn.pt"
    result = subprocess.run([sys.executable, str(EXAMPLE), "--synthetic", "--limit", "600", "--here-steps", "5",
                             "--steps", "20", "--save", str(saved)], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    differences = [float(d) for d in re.findall(r"max \|tinygrad_edu - torch\| = (\S+) on a batch of 256", out)]
    assert len(differences) == 2 and max(differences) < 1e-4, out
    assert "Conv2d(1, 8, kernel_size=(3, 3)" in out and "BatchNorm2d(8" in out
    windows = [float(m) for m in re.findall(r"torch steps +\d+- *\d+: mean loss (\S+)", out)]
    assert len(windows) == 10 and windows[4] < windows[0] and windows[9] < windows[5], out
    assert saved.stat().st_size > 0
