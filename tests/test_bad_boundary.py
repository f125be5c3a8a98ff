"""Bad arguments to ``crossover``, ``distillation_boundary``, their results and ``allocate``:
one clear error naming the argument, before any work; and results that never lie — fits
passed in the wrong order are refused, laws that coincide say so instead of reporting
crossings, and a law undefined at the inputs is an error, not a NaN.

Fits are built with ``Fit.from_params`` (no fitting), so the whole module runs in seconds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import (
    Constant,
    Fit,
    Law,
    Power,
    ScalefitError,
    ScalingWarning,
    allocate,
    crossover,
    distillation_boundary,
)

PLAIN = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
DISTILLED = dict(E_inf_prime=0.0615, alpha_prime=0.7, lambda_p_prime=0.005, beta_prime=0.55, lambda_m_prime=0.006,
                 gamma_prime=0.33, lambda_f_prime=0.25, eta_prime=0.5, delta_prime=100.0)  # fmt: skip
AT = {"M": 22e6, "Df": 5e4, "Mt": 10e6}
AT_PLAIN = {"M": 22e6, "Df": 5e4}
DOMAIN = (1e4, 1e8)


def jittered(law, params, n=40, sigma=0.01, seed=0):
    rng = np.random.default_rng(seed)
    draws = pd.DataFrame({k: v * np.exp(rng.normal(0, sigma, n)) for k, v in params.items()})
    return Fit.from_params(law, params, draws=draws)


@pytest.fixture(scope="module")
def plain():
    return Fit.from_params(scalefit.paper_error, PLAIN)


@pytest.fixture(scope="module")
def distilled():
    return Fit.from_params(scalefit.paper_distilled, DISTILLED)


@pytest.fixture(scope="module")
def boundary(plain, distilled):
    return distillation_boundary(plain, distilled, at=AT, domain=DOMAIN)


@pytest.fixture(scope="module")
def boundary_with_draws():
    p = jittered(scalefit.paper_error, PLAIN, seed=1)
    d = jittered(scalefit.paper_distilled, DISTILLED, seed=2)
    return distillation_boundary(p, d, at=AT, domain=DOMAIN)


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if a bad argument gets as far as solving or splitting a budget."""

    def work(*args, **kwargs):
        raise AssertionError("work started: the argument was not checked first")

    monkeypatch.setattr("scalefit.decide.boundary._build", work)
    monkeypatch.setattr("scalefit.decide.boundary.solve_crossings", work)
    monkeypatch.setattr("scalefit.decide.allocate.best_split", work)


# == crossover / distillation_boundary ======================================================
def bad_crossover(plain, exc, match, **kwargs):
    args = dict(fit_a=plain, fit_b=plain, axis="Dp", at=AT_PLAIN, domain=DOMAIN) | kwargs
    with pytest.raises(exc, match=match):
        crossover(**args)


def bad_boundary(plain, distilled, exc, match, **kwargs):
    args = dict(plain_fit=plain, distilled_fit=distilled, at=AT, domain=DOMAIN) | kwargs
    with pytest.raises(exc, match=match):
        distillation_boundary(**args)


# -- wrong type ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fit_a="plain.json"), r"fit_a must be a scalefit Fit.*'plain.json' \(str\).*load_fit"),
        (dict(fit_b=3), r"fit_b must be a scalefit Fit.*3 \(int\)"),
        (dict(axis=3), r"axis must be a non-empty string, got 3"),
        (dict(at=[("M", 1e7)]), r"at must be a dict \{variable: value\}"),
        (dict(at={"M": "1e7", "Df": 5e4}), r"at\['M'\] must be a finite number > 0, got '1e7' \(str\)"),
        (dict(at={"M": True, "Df": 5e4}), r"at\['M'\] must be a finite number.*True \(bool\)"),
        (dict(at={1: 2.0}), r"at keys must be variable names"),
        (dict(domain="1e4:1e8"), r"domain must be a \(low, high\) pair"),
        (dict(domain=(1e4,)), r"domain must be a \(low, high\) pair"),
        (dict(domain=1e4), r"domain must be a \(low, high\) pair"),
        (dict(domain=("1e4", 1e8)), r"domain low must be a finite number > 0, got '1e4' \(str\)"),
        (dict(names="ab"), r"names must be a pair of labels"),
        (dict(names=("a", 3)), r"names\[1\] must be a non-empty string, got 3"),
    ],
)
def test_crossover_wrong_type(plain, no_work, kwargs, match):
    bad_crossover(plain, TypeError, match, **kwargs)


