"""nn.Module / nn.Parameter: registration, naming, traversal order, modes, state dicts, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor, nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, dtype=np.float64, seed=0)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2, dtype=np.float64, seed=1)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Tied(nn.Module):
    """Two layers sharing one weight Parameter (weight tying)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3, dtype=np.float64, seed=0)
        self.b = nn.Linear(3, 3, dtype=np.float64, seed=1)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def test_parameter_is_a_tensor_that_requires_grad_and_keeps_dtype():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float64))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float64 and p.shape == (2, 3)
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    t = Tensor(np.ones(2))
    assert nn.Parameter(t).data is t.data
    assert repr(p).startswith("Parameter containing:")


def test_named_parameters_uses_dotted_attribute_names_in_registration_order():
    names = [name for name, _ in TwoLayer().named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_sequential_names_parameters_by_index():
    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU(), nn.Linear(3, 1, seed=1))
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_from_ordered_dict_uses_its_keys():
    model = nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 3, seed=0)), ("relu", nn.ReLU())]))
    assert [name for name, _ in model.named_parameters()] == ["fc1.weight", "fc1.bias"]
    assert isinstance(model.relu, nn.ReLU)


def test_parameters_order_is_stable_and_matches_named_parameters():
    model = TwoLayer()
    first = [id(p) for p in model.parameters()]
    second = [id(p) for p in model.parameters()]
    assert first == second == [id(p) for _, p in model.named_parameters()]
    assert first == [id(model.fc1.weight), id(model.fc1.bias), id(model.fc2.weight), id(model.fc2.bias)]


def test_shared_parameter_is_listed_once_under_its_first_name():
    model = Tied()
    params = list(model.parameters())
    assert len(params) == 3 and len({id(p) for p in params}) == 3
    assert [name for name, _ in model.named_parameters()] == ["a.weight", "a.bias", "b.bias"]


def test_shared_parameter_gets_the_sum_of_both_uses_gradients():
    model = Tied()
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    assert tg.gradcheck(lambda w: model(x).sum(), (model.a.weight,))


def test_state_dict_keeps_every_name_of_a_shared_parameter():
    state = Tied().state_dict()
    assert list(state) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    np.testing.assert_array_equal(state["a.weight"], state["b.weight"])


