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

from ._boundary import _fit_arg, near
from ._errors import ScalefitError
from ._result import Fit, _error_rate_reason
from ._validate import _shown, each, integer, number

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
    """The law at ``at`` and ``amounts`` (NaN/inf where undefined: callers check)."""
    with np.errstate(all="ignore"):
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


def _check_costs(costs: object, variables: list[str], law_name: str) -> dict[str, float]:
    example = "e.g. costs={" + ", ".join(f"{v!r}: 1e-4" for v in variables[:2]) + "}"
    if not isinstance(costs, Mapping):
        raise TypeError(
            f"costs must be a dict {{variable: cost per unit}}, {example}, got {_shown(costs)} ({type(costs).__name__})"
        )
    for key in costs:
        if not isinstance(key, str):
            raise TypeError(f"costs keys must be variable names (strings), got {_shown(key)}")
        if key not in variables:
            raise ScalefitError(
                f"costs= must name variables of law {law_name!r} ({', '.join(variables)}) to buy; {key!r} is not "
                f"one of them{near(key, variables)}"
            )
    if not costs:
        raise ScalefitError(
            f"costs= must name at least one variable of law {law_name!r} ({', '.join(variables)}) to buy, {example}"
        )
    return each(costs, "costs", lambda v, n: number(v, n, low=0.0, low_open=True, fix="a cost per unit"))


def _check_at(at: object, variables: list[str], costs: Mapping[str, float]) -> dict[str, float]:
    rest = [v for v in variables if v not in costs]
    example = "at={" + ", ".join(f"{v!r}: ..." for v in rest) + "}"
    if at is None:
        at = {}
    if not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict {{variable: value}} of the variables you are not buying, e.g. {example}, "
            f"got {_shown(at)} ({type(at).__name__})"
        )
    for key in at:
        if not isinstance(key, str):
            raise TypeError(f"at keys must be variable names (strings), got {_shown(key)}")
        if key in costs:
            raise ScalefitError(
                f"at= gives {key!r}, which costs= also buys; a variable is either bought (costs=) or held fixed "
                "(at=) — remove it from one of them"
            )
        if key not in variables:
            raise ScalefitError(
                f"at= names {key!r}, which is not a variable of the law{near(key, rest)}; "
                f"the variables not bought are {rest}"
            )
    missing = [v for v in rest if v not in at]
    if missing:
        raise ScalefitError(
            f"at= is missing {missing}: give the values of the variables you are not buying, e.g. {example}"
        )
    values = each(at, "at", lambda v, n: number(v, n, low=0.0, low_open=True))
    return {v: values[v] for v in rest}


def _undefined(fit: Fit, at: Mapping[str, float], amounts: Mapping[str, float], fix: str) -> ScalefitError:
    point = ", ".join(f"{k}={v:.4g}" for k, v in {**at, **amounts}.items())
    return ScalefitError(
        f"the law of this fit ({fit.law.name}) is not finite at {point}: it overflows or is undefined there at the "
        f"fitted parameters; {fix}"
    )


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
        Cost per unit of each variable to buy (finite, > 0), e.g. ``{"Dp": 1e-4, "Df": 1e-2}``.
    budget, target : float
        Exactly one: the money to spend (finite, > 0), or the value of the target to reach
        (above what the law reaches with unlimited amounts of the variables bought, its
        floor; for an error-rate law a fraction in (0, 1): 0.1 for 10%).
    at : dict
        Values (> 0) of the law's other variables, the ones not bought (e.g. ``{"M": 22e6}``).
    seed : int
        Seed of the random starts of the split search.

    Returns
    -------
    Allocation
        ``amounts``, ``cost``, ``predicted`` and ``marginal_value`` per variable.

    Every argument is checked before any work; a law that is undefined at the inputs is an
    error naming them, never a NaN in the result.
    """
    _fit_arg(fit, "fit")
    variables = list(fit.law.variables)
    costs = _check_costs(costs, variables, fit.law.name)
    if (budget is None) == (target is None):
        got = "neither" if budget is None else f"both (budget={budget!r}, target={target!r})"
        raise ScalefitError(f"give exactly one of budget= (money to spend) or target= (value to reach); got {got}")
    if budget is not None:
        budget = number(budget, "budget", low=0.0, low_open=True, fix="the money to spend, in the units of costs=")
    else:
        target = number(target, "target", fix="the value of the law to reach")
        reason = _error_rate_reason(fit)
        if reason is not None and not 0.0 < target < 1.0:
            raise ScalefitError(
                f"target={target!r} is outside (0, 1), but {reason} (a fraction); give it as a fraction, "
                "e.g. 0.1 for 10%"
            )
    at = _check_at(at, variables, costs)
    seed = integer(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    if budget is not None:
        even = {v: budget / len(costs) / c for v, c in costs.items()}
        if not all(np.isfinite(x) for x in even.values()):
            raise ScalefitError(
                f"budget={budget:g} buys more than a float can hold at costs={costs}; give a smaller budget= or "
                "larger costs="
            )
        if not np.isfinite(_value(fit, at, even)):
            raise _undefined(fit, at, even, "check at= and budget=")
        amounts, mode = _best_split(fit, costs, at, budget, rng), "budget"
    else:
        floor = _value(fit, at, {v: np.inf for v in costs})
        if np.isnan(floor):
            raise _undefined(
                fit, at, {v: np.inf for v in costs},
                f"it has no limit as {list(costs)} grow, so no target can be checked against it; check at=",
            )  # fmt: skip
        if not target > floor:
            raise ScalefitError(
                f"target {target:g} is not reachable: it is at or below the law's floor — with unlimited "
                f"{list(costs)} the law only falls to {floor:.4g}; choose a target above it, or buy another "
                "variable too"
            )

        def gap(log_b):
            return (
                _value(fit, at, _best_split(fit, costs, at, float(np.exp(log_b)), np.random.default_rng(seed))) - target
            )

        lo, hi = np.log(1e-12), np.log(1e30)
        g_lo, g_hi = gap(lo), gap(hi)
        for log_b, g in ((lo, g_lo), (hi, g_hi)):
            if np.isnan(g):
                b = float(np.exp(log_b))
                raise _undefined(fit, at, {v: b / c for v, c in costs.items()}, "check at= and costs=")
        if g_lo <= 0:
            raise ScalefitError(f"target {target:g} is already met at a budget of {np.exp(lo):g}; nothing to buy")
        if g_hi > 0:
            raise ScalefitError(
                f"target {target!r} is not reached even with a budget of {np.exp(hi):g} (the best split of it "
                f"reaches {g_hi + target:.10g}; with unlimited {list(costs)} the law falls to {floor:.10g}); "
                "choose a target further above that floor"
            )
        log_b = brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12)
        amounts, mode = _best_split(fit, costs, at, float(np.exp(log_b)), rng), "target"
    marginal = {}
    for v, x in amounts.items():
        h = 1e-6 * x
        up, down = _value(fit, at, {**amounts, v: x + h}), _value(fit, at, {**amounts, v: x - h})
        marginal[v] = -(up - down) / (2 * h) / costs[v]
    predicted = _value(fit, at, amounts)
    if not all(np.isfinite([predicted, *amounts.values(), *marginal.values()])):
        raise _undefined(fit, at, amounts, f"check at= and {'budget=' if mode == 'budget' else 'target='}")
    return Allocation(
        amounts=dict(amounts),
        cost=float(sum(costs[v] * x for v, x in amounts.items())),
        predicted=predicted,
        marginal_value=marginal,
        at=at,
        mode=mode,
    )
