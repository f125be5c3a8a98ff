"""The candidate runs of a design: the table of possible runs (given, or a log-spaced grid of
``bounds=``), checked, and the cost of each."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from scalefit.decide.arguments import check_domain, near
from scalefit.decide.cost import parse_cost
from scalefit.errors import ScalefitError, format_rows
from scalefit.results.prediction import numeric_column
from scalefit.validate import integer, shown_value, suggest

POINTS = 25  # log-spaced values per variable of bounds=
MAX_CANDIDATES = 50_000


# -- costs ----------------------------------------------------------------------------------
def _cost_function(spec: object, variables: list[str], name: str) -> tuple[Callable, str]:
    """``(f, description)`` with ``f(x) -> cost per run`` for one cost spec, checked (``None``: 1 per run)."""
    if spec is None:
        return (lambda x: np.ones(len(next(iter(x.values()))))), "1 per run"
    cost = parse_cost(spec, variables, owner="the candidate runs", name=name, free=True)
    return cost, cost.text


def candidate_costs(cost: object, table: pd.DataFrame, variables: list[str], names: tuple[str, ...] | None):
    """The cost of every candidate (finite, > 0), and a description."""
    per_fit = (
        names is not None
        and isinstance(cost, Mapping)
        and bool(cost)
        and all(isinstance(k, str) and k in names for k in cost)
        and not any(k in variables for k in cost)
    )
    if per_fit:
        missing = [n for n in names if n not in cost]
        if missing:
            raise ScalefitError(
                f"cost= gives costs per fit but not for {missing}; give one for each of {list(names)}, e.g. "
                f"cost={{{names[0]!r}: 'Dp', {names[1]!r}: '1.5*Dp'}}"
            )
        specs = {n: _cost_function(cost[n], variables, f"cost[{n!r}]") for n in names}
    else:
        one = _cost_function(cost, variables, "cost")
        specs = {n: one for n in (names or ("",))}
    x_all = {v: table[v].to_numpy(dtype=float) for v in variables}
    out = np.empty(len(table))
    for n, (f, _) in specs.items():
        rows = np.flatnonzero(table["fit"].to_numpy() == n) if names is not None else np.arange(len(table))
        if not len(rows):
            continue
        x = {v: a[rows] for v, a in x_all.items()}
        where = f"cost[{n!r}]" if per_fit else "cost"
        try:
            with np.errstate(all="ignore"):
                values = f(x)
            values = np.broadcast_to(np.asarray(values, dtype=float), (len(rows),))
        except ScalefitError:
            raise
        except (TypeError, ValueError) as exc:
            raise ScalefitError(
                f"{where}: could not compute the cost of the candidate runs ({exc}); it must give one number per run"
            ) from None
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            i = rows[np.flatnonzero(bad)[0]]
            shown = ", ".join(f"{v}={table[v].iloc[i]:.4g}" for v in variables)
            raise ScalefitError(
                f"{where} gives {float(values[bad][0])!r} for candidate {table.index[i]} ({shown}); every run must "
                f"cost a finite amount > 0 ({int(bad.sum())} candidates do not)"
            )
        out[rows] = values
    if per_fit:
        return out, "; ".join(f"{n}: {d}" for n, (_, d) in specs.items())
    return out, next(iter(specs.values()))[1]


def candidate_table(candidates, bounds, points, variables, fixed, names, default_bounds) -> pd.DataFrame:
    """The candidate runs: one row per (fit, configuration), every variable a finite number > 0."""
    if candidates is not None and bounds is not None:
        raise ScalefitError("give candidates= (a table of runs) or bounds= (a range per variable), not both")
    if candidates is None and bounds is None:
        if default_bounds is None:
            raise ScalefitError(
                "give candidates= (a DataFrame of possible runs, a column per variable) or bounds= "
                "({variable: (low, high)}, searched on a log-spaced grid)"
            )
        bounds = default_bounds
    if bounds is not None:
        if not isinstance(bounds, Mapping) or not bounds:
            raise TypeError(
                f"bounds must be a non-empty dict {{variable: (low, high)}}, e.g. bounds={{{variables[0]!r}: "
                f"(1e4, 1e8)}}, got {shown_value(bounds)} ({type(bounds).__name__})"
            )
        for k in bounds:
            if not isinstance(k, str) or k not in variables:
                raise ScalefitError(f"bounds names {k!r}, which is not a variable of the law{near(k, variables)}; "
                                    f"variables: {', '.join(variables)}")  # fmt: skip
        pts = POINTS if points is None else integer(points, "points", 2, 10_000)
        size = float(pts) ** len(bounds)
        if size > MAX_CANDIDATES:
            raise ScalefitError(
                f"bounds with points={pts} make {size:.3g} candidates (points ** {len(bounds)} variables); at most "
                f"{MAX_CANDIDATES} — lower points= or give candidates= explicitly"
            )
        axes = {k: np.geomspace(*check_domain(b, f"bounds[{k!r}]"), pts) for k, b in bounds.items()}
        mesh = np.meshgrid(*axes.values(), indexing="ij")
        table = pd.DataFrame({k: m.ravel() for k, m in zip(axes, mesh, strict=True)})
    else:
        if points is not None:
            raise ScalefitError("points= sets the grid of bounds=; with candidates= drop it")
        if not isinstance(candidates, pd.DataFrame):
            if isinstance(candidates, Mapping):
                try:
                    candidates = pd.DataFrame({k: np.atleast_1d(v) for k, v in candidates.items()})
                except ValueError as exc:
                    raise ScalefitError(f"candidates: every column must have the same length ({exc})") from None
            else:
                raise TypeError(
                    f"candidates must be a DataFrame of possible runs (a column per variable), got "
                    f"{shown_value(candidates)} ({type(candidates).__name__})"
                )
        if len(candidates) == 0:
            raise ScalefitError("candidates has no rows; give at least one possible run")
        if len(candidates) > MAX_CANDIDATES:
            raise ScalefitError(f"candidates has {len(candidates)} rows; at most {MAX_CANDIDATES}")
        cols = [str(c) for c in candidates.columns]
        extra = [c for c in cols if c not in variables and c != "fit"]
        if extra:
            raise ScalefitError(
                f"candidates has column {extra[0]!r}{near(extra[0], variables)}, which is not a variable of the "
                f"law{'' if names is None else ' nor fit'}; variables: {', '.join(variables)}"
            )
        if "fit" in cols and names is None:
            raise ScalefitError("candidates has a 'fit' column, which only a crossing of two fits uses; drop it")
        table = pd.DataFrame(index=candidates.index)
        for v in variables:
            if v in cols:
                table[v] = numeric_column(candidates[v], f"candidates column {v!r}", candidates.index)
        if "fit" in cols:
            labels = candidates["fit"].to_numpy(dtype=object)
            bad = np.array([lab not in names for lab in labels])
            if bad.any():
                raise ScalefitError(
                    f"candidates column 'fit' has {labels[bad][0]!r} in {format_rows(candidates.index[bad])}; it "
                    f"must name one of the fits: {list(names)}{suggest(labels[bad][0], names)}"
                )
            table["fit"] = labels
    if candidates is not None:  # a table states its runs in full: nothing is filled in from at=
        missing = [v for v in variables if v not in table.columns]
        if missing:
            held = [f"{v}={fixed[v]:g}" for v in missing if v in fixed]
            hint = f" (to run every candidate at the goal's {', '.join(held)}, add that column)" if held else ""
            raise ScalefitError(
                f"candidates has no column for {missing}; a table of candidate runs must give every variable of the "
                f"law ({', '.join(variables)}) — scalefit does not fill one in from at={hint}"
            )
    missing = [v for v in variables if v not in table.columns and v not in fixed]
    if missing:
        source = "candidates" if candidates is not None else "bounds"
        raise ScalefitError(
            f"{source} gives no values of {missing} and the goal does not fix them; give a column (or a range) "
            f"for {missing}, or hold them with at="
        )
    for v in variables:
        if v not in table.columns:
            table[v] = fixed[v]
        arr = table[v].to_numpy(dtype=float)
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            raise ScalefitError(
                f"candidates: {v!r} must be finite and > 0, got {float(arr[bad][0])!r} in "
                f"{format_rows(table.index[bad])}"
            )
    if names is not None and "fit" not in table.columns:
        table = pd.concat([table.assign(fit=n) for n in names], ignore_index=True)
    cols = (["fit"] if names is not None else []) + variables
    table = table[cols].reset_index(drop=True)
    dup = table.duplicated().to_numpy()
    if dup.any():
        raise ScalefitError(
            f"candidates repeats runs ({format_rows(np.flatnonzero(dup))} repeat earlier rows); give each "
            "candidate once — the design decides how often to run a configuration"
        )
    return table
