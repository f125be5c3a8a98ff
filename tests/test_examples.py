"""Every example script runs (at small size) and the embedded table is what its script makes."""

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

from scalefit.datasets import example_provenance, example_runs
from scalefit.datasets.make_synthetic import generate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# the examples run as a user would and print the library's notes (few bootstrap replicates in
# their quick mode, conditions that fail); the notes' own wording is tested elsewhere
@pytest.mark.filterwarnings("ignore::scalefit.errors.ScalingWarning")
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


def test_real_table_is_the_fmnist_mnist_grid_it_claims():
    """Every run id of the committed real table is an evaluated job of the `fmnist-mnist` preset, and
    the table holds all of them: it was collected by exactly the command its README gives."""
    from scalefit.collect import expand, preset

    runs = example_runs("fmnist_mnist")
    jobs = [j for j in expand(preset("fmnist-mnist")) if j.evaluated]
    assert list(runs["run_id"]) == [j.run_id for j in jobs]
    assert runs["stage"].value_counts().to_dict() == {"finetune": 100, "distill": 45, "control": 45}
    assert runs[["Dp", "M", "Df", "error", "loss"]].notna().all().all()
    assert sorted(runs["Dp"].unique()) == [3000, 6000, 15000, 30000, 60000]
    assert sorted(runs["Df"].unique()) == [200, 400, 1000, 2000, 4000]
    readme = (EXAMPLES / "data" / "README.md").read_text()
    assert "scalefit collect fmnist-mnist --out examples/data/fmnist_mnist_runs.csv" in readme
    prov = example_provenance("fmnist_mnist")
    assert prov["command"] in readme and prov["versions"]["torch"] == runs["torch"].iloc[0]


def test_long_real_table_is_the_fmnist_mnist_long_grid_it_claims():
    """The second real table (fine-tuning trained longer) holds exactly the evaluated jobs of the
    `fmnist-mnist-long` preset, was collected by the command its README section gives, and its
    plain 8-head runs at full Df are far from chance."""
    from scalefit.collect import expand, preset

    path = EXAMPLES / "data" / "fmnist_mnist_long_runs.csv"
    runs = pd.read_csv(path)
    jobs = [j for j in expand(preset("fmnist-mnist-long")) if j.evaluated]
    assert list(runs["run_id"]) == [j.run_id for j in jobs]
    assert runs["stage"].value_counts().to_dict() == {"finetune": 100, "distill": 45, "control": 45}
    assert runs[["Dp", "M", "Df", "error", "loss"]].notna().all().all()
    assert (runs["finetune_epochs"] == 8).all() and (runs["pretrain_epochs"] == 2).all()
    readme = (EXAMPLES / "data" / "README.md").read_text()
    assert "scalefit collect fmnist-mnist-long --out examples/data/fmnist_mnist_long_runs.csv" in readme
    top = runs[(runs.stage == "finetune") & (runs.heads == 8) & (runs.Df == 4000)]
    assert len(top) == 5 and top["error"].median() < 0.1