@pytest.mark.parametrize(
    "which, value, match",
    [
        ("plain_fit", None, r"plain_fit must be a scalefit Fit.*None"),
        ("distilled_fit", {"alpha": 1}, r"distilled_fit must be a scalefit Fit.*\(dict\)"),
        ("plain_fit", "plain.json", r"plain_fit must be a scalefit Fit.*load_fit"),
    ],
)
def test_boundary_wrong_type(plain, distilled, no_work, which, value, match):
    bad_boundary(plain, distilled, TypeError, match, **{which: value})


# -- wrong range --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(domain=(1e8, 1e4)), r"domain must satisfy 0 < low < high, got \(1e\+08, 10000\); swap them"),
        (dict(domain=(1e4, 1e4)), r"domain must satisfy 0 < low < high"),
        (dict(domain=(0, 1e8)), r"domain low must be a finite number > 0, got 0"),
        (dict(domain=(-5, 1e8)), r"domain low must be a finite number > 0, got -5"),
        (dict(at={"M": -1, "Df": 5e4}), r"at\['M'\] must be a finite number > 0, got -1"),
        (dict(at={"M": 22e6, "Df": 0}), r"at\['Df'\] must be a finite number > 0, got 0"),
    ],
)
def test_crossover_wrong_range(plain, no_work, kwargs, match):
    bad_crossover(plain, ScalefitError, match, **kwargs)


def test_boundary_wrong_range(plain, distilled, no_work):
    bad_boundary(
        plain, distilled, ScalefitError, r"at\['Mt'\] must be a finite number > 0, got -10", at={**AT, "Mt": -10}
    )
    bad_boundary(plain, distilled, ScalefitError, r"domain must satisfy 0 < low < high", domain=(1e8, 1e4))


# -- unknown name -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(axis="dp"), r"axis 'dp' must be a variable of both laws \(did you mean 'Dp'\?\)"),
        (dict(axis="Dpp"), r"axis 'Dpp' must be a variable of both laws \(did you mean 'Dp'\?\)"),
        (dict(axis="Mt"), r"axis 'Mt' must be a variable of both laws"),
        (dict(at={"m": 1e7, "Df": 5e4}), r"at= names 'm', which neither law uses.*\(did you mean 'M'\?\)"),
        (dict(at={**AT_PLAIN, "Dp": 1e6}), r"at names 'Dp', which the axis 'Dp' varies.*remove it from at"),
        (dict(at={"M": 1e7}), r"at= is missing \['Df'\]; hold every other variable fixed, e.g. at=\{'M': ..., 'Df'"),
        (dict(at=None), r"at= is missing \['M', 'Df'\]"),
    ],
)
def test_crossover_unknown_or_missing_name(plain, no_work, kwargs, match):
    bad_crossover(plain, ScalefitError, match, **kwargs)


def test_crossover_at_must_cover_both_laws(plain, distilled, no_work):
    with pytest.raises(ScalefitError, match=r"at= is missing \['Mt'\]"):
        crossover(plain, distilled, axis="Dp", at=AT_PLAIN, domain=DOMAIN)
    with pytest.raises(ScalefitError, match=r"axis 'Mt' must be a variable of both laws.*fit_a \(paper_error\) has"):
        crossover(plain, distilled, axis="Mt", at=AT, domain=DOMAIN)


def test_boundary_unknown_name(plain, distilled, no_work):
    bad_boundary(plain, distilled, ScalefitError, r"at= names 'mt'.*did you mean 'Mt'", at={**AT_PLAIN, "mt": 1e7})
    bad_boundary(plain, distilled, ScalefitError, r"at= is missing \['Mt'\]", at=AT_PLAIN)
    no_dp = Fit.from_params(scalefit.chinchilla, dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))
    with pytest.raises(ScalefitError, match=r"axis 'Dp' must be a variable of both laws.*searches along 'Dp'"):
        distillation_boundary(no_dp.__class__.from_params(no_dp.law.replace(metric="error_rate"), no_dp.params),
                              distilled, at=AT, domain=DOMAIN)  # fmt: skip


