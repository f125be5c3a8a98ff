"""Allocation under costs agrees with brute force along the budget line; under C = 6ND with
the closed form of Chinchilla-style laws (issue 13, check 1), with intervals over the draws."""

import json

import numpy as np
import pandas as pd
import pytest

import scalefit
import scalefit.datasets.make_synthetic
from scalefit import Fit, LeastSquares, ScalefitError, allocate, compute_optimal
from scalefit.decide.frontier import closed_form_optimum

GAP = Fit.from_params(scalefit.transfer_gap, dict(E=0.1, A=300.0, alpha=0.5, G=2.0, beta=0.3))
COSTS = {"Dp": 1e-4, "Df": 5e-3}


def brute_force(fit, costs, budget, at=None, n=200_001):
    share = np.linspace(1e-6, 1 - 1e-6, n)
    x = {"Dp": share * budget / costs["Dp"], "Df": (1 - share) * budget / costs["Df"]}
    values = fit.law.evaluate(fit.params, {**(at or {}), **x})
    i = int(np.argmin(values))
    return values[i], {k: v[i] for k, v in x.items()}


@pytest.mark.parametrize("budget", [10.0, 1e3, 1e5])
def test_budget_mode_matches_grid_search(budget):
    a = allocate(GAP, COSTS, budget=budget)
    best, amounts = brute_force(GAP, COSTS, budget)
    assert a.cost == pytest.approx(budget, rel=1e-9)
    assert a.predicted <= best * (1 + 1e-9)
    for v in COSTS:
        assert a.amounts[v] == pytest.approx(amounts[v], rel=0.01)
    mv = list(a.marginal_value.values())
    assert mv[0] == pytest.approx(mv[1], rel=1e-3)  # Lagrange: equal value per unit cost


def test_target_mode_is_the_cheapest_budget_reaching_it():
    target = 0.4
    a = allocate(GAP, COSTS, target=target)
    assert a.predicted == pytest.approx(target, rel=1e-6)
    best, _ = brute_force(GAP, COSTS, a.cost * 0.99)
    assert best > target  # 1% less money cannot reach it


def test_paper_law_with_other_variables_held():
    fit = Fit.from_params(scalefit.paper_error, scalefit.datasets.make_synthetic.TRUTH)
    a = allocate(fit, COSTS, budget=500.0, at={"M": 22e6})
    best, amounts = brute_force(fit, COSTS, 500.0, at={"M": 22e6})
    assert a.predicted == pytest.approx(best, rel=1e-6)
    assert a.amounts["Dp"] == pytest.approx(amounts["Dp"], rel=0.01)


def test_errors():
    with pytest.raises(ScalefitError, match="exactly one of budget"):
        allocate(GAP, COSTS)
    with pytest.raises(ScalefitError, match="not reachable.*falls to 0.1"):
        allocate(GAP, COSTS, target=0.05)
    with pytest.raises(ScalefitError, match="cost= must name variables"):
        allocate(GAP, {"N": 1.0}, budget=1.0)
    fit = Fit.from_params(scalefit.paper_error, scalefit.datasets.make_synthetic.TRUTH)
    with pytest.raises(ScalefitError, match=r"at= is missing \['M'\]"):
        allocate(fit, COSTS, budget=1.0)


# == costs as laws: a cost formula, a callable, limits, intervals over the draws ==============
GOPHER = 5.76e23  # FLOPs of Gopher (Rae et al. 2021), the budget of Hoffmann et al.'s comparison
CHIN = dict(E=1.82, A=478.0, alpha=0.347, B=2144.0, beta=0.367)  # Epoch's refit of Chinchilla


def closed_form(params, budget, k=6.0):
    """N*(C), D*(C) of E + A N^-a + B D^-b under C = k N D, written out here independently."""
    a, b = params["alpha"], params["beta"]
    g = (a * params["A"] / (b * params["B"])) ** (1 / (a + b))
    n = g * (budget / k) ** (b / (a + b))
    return n, budget / (k * n)


def jittered_chinchilla(n=60, seed=0):
    rng = np.random.default_rng(seed)
    draws = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.03, n)) for k, v in CHIN.items()})
    return Fit.from_params(scalefit.chinchilla, CHIN, draws=draws)


def assert_json(result):
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["cost_law"] == result.cost_law


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla_runs):
    return scalefit.fit_law(
        scalefit.chinchilla, chinchilla_runs, target="loss", seed=0, method=LeastSquares(bootstrap=200)
    )


