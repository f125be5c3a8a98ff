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

from scalefit.decide.arguments import fit_arg, near
from scalefit.decide.crossover_result import TIE, Crossover
from scalefit.decide.paired import DRAWS_USED, difference_along, draw_columns, paired_draws
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.results.fit import Fit
from scalefit.tables.runs import Runs, load_runs, read_table
from scalefit.validate import array_budget, each, integer, number, probability, shown_value, suggest, text


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: Relative tolerance for matching a run's variables to the values a figure is drawn at:
#: ``at={"Df": 12812}`` draws the runs at ``Df = 12811.67`` (1% of ImageNet).
AT_RTOL = 1e-3

#: Legends sit to the right of the axes, never on the data.
LEGEND_OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)

NARROW_DECADES = 2.0  # a log axis spanning fewer decades gets plain decimal labels at 1-2-5 (or finer) steps


def _plain(value: float, digits: int = 6) -> str:
    """A number as plain text for labels: ``0.875``, ``12811.7``, ``2.5e6`` — never ``2.5x10^6``."""
    v = float(value)
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    if 1e-4 <= abs(v) < 1e6:
        return f"{float(f'{v:.{digits}g}'):.0f}" if abs(v) >= 10 ** (digits - 1) else f"{v:.{digits}g}"
    mantissa, exponent = f"{v:.{min(digits, 4) - 1}e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _nice_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis spanning less than :data:`NARROW_DECADES`: powers of ten times
    1, then 1-2-5, 1-2-3-5, 1..9, whichever first gives three ticks; on a still narrower axis,
    evenly spaced round numbers."""
    from matplotlib.ticker import MaxNLocator

    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return []
    first, last = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [float(f"{m * 10.0**e:.12g}") for e in range(first, last + 1) for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            return ticks
    ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    return [float(f"{t:.12g}") for t in ticks if t > 0]


def _narrow(axis) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    return bool(0 < lo and np.isfinite(hi) and np.log10(hi / lo) < NARROW_DECADES)


def _readable_log_axis(axis) -> None:
    """Plain decimal labels (``0.86``, ``0.9``, ``1``) on a log axis spanning less than
    :data:`NARROW_DECADES`; matplotlib's own ``10^k`` labels on a wider one. No minor tick
    is ever labelled (matplotlib would label a narrow axis's minor ticks ``9x10^-1``). Both
    decided when the figure is drawn, so later ``set_ylim`` calls keep readable labels."""
    from matplotlib import ticker

    class Locator(ticker.Locator):
        def __init__(self, minor: bool):
            self.minor = minor
            self.log = ticker.LogLocator(subs="auto" if minor else (1.0,))

        def set_axis(self, axis):
            super().set_axis(axis)
            self.log.set_axis(axis)

        def __call__(self):
            lo, hi = sorted(self.axis.get_view_interval())
            return self.tick_values(lo, hi)

        def tick_values(self, vmin, vmax):
            lo, hi = sorted((vmin, vmax))
            if 0 < lo and np.isfinite(hi) and np.log10(hi / lo) < NARROW_DECADES:
                if self.minor and np.log10(hi / lo) < 1:
                    return []  # between plain round-number ticks, log minor ticks only confuse
                return self.log.tick_values(lo, hi) if self.minor else _nice_ticks(lo, hi)
            return self.log.tick_values(vmin, vmax)

    class Formatter(ticker.Formatter):
        def __init__(self):
            self.sci = ticker.LogFormatterSciNotation()

        def set_axis(self, axis):
            super().set_axis(axis)
            self.sci.set_axis(axis)

        def set_locs(self, locs):
            super().set_locs(locs)
            self.sci.set_locs(locs)

        def __call__(self, x, pos=None):
            return _plain(x) if _narrow(self.axis) else self.sci(x, pos)

    axis.set_major_locator(Locator(minor=False))
    axis.set_minor_locator(Locator(minor=True))
    axis.set_major_formatter(Formatter())
    axis.set_minor_formatter(ticker.NullFormatter())


class _Clip:
    """Clips curves and bands of an error-rate law to [0, 1], remembering whether it cut anything."""

    def __init__(self, metric: str | None):
        self.on = metric == "error_rate"
        self.cut = False

    def __call__(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if not self.on:
            return values
        with np.errstate(invalid="ignore"):
            outside = (values > 1) | (values < 0)
        self.cut |= bool(outside.any())
        return np.clip(values, 0.0, 1.0)

    def notes(self) -> list[str]:
        if not self.cut:
            return []
        return ["error rates: curves and bands clipped to [0, 1] (the fitted law is unbounded and goes beyond 1 here)"]


def _predict(fit: Fit, frame: pd.DataFrame, interval: float) -> pd.DataFrame:
    """``fit.predict`` for a curve. Its warning that an error-rate interval leaves [0, 1] is
    dropped (the figure clips and says so); any other warning is passed on once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = fit.predict(frame, interval=interval if fit.draws is not None else None)
    seen = set()
    for w in caught:
        text = str(w.message)
        if "[0, 1]" in text or text in seen:
            continue
        seen.add(text)
        warnings.warn(text, w.category, stacklevel=3)
    return pred


def _law_handles(plt, band: bool, interval: float) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="0.3", lw=1.5, label="fitted law")]
    if band:
        handles.append(Patch(color="0.3", alpha=0.2, lw=0, label=f"{interval:.0%} interval of the curve"))
    return handles


