"""Convolutional and normalisation layers: buffers, state_dict under PyTorch's keys (a small CNN's
state_dict loads into the same torch.nn architecture and back, with equal outputs), BatchNorm's
running statistics, and the errors the layers raise."""

import numpy as np
import pytest

from tinygrad_edu import Tensor, nn


def small_cnn(seed=0):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), stride=(1, 2), groups=2, seed=seed + 1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6, 5, seed=seed + 2), nn.BatchNorm1d(5), nn.LayerNorm(5), nn.Linear(5, 3, seed=seed + 3),
    )


def torch_cnn(torch):
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 4, 3, padding=1), t.BatchNorm2d(4), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(4, 6, (3, 2), stride=(1, 2), groups=2), t.ReLU(), t.AvgPool2d(2),
        t.Flatten(), t.Linear(6, 5), t.BatchNorm1d(5), t.LayerNorm(5), t.Linear(5, 3),
    ).double()


def test_state_dict_holds_parameters_and_buffers_under_pytorchs_keys():
    state = small_cnn().state_dict()
    assert [k for k in state if k.startswith("1.")] == ["1.weight", "1.bias", "1.running_mean", "1.running_var",
                                                         "1.num_batches_tracked"]
    assert state["1.num_batches_tracked"].dtype == np.int64 and state["1.num_batches_tracked"].shape == ()
    assert "10.weight" in state and "10.running_mean" not in state  # LayerNorm has no buffers


def test_buffers_are_listed_but_are_not_parameters():
    model = small_cnn()
    names = [name for name, _ in model.named_buffers()]
    assert names == ["1.running_mean", "1.running_var", "1.num_batches_tracked",
                     "9.running_mean", "9.running_var", "9.num_batches_tracked"]
    assert len(list(model.buffers())) == 6
    parameter_ids = {id(p.data) for p in model.parameters()}
    assert not any(id(b) in parameter_ids for b in model.buffers())


def test_cnn_state_dict_loads_into_torch_and_back_with_equal_outputs():
    torch = pytest.importorskip("torch", reason="the torch.nn round trip needs torch installed")
    ours = small_cnn().double()
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8))
    ours(Tensor(x))  # one training step moves the running statistics away from their initial values
    theirs = torch_cnn(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # same keys in the same order (zip-able)
    theirs.load_state_dict({k: torch.as_tensor(v) for k, v in ours.state_dict().items()})
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.as_tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)

    theirs.train()
    theirs(torch.as_tensor(x * 2 + 1))  # torch's running statistics move on; ours must follow after loading
    back = small_cnn(seed=5).double()
    back.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(back.state_dict()[key], value.numpy(), rtol=1e-12, err_msg=key)
    back.eval(), theirs.eval()
    np.testing.assert_allclose(back(Tensor(x)).data, theirs(torch.as_tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_training_batch_norm_updates_running_statistics_and_counts_batches():
    layer = nn.BatchNorm2d(2, momentum=0.5)
    x = np.random.default_rng(1).standard_normal((3, 2, 2, 2)).astype(np.float32) + 4
    layer(Tensor(x))
    layer(Tensor(x))
    np.testing.assert_allclose(layer.running_mean, 0.75 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    assert int(layer.num_batches_tracked) == 2 and layer.running_mean.dtype == np.float32
    layer.eval()
    out = layer(Tensor(x))
    expected = (x - layer.running_mean.reshape(1, 2, 1, 1)) / np.sqrt(layer.running_var.reshape(1, 2, 1, 1) + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked) == 2


def test_batch_norm_without_momentum_keeps_the_cumulative_average_of_batch_means():
    layer = nn.BatchNorm1d(2, momentum=None).double()
    batches = [np.random.default_rng(i).standard_normal((4, 2)) + i for i in range(3)]
    for x in batches:
        layer(Tensor(x))
    np.testing.assert_allclose(layer.running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0), rtol=1e-12)


def test_double_casts_float_buffers_and_keeps_integer_ones():
    layer = nn.BatchNorm1d(3).double()
    assert layer.running_mean.dtype == np.float64 and layer.running_var.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64
    assert layer.state_dict()["running_var"].dtype == np.float64


def test_conv2d_init_is_uniform_within_one_over_sqrt_fan_in():
    layer = nn.Conv2d(4, 6, (3, 2), groups=2, seed=0)
    bound = 1 / np.sqrt(2 * 3 * 2)
    assert layer.weight.shape == (6, 2, 3, 2) and layer.bias.shape == (6,)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > bound / 2


@pytest.mark.parametrize(("call", "message"), [
    (lambda: nn.BatchNorm2d(3)(Tensor(np.zeros((2, 4, 2, 2)))), r"BatchNorm2d\(3\) got an input with 4 features on axis 1 \(shape \(2, 4, 2, 2\)\)"),
    (lambda: nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3, 2)))), r"BatchNorm2d: expected an input with 4 axes \(N, C, H, W\), got shape \(2, 3, 2\)"),
    (lambda: nn.BatchNorm1d(3)(Tensor(np.zeros((1, 3)))), r"more than 1 value per channel when training, got input of shape \(1, 3\)"),
    (lambda: nn.Conv2d(3, 4, 3)(Tensor(np.zeros((1, 2, 5, 5), dtype=np.float32))), r"the input has 2 channels"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: groups=2 must divide in_channels=3 and out_channels=4"),
    (lambda: nn.Module().register_buffer("a.b", np.zeros(1)), r"the name must be a non-empty string without '\.'"),
    (lambda: nn.Module().register_buffer("a", [1.0]), r"buffer 'a' must be a numpy.ndarray or None, got list"),
], ids=["features", "3d_into_2d", "batch_of_one", "conv_channels", "conv_groups", "buffer_name", "buffer_type"])
def test_layer_errors_name_the_problem(call, message):
    with pytest.raises((ValueError, KeyError, TypeError), match=message):
        call()


