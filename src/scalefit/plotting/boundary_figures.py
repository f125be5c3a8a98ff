"""Figures of two fits against each other along one variable: a distillation boundary or
crossover (the paper's Figs. 1 and 5, :func:`plot_boundary`) and the difference curve
(Fig. 6, :func:`plot_difference`), with labelled interval bars over pairs of draws.
Log axes; intervals where the fits have draws. Each returns a matplotlib ``Figure``.
Every argument is checked before anything is drawn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from scalefit.decide.boundary import TIE, Crossover
from scalefit.decide.paired import DRAWS_USED, difference_along, draw_columns, paired_draws
from scalefit.plotting.axes import AT_RTOL, LEGEND_OUTSIDE, Clip, finish, plain, predict, pyplot, rows_at
from scalefit.results.fit import Fit
from scalefit.validate import array_budget, integer, probability, shown_value


def _check_boundary(boundary: object, interval: object, points: object) -> tuple[float, int]:
    if not isinstance(boundary, Crossover):
        raise TypeError(
            "boundary must be a Crossover or DistillationBoundary (from crossover() or distillation_boundary()), "
            f"got {shown_value(boundary)} ({type(boundary).__name__})"
        )
    boundary.pair()
    interval = probability(interval, "interval")
    points = integer(points, "points", minimum=2, fix="the number of points along the axis, e.g. points=300")
    n = 1 if boundary.draws is None else DRAWS_USED + 1
    array_budget(2.0 * points * n, "points", f"{points} points x {n} draws", "give fewer points=")
    return interval, points


def _mark_intervals(ax, boundary: Crossover, interval: float):
    """Each crossing's (and the stationary point's) interval over pairs of draws, as a
    labelled bar on the x axis: in a strip under the axes that shares their x axis and has no
    y scale (the bars are positions along the axis, not values of the target), one row each,
    with its median and ends (and the probability that it exists, when below 1) written above
    it. Returns the strip (``None`` when there is nothing to mark); its legend entries go on
    ``ax``."""
    if boundary.draws is None:
        return None
    table = boundary.intervals(interval)
    rows = [(q, r) for q, r in table.iterrows() if np.isfinite(r["lower"])]
    rows.sort(key=lambda qr: qr[0] == "stationary")  # crossings first (lowest), the stationary point above
    if not rows:
        return None
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    strip = make_axes_locatable(ax).append_axes("bottom", size=f"{min(10 + 9 * len(rows), 40)}%", pad=0.0,
                                                sharex=ax)  # fmt: skip
    strip.set_gid("intervals")
    strip.set_ylim(0.0, len(rows))
    strip.set_yticks([])
    strip.set_facecolor("0.97")
    ax.tick_params(axis="x", which="both", labelbottom=False)
    for c in boundary.crossings:
        strip.axvline(c, color="k", ls="--", lw=0.8, alpha=0.5)
    for c in boundary.stationary:
        strip.axvline(c, color="k", ls=":", lw=0.8, alpha=0.5)
    n = len(boundary.draws)
    labelled = set()
    for i, (quantity, row) in enumerate(rows):
        stationary = quantity == "stationary"
        kind = "stationary point" if stationary else "crossing"
        y, color, fmt = i + 0.3, "0.45" if stationary else "k", "s" if stationary else "o"
        if kind not in labelled:
            labelled.add(kind)
            label = f"{interval:.0%} interval of {kind} ({n} pairs of draws)"
            ax.add_container(_bar_legend_entry(fmt, color, label))
        strip.errorbar([row["median"]], [y], xerr=[[row["median"] - row["lower"]], [row["upper"] - row["median"]]],
                       fmt=fmt, color=color, ms=3.5, capsize=3, lw=1.5, zorder=4)  # fmt: skip
        exists = "" if row["p_exists"] > 0.995 else f", exists in {row['p_exists']:.0%} of draws"
        strip.annotate(f"{plain(row['median'], 3)} [{plain(row['lower'], 3)}, {plain(row['upper'], 3)}]{exists}",
                       xy=(row["median"], y), xytext=(0, 3.5), textcoords="offset points",
                       ha="center", va="bottom", fontsize=6.5, color=color)  # fmt: skip
    return strip


def _bar_legend_entry(fmt: str, color, label: str):
    """A legend entry for an interval bar, held by ``ax`` but drawing nothing on it."""
    from matplotlib.collections import LineCollection
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    marker = Line2D([], [], marker=fmt, ls="", color=color, ms=3.5)
    bar = LineCollection([], colors=[color], linewidths=1.5)
    return ErrorbarContainer((marker, (), (bar,)), has_xerr=True, label=label)


def _label_strip(ax, strip) -> None:
    """The x label under the interval strip (when there is one), not between it and the axes."""
    if strip is not None:
        strip.set_xlabel(ax.get_xlabel())
        ax.xaxis.label.set_visible(False)


def _fit_runs(fit: Fit) -> pd.DataFrame | None:
    if fit.runs.data is None:
        return None
    frame = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in fit.runs.data["x"].items()})
    frame[fit.target] = np.asarray(fit.runs.data["y"], dtype=float)
    return frame


def _boundary_runs(ax, boundary: Crossover, fit: Fit, name: str, color, clip: Clip) -> tuple[str, int, int]:
    """The fit's own runs at the crossover's slice (other variables at ``at`` within
    :data:`AT_RTOL`, the axis inside the domain) as points; returns the note on how many, the
    number drawn and the number of runs."""
    frame = _fit_runs(fit)
    if frame is None:
        return f"{name}: the fit holds no runs, none drawn", 0, 0
    at = {v: boundary.at[v] for v in fit.law.variables if v != boundary.axis}
    lo, hi = boundary.domain
    axis = frame[boundary.axis].to_numpy(float)
    keep = rows_at(frame, at) & (axis >= lo) & (axis <= hi)
    ax.scatter(frame.loc[keep, boundary.axis], clip(frame.loc[keep, fit.target]), color=color, s=16, zorder=3,
               edgecolors="white", linewidths=0.4, label=f"{name}: runs", gid="runs")  # fmt: skip
    drawn = int(keep.sum())
    note = f"{name}: {drawn} of {len(frame)} runs drawn" + (
        f" ({len(frame) - drawn} not at {', '.join(f'{k}={plain(v)}' for k, v in at.items())} within "
        f"{AT_RTOL:.1%}, or outside the domain)"
        if drawn < len(frame)
        else ""
    )
    return note, drawn, len(frame)


def plot_boundary(boundary: Crossover, *, interval: float = 0.9, points: int = 300, runs: bool = True):
    """Both fits' targets against the axis, regimes shaded, ``D*`` and every crossing marked
    (with labelled interval bars over pairs of draws when the fits have them).

    With ``runs=True`` the fits' own runs at the slice (their other variables equal ``at`` to
    within :data:`AT_RTOL`, the axis inside the domain) are drawn as points; a note under the
    axes says how many of each fit's runs were drawn. Error-rate curves, bands and points are
    clipped to [0, 1] (noted when that cuts anything). ``fig.scalefit_notes`` holds the notes
    and ``fig.scalefit_points`` ``{name: (drawn, total)}``.

    Parameters
    ----------
    boundary : Crossover or DistillationBoundary
        From :func:`~scalefit.crossover` or :func:`~scalefit.distillation_boundary`.
    interval : float
        Central probability of the bands and interval bars (default 0.9).
    points : int
        Points along the axis (default 300).
    runs : bool
        Draw the fits' own runs at the slice (default ``True``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    interval, points = _check_boundary(boundary, interval, points)
    from scalefit.validate import boolean

    runs = boolean(runs, "runs")
    plt = pyplot()
    a, b = boundary.fits
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    clip = Clip(a.law.metric if a.law.metric == b.law.metric else None)
    notes, counts = [], {}
    for fit, name, color in ((a, boundary.names[0], "C0"), (b, boundary.names[1], "C3")):
        frame = pd.DataFrame(
            {boundary.axis: grid, **{v: boundary.at[v] for v in fit.law.variables if v != boundary.axis}}
        )
        pred = predict(fit, frame, interval)
        ax.plot(grid, clip(pred["mean"]), color=color, label=f"{name}: fitted law")
        if fit.draws is not None:
            ax.fill_between(grid, clip(pred.ci_lower), clip(pred.ci_upper), color=color, alpha=0.2, lw=0,
                            label=f"{name}: {interval:.0%} interval")  # fmt: skip
        if runs:
            note, drawn, total = _boundary_runs(ax, boundary, fit, name, color, clip)
            notes.append(note)
            counts[name] = (drawn, total)
    for r in boundary.regimes:
        if r.winner != TIE:
            ax.axvspan(r.low, r.high, color="C3" if r.winner == boundary.names[1] else "C0", alpha=0.07, lw=0)
    for i, s in enumerate(boundary.stationary):
        ax.axvline(s, color="k", ls=":", lw=1, label="stationary point (best fit)" if i == 0 else None)
    for i, c in enumerate(boundary.crossings):
        ax.axvline(c, color="k", ls="--", lw=1, label="crossing (best fit)" if i == 0 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    strip = _mark_intervals(ax, boundary, interval)
    ax.set_xlabel(boundary.axis)
    _label_strip(ax, strip)
    ax.set_ylabel(a.target)
    fixed = ", ".join(f"{k}={plain(v)}" for k, v in boundary.at.items())
    title = (
        "the laws coincide: no crossing, neither wins"
        if boundary.coincide
        else f"{boundary.names[0]} vs {boundary.names[1]} along {boundary.axis}" + (f" at {fixed}" if fixed else "")
    )
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7.5, **LEGEND_OUTSIDE)
    if not boundary.coincide:
        notes.insert(0, "shaded: the fit with the lower target; dashed: crossings; dotted: stationary point")
    finish(fig, ax, notes + clip.notes(), strip)
    fig.scalefit_points = counts
    return fig


