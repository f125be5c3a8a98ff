"""The docs site builds with ``mkdocs build --strict``, and every public name is documented on it.

CI runs pytest, so this is where "the docs build in CI" is checked: a broken link or anchor, a
cross-reference to a name that is not on the site, a snippet of ``docs/make_gallery.py`` that
is gone, or a docstring griffe cannot parse fails the strict build and this test.
"""

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scalefit
import scalefit.collect

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"


def _documented() -> set[str]:
    """Every ``::: name`` directive of the API reference pages."""
    names = set()
    for page in API.glob("*.md"):
        names |= set(re.findall(r"^::: *([\w.]+)\s*$", page.read_text(), flags=re.M))
    return names


def _public(module) -> dict[str, object]:
    """``{"scalefit.fit_law": fit_law, ...}`` for every name in the module's ``__all__``."""
    return {f"{module.__name__}.{name}": getattr(module, name) for name in module.__all__}


PUBLIC = _public(scalefit) | _public(scalefit.collect)
CODE = [name for name, obj in PUBLIC.items() if inspect.isclass(obj) or inspect.isfunction(obj)]
TOP_FUNCTIONS = [name for name, obj in _public(scalefit).items() if inspect.isfunction(obj)]


def test_mkdocs_build_strict_succeeds(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("index.html")}
    for page in ("index.html", "getting-started/index.html", "gallery/index.html", "api/fitting/index.html"):
        assert page in pages
    assert "scalefit.fit_law" in (tmp_path / "api" / "fitting" / "index.html").read_text()
    assert not list(tmp_path.rglob("*.py")), "docs/*.py are scripts, not pages of the site"


@pytest.mark.parametrize("name", list(PUBLIC))
def test_public_name_is_in_the_api_reference(name):
    assert name in _documented(), f"add '::: {name}' to a page of docs/api/"


def test_api_reference_names_only_public_paths():
    """The reference is written against the public names, never a private module path
    (modules move; ``scalefit.fit_law`` stays): each is an attribute of ``scalefit`` or
    ``scalefit.collect``."""
    for name in _documented():
        assert not any(part.startswith("_") for part in name.split(".") if part != "__version__"), name
        module, _, attribute = name.rpartition(".")
        assert module in ("scalefit", "scalefit.collect"), name
        assert hasattr(sys.modules[module], attribute), name


@pytest.mark.parametrize("name", CODE)
def test_public_class_or_function_has_a_docstring(name):
    doc = inspect.getdoc(PUBLIC[name])
    assert doc and doc.strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", TOP_FUNCTIONS)
def test_public_function_documents_its_parameters_and_return(name):
    """numpy style: a function of scalefit's top level that takes arguments says what they are,
    and every one says what it returns."""
    doc = inspect.getdoc(PUBLIC[name])
    if inspect.signature(PUBLIC[name]).parameters:
        assert re.search(r"^Parameters\n-{10}", doc, flags=re.M), f"{name}: no 'Parameters' section"
    assert re.search(r"^Returns\n-{7}", doc, flags=re.M), f"{name}: no 'Returns' section"


def test_readme_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert local, "the README links to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
    assert "mkdocs build --strict" in readme and "mkdocs serve" in readme
