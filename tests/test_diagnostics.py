"""Sampler diagnostics mean what they say (issue 9): NaN is a failure, too little sampling is
flagged, ``diagnostics_ok`` recomputes from stored numbers, compare_laws refuses unconverged fits."""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import NUTS, Constant, Law, LeastSquares, Power, ScalefitError, ScalingWarning, compare_laws, fit_law
from scalefit.results.diagnostics import diagnostic_notes, diagnostics, diagnostics_ok

SITES = ("alpha", "lambda_p", "sigma")
# Deliberately too little sampling: fast, and certainly not converged.
QUICK = dict(method=NUTS(chains=2, draws=30, max_draws=30, warmup=30, init=LeastSquares(starts=50, bootstrap=0)))
NO_MODEL_TERM = Law(
    Constant("E_inf") + Power("Dp", "alpha", scale="lambda_p") + Power("Df", "gamma", scale="lambda_f"),
    name="eq1_without_M",
)


def make_diag(chains=4, draws=1000, r_hat=1.001, ess=3000.0, divergences=0, depth=0, **sites):
    """A diagnostics dict as stored in a fit file (the keys saved before ``ok``/``problems``).

    ``r_hat`` and ``ess`` set every site; a dict passed as ``r_hat=``, ``ess_bulk=`` or
    ``ess_tail=`` changes only the sites it names.
    """
    base = {"r_hat": 1.001, "ess_bulk": ess, "ess_tail": ess}
    if not isinstance(r_hat, dict):
        base["r_hat"], r_hat = r_hat, {}
    sites = {"r_hat": r_hat, **sites}
    return {
        "chains": chains,
        "draws_per_chain": draws,
        **{key: {**dict.fromkeys(SITES, value), **sites.get(key, {})} for key, value in base.items()},
        "divergences": divergences,
        "max_tree_depth_hits": depth,
        "mean_steps": 15.0,
    }


def check(diag):
    ok, problems = diagnostics_ok(diag)
    return ok, problems, " | ".join(diagnostic_notes(diag))


def test_healthy_posterior_is_ok_and_silent():
    ok, problems, notes = check(make_diag())
    assert ok and problems == [] and notes == ""


def test_nan_rhat_is_a_failure_with_its_cause():
    ok, problems, notes = check(make_diag(r_hat={"alpha": math.nan}))
    assert not ok and problems == ["R-hat undefined (nan) for alpha"]
    assert "stuck" in notes and "alpha" in notes
    ok, problems, notes = check(make_diag(chains=2, draws=5, r_hat=math.nan, ess=math.nan))
    assert not ok
    assert "cannot be computed from 5 draws per chain" in notes and "5 draws per chain (need >= 100)" in problems
    assert any(p.startswith("ESS NaN for") for p in problems)
    ok, problems, _ = check(make_diag(r_hat={"sigma": math.inf}))
    assert not ok and problems == ["R-hat undefined (inf) for sigma"]
    ok, problems, _ = check(make_diag(r_hat={"alpha": None}))  # NaN written to JSON as null
    assert not ok and "alpha" in problems[0]


def test_one_chain_cannot_be_checked():
    ok, problems, notes = check(make_diag(chains=1, r_hat=math.nan))
    assert not ok and problems == ["1 chain (R-hat needs >= 2)"]
    assert "R-hat cannot be computed with 1 chain: run chains>=2 (4 recommended)" in notes
    # even a finite (split) R-hat and a large ESS do not make one chain ok
    ok, problems, _ = check(make_diag(chains=1, r_hat=1.0, ess=5000.0))
    assert not ok and problems == ["1 chain (R-hat needs >= 2)"]


def test_high_rhat():
    ok, problems, notes = check(make_diag(r_hat={"alpha": 1.106, "sigma": 1.02}))
    assert not ok and problems == ["R-hat 1.106 for alpha (+1 more)"]
    assert "R-hat exceeds 1.01 for ['alpha', 'sigma'] (worst alpha: 1.106)" in notes


def test_low_ess_and_few_draws():
    ok, problems, notes = check(make_diag(ess_tail={"alpha": 25.0}))
    assert not ok and problems == ["min ESS 25 for alpha (need >= 400)"]
    assert "intervals are noise" in notes
    # ESS must reach max(400, 100 * chains): 300 is too few with 2 chains, 600 with 8
    assert not diagnostics_ok(make_diag(chains=2, ess=300.0))[0]
    assert not diagnostics_ok(make_diag(chains=8, ess=600.0))[0]
    assert diagnostics_ok(make_diag(chains=8, ess=900.0))[0]
    ok, problems, notes = check(make_diag(draws=50))
    assert not ok and problems == ["50 draws per chain (need >= 100)"] and "intervals are noise" in notes


