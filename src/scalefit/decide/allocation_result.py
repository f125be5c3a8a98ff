"""The result of an allocation: :class:`Allocation`, the optimum's amounts, cost, predicted
target and marginal values with their intervals over the fit's draws."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalefit.files import encode


def central_interval(values: np.ndarray, interval: float) -> tuple[float, float]:
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
        was made on (``fit.runs.ranges``); empty when the fit holds no runs (see ``notes``).
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
