"""Writes confined to what the user named (issue 21).

``collect --work DIR`` deleted the user's own files matching its temporary-file pattern
anywhere under DIR; ``collect --out mytable.csv`` turned an unrelated table into a 1-byte
file; a full disk was reported as a bare ``[Errno 28]`` naming no file.
"""

import os

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import ScalefitError
from scalefit.cli.main import main
from scalefit.collect import collect, expand
from scalefit.files import atomic_write
from tests.test_collect_lock import MICRO, _fake_run_job, _grid


@pytest.fixture
def fake_training(monkeypatch):
    from scalefit.collect import stages

    calls = []
    monkeypatch.setattr(stages, "run_job", _fake_run_job(calls))
    return calls


def _user_files(root):
    files = {
        root / "results.tmp2024.npz": b"my results",
        root / "sub" / ".notes.tmp1": b"my notes",
        root / ".runs.csv.tmp4242": b"mine too",
        root / "rows.json.tmp7": b"and this",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_collect_sweeps_only_its_own_temporaries(tmp_path, fake_training):
    work = tmp_path / "mywork"
    files = _user_files(work)
    stale = work / ".scalefit-tmp" / ".plan.json.abcd1234.scalefit-tmp"  # a killed collector's
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    collect(_grid(), tmp_path / "runs.csv", work=work, device="cpu", progress=False)
    collect(_grid(), tmp_path / "runs.csv", work=work, device="cpu", progress=False)  # a resume sweeps again
    assert all(path.read_bytes() == data for path, data in files.items())
    assert not stale.exists()
    # the work directory is the folder holding everything else (as --work . would be)
    files = _user_files(tmp_path / "tree")
    collect(_grid(), tmp_path / "tree" / "t.csv", work=tmp_path / "tree", device="cpu", progress=False)
    assert all(path.read_bytes() == data for path, data in files.items())


def test_an_unrelated_out_table_is_refused_before_any_work(tmp_path, fake_training, capsys):
    out = tmp_path / "mytable.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"Dp": rng.uniform(size=196), "error": rng.uniform(size=196)}).to_csv(out, index=False)
    before = out.read_bytes()
    with pytest.raises(ScalefitError, match=r"--out '.*mytable\.csv' exists and is not a runs table written by scalef"):
        collect(_grid(), out, device="cpu", progress=False)
    grid = tmp_path / "micro.toml"
    grid.write_text(MICRO)
    for dry in ([], ["--dry-run"]):
        assert main(["collect", str(grid), "--out", str(out), "--device", "cpu", "--no-progress", *dry]) == 2
        assert "no 'run_id' column" in capsys.readouterr().err
    assert out.read_bytes() == before and fake_training == []
    assert not (tmp_path / "mytable.collect").exists()  # nothing was started
    for text in (b"\x00\x01 not a table", b""):
        out.write_bytes(text)
        with pytest.raises(ScalefitError, match=r"not a runs table"):
            collect(_grid(), out, device="cpu", progress=False)
        assert out.read_bytes() == text


def test_a_runs_table_of_another_grid_is_refused(tmp_path, fake_training):
    out = tmp_path / "runs.csv"
    collect(_grid(), out, device="cpu", progress=False)
    table = pd.read_csv(out)
    table.loc[0, "run_id"] = "ffffffffffffffff"  # a run this grid does not have
    table.to_csv(out, index=False)
    before = out.read_bytes()
    with pytest.raises(ScalefitError, match=r"holds 1 of its \d+ runs that are not runs of grid 'micro'.*'ffffffff"):
        collect(_grid(), out, device="cpu", progress=False)
    assert out.read_bytes() == before


def test_the_same_grids_table_is_appended_to(tmp_path, fake_training):
    """Its rows are kept even when the work directory that made them is gone."""
    import shutil

    out = tmp_path / "runs.csv"
    first = collect(_grid(), out, device="cpu", progress=False)
    evaluated = [j.run_id for j in expand(_grid()) if j.evaluated]
    assert list(first["run_id"]) == evaluated
    shutil.rmtree(tmp_path / "runs.collect")
    again = collect(_grid(), out, device="cpu", progress=False, limit=1)  # one pre-training run, no row
    assert list(again["run_id"]) == evaluated
    assert list(pd.read_csv(out, dtype={"run_id": str})["run_id"]) == evaluated


def test_a_full_disk_names_the_file(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(28, "No space left on device")

    target = tmp_path / "fit.json"
    target.write_text("{}")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"\[Errno 28\] No space left on device: '.*fit\.json'"):
        atomic_write(target, "new")
    assert target.read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]
    runs = tmp_path / "runs.csv"
    scalefit.example_runs().to_csv(runs, index=False)
    argv = ["fit", str(runs), "--law", "paper_error", "--target", "error", "--bootstrap", "0", "--starts", "20"]
    assert main([*argv, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--out '{target}': could not write it (No space left on device), nor keep the fit" in err
    assert target.read_text() == "{}"


def test_a_fit_whose_out_fails_after_the_work_is_kept_and_the_place_named(tmp_path, monkeypatch, capsys):
    """The work is never lost to a write that fails after it (a share that refused, a disk that
    filled): the fit is kept in the temporary folder, the error names --out and the kept file."""
    from scalefit import files

    runs = tmp_path / "runs.csv"
    scalefit.example_runs().to_csv(runs, index=False)
    real = files.write_file

    def refused(target, data, temporaries=None):  # the --out file only: the fallback's write goes through
        if os.path.basename(target) == "fit.json":
            raise PermissionError(13, "Permission denied", str(target))
        return real(target, data, temporaries)

    monkeypatch.setattr(files, "write_file", refused)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    argv = ["fit", str(runs), "--law", "paper_error", "--target", "error", "--bootstrap", "0", "--starts", "20"]
    assert main([*argv, "--out", str(tmp_path / "fit.json")]) == 2
    err = capsys.readouterr().err
    assert "could not write it (Permission denied); the fit was kept in" in err
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("scalefit-")]
    assert len(kept) == 1 and str(kept[0]) in err and not (tmp_path / "fit.json").exists()
    assert np.isfinite(scalefit.load_fit(kept[0]).params["E_inf"])


def test_an_out_directory_that_refuses_new_files_is_named_before_any_work(tmp_path, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the fit ran although --out could not be written")

    monkeypatch.setattr("scalefit.fitting.fit.fit_law", no_work)

    def refused(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refused)
    runs = tmp_path / "runs.csv"
    scalefit.example_runs().to_csv(runs, index=False)
    argv = ["fit", str(runs), "--law", "paper_error", "--target", "error", "--out", str(tmp_path / "fit.json")]
    assert main(argv) == 2
    assert f"cannot create a file in '{tmp_path}' (Read-only file system)" in capsys.readouterr().err