def _finish(fig, ax, notes: list[str], under=None) -> None:
    """Readable log axes, the notes under the axes (or under ``under``, an axes below them;
    also on ``fig.scalefit_notes``), layout."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            _readable_log_axis(axis)
    fig.scalefit_notes = list(notes)
    if notes:
        # under the x label, from the left edge of the axes
        low = ax if under is None else under
        low.annotate("\n".join(notes), xy=(0, 0), xycoords=("axes fraction", low.xaxis.label), xytext=(0, -4),
                     textcoords="offset points", ha="left", va="top", fontsize=7, color="0.25")  # fmt: skip
    fig.tight_layout()


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
            f"{argument} must be a path to an image file such as 'figure.png', got {shown_value(path)} "
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
            f"got {shown_value(at)} ({type(at).__name__})"
        )
    for key in at:
        if not isinstance(key, str):
            raise TypeError(f"at keys must be variable names (strings), got {shown_value(key)}")
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
        return _own_runs(fit)
    frame, _ = _read_runs(runs)
    return _checked_runs(fit, frame)


def _own_runs(fit: Fit) -> pd.DataFrame:
    if fit.runs.data is None:
        raise ScalefitError("plot_fit() needs runs= (the table the law was fitted to): this fit holds no runs")
    frame = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in fit.runs.data["x"].items()})
    frame[fit.target] = np.asarray(fit.runs.data["y"], dtype=float)
    return frame


def _read_runs(runs) -> tuple[pd.DataFrame, str]:
    if not isinstance(runs, pd.DataFrame | Runs | str | os.PathLike):
        raise TypeError(
            f"runs must be a pandas DataFrame, a Runs or a path to a .csv/.parquet file, "
            f"got {shown_value(runs)} ({type(runs).__name__})"
        )
    return read_table(runs)


def _columns(fit: Fit, frame: pd.DataFrame) -> dict[str, str]:
    mapping = {v: c for v, c in fit.setup.mapping.items() if c in frame.columns}
    return mapping | {v: v for v in fit.law.variables if v not in mapping}


def _checked_runs(fit: Fit, frame: pd.DataFrame) -> pd.DataFrame:
    mapping = _columns(fit, frame)
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


def fit_filter(fit: Fit, table: str | None = None) -> str | None:
    """The row filter a fit was made with, read from its ``source`` (``"runs.csv where
    stage == 'finetune'"``, as ``scalefit fit --where`` records it); ``None`` when it has none.
    ``table``: the name of the runs table, to split the source after it when given."""
    source = str(fit.setup.source or "")
    if table and source.startswith(f"{table} where "):
        rest = source[len(table) + len(" where ") :]
    else:
        _, sep, rest = source.partition(" where ")
        if not sep:
            return None
    return rest.strip() or None


def _split_runs(fit: Fit, runs, where) -> tuple[pd.DataFrame, np.ndarray, str | None, list[str]]:
    """The runs to draw (law variable names and target), which of them the fit used (its
    filter: ``where``, by default the fit's own), the filter and notes on what was left out."""
    from scalefit.tables.query import row_mask

    if where is not None and not isinstance(where, str):
        raise TypeError(
            f"where must be a row filter (a string) such as \"stage == 'finetune'\", got {shown_value(where)}"
        )
    if runs is None:
        frame = _own_runs(fit)
        if not where or not where.strip():
            return frame, np.ones(len(frame), bool), None, []
        raw, own = frame, True
    else:
        raw, name = _read_runs(runs)
        own = False
    notes = []
    given = where is not None
    query = (where.strip() or None) if given else fit_filter(fit, None if own else name)
    if query is None:
        inside = np.ones(len(raw), bool)
    else:
        try:
            inside = row_mask(raw, query, argument="where")
        except ScalefitError as exc:
            if given:
                raise
            raise ScalefitError(
                f"the fit was made from the rows where {query} (its source: {fit.setup.source!r}), and that filter does "
                f"not apply to runs=: {exc} — give where= (--where) for this table, or where='' to draw every run"
            ) from None
        if not inside.any():
            raise ScalefitError(f"where {query!r} keeps none of the {len(raw)} runs; nothing of the fit to draw")
    fitted = raw if own else _checked_runs(fit, raw[inside])
    if own:
        fitted = raw[inside]
    outside = raw[~inside]
    held = fitted.iloc[:0]
    if len(outside):
        if own:
            held = outside
        else:
            mapping = _columns(fit, outside)
            needed = [c for c in (*mapping.values(), fit.target) if c in outside.columns]
            usable = np.ones(len(outside), bool)
            if len(needed) < len(mapping) + 1:
                usable[:] = False
            for c in needed:
                values = pd.to_numeric(outside[c], errors="coerce").to_numpy(dtype=float)
                with np.errstate(invalid="ignore"):
                    usable &= np.isfinite(values) & (values > 0)
            try:
                held = _checked_runs(fit, outside[usable]) if usable.any() else held
            except ScalefitError:
                usable[:] = False
            if not usable.all():
                notes.append(f"{int((~usable).sum())} runs outside the fit's rows lack usable values and are not drawn")
    if runs is not None and query is not None and len(fitted) != fit.runs.n_runs:
        notes.append(f"the fit used {fit.runs.n_runs} runs; {len(fitted)} rows of runs= match {query}")
    frame = pd.concat([fitted, held], ignore_index=True)
    mask = np.r_[np.ones(len(fitted), bool), np.zeros(len(held), bool)]
    return frame, mask, query, notes


def _slice(frame: pd.DataFrame, at: Mapping[str, float], rtol: float = AT_RTOL) -> np.ndarray:
    """Rows of ``frame`` whose variables equal ``at`` to within ``rtol`` (relative; by
    default :data:`AT_RTOL`)."""
    keep = np.ones(len(frame), bool)
    for v, value in at.items():
        keep &= np.isclose(frame[v].to_numpy(float), value, rtol=rtol, atol=0.0)
    return keep


def _no_points_warning(frame: pd.DataFrame, at: Mapping[str, float], what: str = "runs", rtol: float = AT_RTOL) -> None:
    shown = ", ".join(f"{k}={_plain(v)}" for k, v in at.items())
    levels = "; ".join(
        f"{k} in {{{', '.join(_plain(u) for u in sorted(frame[k].unique())[:8])}"
        f"{', ...' if frame[k].nunique() > 8 else ''}}}"
        for k in at
    )
    warnings.warn(
        f"no {what} lie at {shown} (within {rtol:.3g} relative), so the figure shows the law without data "
        f"points; the runs have {levels} — choose values from these to see the data, or widen the bin "
        "(tolerance=, scalefit plot --bin, e.g. 0.25 for runs within 25%)",
        ScalingWarning,
        stacklevel=3,
    )


def plot_fit(fit: Fit, runs=None, *, x: str | None = None, by: str | None = None, at: Mapping | None = None,
             interval: float = 0.9, where: str | None = None, tolerance: float | None = None,
             held_out: bool = True):  # fmt: skip
    """Target against ``x``, one curve per value of ``by``, the other variables at ``at``.

    Points are the runs whose other variables equal ``at`` to within a relative
    ``tolerance`` (default :data:`AT_RTOL`, 0.1%: ``at={"Df": 12812}`` draws the runs at
    ``Df = 12811.67``; a continuous variable is binned by a wider one, ``tolerance=0.25``
    draws the runs within 25% of the value; by default each variable's largest value in the
    runs); curves are the fitted law, with the credible/confidence band when the fit has
    draws.

    The fit's own runs: ``runs`` are filtered by the filter the fit was made with (its
    ``source`` records ``scalefit fit --where``, see :func:`fit_filter`), or by ``where``
    (the row-filter language of ``scalefit fit --where``; ``where=""``: every run is the
    fit's). Runs outside the filter are drawn hollow and named "not fitted (held out)" in the
    legend (``held_out=False``: not drawn). A note under the axes says how many runs were
    drawn and how many left out; error-rate curves and bands are clipped to [0, 1] (and the
    note says so when that cuts anything). The figure's ``scalefit_notes`` attribute holds the
    notes, ``scalefit_points`` the numbers ``{"drawn": ..., "left_out": ...}`` of the fit's
    runs and ``scalefit_held_out`` the number of held-out runs drawn. Warns
    (:class:`~scalefit.ScalingWarning`) when no run lies at ``at``.

    Parameters
    ----------
    fit : Fit
        The fit to draw.
    runs : DataFrame, path or Runs, optional
        The runs to draw as points (default: the runs the fit holds).
    x : str, optional
        The variable on the x axis (default: the law's first variable).
    by : str, optional
        One curve per value of this variable (default: the law's next variable).
    at : dict, optional
        Values of the other variables (default: each one's largest value in the runs).
    interval : float
        Central probability of the band (default 0.9).
    where : str, optional
        Row filter saying which runs the fit used (default: the fit's own filter).
    tolerance : float, optional
        Relative tolerance of the slice at ``at`` (default 0.1%).
    held_out : bool
        Draw the runs outside the fit's filter, hollow (default ``True``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scalefit.validate import boolean

    fit_arg(fit, "fit")
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
    rtol = AT_RTOL if tolerance is None else number(tolerance, "tolerance", low=0.0, high=10.0, low_open=True)
    held_out = boolean(held_out, "held_out")
    frame, fitted, query, split_notes = _split_runs(fit, runs, where)
    if not held_out:
        frame, fitted = frame[fitted], fitted[fitted]
    others = [v for v in variables if v not in (x, by)]
    at = {v: float(frame.loc[fitted, v].max()) for v in others} | given
    plt = _pyplot()
    keep = _slice(frame, at, rtol)
    drawn, left_out = int((keep & fitted).sum()), int((~keep & fitted).sum())
    if not drawn:
        _no_points_warning(frame[fitted], at, rtol=rtol)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    shown = keep | fitted  # a by-level only held-out runs have, outside the slice, gets no curve
    levels = sorted(frame.loc[shown, by].unique()) if by else [None]
    grid = np.geomspace(frame[x].min() / 1.5, frame[x].max() * 1.5, 200)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(levels)))
    clip = _Clip(fit.law.metric)
    n_held = 0
    for level, color in zip(levels, colors, strict=True):
        sel = keep & (frame[by].to_numpy() == level if by else True)
        label = f"{by} = {_plain(level, 3)}" if by else "runs"
        mine = sel & fitted
        ax.scatter(frame.loc[mine, x], frame.loc[mine, fit.target], color=color, s=18, label=label, zorder=3,
                   gid="runs")  # fmt: skip
        other = sel & ~fitted
        if other.any():
            n_held += int(other.sum())
            ax.scatter(frame.loc[other, x], frame.loc[other, fit.target], facecolors="none", edgecolors=[color],
                       marker="D", s=22, linewidths=1.0, zorder=3, gid="held_out")  # fmt: skip
        point = {x: grid, **({by: level} if by else {}), **at}
        pred = _predict(fit, pd.DataFrame(point), interval)
        ax.plot(grid, clip(pred["mean"]), color=color, lw=1.5)
        if fit.draws is not None:
            ax.fill_between(grid, clip(pred.ci_lower), clip(pred.ci_upper), color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(fit.target)
    fixed = ", ".join(f"{k}={_plain(v)}" for k, v in at.items())
    ax.set_title(f"{fit.law.name}" + (f" at {fixed}" if fixed else ""), fontsize=10)
    handles, _ = ax.get_legend_handles_labels()
    if n_held:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="", marker="D", mfc="none", mec="0.3", ms=5,
                              label="not fitted (held out)"))  # fmt: skip
    handles += _law_handles(plt, fit.draws is not None, interval)
    ax.legend(handles=handles, fontsize=8, **LEGEND_OUTSIDE)
    within = f"within {rtol:.1%}" if rtol >= 1e-3 else f"within {rtol:.2g} relative"
    n_fitted = int(fitted.sum())
    notes = [
        f"points: {drawn} of {n_fitted} runs drawn"
        + (f"; {left_out} left out (not at {fixed} {within})" if left_out else "")
    ]
    if query is not None:
        outside = int((~fitted).sum())
        notes[0] += f"; the fit's runs: {query}"
        if held_out and outside:
            notes.append(f"held out: {n_held} of {outside} runs outside {query} drawn hollow (not fitted)")
    notes += split_notes
    notes += clip.notes()
    _finish(fig, ax, notes)
    fig.scalefit_points = {"drawn": drawn, "left_out": left_out}
    fig.scalefit_held_out = n_held
    return fig


# -- boundaries ---------------------------------------------------------------------------
def _check_boundary(boundary: object, interval: object, points: object) -> tuple[float, int]:
    if not isinstance(boundary, Crossover):
        raise TypeError(
            "boundary must be a Crossover or DistillationBoundary (from crossover() or distillation_boundary()), "
            f"got {shown_value(boundary)} ({type(boundary).__name__})"
        )
    boundary._pair()
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
        strip.annotate(f"{_plain(row['median'], 3)} [{_plain(row['lower'], 3)}, {_plain(row['upper'], 3)}]{exists}",
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


def _boundary_runs(ax, boundary: Crossover, fit: Fit, name: str, color, clip: _Clip) -> tuple[str, int, int]:
    """The fit's own runs at the crossover's slice (other variables at ``at`` within
    :data:`AT_RTOL`, the axis inside the domain) as points; returns the note on how many, the
    number drawn and the number of runs."""
    frame = _fit_runs(fit)
    if frame is None:
        return f"{name}: the fit holds no runs, none drawn", 0, 0
    at = {v: boundary.at[v] for v in fit.law.variables if v != boundary.axis}
    lo, hi = boundary.domain
    axis = frame[boundary.axis].to_numpy(float)
    keep = _slice(frame, at) & (axis >= lo) & (axis <= hi)
    ax.scatter(frame.loc[keep, boundary.axis], clip(frame.loc[keep, fit.target]), color=color, s=16, zorder=3,
               edgecolors="white", linewidths=0.4, label=f"{name}: runs", gid="runs")  # fmt: skip
    drawn = int(keep.sum())
    note = f"{name}: {drawn} of {len(frame)} runs drawn" + (
        f" ({len(frame) - drawn} not at {', '.join(f'{k}={_plain(v)}' for k, v in at.items())} within "
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
    plt = _pyplot()
    a, b = boundary._fits
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    clip = _Clip(a.law.metric if a.law.metric == b.law.metric else None)
    notes, counts = [], {}
    for fit, name, color in ((a, boundary.names[0], "C0"), (b, boundary.names[1], "C3")):
        frame = pd.DataFrame(
            {boundary.axis: grid, **{v: boundary.at[v] for v in fit.law.variables if v != boundary.axis}}
        )
        pred = _predict(fit, frame, interval)
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
    fixed = ", ".join(f"{k}={_plain(v)}" for k, v in boundary.at.items())
    title = (
        "the laws coincide: no crossing, neither wins"
        if boundary.coincide
        else f"{boundary.names[0]} vs {boundary.names[1]} along {boundary.axis}" + (f" at {fixed}" if fixed else "")
    )
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7.5, **LEGEND_OUTSIDE)
    if not boundary.coincide:
        notes.insert(0, "shaded: the fit with the lower target; dashed: crossings; dotted: stationary point")
    _finish(fig, ax, notes + clip.notes(), strip)
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
    plt = _pyplot()
    lo, hi = boundary.domain
    grid = np.geomspace(lo, hi, points)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    best = boundary.difference(grid)
    ax.plot(grid, best, color="k", label=f"{boundary.names[0]} - {boundary.names[1]}")
    notes = []
    if boundary.draws is not None:
        a, b = boundary._fits
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
    a, b = boundary._fits
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
    _finish(fig, ax, notes, strip)
    return fig
