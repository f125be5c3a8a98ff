"""``backtest``: fit on part of the runs, score the held-out predictions, rank the laws."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Law, LeastSquares, Power, ScalefitError, ScalingWarning, backtest, fit_law

M1 = Law(Power("x", "c", amplitude="b"), name="M1")
M2 = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")
FAST = dict(method=LeastSquares(starts=64, bootstrap=0))


@pytest.fixture(scope="module")
def curve():
    """A curve bending to a floor: M2 (which has the floor) extrapolates, M1 does not."""
    x = np.geomspace(1e3, 1e8, 16)
    y = (0.2 + 30.0 * x**-0.4) * np.exp(np.random.default_rng(0).normal(0, 0.003, len(x)))
    return pd.DataFrame({"x": x, "y": y, "late": x > 2e7})


def test_the_law_that_extrapolates_ranks_first(curve):
    bt = backtest([M1, M2], curve, target="y", holdout="x", levels=3, interval=None, **FAST)
    assert list(bt.table.law) == ["M1", "M2"] and set(bt.table.held_out_runs) == {3}
    assert bt.best == "M2"
    rank = bt.ranking()
    assert rank.loc["M2", "median_rmse_log"] < 0.02 < rank.loc["M1", "median_rmse_log"]
    assert len(bt.predictions) == 6 and {"observed", "predicted"} <= set(bt.predictions.columns)


def test_held_out_runs_are_never_fitted(curve, monkeypatch):
    seen = []
    real = scalefit.fitting.fit.fit_law

    def spy(law, runs, **kwargs):
        seen.append(runs["x"].max())
        return real(law, runs, **kwargs)

    monkeypatch.setattr(scalefit.fitting.fit, "fit_law", spy)
    backtest(M2, curve, target="y", holdout="late", interval=None, **FAST)
    backtest(M2, curve, target="y", holdout=curve["late"].to_numpy(), interval=None, **FAST)
    assert seen and all(m <= 2e7 for m in seen)


def test_rollout_gives_one_split_per_fitted_level(curve):
    bt = backtest(M2, curve, target="y", holdout="x", rollout=True, min_levels=12, interval=None, **FAST)
    assert len(bt.table) == 16 - 12 and list(bt.table.train_runs) == [12, 13, 14, 15]


def test_coverage_is_the_share_of_held_out_runs_inside_their_prediction_interval(curve):
    """The table's coverage equals the share recomputed from the same fit's own intervals."""
    method = LeastSquares(starts=64, bootstrap=200)
    shift = np.zeros(len(curve))
    shift[-3:] = [0.0, 0.08, -0.10]  # log shifts of the three held-out runs: 27x and 33x the noise for two
    tight = curve.assign(y=curve.y * np.exp(shift))
    bt = backtest(M2, tight, target="y", holdout="x", levels=3, interval=0.9, method=method)
    train, held = tight[tight.x <= 1e7], tight[tight.x > 1e7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        pred = fit_law(M2, train, target="y", method=method).predict(held[["x"]], interval=0.9)
    inside = (pred.pi_lower.to_numpy() <= held.y.to_numpy()) & (held.y.to_numpy() <= pred.pi_upper.to_numpy())
    assert bt.table.loc[0, "coverage"] == pytest.approx(inside.mean())
    assert list(inside) == [True, False, False]  # the run on the curve is inside, the shifted ones are not


def test_bad_arguments_are_named(curve):
    with pytest.raises(ScalefitError, match="holdout='z' is neither a law variable"):
        backtest(M2, curve, target="y", holdout="z")
    with pytest.raises(ScalefitError, match="x has only 16 distinct values"):
        backtest(M2, curve, target="y", holdout="x", levels=16)
    with pytest.raises(ScalefitError, match="holds out 0 of 16 runs"):
        backtest(M2, curve, target="y", holdout="x > 1e12")
    with pytest.raises(TypeError, match="boolean mask with one value per run"):
        backtest(M2, curve, target="y", holdout=np.ones(3, dtype=bool))
    with pytest.raises(ScalefitError, match="rollout=True needs holdout= a law variable"):
        backtest(M2, curve, target="y", holdout="late", rollout=True)
    with pytest.raises(TypeError, match="laws must be a law, a list of laws or a dict"):
        backtest("M2", curve, target="y", holdout="x")
    with pytest.raises(ScalefitError, match="two laws are named 'M2'"):
        backtest([M2, M2], curve, target="y", holdout="x")
    with pytest.raises(ScalefitError, match="backtest\\(\\) takes by= itself"):
        backtest(M2, curve, target="y", holdout="x", by="x")
    with pytest.raises(ScalefitError, match="levels must be an integer >= 1, got 0"):
        backtest(M2, curve, target="y", holdout="x", levels=0)
    with pytest.raises(ScalefitError, match="has no rows"):
        backtest(M2, curve.iloc[:0], target="y", holdout="x")


def test_select_law_picks_by_backtest_and_refits_on_every_run(curve):
    from scalefit import select_law

    chosen = select_law([M1, M2], curve, target="y", holdout="x", **FAST)  # the default: a rollout along x
    assert chosen.law == "M2" and chosen.fit.law.name == "M2" and chosen.fit.runs.n_runs == len(curve)
    assert chosen.backtest.best == "M2" and "Selection: 'M2'" in repr(chosen)
    assert chosen.baseline == "M1" and chosen.backtest.table["split"].nunique() == 5
    row = chosen.comparison.loc["M2"]
    assert row["splits"] == 5 and row["mean_log_ratio"] < np.log(0.5) and row["t"] < -3  # M1 misses the floor
    assert "extrapolated better than the baseline" in chosen.reason


def test_select_law_keeps_the_baseline_unless_the_evidence_separates(curve):
    """M2 and M3 extrapolate this curve about equally well. The decision follows the paired
    comparison exactly: the challenger only where its mean log-ratio is below 0 by more than
    ``separation`` standard errors; with a demanding ``separation`` the baseline stays."""
    from scalefit import select_law

    m3 = scalefit.revisiting_m3
    for laws in ([M2, m3], [m3, M2]):
        sel = select_law(laws, curve, target="y", holdout="x", **FAST)
        base, other = laws[0].name, laws[1].name
        row = sel.comparison.loc[other]
        assert sel.baseline == base and row["splits"] == 5
        wins = row["mean_log_ratio"] < 0 and row["t"] < -scalefit.evaluate.selection.SEPARATION
        assert sel.law == (other if wins else base)
        strict = select_law(laws, curve, target="y", holdout="x", separation=1e6, **FAST)
        assert strict.law == base
        assert strict.reason.startswith(("kept the baseline", "the baseline extrapolated best"))
    lowest = select_law([M2, m3], curve, target="y", holdout="x", choose="lowest", **FAST)
    assert lowest.law == lowest.backtest.best


def test_select_law_with_too_few_runs_to_backtest_keeps_the_baseline(curve):
    from scalefit import select_law

    sel = select_law([M2, scalefit.bnsl_2], curve.iloc[:8], target="y", holdout="x", **FAST)
    assert sel.law == "M2" and sel.backtest is None and "too few runs to backtest" in sel.reason
    with pytest.raises(ScalefitError, match=r"min_levels=10 is one more than the 9 parameters of 'bnsl_2'"):
        select_law([M2, scalefit.bnsl_2], curve.iloc[:8], target="y", holdout="x", choose="lowest", **FAST)
    with pytest.raises(ScalefitError, match="baseline='M9' is not one of the laws"):
        select_law([M2, M1], curve, target="y", holdout="x", baseline="M9", **FAST)
    with pytest.raises(ScalefitError, match="choose='best' must be 'separated'"):
        select_law([M2, M1], curve, target="y", holdout="x", choose="best", **FAST)
    with pytest.raises(ScalefitError, match="separation=-1.0 must be a number of standard errors >= 0"):
        select_law([M2, M1], curve, target="y", holdout="x", separation=-1.0, **FAST)


def test_rollout_splits_are_spread_and_a_failed_fit_ranks_last(curve):
    """A failed fit scores ten times its split's worst RMSE: it ranks last, not out."""
    bt = backtest([M1, M2], curve, target="y", holdout="x", rollout=True, splits=4, interval=None, **FAST)
    assert bt.table["split"].nunique() == 4
    assert bt.table["split"].iloc[-1] == f"x <= {np.sort(curve['x'])[-2]:.4g}"  # the last cut is kept
    assert {"value", "fitted_max"} <= set(bt.predictions.columns)
    assert (bt.predictions["value"] > bt.predictions["fitted_max"]).all()
    broken = bt.table.copy()
    broken.loc[broken["law"] == "M2", "rmse_log"] = np.nan  # as when every M2 fit failed
    ranking = type(bt)(broken, bt.predictions, None).ranking()
    assert list(ranking.index) == ["M1", "M2"] and ranking.loc["M2", "failed"] == 4
    assert ranking.loc["M2", "score"] == pytest.approx(10 * ranking.loc["M1", "score"], rel=0.5)


