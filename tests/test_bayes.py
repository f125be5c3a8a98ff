"""Bayesian fitting: the model, priors, noise models, results, diagnostics, comparison."""

import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import scalefit
from scalefit import (
    NUTS,
    Constant,
    Law,
    LeastSquares,
    Power,
    ScalefitError,
    ScalingWarning,
    compare_laws,
    fit_law,
    load_fit,
)
from scalefit.cli.main import main

SMALL_NUTS = dict(chains=2, draws=300, max_draws=300, warmup=300, init=LeastSquares(starts=100, bootstrap=0))
SMALL = dict(method=NUTS(**SMALL_NUTS))
NO_MODEL_TERM = Law(
    Constant("E_inf") + Power("Dp", "alpha", scale="lambda_p") + Power("Df", "gamma", scale="lambda_f"),
    name="eq1_without_M",
)


@pytest.fixture(scope="module")
def bayes_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(scalefit.paper_error, scalefit.example_runs(), target="error", **SMALL)


def test_result_holds_posterior(bayes_fit, truth):
    fit = bayes_fit
    assert fit.setup.method == "bayes" and fit.bayes.noise == "lognormal" and fit.bayes.chains == 2
    assert list(fit.draws.columns) == [*scalefit.paper_error.parameters, "sigma"]
    assert len(fit.draws) == 600
    for name in scalefit.paper_error.parameters:
        assert fit.params[name] == pytest.approx(np.median(fit.draws[name]))
    s = fit.summary(interval=0.95)
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(s.columns)
    assert s.loc["sigma", "how"] == "noise (lognormal)"
    assert 0.015 < s.loc["sigma", "estimate"] < 0.03  # the table was made with sigma = 0.02
    for name, value in truth.items():
        assert s.loc[name, "lower"] <= value <= s.loc[name, "upper"], name
    assert "NUTS: 2 chains x 300 draws" in repr(fit) and "posterior median" in repr(fit)
    assert fit.bayes.priors["alpha"].startswith("LogNormal") and "centred" in fit.bayes.priors["lambda_p"]


def test_predict_credible_and_predictive_intervals(bayes_fit):
    new = pd.DataFrame({"Dp": [2.56e6, 2e5], "M": [86.6e6, 1e7], "Df": [5e4, 1e4]})
    p = bayes_fit.predict(new, interval=0.9, extrapolation=None)  # the posterior predictive alone
    assert (p.pi_lower < p.ci_lower).all() and (p.ci_upper < p.pi_upper).all()
    assert (p.ci_lower < p["mean"]).all() and (p["mean"] < p.ci_upper).all()
    # predictive width ~ the noise: 90% of a 2% log-normal is about +-3.3%
    rel = (p.pi_upper - p.pi_lower) / p["mean"]
    assert ((rel > 0.05) & (rel < 0.2)).all()
    # by default, beyond the runs the extrapolation model widens it; inside, nothing changes
    d = bayes_fit.predict(new, interval=0.9)
    beyond = d["decades_beyond"].to_numpy() > 0
    assert beyond.tolist() == [True, False]
    assert d.pi_lower[0] < p.pi_lower[0] and d.pi_upper[0] > p.pi_upper[0]
    assert d.pi_lower[1] == p.pi_lower[1] and d.pi_upper[1] == p.pi_upper[1]


def test_arviz_and_json(bayes_fit, tmp_path):
    idata = bayes_fit.to_arviz()
    assert set(idata.groups()) >= {"posterior", "log_likelihood", "observed_data"}
    assert idata.posterior["alpha"].shape == (2, 300)
    assert idata.log_likelihood["y"].shape == (2, 300, 196)
    again = load_fit(bayes_fit.to_json(tmp_path / "b.json"))
    pd.testing.assert_frame_equal(again.draws, bayes_fit.draws)
    assert again.bayes.diagnostics == bayes_fit.bayes.diagnostics and again.bayes.noise == "lognormal"
    new = {"Dp": [3e6], "M": [5e7], "Df": [2e4]}
    pd.testing.assert_frame_equal(again.predict(new), bayes_fit.predict(new))
    assert again.to_arviz().posterior["alpha"].shape == (2, 300)


def test_lsq_fit_has_no_posterior(runs):
    fit = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=50, bootstrap=0))
    with pytest.raises(ScalefitError, match="method='bayes'"):
        fit.to_arviz()


