"""The facts a benchmark figure means nothing without: machine, BLAS library and kernel, threads, versions.

``threadpoolctl.threadpool_info()`` names the BLAS NumPy actually loaded and, for OpenBLAS, the kernel
(``architecture``) it picked for this CPU. ``OPENBLAS_CORETYPE`` forces that choice, so it is recorded
both as the environment had it and as the measuring process saw it.

>>> info = collect()
>>> sorted(k for k in ("cpu", "numpy", "python", "blas", "date") if k in info)
['blas', 'cpu', 'date', 'numpy', 'python']
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model() -> str:
    """The ``model name`` line of /proc/cpuinfo (platform's processor name elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict]:
    """One dict per thread pool NumPy (and torch, once imported) loaded, from threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed (pip install threadpoolctl): BLAS not recorded"}]
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: pool[k] for k in keep if k in pool} | {"file": Path(pool["filepath"]).name}
            for pool in threadpool_info()]


def numpy_blas_threads() -> int:
    """Threads of the BLAS NumPy uses (threadpoolctl), else the CPU count."""
    for pool in blas_info():
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"])
    return os.cpu_count() or 1


def git_revision() -> str:
    """Short commit of the working tree, with ``+dirty`` when tracked files differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev or "unknown") + ("+dirty" if dirty else "")


def collect(openblas_env_before: dict | None = None) -> dict:
    """Everything above plus versions, thread counts, load average and the date (UTC)."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "numpy_blas_threads": numpy_blas_threads(),
        "openblas_env_before": openblas_env_before if openblas_env_before is not None
        else {k: os.environ.get(k) for k in OPENBLAS_VARS},
        "openblas_env_in_run": {k: os.environ.get(k) for k in OPENBLAS_VARS},
        "git": git_revision(),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    torch = sys.modules.get("torch")   # recorded only when the run imported it
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "not MKL"
    return info
