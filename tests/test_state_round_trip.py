"""Interrupted training resumes bit for bit: train N steps in one go, or train k steps, save the model,
optimizer and scheduler state with tg.save, load it with tg.load into a freshly built model,
optimizer and scheduler, and train the remaining N - k steps -- both end with identical bits.

The table covers every optimizer configuration (SGD plain, with momentum, Nesterov, dampening and
weight decay; Adam with and without weight decay and amsgrad; AdamW with and without amsgrad) x
parameter shapes (0-d, 1-d, 2-d) x float32 and float64 x no scheduler, StepLR and CosineAnnealingLR.
When torch is installed, the resumed float64 runs are also compared with uninterrupted torch.optim
runs.
"""

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor, nn, optim
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR

N_STEPS, K_STEPS = 6, 3

OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01, "nesterov": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.1, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.05, "amsgrad": True}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.2, "amsgrad": True}),
]
SHAPES = [(), (3,), (2, 3)]
DTYPES = [np.float32, np.float64]
SCHEDULERS = [None, ("StepLR", {"step_size": 2, "gamma": 0.5}), ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01})]


def label(value):
    if value is None:
        return "no_scheduler"
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return f"{value[0]}{value[1]}"
    return str(value)


class Quadratic(nn.Module):
    """One parameter ``w`` of any shape; loss = sum(c * (w - target)^2) + 0.1 * sum(w^4), a curved bowl."""

    def __init__(self, shape, dtype, fill=None):
        super().__init__()
        rng = np.random.default_rng(len(shape))
        start = rng.standard_normal(shape)  # drawn either way, so target and scale do not depend on fill
        if fill is not None:
            start = np.full(shape, fill)
        self.w = nn.Parameter(np.asarray(start, dtype=dtype))
        self.target = np.asarray(rng.standard_normal(shape) + 2.0, dtype=dtype)
        self.scale = np.asarray(rng.uniform(0.5, 2.0, shape), dtype=dtype)

    def forward(self):
        diff = self.w - Tensor(self.target)
        return (diff * diff * Tensor(self.scale)).sum() + (self.w ** 4).sum() * 0.1


def build(opt_name, hyper, sched, shape, dtype, fill=None, **override):
    model = Quadratic(shape, dtype, fill)
    opt = getattr(optim, opt_name)(model.parameters(), **{**hyper, **override})
    scheduler = None if sched is None else getattr(optim.lr_scheduler, sched[0])(opt, **sched[1])
    return model, opt, scheduler


def train(model, opt, scheduler, steps):
    for _ in range(steps):
        opt.zero_grad()
        model().backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()


def checkpoint_and_resume(tmp_path, opt_name, hyper, sched, shape, dtype, load_optimizer=True, fresh_lr=123.0):
    """Train K_STEPS, write everything to a file, rebuild from it, train the rest; returns the rebuilt parts.

    The rebuilt model starts from other values and the rebuilt optimizer from another learning rate
    (``fresh_lr``), so everything the resumed run uses must come from the file.
    """
    model, opt, scheduler = build(opt_name, hyper, sched, shape, dtype)
    train(model, opt, scheduler, K_STEPS)
    path = tmp_path / "checkpoint.npz"
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": None if scheduler is None else scheduler.state_dict()}, path)
    saved = tg.load(path)
    override = {} if fresh_lr is None else {"lr": fresh_lr}
    fresh_model, fresh_opt, fresh_sched = build(opt_name, hyper, sched, shape, dtype, fill=-7.0, **override)
    fresh_model.load_state_dict(saved["model"])
    if load_optimizer:
        fresh_opt.load_state_dict(saved["optimizer"])
    if fresh_sched is not None:
        fresh_sched.load_state_dict(saved["scheduler"])
    train(fresh_model, fresh_opt, fresh_sched, N_STEPS - K_STEPS)
    return fresh_model, fresh_opt, fresh_sched


def assert_same_bits(a, b, where):
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
    assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    assert np.array_equal(a, b), f"{where}: {a!r} vs {b!r}"


