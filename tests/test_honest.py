"""Issue 9: every interval means what it says — units, bounds, flat directions, failed
replicates, misfit. Real tables from ../shared/data are used where present (skipped if not)."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, Constant, LeastSquares, Power, ScalingWarning, fit_law
from scalefit.datasets.make_synthetic import grid
from scalefit.fitting.problem import unit_carriers

from .conftest import SHARED_DATA

FMNIST = "examples/data/fmnist_mnist_runs.csv"

# one truth per catalogue law, on a grid of its variables (paper form)
TRUTHS = {
    "paper_error": dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25),
    "paper_loss": dict(
        L_inf=0.3, alpha_pprime=0.4, omega_p=0.02, beta_pprime=0.5, omega_m=0.002, gamma_pprime=0.35, omega_f=0.05
    ),
    "paper_distilled": dict(
        E_inf_prime=0.05,
        alpha_prime=0.4,
        lambda_p_prime=0.1,
        beta_prime=0.5,
        lambda_m_prime=0.006,
        gamma_prime=0.35,
        lambda_f_prime=0.25,
        eta_prime=0.3,
        delta_prime=0.5,
    ),  # fmt: skip
    "transfer_gap": dict(E=0.05, alpha=0.5, A=200.0, G=0.3, beta=0.3),
    "chinchilla": dict(E=1.8, alpha=0.34, A=480.0, beta=0.37, B=2100.0),
}
LEVELS = {
    "Dp": np.geomspace(6e4, 1.28e6, 5),
    "M": np.array([2.6e6, 10e6, 22.1e6, 38.8e6]),
    "Df": np.geomspace(2.5e3, 5e4, 5),
    "Mt": np.array([5e6, 2e7, 8e7]),
    "N": np.geomspace(4e7, 1.6e10, 6),
    "D": np.geomspace(8e8, 4e11, 6),
}


def _law_runs(name, seed=0, sigma=0.02):
    law = getattr(scalefit, name)
    mesh = np.meshgrid(*(LEVELS[v] for v in law.variables), indexing="ij")
    runs = pd.DataFrame({v: m.ravel() for v, m in zip(law.variables, mesh, strict=True)})
    rng = np.random.default_rng(seed)
    runs["y"] = law.evaluate(TRUTHS[name], runs) * np.exp(rng.normal(0, sigma, len(runs)))
    return law, runs


def _quiet_fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(*args, **kw)


# -- 1. units ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TRUTHS))
def test_rescaling_variables_changes_nothing_a_user_sees(name):
    law, runs = _law_runs(name)
    fits = {}
    for k in (1e-6, 1.0, 1e6):
        scaled = runs.copy()
        for v in law.variables:
            scaled[v] = runs[v] * k
        fits[k] = _quiet_fit(law, scaled, target="y", seed=1, method=LeastSquares(starts=200, bootstrap=200))
    base = fits[1.0]
    table = base.summary()
    carriers = {n for _, _, c in unit_carriers(law) for n in c or ()}
    assert carriers and not carriers & {p for p, spec in law.specs.items() if spec.role == "exponent"}
    for k, fit in fits.items():
        s = fit.summary()
        # parameters that carry no unit (exponents, the floor) do not change; nor do predictions
        for p in law.parameters:
            if p not in carriers:
                assert fit.params[p] == pytest.approx(base.params[p], rel=1e-4), (k, p)
                for end in ("lower", "upper"):
                    assert s.loc[p, end] == pytest.approx(table.loc[p, end], rel=0.02, abs=1e-9), (k, p, end)
        scaled = runs.copy()
        for v in law.variables:
            scaled[v] = runs[v] * k
        pred = fit.predict(scaled[list(law.variables)], interval=0.9)
        ref = base.predict(runs[list(law.variables)], interval=0.9)
        for col in ("mean", "ci_lower", "ci_upper"):
            np.testing.assert_allclose(pred[col], ref[col], rtol=0.02)
        assert fit.bootstrap.converged == pytest.approx(base.bootstrap.converged, abs=0.03)
        assert fit.status.converged == base.status.converged


def test_bayesian_fit_converges_in_any_units():
    """Transfer-gap law (a bare Df^-beta in a product, as Mikami's table): percent vs images.
    The chains mix in both units, and the posterior of the unit-free exponent beta is the same
    in both, within the Monte-Carlo error of the two medians."""
    law, runs = _law_runs("transfer_gap", seed=3, sigma=0.03)
    runs = runs.rename(columns={"Df": "Df_images"})
    runs["Df_percent"] = runs["Df_images"] / 5e4 * 100
    median, error = {}, {}
    for col in ("Df_percent", "Df_images"):
        fit = _quiet_fit(
            law,
            runs,
            target="y",
            mapping={"Df": col},
            method=NUTS(chains=2, draws=500, warmup=500, init=LeastSquares(bootstrap=0, starts=200)),
        )
        d = fit.bayes.diagnostics
        # the chains go on from where they stopped until mixed (max_draws, default 4x draws), as
        # a user's fit does: at a fixed 500 draws R-hat, and the count of divergent transitions on
        # this weakly identified G, hinged on rounding in the start (R-hat 1.00 or 1.12, 1 or 54
        # divergences, for least-squares optima 1e-15 apart)
        assert max(d["r_hat"].values()) < 1.03, (col, d["r_hat"])
        beta = fit.draws["beta"].to_numpy()
        median[col] = float(np.median(beta))
        error[col] = 1.2533 * float(np.std(beta)) / np.sqrt(d["ess_bulk"]["beta"])  # s.e. of a median
        assert fit.params["beta"] == pytest.approx(TRUTHS["transfer_gap"]["beta"], rel=0.3)
    assert abs(median["Df_percent"] - median["Df_images"]) <= 4 * np.hypot(*error.values()), (median, error)


# -- 2. parameters at a bound -----------------------------------------------------------------
def _eq1_runs(e_inf, seed, sigma=0.02):
    truth = dict(TRUTHS["paper_error"], E_inf=e_inf)
    runs = grid()
    rng = np.random.default_rng(seed)
    runs["error"] = scalefit.paper_error.evaluate(truth, runs) * np.exp(rng.normal(0, sigma, len(runs)))
    return runs


@pytest.mark.parametrize("seed", [4, 6])
def test_floor_at_zero_gets_an_interval_from_zero(seed):
    runs = _eq1_runs(0.0, seed=seed)
    fit = _quiet_fit(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=200, bootstrap=200))
    row = fit.summary().loc["E_inf"]
    assert row["lower"] == 0.0 and row["upper"] > 1e-4
    assert row["lower"] <= row["estimate"] <= row["upper"]
    assert row["how"].startswith("at lower bound") == ("E_inf" in fit.bounds)


def test_floor_at_zero_is_reported_at_its_bound_with_a_one_sided_interval():
    runs = _eq1_runs(0.0, seed=5)
    runs = runs[runs.Dp < runs.Dp.max()]  # the floor is then not visible at all
    with pytest.warns(ScalingWarning, match="E_inf at its lower bound 0"):
        fit = fit_law(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=200, bootstrap=200))
    row = fit.summary().loc["E_inf"]
    assert row["how"].startswith("at lower bound")
    assert row["lower"] == 0.0 and row["upper"] > 1e-4  # not zero width, and contains the truth 0
    assert row["lower"] <= row["estimate"] <= row["upper"]
    assert "E_inf" in fit.bounds and fit.bounds["E_inf"]["profile"]["values"]
    text = str(fit)
    assert "(at lower bound 0)" in text and "[0, " in text
    # the saved fit keeps the profile, so the interval survives a round trip
    again = scalefit.load_fit(fit.to_json())
    assert again.summary().loc["E_inf", "upper"] == pytest.approx(row["upper"])


def test_transfer_gap_at_zero_is_reported_at_its_bound():
    law, runs = _law_runs("transfer_gap", seed=5)
    truth = dict(TRUTHS["transfer_gap"], G=0.0)
    rng = np.random.default_rng(5)
    runs["y"] = law.evaluate(truth, runs) * np.exp(rng.normal(0, 0.02, len(runs)))
    fit = _quiet_fit(law, runs, target="y", method=LeastSquares(starts=200, bootstrap=200))
    row = fit.summary().loc["G"]
    if "G" in fit.bounds:
        assert row["how"].startswith("at lower bound") and row["lower"] == 0.0
    assert row["lower"] <= 0.0 + 1e-12 or row["lower"] <= row["estimate"]
    assert row["upper"] > row["lower"]


def test_a_user_bound_is_reported_and_the_interval_is_not_zero_width():
    runs = scalefit.example_runs()
    fit = _quiet_fit(
        scalefit.paper_error,
        runs,
        target="error",
        bounds={"alpha": (0.6, 3)},
        method=LeastSquares(starts=200, bootstrap=200),
    )
    row = fit.summary().loc["alpha"]
    assert fit.params["alpha"] == pytest.approx(0.6, abs=1e-5)
    assert row["how"] == "at lower bound 0.6" and row["lower"] == pytest.approx(0.6)
    assert row["upper"] > row["lower"]
    assert any("alpha at its lower bound" in n for n in fit.notes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fmnist_floor_intervals_overlap_and_contain_001(seed):
    runs = pd.read_csv(FMNIST)
    runs = runs[runs.stage == "finetune"]
    fit = _quiet_fit(scalefit.paper_error, runs, target="error", seed=seed, method=LeastSquares(bootstrap=200))
    row = fit.summary().loc["E_inf"]
    assert row["lower"] == 0.0 and row["upper"] > 0.01
    assert "identified" not in row["how"] and row["how"].startswith("at lower bound")
    fixed = _quiet_fit(
        scalefit.paper_error, runs, target="error", seed=seed, fix={"E_inf": 0.01}, method=LeastSquares(bootstrap=0)
    )
    assert fixed.value < 1.01 * fit.value


def test_identifiability_agrees_with_its_condition_number():
    runs = pd.read_csv(FMNIST)
    runs = runs[runs.stage == "finetune"]
    fit = _quiet_fit(scalefit.paper_error, runs, target="error", method=LeastSquares(bootstrap=0))
    ident = fit.identifiability
    assert ident.ok == (ident.condition_number < 1e8 and not ident.messages)
    assert not (str(ident).startswith("identified") and ident.condition_number > 1e8)


# -- flat directions -------------------------------------------------------------------------
def test_redundant_constants_are_flagged_before_fitting_and_only_their_sum_is_reported():
    law = Constant("E1") + Constant("E2") + Power("Dp", "alpha", amplitude="A")
    runs = scalefit.example_runs()
    runs = runs[(runs.M == runs.M.max()) & (runs.Df == runs.Df.max())]
    with pytest.warns(ScalingWarning, match="E1, E2 are redundant"):
        fit = fit_law(law, runs, target="error", method=LeastSquares(starts=200, bootstrap=200))
    s = fit.summary()
    assert s.loc["E1", "how"] == "not identified" and np.isnan(s.loc["E1", "lower"])
    assert s.loc["E2", "how"] == "not identified"
    combo = s.loc["E1 + E2"]
    assert combo["how"] == "determined combination"
    assert combo["lower"] < combo["estimate"] < combo["upper"] < 2 * combo["estimate"]
    assert not fit.identifiability.ok
    assert "None" not in str(fit)
    assert "only E1 + E2 is determined" in str(fit)


# -- failed replicates and too little sampling ------------------------------------------------
def test_too_few_replicates_warn():
    with pytest.warns(ScalingWarning, match="only 2 bootstrap replicates"):
        fit_law(
            scalefit.paper_error, scalefit.example_runs(), target="error", method=LeastSquares(starts=100, bootstrap=2)
        )


def _mikami():
    path = SHARED_DATA / "mikami_cg_transfer" / "results_finetune.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared data folder is optional)")
    df = pd.read_csv(path)
    last = (
        df.sort_values("n_eval")
        .groupby(["pretrain.data", "pscale", "ptask", "fdata", "ftask", "fratio", "model", "pdata"], dropna=False)
        .tail(1)
    )
    sel = last[
        (last.ptask == "mulclass") & (last.pdata == "bop") & (last.pscale == "64k") & (last.fdata == "imagenet")
        & (last.ftask == "sinclass") & (last["pretrain.data"] > 0)
    ].copy()  # fmt: skip
    sel["error"] = 1 - sel["value"]
    sel["M"] = sel["nparam"] * 1e6
    return sel


def test_mikami_paper_error_has_no_silent_nan():
    runs = _mikami()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_law(
            scalefit.paper_error,
            runs,
            target="error",
            mapping={"Dp": "pretrain.data", "Df": "fratio"},
            method=LeastSquares(bootstrap=300),
        )
        pred = fit.predict(runs.rename(columns={"pretrain.data": "Dp", "fratio": "Df"})[["Dp", "M", "Df"]])
        table = fit.summary()
    messages = [str(w.message) for w in caught if issubclass(w.category, ScalingWarning)]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], "numpy warnings leaked"
    cols = ["ci_lower", "ci_upper", "pi_lower", "pi_upper"]
    if pred[cols].isna().any().any():
        assert any("no interval (NaN)" in m for m in messages)
    finite = table.drop(index=[n for n in table.index if table.loc[n, "how"] == "not identified"])
    assert finite[["lower", "upper"]].notna().all().all()
    assert (finite["lower"] <= finite["estimate"]).all() and (finite["estimate"] <= finite["upper"]).all()
    if fit.bootstrap.converged < 0.8:
        assert any("bootstrap replicates converged" in m for m in messages)


# -- misfit -------------------------------------------------------------------------------------
def test_misfit_is_reported_and_residuals_by_level_are_in_the_library():
    runs = pd.read_csv(FMNIST)
    runs = runs[runs.stage == "finetune"]
    fit = _quiet_fit(scalefit.paper_error, runs, target="error", method=LeastSquares(bootstrap=0))
    assert fit.runs.misfit["rms"] == pytest.approx(np.sqrt(np.mean(fit.runs.residuals**2)))
    assert fit.runs.misfit["by"]["Df"]["flag"]
    assert "rms log-residual" in str(fit) and "LACK OF FIT along Df" in str(fit)
    table = fit.residuals_by("Df")
    assert list(table.columns) == ["runs", "mean", "rms"] and table["runs"].sum() == len(runs)
    assert fit.summary().attrs["lack_of_fit"] == ["Df"]
    with pytest.raises(scalefit.ScalefitError, match="not a variable"):
        fit.residuals_by("Dq")


def test_data_drawn_from_the_law_is_not_flagged_as_misfit(runs):
    fit = _quiet_fit(scalefit.paper_error, runs, target="error", method=LeastSquares(starts=200, bootstrap=0))
    assert not any(d["flag"] for d in fit.runs.misfit["by"].values())


# -- the demo -------------------------------------------------------------------------------------
def test_demo_prints_no_degenerate_interval_and_no_contradiction(capsys):
    from scalefit.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for lo, hi in re.findall(r"\[([-0-9.e+]+), ([-0-9.e+]+)\]", out):
        assert float(lo) < float(hi), (lo, hi)
    for cond in re.findall(r"identified \(scaled condition number ([0-9.e+]+)", out):
        assert float(cond) < 1e8
    assert "identified (condition number" not in out


def test_a_term_at_zero_with_a_large_amplitude_says_both():
    """A flat target: the x term is absent from the runs, though the fitted amplitude can be
    large beside a large exponent (a test-drive found b = 1.7e9 marked "at lower bound 0"). The
    note gives the fitted value and how small its term is, so the two never read as a
    contradiction; the amplitude's interval still starts at the bound."""
    x = np.geomspace(7.9e6, 1.4e9, 40)
    runs = pd.DataFrame({"x": x, "y": np.full(x.size, 0.5)})
    law = scalefit.get_law("revisiting_m2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(law, runs, target="y", method=LeastSquares(bootstrap=200))
    assert "b" in fit.bounds
    text = fit.bounds["b"]["text"]
    b = fit.params["b"]
    assert text.startswith("b at its lower bound 0: the runs show no x term")
    assert f"at the fitted b = {b:.4g}" in text
    term = b * x ** -fit.params["c"]
    assert np.all(term < 1e-6 * 0.5)  # what the note claims, checked on the numbers
    assert fit.summary().loc["b", "lower"] == 0.0


def test_unsettled_endpoints_from_few_replicates_ask_for_more_not_that_more_cannot_help(chinchilla_runs):
    """With 100 replicates a 95% endpoint rests on 2.5 replicates per tail, so its Monte-Carlo
    error can exceed the interval: the words say to rerun with more, and do not claim that more
    replicates will not pin it (1,000 settle Chinchilla's B to within 10% of its width)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(scalefit.chinchilla, chinchilla_runs, target="loss", method=LeastSquares(bootstrap=100))
    text = str(fit)
    assert "the Monte-Carlo s.e. of B's exceeds its interval's whole width (100 replicates leave 2.5 in each" in text
    assert "rerun with bootstrap=1000 or more" in text and "will not pin it" not in text
    assert "identifiability: identified" in text


def test_unsettled_endpoints_of_a_parameter_that_reaches_zero_are_not_judged_in_decades(monkeypatch):
    """A signed parameter's replicates cannot spread 'over orders of magnitude' (its ratio is not
    defined): with plenty of replicates, an unsettled endpoint asks for more, not 'will not pin it'
    (the Monte-Carlo error is set here: real ones that large need pathological tails)."""
    import dataclasses

    x = np.geomspace(1e2, 1e6, 15)
    runs = pd.DataFrame({"x": x, "y": 3 * x**-0.3 + 0.4})
    law = scalefit.parse_law("c + A*x^-a", ["x"], signed=["c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law(law, runs, target="y", objective="squared", method=LeastSquares(bootstrap=50))
    rng = np.random.default_rng(0)
    draws = fit.draws.sample(2000, replace=True, random_state=0).reset_index(drop=True)
    draws["c"] = 0.01 * rng.standard_cauchy(2000)  # replicates on both sides of 0
    errors = fit.bootstrap_error().assign(relative=[2.0, 0.1, 0.1])
    monkeypatch.setattr(scalefit.Fit, "bootstrap_error", lambda self, interval=0.95: errors)
    text = str(dataclasses.replace(fit, draws=draws))
    assert "the Monte-Carlo s.e. of c's exceeds its interval's whole width (rerun with more replicates)" in text
