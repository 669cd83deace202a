"""Rules the whole code base keeps, checked by reading the files:

- every ``pytest.raises`` / ``pytest.warns`` in the tests names the message it expects (``match=``), so a
  test fails when the right exception type comes with the wrong words;
- the package, examples, docs and tests describe the software, not how it was written: no references to
  work items (``issue 5``), planning files or notes folders outside the repository;
- names in the package say what a thing is, not which course notebook used it (``ng_...``, ``nielsen_...``
  belong in ``examples/``).

A failure lists every offending place as ``path:line``.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
THIS_FILE = Path(__file__).resolve()

# Where the prose rules hold: the package, examples, docs, the README, the Makefile and the tests.
PROSE_ROOTS = ["tinygrad_edu", "examples", "docs", "tests", "benchmarks", "notebooks", "README.md", "Makefile"]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".ipynb", ""}

FORBIDDEN_PHRASES = {
    r"\bissues? #?\d+": "a work item number (describe the behaviour; cite a public bug by its URL)",
    r"\bAPI\.md\b": "a planning file that is not part of the repository",
    r"(\.\./|\b)shared/": "a folder outside the repository",
    r"\bas the (issue|brief|task|ticket) (asks|asked|says|wants)\b": "the request behind the code",
    r"\boutside (the )?harness\b": "the tooling that wrote the code",
    r"\bhelper session\b": "the tooling that wrote the code",
    r"\bthe contract\b": "jargon for a requirement (say what the code does)",
}

# Prefixes that name a course notebook rather than what a thing is.
NOTEBOOK_PREFIXES = ("ng_", "nielsen_", "notebook_", "nb_")
# Names that say which published file they are about: the hash and file name of Nielsen's mnist.pkl.gz,
# the MNIST copy data/nielsen.py reads (a data source, not a notebook).
NAMES_OF_A_DATA_SOURCE = {"NIELSEN_SHA256", "NIELSEN_FILENAME"}


def text_files(roots):
    for root in roots:
        path = REPO / root
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in candidates:
            if file.is_file() and file.suffix in TEXT_SUFFIXES and "__pycache__" not in file.parts \
                    and file.resolve() != THIS_FILE:
                yield file


def where(file: Path, line: int) -> str:
    return f"{file.relative_to(REPO)}:{line}"


def pytest_calls(tree: ast.AST, names=("raises", "warns")):
    """Every call of pytest.raises / pytest.warns, written as ``pytest.X(...)`` or as ``X(...)`` after
    ``from pytest import X``."""
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "pytest"
                for alias in node.names if alias.name in names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in names and isinstance(func.value, ast.Name)
                and func.value.id == "pytest") or (isinstance(func, ast.Name) and func.id in imported):
            yield node


def test_every_pytest_raises_and_warns_names_the_expected_message():
    missing, seen = [], 0
    for file in sorted(TESTS.glob("*.py")):
        for call in pytest_calls(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
            seen += 1
            match = next((k for k in call.keywords if k.arg == "match"), None)
            if match is None or (isinstance(match.value, ast.Constant) and match.value.value in ("", ".*", None)):
                missing.append(f"{where(file, call.lineno)}: {ast.unparse(call)}")
    assert seen > 0, "no pytest.raises/pytest.warns found at all: the scan looks in the wrong place"
    assert not missing, ("these pytest.raises/pytest.warns calls accept any message; add match= with the key "
                         "words of the expected one (re.escape where needed):\n" + "\n".join(missing))


def test_the_code_base_describes_the_software_not_how_it_was_made():
    patterns = {re.compile(pattern, re.IGNORECASE): why for pattern, why in FORBIDDEN_PHRASES.items()}
    found = []
    for file in text_files(PROSE_ROOTS):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            for pattern, why in patterns.items():
                if (hit := pattern.search(line)):
                    found.append(f"{where(file, number)}: {hit.group(0)!r} is {why}: {line.strip()}")
    assert not found, "phrases about how the code was made, not what it does:\n" + "\n".join(found)


def test_package_names_say_what_a_thing_is_not_which_notebook_used_it():
    found = []
    for file in sorted((REPO / "tinygrad_edu").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            found += [f"{where(file, node.lineno)}: {name}" for name in names
                      if name.lstrip("_").lower().startswith(NOTEBOOK_PREFIXES)
                      and name not in NAMES_OF_A_DATA_SOURCE]
    assert not found, ("names in tinygrad_edu/ that name a course notebook instead of what the thing is "
                       "(such names belong in examples/):\n" + "\n".join(found))


def test_the_rules_catch_what_they_are_meant_to_catch():
    """The scanners themselves: a call without match and each forbidden phrase are found, ordinary prose is not."""
    tree = ast.parse("import pytest\nfrom pytest import warns as w\n"
                     "with pytest.raises(ValueError):\n    pass\nwith w(UserWarning, match='x'):\n    pass\n")
    calls = list(pytest_calls(tree))
    assert [any(k.arg == "match" for k in c.keywords) for c in calls] == [False, True]
    samples = ["as issue 9 asks", "see API.md", "../shared/STYLE.md", "as the issue asks", "run outside harness",
               "a helper session", "the contract says"]
    for sample, pattern in zip(samples, FORBIDDEN_PHRASES):
        assert re.search(pattern, sample, re.IGNORECASE), f"{pattern!r} does not catch {sample!r}"
    for fine in ["a GitHub issue link is https://github.com/x/y/issues", "the shared weights", "fixed random r"]:
        assert not any(re.search(p, fine, re.IGNORECASE) for p in FORBIDDEN_PHRASES), fine
