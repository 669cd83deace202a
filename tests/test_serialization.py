"""tg.save / tg.load: exact round trips of nested state (types, dtypes, bits), model and optimizer
checkpoints that resume training identically, atomic writes, and refusal of pickled content."""

import os
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim

dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16])
leaf_arrays = dtypes.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
numbers = st.one_of(st.integers(-2 ** 62, 2 ** 62), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.text(max_size=5))
keys = st.one_of(st.text(max_size=6), st.sampled_from(["0", "a/b", "a", "b", "file"]), st.integers(0, 50))
trees = st.recursive(st.one_of(leaf_arrays, numbers),
                     lambda children: st.one_of(st.dictionaries(keys, children, max_size=3),
                                                st.lists(children, max_size=3),
                                                st.lists(children, max_size=3).map(tuple)),
                     max_leaves=8)


def assert_identical(a, b, where="root"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}/{i}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), where
    else:
        assert a == b, where


@given(tree=trees)
def test_any_nested_tree_round_trips_exactly(tree, tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "tree.npz"
    tg.save({"tree": tree}, path)
    assert_identical(tg.load(path), {"tree": tree})


def test_nan_inf_and_numpy_scalars_round_trip(tmp_path):
    obj = {"nan": float("nan"), "inf": -float("inf"), "f32": np.float32(1.5), "i64": np.int64(7),
           "big": 2 ** 62, "neg_zero": -0.0, "empty": np.zeros((0, 3), dtype=np.float32)}
    tg.save(obj, tmp_path / "x.npz")
    back = tg.load(tmp_path / "x.npz")
    assert np.isnan(back["nan"]) and back["inf"] == -np.inf and str(back["neg_zero"]) == "-0.0"
    assert type(back["f32"]) is np.float32 and back["f32"] == 1.5 and type(back["i64"]) is np.int64
    assert back["big"] == 2 ** 62 and back["empty"].shape == (0, 3)


def test_numpy_scalars_come_back_as_numpy_scalars_of_their_dtype(tmp_path):
    # np.float64 is a subclass of Python's float and np.str_ of str: both must stay NumPy scalars
    obj = {"f64": np.float64(0.1), "f16": np.float16(0.5), "u8": np.uint8(200), "b": np.bool_(True),
           "s": np.str_("relu")}
    tg.save(obj, tmp_path / "s.npz")
    assert_identical(tg.load(tmp_path / "s.npz"), obj)


def test_zero_d_arrays_stay_arrays_and_python_ints_floats_and_bools_keep_their_types(tmp_path):
    obj = {"nested": {0: {"step": 3, "exp_avg": np.array(0.25), "flag": True, "lr": 1.0,
                          "f32": np.array(-1.5, dtype=np.float32)}}, "tuple": (1, 2.0), "list": [np.array(3)]}
    tg.save(obj, tmp_path / "z.npz")
    back = tg.load(tmp_path / "z.npz")
    assert_identical(back, obj)
    assert back["nested"][0]["exp_avg"].shape == () and type(back["nested"][0]["step"]) is int


def test_subclasses_of_python_numbers_are_stored_as_the_base_type(tmp_path):
    import enum

    class Mode(enum.IntEnum):
        TRAIN = 1

    tg.save({"mode": Mode.TRAIN, "flag": True}, tmp_path / "e.npz")
    back = tg.load(tmp_path / "e.npz")
    assert type(back["mode"]) is int and back["mode"] == 1 and type(back["flag"]) is bool


def test_an_optimizer_with_numpy_float_hyperparameters_round_trips(tmp_path):
    w = nn.Parameter(np.ones(2))
    opt = optim.SGD([w], lr=np.float64(0.1), momentum=np.float64(0.9))
    w.grad = Tensor(np.ones(2))
    opt.step()
    tg.save(opt.state_dict(), tmp_path / "o.npz")
    assert_identical(tg.load(tmp_path / "o.npz"), opt.state_dict())


def test_a_float64_model_file_loads_back_as_float64_bit_for_bit(tmp_path):
    from tinygrad_edu.app import checkpoint
    from tinygrad_edu.app.models import MLPArchitecture

    arch = MLPArchitecture((4, 3, 2), "relu")
    model = arch.build(seed=0, dtype=np.float64)
    checkpoint.save_model(tmp_path / "m.npz", model, arch, checkpoint.Preprocessing(0.5, 2.0))
    again, _ = checkpoint.load_model(tmp_path / "m.npz")
    assert_identical(dict(again.state_dict()), dict(model.state_dict()))


def test_entries_have_readable_flattened_names(tmp_path):
    model = nn.MLP([3, 4, 2], seed=0)
    tg.save({"model": model.state_dict(), "step": 3}, tmp_path / "ckpt.npz")
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as archive:
        names = set(archive.files)
    assert {"model/0.weight", "model/0.bias", "model/2.weight", "model/2.bias", "step"} <= names


def test_tensors_are_stored_as_their_arrays(tmp_path):
    tg.save({"t": Tensor(np.arange(3.0))}, tmp_path / "t.npz")
    assert tg.load(tmp_path / "t.npz")["t"].tolist() == [0.0, 1.0, 2.0]


def test_a_plain_npz_loads_as_a_flat_dict(tmp_path):
    np.savez(tmp_path / "plain.npz", weight=np.ones(2), bias=np.zeros(1))
    back = tg.load(tmp_path / "plain.npz")
    assert sorted(back) == ["bias", "weight"] and back["weight"].tolist() == [1.0, 1.0]


def test_keys_whose_flattened_names_collide_still_round_trip(tmp_path):
    obj = {"a/b": 1, "a": {"b": 2}, "0": np.ones(1), 0: np.zeros(1), "\x00": 3}
    tg.save(obj, tmp_path / "c.npz")
    assert_identical(tg.load(tmp_path / "c.npz"), obj)


def test_entry_names_that_clash_with_savez_keywords_are_fine(tmp_path):
    tg.save({"file": np.ones(1), "allow_pickle": 1}, tmp_path / "k.npz")
    assert tg.load(tmp_path / "k.npz")["allow_pickle"] == 1


# ---- model and optimizer checkpoints ----------------------------------------------------------------

def train_steps(model, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                      lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
                                      lambda p: optim.AdamW(p, lr=0.01)], ids=["SGD", "Adam", "AdamW"])
