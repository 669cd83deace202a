"""Failing without losing work: divergence stops cleanly, files are written atomically and checked when read,
and reading a file never runs code from it.

The command line's side of the same promises (exit status 1 with the epoch and step on one line,
the last good checkpoint kept, no partial file after a failed write) is in ``tests/test_cli.py``.
"""

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.app import checkpoint
from tinygrad_edu.app.checkpoint import ModelFileError
from tinygrad_edu.app.models import MLPArchitecture
from tinygrad_edu.app.training import Diverged, fit
from tinygrad_edu.data import DataLoader

PACKAGE = Path(tg.__file__).parent
ARCH = MLPArchitecture((4, 8, 2))


class PoisonedLoader:
    """A DataLoader whose batch ``step`` of epoch ``epoch`` holds a nan: the loss there is nan."""

    def __init__(self, loader, epoch, step):
        self.loader, self.epoch, self.step, self.passes = loader, epoch, step, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for step, (x, y) in enumerate(self.loader, start=1):
            if (self.passes, step) == (self.epoch, self.step):
                x = tg.Tensor(np.where(np.arange(x.shape[1]) == 0, np.nan, x.data).astype(np.float32))
            yield x, y


def small_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = ARCH.build(seed=seed)
    return x, y, model, optim.Adam(model.parameters(), lr=0.01)


def test_divergence_stops_at_the_first_bad_step_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y, model, opt = small_problem()
    loader = PoisonedLoader(DataLoader(x, y, batch_size=16, seed=0), epoch=2, step=3)
    path, saved = tmp_path / "model.npz", {}

    def save_checkpoint(history):
        checkpoint.save_model(path, model, ARCH, checkpoint.Preprocessing(), {"history": history})
        saved.update({name: array.copy() for name, array in model.state_dict().items()})

    with pytest.raises(Diverged, match="training diverged: the loss became nan at epoch 2, step 3") as caught:
        fit(model, opt, loader, x, y, epochs=3, on_epoch_end=save_checkpoint, progress=False)
    diverged = caught.value
    assert (diverged.epoch, diverged.step) == (2, 3)
    assert "training diverged: the loss became nan at epoch 2, step 3" in str(diverged)
    assert [record["epoch"] for record in diverged.history] == [1]
    restored, info = checkpoint.load_model(path)
    assert all(np.array_equal(restored.state_dict()[name], saved[name]) for name in saved)
    assert [record["epoch"] for record in info["training"]["history"]] == [1]
    # the bad step was refused before optimizer.step(), so the live model is still usable too
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_a_crash_at_the_rename_keeps_the_previous_model_and_optimizer_files(tmp_path, monkeypatch):
    x, y, model, opt = small_problem()
    fit(model, opt, DataLoader(x, y, batch_size=16, seed=0), x, y, epochs=1, progress=False)
    model_path, opt_path = tmp_path / "model.npz", tmp_path / "optimizer.npz"
    checkpoint.save_model(model_path, model, ARCH, checkpoint.Preprocessing())
    tg.save(opt.state_dict(), opt_path)
    before = {path: path.read_bytes() for path in (model_path, opt_path)}
    fit(model, opt, DataLoader(x, y, batch_size=16, seed=1), x, y, epochs=1, progress=False)

    def power_cut(src, dst):
        raise OSError(5, "Input/output error", str(dst))

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="Input/output error"):
        checkpoint.save_model(model_path, model, ARCH, checkpoint.Preprocessing())
    with pytest.raises(OSError, match="Input/output error"):
        tg.save(opt.state_dict(), opt_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "optimizer.npz"]  # no temporaries
    assert all(path.read_bytes() == payload for path, payload in before.items())
    checkpoint.load_model(model_path)
    optim.Adam(model.parameters(), lr=0.01).load_state_dict(tg.load(opt_path))


def test_a_damaged_byte_in_the_weights_is_caught_on_load(tmp_path):
    model = small_problem()[2]
    path = tmp_path / "model.npz"
    checkpoint.save_model(path, model, ARCH, checkpoint.Preprocessing())
    payload = bytearray(path.read_bytes())
    weights = bytes(model.state_dict()["0.weight"].tobytes())
    at = bytes(payload).index(weights) + 10  # a byte inside the stored first-layer weights
    payload[at] ^= 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(ModelFileError, match=r"model.npz cannot be read .*Bad CRC-32"):
        checkpoint.load_model(path)


class Trap:
    """Unpickling this object creates the folder ``marker``: the proof that loading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def write_trap(path, marker):
    np.savez(path, **{"0.weight": np.ones((2, 2)), "payload": np.array([Trap(marker)], dtype=object)})


def test_the_trap_really_runs_code_when_unpickled(tmp_path):
    write_trap(tmp_path / "trap.npz", tmp_path / "ran")
    with np.load(tmp_path / "trap.npz", allow_pickle=True) as archive:
        archive["payload"]
    assert (tmp_path / "ran").is_dir()  # so the tests below would notice if loading ran it


@pytest.mark.parametrize("load, error", [(tg.load, ValueError), (checkpoint.load_model, ModelFileError)])
def test_loading_a_file_with_a_pickled_payload_refuses_it_without_running_it(tmp_path, load, error):
    write_trap(tmp_path / "trap.npz", tmp_path / "ran")
    with pytest.raises(error, match="pickled object array"):
        load(tmp_path / "trap.npz")
    assert not (tmp_path / "ran").exists()


def test_only_the_hash_checked_mnist_pickle_is_ever_unpickled():
    """A scan of the package: np.load always with allow_pickle=False, pickle.load(s) only in data/nielsen.py."""
    unpicklers = []
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in ("pickle.load", "pickle.loads", "pickle.Unpickler"):
                unpicklers.append(source.relative_to(PACKAGE).as_posix())
            if name in ("np.load", "numpy.load"):
                flags = {k.arg: ast.unparse(k.value) for k in node.keywords}
                assert flags.get("allow_pickle") == "False", f"{source}: {ast.unparse(node)}"
    assert unpicklers == ["data/nielsen.py"]