def plot_difference(boundary: Crossover, *, interval: float = 0.9, points: int = 300):
    """``F = a - b`` along the axis (the paper's Fig. 6): above 0, ``b`` wins. With draws, the
    band of ``F`` over pairs of draws and labelled interval bars of the crossings.

    Parameters
    ----------
    boundary : Crossover or DistillationBoundary
        From :func:`~scalefit.crossover` or :func:`~scalefit.distillation_boundary`.
    interval : float
        Central probability of the band and interval bars (default 0.9).
    points : int
        Points along the axis (default 300).

    Returns
    -------
    matplotlib.figure.Figure
    """
    interval, points = _check_boundary(boundary, interval, points)
    plt = pyplot()
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    best = boundary.difference(grid)
    ax.plot(grid, best, color="k", label=f"{boundary.names[0]} - {boundary.names[1]}")
    notes = []
    if boundary.draws is not None:
        a, b = boundary.fits
        pa, pb = paired_draws(a, b)
        diffs = difference_along(
            a.law, draw_columns(pa), b.law, draw_columns(pb), boundary.axis, boundary.at, grid[None, :]
        )
        diffs = np.where(np.isfinite(diffs), diffs, np.nan)  # pairs that overflow somewhere: left out there
        tail = (1 - interval) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives no band there
            low, high = np.nanquantile(diffs, tail, axis=0), np.nanquantile(diffs, 1 - tail, axis=0)
        ax.fill_between(grid, low, high, color="0.5", alpha=0.3, lw=0, label=f"{interval:.0%} band over draws")
        # the best-fit curve (and 0) set the view; a band that runs off far beyond it would flatten the curve
        top, bottom = max(float(best.max()), 0.0), min(float(best.min()), 0.0)
        pad = 0.6 * (top - bottom) or 1.0
        view = (bottom - pad, top + pad)
        if np.nanmin(low) < view[0] or np.nanmax(high) > view[1]:
            ax.set_ylim(*view)
            notes.append("the band runs beyond the axes where the draws disagree most")
    ax.axhline(0, color="C3", lw=1, label="0: the fits give the same target")
    for i, c in enumerate(boundary.crossings):
        ax.axvline(c, color="k", ls="--", lw=1, label="crossing (best fit)" if i == 0 else None)
    for i, s in enumerate(boundary.stationary):
        ax.axvline(s, color="k", ls=":", lw=1, label="stationary point (best fit)" if i == 0 else None)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    a, b = boundary.fits
    if a.law.metric == b.law.metric == "error_rate":
        bottom, top = ax.get_ylim()
        if bottom < -1.05 or top > 1.05:  # two error rates differ by at most 1
            ax.set_ylim(max(bottom, -1.05), min(top, 1.05))
            notes.append("error rates: the view is cut at differences of +-1 (beyond, the laws leave [0, 1])")
    strip = _mark_intervals(ax, boundary, interval)
    ax.set_xlabel(boundary.axis)
    _label_strip(ax, strip)
    ax.set_ylabel(f"difference of {a.target}")
    if boundary.coincide:
        ax.set_title("the laws coincide: no crossing, neither wins", fontsize=9)
    else:
        ax.set_title(f"above 0: {boundary.names[1]} gives the lower target", fontsize=9)
    ax.legend(fontsize=7.5, **LEGEND_OUTSIDE)
    finish(fig, ax, notes, strip)
    return fig