# -- conflicting options ------------------------------------------------------------------
def test_swapped_fits_are_refused(plain, distilled, no_work):
    """The reported bug: swapped fits printed 'plain wins' where distillation wins."""
    with pytest.raises(ScalefitError, match=r"plain_fit and distilled_fit look swapped.*teacher variable 'Mt'.*"
                       r"pass the plain fit first.*scalefit boundary PLAIN.json DISTILLED.json"):  # fmt: skip
        distillation_boundary(distilled, plain, at=AT, domain=DOMAIN)


def test_two_distilled_or_two_plain_fits_are_refused(plain, distilled, no_work):
    with pytest.raises(ScalefitError, match=r"plain_fit \(paper_distilled\) looks like a distilled law.*crossover\("):
        distillation_boundary(distilled, distilled, at=AT, domain=DOMAIN)
    with pytest.raises(ScalefitError, match=r"distilled_fit \(paper_error\) is the plain law.*paper_distilled"):
        distillation_boundary(plain, plain, at=AT_PLAIN, domain=DOMAIN)


def test_user_laws_are_classified_by_the_teacher_variable(no_work):
    """A composed law with the teacher variable Mt is the distilled one, whatever its names."""
    mine_plain = Law(Constant("E") + Power("Dp", "a", scale="l"), metric="error_rate", name="mine")
    mine_dist = Law(Constant("E") + Power("Dp", "a", scale="l") + Power("Mt", "t", scale="k"), metric="error_rate",
                    name="mine_distilled")  # fmt: skip
    p = Fit.from_params(mine_plain, dict(E=0.1, a=0.4, l=0.1))
    d = Fit.from_params(mine_dist, dict(E=0.1, a=0.7, l=0.005, t=0.5, k=100.0))
    with pytest.raises(ScalefitError, match=r"look swapped: plain_fit \(mine_distilled\)"):
        distillation_boundary(d, p, at={"Mt": 1e7}, domain=DOMAIN)


def test_crossover_names_must_differ(plain, no_work):
    bad_crossover(plain, ScalefitError, r"names must be two different labels, got \('a', 'a'\)", names=("a", "a"))
    bad_crossover(plain, ScalefitError, r"names cannot use 'tie'", names=("tie", "b"))


def test_different_metrics_are_refused(distilled, no_work):
    loss = Fit.from_params(scalefit.paper_loss, {n: 0.5 for n in scalefit.paper_loss.parameters})
    with pytest.raises(ScalefitError, match=r"different metrics \(plain_fit: 'loss', distilled_fit: 'error_rate'\)"):
        distillation_boundary(loss, distilled, at=AT, domain=DOMAIN)


# -- non-finite ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(domain=(1e4, np.inf)), r"domain high must be a finite number > 0, got inf"),
        (dict(domain=(np.nan, 1e8)), r"domain low must be a finite number > 0, got nan"),
        (dict(at={"M": np.nan, "Df": 5e4}), r"at\['M'\] must be a finite number > 0, got nan"),
        (dict(at={"M": 22e6, "Df": np.inf}), r"at\['Df'\] must be a finite number > 0, got inf"),
    ],
)
def test_crossover_non_finite(plain, no_work, kwargs, match):
    bad_crossover(plain, ScalefitError, match, **kwargs)


def test_law_undefined_in_the_domain_is_an_error_naming_the_fit_and_domain():
    law = Law(Constant("E") + Power("Dp", "a", amplitude="A"))
    steep = Fit.from_params(law, dict(E=0.1, a=5.0, A=1.0))
    flat = Fit.from_params(law, dict(E=0.1, a=2.0, A=1.0))
    with pytest.raises(ScalefitError, match=r"fit_a \(custom\) is not finite at Dp=1e-100.*domain=\(1e-100, 1\)"):
        crossover(steep, flat, axis="Dp", at={}, domain=(1e-100, 1.0))


