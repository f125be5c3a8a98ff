"""The compute-optimal frontier: :func:`compute_optimal` (the optimum allocation at each
budget, with bands over the draws), its :class:`Frontier`, and the closed form of Hoffmann et
al. (2022) for ``E + A N^-a + B D^-b`` under ``C = k N D``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalefit.decide.allocate import DRAWS, best_split, check_budget, setup, solve_draws, summarise
from scalefit.decide.arguments import points_arg
from scalefit.decide.cost import Cost
from scalefit.errors import ScalefitError
from scalefit.files import encode
from scalefit.laws.law import Law
from scalefit.laws.terms import Constant, Power, Sum
from scalefit.results.fit import Fit


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
    s = setup(fit, cost, at, limits, interval, draws, seed)
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
        check_budget(s, float(b))
        u = best_split(s, problem, warm_point)
        draw_u = solve_draws(s, "budget", float(b), [w if w is not None else u for w in warm_draws])
        a = summarise(s, "budget", float(b), problem, u, draw_u)
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
