"""The result of a run design: :class:`RunSuggestions`, the candidate runs ranked by how much
each is expected to narrow the goal's interval per unit cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from scalefit.decide.design_criteria import METHODS
from scalefit.files import jsonable
from scalefit.validate import integer


# -- the result -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSuggestions:
    """Candidate runs ranked by how much each reduces the goal's interval per unit cost.

    Attributes
    ----------
    table : DataFrame
        Every candidate, best first: the ``n`` picks in the order chosen (``pick`` 1..n),
        then the rest by ``reduction_per_cost``. Columns: ``fit`` (which fit the run is for,
        for a crossing of two fits), the law variables, ``cost``, ``expected_width`` (the
        goal's interval width expected after adding this run — for a pick, after it and the
        picks before it; for a run not picked, after the first ``n - 1`` picks and it, i.e.
        as an alternative to the last pick: with ``n=1``, each run on its own),
        ``reduction`` (the fall of the width from the run), ``reduction_per_cost``, ``cumulative_cost`` (picks) and
        ``pick`` (0 for a run not picked).
    goal : dict
        What the design targets: its ``kind``, the estimate and current interval
        (``estimate``, ``lower``, ``upper``, ``width``) and the goal's arguments.
    n : int
        How many runs were picked.
    interval : float
    width_basis : str
        ``"draws"`` (the current interval is from the fits' bootstrap/posterior draws,
        shrunk by the linearised variance ratio) or ``"linearised"`` (from the delta method).
    method : str
        The design criterion, with its citation.
    cost : str
        How the cost of each run was computed.
    notes : tuple of str
    budget : float or None
    rule : str
        ``"per_cost"`` (picked by the fall of the width per unit cost) or, with a budget,
        ``"largest_reduction"`` (by the fall of the width) when that plan ends narrower.
    """

    table: pd.DataFrame
    goal: dict[str, Any]
    n: int
    interval: float
    width_basis: str
    method: str = METHODS["fisher"]
    cost: str = "1 per run"
    notes: tuple[str, ...] = field(default_factory=tuple)
    budget: float | None = None
    rule: str = "per_cost"

    @property
    def runs(self) -> pd.DataFrame:
        """The ``n`` picked runs, in the order chosen."""
        return self.table[self.table["pick"] > 0]

    @property
    def expected_width(self) -> float:
        """The goal's interval width expected after all ``n`` picked runs."""
        return float(self.runs["expected_width"].iloc[-1])

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready form (``json.dumps(..., allow_nan=False)`` works; non-finite numbers are
        ``None``). ``limit`` keeps only the first rows of the ranked table."""
        rows = self.table if limit is None else self.table.head(integer(limit, "limit", 1))
        return {
            "method": self.method,
            "goal": jsonable(self.goal),
            "interval": self.interval,
            "n": self.n,
            "width_basis": self.width_basis,
            "cost": self.cost,
            "budget": self.budget,
            "rule": self.rule,
            "notes": list(self.notes),
            "runs": jsonable(self.runs.to_dict(orient="records")),
            "candidates": jsonable(rows.to_dict(orient="records")),
            "n_candidates": len(self.table),
        }

    def __repr__(self) -> str:
        g = self.goal
        what = (
            f"crossing ({g['which']}) of {g['names'][0]} and {g['names'][1]} along {g['axis']}"
            if g["kind"] == "crossing"
            else "prediction at " + ", ".join(f"{k}={v:.4g}" for k, v in g["at"].items())
        )
        lines = [
            f"RunSuggestions for the {what}",
            f"  now: {g['estimate']:.4g}, {self.interval:.0%} interval [{g['lower']:.4g}, {g['upper']:.4g}] "
            f"(width {g['width']:.4g}, from {self.width_basis})",
            f"  after the {self.n} suggested run(s): expected width {self.expected_width:.4g} "
            f"for cost {self.runs['cost'].sum():.4g}",
        ]
        show = self.table.head(max(self.n, 5))
        lines += ["  " + line for line in show.to_string(index=False, float_format=lambda v: f"{v:.4g}").splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