def test_draws_undefined_in_the_domain_are_left_out_with_a_warning():
    law = Law(Constant("E") + Power("Dp", "a", amplitude="A"))
    draws = pd.DataFrame({"E": [0.1] * 20, "a": [1.0] * 19 + [400.0], "A": [1.0] * 20})
    a = Fit.from_params(law, dict(E=0.1, a=1.0, A=1.0), draws=draws)
    b = Fit.from_params(law, dict(E=0.1, a=2.0, A=1.0), draws=draws.assign(a=2.0))
    with pytest.warns(ScalingWarning, match=r"1 of 20 pairs of draws of fit_a and fit_b overflow"):
        c = crossover(a, b, axis="Dp", at={}, domain=(1e-3, 100.0))
    assert len(c.draws) == 19 and c.p_crossing == 1.0
    assert np.all(np.isfinite(c.probability_b_wins([0.5, 2.0])))


# == results: intervals(), probability_b_wins(), difference() ==============================
@pytest.mark.parametrize(
    "value, exc, match",
    [
        (5, ScalefitError, r"interval must be a finite number > 0 and < 1, got 5; give a fraction, e.g. 0.05 for 5%"),
        (90, ScalefitError, r"interval must be .*e.g. 0.9 for 90%"),
        (0, ScalefitError, r"interval must be .*got 0"),
        (1.0, ScalefitError, r"interval must be .*got 1.0"),
        (np.nan, ScalefitError, r"interval must be .*got nan"),
        ("0.9", TypeError, r"interval must be .*'0.9' \(str\)"),
        (None, TypeError, r"interval must be .*None"),
    ],
)
def test_intervals_level(boundary_with_draws, value, exc, match):
    with pytest.raises(exc, match=match):
        boundary_with_draws.intervals(value)


def test_intervals_level_is_checked_before_the_draws(boundary):
    with pytest.raises(ScalefitError, match="interval must be"):
        boundary.intervals(5)
    with pytest.raises(ScalefitError, match="no bootstrap or posterior draws"):
        boundary.intervals(0.9)


@pytest.mark.parametrize(
    "value, exc, match",
    [
        ("1e6", TypeError, r"dp must be a number or an array of numbers \(values of Dp > 0\), got '1e6'"),
        (["a"], TypeError, r"dp must be a number or an array of numbers"),
        (None, TypeError, r"dp must be a number or an array"),
        (-1.0, ScalefitError, r"dp must hold finite values of Dp > 0, got -1.0"),
        ([1e5, 0.0], ScalefitError, r"dp must hold finite values of Dp > 0, got 0.0"),
        ([1e5, np.nan], ScalefitError, r"dp must hold finite values of Dp > 0, got nan"),
        (np.inf, ScalefitError, r"dp must hold finite values of Dp > 0, got inf"),
        (np.ones((2, 2)), ScalefitError, r"dp must be a number or a 1-d array"),
    ],
)
def test_p_distill_wins_points(boundary_with_draws, value, exc, match):
    with pytest.raises(exc, match=match):
        boundary_with_draws.p_distill_wins(value)


@pytest.mark.parametrize(
    "value, exc, match",
    [
        ("x", TypeError, r"x must be a number or an array"),
        ([1e5, -1.0], ScalefitError, r"x must hold finite values of Dp > 0, got -1.0"),
        (np.inf, ScalefitError, r"x must hold finite values of Dp > 0, got inf"),
    ],
)
def test_difference_and_probability_points(boundary_with_draws, value, exc, match):
    with pytest.raises(exc, match=match):
        boundary_with_draws.difference(value)
    with pytest.raises(exc, match=match):
        boundary_with_draws.probability_b_wins(value)


# == answers that must not change, and coincident laws =====================================
def test_plain_then_distilled_gives_the_known_answer(boundary):
    star = ((0.4 / 0.1) / (0.7 / 0.005)) ** (1 / (0.4 - 0.7))
    assert not boundary.coincide and boundary.closed_form
    assert boundary.stationary[0] == pytest.approx(star, rel=1e-10)
    assert len(boundary.crossings) == 2
    assert boundary.crossings[0] == pytest.approx(2.863e4, rel=1e-3)
    assert boundary.crossings[1] == pytest.approx(1.045e7, rel=1e-3)
    np.testing.assert_allclose(boundary.difference(boundary.crossings), 0.0, atol=1e-12)
    assert [r.winner for r in boundary.regimes] == ["plain", "distill", "plain"]
    assert len(boundary.conditions) == 6


