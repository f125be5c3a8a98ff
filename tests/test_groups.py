"""``fit_groups``: one law fitted to every group of a table, in one vectorised pass."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Fits, Law, LeastSquares, Power, ScalefitError, fit_groups, fit_law

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")
TRUTH = {"a": (0.1, 5.0, 0.3), "b": (0.2, 40.0, 0.5), "c": (0.05, 2.0, 0.2)}
SIZES = {"a": 12, "b": 23, "c": 40}  # different sizes: one padded size for all


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(0)
    parts = []
    for task, (e, b, c) in TRUTH.items():
        x = np.geomspace(1e3, 1e8, SIZES[task])
        y = (e + b * x**-c) * np.exp(rng.normal(0, 0.005, len(x)))
        parts.append(pd.DataFrame({"task": task, "seed": 0, "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def fits(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return fit_groups(LAW, runs, "task", target="y", method=LeastSquares(bootstrap=200))


def test_every_group_gets_its_own_fit(fits):
    assert isinstance(fits, Fits) and list(fits) == ["a", "b", "c"] and fits.by == ("task",)
    for task, (e, _, c) in TRUTH.items():
        fit = fits[task]
        assert fit.runs.n_runs == SIZES[task] and fit.status.converged
        assert fit.params["c"] == pytest.approx(c, rel=0.1)
        assert fit.params["e_inf"] == pytest.approx(e, rel=0.1)
        assert len(fit.draws) > 150 and "group task='" in fit.setup.source


def test_a_group_fit_equals_fitting_that_group_alone(runs, fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        alone = fit_law(LAW, runs[runs.task == "b"], target="y", method=LeastSquares(bootstrap=0))
    assert fits["b"].value == pytest.approx(alone.value, rel=1e-6)
    for name in LAW.parameters:
        assert fits["b"].params[name] == pytest.approx(alone.params[name], rel=1e-4)


def test_tidy_summary_table_and_predict(runs, fits):
    summary = fits.summary()
    assert list(summary.columns[:3]) == ["task", "parameter", "estimate"]
    assert len(summary) == 3 * len(LAW.parameters)
    assert {"lower", "upper"} <= set(summary.columns)
    row = summary[(summary.task == "c") & (summary.parameter == "c")].iloc[0]
    assert row.lower <= row.estimate <= row.upper
    table = fits.table()
    assert list(table.task) == ["a", "b", "c"] and table.converged.all()
    new = pd.DataFrame({"task": ["c", "a", "c"], "x": [1e9, 1e9, 1e4]})
    pred = fits.predict(new, interval=0.9)
    assert list(pred.task) == ["c", "a", "c"]
    expected = [
        fits[t].predict(pd.DataFrame({"x": [x]}), interval=None)["mean"].iloc[0]
        for t, x in zip(new.task, new.x, strict=True)
    ]
    np.testing.assert_allclose(pred["mean"], expected, rtol=1e-12)
    assert "3 groups by task" in repr(fits)


def test_several_by_columns_give_tuple_keys(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fits = fit_groups(LAW, runs, ["task", "seed"], target="y", method=LeastSquares(bootstrap=0))
    assert list(fits) == [("a", 0), ("b", 0), ("c", 0)]
    assert list(fits.summary().columns[:3]) == ["task", "seed", "parameter"]


def test_bad_groups_are_named_before_any_work(runs, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("the solver was reached before the groups were checked")

    monkeypatch.setattr("scalefit.fitting.multistart.compiled", compiled)
    with pytest.raises(ScalefitError, match=r"by='tsak' is not a column of the runs table \(did you mean 'task'\?\)"):
        fit_groups(LAW, runs, "tsak", target="y")
    with pytest.raises(TypeError, match="by must be a column name or a list of column names"):
        fit_groups(LAW, runs, 3, target="y")
    gappy = runs.copy()
    gappy.loc[[4, 7], "task"] = None
    with pytest.raises(ScalefitError, match=r"by column 'task' has missing values in rows 4, 7"):
        fit_groups(LAW, gappy, "task", target="y")
    tiny = pd.concat([runs, pd.DataFrame({"task": ["d", "d"], "seed": 0, "x": [1e3, 1e4], "y": [0.5, 0.4]})])
    with pytest.raises(ScalefitError, match=r"group task='d' \(2 runs\): the runs table has 2 rows but law 'M2' has 3"):
        fit_groups(LAW, tiny, "task", target="y")
    bad = runs.copy()
    bad.loc[30, "x"] = -1.0
    with pytest.raises(ScalefitError, match=r"group task='b' \(23 runs\): column 'x'.*non-positive"):
        fit_groups(LAW, bad, "task", target="y")
    with pytest.raises(TypeError, match="with by=, give weights as a column name"):
        fit_groups(LAW, runs, "task", target="y", weights=np.ones(len(runs)))


def test_fits_save_and_load_as_one_file(fits, tmp_path):
    path = tmp_path / "fits.json"
    fits.to_json(path)
    again = scalefit.load_fit(path)
    assert isinstance(again, Fits) and list(again) == list(fits) and again.by == fits.by
    assert all(again[k].params == fits[k].params for k in fits)
    pd.testing.assert_frame_equal(again.summary(), fits.summary())


def test_start_distances_batched_across_groups_equal_each_group_alone(runs, monkeypatch):
    """The convergence distances of every polished start are measured in one batched call per
    row bucket, rows padded with weight-0 rows: the same numbers as each group measured alone
    (groups of 12, 23 and 40 runs), and no small group padded to a large one's rows (a group of
    8,000 runs beside 300 of 10 made the batched call 80x slower than table by table)."""
    from scalefit.fitting import lsq_fit, multistart

    seen = []

    def spy(tables, sols, lins, obj):
        seen.append((tables, sols, lins, obj))
        return lsq_fit.start_distances(tables, sols, lins, obj)

    monkeypatch.setattr(multistart, "start_distances", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fit_groups(LAW, runs, "task", target="y", method=LeastSquares(bootstrap=0))
    tables, sols, lins, obj = seen[0]
    rng = np.random.default_rng(0)  # residuals moved off the optimum: distances compared are not ~0
    lins = [(R + 0.01 * rng.normal(size=R.shape), J) for R, J in lins]
    assert sorted(len(t.data) for t in tables) == sorted(SIZES.values())
    widths = []  # rows of each batched call: tables are batched within their row bucket only
    measure = lsq_fit.distances_to_optimum
    monkeypatch.setattr(lsq_fit, "distances_to_optimum", lambda J, *a: widths.append(J.shape[1]) or measure(J, *a))
    together = lsq_fit.start_distances(tables, sols, lins, obj)
    assert sorted(widths) == sorted(SIZES.values())  # 12, 23, 40 rows: buckets 16, 32, 64, none padded to 40
    monkeypatch.setattr(lsq_fit, "distances_to_optimum", measure)
    for g in range(len(tables)):
        (alone,) = lsq_fit.start_distances([tables[g]], [sols[g]], [lins[g]], obj)
        finite = np.isfinite(alone)
        assert finite.sum() >= 2 and np.array_equal(finite, np.isfinite(together[g]))
        np.testing.assert_allclose(together[g][finite], alone[finite], rtol=1e-9, atol=1e-12)
        assert np.any(alone[finite] > 1e-6)  # not a comparison of zeros


def test_a_groups_warnings_about_its_runs_become_its_notes(runs):
    """A group whose x takes only two values: the warning a single fit gives when it loads
    such runs is a note of that group's fit (the groups' load warnings used to be dropped),
    and the call's one summary warning counts it; the other groups have no such note."""
    flat = pd.DataFrame({"task": "flat", "seed": 0, "x": [1e4] * 6 + [1e6] * 6, "y": [0.5] * 6 + [0.3] * 6})
    table = pd.concat([runs, flat], ignore_index=True)
    with pytest.warns(scalefit.ScalingWarning, match=r"groups have notes"):
        fits = fit_groups(LAW, table, "task", target="y", method=LeastSquares(bootstrap=0))
    assert "only 2 distinct value(s)" in fits["flat"].notes[0] and "'x'" in fits["flat"].notes[0]
    assert not any("distinct value" in n for task in TRUTH for n in fits[task].notes)


