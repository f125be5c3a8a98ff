"""Grid specs: TOML and presets, expansion into jobs, run ids, the dry-run plan (no torch needed)."""

import tomllib

import pytest

from scalefit import ScalefitError
from scalefit.cli.main import main
from scalefit.collect import (
    STAGES,
    HParams,
    ModelSpec,
    estimate,
    expand,
    grid_from_dict,
    load_grid,
    preset,
    presets,
    train_flops_per_image,
)
from scalefit.collect.grid import PRESETS_DIR


def test_presets_parse():
    assert {"tiny", "paper", "fmnist-mnist"} <= set(presets())
    paper = preset("paper")
    assert paper.heads == (2, 4, 6, 8) and paper.model.depth == 12 and paper.model.head_dim == 64
    assert paper.upstream.fractions == (0.05, 0.10, 0.25, 0.33, 0.50, 0.70, 1.00)
    assert [d.name for d in paper.downstream] == ["cifar10", "cifar100", "tinyimagenet", "imagenet100"]
    assert paper.pretrain.lr == 5e-4 and paper.pretrain.warmup_lr == 1e-6 and paper.pretrain.batch_size == 128
    cifar, tiny_in = paper.downstream[0], paper.downstream[2]
    assert paper.finetune_hparams(cifar).batch_size == 16  # Table 3, CIFAR rows
    assert paper.finetune_hparams(tiny_in).batch_size == 128
    assert paper.finetune_hparams(cifar).warmup_lr == 1e-5
    assert paper.distill.pairs == ((4, (2,)), (6, (2, 4)), (8, (2, 4, 6)))


def test_expand_counts_and_dependency_order():
    grid = preset("tiny")
    jobs = expand(grid)
    counts = {s: sum(j.stage == s for j in jobs) for s in STAGES}
    assert counts == {"pretrain": 3 * 3, "finetune": 3 * 3 * 3, "distill": 3 * 3 * 2, "control": 3 * 3 * 2}
    seen = set()
    for job in jobs:
        assert set(job.needs) <= seen, job.label
        seen.add(job.run_id)
    assert len(seen) == len(jobs)  # ids unique
    distill = next(j for j in jobs if j.stage == "distill" and "2h+4h->6h" in j.label)
    teachers = [next(j for j in jobs if j.run_id == r) for r in distill.needs[1:]]
    assert [t.stage for t in teachers] == ["finetune", "finetune"]
    assert {t.config["pretrain"]["model"]["heads"] for t in teachers} == {2, 4}
    for t in teachers:  # a teacher sees the same Dp and Df cell as its student
        assert t.config["fraction"] == distill.config["fraction"]
        assert t.config["pretrain"]["fraction"] == distill.config["pretrain"]["fraction"]


def _spec():
    return tomllib.loads((PRESETS_DIR / "tiny.toml").read_text())


def test_run_ids_are_stable_and_follow_upstream_changes():
    a, b = expand(grid_from_dict(_spec())), expand(grid_from_dict(_spec()))
    assert [j.run_id for j in a] == [j.run_id for j in b]
    spec = _spec()
    spec["pretrain"]["lr"] = 1e-3
    changed = {j.label: j.run_id for j in expand(grid_from_dict(spec))}
    for job in a:  # every run depends on pre-training, so every id changes
        assert changed[job.label] != job.run_id
    spec = _spec()
    spec["finetune"]["epochs"] = 4
    changed = {j.label: j.run_id for j in expand(grid_from_dict(spec))}
    for job in a:
        assert (changed[job.label] == job.run_id) == (job.stage == "pretrain")


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s["model"].update(width=3), r"\[model\]: unknown key 'width'"),
        (lambda s: s.pop("finetune"), r"missing \[finetune\]"),
        (lambda s: s["upstream"].update(fractions=[0.5, 1.2]), r"\[upstream\] fractions\[1\]: .* <= 1, got 1.2"),
        (lambda s: s["upstream"].update(format="lmdb"), r"\[upstream\] format: must be one of .*got 'lmdb'"),
        (lambda s: s["distill"].update(pairs=[{"student": 8, "teachers": [2]}]), r"head count\(s\) \[8\]"),
        (lambda s: s["distill"].update(pairs=[{"student": 4, "teachers": [4]}]), "among its own teachers"),
        (lambda s: s["downstream"].update(channels=3), "channels"),
        (lambda s: s["model"].update(patch=5), "not a multiple of patch size 5"),
        (lambda s: s["pretrain"].update(epochs=0), "epochs"),
        (lambda s: s["distill"].update(fractions=[0.3]), r"distill fractions \[0.3\]"),
    ],
)
def test_bad_specs_name_the_problem(edit, match):
    spec = _spec()
    edit(spec)
    with pytest.raises(ScalefitError, match=match):
        grid_from_dict(spec)


def test_load_grid_file_and_errors(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text((PRESETS_DIR / "tiny.toml").read_text())
    assert load_grid(path) == preset("tiny")
    assert load_grid("tiny") == preset("tiny")
    with pytest.raises(ScalefitError, match="not found"):
        load_grid(tmp_path / "missing.toml")
    path.write_text("model = [")
    with pytest.raises(ScalefitError, match="not valid TOML"):
        load_grid(path)
    with pytest.raises(ScalefitError, match="no preset 'huge'"):
        preset("huge")


def test_estimate_matches_a_hand_count():
    grid = preset("fmnist-mnist")
    job = next(
        j
        for j in expand(grid)
        if j.stage == "pretrain" and j.config["fraction"] == 0.5 and j.config["model"]["heads"] == 8
    )
    (row,) = estimate(grid, [job])
    spec = ModelSpec(heads=8, depth=4, head_dim=16, patch=7)
    assert row.images == 2 * 30000
    assert row.flops == pytest.approx(2 * 30000 * train_flops_per_image(spec, 28, 1, 10))


def test_dry_run_prints_the_plan(capsys):
    assert main(["collect", "paper", "--dry-run", "--tflops", "200"]) == 0
    out = capsys.readouterr().out
    assert "pretrain" in out and "GPU-h" in out and "200 TFLOP/s" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("finetune"))
    assert int(line.split()[1]) == 7 * 4 * 7 * 4  # Dp fractions x models x Df fractions x downstream sets


def test_collect_cli_errors(capsys, tmp_path):
    assert main(["collect", "tiny"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["collect", "tiny", "--out", str(tmp_path / "runs.xlsx")]) == 2
    assert ".parquet or .csv" in capsys.readouterr().err


def test_hparams_steps():
    assert HParams(epochs=3, batch_size=32).steps(100) == 3 * 4


def test_core_and_planning_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, scalefit, scalefit.collect as c\n"
        "c.estimate(c.preset('paper'))\n"
        "bad = [m for m in ('torch', 'timm', 'submitit') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