def test_shared_submodule_is_visited_once():
    shared = nn.Linear(2, 2, seed=0)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert [name for name, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert [name for name, _ in model.named_parameters(remove_duplicate=False)] == \
        ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_state_dict_of_a_module_used_twice_holds_it_under_both_names_and_loads_back():
    shared = nn.Sequential(nn.Linear(2, 2, seed=0), nn.BatchNorm1d(2))
    model = nn.Sequential(shared, nn.ReLU(), shared)
    state = model.state_dict()
    assert list(state) == [f"{i}.{k}" for i in (0, 2) for k in ("0.weight", "0.bias", "1.weight", "1.bias",
                                                                 "1.running_mean", "1.running_var",
                                                                 "1.num_batches_tracked")]
    state = {k: v + 1 if v.dtype.kind == "f" else v for k, v in state.items()}
    assert model.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(shared[0].weight.data, state["2.0.weight"])
    np.testing.assert_array_equal(shared[1].running_var, state["2.1.running_var"])
    assert len(list(model.buffers())) == 3  # each buffer once, as parameters()


def test_state_dict_of_a_module_used_twice_round_trips_with_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    theirs_layer = torch.nn.Linear(2, 2)
    theirs = torch.nn.Sequential(theirs_layer, torch.nn.ReLU(), theirs_layer)
    ours_layer = nn.Linear(2, 2, seed=0)
    ours = nn.Sequential(ours_layer, nn.ReLU(), ours_layer)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours_layer.weight.data, theirs_layer.weight.detach().numpy())
    theirs.load_state_dict({k: torch.from_numpy(v * 2) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(theirs_layer.bias.detach().numpy(), ours_layer.bias.data * 2)


def test_reassigning_an_attribute_replaces_the_registration():
    model = TwoLayer()
    model.fc2 = nn.Linear(4, 5, seed=0)
    assert [n for n, _ in model.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert model.fc2.out_features == 5
    model.fc2 = None
    assert [n for n, _ in model.named_parameters()] == ["fc1.weight", "fc1.bias"]
    del model.fc1
    assert list(model.named_parameters()) == []


def test_plain_tensors_and_numbers_are_not_registered():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.constant = Tensor(np.ones(2))
            self.count = 3
            self.weight = nn.Parameter(np.zeros(2))

    assert [n for n, _ in M().named_parameters()] == ["weight"]


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_children_and_modules():
    model = TwoLayer()
    assert [type(c).__name__ for c in model.children()] == ["Linear", "ReLU", "Linear"]
    assert [name for name, _ in model.named_children()] == ["fc1", "act", "fc2"]
    assert [name for name, _ in model.named_modules()] == ["", "fc1", "act", "fc2"]
    nested = nn.Sequential(TwoLayer(), nn.Sequential(nn.Linear(2, 2, seed=0)))
    assert [name for name, _ in nested.named_parameters()][-2:] == ["1.0.weight", "1.0.bias"]


def test_train_and_eval_set_the_flag_on_every_descendant():
    model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_clears_every_parameter_gradient():
    model = TwoLayer()
    model(Tensor(np.ones((2, 3)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_call_runs_forward_and_missing_forward_is_an_error():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_state_dict_is_a_snapshot_of_copies():
    model = TwoLayer()
    state = model.state_dict()
    assert list(state) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    before = state["fc1.weight"].copy()
    model.fc1.weight.data += 1
    np.testing.assert_array_equal(state["fc1.weight"], before)


def test_load_state_dict_copies_in_place_bit_exactly():
    source, target = TwoLayer(), TwoLayer()
    for p in source.parameters():
        p.data[...] = np.random.default_rng(7).standard_normal(p.shape)
    arrays_before = [p.data for p in target.parameters()]
    assert target.load_state_dict(source.state_dict()) == ([], [])
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert a.tobytes() == b.tobytes(), name
    assert all(p.data is arr for p, arr in zip(target.parameters(), arrays_before))


def test_load_state_dict_keeps_the_models_dtype():
    model = nn.Linear(2, 2, seed=0)  # float32
    state = {k: v.astype(np.float64) for k, v in nn.Linear(2, 2, dtype=np.float64, seed=3).state_dict().items()}
    model.load_state_dict(state)
    assert model.weight.dtype == np.float32
    np.testing.assert_allclose(model.weight.data, state["weight"], rtol=1e-6)


def test_strict_load_lists_missing_unexpected_and_mismatched_keys_by_name():
    model = TwoLayer()
    state = model.state_dict()
    del state["fc1.bias"]
    state["fc3.weight"] = np.zeros(2)
    state["fc2.weight"] = np.zeros((7, 7))
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(KeyError, match="missing keys: fc1.bias") as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: fc1.bias" in message
    assert "unexpected keys: fc3.weight" in message
    assert "fc2.weight: checkpoint (7, 7) vs model (2, 4)" in message
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters())), "nothing may be loaded"


def test_non_strict_load_reports_missing_and_unexpected_but_loads_the_rest():
    model = TwoLayer()
    state = {"fc1.weight": np.full((4, 3), 0.5), "extra": np.zeros(1)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["fc1.bias", "fc2.weight", "fc2.bias"] and unexpected == ["extra"]
    assert np.all(model.fc1.weight.data == 0.5)


def test_non_strict_load_still_refuses_shape_mismatches():
    with pytest.raises(KeyError, match=r"fc1.weight: checkpoint \(1,\) vs model \(4, 3\)"):
        TwoLayer().load_state_dict({"fc1.weight": np.zeros(1)}, strict=False)


def test_load_state_dict_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="dict of name -> array"):
        TwoLayer().load_state_dict([1, 2])


def test_a_model_with_0d_parameters_round_trips_through_a_file(tmp_path):
    class Scalars(nn.Module):
        def __init__(self, a, b):
            super().__init__()
            self.a, self.b = nn.Parameter(np.array(a)), nn.Parameter(np.array(b, dtype=np.float32))

    source, target = Scalars(0.1, -2.5), Scalars(0.0, 0.0)
    tg.save(source.state_dict(), tmp_path / "s.npz")
    target.load_state_dict(tg.load(tmp_path / "s.npz"))
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert a.shape == b.shape == () and a.dtype == b.dtype and a.tobytes() == b.tobytes(), name


# ---- double() / float() ------------------------------------------------------------------------------

def test_double_casts_every_parameter_in_place_keeping_the_parameter_objects():
    model = nn.MLP([3, 4, 2], seed=0)  # float32
    params = list(model.parameters())
    values = [p.data.copy() for p in params]
    assert model.double() is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    for p, before in zip(params, values):
        assert p.dtype == np.float64 and p.requires_grad and p.is_leaf
        assert np.array_equal(p.data, before.astype(np.float64))  # float32 -> float64 is exact


def test_float_rounds_every_parameter_to_the_nearest_float32():
    model = TwoLayer()  # float64
    values = [p.data.copy() for p in model.parameters()]
    assert model.float() is model
    for p, before in zip(model.parameters(), values):
        assert p.dtype == np.float32 and np.array_equal(p.data, before.astype(np.float32))


def test_double_and_float_cast_existing_gradients_too():
    model = nn.Linear(2, 1, seed=0)
    model.weight.grad = Tensor(np.array([[0.5, -1.5]], dtype=np.float32))
    model.double()
    assert model.weight.grad.dtype == np.float64 and model.weight.grad.data.tolist() == [[0.5, -1.5]]
    assert model.bias.grad is None
    model.float()
    assert model.weight.grad.dtype == np.float32 and model.weight.grad.data.tolist() == [[0.5, -1.5]]


def test_a_shared_parameter_is_cast_once():
    model = Tied().float()
    assert model.a.weight is model.b.weight and model.b.weight.dtype == np.float32


def test_an_optimizer_built_before_double_trains_the_cast_model_like_one_built_in_float64():
    x, y = Tensor(np.random.default_rng(0).standard_normal((5, 3))), np.random.default_rng(1).standard_normal((5, 2))

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()

    cast = nn.MLP([3, 4, 2], seed=0)
    opt = tg.optim.Adam(cast.parameters(), lr=0.01)
    cast.double()
    train(cast, opt, 5)

    native = nn.MLP([3, 4, 2], seed=0).double()
    train(native, tg.optim.Adam(native.parameters(), lr=0.01), 5)
    for (name, a), b in zip(cast.state_dict().items(), native.state_dict().values()):
        assert a.dtype == np.float64 and a.tobytes() == b.tobytes(), name


def test_double_casts_gradients_as_torch_does():
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    theirs = torch.nn.Linear(2, 1)
    theirs.weight.grad = torch.ones(1, 2)
    theirs.double()
    ours = nn.Linear(2, 1, seed=0)
    ours.weight.grad = Tensor(np.ones((1, 2), dtype=np.float32))
    ours.double()
    assert str(theirs.weight.grad.dtype) == "torch.float64" and ours.weight.grad.dtype == np.float64
    assert theirs.bias.grad is None and ours.bias.grad is None


def test_module_list_is_indexable_iterable_and_registers_children():
    blocks = nn.ModuleList([nn.Linear(2, 2, seed=i) for i in range(3)])
    assert len(blocks) == 3 and blocks[-1] is list(blocks)[2]
    assert [n for n, _ in blocks.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert len(blocks[1:]) == 2
    with pytest.raises(IndexError, match="out of range for a ModuleList of length 3"):
        blocks[3]
    with pytest.raises(TypeError, match="expected a Module"):
        blocks.append(3)


def test_repr_reads_like_pytorchs_module_tree():
    model = nn.Sequential(nn.Linear(784, 16, seed=0), nn.ReLU(), nn.Sequential(nn.Dropout(0.2), nn.Tanh()))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=16, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.2)\n"
        "    (1): Tanh()\n"
        "  )\n"
        ")"
    )
    assert repr(TwoLayer()).splitlines()[1] == "  (fc1): Linear(in_features=3, out_features=4, bias=True)"


@pytest.mark.parametrize("value", [None, "abc"], ids=["None", "a string"])
def test_load_state_dict_names_a_value_that_is_not_an_array_of_numbers(value):
    model = nn.Linear(2, 3, seed=0)
    state = model.state_dict()
    before = model.weight.data.copy()
    state["bias"] = value
    with pytest.raises(KeyError, match=f"values that are not numbers: bias: checkpoint holds {type(value).__name__}"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model.weight.data, before)  # nothing loaded


class WithCachedMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2, seed=0)
        self.register_buffer("mask", np.ones(2), persistent=False)
        self.register_buffer("count", np.zeros((), dtype=np.int64))


def test_a_non_persistent_buffer_is_a_buffer_but_stays_out_of_the_state_dict():
    model = WithCachedMask()
    assert [name for name, _ in model.named_buffers()] == ["mask", "count"]
    assert list(model.state_dict()) == ["count", "layer.weight", "layer.bias"]
    assert model.load_state_dict(model.state_dict()) == ([], [])  # the mask is not expected
    with pytest.raises(KeyError, match="unexpected keys: mask"):
        model.load_state_dict({**model.state_dict(), "mask": np.zeros(2)})
    model.register_buffer("mask", np.ones(2))  # registered again as persistent: saved again
    assert "mask" in model.state_dict()


def test_recurse_false_lists_only_the_modules_own_parameters_and_buffers():
    model = WithCachedMask()
    assert list(model.parameters(recurse=False)) == []
    assert [name for name, _ in model.layer.named_parameters(recurse=False)] == ["weight", "bias"]
    assert [name for name, _ in model.named_buffers(recurse=False)] == ["mask", "count"]
    assert len(list(nn.Sequential(nn.BatchNorm1d(2)).buffers(recurse=False))) == 0


def test_buffers_and_recurse_match_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)
            self.register_buffer("mask", torch.ones(2), persistent=False)
            self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    theirs, ours = Theirs(), WithCachedMask()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters(recurse=False)] == [n for n, _ in theirs.named_parameters(recurse=False)]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
