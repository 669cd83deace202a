"""The package imports whichever of its modules comes first: the engine's one import cycle (a Tensor
method calls a primitive, a primitive's apply makes a Tensor) is closed in one place, so sorting the
imports of ``__init__.py``, or importing a submodule first, never breaks ``import tinygrad_edu``."""

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_edu"
MODULES = ["function", "ops", "tensor", "protocols", "creation", "autograd", "autograd.backprop",
           "autograd.functional", "gradcheck", "random", "nn", "nn.functional", "optim", "viz", "data", "serialization"]

# Register the package without running its __init__, import one submodule first, then run __init__.
PROGRAM = """
import importlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("tinygrad_edu", {init!r}, submodule_search_locations=[{root!r}])
package = importlib.util.module_from_spec(spec)
sys.modules["tinygrad_edu"] = package
importlib.import_module("tinygrad_edu.{first}")
spec.loader.exec_module(package)
x = package.Tensor([1.0, 2.0], requires_grad=True)
(x * x).sum().backward()
assert x.grad.tolist() == [2.0, 4.0]
"""


@pytest.mark.parametrize("first", MODULES)
def test_any_module_can_be_imported_first(first):
    program = PROGRAM.format(init=str(PACKAGE / "__init__.py"), root=str(PACKAGE), first=first)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"importing tinygrad_edu.{first} first fails:\n{result.stderr[-2000:]}"
