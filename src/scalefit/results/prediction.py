"""Predictions of a fit: the law at new configurations, with confidence and prediction intervals.

:func:`predict` is the body of :meth:`scalefit.Fit.predict`: it checks the configurations
(:func:`prediction_variables`), evaluates the law at the fit's parameters (the posterior median
for Bayesian fits), takes intervals from the bootstrap replicates or posterior draws and
simulated new runs (:func:`new_runs`), widens them by a rollout calibration, by the
extrapolation-error model beyond the runs (:func:`widen_beyond_runs`) and over parameters the
runs do not determine (:func:`sweep_unidentified`), and flags error rates that leave [0, 1]
(:func:`error_rate_reason`). The functions read the fit's attributes only; they never import
:mod:`scalefit.results.fit`, which imports them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.results.extrapolation import SPREAD_LEVEL, ExtrapolationModel


def near(value: object, options) -> str:
    """`` (did you mean 'X'?)`` for a near miss, letter case included (``dp`` -> ``Dp``)."""
    options = [str(o) for o in options]
    same = [o for o in options if o.lower() == str(value).lower()]
    return f" (did you mean {same[0]!r}?)" if same else check.suggest(value, options)


def numeric_column(raw: pd.Series, what: str, index) -> np.ndarray:
    """Float values of a table column; strings, booleans and other objects are refused
    (a string is never parsed as a number), missing values become NaN for the caller."""
    if pd.api.types.is_bool_dtype(raw):
        raise ScalefitError(f"{what} holds True/False values; it needs numbers")
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_complex_dtype(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    values = raw.to_numpy(dtype=object)
    if any(isinstance(v, bool | np.bool_) for v in values):
        raise ScalefitError(f"{what} holds True/False values; it needs numbers")
    missing = np.array(
        [pd.api.types.is_scalar(v) and not isinstance(v, str) and pd.isna(v) for v in values], dtype=bool
    )
    ok = np.array([check.is_number(v) for v in values], dtype=bool) | missing
    if not ok.all():
        raise ScalefitError(
            f"{what} has non-numeric values in {format_rows(index[~ok])} (e.g. {values[~ok][0]!r}); "
            "give numbers (a string is not read as one)"
        )
    return np.array([np.nan if m else float(v) for v, m in zip(values, missing, strict=True)], dtype=float)


def calibrated_quantile(scores: np.ndarray, weights: np.ndarray, interval: float) -> float:
    """Weighted conformal quantile of backtest scores at ``interval``, with the split-conformal
    finite-sample correction ``interval * (1 + 1/n)`` for ``n`` scores (capped at 1: the
    largest score)."""
    level = min(1.0, interval * (1.0 + 1.0 / len(scores)))
    order = np.argsort(scores)
    cum = np.cumsum(weights[order]) / np.sum(weights)
    return float(scores[order][min(int(np.searchsorted(cum, level - 1e-12)), len(scores) - 1)])


def _widen_by_calibration(out: pd.DataFrame, cal: Mapping, x: Mapping, ranges: Mapping, interval: float) -> None:
    """Prediction intervals of a fit calibrated by a rollout backtest (:func:`scalefit.select_law`).

    The held-out log errors ``e`` of the rollout, at log-distances ``d`` beyond each split's
    largest fitted value of the rollout variable, give scores ``|e| / (sigma + d)``
    (``sigma``: the fit's log-residual scale): a locally weighted split-conformal interval
    (Lei et al. 2018, "Distribution-Free Predictive Inference for Regression", Sec. 5.2)
    whose width grows with the distance extrapolated. At distance ``d`` beyond the runs the
    interval is ``mean * exp(+-q (sigma + d))``, ``q`` the scores' ``interval`` quantile,
    and never narrower than the ``interval`` quantile of the fit's own absolute log residuals;
    it replaces the bootstrap interval where it is wider. Rows inside the runs keep the
    bootstrap interval (or get ``q * sigma`` when the fit has no bootstrap).
    """
    v = cal["variable"]
    d = np.maximum(np.log(np.asarray(x[v], dtype=float) / ranges[v][1]), 0.0)
    scores, weights = np.asarray(cal["scores"], dtype=float), np.asarray(cal["weights"], dtype=float)
    q = calibrated_quantile(scores, weights, interval)
    half = q * (float(cal["sigma"]) + d)
    if cal.get("residuals"):  # never narrower than the fit's own residuals say (split conformal on them)
        r = np.sort(np.asarray(cal["residuals"], dtype=float))
        half = np.maximum(half, r[min(int(np.ceil((len(r) + 1) * interval)) - 1, len(r) - 1)])
    mean = out["mean"].to_numpy(dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = mean * np.exp(-half), mean * np.exp(half)
    own = np.isnan(out["ci_lower"].to_numpy(dtype=float))  # no bootstrap: the calibrated band everywhere
    use = (d > 0) | own
    _widen_to(out, use, lo, hi)
    out.attrs["calibrated"] = {"variable": v, "q": q, "method": cal.get("method", "")}


def _widen_to(out: pd.DataFrame, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Prediction intervals of ``rows`` widened to include ``[lo, hi]`` (the union). A row whose
    own interval is NaN (no replicate converged) stays NaN: no interval is not a narrow one."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    rows = rows & np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(invalid="ignore"):
        out["pi_lower"] = np.where(rows, np.minimum(out["pi_lower"].to_numpy(dtype=float), lo), out["pi_lower"])
        out["pi_upper"] = np.where(rows, np.maximum(out["pi_upper"].to_numpy(dtype=float), hi), out["pi_upper"])


def _extrapolation_model(given: object) -> ExtrapolationModel | None:
    """``predict(extrapolation=...)``: the shipped model, a given one, or none."""
    if given is None:
        return None
    if isinstance(given, ExtrapolationModel):
        return given
    if isinstance(given, str) and given == "default":
        return ExtrapolationModel.default()
    raise ScalefitError(
        f"predict(): extrapolation={given!r:.60} must be 'default', an ExtrapolationModel or None (no widening "
        "beyond the runs)"
    )


def _quantiles(a: np.ndarray, interval: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Central quantiles over finite values only (NaN where there are none: the caller warns)."""
    tail = (1.0 - interval) / 2.0
    a = np.where(np.isfinite(a), a, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: reported by _warn_nonfinite
        return np.nanquantile(a, tail, axis=axis), np.nanquantile(a, 1.0 - tail, axis=axis)


def _warn_nonfinite(means: np.ndarray, index) -> None:
    """Warn when replicate/draw predictions overflow for some configurations."""
    bad = np.mean(~np.isfinite(means), axis=0)
    if np.any(bad > 0):
        worst = int(np.argmax(bad))
        what = "have no interval (NaN)" if np.any(bad == 1) else "have intervals from the finite ones only"
        warnings.warn(
            f"predict(): the law overflows or is undefined for {bad[worst]:.0%} of the replicates/draws at "
            f"row {index[worst]} ({int(np.sum(bad > 0))} configurations affected); those configurations {what} — "
            "they are far outside the runs, where some replicates diverge",
            ScalingWarning,
            stacklevel=4,
        )


def _shown(values) -> str:
    """A few values for a message: ``135.5, 4e+236`` (and a count if more)."""
    values = [float(v) for v in values]
    text = ", ".join(f"{v:.4g}" for v in values[:5])
    return text + (f" and {len(values) - 5} more" if len(values) > 5 else "")


# -- bounded targets (error rates) ---------------------------------------------------------
_ERROR_NAME = re.compile(r"^(top[-_]?\d+[-_]?)?(test[-_]|val[-_]|eval[-_])?(error|err)([-_]?rate)?$", re.IGNORECASE)


def error_rate_reason(fit) -> str | None:
    """Why the fit's target is an error rate (a value in [0, 1]), or ``None``.

    A law with ``metric="error_rate"`` predicts one (the runs were checked to lie in
    [0, 1]). A law with no metric is taken to predict one only when the target's name says
    so (``error``, ``err``, ``error_rate``, ``top1_error``, ...) *and* every fitted run lies in
    [0, 1] (or the fit holds no runs); ``metric="loss"`` never is.
    """
    if fit.law.metric == "error_rate":
        return f"law {fit.law.name!r} predicts an error rate"
    if fit.law.metric is not None or not _ERROR_NAME.match(str(fit.target)):
        return None
    y = None if fit.runs.data is None else np.asarray(fit.runs.data.get("y", []), dtype=float)
    if y is not None and len(y) and not np.all((y >= 0) & (y <= 1)):
        return None
    return (
        f"target {fit.target!r} of law {fit.law.name!r} is an error rate (its name says so"
        + ("" if y is None or not len(y) else " and every fitted run lies in [0, 1]")
        + "; if it is not, give the law a metric: law.replace(metric='loss'))"
    )


def _flag_error_rates(fit, out: pd.DataFrame, reason: str, interval: float | None) -> None:
    """Mark and warn about error-rate predictions outside [0, 1] (in place)."""
    mean = out["mean"].to_numpy(dtype=float)
    outside = ~((mean >= 0.0) & (mean <= 1.0))  # NaN counts: nothing an error rate can be
    out["outside_0_1"] = outside
    where = "to the fitted runs (see column extrapolated)" if fit.runs.ranges else "to where the law was measured"
    if outside.any():
        rows = out.index[outside]
        warnings.warn(
            f"predict(): {reason}, but the prediction leaves [0, 1] in {format_rows(rows)} (mean "
            f"{_shown(mean[outside])}): an error rate cannot be below 0 or above 1, so the law has left the "
            "range it can describe and these predictions are meaningless (column outside_0_1); predict closer "
            f"{where} — describing error rates that far out needs a law that saturates below 1",
            ScalingWarning,
            stacklevel=4,
        )
    if interval is None:
        return
    ends = out[[c for c in ("ci_lower", "ci_upper", "pi_lower", "pi_upper") if c in out]].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        crosses = np.any((ends < 0.0) | (ends > 1.0), axis=1)
    out["interval_outside_0_1"] = crosses
    only = crosses & ~outside
    if only.any():
        rows = out.index[only]
        first = ends[only][0]
        warnings.warn(
            f"predict(): {reason}, but the {interval:.0%} intervals reach beyond [0, 1] in {format_rows(rows)} "
            f"(row {rows[0]}: from {np.nanmin(first):.4g} to {np.nanmax(first):.4g}): the law does not know "
            "that an error rate stops at 0 and 1, so the part of the interval outside [0, 1] is impossible and "
            "the interval is not trustworthy there (column interval_outside_0_1); add runs near these "
            f"configurations, or predict closer {where}",
            ScalingWarning,
            stacklevel=4,
        )


def prediction_variables(fit, data) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The law's variables from ``data`` of :meth:`Fit.predict`, checked: a column per variable
    (by name or by the column it was mapped from), numbers, finite and > 0."""
    if isinstance(data, Mapping) and not isinstance(data, pd.DataFrame):
        columns = {}
        for k, v in data.items():
            arr = v.to_numpy() if isinstance(v, pd.Series | pd.Index) else v
            try:
                arr = np.atleast_1d(np.asarray(arr, dtype=object))
            except ValueError:  # ragged nesting
                arr = None
            if arr is None or arr.ndim != 1:
                raise ScalefitError(
                    f"predict(): data[{k!r}] must be a number or a flat list of numbers, got {v!r:.80}"
                )
            columns[k] = arr
        lengths = {k: len(a) for k, a in columns.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ScalefitError(
                f"predict(): the columns of data have different lengths ({shown}); give every variable "
                "one value per configuration"
            )
        data = pd.DataFrame(columns)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"predict(): data must be a DataFrame or a mapping of variable -> values (e.g. "
            f"{{{fit.law.variables[0]!r}: [1e6]}}), got {type(data).__name__}"
        )
    if len(data) == 0:
        raise ScalefitError("predict(): data has no rows; give at least one configuration to predict")
    columns = list(data.columns)
    x = {}
    for v in fit.law.variables:
        col = v if v in columns else fit.setup.mapping.get(v)
        if col not in columns:
            alt = f" or {fit.setup.mapping[v]!r}" if fit.setup.mapping.get(v, v) != v else ""
            raise ScalefitError(
                f"predict(): data needs a column {v!r}{alt} for law variable {v}"
                f"{near(v, columns)}; got columns {columns}"
            )
        if isinstance(data[col], pd.DataFrame):
            raise ScalefitError(f"predict(): data has more than one column named {col!r}; keep one")
        what = f"predict(): data column {col!r} (law variable {v})"
        arr = numeric_column(data[col], what, data.index)
        for bad, problem in (
            (np.isnan(arr), "missing (NaN) values"),
            (np.isinf(arr), "infinite values"),
            (arr < 0, "negative values")
            if v in fit.law.zero_allowed  # a general law may be defined at 0
            else (arr <= 0, "non-positive values"),
        ):
            if bad.any():
                raise ScalefitError(
                    f"{what} has {problem} in {format_rows(data.index[bad])} (e.g. {arr[bad][0]:g}); "
                    "scaling-law variables must be finite and > 0 (a count of samples or parameters) — "
                    "fix or remove those rows"
                )
        x[v] = arr
    return data, x


def predict(
    fit, data, interval: float | None = 0.9, *, seed: int = 0, extrapolation: object = "default"
) -> pd.DataFrame:
    """Predictions of ``fit`` (a :class:`~scalefit.Fit`) for new configurations, with intervals: the
    table of :meth:`Fit.predict <scalefit.Fit.predict>`, whose docstring says what each argument
    and column means; warnings point at the caller of :meth:`Fit.predict`."""
    if interval is not None:
        interval = check.probability(interval, "interval")
    seed = check.integer(seed, "seed", minimum=0)
    model = _extrapolation_model(extrapolation)
    if interval is not None and fit.draws is None and fit.runs.extrapolation is None:
        raise ScalefitError(
            "predict(): this fit has no bootstrap replicates, so it has no intervals; refit with "
            "bootstrap=1000, or call predict(..., interval=None)"
        )
    frame, x = prediction_variables(fit, data)
    if fit.setup.method == "lsq" and not fit.status.converged:
        warnings.warn(
            f"predict(): this fit {fit.status.message}. Its predictions come from a point that is not the "
            "optimum: refit before relying on them",
            ScalingWarning,
            stacklevel=3,
        )
    out = pd.DataFrame({v: x[v] for v in fit.law.variables}, index=frame.index)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out["mean"] = np.asarray(fit.law.evaluate(fit.params, x), dtype=float)
    undefined = np.isnan(out["mean"].to_numpy(dtype=float))  # at the best fit: NaN, not an overflow (inf)
    if fit.setup.method == "bayes" and fit.draws is not None:
        posterior = {n: fit.draws[n].to_numpy()[:, None] for n in fit.law.parameters}
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            out["mean"] = np.median(np.asarray(fit.law.evaluate(posterior, x), dtype=float), axis=0)
    if undefined.any():
        first = int(np.flatnonzero(undefined)[0])
        at = ", ".join(f"{v}={x[v][first]:g}" for v in fit.law.variables)
        warnings.warn(
            f"predict(): the law is not defined at the fitted parameters in {format_rows(out.index[undefined])} "
            f"(e.g. {at}; a log or a negative power of 0?), so those rows have no prediction (NaN)",
            ScalingWarning,
            stacklevel=3,
        )
    spread = np.full(len(out), np.nan)  # half the log-width of the fit's own 90% prediction interval
    if interval is not None and fit.draws is None:  # calibrated by a backtest only: no confidence interval
        out["ci_lower"] = out["ci_upper"] = np.nan
        out["pi_lower"] = out["pi_upper"] = out["mean"]
    elif interval is not None:
        if len(fit.draws) == 0:
            for c in ("ci_lower", "ci_upper", "pi_lower", "pi_upper"):
                out[c] = np.nan
            warnings.warn(
                "predict(): no bootstrap replicate of this fit converged, so its intervals are NaN "
                "(see the fit's notes); refit with a larger max_steps, or call predict(..., interval=None)",
                ScalingWarning,
                stacklevel=3,
            )
        else:
            boot = {n: fit.draws[n].to_numpy()[:, None] for n in fit.law.parameters}
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                means = np.asarray(fit.law.evaluate(boot, x), dtype=float)  # (B, m)
            means = np.where(np.isfinite(means), means, np.nan)
            _warn_nonfinite(means[:, ~undefined], out.index[~undefined])  # undefined rows: warned above
            out["ci_lower"], out["ci_upper"] = _quantiles(means, interval)
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                new = new_runs(fit, means, np.random.default_rng(seed))
            out["pi_lower"], out["pi_upper"] = _quantiles(new.reshape(-1, means.shape[1]), interval)
            own = (out["pi_lower"], out["pi_upper"])
            if interval != SPREAD_LEVEL:
                own = _quantiles(new.reshape(-1, means.shape[1]), SPREAD_LEVEL)
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = 0.5 * np.log(np.asarray(own[1], dtype=float) / np.asarray(own[0], dtype=float))
    if interval is not None and fit.runs.extrapolation is not None:
        _widen_by_calibration(out, fit.runs.extrapolation, x, fit.runs.ranges, interval)
    if fit.runs.ranges:
        feats = ExtrapolationModel.features(fit.law, fit.params, fit.runs.ranges, fit.log_residual_scale, x)
        feats["spread"] = np.where(np.isfinite(spread), spread, 0.0)
        if interval is not None and model is not None:
            widen_beyond_runs(fit, out, model, feats, interval)
    if interval is not None:
        sweep_unidentified(fit, out, x)
    beyond = {v: (x[v] < lo) | (x[v] > hi) for v, (lo, hi) in fit.runs.ranges.items()}  # per variable
    out["extrapolated"] = np.any(list(beyond.values()), axis=0)
    if fit.runs.ranges:
        out["decades_beyond"] = feats["distance"] / np.log(10.0)
        if model is not None:
            calibrated = model.supported(feats)
            out["supported"] = calibrated
            _flag_sparse_variables(fit, out, beyond)
            far = ~calibrated & ~undefined  # an undefined row is warned about above
            if far.any():
                warnings.warn(
                    f"predict(): {int(far.sum())} of {len(out)} predictions lie up to "
                    f"{out['decades_beyond'][far].max():.2g} decades beyond the fitted runs, further than any curve "
                    f"the extrapolation model was calibrated on ({model.max_distance / np.log(10):.2g} decades; "
                    "column supported). The runs do not support that extrapolation: its intervals are widened "
                    "in proportion, which is a guess. Run closer to where you predict",
                    ScalingWarning,
                    stacklevel=3,
                )
    reason = error_rate_reason(fit)
    if reason is not None:
        _flag_error_rates(fit, out, reason, interval)
    out.attrs["interval"] = interval
    return out


#: A prediction beyond the runs in a variable with fewer distinct fitted values than this is not
#: supported: a term in it has an amplitude and an exponent (and often a floor shares it), so
#: three values leave at most one to check the law's form against — the extrapolation model's
#: corpus extrapolates along variables with many values (data, steps), not along three model
#: sizes. Fixed by that count, not tuned on any score.
FEW_VALUES = 4


def _flag_sparse_variables(fit, out: pd.DataFrame, beyond: Mapping[str, np.ndarray]) -> None:
    """``supported`` False, with a warning, where a prediction goes beyond the runs (``beyond``:
    per variable, which rows lie outside its fitted range) in a variable that the runs hold at
    fewer than :data:`FEW_VALUES` distinct values."""
    fitted = (fit.runs.data or {}).get("x") or {}
    sparse = {}
    flagged = np.zeros(len(out), dtype=bool)
    for v, rows in beyond.items():
        if v not in fitted or not rows.any():
            continue
        count = int(np.unique(np.asarray(fitted[v], dtype=float)).size)
        if count < FEW_VALUES:
            sparse[v] = count
            flagged |= rows
    if not sparse:
        return
    out["supported"] = out["supported"].to_numpy(dtype=bool) & ~flagged
    which = ", ".join(f"{v} ({n} distinct value{'s' if n != 1 else ''})" for v, n in sparse.items())
    first = next(iter(sparse))
    hint = (
        ""
        if fit.bootstrap.clusters in sparse or fit.setup.method != "lsq" or sparse[first] < 3
        else f"; if the runs at each value of {first} share an error (checkpoints or token counts of one model), "
        f"refit with LeastSquares(clusters={first!r}) so the intervals carry it (from {sparse[first]} values, a "
        "coarse band: a rough guess, not a calibrated 90%)"
    )
    warnings.warn(
        f"predict(): {int(flagged.sum())} of {len(out)} predictions go beyond the fitted runs in {which}: so few "
        "values cannot show how the law bends beyond them, and the intervals' widening was calibrated on curves "
        f"with many values (column supported). Treat those intervals as a guess; run at least {FEW_VALUES} distinct "
        f"values of the variable you extrapolate along{hint}",
        ScalingWarning,
        stacklevel=4,
    )


def widen_beyond_runs(fit, out: pd.DataFrame, model: ExtrapolationModel, feats: Mapping, interval: float) -> None:
    """Prediction intervals beyond the runs: the union of the fit's own interval and the
    extrapolation model's (see :mod:`scalefit.results.extrapolation`). Rows inside the runs
    keep the fit's own interval."""
    beyond = feats["distance"] > 0
    if not beyond.any() or "pi_lower" not in out.columns:
        return
    lower, upper = model.limits(feats, interval)
    mean = out["mean"].to_numpy(dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = mean * np.exp(lower), mean * np.exp(upper)
    positive = mean > 0  # the model's offsets are of log y: a prediction <= 0 has none
    _widen_to(out, beyond & positive, lo, hi)
    out.attrs["extrapolation_model"] = repr(model)
    left = beyond & ~positive & np.isfinite(mean)
    if left.any():
        warnings.warn(
            f"predict(): {int(left.sum())} of {len(out)} predictions beyond the fitted runs are not positive, so the "
            "extrapolation model (errors of log y) cannot widen their intervals: they are the bootstrap's alone, "
            "which assumes the law is exact out there. Treat them as too narrow",
            ScalingWarning,
            stacklevel=4,
        )


def sweep_unidentified(fit, out: pd.DataFrame, x: Mapping[str, np.ndarray]) -> None:
    """Widen intervals over every value of a parameter the runs leave undetermined.

    A parameter that is not identified on its own (``identifiability.not_identified``
    as a one-parameter flat direction: it does not change the fitted predictions, or
    starts reaching the same objective disagree on it) sits wherever the optimiser left
    it, and so do its bootstrap replicates — an interval from them is narrow by
    accident. Where a prediction depends on such a parameter (e.g. ``R_star`` of
    :class:`~scalefit.Repeated` fitted on single-epoch runs, predicting repeated data),
    the intervals are widened to every value it could take (its internal value swept
    over its bounds, at most ``+-7`` in log), the rows are marked in
    ``depends_on_unidentified`` and a :class:`~scalefit.ScalingWarning` names them.
    """
    alone = [g[0] for g in fit.identifiability.flat if len(g) == 1 and g[0] in fit.setup.problem.free]
    if not alone:
        return
    theta = fit.law.to_internal(fit.params)
    lo_all = out["mean"].to_numpy(dtype=float).copy()
    hi_all = lo_all.copy()
    moved = np.zeros(len(out), dtype=bool)
    for name in dict.fromkeys(alone):
        i = fit.setup.problem.free.index(name)
        t0 = float(theta[name])
        lo, hi = fit.setup.problem.lo[i], fit.setup.problem.hi[i]
        span = 7.0 if fit.law.specs[name].role != "exponent" else 3.0
        grid = np.linspace(max(lo, t0 - span), min(hi, t0 + span), 41)
        grid = np.append(grid, t0)  # the optimum itself: never an empty sweep
        grid = grid[_indistinguishable(fit, name, theta, grid)]
        if len(grid) < 2:
            continue
        paper = fit.law.from_internal({**theta, name: grid[:, None]})
        with np.errstate(all="ignore"):
            vals = np.asarray(fit.law.evaluate(paper, x), dtype=float)  # (grid, rows)
        vals = np.where(np.isfinite(vals), vals, np.nan)
        base = out["mean"].to_numpy(dtype=float)
        changed = np.nanmax(np.abs(vals - base), axis=0) > 1e-6 * np.abs(base)
        moved |= changed
        lo_all = np.fmin(lo_all, np.nanmin(vals, axis=0))
        hi_all = np.fmax(hi_all, np.nanmax(vals, axis=0))
    out["depends_on_unidentified"] = moved
    if moved.any():
        for lower, upper in (("ci_lower", "ci_upper"), ("pi_lower", "pi_upper")):
            out[lower] = np.where(moved, np.fmin(out[lower].to_numpy(dtype=float), lo_all), out[lower])
            out[upper] = np.where(moved, np.fmax(out[upper].to_numpy(dtype=float), hi_all), out[upper])
        warnings.warn(
            f"predict(): {int(moved.sum())} of {len(out)} predictions depend on {', '.join(dict.fromkeys(alone))}, "
            "which the fitted runs do not determine; their intervals span every value it could take "
            "(column depends_on_unidentified). Add runs that vary it, or fix it from other evidence",
            ScalingWarning,
            stacklevel=4,
        )


def _indistinguishable(fit, name: str, theta: Mapping, grid: np.ndarray) -> np.ndarray:
    """Which internal values ``grid`` of ``name``, moved alone, the fitted runs cannot tell from
    the optimum: every run's prediction within the fit's log-residual scale of its value there.
    A parameter flagged because starts disagree on it may be flat only together with others
    (mixture weights whose shift a scale absorbs): alone it moves the runs' predictions, and
    sweeping it alone would widen intervals over values the runs rule out."""
    data = fit.runs.data or {}
    if not data.get("x"):
        return np.ones(len(grid), dtype=bool)
    runs_x = {v: np.asarray(a, dtype=float) for v, a in data["x"].items()}
    with np.errstate(all="ignore"):
        base = np.asarray(fit.law.evaluate(fit.params, runs_x), dtype=float)
        vals = np.asarray(fit.law.evaluate(fit.law.from_internal({**theta, name: grid[:, None]}), runs_x), dtype=float)
        change = np.nanmax(np.abs(vals / base - 1.0), axis=1)
    tol = max(float(fit.log_residual_scale), 1e-6)
    return np.isfinite(change) & (change <= tol)


def new_runs(fit, means: np.ndarray, rng) -> np.ndarray:
    """Simulated targets of new runs around each draw's mean law, (reps, draws, configs).

    ``bayes``: the posterior predictive — each draw's noise model (its ``sigma``, ``nu``).
    ``lsq``: each replicate's mean plus a residual resampled from the fit.
    """
    reps = max(1, 10_000 // means.shape[0])
    shape = (reps,) + means.shape
    if fit.bayes is None:
        r = rng.choice(fit.runs.residuals, size=shape)  # log(pred) - log(y), or pred - y
        return means[None] * np.exp(-r) if fit.setup.objective.log else means[None] - r
    if "sigma" not in fit.draws:
        raise ScalefitError(
            "this fit used a known per-run noise_scale, which is unknown for new runs; "
            "use the credible interval of the mean (ci_lower/ci_upper)"
        )
    sigma = fit.draws["sigma"].to_numpy()[None, :, None]
    if fit.bayes.noise == "normal":
        return means[None] + sigma * rng.standard_normal(shape)
    if fit.bayes.noise == "lognormal":
        return means[None] * np.exp(sigma * rng.standard_normal(shape))
    nu = fit.draws["nu"].to_numpy()[None, :, None]
    return means[None] * np.exp(sigma * rng.standard_t(np.broadcast_to(nu, shape)))