@pytest.mark.parametrize("noise", ["normal", "student_t"])
def test_other_noise_models(noise, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(
            scalefit.paper_error, runs, target="error", method=NUTS(**{**SMALL_NUTS, "chains": 1, "noise": noise})
        )
    assert fit.bayes.noise == noise
    assert ("nu" in fit.draws) == (noise == "student_t")
    assert fit.params["alpha"] == pytest.approx(0.4, abs=0.1)
    assert fit.predict({"Dp": [1e6], "M": [1e7], "Df": [1e4]}).pi_upper.notna().all()


def test_prior_override_and_errors(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(
            scalefit.paper_error,
            runs,
            target="error",
            method=NUTS(**SMALL_NUTS, priors={"alpha": dist.Uniform(0.38, 0.41)}),
        )
    assert fit.draws["alpha"].between(0.38, 0.41).all()
    assert fit.bayes.priors["alpha"] == "Uniform(low=0.38, high=0.41)"
    cases = [
        (dict(priors={"alpha_x": dist.Uniform(0, 1)}), ScalefitError, "not a sampled parameter"),
        (dict(priors={"alpha": 0.3}), TypeError, "numpyro distribution"),
        (dict(priors={"alpha": dist.Uniform(2.0, 3.0)}), ScalefitError, "contradicts the data"),
        (dict(noise="gaussian"), ScalefitError, "noise must be one of"),
        (dict(chains=0), ScalefitError, r"chains must be an integer in \[1, 1024\], got 0"),
    ]
    for kwargs, exc, message in cases:
        with pytest.raises(exc, match=message):
            fit_law(scalefit.paper_error, runs, target="error", method=NUTS(**{**SMALL_NUTS, **kwargs}))
    with pytest.raises(ScalefitError, match="express them as priors"):
        fit_law(scalefit.paper_error, runs, target="error", bounds={"alpha": (0, 1)}, **SMALL)


def test_unidentified_law_is_flagged():
    x = np.geomspace(10, 1e5, 30)
    runs = pd.DataFrame({"x": x, "y": (0.3 + 2.0 * x**-0.5) * np.exp(np.random.default_rng(0).normal(0, 0.01, 30))})
    law = Constant("E1") + Constant("E2") + Power("x", "a", amplitude="A")
    with pytest.warns(ScalingWarning) as record:
        fit_law(law, runs, target="y", method=NUTS(**{**SMALL_NUTS, "chains": 1}))
    text = " ".join(str(w.message) for w in record)
    assert "not identified" in text and "E1" in text and "E2" in text


def test_weights_and_known_noise(runs):
    plain = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=100, bootstrap=0))
    doubled = fit_law(
        scalefit.paper_error,
        runs,
        target="error",
        weights=np.full(196, 2.0),
        method=LeastSquares(starts=100, bootstrap=0),
    )
    assert doubled.value == pytest.approx(2 * plain.value, rel=1e-6)
    assert doubled.params["alpha"] == pytest.approx(plain.params["alpha"], rel=1e-4)
    frame = runs.assign(seed_sd=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        known = fit_law(
            scalefit.paper_error,
            frame,
            target="error",
            method=NUTS(**{**SMALL_NUTS, "chains": 1, "noise_scale": "seed_sd"}),
        )
    assert "sigma" not in known.draws
    with pytest.raises(ScalefitError, match="noise_scale"):
        known.predict({"Dp": [1e6], "M": [1e7], "Df": [1e4]})
    assert known.predict({"Dp": [1e6], "M": [1e7], "Df": [1e4]}, interval=None)["mean"].notna().all()
    with pytest.raises(ScalefitError, match="weights.*row 3"):
        fit_law(scalefit.paper_error, runs.assign(w=[1.0, 1.0, 1.0, -1.0] + [1.0] * 192), target="error", weights="w")


def test_compare_laws_ranks_generating_law_first(bayes_fit, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        other = fit_law(NO_MODEL_TERM, runs, target="error", **SMALL)
    with pytest.warns(ScalingWarning, match="did not converge"):  # quick settings: not converged, so forced
        table = compare_laws({"without M": other, "eq1": bayes_fit}, force=True)
    assert table.index[0] == "eq1"
    assert {"elpd_loo", "elpd_diff", "dse", "weight", "pareto_k_bad"} <= set(table.columns)
    assert table.loc["without M", "elpd_diff"] > 5 * table.loc["without M", "dse"]


def test_compare_laws_errors(bayes_fit, runs):
    lsq = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=50, bootstrap=0))
    with pytest.raises(ScalefitError, match="at least two"):
        compare_laws({"a": bayes_fit})
    with pytest.raises(ScalefitError, match="method='bayes'"):
        compare_laws({"a": bayes_fit, "b": lsq})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        noise_free = fit_law(
            scalefit.paper_error, runs, target="error_noise_free", method=NUTS(**{**SMALL_NUTS, "chains": 1})
        )
    with pytest.raises(ScalefitError, match="different runs or targets"):
        compare_laws({"a": bayes_fit, "b": noise_free})