@pytest.mark.parametrize("sched", SCHEDULERS, ids=label)
@pytest.mark.parametrize("dtype", DTYPES, ids=label)
@pytest.mark.parametrize("shape", SHAPES, ids=label)
@pytest.mark.parametrize("opt_name, hyper", OPTIMIZERS, ids=label)
def test_resuming_from_a_saved_file_ends_bit_for_bit_where_uninterrupted_training_ends(
        tmp_path, opt_name, hyper, sched, shape, dtype):
    model, opt, scheduler = build(opt_name, hyper, sched, shape, dtype)
    train(model, opt, scheduler, N_STEPS)
    resumed_model, resumed_opt, resumed_sched = checkpoint_and_resume(tmp_path, opt_name, hyper, sched, shape, dtype)

    assert_same_bits(resumed_model.w.data, model.w.data, "parameter")
    ours, theirs = resumed_opt.state_dict(), opt.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert list(ours["state"]) == list(theirs["state"])
    for index, entries in theirs["state"].items():
        assert list(ours["state"][index]) == list(entries)
        for field, value in entries.items():
            if isinstance(value, np.ndarray):
                assert_same_bits(ours["state"][index][field], value, f"state {index} {field}")
            else:
                assert type(ours["state"][index][field]) is type(value) and ours["state"][index][field] == value
    if scheduler is not None:
        assert resumed_sched.get_last_lr() == scheduler.get_last_lr()
        assert resumed_sched.state_dict() == scheduler.state_dict()
    assert not np.array_equal(model.w.data, Quadratic(shape, dtype).w.data)  # training moved the parameter


STATEFUL = [(name, hyper) for name, hyper in OPTIMIZERS if name != "SGD" or hyper.get("momentum")]


@pytest.mark.parametrize("shape", SHAPES, ids=label)
@pytest.mark.parametrize("opt_name, hyper", STATEFUL, ids=label)
def test_resuming_without_the_optimizer_state_ends_elsewhere(tmp_path, opt_name, hyper, shape):
    """The round-trip check is sensitive: dropping the momentum or moment state changes the end point."""
    model, opt, _ = build(opt_name, hyper, None, shape, np.float64)
    train(model, opt, None, N_STEPS)
    fresh_model, _, _ = checkpoint_and_resume(tmp_path, opt_name, hyper, None, shape, np.float64,
                                              load_optimizer=False, fresh_lr=None)
    # same hyperparameters, but the momentum buffer / moments (and Adam's step count) start over
    assert not np.array_equal(fresh_model.w.data, model.w.data)


@pytest.mark.parametrize("opt_name, hyper", STATEFUL, ids=label)
def test_a_0d_parameter_gets_its_state_back_as_0d_arrays_that_later_steps_update(tmp_path, opt_name, hyper):
    model, opt, _ = build(opt_name, hyper, None, (), np.float64)
    train(model, opt, None, K_STEPS)
    tg.save(opt.state_dict(), tmp_path / "opt.npz")
    fresh_opt = getattr(optim, opt_name)([model.w], **hyper)
    fresh_opt.load_state_dict(tg.load(tmp_path / "opt.npz"))
    state = fresh_opt.state[model.w]
    arrays = {field: value for field, value in state.items() if field != "step"}
    assert arrays and all(type(value) is np.ndarray and value.shape == () for value in arrays.values())
    before = {field: value.copy() for field, value in arrays.items()}
    train(model, fresh_opt, None, 1)
    assert all(fresh_opt.state[model.w][field] is value for field, value in arrays.items())
    assert any(not np.array_equal(value, before[field]) for field, value in arrays.items())


def adam_on_the_shifted_square(resume_at=None, tmp_path=None):
    """Adam(lr=0.1) on (w - 3)^2 from w = 1.0 (a 0-d float64 parameter), 6 steps; optionally resumed."""
    w = nn.Parameter(np.array(1.0))
    opt = optim.Adam([w], lr=0.1)
    for step in range(6):
        if step == resume_at:
            tg.save({"w": w.data, "optimizer": opt.state_dict()}, tmp_path / "adam.npz")
            saved = tg.load(tmp_path / "adam.npz")
            w = nn.Parameter(saved["w"])
            opt = optim.Adam([w], lr=0.1)
            opt.load_state_dict(saved["optimizer"])
        opt.zero_grad()
        ((w - 3.0) ** 2).backward()
        opt.step()
    return w.data


