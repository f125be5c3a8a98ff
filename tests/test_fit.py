"""Least-squares fitting: known answers, published fits, options, results, persistence."""

import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Constant, LeastSquares, Power, ScalefitError, ScalingWarning, fit_law, load_fit

FAST = dict(method=LeastSquares(starts=100, bootstrap=0))


def test_noise_free_eq1_recovered_to_1e4(noise_free_runs, truth):
    fit = fit_law(scalefit.paper_error, noise_free_runs, target="error", **FAST)
    assert fit.status.converged, fit.status.message
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4), name
    assert fit.value < 1e-20


def test_chinchilla_reproduces_epoch_grid_replication(chinchilla_runs):
    """Besiroglu et al. 2024 (arXiv:2404.10102), grid-start replication on 240 points:
    A 477.84, B 2143.86, E 1.8172, alpha 0.34731, beta 0.36718; Huber 1e-3 on log-residuals."""
    epoch = dict(A=477.84, B=2143.86, E=1.8172, alpha=0.34731, beta=0.36718)
    assert len(chinchilla_runs) == 240
    fit = fit_law(scalefit.chinchilla, chinchilla_runs, target="loss", method=LeastSquares(bootstrap=0))
    assert fit.setup.objective.name == "huber" and fit.setup.objective.delta == 1e-3
    for name, value in epoch.items():
        assert fit.params[name] == pytest.approx(value, rel=0.01), name
    r = np.log(scalefit.chinchilla.evaluate(epoch, chinchilla_runs)) - np.log(chinchilla_runs["loss"])
    a = np.abs(r)
    theirs = np.sum(np.where(a <= 1e-3, 0.5 * r * r, 1e-3 * (a - 0.5e-3)))
    assert theirs == pytest.approx(1.01827e-3, rel=1e-4)  # the objective Epoch report
    assert fit.value <= theirs * (1 + 1e-12)


def test_multi_start_report_and_status(runs):
    fit = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=300, bootstrap=0))
    assert fit.starts.n_starts == 300 and fit.starts.n_polished == 32
    assert fit.starts.unique and fit.starts.n_at_best >= 2
    assert fit.starts.best_values[0] == pytest.approx(fit.value)
    assert fit.status.converged and "converged" in fit.status.message


def test_non_unique_optimum_is_reported():
    x = np.geomspace(10, 1e5, 30)
    runs = pd.DataFrame({"x": x, "y": 0.3 + 2.0 * x**-0.5})
    law = Constant("E1") + Constant("E2") + Power("x", "a", amplitude="A")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(law, runs, target="y", method=LeastSquares(starts=64, bootstrap=0))
    assert not fit.starts.unique
    assert "NOT unique" in str(fit.starts)
    assert any("E1" in m and "E2" in m for m in fit.identifiability.messages)


def test_identifiability_flags_unbent_curve():
    """Runs only at small Dp: the floor and the Dp term cannot be told apart."""
    dp = np.geomspace(1e3, 3e3, 12)
    runs = pd.DataFrame({"Dp": dp, "error": 0.2 + dp**-0.3})
    law = Constant("E_inf") + Power("Dp", "alpha", amplitude="A")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(law, runs, target="error", objective="squared_log", method=LeastSquares(starts=64, bootstrap=0))
    assert not fit.identifiability.ok
    assert any("add runs at larger Dp" in m for m in fit.identifiability.messages)


@pytest.mark.filterwarnings(r"ignore:lack of fit along:scalefit.errors.ScalingWarning")
@pytest.mark.filterwarnings(r"ignore:\w+ at its (lower |upper )?bound:scalefit.errors.ScalingWarning")
def test_fix_tie_and_bounds(noise_free_runs, truth):
    law = scalefit.paper_error
    fixed = fit_law(law, noise_free_runs, target="error", fix={"E_inf": truth["E_inf"]}, **FAST)
    assert fixed.params["E_inf"] == truth["E_inf"]
    assert fixed.summary().loc["E_inf", "how"] == "fixed"
    assert fixed.params["alpha"] == pytest.approx(truth["alpha"], rel=1e-4)

    zero = fit_law(law, noise_free_runs, target="error", fix={"E_inf": 0.0}, **FAST)
    assert zero.params["E_inf"] == 0.0 and zero.status.converged and zero.value > fixed.value

    tied = fit_law(law, noise_free_runs, target="error", tie={"gamma": "alpha"}, **FAST)
    assert tied.params["gamma"] == tied.params["alpha"]
    assert tied.summary().loc["gamma", "how"] == "tied to alpha"

    bounded = fit_law(law, noise_free_runs, target="error", bounds={"alpha": (0.1, 0.3)}, **FAST)
    assert 0.1 < bounded.params["alpha"] <= 0.3
    assert bounded.params["alpha"] == pytest.approx(0.3, abs=1e-3)  # truth 0.4 lies outside

    scale_bounded = fit_law(law, noise_free_runs, target="error", bounds={"lambda_p": (0.2, 5.0)}, **FAST)
    assert 0.2 <= scale_bounded.params["lambda_p"] <= 5.0