def test_gopher_budget_reproduces_the_closed_form_on_the_chinchilla_data(chinchilla_fit):
    """Check 1 of issue 13: C = 6ND at the Gopher budget gives the fitted law's closed-form N*(C) to 1%."""
    fit = chinchilla_fit
    a = allocate(fit, cost="6*N*D", budget=GOPHER)
    n_star, d_star = closed_form(fit.params, GOPHER)
    assert a.amounts["N"] == pytest.approx(n_star, rel=0.01)
    assert a.amounts["D"] == pytest.approx(d_star, rel=0.01)
    assert 5e10 < a.amounts["N"] < 1e11  # chinchilla's package says 7.3e10 for Epoch's fit
    assert a.cost == pytest.approx(GOPHER, rel=1e-6)
    assert a.marginal_value["N"] == pytest.approx(a.marginal_value["D"], rel=1e-3)  # Lagrange
    # bootstrap intervals, each containing the point, with width
    assert a.n_draws == 200 and a.n_solved == 200 and a.interval == 0.9
    for v in ("N", "D"):
        lo, hi = a.amounts_interval[v]
        assert lo < a.amounts[v] < hi and hi / lo > 1.2
    lo, hi = a.predicted_interval
    assert lo < a.predicted < hi
    # every draw's optimum is its own law's closed form (all 200 replicates are used, in order)
    for i in range(0, 200, 37):
        assert a.draws["N"].iloc[i] == pytest.approx(closed_form(fit.draws.iloc[i], GOPHER)[0], rel=0.01)
    # N ~ 7e10 is far beyond the largest run (1.6e10): flagged, with the range in a note
    assert a.extrapolated == ("N", "D")
    assert any("extrapolated beyond the fitted runs" in n for n in a.notes)
    assert_json(a)


def test_same_optimum_from_a_formula_a_callable_and_scaled_units(chinchilla_fit):
    fit = chinchilla_fit
    point = allocate(fit, cost="6*N*D", budget=GOPHER, interval=None)
    by_callable = allocate(fit, cost=lambda N, D: 6 * N * D, budget=GOPHER, interval=None)
    gpu_hours = allocate(fit, cost="6*N*D / (312e12 * 0.4 * 3600)", budget=GOPHER / (312e12 * 0.4 * 3600), draws=0)
    for other in (by_callable, gpu_hours):
        assert other.amounts["N"] == pytest.approx(point.amounts["N"], rel=1e-4)
    assert point.amounts_interval == {} and point.interval is None


def test_a_cap_on_D_is_respected(chinchilla_fit):
    fit = chinchilla_fit
    cap = 5e11  # fewer tokens than the unconstrained optimum (1.3e12) wants
    a = allocate(fit, cost="6*N*D", budget=GOPHER, limits={"D": (None, cap)})
    assert a.amounts["D"] == pytest.approx(cap, rel=1e-6) and a.amounts["D"] <= cap * (1 + 1e-9)
    assert a.at_limit == ("D",)
    assert a.amounts["N"] == pytest.approx(GOPHER / (6 * cap), rel=1e-4)  # the rest of the budget goes to N
    assert (a.draws["D"] <= cap * (1 + 1e-9)).all()
    assert a.amounts_interval["D"][1] <= cap * (1 + 1e-9)
    free = allocate(fit, cost="6*N*D", budget=GOPHER, interval=None)
    assert a.predicted > free.predicted  # a binding cap costs loss
    assert a.marginal_value["D"] > a.marginal_value["N"]  # more data would pay more than more parameters
    assert_json(a)


def test_target_mode_on_the_chinchilla_data_inverts_budget_mode(chinchilla_fit):
    fit = chinchilla_fit
    a = allocate(fit, cost="6*N*D", target=2.0, draws=50)
    assert a.predicted == pytest.approx(2.0, rel=1e-6)
    b = allocate(fit, cost="6*N*D", budget=a.cost, interval=None)
    assert b.predicted == pytest.approx(2.0, rel=1e-6)
    assert b.amounts["N"] == pytest.approx(a.amounts["N"], rel=1e-3)
    lo, hi = a.cost_interval
    assert lo < a.cost < hi


def test_target_below_the_floor_is_a_clear_error(chinchilla_fit):
    fit = chinchilla_fit
    floor = fit.params["E"]
    for target in (floor - 0.01, floor):
        with pytest.raises(ScalefitError, match=r"not reachable: it is at or below the law's floor .*falls to 1.81"):
            allocate(fit, cost="6*N*D", target=target)
    with pytest.raises(ScalefitError, match=r"not reachable within limits= \(D <= 1e\+12\).*only falls to 1.90"):
        allocate(fit, cost="6*N*D", target=1.9, limits={"D": (None, 1e12)})


