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
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize

from scalefit.decide.boundary import fit_arg, near, points_arg
from scalefit.decide.cost import Cost, example, formula_example, parse_cost
from scalefit.errors import ScalefitError
from scalefit.files import encode
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Power, Sum
from scalefit.results.fit import Fit, error_rate_reason
from scalefit.validate import check_at, integer, number, probability, shown_value

STARTS = 16
DRAWS = 200
MIN_BUDGET, MAX_BUDGET = 1e-12, 1e30  # target mode: the cheapest and dearest optimum it reports
STEP = 1e-6  # central-difference step in log amounts
LOG_LIMIT = 690.0  # |log amount| never beyond this: exp(690) ~ 1e300
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


# -- the optimisation -------------------------------------------------------------------------
class _Problem:
    """One allocation problem at one parameter set, in log amounts ``u`` of the bought variables."""

    def __init__(self, law: Law, params, cost: Cost, bought, at, lo, hi, mode: str, level: float):
        self.law, self.params, self.cost, self.bought, self.at = law, params, cost, list(bought), at
        self.lo, self.hi, self.mode, self.level = lo, hi, mode, level
        with np.errstate(all="ignore"):
            top = np.where(np.isfinite(hi), np.log(np.where(hi > 0, hi, 1.0)), np.inf)
            self.floor = float(self.values(top[None, :])[0][0])
        self.shift = self.floor if np.isfinite(self.floor) else None
        self._cache: dict[bytes, tuple[float, float, np.ndarray, np.ndarray]] = {}

    def x(self, U: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            out = {v: np.exp(U[:, i]) for i, v in enumerate(self.bought)}
        return {**{k: np.full(len(U), val) for k, val in self.at.items()}, **out}

    def values(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law and the cost at each row of ``U``."""
        x = self.x(U)
        with np.errstate(all="ignore"):
            law = np.asarray(self.law.expr._eval(self.params, x, np), dtype=float)
        return np.broadcast_to(law, (len(U),)), np.broadcast_to(self.cost(x), (len(U),))

    def objective_constraint(self, L, C):
        """(objective, constraint >= 0) from law and cost values."""
        with np.errstate(all="ignore"):
            if self.mode == "budget":
                gap = L - self.shift if self.shift is not None else L
                obj = np.log(np.maximum(gap, 1e-300)) if self.shift is not None else L
                con = 1.0 - C / self.level
            else:
                obj = np.log(np.maximum(C, 1e-300))
                span = self.level - self.shift if self.shift is not None else abs(self.level)
                con = (self.level - L) / span
        return obj, con

    def at_u(self, u: np.ndarray):
        key = u.tobytes()
        hit = self._cache.get(key)
        if hit is None:
            k = len(u)
            U = np.vstack([u, u + STEP * np.eye(k), u - STEP * np.eye(k)])
            obj, con = self.objective_constraint(*self.values(U))
            g_obj = (obj[1 : k + 1] - obj[k + 1 :]) / (2 * STEP)
            g_con = (con[1 : k + 1] - con[k + 1 :]) / (2 * STEP)
            hit = (float(obj[0]), float(con[0]), g_obj, g_con)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def bounds(self) -> list[tuple[float, float]]:
        return _log_bounds(self.lo, self.hi)

    def project(self, w: np.ndarray) -> np.ndarray | None:
        """``w + t`` on the constraint (cost = budget, or law = target), clipped to the limits."""
        t = np.arange(-2 * LOG_LIMIT, 2 * LOG_LIMIT + 1, 5.0)
        U = np.clip(w[None, :] + t[:, None], -LOG_LIMIT, LOG_LIMIT)
        _, con = self.objective_constraint(*self.values(U))
        ok = np.isfinite(con)
        sign = np.sign(con)
        change = np.nonzero(ok[:-1] & ok[1:] & (sign[:-1] != sign[1:]))[0]
        if len(change) == 0:
            return None
        i = change[-1] if self.mode == "budget" else change[0]

        def g(s):
            return float(self.objective_constraint(*self.values(np.clip(w + s, -LOG_LIMIT, LOG_LIMIT)[None, :]))[1][0])

        s = brentq(g, t[i], t[i + 1], xtol=1e-12)
        lo, hi = np.array(self.bounds()).T
        return np.clip(w + s, lo, hi)

    def solve(self, starts: Sequence[np.ndarray]) -> np.ndarray | None:
        """The best feasible SLSQP optimum from ``starts`` (log amounts), or None."""
        best, best_obj = None, np.inf
        cons = {"type": "ineq", "fun": lambda u: self.at_u(u)[1], "jac": lambda u: self.at_u(u)[3]}
        for u0 in starts:
            if u0 is None or not np.all(np.isfinite(u0)):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = minimize(
                    lambda u: self.at_u(u)[0],
                    u0,
                    jac=lambda u: self.at_u(u)[2],
                    method="SLSQP",
                    bounds=self.bounds(),
                    constraints=[cons],
                    options={"ftol": 1e-14, "maxiter": 500},
                )
            u = np.asarray(res.x, dtype=float)
            obj, con, _, _ = self.at_u(u)
            if np.isfinite(obj) and con >= -1e-7 and obj < best_obj:
                best, best_obj = u, obj
        return best

    def report(self, u: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(law, cost, marginal values) at ``u``."""
        k = len(u)
        U = np.vstack([u, u + STEP * np.eye(k), u - STEP * np.eye(k)])
        L, C = self.values(U)
        with np.errstate(all="ignore"):
            marginal = -(L[1 : k + 1] - L[k + 1 :]) / (C[1 : k + 1] - C[k + 1 :])
        return float(L[0]), float(C[0]), marginal


def _starts(problem: _Problem, centre: np.ndarray, n: int, rng) -> list[np.ndarray]:
    k = len(centre)
    offsets = np.vstack([np.zeros(k), rng.normal(0.0, 2.0, (max(n - 1, 0), k))]) if k > 1 else np.zeros((1, k))
    return [problem.project(centre + o) for o in offsets]


def _infeasible(problem: _Problem, fit: Fit, cost: Cost, limits) -> ScalefitError:
    bought = problem.bought
    if problem.mode == "budget":
        with np.errstate(all="ignore"):
            low = np.where(problem.lo > 0, np.log(np.where(problem.lo > 0, problem.lo, 1.0)), -LOG_LIMIT)
        least = float(problem.values(low[None, :])[1][0])
        where = "their lower limits" if limits else "their smallest"
        return ScalefitError(
            f"budget={problem.level:g} buys nothing: the cost {cost.text!r} is at least {least:.4g} (with {bought} "
            f"at {where}; a fixed cost per run?); give a larger budget= or a cheaper cost="
        )
    return ScalefitError(
        f"no amounts of {bought} reach target {problem.level:g} at the fitted parameters of law {fit.law.name!r}; "
        "check target=, at= and limits="
    )


# -- results ----------------------------------------------------------------------------------
def _interval(values: np.ndarray, interval: float) -> tuple[float, float]:
    """Central quantiles (linear interpolation), NaN dropped. A +inf (target mode: a draw
    that cannot reach the target at any cost) counts as the largest value, and an end
    interpolated towards it is +inf."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (math.nan, math.nan)
    tail = (1.0 - interval) / 2.0
    big = np.finfo(float).max
    ends = np.quantile(np.where(np.isinf(values), big, values), [tail, 1.0 - tail])
    return tuple(float(math.inf if e > big / 4 else e) for e in ends)


@dataclass(frozen=True)
class Allocation:
    """The optimum of an allocation: amounts, cost, predicted target, marginal values, and their intervals.

    Attributes
    ----------
    amounts : dict
        The chosen amount of each variable bought (at the fitted parameters).
    cost, predicted : float
        The cost of those amounts and the law's value there.
    marginal_value : dict
        Per variable bought, the fall of the law per unit of extra cost spent on it,
        ``-(d law / d x) / (d cost / d x)``; equal across variables at an optimum no
        limit binds.
    at : dict
        The variables held fixed.
    mode : str
        ``"budget"`` or ``"target"``.
    budget, target : float or None
        The one that was given.
    cost_law : str
        The cost, as a formula (``"6*N*D"``, ``"0.0001*Dp + 0.005*Df"``, ``"cost(N, D)"``).
    limits : dict
        ``{variable: (low, high)}`` of the capped variables.
    at_limit : tuple
        Variables whose optimum sits on a limit.
    extrapolated : tuple
        Variables (bought or held) whose value lies outside the range of the runs the fit
        was made on (``fit.ranges``); empty when the fit holds no runs (see ``notes``).
    ranges : dict
        The fit's range of each variable, ``{variable: (low, high)}``.
    interval : float or None
        Central probability of the intervals (None: no intervals).
    amounts_interval, marginal_interval : dict
        Per variable bought, ``(low, high)`` of the optimum over the fit's draws.
    cost_interval, predicted_interval : tuple or None
        ``(low, high)`` of the optimal cost and of the law's value at each draw's optimum.
        In target mode a draw whose floor lies above the target counts as an infinite cost.
    draws : DataFrame or None
        The optimum at each draw used (one row per draw: the bought variables, ``cost``,
        ``predicted``, ``marginal_<variable>``; NaN where a draw had no solution).
    notes : tuple
        Plain-language remarks (limits that bind, draws without a solution, extrapolation).
    """

    amounts: dict[str, float]
    cost: float
    predicted: float
    marginal_value: dict[str, float]
    at: dict[str, float]
    mode: str
    budget: float | None = None
    target: float | None = None
    cost_law: str = ""
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    at_limit: tuple[str, ...] = ()
    extrapolated: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval: float | None = None
    amounts_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    cost_interval: tuple[float, float] | None = None
    predicted_interval: tuple[float, float] | None = None
    marginal_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    draws: pd.DataFrame | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def n_draws(self) -> int:
        """How many of the fit's draws were solved again (0: no intervals)."""
        return 0 if self.draws is None else len(self.draws)

    @property
    def n_solved(self) -> int:
        """How many of those draws have a solution (target mode: a reachable target)."""
        return 0 if self.draws is None else int(np.isfinite(self.draws["cost"].to_numpy(dtype=float)).sum())

    def __repr__(self) -> str:
        def span(pair):
            return "" if pair is None else f" [{pair[0]:.4g}, {pair[1]:.4g}]"

        given = f"budget {self.budget:.4g}" if self.mode == "budget" else f"target {self.target:.4g}"
        lines = [f"Allocation({self.mode}): {given} under cost {self.cost_law}"]
        if self.at:
            lines[0] += "; at " + ", ".join(f"{k}={v:.4g}" for k, v in self.at.items())
        pct = "" if self.interval is None else f" ({self.interval:.0%} interval over {self.n_draws} draws)"
        lines.append(f"  optimum{pct}:")
        for v, x in self.amounts.items():
            flags = (" at limit" if v in self.at_limit else "") + (" EXTRAPOLATED" if v in self.extrapolated else "")
            lines.append(f"    {v:>12} = {x:.4g}{span(self.amounts_interval.get(v))}{flags}")
        lines.append(f"    {'cost':>12} = {self.cost:.4g}{span(self.cost_interval)}")
        lines.append(f"    {'predicted':>12} = {self.predicted:.4g}{span(self.predicted_interval)}")
        mv = ", ".join(f"{v}: {m:.3g}" for v, m in self.marginal_value.items())
        lines.append(f"  marginal value (fall of the target per unit cost): {mv}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready Python (``json.dumps(a.to_dict(), allow_nan=False)`` works; non-finite
        numbers are the strings ``"NaN"``, ``"Infinity"``); the per-draw table is left out."""
        return encode(
            {
                "mode": self.mode,
                "budget": self.budget,
                "target": self.target,
                "cost_law": self.cost_law,
                "amounts": self.amounts,
                "cost": self.cost,
                "predicted": self.predicted,
                "marginal_value": self.marginal_value,
                "at": self.at,
                "limits": {k: list(v) for k, v in self.limits.items()},
                "at_limit": list(self.at_limit),
                "extrapolated": list(self.extrapolated),
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "interval": self.interval,
                "amounts_interval": {k: list(v) for k, v in self.amounts_interval.items()},
                "cost_interval": None if self.cost_interval is None else list(self.cost_interval),
                "predicted_interval": None if self.predicted_interval is None else list(self.predicted_interval),
                "marginal_interval": {k: list(v) for k, v in self.marginal_interval.items()},
                "n_draws": self.n_draws,
                "n_solved": self.n_solved,
                "notes": list(self.notes),
            }
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

    def problem(self, params, mode: str, level: float) -> _Problem:
        return _Problem(self.fit.law, params, self.cost, self.bought, self.at, self.lo, self.hi, mode, level)

    def centre(self) -> np.ndarray:
        """Log amounts to start from: the middle of the fitted runs, else 1, inside the limits."""
        out = []
        for v in self.bought:
            r = self.fit.ranges.get(v)
            out.append(0.5 * (math.log(r[0]) + math.log(r[1])) if r and r[0] > 0 else 0.0)
        lo, hi = np.array(_log_bounds(self.lo, self.hi)).T
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


def _setup(fit, cost, costs, at, limits, interval, draws, seed) -> _Setup:
    fit_arg(fit, "fit")
    variables = list(fit.law.variables)
    if cost is not None and costs is not None:
        raise ScalefitError("give the cost once: as the second argument (costs) or as cost=, not both")
    name = "costs" if cost is None else "cost"
    cost = costs if cost is None else cost
    if cost is None:
        raise ScalefitError(f"cost= is missing: say what the variables cost, {example(variables)}")
    cost = parse_cost(cost, variables, owner=f"law {fit.law.name!r}", name=name)
    if not cost.variables:
        raise ScalefitError(
            f"{name} {cost.text!r} uses none of the law's variables {variables}, so it says nothing about what to "
            f"buy; write it as an expression of them, e.g. {formula_example(variables)!r}"
        )
    bought, held = _bought_and_held(cost, variables, at, fit.law.name)
    at = _check_held(at, held, bought, name)
    limits = _limits_arg(limits, bought, held)
    interval, draws = _draws_arg(interval, draws)
    seed = integer(seed, "seed", minimum=0)
    lo = np.array([limits.get(v, (0.0, math.inf))[0] for v in bought])
    hi = np.array([limits.get(v, (0.0, math.inf))[1] for v in bought])
    s = _Setup(fit, cost, bought, at, limits, lo, hi, interval, draws, np.random.default_rng(seed))
    _check_rising(s, name)
    return s


def _log_bounds(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, float]]:
    """Limits on the bought variables as bounds on their log amounts (within +-LOG_LIMIT)."""
    with np.errstate(divide="ignore"):
        low = np.maximum(np.log(lo), -LOG_LIMIT)
        high = np.minimum(np.log(hi), LOG_LIMIT)
    return list(zip(low.tolist(), high.tolist(), strict=True))


def _check_rising(s: _Setup, name: str) -> None:
    """Refuse a cost that falls as a variable bought grows (checked along each variable, the
    others at the middle of the fitted runs): buying more would pay, so the optimum would
    run off to infinity instead of answering."""
    centre = s.centre()
    bounds = _log_bounds(s.lo, s.hi)
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


def _check_floor(s: _Setup, problem: _Problem) -> None:
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


def _check_budget(s: _Setup, budget: float) -> None:
    """Per-unit prices: the budget spread evenly must be a float and the law finite there."""
    prices = s.cost.prices
    if prices is None:
        return
    even = {v: budget / len(prices) / c for v, c in prices.items()}
    if not all(np.isfinite(x) for x in even.values()):
        raise ScalefitError(
            f"budget={budget:g} buys more than a float can hold at costs={prices}; give a smaller budget= or "
            "larger costs="
        )
    with np.errstate(all="ignore"):
        value = float(s.fit.law.evaluate(s.fit.params, {**s.at, **even}))
    if not np.isfinite(value):
        raise _undefined(s.fit, s.at, even, "check at= and budget=")


def _best_split(s: _Setup, problem: _Problem, warm: np.ndarray | None = None) -> np.ndarray:
    """The optimum (log amounts) at the fitted parameters, from many starts; raises when there is none."""
    starts = _starts(problem, s.centre(), STARTS, s.rng)
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
            b = best.solve(_starts(best, s.centre(), 4, s.rng))
            reach = "" if b is None else f"the best split of it reaches {best.values(b[None, :])[0][0]:.10g}; "
            raise ScalefitError(
                f"target {problem.level!r} is not reached even with a budget of {MAX_BUDGET:g} ({reach}with "
                f"unlimited {s.bought} the law falls to {problem.floor:.10g}); choose a target further above that "
                "floor"
            )
    if u is None:
        raise _infeasible(problem, s.fit, s.cost, s.limits)
    return u


def _solve_draws(s: _Setup, mode: str, level: float, warm: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Each draw's optimum (log amounts), warm-started; None where it has none."""
    out = []
    for params, w in zip(s.draw_params(), warm, strict=True):
        problem = s.problem(params, mode, level)
        if mode == "target" and not (np.isfinite(problem.floor) and level > problem.floor):
            out.append(None)
            continue
        u = problem.solve([w, problem.project(w)] if w is not None else [problem.project(s.centre())])
        if u is None:  # the warm start failed: a few fresh starts
            u = problem.solve(_starts(problem, s.centre(), 4, s.rng))
        out.append(u)
    return out


def _summarise(s: _Setup, mode: str, level: float, problem: _Problem, u, draw_u) -> Allocation:
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
        if v in s.fit.ranges and not s.fit.ranges[v][0] * (1 - 1e-9) <= values[v] <= s.fit.ranges[v][1] * (1 + 1e-9)
    )
    notes = []
    if extrapolated:
        shown = ", ".join(
            f"{v}={values[v]:.3g} (runs {s.fit.ranges[v][0]:.3g} to {s.fit.ranges[v][1]:.3g})" for v in extrapolated
        )
        notes.append(f"extrapolated beyond the fitted runs in {shown}: the law is unchecked there")
    elif not s.fit.ranges:
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
        intervals["amounts"] = {v: _interval(table[v], q) for v in s.bought}
        intervals["marginal"] = {v: _interval(table[f"marginal_{v}"], q) for v in s.bought}
        intervals["cost"], intervals["predicted"] = _interval(table["cost"], q), _interval(table["predicted"], q)
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
        ranges={k: (float(a), float(b)) for k, (a, b) in s.fit.ranges.items()},
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
    costs: Mapping[str, float] | str | Callable | None = None,
    *,
    cost: Mapping[str, float] | str | Callable | None = None,
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
    costs, cost : dict, str or callable
        What the variables cost — any expression of them: per-unit prices
        ``{"Dp": 1e-4, "Df": 1e-2}``; a formula ``"6*N*D"`` (FLOPs), ``"6*N*D/1.1e18"``
        (GPU-hours at a throughput), ``"N*D/3.6e12 + 100"`` (with a fixed cost per run),
        using numbers, the law's variables, ``+ - * / ^``, parentheses, ``log``, ``exp``,
        ``sqrt``; or a function whose parameters are named after the variables,
        ``lambda N, D: 6 * N * D``. The variables it uses are bought, except those given
        in ``at`` (per-unit prices: every variable named is bought). Give it as ``cost=``
        or as the second argument (named ``costs``, its older name:
        ``allocate(fit, {"Dp": 1e-4, "Df": 5e-3}, budget=1e3)``), not both.
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
    s = _setup(fit, cost, costs, at, limits, interval, draws, seed)
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
        _check_budget(s, level)
    u = _best_split(s, problem)
    draw_u = _solve_draws(s, mode, level, [u] * len(s.draw_params()))
    return _summarise(s, mode, level, problem, u, draw_u)


# -- the compute-optimal frontier ----------------------------------------------------------
def _power_law_pair(law: Law, params, bought: list[str]) -> dict[str, tuple[float, float]] | None:
    """``{variable: (A, a)}`` when the law is ``E + A N^-a + B D^-b`` in the two variables bought."""
    expr = law.expr
    if not isinstance(expr, Sum) or len(bought) != 2:
        return None
    out = {}
    for t in expr.terms:
        if isinstance(t, Constant):
            continue
        if not isinstance(t, Power) or t.variable in out:
            return None
        a = float(t._exp(params))
        if t.scale is not None:
            amp = 1.0 / float(params[t.scale])
        elif t.amplitude is not None:
            amp = float(params[t.amplitude])
        else:
            amp = 1.0
        if not (a > 0 and amp > 0):
            return None
        out[t.variable] = (amp, a)
    return out if sorted(out) == sorted(bought) else None


def _product_price(cost: Cost, bought: list[str]) -> float | None:
    """``k`` when the cost is ``k * N * D`` in the two variables bought (checked at points)."""
    if len(bought) != 2:
        return None
    pts = np.array([[1e3, 1e5], [1e8, 1e4], [1e10, 1e12], [3e6, 7e9]])
    with np.errstate(all="ignore"):
        c = cost({bought[0]: pts[:, 0], bought[1]: pts[:, 1]})
        k = c / (pts[:, 0] * pts[:, 1])
    return float(k[0]) if np.all(np.isfinite(k)) and k[0] > 0 and np.allclose(k, k[0], rtol=1e-9) else None


def closed_form_optimum(law: Law, params: Mapping[str, float], budgets, price: float, variables: tuple[str, str]):
    """``{N: N*(C), D: D*(C)}`` of ``E + A N^-a + B D^-b`` under the cost ``C = price * N * D``:
    ``N* = G (C/price)^(b/(a+b))`` with ``G = (a A / (b B))^(1/(a+b))``, ``D* = C / (price N*)``
    (Hoffmann et al. 2022, Approach 3). ``None`` when the law is not of that form."""
    pair = _power_law_pair(law, params, list(variables))
    if pair is None:
        return None
    n, d = variables
    (A, a), (B, b) = pair[n], pair[d]
    c = np.asarray(budgets, dtype=float) / price
    g = (a * A / (b * B)) ** (1.0 / (a + b))
    n_star = g * c ** (b / (a + b))
    return {n: n_star, d: c / n_star}


@dataclass(frozen=True)
class Frontier:
    """The compute-optimal frontier: the optimum at each budget, with intervals over the draws.

    ``table`` has one row per budget: ``budget``, each bought variable with
    ``<variable>_lower``/``<variable>_upper``, ``predicted`` (and its interval), ``cost``,
    ``extrapolated`` (the variables outside the fitted runs, joined by commas) and, when the
    law is ``E + A N^-a + B D^-b`` under ``C = k N D``, ``<variable>_closed_form`` (the
    closed-form optimum of the fitted law, which the numerical one should match).
    """

    table: pd.DataFrame
    cost_law: str
    variables: tuple[str, ...]
    at: dict[str, float]
    limits: dict[str, tuple[float, float]]
    interval: float | None
    closed_form: bool
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Frontier under cost {self.cost_law} ({len(self.table)} budgets"
            f"{'' if self.interval is None else f', {self.interval:.0%} intervals'}"
            f"{', closed form given' if self.closed_form else ''}):\n{self.table.to_string()}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready Python; rows of the table as a list of dicts."""
        rows = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in self.table.to_dict("records")
        ]
        return encode(
            {
                "cost_law": self.cost_law,
                "variables": list(self.variables),
                "at": self.at,
                "limits": {k: list(v) for k, v in self.limits.items()},
                "interval": self.interval,
                "closed_form": self.closed_form,
                "rows": rows,
                "notes": list(self.notes),
            }
        )


def compute_optimal(
    fit: Fit,
    budgets,
    cost: Mapping[str, float] | str | Callable = "6*N*D",
    *,
    at: Mapping[str, float] | None = None,
    limits: Mapping[str, tuple[float | None, float | None]] | None = None,
    interval: float | None = 0.9,
    draws: int = DRAWS,
    seed: int = 0,
) -> Frontier:
    """The compute-optimal frontier ``N*(C)``, ``D*(C)``: :func:`allocate` at each budget, with bands.

    Parameters
    ----------
    fit : Fit
        A fitted law, e.g. ``fit_law(scalefit.chinchilla, runs, target="loss")``.
    budgets : float or array
        Budgets (finite, > 0) in the units of the cost, e.g. ``np.logspace(20, 25, 11)``
        FLOPs.
    cost : dict, str or callable
        The cost law, as for :func:`allocate`; default ``"6*N*D"`` (training FLOPs of a
        transformer with ``N`` parameters on ``D`` tokens).
    at, limits, interval, draws, seed
        As for :func:`allocate`.

    Returns
    -------
    Frontier
        ``table`` with one row per budget (the optimum of each bought variable and its
        interval over the draws, the predicted law and its interval, the variables
        extrapolated beyond the fitted runs) and, for a law ``E + A N^-a + B D^-b`` under
        ``C = k N D``, the closed form ``N* = G (C/k)^(b/(a+b))``, ``G = (a A/(b B))^(1/(a+b))``
        in the columns ``<variable>_closed_form``.
    """
    s = _setup(fit, cost, None, at, limits, interval, draws, seed)
    values = np.atleast_1d(points_arg(budgets, "budgets", "the budget (in the units of cost=)"))
    if values.size == 0:
        raise ScalefitError("budgets is empty; give at least one budget (in the units of cost=), e.g. [1e21, 1e22]")
    if values.ndim != 1:
        raise ScalefitError(f"budgets must be a number or a flat list of numbers, got an array of shape {values.shape}")
    n_draws = len(s.draw_params())
    warm_point, warm_draws = None, [None] * n_draws
    rows, notes = [], []
    price = _product_price(s.cost, s.bought)
    closed = None
    if price is not None and not s.at and not s.limits:
        closed = closed_form_optimum(s.fit.law, s.fit.params, values, price, tuple(s.bought))
    for j, b in enumerate(values):
        problem = s.problem(s.fit.params, "budget", float(b))
        _check_budget(s, float(b))
        u = _best_split(s, problem, warm_point)
        draw_u = _solve_draws(s, "budget", float(b), [w if w is not None else u for w in warm_draws])
        a = _summarise(s, "budget", float(b), problem, u, draw_u)
        warm_point, warm_draws = u, draw_u
        row = {"budget": float(b)}
        for v in s.bought:
            row[v] = a.amounts[v]
            lo, hi = a.amounts_interval.get(v, (math.nan, math.nan))
            row[f"{v}_lower"], row[f"{v}_upper"] = lo, hi
            if closed is not None:
                row[f"{v}_closed_form"] = float(closed[v][j])
        row["predicted"] = a.predicted
        row["predicted_lower"], row["predicted_upper"] = a.predicted_interval or (math.nan, math.nan)
        row["cost"] = a.cost
        row["extrapolated"] = ",".join(a.extrapolated)
        rows.append(row)
        notes.extend(n for n in a.notes if n not in notes and not n.startswith("extrapolated"))
    return Frontier(
        table=pd.DataFrame(rows),
        cost_law=s.cost.text,
        variables=tuple(s.bought),
        at=dict(s.at),
        limits=dict(s.limits),
        interval=s.interval if n_draws else None,
        closed_form=closed is not None,
        notes=tuple(notes),
    )
