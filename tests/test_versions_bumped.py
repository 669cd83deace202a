"""Every write the package makes into a parameter raises its ``_version``: optimizer steps (SGD, Adam,
AdamW), optim.minimize, the nn.init fill functions, Module.load_state_dict and Module.double()/float();
reading (state_dict, a forward pass) leaves it alone."""

import numpy as np
import pytest

from tinygrad_edu import Tensor, nn, optim

OPTIMIZERS = [
    (optim.SGD, {"lr": 0.1}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (optim.Adam, {"lr": 0.1}),
    (optim.Adam, {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}),
    (optim.AdamW, {"lr": 0.1}),
]


def case_id(value):
    return value.__name__ if isinstance(value, type) else str(value)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("opt_class, hyper", OPTIMIZERS, ids=case_id)
def test_each_optimizer_step_raises_the_version_of_every_parameter_it_updates_by_one(opt_class, hyper, shape):
    updated, untouched = nn.Parameter(np.ones(shape)), nn.Parameter(np.ones(shape))
    opt = opt_class([updated, untouched], **hyper)
    for step in range(1, 4):
        updated.grad = Tensor(np.full(shape, 0.5))  # `untouched` has no gradient and is skipped
        opt.step()
        assert updated._version == step
        assert untouched._version == 0


def test_minimize_raises_the_version_at_every_evaluation_and_at_the_final_write():
    pytest.importorskip("scipy", reason="scipy is not installed: optim.minimize needs it")
    w = nn.Parameter(np.array([3.0, -1.0]))
    result = optim.minimize([w], lambda: ((w - Tensor(np.array([1.0, 2.0]))) ** 2).sum(), method="CG")
    assert result.nfev >= 1 and w._version == result.nfev + 1  # one write per evaluation, one for result.x


@pytest.mark.parametrize("fill", [
    lambda p: nn.init.uniform_(p, -1, 1, seed=0), lambda p: nn.init.normal_(p, seed=0), nn.init.zeros_,
    nn.init.ones_, lambda p: nn.init.constant_(p, 0.5), lambda p: nn.init.xavier_uniform_(p, seed=0),
    lambda p: nn.init.kaiming_uniform_(p, seed=0), lambda p: nn.init.centered_uniform_(p, seed=0),
    lambda p: nn.init.fan_in_uniform_(p, seed=0), lambda p: nn.init.epsilon_uniform_(p, seed=0),
    lambda p: nn.init.standard_normal_(p, seed=0),
], ids=["uniform_", "normal_", "zeros_", "ones_", "constant_", "xavier_uniform_", "kaiming_uniform_",
        "centered_uniform_", "fan_in_uniform_", "epsilon_uniform_", "standard_normal_"])
def test_each_init_function_raises_the_version_by_one(fill):
    p = nn.Parameter(np.full((3, 4), 7.0))
    assert fill(p) is p
    assert p._version == 1 and not np.all(p.data == 7.0)


def test_load_state_dict_raises_the_version_of_every_parameter_it_writes():
    source, target = nn.MLP([3, 4, 2], seed=0), nn.MLP([3, 4, 2], seed=1)
    before = {name: p._version for name, p in target.named_parameters()}
    target.load_state_dict(source.state_dict())
    assert {name: p._version - before[name] for name, p in target.named_parameters()} == dict.fromkeys(before, 1)


def test_a_non_strict_load_raises_only_the_versions_of_the_parameters_it_writes():
    model = nn.Linear(2, 1, seed=0)
    weight_before, bias_before = model.weight._version, model.bias._version
    model.load_state_dict({"weight": np.zeros((1, 2), dtype=np.float32)}, strict=False)
    assert model.weight._version == weight_before + 1 and model.bias._version == bias_before


def test_double_and_float_raise_the_version_only_when_the_dtype_changes():
    model = nn.Linear(2, 1, seed=0)  # float32
    before = model.weight._version
    model.float()
    assert model.weight._version == before
    model.double()
    assert model.weight._version == before + 1
    model.double()
    assert model.weight._version == before + 1
    model.float()
    assert model.weight._version == before + 2


def test_reading_parameters_leaves_their_versions_alone():
    model = nn.MLP([3, 4, 2], seed=0)
    before = [p._version for p in model.parameters()]
    model.state_dict()
    model(Tensor(np.ones((1, 3), dtype=np.float32)))
    optim.SGD(model.parameters(), lr=0.1).state_dict()
    assert [p._version for p in model.parameters()] == before