def test_checkpoint_round_trip_is_bit_exact_and_resumes_with_the_identical_next_step(make_opt, tmp_path):
    rng = np.random.default_rng(0)
    x, y = Tensor(rng.standard_normal((16, 4)).astype(np.float32)), rng.integers(0, 3, 16)
    model = nn.MLP([4, 8, 3], seed=0)
    opt = make_opt(model.parameters())
    train_steps(model, opt, x, y, 3)
    path = tmp_path / "ckpt.npz"
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)

    checkpoint = tg.load(path)
    assert_identical(checkpoint["model"], dict(model.state_dict()))
    assert_identical(checkpoint["optimizer"], opt.state_dict())
    fresh = nn.MLP([4, 8, 3], seed=99)
    fresh_opt = make_opt(fresh.parameters())
    fresh.load_state_dict(checkpoint["model"])
    fresh_opt.load_state_dict(checkpoint["optimizer"])

    train_steps(model, opt, x, y, 2)
    train_steps(fresh, fresh_opt, x, y, 2)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert a.tobytes() == b.tobytes(), name


def test_scheduler_state_round_trips(tmp_path):
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    sched.step()
    tg.save(sched.state_dict(), tmp_path / "s.npz")
    assert_identical(tg.load(tmp_path / "s.npz"), sched.state_dict())


# ---- safety: pickles refused, atomic writes, errors -------------------------------------------------

def test_a_file_holding_a_pickled_object_array_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.ones(2), payload=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=rf"refusing {path}: entry 'payload' is a pickled object array"):
        tg.load(path)


def test_a_raw_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weight": np.ones(2)}))
    with pytest.raises(ValueError, match=rf"refusing {path}: .* would mean unpickling it"):
        tg.load(path)


def test_saving_something_that_would_need_pickle_is_refused():
    with pytest.raises(TypeError, match="dtype object"):
        tg.save({"a": np.array([{}], dtype=object)}, "unused.npz")
    with pytest.raises(TypeError, match=r"cannot save a set at a"):
        tg.save({"a": {1, 2}}, "unused.npz")
    with pytest.raises(TypeError, match="dict key"):
        tg.save({(1, 2): 1}, "unused.npz")
    assert not os.path.exists("unused.npz")


def test_save_is_atomic_a_failed_write_keeps_the_old_file_and_leaves_no_temporaries(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tg.save({"v": np.ones(3)}, path)

    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        tg.save({"v": np.zeros(3)}, path)
    monkeypatch.undo()
    assert tg.load(path)["v"].tolist() == [1.0, 1.0, 1.0]
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_save_writes_exactly_the_given_path(tmp_path):
    tg.save({"a": 1}, tmp_path / "weights.bin")
    assert os.listdir(tmp_path) == ["weights.bin"] and tg.load(tmp_path / "weights.bin") == {"a": 1}


def test_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=rf"no such file: {missing}"):
        tg.load(missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tg.save({"a": 1}, tmp_path / "no_dir" / "x.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match=rf"refusing {garbage}: it is neither an .npz archive nor an .npy"):
        tg.load(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(2))
    with pytest.raises(TypeError, match=rf"{single} holds a single .npy array"):
        tg.load(single)
