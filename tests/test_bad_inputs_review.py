"""Bad inputs found by an independent review (a battery of ~970 cases): each now a clear error."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Law, LeastSquares, Power, ScalefitError, fit_groups, fit_law

LAW = Law(Constant("e_inf") + Power("x", "c", amplitude="b"), name="M2")


@pytest.fixture(scope="module")
def runs():
    x = np.geomspace(1e3, 1e8, 12)
    y = (0.1 + 5.0 * x**-0.3) * np.exp(np.random.default_rng(0).normal(0, 0.01, 12))
    return pd.DataFrame({"task": ["a"] * 6 + ["b"] * 6, "x": x, "y": y})


@pytest.fixture(autouse=True)
def no_solver(monkeypatch, request):
    if "fits" in request.fixturenames:
        return

    def compiled(*args, **kwargs):
        raise AssertionError("the solver was reached: the input was not checked before work")

    monkeypatch.setattr("scalefit.fitting.multistart.compiled", compiled)


@pytest.mark.parametrize(
    ("weights", "message"),
    [(["a"] * 12, "weights must be a column name or numbers"), ({"x": 1}, "weights must be a column name"),
     ([True] * 12, "True/False and text are not read as numbers"), (["1"] * 12, "got list of <U1")],
)  # fmt: skip
def test_weights_of_the_wrong_kind(runs, weights, message):
    with pytest.raises(TypeError, match=message):
        fit_law(LAW, runs, target="y", weights=weights)


def test_duplicated_columns_are_named(runs):
    twice = pd.concat([runs, runs[["y"]]], axis=1)
    with pytest.raises(ScalefitError, match=r"column 'y' \(target\) appears 2 times"):
        fit_law(LAW, twice, target="y")


@pytest.mark.parametrize(
    ("column", "message"),
    [(["1e3"] * 12, r"numbers written as text .* \(e\.g\. '1e3'\)"),
     (pd.to_datetime(["2024-01-01"] * 12), "holds dates"), ([True] * 12, "holds True/False values"),
     (np.full(12, 1 + 1j), "holds complex numbers")],
)  # fmt: skip
def test_columns_that_are_not_real_numbers_are_refused(runs, column, message):
    bad = runs.assign(x=column)
    with pytest.raises(ScalefitError, match=message):
        fit_law(LAW, bad, target="y")


def test_by_naming_a_column_twice(runs):
    with pytest.raises(ScalefitError, match="names a column twice"):
        fit_groups(LAW, runs, ["task", "task"], target="y")


def test_start_grids_too_large_or_outside_the_bounds(runs):
    grid = {"e_inf": np.linspace(0.01, 1, 200), "c": np.linspace(0.1, 1, 200), "b": np.linspace(1, 9, 200)}
    with pytest.raises(ScalefitError, match=r"grid gives 8e\+06 starting points"):
        fit_law(LAW, runs, target="y", method=LeastSquares(starts=grid))
    with pytest.raises(ScalefitError, match=r"value -1 for 'c' lies outside its bounds"):
        fit_law(LAW, runs, target="y", method=LeastSquares(starts={"e_inf": [0.1], "c": [-1.0], "b": [5.0]}))


@pytest.fixture(scope="module")
def fits(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        return fit_groups(LAW, runs, "task", target="y", method=LeastSquares(starts=32, bootstrap=0))


@pytest.mark.filterwarnings(r"ignore:predict\(\). \d+ of \d+ predictions lie up to:scalefit.errors.ScalingWarning")
def test_fits_predict_edge_cases(fits):
    with pytest.raises(ScalefitError, match="data has no rows"):
        fits.predict(pd.DataFrame({"task": [], "x": []}), interval=None)
    with pytest.raises(ScalefitError, match=r"data column 'task' has missing values in rows \[1\]"):
        fits.predict(pd.DataFrame({"task": ["a", None], "x": [1e7, 1e7]}), interval=None)
    twice = fits.predict(pd.DataFrame({"task": ["b", "a"], "x": [1e7, 1e7]}, index=[0, 0]), interval=None)
    assert len(twice) == 2 and list(twice.task) == ["b", "a"] and list(twice.index) == [0, 0]
