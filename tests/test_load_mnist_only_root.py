"""``load_mnist(root, fallback=False)``: read this folder and nothing else (no cache, no download).

With the default ``fallback=True`` a folder without data falls through to the cache; a caller who named
a data set (the command line's ``--data-dir``) wants an error instead of MNIST from somewhere else.
"""

import numpy as np
import pytest

from tinygrad_edu.data import DataError, fetch, load_mnist, write_idx


def write_set(folder, value, n_train=3, n_test=2):
    """Four IDX files whose every pixel is ``value``, so the tests can tell which folder was read."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.full((n, 28, 28), value, np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache that holds a data set of all-255 pixels; downloading fails loudly if anything tries it."""
    folder = tmp_path / "cache"
    write_set(folder, 255)
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(folder))

    def no_download(*args, **kwargs):
        raise AssertionError("load_mnist tried to download")

    monkeypatch.setattr(fetch, "fetch_mnist", no_download)
    return folder


def test_only_root_reads_the_folder_it_is_given(tmp_path, cache):
    write_set(tmp_path / "mine", 51, n_train=4)
    x_train, y_train, x_test, y_test = load_mnist(tmp_path / "mine", fallback=False)
    assert x_train.shape == (4, 784) and x_test.shape == (2, 784) and y_test.tolist() == [0, 1]
    assert np.all(x_train == np.float32(51 / 255)) and y_train.tolist() == [0, 1, 2, 3]


def test_an_empty_folder_falls_back_to_the_cache_by_default_but_not_with_fallback_false(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    x_train = load_mnist(tmp_path / "empty", download=False)[0]
    assert np.all(x_train == 1.0)  # the cache's all-255 set: the silent switch fallback=False prevents
    with pytest.raises(DataError, match=r"empty holds no MNIST-like data: no IDX files .* no Kaggle train.csv"):
        load_mnist(tmp_path / "empty", fallback=False)


def test_only_root_never_downloads_even_when_download_is_true(tmp_path, cache):
    with pytest.raises(DataError, match="no such folder"):
        load_mnist(tmp_path / "nowhere", download=True, fallback=False)


def test_only_root_still_names_a_damaged_file(tmp_path, cache):
    write_set(tmp_path / "broken", 7)
    (tmp_path / "broken" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz has the wrong magic number"):
        load_mnist(tmp_path / "broken", fallback=False)


def test_a_file_given_as_root_is_named_as_not_a_folder(tmp_path, cache):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(DataError, match=r"a_file is not a folder"):
        load_mnist(tmp_path / "a_file", fallback=False)
