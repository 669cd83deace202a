"""Michael Nielsen's ``mnist.pkl.gz`` (from "Neural Networks and Deep Learning"), opened safely.

The file is a gzipped Python-2 pickle of three ``(images, labels)`` pairs: 50 000 training, 10 000
validation and 10 000 test images, float32 ``(n, 784)``. Training + validation, in that order, are
the original 60 000 MNIST training images, and the floats are ``pixel / 256`` (so they lie in
[0, 255/256]): ``round(x * 256)`` gives back the original bytes exactly. The arrays rebuilt that way,
written as IDX, are byte-for-byte the original MNIST files (their SHA-256 sums are in ``fetch.py``).

A pickle can run arbitrary code while it loads, so this module unpickles only a file whose SHA-256
equals the one of Nielsen's published file (or a hash the caller names); anything else is refused
before a single byte of it reaches ``pickle``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .files import DataError, sha256_of

NIELSEN_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
NIELSEN_FILENAME = "mnist.pkl.gz"


def read_nielsen_pkl(source, sha256=None, name=None):
    """Open Nielsen's ``mnist.pkl.gz``: ``(x_train, y_train, x_test, y_test)``, images uint8 ``(n, 784)``, labels int64.

    ``source`` is a path or the file's bytes; ``sha256`` the hash it must have (default ``NIELSEN_SHA256``);
    ``name`` how messages call it (default: the path). ``x_train`` is Nielsen's training set followed by his
    validation set (60 000 images, the original MNIST training order): ``x_train[:50000]`` is his training
    split, ``x_train[50000:]`` his validation split.
    """
    expected = NIELSEN_SHA256 if sha256 is None else sha256
    if isinstance(source, (bytes, bytearray)):
        payload, name = bytes(source), name or "the pickle"
    else:
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise DataError(f"{name}: no such file")
        payload = path.read_bytes()
    actual = sha256_of(payload)
    if actual != expected:
        raise DataError(f"{name} has SHA-256 {actual}, not the expected {expected}; refusing to unpickle it "
                        "(a pickle can run code), so download Nielsen's mnist.pkl.gz again")
    import gzip  # loaded when first needed, so importing tinygrad_edu stays light

    try:
        parts = pickle.loads(gzip.decompress(payload), encoding="latin1")  # latin1: it was pickled by Python 2
    except Exception as error:  # noqa: BLE001 - unpickling fails in many ways; a file with Nielsen's hash never does
        raise DataError(f"{name} could not be unpacked ({type(error).__name__}: {error})") from None
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = _three_pairs(parts, name)
    return (_to_bytes(np.concatenate([x_train, x_valid]), name), np.concatenate([y_train, y_valid]),
            _to_bytes(x_test, name), y_test)


def _three_pairs(parts, name):
    """Check the unpickled object is three ``(images (n, 784) float, labels (n,) int)`` pairs."""
    shape_ok = isinstance(parts, (tuple, list)) and len(parts) == 3 and all(
        isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(a, np.ndarray) for a in p) for p in parts)
    if not shape_ok:
        raise DataError(f"{name} does not hold three (images, labels) pairs of arrays as Nielsen's file does")
    pairs = []
    for split, (x, y) in zip(("training", "validation", "test"), parts):
        if x.ndim != 2 or x.shape[1] != 784 or x.dtype.kind != "f" or y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise DataError(f"{name}: its {split} pair is {x.dtype} {x.shape} with {y.dtype} {y.shape}; "
                            "expected float images (n, 784) and n integer labels")
        pairs.append((x, y.astype(np.int64)))
    return pairs


def _to_bytes(x, name) -> np.ndarray:
    """Nielsen's floats ``pixel / 256`` back to the uint8 pixels, refusing anything that is not exactly that."""
    scaled = x.astype(np.float64) * 256
    pixels = np.rint(scaled)
    if np.any(pixels != scaled) or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise DataError(f"{name} holds values that are not pixel/256 for whole pixels 0..255")
    return pixels.astype(np.uint8)
