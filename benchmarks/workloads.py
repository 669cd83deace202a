"""The registry: each workload's recipe and its three versions, in the order the runner interleaves them.

>>> sorted(WORKLOADS)
['B1', 'B2', 'B3', 'B4']
>>> [cls.version for cls in WORKLOADS["B1"].versions]
['numpy', 'tinygrad', 'torch']
"""

from __future__ import annotations

from dataclasses import dataclass

from . import b1_mlp_adam as b1
from . import b2_nielsen_sgd as b2
from . import b3_full_batch as b3
from . import b4_cnn as b4
from .common import Spec

VERSIONS = ("numpy", "tinygrad", "torch")


@dataclass(frozen=True)
class Workload:
    spec: Spec
    versions: tuple          # Trainer subclasses: NumPy floor, tinygrad_edu, PyTorch

    def trainer_class(self, version: str):
        for cls in self.versions:
            if cls.version == version:
                return cls
        raise KeyError(f"{self.spec.key} has no version {version!r}; versions: {[c.version for c in self.versions]}")


WORKLOADS = {
    "B1": Workload(b1.SPEC, (b1.NumpyB1, b1.TinygradB1, b1.TorchB1)),
    "B2": Workload(b2.SPEC, (b2.NumpyB2, b2.TinygradB2, b2.TorchB2)),
    "B3": Workload(b3.SPEC, (b3.NumpyB3, b3.TinygradB3, b3.TorchB3)),
    "B4": Workload(b4.SPEC, (b4.NumpyB4, b4.TinygradB4, b4.TorchB4)),
}
MEMORY_WORKLOADS = {"B1": None, "B4": 6}   # peak-memory probes: workload -> steps (None: the whole epoch)


def torch_available() -> bool:
    """True when ``import torch`` works: the PyTorch column is measured only then."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
