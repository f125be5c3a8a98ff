"""Issue 10: predictions, summaries and given parameters refuse bad arguments before any work,
and error-rate predictions outside [0, 1] are flagged loudly, never passed off as numbers."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, Fit, Law, LeastSquares, Power, ScalefitError, ScalingWarning, fit_law
from scalefit.datasets.make_synthetic import TRUTH

OK = {"Dp": [3e6, 2e5], "M": [5e7, 1e7], "Df": [2e4, 1e4]}
SATURATING = Law(Constant("E") + Power("x", "a", scale="l"), name="near_one", metric="error_rate")


@pytest.fixture(scope="module")
def boot_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(
            scalefit.paper_error, scalefit.example_runs(), target="error", method=LeastSquares(starts=50, bootstrap=50)
        )


@pytest.fixture(scope="module")
def given():
    return Fit.from_params(scalefit.paper_error, TRUTH)


# -- predict: data ------------------------------------------------------------------------
@pytest.mark.parametrize("data", [[1e6, 1e7, 1e4], "Dp=1e6", None, 3.0])
def test_predict_data_of_the_wrong_type(given, data):
    with pytest.raises(TypeError, match=r"predict\(\): data must be a DataFrame or a mapping"):
        given.predict(data, interval=None)


def test_predict_missing_column_suggests_a_near_miss(given):
    with pytest.raises(ScalefitError, match=r"data needs a column 'Dp' .*\(did you mean 'dp'\?\); got columns"):
        given.predict({"dp": [1e6], "M": [1e7], "Df": [1e4]}, interval=None)


def test_predict_mapped_column_is_named(boot_fit):
    fit = Fit.from_params(scalefit.paper_error, boot_fit.params)
    fit = dataclasses.replace(
        fit, setup=dataclasses.replace(fit.setup, mapping={"Dp": "pretrain", "M": "M", "Df": "Df"})
    )
    with pytest.raises(ScalefitError, match=r"needs a column 'Dp' or 'pretrain' for law variable Dp"):
        fit.predict({"M": [1e7], "Df": [1e4]}, interval=None)
    out = fit.predict({"pretrain": [1e6], "M": [1e7], "Df": [1e4]}, interval=None)
    assert out["Dp"].tolist() == [1e6]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("Dp", ["1e6", 2e6], r"data column 'Dp' \(law variable Dp\) has non-numeric values in row 0 \(e.g. '1e6'\)"),
        ("M", [True, False], r"data column 'M' \(law variable M\) holds True/False values"),
        ("Df", [1e4, np.nan], r"data column 'Df' \(law variable Df\) has missing \(NaN\) values in row 1"),
        ("Df", [np.inf, 1e4], r"data column 'Df' \(law variable Df\) has infinite values in row 0"),
        ("Dp", [-1.0, 0.0], r"data column 'Dp' \(law variable Dp\) has non-positive values in rows 0, 1"),
        ("M", [None, 1e7], r"data column 'M' \(law variable M\) has missing \(NaN\) values in row 0"),
    ],
)
def test_predict_bad_values_name_column_and_rows(given, column, values, message):
    data = {**OK, column: values}
    with pytest.raises(ScalefitError, match=message):
        given.predict(data, interval=None)
    with pytest.raises(ScalefitError, match=message):
        given.predict(pd.DataFrame(data), interval=None)


def test_predict_rows_are_named_by_the_tables_index(given):
    frame = pd.DataFrame(OK, index=["a", "b"])
    frame.loc["b", "Dp"] = -5.0
    with pytest.raises(ScalefitError, match=r"non-positive values in row b \(e.g. -5\)"):
        given.predict(frame, interval=None)


def test_predict_ragged_flat_and_empty_data(given):
    with pytest.raises(ScalefitError, match=r"columns of data have different lengths \(Dp: 2, M: 1, Df: 2\)"):
        given.predict({**OK, "M": [1e7]}, interval=None)
    with pytest.raises(ScalefitError, match=r"data\['Dp'\] must be a number or a flat list of numbers"):
        given.predict({**OK, "Dp": [[1e6, 2e6], [1e6, 2e6]]}, interval=None)
    with pytest.raises(ScalefitError, match=r"data has no rows"):
        given.predict(pd.DataFrame({"Dp": [], "M": [], "Df": []}), interval=None)
    twice = pd.concat([pd.DataFrame(OK), pd.DataFrame({"Dp": [1.0, 2.0]})], axis=1)
    with pytest.raises(ScalefitError, match=r"more than one column named 'Dp'"):
        given.predict(twice, interval=None)


def test_predict_scalars_and_extra_columns_are_fine(given):
    out = given.predict({"Dp": 1e6, "M": 1e7, "Df": 1e4, "note": "x"}, interval=None)
    assert len(out) == 1 and "note" not in out


# -- predict: interval and seed -----------------------------------------------------------
@pytest.mark.parametrize(
    ("interval", "error", "message"),
    [
        (90, ScalefitError, r"interval must be .*got 90; give a fraction, e.g. 0.9 for 90%"),
        (0, ScalefitError, r"interval must be a finite number > 0 and < 1, got 0"),
        (1.0, ScalefitError, r"interval must be .*got 1.0"),
        (float("nan"), ScalefitError, r"interval must be .*got nan"),
        ("0.9", TypeError, r"interval must be .*got '0.9' \(str\)"),
        (True, TypeError, r"interval must be .*got True \(bool\)"),
    ],
)
def test_predict_interval(boot_fit, interval, error, message):
    with pytest.raises(error, match=message):
        boot_fit.predict(OK, interval=interval)


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [
        (-1, ScalefitError, r"seed must be an integer >= 0, got -1"),
        (1.5, ScalefitError, r"seed must be an integer >= 0, got 1.5"),
        ("1", TypeError, r"seed must be an integer >= 0, got '1' \(str\)"),
        (None, TypeError, r"seed must be an integer >= 0, got None"),
    ],
)
def test_predict_seed(boot_fit, seed, error, message):
    with pytest.raises(error, match=message):
        boot_fit.predict(OK, seed=seed)


def test_predict_interval_without_draws(given):
    with pytest.raises(ScalefitError, match=r"predict\(\): this fit has no bootstrap replicates.*interval=None"):
        given.predict(OK)


def test_arguments_are_checked_before_the_data(given):
    with pytest.raises(ScalefitError, match="interval"):
        given.predict({"nothing": [1]}, interval=5)


# -- summary and residuals_by ------------------------------------------------------------
def test_summary_interval(boot_fit):
    with pytest.raises(ScalefitError, match=r"interval must be .*got 95; give a fraction, e.g. 0.95"):
        boot_fit.summary(interval=95)
    with pytest.raises(TypeError, match=r"interval must be .*got None \(NoneType\)"):
        boot_fit.summary(interval=None)


def test_residuals_by(boot_fit, given):
    with pytest.raises(
        ScalefitError, match=r"variable 'dp' is not a variable of law 'paper_error' \(did you mean 'Dp'"
    ):
        boot_fit.residuals_by("dp")
    with pytest.raises(ScalefitError, match=r"its variables are \['Dp', 'M', 'Df'\]"):
        boot_fit.residuals_by("steps")
    with pytest.raises(TypeError, match=r"variable must be the name of a law variable.*got 3 \(int\)"):
        boot_fit.residuals_by(3)
    with pytest.raises(ScalefitError, match=r"residuals_by\(\): this fit holds no runs"):
        given.residuals_by("Dp")
    assert list(boot_fit.residuals_by("Dp").columns) == ["runs", "mean", "rms"]


# -- from_params ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"alpah": 0.4}, ScalefitError, r"params names unknown parameter 'alpah' \(did you mean 'alpha'\?\)"),
        ({"alpha": float("nan")}, ScalefitError, r"params\['alpha'\] must be a finite number, got nan"),
        ({"alpha": float("inf")}, ScalefitError, r"params\['alpha'\] must be a finite number, got inf"),
        ({"alpha": "0.4"}, TypeError, r"params\['alpha'\] must be a finite number, got '0.4' \(str\)"),
        ({"alpha": True}, TypeError, r"params\['alpha'\] must be a finite number, got True \(bool\)"),
        ({"lambda_p": 0.0}, ScalefitError, r"params\['lambda_p'\] = 0.0 is outside its range \(> 0; lambda_p is a sc"),
        ({"E_inf": -0.1}, ScalefitError, r"params\['E_inf'\] = -0.1 is outside its range \(>= 0; E_inf is a const"),
    ],
)
def test_from_params_values(change, error, message):
    params = {**TRUTH, **change}
    if "alpah" in change:
        del params["alpha"]
    with pytest.raises(error, match=message):
        Fit.from_params(scalefit.paper_error, params)


def test_from_params_arguments():
    with pytest.raises(ScalefitError, match=r"params is missing \['alpha'\] for law 'paper_error'"):
        Fit.from_params(scalefit.paper_error, {k: v for k, v in TRUTH.items() if k != "alpha"})
    with pytest.raises(TypeError, match=r"params must be a dict \{parameter: value\}"):
        Fit.from_params(scalefit.paper_error, list(TRUTH.values()))
    with pytest.raises(TypeError, match=r"law must be a scalefit Law or term .*get_law\('paper_error'\)"):
        Fit.from_params("paper_error", TRUTH)
    with pytest.raises(TypeError, match=r"target must be a non-empty string, got 3"):
        Fit.from_params(scalefit.paper_error, TRUTH, target=3)
    fit = Fit.from_params(scalefit.paper_error.expr, TRUTH)  # a bare term is a law
    assert fit.params == TRUTH


def _draws(n=20, **change):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.01, n)) for k, v in TRUTH.items()})
    for k, v in change.items():
        table[k] = v
    return table


@pytest.mark.parametrize(
    ("draws", "error", "message"),
    [
        ([0.4, 0.5], TypeError, r"draws must be a DataFrame \(or a dict\) with one column per parameter"),
        (_draws().drop(columns="alpha"), ScalefitError, r"draws has no column 'alpha'; it needs one column per"),
        (_draws().rename(columns={"alpha": "alpah"}), ScalefitError, r"draws has column 'alpah' \(did you mean"),
        (_draws().iloc[:0], ScalefitError, r"draws has no rows"),
        (
            _draws(alpha=[0.4, np.nan] * 10),
            ScalefitError,
            r"draws column 'alpha' has NaN or infinite values in rows 1,",
        ),
        (_draws(alpha=["0.4"] * 20), ScalefitError, r"draws column 'alpha' has non-numeric values in rows 0, 1"),
        (_draws(lambda_p=[-0.1] * 20), ScalefitError, r"draws column 'lambda_p' has values outside its range \(> 0"),
        ({**TRUTH, "alpha": [0.4, 0.5]}, ScalefitError, r"draws: every column must have the same length"),
    ],
)
def test_from_params_draws(draws, error, message):
    with pytest.raises(error, match=message):
        Fit.from_params(scalefit.paper_error, TRUTH, draws=draws)


def test_from_params_draws_noise_columns_are_ignored():
    fit = Fit.from_params(scalefit.paper_error, TRUTH, draws=_draws(sigma=0.02))
    assert list(fit.draws.columns) == list(scalefit.paper_error.parameters)
    assert fit.predict(OK)["ci_lower"].notna().all()


# -- error rates outside [0, 1] ----------------------------------------------------------------
@pytest.mark.filterwarnings(r"ignore:predict\(\). \d+ of \d+ predictions lie up to:scalefit.errors.ScalingWarning")
def test_error_rate_above_one_is_flagged_loudly(boot_fit):
    far = {"Dp": [3e6, 1e2], "M": [5e7, 1e3], "Df": [2e4, 5.0]}
    with pytest.warns(
        ScalingWarning, match=r"predicts an error rate, but the prediction leaves \[0, 1\] in row 1 \(mean"
    ):
        out = boot_fit.predict(far)
    assert out["outside_0_1"].tolist() == [False, True] and out["mean"][1] > 1
    assert out["interval_outside_0_1"][1] and out["extrapolated"][1]


def test_error_rate_within_the_runs_is_quiet(boot_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = boot_fit.predict(OK)
    assert not out["outside_0_1"].any() and not out["interval_outside_0_1"].any()
    point = boot_fit.predict(OK, interval=None)
    assert list(point.columns) == [
        "Dp",
        "M",
        "Df",
        "mean",
        "extrapolated",
        "decades_beyond",
        "supported",
        "outside_0_1",
    ]


def test_interval_crossing_one_is_flagged():
    rng = np.random.default_rng(1)
    draws = pd.DataFrame({"E": rng.uniform(0.9, 1.1, 200), "a": np.full(200, 0.5), "l": np.full(200, 1.0)})
    fit = Fit.from_params(SATURATING, {"E": 0.9, "a": 0.5, "l": 1.0}, draws=draws)
    with pytest.warns(ScalingWarning, match=r"the 90% intervals reach beyond \[0, 1\] in row 0 .*impossible"):
        out = fit.predict({"x": [1e4]})
    assert out["mean"][0] < 1 and not out["outside_0_1"][0] and out["interval_outside_0_1"][0]


def test_huge_error_rate_from_given_parameters_is_flagged(given):
    with pytest.warns(ScalingWarning, match=r"leaves \[0, 1\] in rows 0, 1 \(mean .*e\+.*meaningless"):
        out = given.predict({"Dp": [1e-30, 1e-20], "M": [1e7, 1e7], "Df": [1e4, 1e4]}, interval=None)
    assert out["outside_0_1"].all()


def test_which_laws_are_error_rates():
    gap = dict(E=0.1, A=300.0, alpha=0.5, G=2.0, beta=0.3)
    tiny = {"Dp": [1e-6], "Df": [1e-6]}
    by_name = Fit.from_params(scalefit.transfer_gap, gap, target="top1_error")  # no metric: the name decides
    with pytest.warns(ScalingWarning, match=r"target 'top1_error' of law 'transfer_gap' is an error rate"):
        assert by_name.predict(tiny, interval=None)["outside_0_1"][0]
    for fit in (
        Fit.from_params(scalefit.transfer_gap, gap, target="loss"),  # no metric, not an error by name
        Fit.from_params(scalefit.transfer_gap.replace(metric="loss"), gap, target="error"),  # a loss, whatever its name
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert "outside_0_1" not in fit.predict(tiny, interval=None)


def test_predicting_from_a_fit_that_did_not_converge_warns():
    """A fit that did not converge still predicts (the user may want to look), with a warning
    that says so; a converged fit predicts without it."""
    x = np.geomspace(1e3, 1e6, 8)
    flat = pd.DataFrame({"x": x, "y": np.full(8, 0.3)})  # no dependence on x: the exponent is flat
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fit = scalefit.fit_law(scalefit.revisiting_m2, flat, target="y", method=scalefit.LeastSquares(bootstrap=0))
    assert not fit.status.converged
    with pytest.warns(scalefit.ScalingWarning, match=r"predict\(\): this fit did not converge.*refit before"):
        fit.predict({"x": [1e4]}, interval=None)
    good = pd.DataFrame({"x": x, "y": 0.1 + 3 * x**-0.4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        fit = scalefit.fit_law(scalefit.revisiting_m2, good, target="y", method=scalefit.LeastSquares(bootstrap=0))
    assert fit.status.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.predict({"x": [1e4]}, interval=None)