def test_no_extrapolation_flag_inside_the_runs(chinchilla_fit):
    a = allocate(chinchilla_fit, cost="6*N*D", budget=1e20, draws=20)
    assert a.extrapolated == ()
    assert all(lo <= a.amounts[v] <= hi for v, (lo, hi) in a.ranges.items())


def test_compute_optimal_frontier_matches_the_closed_form(chinchilla_fit):
    fit = chinchilla_fit
    budgets = np.logspace(20, 25, 4)
    front = compute_optimal(fit, budgets, cost="6*N*D", draws=40)
    table = front.table
    assert front.closed_form and list(table["budget"]) == pytest.approx(budgets)
    for i, c in enumerate(budgets):
        n_star, d_star = closed_form(fit.params, c)
        assert table["N"][i] == pytest.approx(n_star, rel=0.01)
        assert table["D"][i] == pytest.approx(d_star, rel=0.01)
        assert table["N_closed_form"][i] == pytest.approx(n_star, rel=1e-9)
        assert table["N_lower"][i] < table["N"][i] < table["N_upper"][i]
    assert np.all(np.diff(table["N"]) > 0) and np.all(np.diff(table["D"]) > 0)
    assert table["extrapolated"][0] == "" and table["extrapolated"][3] == "N,D"
    json.dumps(front.to_dict(), allow_nan=False)


# -- without the shared data: a known law and known draws ---------------------------------------
def test_every_draw_is_solved_again_to_its_closed_form():
    fit = jittered_chinchilla()
    a = allocate(fit, cost="6*N*D", budget=GOPHER)
    assert a.amounts["N"] == pytest.approx(closed_form(CHIN, GOPHER)[0], rel=1e-3)
    expected = np.array([closed_form(fit.draws.iloc[i], GOPHER)[0] for i in range(len(fit.draws))])
    np.testing.assert_allclose(a.draws["N"], expected, rtol=1e-3)
    lo, hi = a.amounts_interval["N"]
    assert lo == pytest.approx(np.quantile(expected, 0.05), rel=1e-3)
    assert hi == pytest.approx(np.quantile(expected, 0.95), rel=1e-3)
    assert a.extrapolated == () and any("holds no runs" in n for n in a.notes)
    n, d = closed_form_optimum(fit.law, CHIN, [GOPHER], 6.0, ("N", "D")).values()
    assert n[0] == pytest.approx(closed_form(CHIN, GOPHER)[0], rel=1e-12)


def test_a_fixed_cost_per_run_is_paid_first():
    fit = jittered_chinchilla(n=10)
    with_fixed = allocate(fit, cost="N*D/3.6e12 + 100", budget=1e9 + 100)
    without = allocate(fit, cost="N*D/3.6e12", budget=1e9)
    assert with_fixed.amounts["N"] == pytest.approx(without.amounts["N"], rel=1e-4)
    assert with_fixed.cost == pytest.approx(1e9 + 100, rel=1e-9)
    with pytest.raises(ScalefitError, match=r"budget=50 buys nothing: the cost 'N\*D/3.6e12 \+ 100' is at least 100"):
        allocate(fit, cost="N*D/3.6e12 + 100", budget=50)


def test_a_variable_of_the_cost_held_fixed_by_at():
    fit = jittered_chinchilla(n=10)
    a = allocate(fit, cost="6*N*D", budget=6e21, at={"N": 1e9})
    assert list(a.amounts) == ["D"] and a.amounts["D"] == pytest.approx(1e12, rel=1e-6)
    assert a.at == {"N": 1e9}


