"""manual_seed: after ``manual_seed(s)`` every random choice made without an explicit seed (layer init,
nn.init, dropout masks, DataLoader order, Tensor.randn/uniform) repeats exactly; different seeds give
different choices; an explicit ``seed=``/``rng=`` wins and leaves the default stream untouched."""

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim
from tinygrad_edu import random as tg_random
from tinygrad_edu.data import DataLoader
from tinygrad_edu.nn import init
from tinygrad_edu.random import generator, manual_seed


def twice(make, seed_a=123, seed_b=123):
    """``make()`` run after ``manual_seed(seed_a)`` and again after ``manual_seed(seed_b)``."""
    manual_seed(seed_a)
    first = make()
    manual_seed(seed_b)
    return first, make()


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def same_arrays(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- the generator and its seed -----------------------------------------------------------------

def test_generator_without_arguments_is_the_one_default_generator_that_manual_seed_resets():
    default = generator()
    assert generator() is default
    assert manual_seed(7) is default  # reset in place: a reference taken earlier stays the controlled one
    first = default.random(4)
    manual_seed(7)
    assert np.array_equal(default.random(4), first)


def test_generator_with_a_seed_is_a_fresh_generator_independent_of_the_default():
    assert generator(seed=3) is not generator()
    assert np.array_equal(generator(seed=3).random(5), np.random.default_rng(3).random(5))


def test_generator_with_rng_returns_that_rng():
    rng = np.random.default_rng(0)
    assert generator(rng=rng) is rng


def test_generator_refuses_both_seed_and_rng_and_a_non_generator_rng():
    with pytest.raises(ValueError, match="either seed= or rng=, not both"):
        generator(seed=1, rng=np.random.default_rng(1))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, got int"):
        generator(rng=1)


@pytest.mark.parametrize("bad", [1.5, "1", None, True, [1, 2]], ids=["float", "str", "None", "bool", "list"])
def test_manual_seed_refuses_a_seed_that_is_not_an_integer(bad):
    with pytest.raises(TypeError, match=r"manual_seed: seed must be a non-negative integer, got"):
        manual_seed(bad)


def test_manual_seed_refuses_a_negative_seed():
    with pytest.raises(ValueError, match=r"manual_seed: seed must be a non-negative integer, got -1"):
        manual_seed(-1)


def test_an_explicit_seed_is_checked_like_manual_seeds():
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -2"):
        generator(seed=-2)
    with pytest.raises(TypeError, match="seed must be a non-negative integer, got float 0.5"):
        nn.Linear(2, 2, seed=0.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        DataLoader(np.zeros((3, 1)), np.zeros(3), 1, seed=-1)


def test_manual_seed_accepts_numpy_integers_and_huge_python_integers():
    first, second = twice(lambda: generator().random(3), np.int64(5), 5)
    assert np.array_equal(first, second)
    manual_seed(2 ** 100)  # NumPy seeds from arbitrarily large non-negative integers


def test_manual_seed_is_exported_as_tg_manual_seed():
    assert tg.manual_seed is tg_random.manual_seed is init.manual_seed


# ---- every random choice repeats after manual_seed -------------------------------------------------

def test_layer_init_repeats_after_manual_seed_and_differs_across_seeds():
    def make():
        return weights(nn.Linear(5, 3)) + weights(nn.MLP([4, 6, 2], dtype=np.float64))
    assert same_arrays(*twice(make))
    assert not same_arrays(*twice(make, 1, 2))


INIT_FUNCTIONS = {
    "uniform_": lambda p: init.uniform_(p, -1, 1),
    "normal_": lambda p: init.normal_(p, 0.5, 2.0),
    "xavier_uniform_": init.xavier_uniform_,
    "kaiming_uniform_": init.kaiming_uniform_,
    "centered_uniform_": lambda p: init.centered_uniform_(p, 0.5),
    "fan_in_uniform_": init.fan_in_uniform_,
    "epsilon_uniform_": init.epsilon_uniform_,
    "standard_normal_": init.standard_normal_,
}


@pytest.mark.parametrize("fill", INIT_FUNCTIONS.values(), ids=INIT_FUNCTIONS.keys())
def test_init_functions_repeat_after_manual_seed_and_differ_across_seeds(fill):
    def make():
        return fill(nn.Parameter(np.zeros((4, 6)))).data.copy()
    first, second = twice(make)
    assert np.array_equal(first, second)
    assert not np.array_equal(*twice(make, 1, 2))


def test_dropout_masks_repeat_after_manual_seed_even_for_a_layer_built_before_it():
    layer = nn.Dropout(0.5)  # built before the seed: it looks the default generator up at each call
    x = Tensor(np.ones(64))

    def masks():
        return [layer(x).data.copy() for _ in range(3)] + [F.dropout(x, 0.3).data.copy()]
    first, second = twice(masks)
    assert same_arrays(first, second)
    assert not np.array_equal(first[0], first[1])  # each call draws a new mask
    assert not same_arrays(*twice(masks, 1, 2))


def test_dataloader_order_repeats_after_manual_seed_even_for_a_loader_built_before_it():
    x, y = np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20)
    loader = DataLoader(x, y, batch_size=6)  # shuffle=True, seed=None

    def orders():
        return [[int(v) for _, yb in loader for v in yb.tolist()] for _ in range(3)]
    first, second = twice(orders)
    assert first == second
    assert first[0] != first[1]  # every pass is reshuffled
    assert sorted(first[0]) == list(range(20))
    seeded_1, seeded_2 = twice(orders, 1, 2)
    assert seeded_1 != seeded_2


def test_tensor_randn_and_uniform_repeat_after_manual_seed():
    def make():
        return [Tensor.randn(3, 4).data, Tensor.uniform(5, low=-2.0, high=2.0).data]
    assert same_arrays(*twice(make))
    assert not same_arrays(*twice(make, 1, 2))


def test_a_small_training_run_repeats_exactly_after_manual_seed():
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(30, 2)
    y = (x.sum(axis=1) > 0).astype(np.int64)

    def train():
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 2))
        opt = optim.SGD(model.parameters(), lr=0.1)
        for xb, yb in DataLoader(x, y, batch_size=7):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        return weights(model)
    assert same_arrays(*twice(train))
    assert not same_arrays(*twice(train, 1, 2))


# ---- an explicit seed or rng wins ------------------------------------------------------------------

def test_an_explicit_seed_wins_over_manual_seed():
    def seeded():
        return (weights(nn.Linear(3, 2, seed=9)) + [init.normal_(nn.Parameter(np.zeros(4)), seed=9).data.copy(),
                nn.Dropout(0.5, seed=9)(Tensor(np.ones(16))).data.copy(), F.dropout(Tensor(np.ones(16)), seed=9).data])
    first, second = twice(seeded, 1, 2)  # different default seeds, the same explicit one
    assert same_arrays(first, second)
    orders = []
    for default_seed in (1, 2):
        manual_seed(default_seed)
        orders.append([int(v) for _, yb in DataLoader(np.zeros((10, 1)), np.arange(10), 3, seed=9) for v in yb.tolist()])
    assert orders[0] == orders[1]


def test_an_explicit_seed_or_rng_does_not_advance_the_default_generator():
    manual_seed(4)
    expected = generator().random(3)
    manual_seed(4)
    nn.Linear(3, 2, seed=1)
    init.uniform_(nn.Parameter(np.zeros(3)), rng=np.random.default_rng(0))
    F.dropout(Tensor(np.ones(5)), seed=2)
    list(DataLoader(np.zeros((4, 1)), np.arange(4), 2, seed=3))
    assert np.array_equal(generator().random(3), expected)