def test_divergences_fail_tree_depth_only_notes():
    ok, problems, notes = check(make_diag(divergences=3))
    assert not ok and problems == ["3 divergences"] and "divergent transitions" in notes
    ok, problems, notes = check(make_diag(depth=7))
    assert ok and problems == [] and "maximum tree depth" in notes


def test_stored_keys_are_not_trusted():
    old = make_diag(r_hat={"alpha": 1.2})
    del old["max_tree_depth_hits"], old["mean_steps"]  # a minimal old file
    assert diagnostics_ok(old) == (False, ["R-hat 1.200 for alpha"])
    assert diagnostics_ok({**old, "ok": True, "problems": []}) == (False, ["R-hat 1.200 for alpha"])
    assert diagnostics_ok(None) == (False, ["no sampler diagnostics stored"])


def test_diagnostics_adds_ok_and_problems():
    rng = np.random.default_rng(0)
    stats = {"divergences": 0, "max_tree_depth_hits": 0, "mean_steps": 7.0}
    good = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.normal(size=4000)})
    d = diagnostics(good, 4, ["a", "b"], stats)
    assert {"chains", "draws_per_chain", "r_hat", "ess_bulk", "ess_tail", "divergences"} <= set(d)
    assert d["ok"] is True and d["problems"] == [] and d["draws_per_chain"] == 1000
    stuck = good.assign(b=np.repeat([1.0, 2.0, 3.0, 4.0], 1000))  # each chain constant, chains apart
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy divide warnings leak
        d = diagnostics(stuck, 4, ["a", "b"], stats)
    assert not np.isfinite(d["r_hat"]["b"]) and d["ok"] is False
    assert any("R-hat undefined" in p and "b" in p for p in d["problems"])


def test_too_little_sampling_warns_end_to_end():
    with pytest.warns(ScalingWarning) as record:
        fit = fit_law(
            scalefit.paper_error,
            scalefit.example_runs(),
            target="error",
            method=NUTS(chains=1, draws=2, max_draws=2, warmup=10, init=LeastSquares(bootstrap=0, starts=50)),
        )
    text = " ".join(str(w.message) for w in record)
    assert "R-hat cannot be computed with 1 chain" in text and "chains>=2" in text
    assert "2 draws per chain" in text
    assert fit.bayes.diagnostics["ok"] is False and diagnostics_ok(fit.bayes.diagnostics)[0] is False


@pytest.fixture(scope="module")
def quick_fits():
    runs = scalefit.example_runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return {
            "eq1": fit_law(scalefit.paper_error, runs, target="error", **QUICK),
            "without M": fit_law(NO_MODEL_TERM, runs, target="error", **QUICK),
        }


def test_compare_laws_refuses_unconverged_fits(quick_fits):
    with pytest.raises(ScalefitError, match="fit 'eq1' did not converge") as info:
        compare_laws(quick_fits)
    message = str(info.value)
    assert "fit 'without M' did not converge" in message
    assert "30 draws per chain" in message and "force=True" in message
    # a fit saved before 'ok' existed, or with a stale 'ok': recomputed, still refused
    eq1 = quick_fits["eq1"]
    stale = {k: v for k, v in eq1.bayes.diagnostics.items() if k not in ("ok", "problems")}
    old = dataclasses.replace(eq1, bayes=dataclasses.replace(eq1.bayes, diagnostics={**stale, "ok": True}))
    with pytest.raises(ScalefitError, match="fit 'old' did not converge"):
        compare_laws({"old": old, "without M": quick_fits["without M"]})


def test_compare_laws_force_ranks_with_converged_column(quick_fits):
    with pytest.warns(ScalingWarning) as record:  # also Pareto-k warnings: few draws
        table = compare_laws(quick_fits, force=True)
    assert any("fit 'eq1' did not converge" in str(w.message) for w in record)
    assert set(table.index) == {"eq1", "without M"}
    assert "converged" in table.columns and table["converged"].dtype == bool
    assert not table["converged"].any()
