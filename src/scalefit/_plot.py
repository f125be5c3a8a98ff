"""Figures: a fit against its data (the paper's Figs. 2-4), a distillation boundary (Figs. 1
and 5) and the difference curve (Fig. 6). Log axes; intervals where the fits have draws.
Each function returns a matplotlib ``Figure``; save it with ``fig.savefig("fig.png")``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._boundary import Crossover
from ._data import read_table
from ._errors import ScalefitError
from ._result import Fit


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _runs_frame(fit: Fit, runs) -> pd.DataFrame:
    if runs is None:
        if fit.data is None:
            raise ScalefitError("plot_fit() needs runs= (the table the law was fitted to): this fit holds no runs")
        frame = pd.DataFrame(fit.data["x"])
        frame[fit.target] = fit.data["y"]
        return frame
    frame, _ = read_table(runs)
    renamed = {col: var for var, col in fit.mapping.items() if col in frame.columns and col != var}
    frame = frame.rename(columns=renamed)
    missing = [c for c in (*fit.law.variables, fit.target) if c not in frame.columns]
    if missing:
        raise ScalefitError(f"runs= has no column(s) {missing} needed to plot this fit")
    return frame


def plot_fit(fit: Fit, runs=None, *, x: str | None = None, by: str | None = None, at: Mapping | None = None,
             interval: float = 0.9):  # fmt: skip
    """Target against ``x``, one curve per value of ``by``, the other variables at ``at``.

    Points are the runs whose other variables equal ``at`` (by default each variable's
    largest value in the runs); curves are the fitted law, with the credible/confidence
    band when the fit has draws.
    """
    plt = _pyplot()
    frame = _runs_frame(fit, runs)
    variables = list(fit.law.variables)
    x = x or variables[0]
    by = by if by is not None else next((v for v in variables if v != x), None)
    for name, value in (("x", x), ("by", by)):
        if value is not None and value not in variables:
            raise ScalefitError(f"{name}={value!r} is not a variable of law {fit.law.name!r}: {variables}")
    others = [v for v in variables if v not in (x, by)]
    at = {v: float(frame[v].max()) for v in others} | dict(at or {})
    keep = np.ones(len(frame), bool)
    for v in others:
        keep &= np.isclose(frame[v].to_numpy(float), at[v], rtol=1e-9)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    levels = sorted(frame[by].unique()) if by else [None]
    grid = np.geomspace(frame[x].min() / 1.5, frame[x].max() * 1.5, 200)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(levels)))
    for level, color in zip(levels, colors, strict=True):
        sel = keep & (frame[by].to_numpy() == level if by else True)
        label = f"{by} = {level:.3g}" if by else None
        ax.scatter(frame.loc[sel, x], frame.loc[sel, fit.target], color=color, s=18, label=label)
        point = {x: grid, **({by: level} if by else {}), **at}
        pred = fit.predict(pd.DataFrame(point), interval=interval if fit.draws is not None else None)
        ax.plot(grid, pred["mean"], color=color, lw=1.5)
        if fit.draws is not None:
            ax.fill_between(grid, pred.ci_lower, pred.ci_upper, color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(fit.target)
    fixed = ", ".join(f"{k}={v:.3g}" for k, v in at.items())
    ax.set_title(f"{fit.law.name}" + (f" at {fixed}" if fixed else ""), fontsize=10)
    if by:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _mark_intervals(ax, boundary: Crossover, interval: float, y):
    if boundary.draws is None:
        return
    table = boundary.intervals(interval)
    for _, row in table.iterrows():
        if np.isfinite(row["lower"]):
            ax.errorbar([row["median"]], [y], xerr=[[row["median"] - row["lower"]], [row["upper"] - row["median"]]],
                        fmt="o", color="k", ms=3, capsize=3, label=None)  # fmt: skip


def plot_boundary(boundary: Crossover, *, interval: float = 0.9, points: int = 300):
    """Both fits' targets against the axis, regimes shaded, ``D*`` and every crossing marked
    (with their intervals when the fits have draws)."""
    plt = _pyplot()
    a, b = boundary._fits
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for fit, name, color in ((a, boundary.names[0], "C0"), (b, boundary.names[1], "C3")):
        frame = pd.DataFrame(
            {boundary.axis: grid, **{v: boundary.at[v] for v in fit.law.variables if v != boundary.axis}}
        )
        pred = fit.predict(frame, interval=interval if fit.draws is not None else None)
        ax.plot(grid, pred["mean"], color=color, label=name)
        if fit.draws is not None:
            ax.fill_between(grid, pred.ci_lower, pred.ci_upper, color=color, alpha=0.2, lw=0)
    for r in boundary.regimes:
        ax.axvspan(r.low, r.high, color="C3" if r.winner == boundary.names[1] else "C0", alpha=0.07, lw=0)
    for s in boundary.stationary:
        ax.axvline(s, color="k", ls=":", lw=1, label="stationary point")
    for c in boundary.crossings:
        ax.axvline(c, color="k", ls="--", lw=1)
    ymin = ax.get_ylim()[0]
    _mark_intervals(ax, boundary, interval, ymin * 1.02)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(boundary.axis)
    ax.set_ylabel(a.target)
    ax.set_title("shaded: lower target  |  dashed: crossings  |  dotted: stationary point", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_difference(boundary: Crossover, *, interval: float = 0.9, points: int = 300):
    """``F = a - b`` along the axis (the paper's Fig. 6): above 0, ``b`` wins."""
    plt = _pyplot()
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(grid, boundary.difference(grid), color="k", label=f"{boundary.names[0]} - {boundary.names[1]}")
    if boundary.draws is not None:
        from ._boundary import _col, _difference, _paired_draws

        a, b = boundary._fits
        pa, pb = _paired_draws(a, b)
        diffs = _difference(a.law, _col(pa), b.law, _col(pb), boundary.axis, boundary.at, grid[None, :])
        tail = (1 - interval) / 2
        ax.fill_between(grid, np.quantile(diffs, tail, axis=0), np.quantile(diffs, 1 - tail, axis=0),
                        color="0.5", alpha=0.3, lw=0, label=f"{interval:.0%} band")  # fmt: skip
    ax.axhline(0, color="C3", lw=1)
    for c in boundary.crossings:
        ax.axvline(c, color="k", ls="--", lw=1)
    for s in boundary.stationary:
        ax.axvline(s, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(boundary.axis)
    ax.set_ylabel(f"difference of {boundary._fits[0].target}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
