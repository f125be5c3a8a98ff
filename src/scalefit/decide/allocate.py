"""Allocation under a cost law: the best mix of a law's variables for a budget, or the cheapest for a target.

The cost is any expression of the law's variables:

* per-unit prices, ``{"Dp": 1e-4, "Df": 1e-2}`` (cost ``1e-4*Dp + 1e-2*Df``);
* a formula string: ``"6*N*D"`` (training FLOPs), ``"6*N*D / (312e12 * 0.4 * 3600)"``
  (GPU-hours at a throughput), ``"N*D/3.6e12 + 100"`` (plus a fixed cost per run) —
  numbers, the law's variables, ``+ - * /``, ``^`` (or ``**``), parentheses and ``log``,
  ``exp``, ``sqrt`` (more in :mod:`scalefit.decide.cost`, which parses every cost); it is parsed
  with :mod:`ast`, never evaluated as Python;
* a Python callable whose parameters are named after the law's variables,
  ``lambda N, D: 6 * N * D``.

The variables the cost uses are bought, except those held fixed by ``at=``; every other
variable of the law must be held by ``at=``. ``limits={"D": (None, 1.4e12)}`` caps a bought
variable (the data that exist).

* ``budget=B``: minimise the law subject to ``cost <= B`` (and the limits);
* ``target=T``: minimise the cost subject to ``law <= T`` (and the limits).

Both are solved in log space by SLSQP (sequential least squares programming) from several
starts placed on the constraint, with central-difference gradients. The fit's bootstrap
replicates or posterior draws give the distribution of the optimum: the problem is solved
again for each draw (warm-started at the point optimum), and the central quantiles of the
solutions are the intervals of every bought variable, the cost, the predicted target and
the marginal values.

The marginal value of a variable is the fall of the law per unit of extra cost spent on
it, ``-(d law / d x_v) / (d cost / d x_v)``. At an optimum that no limit binds it is equal
for every variable (the Lagrange condition); a variable held at a cap has a higher one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalefit.decide.allocation_result import Allocation, central_interval
from scalefit.decide.allocation_search import Problem, infeasible_error, log_bounds, start_points
from scalefit.decide.arguments import fit_arg, near
from scalefit.decide.cost import Cost, example, formula_example, parse_cost
from scalefit.errors import ScalefitError
from scalefit.results.fit import Fit
from scalefit.results.prediction import error_rate_reason
from scalefit.validate import check_at, integer, number, probability, shown_value

STARTS = 16
DRAWS = 200
MIN_BUDGET, MAX_BUDGET = 1e-12, 1e30  # target mode: the cheapest and dearest optimum it reports
RISING_SPAN = 23.0  # a cost is checked to rise along each variable over 10 decades either side of the runs
RISING_POINTS = 81


# -- other arguments --------------------------------------------------------------------------
def _limits_arg(limits: object, bought: list[str], held: list[str]) -> dict[str, tuple[float, float]]:
    example = "e.g. limits={" + f"{bought[-1]!r}: (None, 1e12)" + "} (None: no limit on that side)"
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise TypeError(
            f"limits must be a dict {{variable: (low, high)}}, {example}, "
            f"got {shown_value(limits)} ({type(limits).__name__})"
        )
    out = {}
    for key, pair in limits.items():
        if not isinstance(key, str):
            raise TypeError(f"limits keys must be variable names (strings), got {shown_value(key)}")
        if key in held:
            raise ScalefitError(
                f"limits names {key!r}, which at= holds fixed; a limit caps a variable that is bought ({bought})"
            )
        if key not in bought:
            raise ScalefitError(
                f"limits names {key!r}, which is not a variable bought{near(key, bought)}; the variables bought "
                f"are {bought}"
            )
        name = f"limits[{key!r}]"
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence | np.ndarray) or len(pair) != 2:
            raise TypeError(f"{name} must be a (low, high) pair, {example}; got {shown_value(pair)}")
        lo = 0.0 if pair[0] is None else number(pair[0], f"{name} low", low=0.0, fix=example)
        hi = math.inf if pair[1] is None else number(pair[1], f"{name} high", low=0.0, finite=False, fix=example)
        if not lo < hi:
            raise ScalefitError(f"{name} must have low < high, got ({lo:g}, {hi:g}); {example}")
        out[key] = (lo, hi)
    return out


def _draws_arg(interval: object, draws: object) -> tuple[float | None, int]:
    interval = None if interval is None else probability(interval, "interval")
    draws = integer(draws, "draws", minimum=0, fix="how many of the fit's draws to solve again (0: none)")
    return interval, draws


def _bought_and_held(cost: Cost, variables: list[str], at: object, law_name: str) -> tuple[list[str], list[str]]:
    """The variables bought (the cost's, less those in ``at``) and those held (all others)."""
    given = list(at) if isinstance(at, Mapping) else []
    if cost.prices is not None:  # per-unit prices: every named variable is bought
        bought = list(cost.variables)
    else:
        bought = [v for v in cost.variables if v not in given]
    if not bought:
        raise ScalefitError(
            f"at= holds every variable the cost {cost.text!r} uses ({list(cost.variables)}), so nothing is left to "
            "buy; remove the variables to buy from at="
        )
    return bought, [v for v in variables if v not in bought]


def _check_held(at: object, held: list[str], bought: list[str], name: str) -> dict[str, float]:
    taken = {
        v: f"at= gives {v!r}, which {name}= also buys; a variable is either bought ({name}=) or held fixed (at=) "
        "— remove it from one of them"
        for v in bought
    }
    return check_at(
        at,
        held,
        role="of the variables you are not buying",
        fix=": give the values of the variables you are not buying",
        unknown="at= names {key!r}, which is not a variable of the law{near}; the variables not bought are "
        + str(held),
        taken=taken,
    )


# -- the public functions -----------------------------------------------------------------
@dataclass
class _Setup:
    fit: Fit
    cost: Cost
    bought: list[str]
    at: dict[str, float]
    limits: dict[str, tuple[float, float]]
    lo: np.ndarray
    hi: np.ndarray
    interval: float | None
    draws: int
    rng: np.random.Generator

    def problem(self, params, mode: str, level: float) -> Problem:
        return Problem(self.fit.law, params, self.cost, self.bought, self.at, self.lo, self.hi, mode, level)

    def centre(self) -> np.ndarray:
        """Log amounts to start from: the middle of the fitted runs, else 1, inside the limits."""
        out = []
        for v in self.bought:
            r = self.fit.runs.ranges.get(v)
            out.append(0.5 * (math.log(r[0]) + math.log(r[1])) if r and r[0] > 0 else 0.0)
        lo, hi = np.array(log_bounds(self.lo, self.hi)).T
        return np.clip(np.array(out), lo, hi)

    def __post_init__(self):
        table = self.fit.draws
        self.params: list[dict[str, float]] = []
        if self.interval is None or self.draws == 0 or table is None or len(table) == 0:
            return
        idx = np.arange(len(table))
        if len(table) > self.draws:
            idx = np.sort(self.rng.choice(len(table), self.draws, replace=False))
        cols = {n: table[n].to_numpy(dtype=float)[idx] for n in self.fit.law.parameters}
        self.params = [{n: float(c[i]) for n, c in cols.items()} for i in range(len(idx))]

    def draw_params(self) -> list[dict[str, float]]:
        """The parameters of the draws solved again (a fixed subset of the fit's draws)."""
        return self.params


def setup(fit, cost, at, limits, interval, draws, seed) -> _Setup:
    """Every argument of an allocation checked, and the cost parsed; before any work."""
    fit_arg(fit, "fit")
    variables = list(fit.law.variables)
    if cost is None:
        raise ScalefitError(f"cost= is missing: say what the variables cost, {example(variables)}")
    cost = parse_cost(cost, variables, owner=f"law {fit.law.name!r}", name="cost")
    if not cost.variables:
        raise ScalefitError(
            f"cost {cost.text!r} uses none of the law's variables {variables}, so it says nothing about what to "
            f"buy; write it as an expression of them, e.g. {formula_example(variables)!r}"
        )
    bought, held = _bought_and_held(cost, variables, at, fit.law.name)
    at = _check_held(at, held, bought, "cost")
    limits = _limits_arg(limits, bought, held)
    interval, draws = _draws_arg(interval, draws)
    seed = integer(seed, "seed", minimum=0)
    lo = np.array([limits.get(v, (0.0, math.inf))[0] for v in bought])
    hi = np.array([limits.get(v, (0.0, math.inf))[1] for v in bought])
    s = _Setup(fit, cost, bought, at, limits, lo, hi, interval, draws, np.random.default_rng(seed))
    _check_rising(s, "cost")
    return s


def _check_rising(s: _Setup, name: str) -> None:
    """Refuse a cost that falls as a variable bought grows (checked along each variable, the
    others at the middle of the fitted runs): buying more would pay, so the optimum would
    run off to infinity instead of answering."""
    centre = s.centre()
    bounds = log_bounds(s.lo, s.hi)
    for i, v in enumerate(s.bought):
        lo, hi = max(bounds[i][0], centre[i] - RISING_SPAN), min(bounds[i][1], centre[i] + RISING_SPAN)
        U = np.repeat(centre[None, :], RISING_POINTS, axis=0)
        U[:, i] = np.linspace(lo, hi, RISING_POINTS)
        x = {k: np.full(RISING_POINTS, val) for k, val in s.at.items()}
        x.update({w: np.exp(U[:, j]) for j, w in enumerate(s.bought)})
        c = np.broadcast_to(s.cost(x), (RISING_POINTS,))
        ok = np.isfinite(c[:-1]) & np.isfinite(c[1:])
        fall = np.where(ok, c[:-1] - c[1:], 0.0)
        if np.any(fall > 1e-9 * np.maximum(np.abs(c[:-1]), np.abs(c[1:]))):
            k = int(np.argmax(fall))
            others = ", ".join(f"{w}={math.exp(centre[j]):.3g}" for j, w in enumerate(s.bought) if j != i)
            raise ScalefitError(
                f"{name} {s.cost.text!r} falls as {v} grows ({c[k]:.4g} at {v}={math.exp(U[k, i]):.3g}, "
                f"{c[k + 1]:.4g} at {v}={math.exp(U[k + 1, i]):.3g}{', with ' + others if others else ''}); "
                "a cost must not fall as a variable bought grows, or buying more of it would pay for itself — "
                "check the signs of the cost formula"
            )


def _undefined(fit: Fit, at: Mapping[str, float], amounts: Mapping[str, float], fix: str) -> ScalefitError:
    point = ", ".join(f"{k}={v:.4g}" for k, v in {**at, **amounts}.items())
    return ScalefitError(
        f"the law of this fit ({fit.law.name}) is not finite at {point}: it overflows or is undefined there at the "
        f"fitted parameters; {fix}"
    )


def _check_target(fit: Fit, target: object) -> float:
    target = number(target, "target", fix="the value of the law to reach")
    reason = error_rate_reason(fit)
    if reason is not None and not 0.0 < target < 1.0:
        raise ScalefitError(
            f"target={target!r} is outside (0, 1), but {reason} (a fraction); give it as a fraction, e.g. 0.1 for 10%"
        )
    return target


def _check_floor(s: _Setup, problem: Problem) -> None:
    floor, target, bought = problem.floor, problem.level, s.bought
    capped = [v for v in bought if np.isfinite(s.limits.get(v, (0, math.inf))[1])]
    if np.isnan(floor):
        raise _undefined(
            s.fit, s.at, {v: (s.limits[v][1] if v in capped else np.inf) for v in bought},
            f"it has no limit as {bought} grow, so no target can be checked against it; check at=",
        )  # fmt: skip
    if not target > floor:
        if capped:
            caps = ", ".join(f"{v} <= {s.limits[v][1]:g}" for v in capped)
            raise ScalefitError(
                f"target {target:g} is not reachable within limits= ({caps}): with {bought} as large as the limits "
                f"allow the law only falls to {floor:.4g}; choose a target above it, raise the limits, or buy "
                "another variable too"
            )
        raise ScalefitError(
            f"target {target:g} is not reachable: it is at or below the law's floor (its irreducible error) — "
            f"with unlimited {bought} the law only falls to {floor:.4g}; choose a target above it, or buy another "
            "variable too"
        )


def check_budget(s: _Setup, budget: float) -> None:
    """Per-unit prices: the budget spread evenly must be a float and the law finite there."""
    prices = s.cost.prices
    if prices is None:
        return
    even = {v: budget / len(prices) / c for v, c in prices.items()}
    if not all(np.isfinite(x) for x in even.values()):
        raise ScalefitError(
            f"budget={budget:g} buys more than a float can hold at cost={prices}; give a smaller budget= or "
            "larger cost="
        )
    with np.errstate(all="ignore"):
        value = float(s.fit.law.evaluate(s.fit.params, {**s.at, **even}))
    if not np.isfinite(value):
        raise _undefined(s.fit, s.at, even, "check at= and budget=")


def best_split(s: _Setup, problem: Problem, warm: np.ndarray | None = None) -> np.ndarray:
    """The optimum (log amounts) at the fitted parameters, from many starts; raises when there is none."""
    starts = start_points(problem, s.centre(), STARTS, s.rng)
    if warm is not None:
        starts = [problem.project(warm), *starts]
    found = [u for u in starts if u is not None]
    if found and not any(np.isfinite(problem.values(u[None, :])[0][0]) for u in found):
        amounts = {v: float(np.exp(found[0][i])) for i, v in enumerate(s.bought)}
        raise _undefined(s.fit, s.at, amounts, f"check at= and {problem.mode}=")
    u = problem.solve(found)
    if problem.mode == "target":
        cost = np.inf if u is None else float(problem.values(u[None, :])[1][0])
        if cost <= MIN_BUDGET:
            raise ScalefitError(
                f"target {problem.level:g} is already met at a budget of {cost:g} (<= {MIN_BUDGET:g}); nothing to buy"
            )
        if not cost <= MAX_BUDGET:
            best = s.problem(s.fit.params, "budget", MAX_BUDGET)
            b = best.solve(start_points(best, s.centre(), 4, s.rng))
            reach = "" if b is None else f"the best split of it reaches {best.values(b[None, :])[0][0]:.10g}; "
            raise ScalefitError(
                f"target {problem.level!r} is not reached even with a budget of {MAX_BUDGET:g} ({reach}with "
                f"unlimited {s.bought} the law falls to {problem.floor:.10g}); choose a target further above that "
                "floor"
            )
    if u is None:
        raise infeasible_error(problem, s.fit, s.cost, s.limits)
    return u


def solve_draws(s: _Setup, mode: str, level: float, warm: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Each draw's optimum (log amounts), warm-started; None where it has none."""
    out = []
    for params, w in zip(s.draw_params(), warm, strict=True):
        problem = s.problem(params, mode, level)
        if mode == "target" and not (np.isfinite(problem.floor) and level > problem.floor):
            out.append(None)
            continue
        u = problem.solve([w, problem.project(w)] if w is not None else [problem.project(s.centre())])
        if u is None:  # the warm start failed: a few fresh starts
            u = problem.solve(start_points(problem, s.centre(), 4, s.rng))
        out.append(u)
    return out


def summarise(s: _Setup, mode: str, level: float, problem: Problem, u, draw_u) -> Allocation:
    """The :class:`Allocation` of the optimum ``u`` and of each draw's optimum ``draw_u``."""
    law, total, marginal = problem.report(u)
    amounts = {v: float(math.exp(u[i])) for i, v in enumerate(s.bought)}
    if not all(np.isfinite([law, total, *amounts.values(), *marginal])):
        raise _undefined(s.fit, s.at, amounts, f"check at=, cost= and {mode}=")
    marginal_value = {v: float(marginal[i]) for i, v in enumerate(s.bought)}
    at_limit = tuple(
        v
        for v in s.bought
        if v in s.limits and any(b > 0 and np.isfinite(b) and abs(math.log(amounts[v] / b)) < 1e-6 for b in s.limits[v])
    )
    values = {**s.at, **amounts}
    extrapolated = tuple(
        v
        for v in s.fit.law.variables
        if v in s.fit.runs.ranges
        and not s.fit.runs.ranges[v][0] * (1 - 1e-9) <= values[v] <= s.fit.runs.ranges[v][1] * (1 + 1e-9)
    )
    notes = []
    if extrapolated:
        shown = ", ".join(
            f"{v}={values[v]:.3g} (runs {s.fit.runs.ranges[v][0]:.3g} to {s.fit.runs.ranges[v][1]:.3g})"
            for v in extrapolated
        )
        notes.append(f"extrapolated beyond the fitted runs in {shown}: the law is unchecked there")
    elif not s.fit.runs.ranges:
        notes.append("this fit holds no runs (given parameters), so extrapolation cannot be checked")
    if at_limit:
        notes.append(f"the limits bind for {list(at_limit)}: the optimum would buy more (or less) of them")
    if mode == "budget" and total < level * (1 - 1e-6):
        notes.append(f"only {total:.4g} of the budget {level:.4g} is spent: more would not lower the law")
    params = s.draw_params()
    table = None
    intervals: dict[str, Any] = {"amounts": {}, "marginal": {}, "cost": None, "predicted": None}
    if params:
        rows = []
        for p, du in zip(params, draw_u, strict=True):
            if du is None:
                row = {v: math.nan for v in s.bought}
                row.update(cost=math.inf if mode == "target" else math.nan, predicted=math.nan)
                row.update({f"marginal_{v}": math.nan for v in s.bought})
            else:
                dl, dc, dm = s.problem(p, mode, level).report(du)
                row = {v: float(math.exp(du[i])) for i, v in enumerate(s.bought)}
                row.update(cost=dc, predicted=dl)
                row.update({f"marginal_{v}": float(dm[i]) for i, v in enumerate(s.bought)})
            rows.append(row)
        table = pd.DataFrame(rows)
        q = s.interval
        intervals["amounts"] = {v: central_interval(table[v], q) for v in s.bought}
        intervals["marginal"] = {v: central_interval(table[f"marginal_{v}"], q) for v in s.bought}
        intervals["cost"] = central_interval(table["cost"], q)
        intervals["predicted"] = central_interval(table["predicted"], q)
        failed = int(table["predicted"].isna().sum())
        if failed:
            why = (
                "their floor lies above the target (counted as an infinite cost)"
                if mode == "target"
                else "no solution was found"
            )
            notes.append(f"{failed} of {len(table)} draws have no optimum: {why}")
    elif s.interval is not None and s.draws > 0:
        notes.append("this fit has no bootstrap or posterior draws, so the optimum has no interval")
    return Allocation(
        amounts=amounts,
        cost=total,
        predicted=law,
        marginal_value=marginal_value,
        at=dict(s.at),
        mode=mode,
        budget=level if mode == "budget" else None,
        target=level if mode == "target" else None,
        cost_law=s.cost.text,
        limits=dict(s.limits),
        at_limit=at_limit,
        extrapolated=extrapolated,
        ranges={k: (float(a), float(b)) for k, (a, b) in s.fit.runs.ranges.items()},
        interval=s.interval if table is not None else None,
        amounts_interval=intervals["amounts"],
        cost_interval=intervals["cost"],
        predicted_interval=intervals["predicted"],
        marginal_interval=intervals["marginal"],
        draws=table,
        notes=tuple(notes),
    )


def allocate(
    fit: Fit,
    cost: Mapping[str, float] | str | Callable | None = None,
    *,
    budget: float | None = None,
    target: float | None = None,
    at: Mapping[str, float] | None = None,
    limits: Mapping[str, tuple[float | None, float | None]] | None = None,
    interval: float | None = 0.9,
    draws: int = DRAWS,
    seed: int = 0,
) -> Allocation:
    """The best amounts of the law's variables for a budget, or the cheapest reaching a target.

    Parameters
    ----------
    fit : Fit
        A fitted law (``fit_law``, ``load_fit`` or ``Fit.from_params``).
    cost : dict, str or callable
        What the variables cost — any expression of them: per-unit prices
        ``{"Dp": 1e-4, "Df": 1e-2}``; a formula ``"6*N*D"`` (FLOPs), ``"6*N*D/1.1e18"``
        (GPU-hours at a throughput), ``"N*D/3.6e12 + 100"`` (with a fixed cost per run),
        using numbers, the law's variables, ``+ - * / ^``, parentheses, ``log``, ``exp``,
        ``sqrt``; or a function whose parameters are named after the variables,
        ``lambda N, D: 6 * N * D``. The variables it uses are bought, except those given
        in ``at`` (per-unit prices: every variable named is bought). The second argument:
        ``allocate(fit, {"Dp": 1e-4, "Df": 5e-3}, budget=1e3)`` or ``cost=...``.
    budget, target : float
        Exactly one: the most to spend (finite, > 0, in the units of the cost), or the value
        of the law to reach (above its floor, the irreducible error — what it reaches with
        the variables bought as large as the limits allow; for an error-rate law a fraction
        in (0, 1): 0.1 for 10%).
    at : dict
        Values (finite, > 0) of the variables not bought, e.g. ``{"M": 22e6}``.
    limits : dict
        ``{variable: (low, high)}`` caps on variables bought (``None``: no limit that
        side), e.g. ``{"D": (None, 1.4e12)}`` for the data that exist.
    interval : float or None
        Central probability of the intervals over the fit's bootstrap or posterior draws
        (strictly between 0 and 1); ``None`` for the point optimum only.
    draws : int
        At most this many draws are solved again (a random subset when the fit has more);
        0 for none.
    seed : int
        Seed of the random starts and of the subset of draws.

    Returns
    -------
    Allocation
        ``amounts``, ``cost``, ``predicted``, ``marginal_value`` at the fitted parameters;
        their intervals over the draws; ``extrapolated`` (variables outside the fitted
        runs); ``at_limit``; ``to_dict()`` for JSON.

    Every argument is checked before any work; a bad one raises :class:`ScalefitError`
    (or ``TypeError``) naming it, its value and the fix. A target at or below the law's
    floor, a budget below the least the cost allows, and a law undefined at the inputs are
    errors, never a NaN in the result; so is a target whose cheapest cost is at most 1e-12
    (already met) or above 1e30 (in the units of the cost: out of reach in practice).

    >>> import scalefit
    >>> fit = scalefit.Fit.from_params(scalefit.chinchilla, dict(E=1.82, A=478, alpha=0.347, B=2144, beta=0.367))
    >>> a = scalefit.allocate(fit, cost="6*N*D", budget=5.76e23, limits={"D": (None, 1.4e12)})
    >>> f"{a.amounts['N']:.2g}"
    '7.3e+10'
    """
    s = setup(fit, cost, at, limits, interval, draws, seed)
    if (budget is None) == (target is None):
        got = "neither" if budget is None else f"both (budget={budget!r}, target={target!r})"
        raise ScalefitError(f"give exactly one of budget= (the most to spend) or target= (value to reach); got {got}")
    if budget is not None:
        level = number(budget, "budget", low=0.0, low_open=True, fix="the most to spend, in the units of cost=")
        mode = "budget"
    else:
        level, mode = _check_target(s.fit, target), "target"
    problem = s.problem(s.fit.params, mode, level)
    if mode == "target":
        _check_floor(s, problem)
    else:
        check_budget(s, level)
    u = best_split(s, problem)
    draw_u = solve_draws(s, mode, level, [u] * len(s.draw_params()))
    return summarise(s, mode, level, problem, u, draw_u)
