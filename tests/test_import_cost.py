"""``import tinygrad_edu`` loads the engine, nn, optim, data and viz, and nothing that talks to the network,
starts processes or unpacks archives: those modules load the first time a download, a Graphviz run, a
``.gz`` file or ``tg.save``/``tg.load`` needs them. The application (``tinygrad_edu.app``) is not loaded either.

Each check runs in a fresh interpreter, because the pytest process has long since imported everything.
"""

import json
import subprocess
import sys

import pytest

# Top-level standard-library packages that mean network, process or archive machinery.
HEAVY = {"urllib", "http", "socket", "ssl", "subprocess", "zipfile", "gzip", "tarfile", "email"}
# pathlib itself imports urllib.parse (string quoting, no network), so Python and NumPy load these anyway.
ALWAYS_THERE = {"urllib", "urllib.parse"}


def modules_after(code: str) -> set:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    program = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, f"running {code!r} failed:\n{result.stderr[-2000:]}"
    return set(json.loads(result.stdout.splitlines()[-1]))


def heavy_in(modules: set) -> list:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY and m not in ALWAYS_THERE)


def test_import_tinygrad_edu_loads_no_network_process_or_archive_module():
    offending = heavy_in(modules_after("import tinygrad_edu"))
    assert not offending, (f"import tinygrad_edu loads {', '.join(offending)}; "
                           "import them inside the function that needs them")


def test_import_tinygrad_edu_does_not_load_the_application():
    loaded = sorted(m for m in modules_after("import tinygrad_edu") if m.startswith("tinygrad_edu.app"))
    assert not loaded, f"import tinygrad_edu loads {', '.join(loaded)}; the library must not import its application"


@pytest.mark.parametrize("code, needs", [
    ("import tinygrad_edu as tg, tempfile, os\ntg.save({'w': tg.zeros(2)}, os.path.join(tempfile.mkdtemp(), 'w.npz'))",
     "zipfile"),
    ("from tinygrad_edu.data import mnist", None),
])
def test_heavy_modules_load_when_first_used(code, needs):
    loaded = heavy_in(modules_after(code))
    if needs is None:
        assert not loaded, f"{code!r} loads {', '.join(loaded)} before anything is downloaded"
    else:
        assert needs in loaded, f"{code!r} ran without loading {needs}: the check above would be vacuous"