def test_group_labels_a_csv_reads_as_one_value_are_refused(tmp_path, capsys):
    """``01``, ``1`` and ``1.0`` are three groups in the file, one number to pandas: fitting them
    as one group would be silent; it is refused, from the API and the CLI (with --where too)."""
    from scalefit.cli.main import main

    x = np.array([1e3, 1e4, 1e5, 1e6])
    rows = [(label, v, float(0.1 + k * v**-0.3)) for k, label in enumerate(["01", "1", "1.0"], 1) for v in x]
    path = tmp_path / "curves.csv"
    path.write_text("curve,x,y\n" + "".join(f"{c},{v:g},{y!r}\n" for c, v, y in rows))
    with pytest.raises(scalefit.ScalefitError, match=r"by column 'curve' .* labels '01', '1', '1.0' that read as one"):
        fit_groups(scalefit.get_law("revisiting_m2"), path, "curve", target="y")
    argv = ["fit", str(path), "--law", "revisiting_m2", "--target", "y", "--by", "curve", "--bootstrap", "0"]
    for extra in ([], ["--where", "x > 0"]):
        assert main([*argv, *extra]) == 2
        assert "labels '01', '1', '1.0' that read as one value" in capsys.readouterr().err
    path.write_text("curve,x,y\n" + "".join(f"g{c},{v:g},{y!r}\n" for c, v, y in rows))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        law = scalefit.get_law("revisiting_m2")
        fits = fit_groups(law, path, "curve", target="y", method=LeastSquares(bootstrap=0))
    assert sorted(fits) == ["g01", "g1", "g1.0"]