@pytest.mark.filterwarnings(r"ignore:predict\(\). \d+ of \d+ predictions lie up to:scalefit.errors.ScalingWarning")
def test_selection_calibrates_extrapolation_intervals_and_saves_them(curve, tmp_path):
    """The winner's rollout errors widen its intervals with the distance extrapolated; the
    calibration survives a fit file; without a bootstrap the calibrated band is the interval."""
    from scalefit import load_fit, select_law

    sel = select_law([M1], curve, target="y", holdout="x", rollout=True, splits=5, calibrate=True, **FAST)
    cal = sel.fit.runs.extrapolation
    assert cal["variable"] == "x" and cal["splits"] == 5 and len(cal["scores"]) == len(cal["weights"]) > 5
    far = pd.DataFrame({"x": [1e8, 1e9, 1e10, 1e11]})
    p = sel.fit.predict(far, interval=0.9)
    width = np.log(p["pi_upper"] / p["pi_lower"]).to_numpy()
    assert np.all(np.diff(width) > 0)  # farther = wider
    assert p["ci_lower"].isna().all()  # no bootstrap: no confidence interval is claimed
    assert np.all((p["pi_lower"] < p["mean"]) & (p["mean"] < p["pi_upper"]))
    path = tmp_path / "sel.json"
    sel.fit.to_json(path)
    again = load_fit(path)
    assert again.runs.extrapolation == cal
    pd.testing.assert_frame_equal(again.predict(far, interval=0.9), p)
    # M1 misses the floor: beyond the runs its plain bootstrap intervals are too narrow to
    # cover the truth, the calibrated ones cover it
    truth = 0.2 + 30.0 * far["x"].to_numpy() ** -0.4
    boot = select_law(
        [M1], curve, target="y", holdout="x", rollout=True, splits=5, calibrate=False,
        method=LeastSquares(starts=64, bootstrap=200),
    ).fit.predict(far, interval=0.9, extrapolation=None)  # fmt: skip
    beyond = far["x"].to_numpy() > curve["x"].max()
    assert not ((boot["pi_lower"] <= truth) & (truth <= boot["pi_upper"]))[beyond].all()
    assert ((p["pi_lower"] <= truth) & (truth <= p["pi_upper"]))[beyond].all()


