"""Distillation boundary and crossovers: stationary point, every crossing, regimes, errors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scalefit
from scalefit import Fit, LeastSquares, ScalefitError, crossover, distillation_boundary

AT = {"M": 22.1e6, "Df": 5e4, "Mt": 10e6}
SHARED = dict(beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)


def pair(alpha, lambda_p, alpha_p, lambda_pp, delta_gap, e0=None):
    """Plain and distilled fits identical except in the Dp terms, with F(inf) = delta_gap."""
    teacher = dict(eta_prime=0.5, delta_prime=100.0)
    t = AT["Mt"] ** -0.5 / 100.0
    e0 = e0 if e0 is not None else t + abs(delta_gap) + 0.01
    plain = dict(E_inf=e0, alpha=alpha, lambda_p=lambda_p, **SHARED)
    distilled = dict(
        E_inf_prime=e0 - t - delta_gap, alpha_prime=alpha_p, lambda_p_prime=lambda_pp,
        beta_prime=SHARED["beta"], lambda_m_prime=SHARED["lambda_m"], gamma_prime=SHARED["gamma"],
        lambda_f_prime=SHARED["lambda_f"], **teacher,
    )  # fmt: skip
    return Fit.from_params(scalefit.paper_error, plain), Fit.from_params(scalefit.paper_distilled, distilled)


def dF(x, a1, l1, a2, l2):
    return -a1 / l1 * x ** (-a1 - 1) + a2 / l2 * x ** (-a2 - 1)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(-4, 1), st.floats(0.05, 0.95), st.floats(-4, 1), st.floats(-1.0, 1.0))
def test_stationary_point_is_stationary_and_printed_exponent_is_not(alpha, log_lp, gap, log_lpp, shift):
    alpha_p = alpha + gap  # alpha - alpha' in (-1, 0), as the paper's constraints require
    lp, lpp = 10.0**log_lp, 10.0 ** (log_lpp + shift)
    plain, dist = pair(alpha, lp, alpha_p, lpp, -0.01)
    star = ((alpha / lp) / (alpha_p / lpp)) ** (1 / (alpha - alpha_p))
    b = distillation_boundary(plain, dist, at=AT, domain=(star / 1e6, star * 1e6))
    assert b.closed_form and len(b.stationary) == 1
    x = b.stationary[0]
    assert x == pytest.approx(star, rel=1e-10)
    scale = alpha / lp * x ** (-alpha - 1)
    assert abs(dF(x, alpha, lp, alpha_p, lpp)) <= 1e-8 * scale
    printed = ((alpha / lp) / (alpha_p / lpp)) ** (1 / (alpha_p - alpha))  # the paper's exponent
    if not np.isclose(printed, star, rtol=1e-3):
        assert abs(dF(printed, alpha, lp, alpha_p, lpp)) > 1e-3 * alpha / lp * printed ** (-alpha - 1)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([0, 1, 2]),
    st.floats(0.1, 0.8),
    st.floats(0.1, 0.9),
    st.floats(-3, 0),
    st.floats(-3, 0),
    st.floats(0.1, 0.9),
)
def test_exactly_the_constructed_crossings_are_found(n, alpha, gap, log_lp, log_lpp, r):
    alpha_p, lp, lpp = alpha + gap, 10.0**log_lp, 10.0**log_lpp
    star = ((alpha / lp) / (alpha_p / lpp)) ** (1 / (alpha - alpha_p))
    h_star = star**-alpha / lp - star**-alpha_p / lpp  # F(D*) - Delta > 0
    assume(h_star > 1e-8)  # else Delta (a difference of error floors ~0.05) cannot even be represented
    delta = {2: -r * h_star, 1: r * h_star, 0: -(1 + r) * h_star}[n]
    plain, dist = pair(alpha, lp, alpha_p, lpp, delta)
    c1, c2 = 1 / lp, 1 / lpp
    x0 = (c2 / c1) ** (1 / (alpha_p - alpha))  # h(x0) = 0; a lower crossing lies in (x0, D*) or below x0
    low = min(x0, (c2 / abs(delta)) ** (1 / alpha_p), star) / 10  # h >= -c2 x^-a2 bounds the lower one
    high = max(star, (c1 / abs(delta)) ** (1 / alpha)) * 10  # h <= c1 x^-a1 bounds the upper one
    domain = (low, high)
    b = distillation_boundary(plain, dist, at=AT, domain=domain)
    assert len(b.crossings) == n, (b.crossings, delta, h_star)
    level = scalefit.paper_error.evaluate(plain.params, Dp=np.array(b.crossings), M=AT["M"], Df=AT["Df"])
    assert np.all(np.abs(b.difference(b.crossings)) < 1e-10 * level)
    if n == 2:
        assert b.crossings[0] < b.stationary[0] < b.crossings[1]
        assert [r.winner for r in b.regimes] == ["plain", "distill", "plain"]
    if n == 1:
        assert [r.winner for r in b.regimes] == ["plain", "distill"]
    if n == 0:
        assert [r.winner for r in b.regimes] == ["plain"]


def test_numeric_path_matches_closed_form():
    """The same curves written as a product (numeric stationary points) and as the paper's
    shape (closed form) give the same stationary point and crossings."""
    from scalefit import Constant, Law, Power

    a = Fit.from_params(Law(Constant("E") + Power("Dp", "a", scale="l")), dict(E=0.3, a=0.4, l=0.1))
    shape = Law(Constant("E2") + Power("Dp", "b", scale="m"))
    product = Law(Constant("E2") + Power("Dp", "b", scale="m") * Power("Df", "z"))
    values = dict(E2=0.32, b=0.7, m=0.005)
    closed = crossover(a, Fit.from_params(shape, values), axis="Dp", at={}, domain=(1e2, 1e10))
    numeric = crossover(
        a, Fit.from_params(product, {**values, "z": 0.0}), axis="Dp", at={"Df": 1e4}, domain=(1e2, 1e10)
    )
    assert closed.closed_form and not numeric.closed_form
    assert len(closed.crossings) == 2
    np.testing.assert_allclose(numeric.crossings, closed.crossings, rtol=1e-9)
    np.testing.assert_allclose(numeric.stationary, closed.stationary, rtol=1e-6)


def test_crossover_along_another_axis():
    """When does a larger model overtake a smaller one as fine-tuning data grows? Here: two
    laws whose Df terms differ, so they cross once."""
    a = Fit.from_params(
        scalefit.paper_error, dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, **{**SHARED, "gamma": 0.5, "lambda_f": 0.05})
    )
    b = Fit.from_params(scalefit.paper_error, dict(E_inf=0.08, alpha=0.4, lambda_p=0.1, **SHARED))
    c = crossover(a, b, axis="Df", at={"Dp": 1e6, "M": 1e7}, domain=(10.0, 1e7), names=("steep", "flat"))
    assert len(c.crossings) == 1
    assert [r.winner for r in c.regimes] == ["flat", "steep"]


def test_conditions_of_eq6_are_evaluated():
    plain, dist = pair(0.4, 0.1, 0.7, 0.005, -0.02)
    b = distillation_boundary(plain, dist, at=AT, domain=(1e2, 1e10))
    names = [c.name for c in b.conditions]
    assert names == ["E_inf < E_inf'", "gamma > gamma'", "beta < beta'", "alpha - alpha' in (-1, 0)",
                     "lambda_m ~ lambda_m'", "lambda_f ~ lambda_f'"]  # fmt: skip
    by_name = {c.name: c for c in b.conditions}
    assert by_name["alpha - alpha' in (-1, 0)"].holds and "-0.3" in by_name["alpha - alpha' in (-1, 0)"].detail
    assert not by_name["gamma > gamma'"].holds  # equal gammas here
    assert "condition FAILS: gamma > gamma'" in repr(b)


@pytest.mark.filterwarnings(r"ignore:p_\w+(\(\))?. these probabilities:scalefit.errors.ScalingWarning")
def test_uncertainty_from_draws():
    plain, dist = pair(0.4, 0.1, 0.7, 0.005, -0.02)
    rng = np.random.default_rng(0)
    pd_ = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.005, 300)) for k, v in plain.params.items()})
    dd = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.005, 300)) for k, v in dist.params.items()})
    plain = Fit.from_params(scalefit.paper_error, plain.params, draws=pd_)
    dist = Fit.from_params(scalefit.paper_distilled, dist.params, draws=dd)
    b = distillation_boundary(plain, dist, at=AT, domain=(1e2, 1e10))
    assert len(b.draws) == 300 and 0 < b.p_crossing <= 1
    by_name = {c.name: c for c in b.conditions}
    assert by_name["alpha - alpha' in (-1, 0)"].probability == 1.0  # -0.3 +- 0.5% jitter
    assert 0.2 < by_name["gamma > gamma'"].probability < 0.8  # equal gammas: a coin flip
    assert "of draws" in repr(b)
    table = b.intervals(0.9)
    assert table.loc["stationary", "lower"] < b.stationary[0] < table.loc["stationary", "upper"]
    assert table.loc["crossing_1", "lower"] < b.crossings[0] < table.loc["crossing_1", "upper"]
    p = b.p_distill_wins(np.array([b.crossings[0] / 100, b.stationary[0], b.crossings[1] * 100]))
    assert p[0] < 0.1 and p[1] > 0.5 and p[2] < 0.1  # distillation most likely wins between the crossings


def test_clear_errors():
    plain, dist = pair(0.4, 0.1, 0.7, 0.005, -0.02)
    loss = Fit.from_params(scalefit.paper_loss, {n: 0.5 for n in scalefit.paper_loss.parameters})
    with pytest.raises(ScalefitError, match="different metrics"):
        distillation_boundary(loss, dist, at=AT, domain=(1e2, 1e10))
    with pytest.raises(ScalefitError, match="0 < low < high"):
        distillation_boundary(plain, dist, at=AT, domain=(1e8, 1e4))
    with pytest.raises(ScalefitError, match=r"at= is missing \['Mt'\]"):
        distillation_boundary(plain, dist, at={"M": 1e7, "Df": 1e4}, domain=(1e2, 1e10))
    with pytest.raises(ScalefitError, match="axis 'Mt' must be a variable of both"):
        crossover(plain, dist, axis="Mt", at=AT, domain=(1e2, 1e10))
    with pytest.raises(ScalefitError, match="no bootstrap or posterior draws"):
        distillation_boundary(plain, dist, at=AT, domain=(1e2, 1e10)).intervals()


@pytest.mark.filterwarnings(r"ignore:p_\w+(\(\))?. these probabilities:scalefit.errors.ScalingWarning")
def test_boundary_from_real_bootstrap_fits():
    """End to end: fit plain and distilled laws to runs generated with a known boundary; the
    90% interval of each crossing comes from pairs of bootstrap replicates."""
    import warnings

    plain_true, dist_true = pair(0.4, 0.1, 0.7, 0.005, -0.02)
    rng = np.random.default_rng(3)
    dp = np.repeat(np.geomspace(1e4, 1e8, 12), 4)
    runs = pd.DataFrame({"Dp": dp, "M": AT["M"], "Df": AT["Df"], "Mt": AT["Mt"]})
    runs["M"] = np.tile([5e6, 1e7, 2.2e7, 4e7], 12)
    runs["Df"] = np.tile([1e4, 5e4], 24)
    runs["Mt"] = np.tile([2e6, 1e7, 2e7], 16)
    runs["plain"] = scalefit.paper_error.evaluate(plain_true.params, runs) * np.exp(rng.normal(0, 0.005, 48))
    runs["distilled"] = scalefit.paper_distilled.evaluate(dist_true.params, runs) * np.exp(rng.normal(0, 0.005, 48))
    fix_plain = {k: plain_true.params[k] for k in ("beta", "lambda_m", "gamma", "lambda_f")}
    fix_dist = {
        k: dist_true.params[k] for k in dist_true.params if k not in ("E_inf_prime", "alpha_prime", "lambda_p_prime")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalefit.ScalingWarning)
        plain = scalefit.fit_law(
            scalefit.paper_error, runs, target="plain", fix=fix_plain, method=LeastSquares(starts=64, bootstrap=200)
        )
        dist = scalefit.fit_law(
            scalefit.paper_distilled,
            runs,
            target="distilled",
            fix=fix_dist,
            method=LeastSquares(starts=64, bootstrap=200),
        )
    truth = distillation_boundary(plain_true, dist_true, at=AT, domain=(1e4, 1e8))
    b = distillation_boundary(plain, dist, at=AT, domain=(1e4, 1e8))
    table = b.intervals(0.9)
    assert len(truth.crossings) == 2 and len(b.crossings) == 2
    for i, x in enumerate(truth.crossings, start=1):
        assert table.loc[f"crossing_{i}", "lower"] <= x <= table.loc[f"crossing_{i}", "upper"]
    assert b.p_crossing > 0.9


def test_given_parameters_are_labelled_as_such():
    f = Fit.from_params(scalefit.chinchilla, dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))
    assert "given parameters (not fitted to runs)" in repr(f) and "max_steps" not in repr(f)
    assert f.predict({"N": [70e9], "D": [1.4e12]}, interval=None)["mean"][0] == pytest.approx(1.9366, abs=1e-4)
    with pytest.raises(ScalefitError, match=r"missing \['B'\]"):
        Fit.from_params(scalefit.chinchilla, dict(E=1.69, A=406.4, alpha=0.34, beta=0.28))