def test_a_by_column_mixing_numbers_and_text_is_refused(runs):
    """``1`` and ``'1'`` would be two groups that print alike (and one unreachable by --at)."""
    mixed = runs.assign(task=[1 if i % 2 else "1" for i in range(len(runs))])
    with pytest.raises(scalefit.ScalefitError, match=r"by column 'task' mixes number and text values"):
        fit_groups(LAW, mixed, "task", target="y")


def test_the_command_line_shows_the_first_groups_of_many_and_says_where_the_rest_are(tmp_path, capsys):
    from scalefit.cli import verbs
    from scalefit.cli.main import main

    x = np.geomspace(1e3, 1e6, 6)
    n = verbs.SHOWN_GROUPS + 7
    parts = [pd.DataFrame({"curve": f"c{g:03d}", "x": x, "y": 0.1 + (1 + g % 5) * x**-0.3}) for g in range(n)]
    frame = pd.concat(parts)
    frame.to_csv(tmp_path / "curves.csv", index=False)
    argv = ["fit", str(tmp_path / "curves.csv"), "--law", "revisiting_m2", "--target", "y", "--by", "curve"]
    assert main([*argv, "--bootstrap", "0", "--out", str(tmp_path / "fits.json")]) == 0
    out = capsys.readouterr().out
    assert "... and 7 more rows: every group's are in the --out file" in out
    assert "parameters (no intervals: no bootstrap replicates):" in out
    table = out.split("\none row per group:\n")[1].split("\nparameters (")[0]
    assert f"c{verbs.SHOWN_GROUPS - 1:03d}" in table and f"c{verbs.SHOWN_GROUPS:03d}" not in table
    assert len(scalefit.load_fit(tmp_path / "fits.json")) == n


def test_a_catalogue_laws_parameter_beside_a_column_of_its_name_fits_unless_it_is_the_group_key(runs):
    """A catalogue law's variables are declared, so its parameter ``e_inf`` beside an unrelated
    ``e_inf`` column is no misread formula: it fits. Grouping by that column would put the group
    and the fitted value in one column of the fits' table: refused."""
    m2 = scalefit.get_law("revisiting_m2")  # e_inf + b * x^-c, from the catalogue
    with_column = runs.assign(e_inf="metadata")
    one = with_column[with_column.task == with_column.task.iloc[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fit = scalefit.fit_law(m2, one, target="y", method=LeastSquares(bootstrap=0))
    assert fit.status.converged
    with pytest.raises(scalefit.ScalefitError, match=r"by='e_inf' is also the name of a parameter"):
        fit_groups(m2, with_column, "e_inf", target="y")
    with pytest.raises(scalefit.ScalefitError, match=r"parameter 'e_inf' with the name of a column"):
        scalefit.fit_law(LAW, one, target="y")  # the same law built by hand: not the catalogue's


def test_group_labels_a_csv_reads_as_missing_are_named(tmp_path):
    x = np.array([1e3, 1e4, 1e5, 1e6])
    rows = [(label, v, float(0.1 + k * v**-0.3)) for k, label in enumerate(["NA", "b"], 1) for v in x]
    path = tmp_path / "curves.csv"
    path.write_text("curve,x,y\n" + "".join(f"{c},{v:g},{y!r}\n" for c, v, y in rows))
    with pytest.raises(scalefit.ScalefitError, match=r"by column 'curve' .* labels 'NA' that read as missing values"):
        fit_groups(scalefit.get_law("revisiting_m2"), path, "curve", target="y")
