"""IDX files, the format MNIST (and Fashion-MNIST, KMNIST, EMNIST, ...) is distributed in.

An IDX file is a tiny header followed by the raw array, big-endian::

    bytes 0-1   0x00 0x00                      the magic number's fixed part
    byte  2     type code                      0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                               0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       each dimension as a big-endian uint32
    rest        prod(dims) items of that type, big-endian, C order

So ``train-images-idx3-ubyte`` starts ``00 00 08 03  00 00 ea 60  00 00 00 1c  00 00 00 1c``:
uint8, three dimensions, 60000 x 28 x 28. Files may be gzip-compressed; the reader looks at the
first two bytes (gzip's 1f 8b), not at the file name.

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny-idx2-ubyte.gz"
>>> write_idx(path, np.arange(6, dtype=np.uint8).reshape(2, 3))
>>> read_idx(path)
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .files import DataError, write_atomically

# type code -> big-endian dtype stored in the file
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODE_OF = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian NumPy array of the shape its header declares.

    Raises ``DataError`` (one sentence naming the file) when the file is missing, is not IDX (wrong magic
    number or type code), is truncated, or holds more bytes than its header declares.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, path)
        import gzip  # loaded on the first compressed file, so importing tinygrad_edu stays light

        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                return _parse(stream, path)
        except (OSError, EOFError, zlib.error) as error:  # gzip reports damage as any of these
            raise DataError(f"{path} is a damaged gzip stream ({error}); download or copy it again") from None


def _parse(stream, path: Path) -> np.ndarray:
    header = stream.read(4)
    if len(header) < 4:
        raise DataError(f"{path} is too short to be an IDX file: {len(header)} bytes, the header alone needs 4")
    if header[:2] != b"\0\0":
        raise DataError(f"{path} has the wrong magic number 0x{header.hex()}: an IDX file starts with two zero "
                        "bytes, a type code and the number of dimensions (is this really an IDX file?)")
    code, ndim = header[2], header[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{k:02x} {np.dtype(v).name}" for k, v in IDX_DTYPES.items())
        raise DataError(f"{path} has the unknown IDX type code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise DataError(f"{path} declares 0 dimensions; an IDX array needs at least one")
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its header: it declares {ndim} dimensions "
                        f"but only {len(sizes)} of the {4 * ndim} bytes holding their sizes are there")
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = np.empty(expected, dtype=np.uint8)
    got = _read_into(stream, payload)
    if got < expected:
        raise DataError(f"{path} is truncated: its header declares shape {shape} of {dtype.name} "
                        f"({expected} bytes) but only {got} bytes follow")
    extra = len(stream.read(1 << 20))
    if extra:
        extra += sum(len(block) for block in iter(lambda: stream.read(1 << 20), b""))
        raise DataError(f"{path} has {extra} bytes more than its header declares (shape {shape} of "
                        f"{dtype.name}, {expected} bytes): the header and the payload do not match")
    return payload.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_into(stream, buffer: np.ndarray) -> int:
    """Fill ``buffer`` from ``stream``; the number of bytes read (less than its size only at end of file)."""
    view, filled = memoryview(buffer), 0
    while filled < len(view):
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``compress`` (default: ``path`` ends in ``.gz``).

    The write is atomic (temporary file, then rename). Supported dtypes: uint8, int8, int16, int32,
    float32, float64; anything else is a ``TypeError`` naming the dtype.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX cannot store dtype {array.dtype}; it holds uint8, int8, int16, int32, float32, float64")
    if not 1 <= array.ndim <= 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"IDX holds 1 to 255 dimensions each below 2**32, not shape {array.shape}")
    header = struct.pack(f">2xBB{array.ndim}I", code, array.ndim, *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    if path.suffix == ".gz" if compress is None else compress:
        import gzip

        payload = gzip.compress(payload, compresslevel=6, mtime=0)  # mtime=0: same array, same bytes
    write_atomically(path, payload)


def read_idx_pair(images_path, labels_path):
    """Read an image file and its label file: ``(x, y)`` with ``x`` uint8 ``(n, rows * cols)``, ``y`` int64 ``(n,)``.

    Checks what MNIST-like sets promise: images are ``(n, rows, cols)`` unsigned bytes, labels are ``(n,)``
    integers, and both files hold the same ``n``.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path} holds {images.dtype.name} of shape {images.shape}; "
                        "an image file holds unsigned bytes shaped (count, rows, columns)")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path} holds {labels.dtype.name} of shape {labels.shape}; "
                        "a label file holds integers shaped (count,)")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                        "they must describe the same examples")
    return images.reshape(len(images), -1), labels.astype(np.int64)