def test_fit_against_itself_coincides(plain):
    """The reported bug: a fit against itself had 'crossings' at both ends with P = 1.00."""
    c = crossover(plain, plain, axis="Dp", at=AT_PLAIN, domain=DOMAIN)
    assert c.coincide and c.crossings == () and c.stationary == ()
    assert [(r.low, r.high, r.winner) for r in c.regimes] == [(1e4, 1e8, "tie")]
    assert "no crossing: the laws coincide" in repr(c) and "wins (lower target)" not in repr(c)


def test_fit_against_a_copy_coincides_and_draws_do_not_count_as_crossings():
    a = jittered(scalefit.paper_error, PLAIN, seed=5)
    b = Fit.from_params(scalefit.paper_error, dict(PLAIN), draws=a.draws.copy())
    c = crossover(a, b, axis="Dp", at=AT_PLAIN, domain=DOMAIN)
    assert c.coincide and c.crossings == ()
    assert c.p_crossing == 0.0 and c.p_coincide == 1.0
    assert c.draws["n_crossings"].eq(0).all() and c.draws["coincide"].all()
    assert "P(a crossing lies in the domain) = 0.00" in repr(c) and "coincide in 100%" in repr(c)
    np.testing.assert_array_equal(c.probability_b_wins([1e4, 1e6]), [0.0, 0.0])
    table = c.intervals(0.9)
    assert (table["p_exists"] == 0).all()


def test_laws_written_differently_but_equal_along_the_axis_coincide():
    """The same curve as a sum (closed form) and as a product (numeric path)."""
    a = Fit.from_params(Law(Constant("E") + Power("Dp", "a", scale="l")), dict(E=0.3, a=0.4, l=0.1))
    amplitude = Fit.from_params(Law(Constant("E") + Power("Dp", "a", amplitude="A")), dict(E=0.3, a=0.4, A=10.0))
    product = Fit.from_params(
        Law(Constant("E") + Power("Dp", "a", scale="l") * Power("Df", "z")), dict(E=0.3, a=0.4, l=0.1, z=0.0)
    )
    assert crossover(a, amplitude, axis="Dp", at={}, domain=(1e2, 1e10)).coincide
    numeric = crossover(a, product, axis="Dp", at={"Df": 1e4}, domain=(1e2, 1e10))
    assert numeric.coincide and not numeric.closed_form and numeric.crossings == ()


def test_close_but_different_laws_do_not_coincide(plain):
    higher = Fit.from_params(scalefit.paper_error, {**PLAIN, "E_inf": PLAIN["E_inf"] * (1 + 1e-6)})
    c = crossover(plain, higher, axis="Dp", at=AT_PLAIN, domain=DOMAIN)
    assert not c.coincide and c.crossings == ()
    assert [r.winner for r in c.regimes] == ["a"]


def test_some_pairs_of_draws_coincide():
    a = jittered(scalefit.paper_error, PLAIN, n=20, seed=7)
    other = a.draws.copy()
    other.loc[10:, "E_inf"] *= 1.5  # half the pairs differ (a constant gap: no crossing either)
    b = Fit.from_params(scalefit.paper_error, dict(PLAIN), draws=other)
    c = crossover(a, b, axis="Dp", at=AT_PLAIN, domain=DOMAIN)
    assert c.coincide and c.p_coincide == 0.5 and c.p_crossing == 0.0


def test_a_zero_on_the_end_of_the_domain_is_not_a_crossing():
    law = Law(Constant("E") + Power("Dp", "a", amplitude="A"))
    a = Fit.from_params(law, dict(E=0.1, a=1.0, A=1.0))
    b = Fit.from_params(law, dict(E=0.1, a=2.0, A=1.0))  # equal to a exactly at Dp = 1
    ends = crossover(a, b, axis="Dp", at={}, domain=(1.0, 100.0))
    assert ends.crossings == () and [r.winner for r in ends.regimes] == ["b"]
    inside = crossover(a, b, axis="Dp", at={}, domain=(0.5, 100.0))
    assert inside.crossings == pytest.approx((1.0,)) and [r.winner for r in inside.regimes] == ["a", "b"]