def test_objectives_are_recorded_and_differ(runs):
    fits = {
        o: fit_law(scalefit.paper_error, runs, target="error", objective=o, **FAST)
        for o in scalefit.fitting.objective.OBJECTIVES
    }
    assert {f.setup.objective.name for f in fits.values()} == {"huber", "squared_log", "squared"}
    assert "Huber(delta=0.001)" in repr(fits["huber"])
    assert fits["squared"].params["alpha"] != fits["huber"].params["alpha"]
    for f in fits.values():
        assert f.params["alpha"] == pytest.approx(0.4, abs=0.1)


def test_grid_and_dataframe_starts(noise_free_runs, truth):
    law = scalefit.chinchilla
    runs = pd.DataFrame({"N": noise_free_runs["M"], "D": noise_free_runs["Dp"]})
    p = dict(E=1.8, A=400.0, alpha=0.34, B=2000.0, beta=0.37)
    runs["loss"] = law.evaluate(p, runs)
    grid = {"E": [1.0, 2.0], "alpha": [0.2, 0.6], "A": [10.0, 1000.0], "beta": [0.2, 0.6], "B": [10.0, 1e4]}
    fit = fit_law(law, runs, target="loss", method=LeastSquares(starts=grid, bootstrap=0))
    assert fit.starts.n_starts == 32
    assert fit.params["beta"] == pytest.approx(0.37, rel=1e-4)
    frame = pd.DataFrame([p])
    assert fit_law(law, runs, target="loss", method=LeastSquares(starts=frame, bootstrap=0)).starts.n_starts == 1
    with pytest.raises(ScalefitError, match=r"missing \['B'\]"):
        fit_law(law, runs, target="loss", method=LeastSquares(starts={k: v for k, v in grid.items() if k != "B"}))


@pytest.mark.filterwarnings(r"ignore:lack of fit along:scalefit.errors.ScalingWarning")  # 2 steps: far from it
def test_not_converged_is_loud(runs):
    with pytest.warns(ScalingWarning, match="max_steps"):
        fit = fit_law(
            scalefit.paper_error,
            runs,
            target="error",
            method=LeastSquares(starts=8, explore_steps=1, polish=2, max_steps=2, bootstrap=0),
        )
    assert not fit.status.converged
    assert "increase max_steps" in fit.status.message
    with pytest.raises(ScalefitError, match="did not converge"):
        fit_law(
            scalefit.paper_error,
            runs,
            target="error",
            method=LeastSquares(starts=8, explore_steps=1, polish=2, max_steps=2, bootstrap=0, throw=True),
        )


@pytest.fixture(scope="module")
def boot_fit():
    return fit_law(
        scalefit.paper_error, scalefit.example_runs(), target="error", method=LeastSquares(starts=200, bootstrap=400)
    )


def test_bootstrap_intervals(boot_fit, truth):
    s = boot_fit.summary(interval=0.95)
    assert list(s.columns) == ["estimate", "how", "lower", "upper", "std"]
    assert boot_fit.bootstrap.requested == 400 and boot_fit.bootstrap.converged > 0.9
    assert len(boot_fit.draws) == round(400 * boot_fit.bootstrap.converged)  # failed replicates dropped
    for name, value in truth.items():
        assert s.loc[name, "lower"] <= value <= s.loc[name, "upper"], name
    narrow = boot_fit.summary(interval=0.5)
    assert (narrow["upper"] - narrow["lower"] < s["upper"] - s["lower"]).all()


