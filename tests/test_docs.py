"""Every `>>>` example in README.md, docs/*.md and the package's docstrings runs and prints what it shows,
and every code link in the docs points at a file and a name that exist."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import tinygrad_edu

ROOT = Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [p for p in [ROOT / "README.md"] if p.exists()]
# Modules run as programs (python -m tinygrad_edu) are not imported here: importing one runs it.
MODULES = sorted(m.name for m in pkgutil.walk_packages(tinygrad_edu.__path__, "tinygrad_edu.")
                 if not m.name.endswith("__main__"))


class MarkdownParser(doctest.DocTestParser):
    """Reads examples inside ``` fences: a fence line ends the expected output before it, as a blank line would."""

    def parse(self, string, name="<string>"):
        return super().parse(re.sub(r"(?m)^\s*```.*$", "", string), name)


def test_docs_folder_has_pages():
    assert (ROOT / "docs" / "autodiff.md") in DOC_FILES


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the anomaly examples make nan/inf on purpose
@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_examples_run(path):
    result = doctest.testfile(str(path), module_relative=False, parser=MarkdownParser(), optionflags=FLAGS,
                              encoding="utf-8", verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {path.name} failed (see above)"


def test_docs_pages_have_examples():
    """A page whose examples silently stopped being found (a broken fence) would pass above; not here."""
    for path in (ROOT / "docs").glob("*.md"):
        examples = MarkdownParser().get_examples(path.read_text(encoding="utf-8"))
        assert len(examples) >= 5, f"{path.name}: only {len(examples)} examples found"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"


def test_the_package_has_docstring_examples():
    assert "tinygrad_edu.viz" in MODULES and "tinygrad_edu.ops" in MODULES
    finder = doctest.DocTestFinder()
    counts = {name: sum(len(t.examples) for t in finder.find(importlib.import_module(name))) for name in MODULES}
    assert counts["tinygrad_edu.viz"] > 0 and counts["tinygrad_edu.ops"] > 0
    assert sum(counts.values()) >= 20


LINK = re.compile(r"\[[^\]]*?\b(class|def) (\w+)\]\(([^)#]+)\)")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_links_point_at_existing_definitions(path):
    links = LINK.findall(path.read_text(encoding="utf-8"))
    if path.parent.name == "docs":
        assert links, f"{path.name} links to no code"
    for kind, name, target in links:
        source = (path.parent / target).resolve()
        assert source.is_file(), f"{path.name} links to {target}, which does not exist"
        assert re.search(rf"(?m)^\s*{kind} {name}\b", source.read_text(encoding="utf-8")), \
            f"{path.name} links to {kind} {name} in {target}, which does not define it"