# == allocate ================================================================================
GAP = Fit.from_params(scalefit.transfer_gap, dict(E=0.1, A=300.0, alpha=0.5, G=2.0, beta=0.3))
COSTS = {"Dp": 1e-4, "Df": 5e-3}


def bad_allocate(exc, match, fit=None, costs=None, **kwargs):
    if fit is None:
        fit = Fit.from_params(scalefit.paper_error, PLAIN)
        kwargs.setdefault("at", {"M": 22e6})
    kwargs.setdefault("budget", 10.0) if "target" not in kwargs else None
    with pytest.raises(exc, match=match):
        allocate(fit, COSTS if costs is None else costs, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fit="fit.json"), r"fit must be a scalefit Fit.*'fit.json' \(str\).*load_fit"),
        (dict(costs=[("Dp", 1e-4)]), r"cost must be a dict \{variable: cost per unit\}"),
        (dict(costs={"Dp": "1e-4"}), r"cost\['Dp'\] must be a finite number > 0, got '1e-4' \(str\)"),
        (dict(costs={3: 1.0}), r"cost keys must be variable names"),
        (dict(budget="10"), r"budget must be a finite number > 0, got '10' \(str\)"),
        (dict(target=True), r"target must be a finite number, got True \(bool\)"),
        (dict(at=[("M", 1e7)]), r"at must be a dict \{variable: value\}"),
        (dict(at={"M": "22e6"}), r"at\['M'\] must be a finite number > 0, got '22e6' \(str\)"),
        (dict(seed="0"), r"seed must be an integer >= 0, got '0' \(str\)"),
    ],
)
def test_allocate_wrong_type(no_work, kwargs, match):
    bad_allocate(TypeError, match, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(at={"M": -1}), r"at\['M'\] must be a finite number > 0, got -1"),  # returned NaN before
        (dict(at={"M": 0}), r"at\['M'\] must be a finite number > 0, got 0"),
        (dict(costs={"Dp": 0.0, "Df": 1.0}), r"cost\['Dp'\] must be a finite number > 0, got 0.0"),
        (dict(costs={"Dp": -1e-4}), r"cost\['Dp'\] must be a finite number > 0, got -0.0001"),
        (dict(budget=0), r"budget must be a finite number > 0, got 0"),
        (dict(budget=-5.0), r"budget must be a finite number > 0, got -5.0"),
        (dict(seed=-1), r"seed must be an integer >= 0, got -1"),
        (dict(seed=1.5), r"seed must be an integer >= 0, got 1.5"),
    ],
)
def test_allocate_wrong_range(no_work, kwargs, match):
    bad_allocate(ScalefitError, match, **kwargs)


def test_allocate_target_out_of_reach():
    with pytest.raises(ScalefitError, match=r"target 0.05 is not reachable.*falls to 0.1"):
        allocate(GAP, COSTS, target=0.05)
    with pytest.raises(ScalefitError, match=r"target .* is not reached even with a budget of 1e\+30.*further above"):
        allocate(GAP, COSTS, target=0.1 + 1e-12)
    with pytest.raises(ScalefitError, match=r"target 1e\+12 is already met"):
        allocate(GAP, COSTS, target=1e12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(costs={"DP": 1e-4}), r"cost= must name variables of law 'paper_error'.*'DP'.*did you mean 'Dp'"),
        (dict(costs={}), r"cost= must name at least one variable of law 'paper_error'"),
        (dict(at={"m": 22e6}), r"at= names 'm', which is not a variable of the law \(did you mean 'M'\?\)"),
        (dict(at={}), r"at= is missing \['M'\]: give the values of the variables you are not buying"),
        (dict(at=None), r"at= is missing \['M'\]"),
    ],
)
def test_allocate_unknown_or_missing_name(no_work, kwargs, match):
    bad_allocate(ScalefitError, match, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(budget=10.0, target=0.2), r"give exactly one of budget=.*got both \(budget=10.0, target=0.2\)"),
        (dict(budget=None), r"give exactly one of budget=.*got neither"),
        (dict(at={"M": 22e6, "Dp": 1e6}), r"at= gives 'Dp', which cost= also buys"),
    ],
)
def test_allocate_conflicting_options(no_work, kwargs, match):
    bad_allocate(ScalefitError, match, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(budget=np.inf), r"budget must be a finite number > 0, got inf"),
        (dict(budget=np.nan), r"budget must be a finite number > 0, got nan"),
        (dict(target=np.nan), r"target must be a finite number, got nan"),
        (dict(target=-np.inf), r"target must be a finite number, got -inf"),
        (dict(costs={"Dp": np.inf}), r"cost\['Dp'\] must be a finite number > 0, got inf"),
        (dict(at={"M": np.inf}), r"at\['M'\] must be a finite number > 0, got inf"),
        (dict(at={"M": np.nan}), r"at\['M'\] must be a finite number > 0, got nan"),
        (dict(budget=1e300, costs={"Dp": 1e-300, "Df": 1.0}), r"budget=1e\+300 buys more than a float can hold"),
    ],
)
def test_allocate_non_finite(no_work, kwargs, match):
    bad_allocate(ScalefitError, match, **kwargs)