def test_predict_intervals(boot_fit, truth):
    new = pd.DataFrame({"Dp": [2.56e6, 2e5], "M": [86.6e6, 10e6], "Df": [5e4, 1e4]})
    pred = boot_fit.predict(new, interval=0.9)
    cols = ["Dp", "M", "Df", "mean", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "extrapolated"]
    cols += ["decades_beyond", "supported"]
    assert list(pred.columns) == [*cols, "outside_0_1", "interval_outside_0_1"]  # an error-rate law
    assert pred.decades_beyond[0] > 0 and pred.decades_beyond[1] == 0 and pred.supported.all()
    assert (pred.ci_lower < pred["mean"]).all() and (pred["mean"] < pred.ci_upper).all()
    assert (pred.pi_lower < pred.ci_lower).all() and (pred.pi_upper > pred.ci_upper).all()
    assert pred.extrapolated.tolist() == [True, False]
    true_mean = scalefit.paper_error.evaluate(truth, new)
    assert ((pred.ci_lower < true_mean) & (true_mean < pred.ci_upper)).all()
    # width grows under extrapolation
    width = (pred.ci_upper - pred.ci_lower) / pred["mean"]
    assert width[0] > width[1]
    point = ["Dp", "M", "Df", "mean", "extrapolated", "decades_beyond", "supported", "outside_0_1"]
    assert list(boot_fit.predict(new, interval=None).columns) == point


def test_predict_errors(boot_fit):
    with pytest.raises(ScalefitError, match="needs a column 'Df'"):
        boot_fit.predict({"Dp": [1e6], "M": [1e7]})
    with pytest.raises(ScalefitError, match="non-positive"):
        boot_fit.predict({"Dp": [-1.0], "M": [1e7], "Df": [1e4]})
    with pytest.raises(ScalefitError, match="interval"):
        boot_fit.predict({"Dp": [1e6], "M": [1e7], "Df": [1e4]}, interval=90)


def test_json_round_trip(boot_fit, tmp_path):
    path = tmp_path / "fit.json"
    text = boot_fit.to_json(path)
    assert "pickle" not in text and path.read_text() == text
    again = load_fit(path)
    assert again.params == boot_fit.params and again.law == boot_fit.law
    assert again.setup.objective == boot_fit.setup.objective and again.setup.problem.free == boot_fit.setup.problem.free
    pd.testing.assert_frame_equal(again.draws, boot_fit.draws)
    new = {"Dp": [3e6], "M": [5e7], "Df": [2e4]}
    pd.testing.assert_frame_equal(again.predict(new), boot_fit.predict(new))
    assert repr(again) == repr(boot_fit)
    assert load_fit(text).params == boot_fit.params


def test_result_is_immutable_and_readable(boot_fit):
    with pytest.raises(AttributeError):
        boot_fit.value = 0.0
    text = repr(boot_fit)
    for needle in (
        "paper_error",
        "lambda_p",
        "best fit, 95% bootstrap",
        "status: converged",
        "starts:",
        "bootstrap:",
        "identifiability",
    ):
        assert needle in text


def test_load_fit_errors(tmp_path):
    with pytest.raises(ScalefitError, match="does not exist"):
        load_fit(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ScalefitError, match="not a scalefit fit file"):
        load_fit(bad)
    bad.write_text('{"format": "scalefit.fit/1", "law": {}}')
    with pytest.raises(ScalefitError, match="damaged or from an incompatible"):
        load_fit(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ScalefitError, match="not a fit"):
        load_fit(bad)


def test_a_floor_driven_to_zero_is_not_reported_as_non_unique(truth):
    """E_inf -> 0 lands at 1e-20 in one start and 1e-60 in another: no prediction changes, so the
    starts agree; a relative spread of 1e40 would be noise, not non-uniqueness."""
    from tests.conftest import noisy_runs

    runs = noisy_runs({**truth, "E_inf": 1e-12}, 0.01, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=300, bootstrap=0))
    assert fit.params["E_inf"] < 1e-4 * runs["error"].min()
    assert fit.starts.spread["E_inf"] < 1e-3
    assert not any("NOT unique" in str(w.message) and "E_inf" in str(w.message) for w in caught)
