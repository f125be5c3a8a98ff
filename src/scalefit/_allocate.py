"""Data allocation: the cheapest mix of a law's variables for a target, or the best for a budget.

With costs ``c_v`` per unit of each chosen variable (e.g. per pre-training and per
fine-tuning sample) and the other variables held at ``at``:

* ``budget=B``: minimise the law subject to ``sum_v c_v x_v = B``. The budget is split by
  shares ``s_v`` (``x_v = s_v B / c_v``) optimised on the simplex from several starts.
* ``target=T``: the smallest budget whose best split reaches ``T`` (bisection on
  ``log B``; the best attainable value falls as the budget grows).

At the optimum the marginal value of every variable — the fall of the law per unit of
money, ``-(d law / d x_v) / c_v`` — is equal (the Lagrange condition); the result reports
it, so a user sees which lever is cheap at the margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize

from ._errors import ScalefitError
from ._result import Fit

STARTS = 16


@dataclass(frozen=True)
class Allocation:
    """The chosen amounts, their cost, the predicted target and the marginal values."""

    amounts: dict[str, float]
    cost: float
    predicted: float
    marginal_value: dict[str, float]
    at: dict[str, float]
    mode: str

    def __repr__(self) -> str:
        parts = ", ".join(f"{v}={x:.4g}" for v, x in self.amounts.items())
        mv = ", ".join(f"{v}: {m:.3g}" for v, m in self.marginal_value.items())
        return (
            f"Allocation({self.mode}): {parts}; cost {self.cost:.4g}; predicted {self.predicted:.4g}\n"
            f"  marginal value (fall of the target per unit cost): {mv}"
        )


def _value(fit: Fit, at: Mapping[str, float], amounts: Mapping[str, float]) -> float:
    with np.errstate(over="ignore", under="ignore"):
        return float(fit.law.evaluate(fit.params, {**at, **amounts}))


def _best_split(fit: Fit, costs: dict[str, float], at: dict[str, float], budget: float, rng) -> dict[str, float]:
    names = list(costs)
    c = np.array([costs[v] for v in names])

    def amounts(z):
        s = np.exp(z - z.max())
        s /= s.sum()
        return dict(zip(names, s * budget / c, strict=True))

    def objective(z):
        return _value(fit, at, amounts(np.concatenate([[0.0], z])))

    if len(names) == 1:
        return {names[0]: budget / c[0]}
    best = None
    for start in np.vstack([np.zeros(len(names) - 1), rng.normal(0, 3, (STARTS - 1, len(names) - 1))]):
        res = minimize(
            objective, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 4000}
        )
        if best is None or res.fun < best.fun:
            best = res
    return amounts(np.concatenate([[0.0], best.x]))


def allocate(
    fit: Fit,
    costs: Mapping[str, float],
    *,
    budget: float | None = None,
    target: float | None = None,
    at: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Allocation:
    """Split a budget over the law's variables, or find the cheapest split reaching a target.

    Parameters
    ----------
    fit : Fit
        A fitted law (e.g. ``transfer_gap`` or ``paper_error``).
    costs : dict
        Cost per unit of each variable to buy, e.g. ``{"Dp": 1e-4, "Df": 1e-2}``.
    budget, target : float
        Exactly one: the money to spend, or the value of the target to reach.
    at : dict
        Values of the law's other variables (e.g. ``{"M": 22e6}``).

    Returns
    -------
    Allocation
        ``amounts``, ``cost``, ``predicted`` and ``marginal_value`` per variable.
    """
    if not isinstance(fit, Fit):
        raise TypeError(f"allocate() takes a scalefit Fit, got {type(fit).__name__}")
    if (budget is None) == (target is None):
        raise ScalefitError("give exactly one of budget= (money to spend) or target= (value to reach)")
    costs = {str(k): float(v) for k, v in dict(costs).items()}
    unknown = [v for v in costs if v not in fit.law.variables]
    if not costs or unknown:
        raise ScalefitError(
            f"costs= must name variables of law {fit.law.name!r} ({list(fit.law.variables)}); got {list(costs)}"
        )
    bad = [v for v, c in costs.items() if not (np.isfinite(c) and c > 0)]
    if bad:
        raise ScalefitError(f"costs for {bad} must be finite and > 0")
    at = {k: float(v) for k, v in dict(at or {}).items()}
    missing = [v for v in fit.law.variables if v not in costs and v not in at]
    if missing:
        raise ScalefitError(f"at= is missing {missing}: give the values of the variables you are not buying")
    rng = np.random.default_rng(seed)
    if budget is not None:
        if not (np.isfinite(budget) and budget > 0):
            raise ScalefitError(f"budget must be finite and > 0, got {budget!r}")
        amounts, mode = _best_split(fit, costs, at, float(budget), rng), "budget"
    else:
        floor = _value(fit, at, {v: np.inf for v in costs})
        if not target > floor:
            raise ScalefitError(
                f"target {target:g} is not reachable: with unlimited {list(costs)} the law only falls to {floor:.4g}; "
                "choose a target above it, or buy another variable too"
            )

        def gap(log_b):
            return (
                _value(fit, at, _best_split(fit, costs, at, float(np.exp(log_b)), np.random.default_rng(seed))) - target
            )

        lo, hi = np.log(1e-12), np.log(1e30)
        if gap(lo) <= 0:
            raise ScalefitError(f"target {target:g} is already met at a budget of {np.exp(lo):g}; nothing to buy")
        log_b = brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)
        amounts, mode = _best_split(fit, costs, at, float(np.exp(log_b)), rng), "target"
    marginal = {}
    for v, x in amounts.items():
        h = 1e-6 * x
        up, down = _value(fit, at, {**amounts, v: x + h}), _value(fit, at, {**amounts, v: x - h})
        marginal[v] = -(up - down) / (2 * h) / costs[v]
    return Allocation(
        amounts=dict(amounts),
        cost=float(sum(costs[v] * x for v, x in amounts.items())),
        predicted=_value(fit, at, amounts),
        marginal_value=marginal,
        at=at,
        mode=mode,
    )