def test_target_mode_counts_draws_that_cannot_reach_it():
    fit = jittered_chinchilla(n=40, seed=3)
    target = CHIN["E"] + 0.02  # above the point floor, below some draws' floors
    a = allocate(fit, cost="6*N*D", target=target)
    floors = fit.draws["E"].to_numpy()
    assert a.n_solved == int(np.sum(floors < target)) < a.n_draws
    assert np.isinf(a.draws["cost"]).sum() == a.n_draws - a.n_solved
    assert any("floor lies above the target" in n for n in a.notes)
    assert_json(a)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(cost="6*N*Q"), ScalefitError, r"cost '6\*N\*Q' names 'Q', which is not a variable of law 'chinchilla'"),
        (dict(cost="6*n*D"), ScalefitError, r"names 'n'.*\(did you mean 'N'\?\)"),
        (dict(cost="6*N*D -"), ScalefitError, r"cost '6\*N\*D -' is not a formula"),
        (dict(cost="__import__('os')"), ScalefitError, r"a Call is not allowed"),
        (dict(cost="N < D"), ScalefitError, r"a Compare is not allowed"),
        (dict(cost="100"), ScalefitError, r"cost '100' uses none of the law's variables"),
        (dict(cost=""), ScalefitError, r"cost is an empty formula"),
        (dict(cost=3.0), TypeError, r"cost must be a dict \{variable: cost per unit\}, a cost formula.*got 3.0"),
        (dict(cost=lambda N, X: N), ScalefitError, r"has parameter 'X', which is not a variable"),
        (dict(cost=lambda *a: 1.0), ScalefitError, r"takes \*args or \*\*kwargs"),
        (dict(cost={"N": 1.0}, costs={"N": 1.0}), TypeError, r"unexpected keyword argument .costs."),  # one name
        (dict(cost=None), ScalefitError, r"cost= is missing"),
        (dict(at={"N": -1.0}), ScalefitError, r"at\['N'\] must be a finite number > 0, got -1.0"),
        (dict(at={"N": np.inf}), ScalefitError, r"at\['N'\] must be a finite number > 0, got inf"),
        (dict(at={"N": np.nan}), ScalefitError, r"at\['N'\] must be a finite number > 0, got nan"),
        (dict(cost={"N": 1.0}, at={"D": -5}), ScalefitError, r"at\['D'\] must be a finite number > 0, got -5"),
        (dict(cost={"N": 1.0}), ScalefitError, r"at= is missing \['D'\]"),
        (dict(limits={"D": (5.0, 1.0)}), ScalefitError, r"limits\['D'\] must have low < high, got \(5, 1\)"),
        (dict(limits={"D": (-1.0, None)}), ScalefitError, r"limits\['D'\] low must be a finite number >= 0"),
        (dict(limits={"D": 1e12}), TypeError, r"limits\['D'\] must be a \(low, high\) pair"),
        (dict(limits={"d": (None, 1e12)}), ScalefitError, r"limits names 'd'.*\(did you mean 'D'\?\)"),
        (dict(limits={"N": (None, 1e9)}, at={"N": 1e9}), ScalefitError, r"limits names 'N', which at= holds fixed"),
        (dict(limits=[("D", 1e12)]), TypeError, r"limits must be a dict \{variable: \(low, high\)\}"),
        (dict(interval=90), ScalefitError, r"interval must be .*got 90; give a fraction, e.g. 0.9 for 90%"),
        (dict(draws=-1), ScalefitError, r"draws must be an integer >= 0, got -1"),
        (dict(draws=2.5), ScalefitError, r"draws must be an integer >= 0, got 2.5"),
        (dict(budget=-1.0), ScalefitError, r"budget must be a finite number > 0, got -1.0"),
        (dict(budget=None, target=np.inf), ScalefitError, r"target must be a finite number, got inf"),
        (dict(budget=1e20, target=2.0), ScalefitError, r"give exactly one of budget="),
    ],
)
def test_bad_inputs_are_refused_before_any_work(monkeypatch, kwargs, exc, match):
    def work(*args, **kw):
        raise AssertionError("work started: the argument was not checked first")

    monkeypatch.setattr("scalefit.decide.allocate.best_split", work)
    args = dict(cost="6*N*D", budget=GOPHER) | kwargs
    with pytest.raises(exc, match=match):
        allocate(jittered_chinchilla(n=5), **args)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(budgets=[1e21, -3.0]), ScalefitError, r"budgets must hold finite values of the budget .* got -3.0"),
        (dict(budgets="1e21"), TypeError, r"budgets must be a number or an array"),
        (dict(budgets=[[1e21]]), ScalefitError, r"budgets must be a number or a flat list"),
        (dict(cost="6*N*M"), ScalefitError, r"names 'M', which is not a variable of law 'chinchilla'"),
    ],
)
def test_compute_optimal_bad_inputs(kwargs, exc, match):
    args = dict(budgets=[1e21]) | kwargs
    with pytest.raises(exc, match=match):
        compute_optimal(jittered_chinchilla(n=5), **args)


def test_compute_optimal_without_closed_form():
    """Per-unit prices are not C = k N D: no closed form, still a frontier with bands."""
    front = compute_optimal(jittered_chinchilla(n=10), [1e12, 1e14], cost={"N": 1.0, "D": 1.0})
    assert not front.closed_form and "N_closed_form" not in front.table
    assert (front.table["N"] + front.table["D"]).to_numpy() == pytest.approx([1e12, 1e14], rel=1e-6)
    assert (front.table["N_lower"] <= front.table["N"]).all()


def test_docstring_example_runs():
    import doctest

    import scalefit.decide.allocate

    assert doctest.testmod(scalefit.decide.allocate, optionflags=doctest.ELLIPSIS).failed == 0