def test_cli_bayes(tmp_path, capsys):
    scalefit.example_runs().to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "b.json"
    argv = ["fit", str(tmp_path / "r.csv"), "--law", "paper_error", "--target", "error", "--method", "bayes"]
    assert main([*argv, "--chains", "1", "--draws", "200", "--warmup", "200", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "credible" in captured.out and "NUTS" in captured.out
    assert main(["predict", str(out), "--at", "Dp=1e6,M=1e7,Df=1e4"]) == 0
    assert "pi_upper" in capsys.readouterr().out
    assert main([*argv, "--noise", "cauchy"]) == 2
    assert "noise must be one of" in capsys.readouterr().err


def test_chinchilla_posterior_medians_inside_epoch_intervals(chinchilla_runs):
    """Besiroglu et al. 2024 (arXiv:2404.10102) bootstrap intervals: A 285-744, B 1042-5810,
    E 1.769-1.871, alpha 0.317-0.373, beta 0.331-0.415."""
    epoch = {"A": (285, 744), "B": (1042, 5810), "E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(
            scalefit.chinchilla,
            chinchilla_runs,
            target="loss",
            method=NUTS(chains=2, draws=500, max_draws=500, warmup=500),
        )
    for name, (lo, hi) in epoch.items():
        assert lo <= fit.params[name] <= hi, (name, fit.params[name])


def test_embedded_example_converges_with_default_settings(runs):
    """Issue 3, check 2: 4 chains x (1000 + 1000) on the embedded table — R-hat <= 1.01, bulk and
    tail ESS >= 400, no divergences; more draws (blocks of 1000, at most 4000) only where the
    first 1000 fall short of that ESS."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalingWarning)  # any diagnostic warning fails the test
        fit = fit_law(scalefit.paper_error, runs, target="error", method="bayes")
    d = fit.bayes.diagnostics
    assert d["chains"] == 4 and d["draws_per_chain"] in (1000, 2000, 3000, 4000)
    assert len(fit.draws) == 4 * d["draws_per_chain"]
    assert max(d["r_hat"].values()) <= 1.01 and d["divergences"] == 0
    assert min(min(d["ess_bulk"].values()), min(d["ess_tail"].values())) >= 400
    assert fit.bayes.priors["E_inf"].startswith("Uniform(low=0, high=0.206")  # min(y): the prior is unchanged


def test_short_chains_continue_until_mixed_or_max_draws(runs):
    """Chains short of the ESS the diagnostics need go on from where they stopped, in blocks of
    ``draws``, up to ``max_draws`` and never past it; ``max_draws=draws`` takes exactly ``draws``. 2 chains x 50
    draws cannot reach ESS 400 (100 draws in all), so the first run extends to its cap."""
    small = dict(chains=2, draws=50, warmup=100, init=LeastSquares(starts=50, bootstrap=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        longer = fit_law(scalefit.paper_error, runs, target="error", method=NUTS(**small, max_draws=130))
        exact = fit_law(scalefit.paper_error, runs, target="error", method=NUTS(**small, max_draws=50))
    assert longer.bayes.diagnostics["draws_per_chain"] == 130 and len(longer.draws) == 260  # the third block cut
    assert exact.bayes.diagnostics["draws_per_chain"] == 50 and len(exact.draws) == 100
    with pytest.raises(ScalefitError, match="max_draws"):
        NUTS(draws=100, max_draws=50)
    assert NUTS().max_draws == 4000 and NUTS(draws=10).max_draws == 40
