"""Learning-rate schedulers: the lr of every epoch against PyTorch's closed forms, jumps to an epoch,
state_dict resume, several param groups, and (when torch is installed) value-for-value parity."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import nn, optim
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, StepLR


def make_optimizer(lr=0.1, second_lr=None):
    groups = [{"params": [nn.Parameter(np.zeros(1))]}]
    if second_lr is not None:
        groups.append({"params": [nn.Parameter(np.zeros(1))], "lr": second_lr})
    return optim.SGD(groups, lr=lr)


def schedule(scheduler, epochs):
    """The lr in force during each epoch: read, train (optimizer.step), then scheduler.step()."""
    lrs = []
    for _ in range(epochs):
        lrs.append(scheduler.get_last_lr())
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def step_closed_form(base, step_size, gamma, epoch):
    return base * gamma ** (epoch // step_size)


def cosine_closed_form(base, eta_min, t_max, epoch):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2


@given(step_size=st.integers(1, 6), gamma=st.floats(0.05, 0.95), base=st.floats(1e-4, 1.0))
def test_step_lr_follows_the_closed_form_every_epoch(step_size, gamma, base):
    lrs = schedule(StepLR(make_optimizer(base), step_size, gamma), 30)
    for epoch, (lr,) in enumerate(lrs):
        # the chained multiplications agree with base * gamma**k up to rounding
        assert lr == pytest.approx(step_closed_form(base, step_size, gamma, epoch), rel=1e-12, abs=0)


def test_step_lr_exact_values():
    lrs = [lr for (lr,) in schedule(StepLR(make_optimizer(1.0), step_size=3, gamma=0.5), 10)]
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


@given(t_max=st.integers(1, 12), eta_min=st.sampled_from([0.0, 1e-3, 0.01]), base=st.floats(0.02, 1.0))
def test_cosine_annealing_follows_the_closed_form_within_the_first_period(t_max, eta_min, base):
    lrs = schedule(CosineAnnealingLR(make_optimizer(base), t_max, eta_min), 2 * t_max + 1)
    for epoch, (lr,) in enumerate(lrs):
        # PyTorch's recursive rule equals the closed form up to rounding, for all epochs (period 2 T_max)
        assert lr == pytest.approx(cosine_closed_form(base, eta_min, t_max, epoch), rel=1e-9, abs=1e-12)


def test_cosine_annealing_reaches_eta_min_at_t_max_and_starts_at_base():
    lrs = [lr for (lr,) in schedule(CosineAnnealingLR(make_optimizer(0.5), T_max=10, eta_min=0.01), 11)]
    assert lrs[0] == 0.5 and lrs[10] == pytest.approx(0.01, abs=1e-15)
    assert all(a > b for a, b in itertools.pairwise(lrs))


def test_every_param_group_is_scheduled_from_its_own_base_lr():
    opt = make_optimizer(1.0, second_lr=0.1)
    lrs = schedule(StepLR(opt, step_size=2, gamma=0.1), 5)
    assert [a for a, _ in lrs] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01], rel=1e-12)
    assert [b for _, b in lrs] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001], rel=1e-12)
    assert [g["initial_lr"] for g in opt.param_groups] == [1.0, 0.1]


def test_scheduler_sets_the_learning_rate_the_optimizer_uses():
    w = nn.Parameter(np.array([0.0]))
    opt = optim.SGD([w], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = nn.Parameter(np.array([1.0]))
        opt.step()
        sched.step()
    assert w.data.tolist() == [-(1.0 + 0.5 + 0.25)]


def test_step_with_an_epoch_jumps_by_the_closed_form():
    sched = CosineAnnealingLR(make_optimizer(1.0), T_max=8)
    sched.step(epoch=4)
    assert sched.get_last_lr() == [pytest.approx(0.5, abs=1e-15)]
    step = StepLR(make_optimizer(1.0), step_size=2, gamma=0.5)
    step.step(epoch=7)
    assert step.get_last_lr() == [0.125]


def test_state_dict_round_trip_continues_the_schedule():
    opt = make_optimizer(1.0)
    sched = CosineAnnealingLR(opt, T_max=10)
    schedule(sched, 4)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    expected = schedule(sched, 6)

    opt2 = make_optimizer(1.0)
    opt2.load_state_dict(saved_opt)
    sched2 = CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(saved_sched)
    assert schedule(sched2, 6) == expected
    assert "optimizer" not in saved_sched


def test_state_dict_is_a_snapshot_that_later_steps_do_not_change():
    sched = StepLR(make_optimizer(1.0, second_lr=0.5), step_size=1, gamma=0.5)
    saved = sched.state_dict()
    snapshot = {key: list(value) if isinstance(value, list) else value for key, value in saved.items()}
    schedule(sched, 3)
    sched.base_lrs.append(7.0)  # even a list changed in place behind the scheduler's back
    assert saved == snapshot


def test_loaded_state_is_copied_so_the_dict_does_not_alias_the_scheduler():
    source = StepLR(make_optimizer(1.0), step_size=1, gamma=0.5)
    schedule(source, 2)
    saved = source.state_dict()
    target = StepLR(make_optimizer(1.0), step_size=1, gamma=0.5)
    target.load_state_dict(saved)
    target.base_lrs[0] = 99.0
    assert saved["base_lrs"] == [1.0]


def test_load_state_dict_refuses_another_schedulers_state_and_changes_nothing():
    cosine = CosineAnnealingLR(make_optimizer(1.0), T_max=4)
    step = StepLR(make_optimizer(1.0), step_size=2)
    before = step.state_dict()
    with pytest.raises(KeyError, match=r"not the state of a StepLR \(missing keys: gamma, step_size; unexpected keys: "
                                       r"T_max, eta_min\)"):
        step.load_state_dict(cosine.state_dict())
    assert step.state_dict() == before
    with pytest.raises(KeyError, match="unexpected keys: optimizer"):
        step.load_state_dict({**before, "optimizer": make_optimizer()})
    with pytest.raises(TypeError, match="expects the dict from state_dict\\(\\), got list"):
        step.load_state_dict([1, 2])


def test_resuming_with_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match="param group 0 has no 'initial_lr'"):
        StepLR(make_optimizer(), step_size=1, last_epoch=3)


def test_argument_errors():
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        StepLR(make_optimizer(), step_size=0)
    with pytest.raises(ValueError, match="T_max must be positive"):
        CosineAnnealingLR(make_optimizer(), T_max=0)
    with pytest.raises(TypeError, match="needs an Optimizer"):
        StepLR([1, 2], step_size=1)


@pytest.mark.parametrize("name, kwargs", [("StepLR", {"step_size": 3, "gamma": 0.7}),
                                          ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
                                          ("CosineAnnealingLR", {"T_max": 1})], ids=str)
def test_schedules_match_torch_value_for_value(name, kwargs):
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    ours = schedule(getattr(optim.lr_scheduler, name)(make_optimizer(0.3), **kwargs), 25)
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    theirs_sched = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    theirs = []
    for _ in range(25):
        theirs.append(theirs_sched.get_last_lr())
        torch_opt.step()
        theirs_sched.step()
    diff = max(abs(a[0] - b[0]) for a, b in zip(ours, theirs))
    print(f"{name} {kwargs}: max |ours - torch| over 25 epochs = {diff:.2e}")
    assert diff == 0.0
