"""Docstring examples run, and the README's test command is exactly what CI runs."""

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "scalefit",
    "scalefit.laws.terms",
    "scalefit.laws.law",
    "scalefit.fitting.fit",
    "scalefit.laws.catalogue",
    "scalefit.laws.formula",
    "scalefit.laws.general",
    "scalefit.decide.path",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", setup, flags=re.S)
    assert len(commands) == 2
    demo, test = commands
    assert demo.endswith("scalefit demo") and "venv" in demo
    assert "pytest" in test and "venv" in test
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_every_public_name_loads_and_dir_lists_it():
    """The package loads submodules lazily (PEP 562): every name in __all__ must resolve."""
    import scalefit

    for name in scalefit.__all__:
        assert getattr(scalefit, name) is not None, name
    assert set(scalefit.__all__) <= set(dir(scalefit))
