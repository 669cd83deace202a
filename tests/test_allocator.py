"""Importing tinygrad_edu makes glibc's malloc keep freed memory, so that a training step's large arrays
reuse the pages of the step before instead of faulting fresh ones in (allocator.py); the environment
variable TINYGRAD_EDU_KEEP_FREED_MEMORY=0 leaves malloc as it is."""

import os
import subprocess
import sys

import pytest

from tinygrad_edu import allocator

# a training step's pattern: twenty 4 MB arrays alive at once, then all freed; five steps after the first,
# counting the pages faulted in (one step's arrays are 19 532 pages)
PROBE = """
import resource, numpy as np, tinygrad_edu
step = lambda: [np.ones(1_000_000, np.float32) for _ in range(20)]
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not allocator.keep_freed_memory(),
                                reason="the setting applies to glibc's malloc (Linux) only")


def _faults(keep: str) -> int:
    env = {**os.environ, "TINYGRAD_EDU_KEEP_FREED_MEMORY": keep}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return int(result.stdout.strip())


@glibc_only
def test_a_steps_freed_arrays_are_reused_by_the_next_without_faulting_pages_in_again():
    faults = _faults("1")
    assert faults < 1_000, f"{faults} page faults in 5 steps of twenty 4 MB arrays (one step's are 19 532 pages)"


@glibc_only
def test_the_environment_variable_leaves_malloc_as_it_is():
    faults = _faults("0")
    assert faults > 20_000, f"only {faults} page faults: with malloc's defaults each step faults its arrays in"


def test_the_opt_out_is_reported():
    os.environ["TINYGRAD_EDU_KEEP_FREED_MEMORY"] = "0"
    try:
        assert allocator.keep_freed_memory() is False
    finally:
        del os.environ["TINYGRAD_EDU_KEEP_FREED_MEMORY"]
