"""Allocation under costs agrees with brute force along the budget line."""

import numpy as np
import pytest

import scalefit
import scalefit.datasets.make_synthetic
from scalefit import Fit, ScalefitError, allocate

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
    with pytest.raises(ScalefitError, match="costs= must name variables"):
        allocate(GAP, {"N": 1.0}, budget=1.0)
    fit = Fit.from_params(scalefit.paper_error, scalefit.datasets.make_synthetic.TRUTH)
    with pytest.raises(ScalefitError, match=r"at= is missing \['M'\]"):
        allocate(fit, COSTS, budget=1.0)