def test_adam_on_a_0d_parameter_resumed_after_step_3_ends_at_1_594868(tmp_path):
    uninterrupted = adam_on_the_shifted_square()
    resumed = adam_on_the_shifted_square(resume_at=3, tmp_path=tmp_path)
    assert round(float(uninterrupted), 6) == 1.594868
    assert_same_bits(resumed, uninterrupted, "w after 6 steps")


def test_sgd_momentum_on_a_0d_parameter_resumed_after_step_3_ends_where_uninterrupted_training_ends(tmp_path):
    def run(resume):
        w = nn.Parameter(np.array(1.0))
        opt = optim.SGD([w], lr=0.1, momentum=0.9)
        for step in range(6):
            if resume and step == 3:
                tg.save(opt.state_dict(), tmp_path / "sgd.npz")
                opt = optim.SGD([w], lr=0.1, momentum=0.9)
                opt.load_state_dict(tg.load(tmp_path / "sgd.npz"))
            opt.zero_grad()
            ((w - 3.0) ** 2).backward()
            opt.step()
        return w.data

    # by hand: g = 2(w - 3), b <- 0.9 b + g, w <- w - 0.1 b, six times from w = 1
    w, b = 1.0, None
    for _ in range(6):
        g = 2 * (w - 3.0)
        b = g if b is None else 0.9 * b + g
        w = w - 0.1 * b
    uninterrupted = run(False)
    assert float(uninterrupted) == pytest.approx(w, rel=1e-15)
    assert_same_bits(run(True), uninterrupted, "w after 6 steps")


def test_a_scheduler_built_after_the_optimizer_state_was_loaded_continues_the_schedule(tmp_path):
    hyper, sched = {"lr": 0.1, "momentum": 0.9}, ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01})
    model, opt, scheduler = build("SGD", hyper, sched, (3,), np.float64)
    train(model, opt, scheduler, N_STEPS)

    first, first_opt, first_sched = build("SGD", hyper, sched, (3,), np.float64)
    train(first, first_opt, first_sched, K_STEPS)
    tg.save({"model": first.state_dict(), "optimizer": first_opt.state_dict(),
             "scheduler": first_sched.state_dict()}, tmp_path / "c.npz")
    saved = tg.load(tmp_path / "c.npz")
    again = Quadratic((3,), np.float64)
    again.load_state_dict(saved["model"])
    again_opt = optim.SGD(again.parameters(), **hyper)
    again_opt.load_state_dict(saved["optimizer"])
    again_sched = CosineAnnealingLR(again_opt, **sched[1])  # construction must not reset the restored rate
    again_sched.load_state_dict(saved["scheduler"])
    train(again, again_opt, again_sched, N_STEPS - K_STEPS)
    assert_same_bits(again.w.data, model.w.data, "parameter")


# ---- optional: the resumed runs against uninterrupted torch.optim runs -------------------------------

@pytest.mark.parametrize("sched", SCHEDULERS, ids=label)
@pytest.mark.parametrize("shape", SHAPES, ids=label)
@pytest.mark.parametrize("opt_name, hyper", OPTIMIZERS, ids=label)
def test_resumed_float64_training_matches_uninterrupted_torch_training(tmp_path, opt_name, hyper, sched, shape):
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    resumed_model, _, _ = checkpoint_and_resume(tmp_path, opt_name, hyper, sched, shape, np.float64)

    reference = Quadratic(shape, np.float64)
    w = torch.tensor(reference.w.data.copy(), requires_grad=True)
    target, scale = torch.tensor(reference.target), torch.tensor(reference.scale)
    opt = getattr(torch.optim, opt_name)([w], **hyper)
    scheduler = None if sched is None else getattr(torch.optim.lr_scheduler, sched[0])(opt, **sched[1])
    for _ in range(N_STEPS):
        opt.zero_grad()
        ((w - target) ** 2 * scale + 0.1 * w ** 4).sum().backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    theirs = w.detach().numpy()
    assert resumed_model.w.shape == theirs.shape
    np.testing.assert_allclose(resumed_model.w.data, theirs, rtol=0, atol=1e-12)


def test_the_shifted_square_example_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    for _ in range(6):
        opt.zero_grad()
        ((w - 3.0) ** 2).backward()
        opt.step()
    assert float(adam_on_the_shifted_square()) == pytest.approx(w.item(), rel=0, abs=1e-12)
