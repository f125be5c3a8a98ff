"""The figure of a fit against its runs (the paper's Figs. 2-4): :func:`plot_fit`, with
the runs' checks and the split of the runs into the fit's own and those held out.
Log axes; intervals where the fit has draws. Returns a matplotlib ``Figure``; save it with
``fig.savefig("fig.png")``. Every argument is checked before anything is drawn.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalefit.decide.boundary import fit_arg, near
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.plotting.axes import AT_RTOL, LEGEND_OUTSIDE, Clip, finish, plain, predict, pyplot, rows_at
from scalefit.results.fit import Fit
from scalefit.tables.runs import Runs, load_runs, read_table
from scalefit.validate import each, number, probability, shown_value, text


def _law_handles(plt, band: bool, interval: float) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="0.3", lw=1.5, label="fitted law")]
    if band:
        handles.append(Patch(color="0.3", alpha=0.2, lw=0, label=f"{interval:.0%} interval of the curve"))
    return handles


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
                f"the fit was made from the rows where {query} (its source: {fit.setup.source!r}), "
                f"and that filter does not apply to runs=: {exc} — give where= (--where) for this table, "
                "or where='' to draw every run"
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


def _no_points_warning(frame: pd.DataFrame, at: Mapping[str, float], what: str = "runs", rtol: float = AT_RTOL) -> None:
    shown = ", ".join(f"{k}={plain(v)}" for k, v in at.items())
    levels = "; ".join(
        f"{k} in {{{', '.join(plain(u) for u in sorted(frame[k].unique())[:8])}"
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
    plt = pyplot()
    keep = rows_at(frame, at, rtol)
    drawn, left_out = int((keep & fitted).sum()), int((~keep & fitted).sum())
    if not drawn:
        _no_points_warning(frame[fitted], at, rtol=rtol)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    shown = keep | fitted  # a by-level only held-out runs have, outside the slice, gets no curve
    levels = sorted(frame.loc[shown, by].unique()) if by else [None]
    grid = np.geomspace(frame[x].min() / 1.5, frame[x].max() * 1.5, 200)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(levels)))
    clip = Clip(fit.law.metric)
    n_held = 0
    for level, color in zip(levels, colors, strict=True):
        sel = keep & (frame[by].to_numpy() == level if by else True)
        label = f"{by} = {plain(level, 3)}" if by else "runs"
        mine = sel & fitted
        ax.scatter(frame.loc[mine, x], frame.loc[mine, fit.target], color=color, s=18, label=label, zorder=3,
                   gid="runs")  # fmt: skip
        other = sel & ~fitted
        if other.any():
            n_held += int(other.sum())
            ax.scatter(frame.loc[other, x], frame.loc[other, fit.target], facecolors="none", edgecolors=[color],
                       marker="D", s=22, linewidths=1.0, zorder=3, gid="held_out")  # fmt: skip
        point = {x: grid, **({by: level} if by else {}), **at}
        pred = predict(fit, pd.DataFrame(point), interval)
        ax.plot(grid, clip(pred["mean"]), color=color, lw=1.5)
        if fit.draws is not None:
            ax.fill_between(grid, clip(pred.ci_lower), clip(pred.ci_upper), color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(fit.target)
    fixed = ", ".join(f"{k}={plain(v)}" for k, v in at.items())
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
    finish(fig, ax, notes)
    fig.scalefit_points = {"drawn": drawn, "left_out": left_out}
    fig.scalefit_held_out = n_held
    return fig