def test_calibrated_intervals_inside_the_runs_cover_the_fit_own_residuals(curve):
    """Without a bootstrap, the calibrated band inside the runs is never narrower than the
    fit's own residuals: the fitted runs are covered about as often as the interval says."""
    from scalefit import select_law

    sel = select_law([M1], curve, target="y", holdout="x", rollout=True, splits=3, calibrate=True, **FAST)
    p = sel.fit.predict(curve, interval=0.9)
    inside = (p["pi_lower"] <= curve["y"]) & (curve["y"] <= p["pi_upper"])
    assert inside.mean() >= 0.85


def test_selection_with_a_mapped_holdout_column_is_calibrated(curve):
    from scalefit import select_law

    runs = curve.rename(columns={"x": "samples"})
    sel = select_law([M2], runs, target="y", holdout="samples", mapping={"x": "samples"}, rollout=True, splits=3,
                     calibrate=True, **FAST)  # fmt: skip
    assert sel.fit.runs.extrapolation is not None and sel.fit.runs.extrapolation["variable"] == "x"


def test_options_a_candidate_cannot_take_and_stray_splits_are_refused(curve):
    from scalefit import select_law

    with pytest.raises(ScalefitError, match=r"fix= names \['e_inf'\], which law 'M1'"):
        backtest([M1, M2], curve, target="y", holdout="x", fix={"e_inf": 0.1}, **FAST)
    with pytest.raises(ScalefitError, match="splits=3 bounds the splits of a rollout; pass rollout=True"):
        backtest(M2, curve, target="y", holdout="x", splits=3, **FAST)
    with pytest.raises(ScalefitError, match=r"min_levels=10 is one more than the 9 parameters of 'bnsl_2'"):
        select_law([M2, scalefit.bnsl_2], curve.iloc[:8], target="y", holdout="x", choose="lowest", **FAST)


NARROW = ("display.max_columns", 3, "display.width", 40, "display.max_rows", 1)  # a small terminal


def test_backtest_and_selection_print_every_column_and_row(curve):
    """print(backtest), the selection and the ranking are never cut by pandas (issue 20)."""
    from scalefit import select_law

    sel = select_law([M1, M2], curve, target="y", holdout="x", **FAST)
    bt = sel.backtest
    with pd.option_context(*NARROW):
        text, rank, chosen = repr(bt), repr(bt.ranking()), repr(sel)
    for shown in (text, rank, chosen):
        assert "..." not in shown.split("Fit of law")[0]
        assert all(column in shown for column in bt.ranking().columns)  # coverage, not_converged, ...
        assert "M1" in shown and "M2" in shown
    assert all(str(column) in chosen for column in sel.comparison.columns)
    assert type(bt.ranking().loc[["M1"]]) is pd.DataFrame  # what it returns is still a DataFrame