def test_allocate_never_returns_nan_from_an_undefined_law():
    """A corrupted fit whose law is inf - inf: an error naming the inputs, not a NaN."""
    law = Law(Constant("E") + Power("N", "a", amplitude="A") + Power("N", "b", amplitude="B"), name="odd")
    fit = Fit.from_params(law, dict(E=1.0, a=1.0, A=1.0, b=2.0, B=1.0))
    fit = dataclasses.replace(fit, params=dict(E=1.0, a=-1.0, A=1.0, b=-2.0, B=-1.0))
    with pytest.raises(ScalefitError, match=r"law of this fit \(odd\) is not finite at N=inf.*no target"):
        allocate(fit, {"N": 1.0}, target=0.5)
    with pytest.raises(ScalefitError, match=r"law of this fit \(odd\) is not finite at N=1e\+200.*budget="):
        allocate(fit, {"N": 1.0}, budget=1e200)


def test_allocate_good_arguments_still_work():
    a = allocate(GAP, COSTS, budget=10.0, seed=np.int64(3))
    assert a.cost == pytest.approx(10.0) and np.isfinite(a.predicted)
    fit = Fit.from_params(scalefit.paper_error, PLAIN)
    b = allocate(fit, {"Dp": 1e-4}, budget=10.0, at={"M": np.float64(22e6), "Df": 5e4})
    assert b.amounts["Dp"] == pytest.approx(1e5) and b.at == {"M": 22e6, "Df": 5e4}


@pytest.mark.parametrize("target", [100.0, 10.0, 1.0, 0.0, -0.1])
def test_allocate_error_rate_target_must_be_a_fraction(no_work, target):
    """paper_error predicts an error rate: target=100.0 (a percentage) returned a meaningless split."""
    bad_allocate(
        ScalefitError,
        rf"target={target!r} is outside \(0, 1\), but law 'paper_error' predicts an error rate \(a fraction\); "
        r"give it as a fraction, e.g. 0.1 for 10%",
        target=target,
    )


def test_allocate_target_at_or_below_the_floor_is_refused(no_work):
    fit = Fit.from_params(scalefit.paper_error, PLAIN)  # floor with unlimited Dp and Df: above E_inf = 0.05
    for target in (0.05, 0.01):
        with pytest.raises(
            ScalefitError, match=rf"target {target:g} is not reachable: it is at or below the law's floor"
        ):
            allocate(fit, COSTS, target=target, at={"M": 22e6})
    with pytest.raises(ScalefitError, match=r"target 0.1 is not reachable: it is at or below the law's floor.*0.1"):
        allocate(GAP, COSTS, target=0.1)  # exactly the floor E


def test_allocate_error_rate_fraction_target_still_works():
    fit = Fit.from_params(scalefit.paper_error, PLAIN)
    a = allocate(fit, COSTS, target=0.3, at={"M": 22e6})
    assert a.mode == "target" and a.predicted == pytest.approx(0.3, rel=1e-6)
