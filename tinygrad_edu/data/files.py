"""What every reader in ``tinygrad_edu.data`` shares: the error it raises, SHA-256 sums and atomic writes.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_atomically(folder / "hello.txt", b"hello")
>>> sha256_of(folder / "hello.txt")[:16]
'2cf24dba5fb0a30e'
>>> sha256_of(b"hello") == sha256_of(folder / "hello.txt")
True
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..atomic import atomic_write


class DataError(ValueError):
    """A data file is missing, damaged or not what it claims to be.

    The message is one sentence naming the file and what is wrong with it (and, for "not found",
    what was tried and how to place the files by hand), so a command line can print it as it is.
    """


def sha256_of(source) -> str:
    """Hex SHA-256 of a file (``str``/``Path``, read in 1 MiB blocks) or of ``bytes``."""
    digest = hashlib.sha256()
    if isinstance(source, (bytes, bytearray, memoryview)):
        digest.update(source)
        return digest.hexdigest()
    with open(source, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` (creating its folders) so a reader never sees a half-written file.

    An interrupted run leaves either the old file or none (see :mod:`tinygrad_edu.atomic`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as stream:
        stream.write(payload)
