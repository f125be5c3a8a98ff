"""Figures: a fit against its data (the paper's Figs. 2-4), a distillation boundary (Figs. 1
and 5) and the difference curve (Fig. 6). Log axes; intervals where the fits have draws.
Each function returns a matplotlib ``Figure``; save it with ``fig.savefig("fig.png")``.

Every argument is checked before anything is drawn; :func:`check_image_path` checks where a
figure is to be saved (a suffix matplotlib can write, an existing folder) before the work
that makes the figure.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._boundary import DRAWS_USED, TIE, Crossover, _fit_arg, near
from ._data import Runs, load_runs, read_table
from ._errors import ScalefitError
from ._result import Fit
from ._validate import _shown, array_budget, each, integer, number, probability, suggest, text


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# -- where a figure goes ------------------------------------------------------------------
def image_suffixes() -> list[str]:
    """File suffixes (without the dot) matplotlib can write here, e.g. ``['eps', 'jpg', ...]``.

    ``pgf`` only where its TeX system is installed; ``webp``/``avif`` only where Pillow
    supports them.
    """
    import shutil

    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    suffixes = sorted(FigureCanvasBase.get_supported_filetypes())
    drop = set()
    if shutil.which(str(matplotlib.rcParams.get("pgf.texsystem", "xelatex"))) is None:
        drop.add("pgf")
    try:
        from PIL import features

        drop |= {s for s in ("webp", "avif") if not features.check(s)}
    except Exception:  # an old Pillow without these features: keep matplotlib's word for it
        pass
    return [s for s in suffixes if s not in drop]


def check_image_path(path: str | os.PathLike, argument: str = "out") -> Path:
    """Check a figure's output path before any work: its suffix must be a format matplotlib
    can write (see :func:`image_suffixes`), and its folder must exist.

    Returns the path as a ``Path``. Raises ``TypeError`` for something that is not a path,
    :class:`~scalefit.ScalefitError` (naming ``argument``) otherwise::

        --out must end in a suffix matplotlib can write (.eps, .jpeg, .jpg, .pdf, ...), got 'x.xyz'
    """
    if not isinstance(path, str | os.PathLike) or (isinstance(path, str) and not path.strip()):
        raise TypeError(
            f"{argument} must be a path to an image file such as 'figure.png', got {_shown(path)} "
            f"({type(path).__name__})"
        )
    p = Path(path)
    suffixes = image_suffixes()
    allowed = ", ".join(f".{s}" for s in suffixes)
    suffix = p.suffix.lower().lstrip(".")
    if suffix not in suffixes:
        close = suggest(suffix, suffixes) if suffix else ""
        got = f"{str(p)!r}" + (f" (suffix .{suffix}{close})" if suffix else " (no suffix)")
        raise ScalefitError(
            f"{argument} must end in a suffix matplotlib can write ({allowed}), got {got}; "
            f"e.g. {p.with_suffix('.png') if suffix else Path(str(p) + '.png')}"
        )
    if p.is_dir():
        raise ScalefitError(f"{argument} {str(p)!r} is a folder; give a file name such as {str(p / 'figure.png')!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ScalefitError(
            f"{argument} {str(p)!r}: the folder {str(parent)!r} does not exist; create it first or choose another path"
        )
    return p


# -- plot_fit -----------------------------------------------------------------------------
def _variable(value: object, name: str, fit: Fit) -> str:
    variables = list(fit.law.variables)
    value = text(value, name)
    if value not in variables:
        raise ScalefitError(
            f"{name}={value!r} is not a variable of law {fit.law.name!r}{near(value, variables)}: {variables}"
        )
    return value


def _check_plot_at(at: object, fit: Fit, x: str, by: str | None) -> dict[str, float]:
    others = [v for v in fit.law.variables if v not in (x, by)]
    example = "at={" + ", ".join(f"{v!r}: ..." for v in others) + "}"
    if at is None:
        return {}
    if not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict {{variable: value}} of the variables not plotted, e.g. {example}, "
            f"got {_shown(at)} ({type(at).__name__})"
        )
    for key in at:
        if not isinstance(key, str):
            raise TypeError(f"at keys must be variable names (strings), got {_shown(key)}")
        if key in (x, by):
            role = "the x axis (x=)" if key == x else "one curve per value (by=)"
            raise ScalefitError(f"at= gives {key!r}, which is {role}; remove it from at, or plot another variable")
        if key not in others:
            raise ScalefitError(
                f"at= names {key!r}, which is not a variable of law {fit.law.name!r}{near(key, others)}; "
                f"the variables held fixed are {others}"
            )
    return each(at, "at", lambda v, n: number(v, n, low=0.0, low_open=True))


def _runs_frame(fit: Fit, runs) -> pd.DataFrame:
    """The runs with the law's variable names and the target, checked numeric, finite and > 0."""
    if runs is None:
        if fit.data is None:
            raise ScalefitError("plot_fit() needs runs= (the table the law was fitted to): this fit holds no runs")
        frame = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in fit.data["x"].items()})
        frame[fit.target] = np.asarray(fit.data["y"], dtype=float)
        return frame
    if not isinstance(runs, pd.DataFrame | Runs | str | os.PathLike):
        raise TypeError(
            f"runs must be a pandas DataFrame, a Runs or a path to a .csv/.parquet file, "
            f"got {_shown(runs)} ({type(runs).__name__})"
        )
    frame, _ = read_table(runs)
    mapping = {v: c for v, c in fit.mapping.items() if c in frame.columns}
    mapping |= {v: v for v in fit.law.variables if v not in mapping}
    missing = [c for c in (*mapping.values(), fit.target) if c not in frame.columns]
    if missing:
        raise ScalefitError(f"runs= has no column(s) {missing} needed to plot this fit; columns: {list(frame.columns)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few levels of a variable matter to a fit, not to a plot
            checked = load_runs(frame, fit.law, target=fit.target, mapping=mapping)
    except ScalefitError as exc:
        raise ScalefitError(f"runs=: {exc}") from None
    out = pd.DataFrame(checked.x, index=frame.index)
    out[fit.target] = checked.y
    return out


def plot_fit(fit: Fit, runs=None, *, x: str | None = None, by: str | None = None, at: Mapping | None = None,
             interval: float = 0.9):  # fmt: skip
    """Target against ``x``, one curve per value of ``by``, the other variables at ``at``.

    Points are the runs whose other variables equal ``at`` (by default each variable's
    largest value in the runs); curves are the fitted law, with the credible/confidence
    band when the fit has draws.
    """
    _fit_arg(fit, "fit")
    variables = list(fit.law.variables)
    x = variables[0] if x is None else _variable(x, "x", fit)
    if by is not None:
        by = _variable(by, "by", fit)
        if by == x:
            choices = [v for v in variables if v != x]
            raise ScalefitError(f"by={by!r} is also the x axis; choose another variable for by= ({choices})")
    else:
        by = next((v for v in variables if v != x), None)
    given = _check_plot_at(at, fit, x, by)
    interval = probability(interval, "interval")
    frame = _runs_frame(fit, runs)
    others = [v for v in variables if v not in (x, by)]
    at = {v: float(frame[v].max()) for v in others} | given
    plt = _pyplot()
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


# -- boundaries ---------------------------------------------------------------------------
def _check_boundary(boundary: object, interval: object, points: object) -> tuple[float, int]:
    if not isinstance(boundary, Crossover):
        raise TypeError(
            "boundary must be a Crossover or DistillationBoundary (from crossover() or distillation_boundary()), "
            f"got {_shown(boundary)} ({type(boundary).__name__})"
        )
    boundary._pair()
    interval = probability(interval, "interval")
    points = integer(points, "points", minimum=2, fix="the number of points along the axis, e.g. points=300")
    n = 1 if boundary.draws is None else DRAWS_USED + 1
    array_budget(2.0 * points * n, "points", f"{points} points x {n} draws", "give fewer points=")
    return interval, points


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
    interval, points = _check_boundary(boundary, interval, points)
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
        if r.winner != TIE:
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
    title = (
        "the laws coincide: no crossing, neither wins"
        if boundary.coincide
        else "shaded: lower target  |  dashed: crossings  |  dotted: stationary point"
    )
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_difference(boundary: Crossover, *, interval: float = 0.9, points: int = 300):
    """``F = a - b`` along the axis (the paper's Fig. 6): above 0, ``b`` wins."""
    interval, points = _check_boundary(boundary, interval, points)
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
        diffs = np.where(np.isfinite(diffs), diffs, np.nan)  # pairs that overflow somewhere: left out there
        tail = (1 - interval) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives no band there
            low, high = np.nanquantile(diffs, tail, axis=0), np.nanquantile(diffs, 1 - tail, axis=0)
        ax.fill_between(grid, low, high, color="0.5", alpha=0.3, lw=0, label=f"{interval:.0%} band")
    ax.axhline(0, color="C3", lw=1)
    for c in boundary.crossings:
        ax.axvline(c, color="k", ls="--", lw=1)
    for s in boundary.stationary:
        ax.axvline(s, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(boundary.axis)
    ax.set_ylabel(f"difference of {boundary._fits[0].target}")
    if boundary.coincide:
        ax.set_title("the laws coincide: no crossing, neither wins", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
