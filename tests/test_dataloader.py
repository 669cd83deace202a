"""DataLoader: every example once per pass, a partial last batch, reproducible and per-pass shuffling."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Tensor
from tinygrad_edu.data import DataLoader


def numbered(n):
    """Row i of x holds i in every column, so a batch's rows can be traced back to y."""
    return np.repeat(np.arange(n, dtype=np.float64)[:, None], 3, axis=1), np.arange(n)


def labels_of(loader):
    return [yb.data.tolist() for _, yb in loader]


@given(n=st.integers(0, 60), batch_size=st.integers(1, 25), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_example_once_per_pass_with_a_partial_last_batch(n, batch_size, shuffle, seed):
    x, y = numbered(n)
    loader = DataLoader(x, y, batch_size, shuffle=shuffle, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader) == math.ceil(n / batch_size)
        sizes = [len(yb.data) for _, yb in batches]
        assert all(size == batch_size for size in sizes[:-1])
        assert not sizes or sizes[-1] == n - batch_size * (len(sizes) - 1)
        seen = np.concatenate([yb.data for _, yb in batches]) if batches else np.array([], int)
        assert sorted(seen.tolist()) == list(range(n))
        for xb, yb in batches:  # inputs travel with their targets
            np.testing.assert_array_equal(xb.data[:, 0], yb.data)


def test_without_shuffle_the_order_is_the_data_order():
    x, y = numbered(7)
    assert labels_of(DataLoader(x, y, 3, shuffle=False)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_same_seed_gives_the_same_sequence_of_orders():
    x, y = numbered(50)
    first, second = DataLoader(x, y, 8, seed=123), DataLoader(x, y, 8, seed=123)
    for _ in range(3):
        assert labels_of(first) == labels_of(second)


def test_each_pass_is_reshuffled():
    x, y = numbered(50)
    loader = DataLoader(x, y, 8, seed=123)
    passes = [labels_of(loader) for _ in range(3)]
    assert passes[0] != passes[1] != passes[2] != passes[0]
    assert passes[0] != labels_of(DataLoader(x, y, 8, shuffle=False))


def test_different_seeds_give_different_orders():
    x, y = numbered(50)
    assert labels_of(DataLoader(x, y, 8, seed=1)) != labels_of(DataLoader(x, y, 8, seed=2))


def test_without_a_seed_two_loaders_differ():
    x, y = numbered(50)  # 50! orders: equal by chance with probability ~1e-64
    assert labels_of(DataLoader(x, y, 10)) != labels_of(DataLoader(x, y, 10))


def test_batches_are_float32_inputs_and_int64_labels_in_contiguous_tensors():
    x, y = numbered(10)
    for shuffle in (True, False):
        for xb, yb in DataLoader(x, y.astype(np.int32), 4, shuffle=shuffle, seed=0):
            assert isinstance(xb, Tensor) and isinstance(yb, Tensor) and not xb.requires_grad
            assert xb.dtype == np.float32 and yb.dtype == np.int64
            assert xb.data.flags.c_contiguous and yb.data.flags.c_contiguous


def test_float_targets_stay_float():
    x, _ = numbered(4)
    (_, yb), = DataLoader(x, np.linspace(0, 1, 4), 4, shuffle=False)
    assert yb.dtype == np.float32


def test_float32_input_is_not_copied_and_unshuffled_batches_are_views():
    x = np.zeros((10, 4), np.float32)
    loader = DataLoader(x, np.arange(10), 4, shuffle=False)
    assert loader.x is x
    assert all(np.shares_memory(xb.data, x) for xb, _ in loader)


def test_tensors_are_accepted_as_data():
    x, y = numbered(5)
    loader = DataLoader(Tensor(x.astype(np.float32)), Tensor(y), 2, shuffle=False)
    assert labels_of(loader) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size!r}"):
        DataLoader(np.zeros((4, 2)), np.zeros(4), batch_size)


def test_x_and_y_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="x has 5 examples but y has 4"):
        DataLoader(np.zeros((5, 2)), np.zeros(4), 2)


def test_scalars_and_non_numbers_are_refused():
    with pytest.raises(ValueError, match="need a first axis of examples"):
        DataLoader(np.float32(1.0), np.zeros(1), 1)
    with pytest.raises(TypeError, match="x must hold numbers, got dtype <U1"):
        DataLoader(np.array(["a", "b"]), np.zeros(2), 1)


def test_repr_names_size_and_settings():
    assert repr(DataLoader(np.zeros((5, 2)), np.zeros(5), 2, seed=7)) == \
        "DataLoader(5 examples, batch_size=2, shuffle=True, seed=7)"


def test_a_batch_of_the_whole_set_is_served_without_a_copy_even_when_shuffling():
    """Full-batch training: the order inside the one batch changes no mean loss, and gathering would copy
    the whole set on every pass."""
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    loader = DataLoader(x, y, batch_size=6, shuffle=True, seed=0)
    (xb, yb), = loader
    assert np.shares_memory(xb.numpy(), loader.x) and yb.tolist() == [0, 1, 2, 3, 4, 5]
