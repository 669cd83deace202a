"""Writing a file so that a reader sees either the old file or the whole new one, never half of it.

Every file tinygrad_edu writes (state dicts, model files, cached data sets, plots, graphs, metrics)
goes through :func:`atomic_write`: the bytes go to a temporary file in the same folder, are synced to
disk, and only then renamed over the target. A rename within one folder is atomic, so a crash, a
full disk or an exception mid-write leaves the old file (or none) and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object; on a clean exit its content replaces ``path``, on an error nothing changes.

    The folder of ``path`` must exist (callers check it to name the problem in their own words).

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_write(target) as stream:
    ...     _ = stream.write(b"hello")
    >>> target.read_bytes()
    b'hello'
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
