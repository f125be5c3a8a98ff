"""Every example script runs (at small size) and the embedded table is what its script makes."""

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

from scalefit.datasets import example_provenance, example_runs
from scalefit.datasets.make_synthetic import generate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_runs(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out


def test_embedded_table_is_reproduced_by_its_script():
    runs, provenance = generate()
    pd.testing.assert_frame_equal(runs, example_runs(), check_exact=False, rtol=1e-12)
    assert provenance == example_provenance()
    assert provenance["synthetic"] is True