def test_buffer_of_a_loaded_state_dict_is_written_in_place():
    layer = nn.BatchNorm1d(2)
    running = layer.running_mean
    layer.load_state_dict({**layer.state_dict(), "running_mean": np.array([1.0, 2.0])})
    assert layer.running_mean is running and running.tolist() == [1.0, 2.0]


# ---- a state dict without num_batches_tracked (checkpoints older than the buffer) ---------------------------


def _trained_cnn(seed, batches):
    model = small_cnn(seed)
    for i in range(batches):  # each training step counts one batch and moves the running statistics
        model(Tensor(np.random.default_rng(seed + i).standard_normal((4, 1, 8, 8)).astype(np.float32)))
    return model


def _without_counts(state):
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def test_strict_load_accepts_a_missing_num_batches_tracked_and_keeps_the_layers_count():
    source, target = _trained_cnn(seed=1, batches=2), _trained_cnn(seed=7, batches=3)
    saved = source.state_dict()
    assert target.load_state_dict(_without_counts(saved), strict=True) == ([], [])
    loaded = target.state_dict()
    for key, value in _without_counts(saved).items():  # weights and running statistics are the checkpoint's
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    assert loaded["1.num_batches_tracked"] == 3 and loaded["9.num_batches_tracked"] == 3  # the layer's own count
    assert target.load_state_dict(_without_counts(saved), strict=False) == ([], [])


def test_missing_num_batches_tracked_is_kept_as_torch_keeps_it():
    torch = pytest.importorskip("torch", reason="the comparison with torch.nn needs torch installed")
    ours, theirs = small_cnn().double(), torch_cnn(torch)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8))
    ours(Tensor(x)), theirs(torch.as_tensor(x))  # both count one batch
    state = _without_counts(small_cnn(seed=3).double().state_dict())
    missing, unexpected = theirs.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
    assert (missing, unexpected) == ([], []) and ours.load_state_dict(state, strict=True) == ([], [])
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy(), err_msg=key)


def test_strict_load_still_names_every_other_missing_key():
    model = small_cnn()
    state = _without_counts(model.state_dict())
    del state["1.running_var"], state["11.bias"]
    with pytest.raises(KeyError, match=r"failed: missing keys: 11\.bias, 1\.running_var'$"):
        model.load_state_dict(state)
    assert model.load_state_dict(state, strict=False) == (["11.bias", "1.running_var"], [])


def test_only_batch_norm_may_lack_a_buffer_named_num_batches_tracked():
    module = nn.Module()
    module.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
    with pytest.raises(KeyError, match=r"failed: missing keys: num_batches_tracked'$"):
        module.load_state_dict({})
