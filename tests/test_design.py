"""suggest_runs: sequential c-optimal choice of the next runs for a crossing or a prediction."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Fit, Law, LeastSquares, Power, ScalefitError, ScalingWarning, suggest_runs

# One law for both fits, so it compiles once: E + Dp^-alpha / lambda_p.
LAW = Law(Constant("E_inf") + Power("Dp", "alpha", scale="lambda_p"), name="one_dp", metric="error_rate")
A = {"E_inf": 0.10, "alpha": 0.25, "lambda_p": 1.0}
B = {"E_inf": 0.12, "alpha": 0.50, "lambda_p": 1 / 3}
LOWER, UPPER = 105.6, 4.795e6  # where the true laws cross (the difference changes sign twice)
DOMAIN = (10.0, 1e10)
RUNS_DP = np.geomspace(1e2, 1e8, 8)


def _fit(params, seed, bootstrap=200):
    rng = np.random.default_rng(seed)
    y = np.asarray(LAW.evaluate(params, {"Dp": RUNS_DP})) * np.exp(0.01 * rng.standard_normal(len(RUNS_DP)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        return scalefit.fit_law(
            LAW,
            pd.DataFrame({"Dp": RUNS_DP, "error": y}),
            target="error",
            seed=seed,
            method=LeastSquares(bootstrap=bootstrap),
        )


@pytest.fixture(scope="module")
def pair():
    return _fit(A, 1), _fit(B, 2)


def crossing(pair, **kw):
    args = dict(goal="crossing", axis="Dp", at={}, domain=DOMAIN, bounds={"Dp": (1e2, 1e8)}, points=25, method="draws")
    return suggest_runs(pair, **{**args, **kw})


def test_the_fits_cross_near_the_truth(pair):
    c = scalefit.crossover(*pair, axis="Dp", at={}, domain=DOMAIN)
    assert len(c.crossings) == 2
    assert c.crossings[0] == pytest.approx(LOWER, rel=0.3)
    assert c.crossings[1] == pytest.approx(UPPER, rel=0.3)


@pytest.mark.parametrize("method", ["draws", "fisher"])
def test_runs_near_the_lower_crossing_rank_above_runs_far_from_it(pair, method):
    s = crossing(pair, which="lower", method=method)
    t = s.table
    best = float(t["Dp"].iloc[0])
    assert best < 3 * LOWER  # the top run sits at the crossing (the edge of the candidates)
    for f in ("a", "b"):  # for each fit, its best run near the crossing beats its best far from it
        mine = t[t["fit"] == f]
        assert mine[mine["Dp"] < 3 * LOWER]["rank"].min() < mine[mine["Dp"] > 1000 * LOWER]["rank"].min()
    assert s.goal["estimate"] == pytest.approx(LOWER, rel=0.3)


@pytest.mark.parametrize("method", ["draws", "fisher"])
def test_runs_near_the_upper_crossing_rank_above_runs_far_below_it(pair, method):
    t = crossing(pair, which="upper", method=method).table
    for f in ("a", "b"):
        mine = t[t["fit"] == f]
        near = mine[(mine["Dp"] > UPPER / 3) & (mine["Dp"] < UPPER * 3)]
        assert near["rank"].min() < mine[mine["Dp"] < UPPER / 1000]["rank"].min()


def test_prediction_beyond_the_runs_asks_for_the_largest_run(pair):
    s = suggest_runs(pair[0], goal="prediction", at={"Dp": 1e9}, bounds={"Dp": (1e2, 1e8)}, points=13)
    assert s.runs["Dp"].iloc[0] == pytest.approx(1e8)
    assert "fit" not in s.table.columns


@pytest.mark.parametrize("method", ["draws", "fisher"])
def test_greedy_picks_no_duplicates_and_widths_shrink(pair, method):
    s = crossing(pair, n=12, method=method)
    runs = s.runs
    assert list(runs["pick"]) == list(range(1, 13))
    assert not runs[["fit", "Dp"]].duplicated().any()
    widths = runs["expected_width"].to_numpy()
    assert widths[0] < s.goal["width"]
    assert np.all(np.diff(widths) <= 1e-12 * widths[0])  # each run shrinks it further
    assert (s.table["expected_width"] <= s.goal["width"] * (1 + 1e-12)).all()  # information never hurts
    assert np.all(np.diff(runs["cumulative_cost"]) > 0)


def test_cost_per_unit_trades_against_information(pair):
    free = crossing(pair)
    costly = crossing(pair, cost={"Dp": 1.0})
    assert costly.runs["Dp"].iloc[0] < free.runs["Dp"].iloc[0]  # expensive big runs lose their edge
    t = costly.table
    assert np.allclose(t["cost"], t["Dp"])
    assert np.allclose(t["reduction_per_cost"], t["reduction"] / t["cost"])
    order = t[t["pick"] == 0]["reduction_per_cost"].to_numpy()
    assert np.all(np.diff(order) <= 0)


def test_cost_forms_agree(pair):
    price = crossing(pair, cost={"Dp": 2e-6})
    formula = crossing(pair, cost="2e-6 * Dp")
    function = crossing(pair, cost=lambda Dp: 2e-6 * Dp)
    for s in (formula, function):
        pd.testing.assert_frame_equal(s.table, price.table)
    per_fit = crossing(pair, cost={"a": "Dp", "b": "1.5*Dp + 10"})
    t = per_fit.table
    assert np.allclose(t[t["fit"] == "a"]["cost"], t[t["fit"] == "a"]["Dp"])
    assert np.allclose(t[t["fit"] == "b"]["cost"], 1.5 * t[t["fit"] == "b"]["Dp"] + 10)


def test_budget_buys_runs_until_it_is_spent(pair):
    s = crossing(pair, cost="Dp / 1e6", budget=50.0)
    assert s.budget == 50.0 and s.rule in ("per_cost", "largest_reduction")
    runs = s.runs
    assert len(runs) == s.n >= 1
    assert runs["cost"].sum() <= 50.0
    assert not runs[["fit", "Dp"]].duplicated().any()
    left = 50.0 - runs["cost"].sum()
    rest = s.table[s.table["pick"] == 0]
    assert (rest["cost"] > left).all() or (rest["reduction"] <= 0).all()  # nothing affordable still helps
    assert np.all(np.diff(runs["expected_width"]) <= 0)
    assert any("budget 50" in note for note in s.notes)
    with pytest.raises(ScalefitError, match=r"budget=1e-05 buys none of the candidates \(the cheapest costs 0.0001\)"):
        crossing(pair, cost="Dp / 1e6", budget=1e-5)


def test_reweight_method_forecasts_from_the_draws(pair):
    s = crossing(pair, method="reweight", n=2)
    assert "importance-reweighted" in s.method
    assert s.goal["width"] == pytest.approx(s.goal["upper"] - s.goal["lower"], rel=0.05)
    assert len(s.runs) == 2 and s.runs["expected_width"].iloc[-1] < s.goal["width"]
    again = crossing(pair, method="reweight", n=2)
    pd.testing.assert_frame_equal(s.table, again.table)  # seeded


def test_candidates_table_with_a_fit_column(pair):
    cand = pd.DataFrame({"fit": ["a", "b", "b"], "Dp": [1e3, 1e3, 5e7]})
    s = suggest_runs(pair, cand, goal="crossing", axis="Dp", at={}, domain=DOMAIN, n=2)
    assert len(s.table) == 3 and set(s.table["fit"]) == {"a", "b"}
    both = suggest_runs(pair, {"Dp": [1e3, 5e7]}, goal="crossing", axis="Dp", at={}, domain=DOMAIN)
    assert len(both.table) == 4  # every configuration for each fit


def test_width_basis_draws_and_linearised(pair):
    s = crossing(pair)
    assert s.width_basis == "draws"
    assert s.goal["lower"] < s.goal["estimate"] < s.goal["upper"]
    no_draws = (_fit(A, 1, bootstrap=0), _fit(B, 2, bootstrap=0))
    lin = crossing(no_draws, method="auto")
    assert lin.width_basis == "linearised" and "Fisher information" in lin.method
    with pytest.raises(ScalefitError, match=r"method='draws' needs at least 50 bootstrap or posterior draws"):
        crossing(no_draws, method="draws")
    assert lin.goal["estimate"] == pytest.approx(s.goal["estimate"], rel=1e-6)
    # the delta method and the bootstrap agree on the scale of the interval
    assert 0.2 < lin.goal["width"] / s.goal["width"] < 5


def test_json_form(pair):
    s = crossing(pair, n=2, cost="Dp")
    d = json.loads(json.dumps(s.to_dict(limit=5), allow_nan=False))
    assert d["n"] == 2 and len(d["runs"]) == 2 and len(d["candidates"]) == 5
    assert d["n_candidates"] == 50
    assert d["goal"]["kind"] == "crossing" and d["goal"]["which"] == "upper"
    assert "Atkinson" in d["method"] and d["cost"] == "Dp" and d["budget"] is None and d["rule"] == "per_cost"
    assert "RunSuggestions" in repr(s) and "c-optimal" in s.method


# -- bad input: a clear error naming the argument, before any work --------------------------
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(goal="crosing"), ScalefitError, r"goal must be one of .*did you mean 'crossing'"),
        (dict(n=0), ScalefitError, r"n must be an integer in \[1"),
        (dict(n=2.5), ScalefitError, r"n must be an integer"),
        (dict(n=51), ScalefitError, r"n=51 is more than the 50 candidates"),
        (dict(interval=90), ScalefitError, r"interval .* e\.g\. 0\.9"),
        (dict(which="middle"), ScalefitError, r"which must be one of 'upper', 'lower'"),
        (dict(which=3), ScalefitError, r"which=3: the best fits cross 2 time"),
        (dict(axis="dp"), ScalefitError, r"axis 'dp' .*did you mean 'Dp'"),
        (dict(axis=None), ScalefitError, r"needs axis="),
        (dict(domain=(1e8, 1e2)), ScalefitError, r"domain must satisfy 0 < low < high.*swap"),
        (dict(domain=(1e7, 1e10)), ScalefitError, r"do not cross along Dp"),
        (dict(at={"M": 1.0}), ScalefitError, r"at= names 'M'"),
        (dict(bounds={"dp": (1, 10)}), ScalefitError, r"bounds names 'dp'.*did you mean 'Dp'"),
        (dict(bounds={"Dp": (10, 1)}), ScalefitError, r"bounds\['Dp'\] must satisfy 0 < low < high"),
        (dict(bounds={"Dp": (0, 10)}), ScalefitError, r"bounds\['Dp'\] low must be a finite number > 0"),
        (dict(bounds=[1, 2]), TypeError, r"bounds must be a non-empty dict"),
        (dict(points=1), ScalefitError, r"points must be an integer in \[2"),
        (dict(cost="6*N*Dp"), ScalefitError, r"cost '6\*N\*Dp' names 'N', which is not a variable of the candidate"),
        (dict(cost="Dp; import os"), ScalefitError, r"cost 'Dp; import os' is not a formula"),
        (dict(cost="__import__('os')"), ScalefitError, r"a Call is not allowed"),
        (dict(cost="Dp - 1e9"), ScalefitError, r"cost gives .* every run must cost a finite amount > 0"),
        (dict(cost={"dp": 1.0}), ScalefitError, r"must name variables of the candidate runs.*'dp'.*did you mean 'Dp'"),
        (dict(cost={"Dp": -1.0}), ScalefitError, r"cost\['Dp'\] must be a finite number >= 0"),
        (dict(cost={"a": "Dp"}), ScalefitError, r"gives costs per fit but not for \['b'\]"),
        (dict(cost=lambda N: N), ScalefitError, r"has parameter 'N', which is not a variable of the candidate runs"),
        (dict(cost=3.0), TypeError, r"cost must be a dict \{variable: cost per unit\}, a cost formula"),
        (dict(names=("a", "a")), ScalefitError, r"names must be two different labels"),
        (dict(method="bayes"), ScalefitError, r"method must be one of 'auto', "),
        (dict(budget=-1.0), ScalefitError, r"budget must be a finite number > 0"),
        (dict(budget="10"), TypeError, r"budget must be a finite number > 0"),
    ],
)
def test_bad_crossing_arguments(pair, kwargs, error, match):
    with pytest.raises(error, match=match):
        crossing(pair, **kwargs)


def test_bad_fits_and_candidates(pair):
    with pytest.raises(TypeError, match=r"fits must be a pair of Fits"):
        crossing(pair[0])
    with pytest.raises(ScalefitError, match=r"a crossing needs exactly two fits, got 3"):
        crossing((*pair, pair[0]))
    with pytest.raises(TypeError, match=r"fits\[1\] must be a scalefit Fit"):
        crossing((pair[0], "b.json"))
    given = Fit.from_params(LAW, A)
    with pytest.raises(ScalefitError, match=r"fits\[0\] \(one_dp\) holds no runs .*Fit.from_params"):
        crossing((given, pair[1]))
    with pytest.raises(TypeError, match=r"fits must be one Fit for goal='prediction'"):
        suggest_runs(pair, goal="prediction", at={"Dp": 1e9}, bounds={"Dp": (1e2, 1e8)})
    args = dict(goal="crossing", axis="Dp", at={}, domain=DOMAIN)
    with pytest.raises(ScalefitError, match=r"not both"):
        suggest_runs(pair, {"Dp": [1e3]}, bounds={"Dp": (1e2, 1e8)}, **args)
    with pytest.raises(ScalefitError, match=r"candidates has column 'dp'.*did you mean 'Dp'"):
        suggest_runs(pair, {"dp": [1e3]}, **args)
    with pytest.raises(ScalefitError, match=r"'Dp' must be finite and > 0, got -5"):
        suggest_runs(pair, {"Dp": [1e3, -5.0]}, **args)
    with pytest.raises(ScalefitError, match=r"column 'fit' has 'c'.*must name one of the fits"):
        suggest_runs(pair, pd.DataFrame({"fit": ["a", "c"], "Dp": [1e3, 1e4]}), **args)
    with pytest.raises(ScalefitError, match=r"candidates repeats runs"):
        suggest_runs(pair, {"Dp": [1e3, 1e3]}, **args)
    with pytest.raises(ScalefitError, match=r"candidates has no rows"):
        suggest_runs(pair, pd.DataFrame({"Dp": []}), **args)
    with pytest.raises(ScalefitError, match=r"candidates column 'Dp' has non-numeric"):
        suggest_runs(pair, {"Dp": ["1e3"]}, **args)
    with pytest.raises(ScalefitError, match=r"points= sets the grid of bounds="):
        suggest_runs(pair, {"Dp": [1e3]}, points=5, **args)


def test_bad_prediction_arguments(pair):
    fit = pair[0]
    bounds = {"Dp": (1e2, 1e8)}
    with pytest.raises(ScalefitError, match=r"needs at= the target configuration"):
        suggest_runs(fit, goal="prediction", bounds=bounds)
    with pytest.raises(ScalefitError, match=r"at\['Dp'\] must be a finite number > 0"):
        suggest_runs(fit, goal="prediction", at={"Dp": -1.0}, bounds=bounds)
    with pytest.raises(ScalefitError, match=r"at names 'D'"):
        suggest_runs(fit, goal="prediction", at={"D": 1.0}, bounds=bounds)
    with pytest.raises(ScalefitError, match=r"axis= belongs to goal='crossing'"):
        suggest_runs(fit, goal="prediction", at={"Dp": 1e9}, bounds=bounds, axis="Dp")
    with pytest.raises(ScalefitError, match=r"give candidates= .* or bounds="):
        suggest_runs(fit, goal="prediction", at={"Dp": 1e9})
    with pytest.raises(ScalefitError, match=r"only a crossing of two fits uses"):
        suggest_runs(fit, pd.DataFrame({"fit": ["a"], "Dp": [1e3]}), goal="prediction", at={"Dp": 1e9})
