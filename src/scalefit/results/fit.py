"""The fit result: parameters, uncertainty, diagnostics, predictions; immutable; saves as JSON.

One parameter dictionary (the law's names, paper form) is the source of truth for
``.params``, ``.summary()``, ``.draws`` and JSON. Saved fits are plain JSON — no pickles —
and load into an equal :class:`Fit`: the file format, its strict-JSON encoding and the
checks on load live in :mod:`scalefit.serialize.fitfile` (:func:`load_fit` is re-exported here).

Parameter domains (:func:`_domain`): a value the user gives (a fixed value, the
parameters of :meth:`Fit.from_params`) must lie in its role's range — constants >= 0,
amplitudes and scales > 0, exponents any finite number; a fitted (free) value lies in that
range narrowed to the fit's bounds, and exponents are bounded below by 0 by default.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Any

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.files import write_json
from scalefit.fitting.lsq import Objective
from scalefit.fitting.problem import Problem
from scalefit.laws.catalogue import as_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Term
from scalefit.results.diagnostics import diagnostics_ok, stored_number
from scalefit.results.domain import domain, inside
from scalefit.results.extrapolation import SPREAD_LEVEL, ExtrapolationModel
from scalefit.results.identify import Identifiability, IntervalRule, interval_problems, with_intervals
from scalefit.results.record import fit_dict
from scalefit.results.reports import BayesReport, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport


def _given_draws(law: Law, draws: object) -> pd.DataFrame:
    """``draws`` of :meth:`Fit.from_params` checked: a table with a numeric, finite column per
    parameter, values in the parameter's range, at least one row."""
    names = list(law.parameters)
    if isinstance(draws, Mapping) and not isinstance(draws, pd.DataFrame):
        try:
            draws = pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in draws.items()})
        except ValueError as exc:
            raise ScalefitError(f"draws: every column must have the same length ({exc})") from None
    if not isinstance(draws, pd.DataFrame):
        raise TypeError(
            f"draws must be a DataFrame (or a dict) with one column per parameter {names}, got {type(draws).__name__}"
        )
    columns = [str(c) for c in draws.columns]
    extra = [c for c in columns if c not in names and c not in ("sigma", "nu")]
    if extra:
        raise ScalefitError(
            f"draws has column {extra[0]!r}{_near(extra[0], names)}, which is not a parameter of law "
            f"{law.name!r}; its parameters are {names}"
        )
    missing = [n for n in names if n not in columns]
    if missing:
        raise ScalefitError(f"draws has no column {missing[0]!r}; it needs one column per parameter: {names}")
    if len(draws) == 0:
        raise ScalefitError("draws has no rows; give at least one draw per parameter, or draws=None")
    out = {}
    for n in names:
        if isinstance(draws[n], pd.DataFrame):
            raise ScalefitError(f"draws has more than one column named {n!r}")
        arr = numeric_column(draws[n], f"draws column {n!r}", draws.index)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ScalefitError(
                f"draws column {n!r} has NaN or infinite values in {format_rows(draws.index[bad])}; "
                "drop those draws (e.g. draws.dropna())"
            )
        low, high, low_open, text = domain(law, n, explicit=True)
        bad = ~inside(arr, low, high, low_open)
        if bad.any():
            raise ScalefitError(
                f"draws column {n!r} has values outside its range ({text}) in {format_rows(draws.index[bad])} "
                f"(e.g. {arr[bad][0]:g}); those draws are not values this parameter can take"
            )
        out[n] = arr
    return pd.DataFrame(out)


def _near(value: object, options) -> str:
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
    """Prediction intervals of ``rows`` widened to include ``[lo, hi]`` (the union)."""
    out["pi_lower"] = np.where(rows, np.fmin(out["pi_lower"].to_numpy(dtype=float), lo), out["pi_lower"])
    out["pi_upper"] = np.where(rows, np.fmax(out["pi_upper"].to_numpy(dtype=float), hi), out["pi_upper"])


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


def _worst(values, pick) -> float:
    """``max``/``min`` of diagnostics, NaN if any is NaN (a NaN R-hat is a failure, not skipped)."""
    values = [stored_number(v) for v in values]
    return float("nan") if any(np.isnan(values)) else pick(values)


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
            stacklevel=3,
        )


def _shown(values) -> str:
    """A few values for a message: ``135.5, 4e+236`` (and a count if more)."""
    values = [float(v) for v in values]
    text = ", ".join(f"{v:.4g}" for v in values[:5])
    return text + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _piled_at_zero(law: Law, name: str, draws: pd.Series, tail: float) -> bool:
    """Whether the posterior of a parameter bounded below by 0 (a constant, an amplitude, an
    exponent) piles up against 0: its lower credible limit is negligible beside its upper one."""
    if law.specs[name].role not in ("constant", "amplitude", "exponent"):
        return False
    v = np.asarray(draws, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return False
    lo, hi = np.quantile(v, [tail, 1.0 - tail])
    return bool(lo >= 0 and lo < 1e-3 * hi)


# -- bounded targets (error rates) ---------------------------------------------------------
_ERROR_NAME = re.compile(r"^(top[-_]?\d+[-_]?)?(test[-_]|val[-_]|eval[-_])?(error|err)([-_]?rate)?$", re.IGNORECASE)


def error_rate_reason(fit: Fit) -> str | None:
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


def _flag_error_rates(fit: Fit, out: pd.DataFrame, reason: str, interval: float | None) -> None:
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
            stacklevel=3,
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
            stacklevel=3,
        )


@dataclass(frozen=True, repr=False)
class Fit:
    """A fitted law. Immutable; build one with :func:`scalefit.fit_law`.

    Attributes
    ----------
    law : Law
    target : str
        The column fitted.
    params : dict
        Best-fit parameters, paper form (``lambda_p``, not ``log A``); posterior medians for NUTS.
    value : float
        Objective at ``params``.
    status : Convergence
        How the optimiser stopped for the chosen optimum.
    starts : StartsReport
        Multi-start summary: how many starts reached the best objective, and whether the
        parameters agree among them.
    identifiability : Identifiability
        Condition number, trade-offs and flat directions at the optimum, in plain words.
    setup : Setup
        How the fit was asked for: method, objective, mapping, problem, seed, source.
    runs : FittedRuns
        The runs fitted (count, ranges, values, residuals) and what they say about the fit
        (lack of fit, calibrated extrapolation).
    draws : DataFrame or None
        ``lsq``: bootstrap replicates of every parameter (paper form), one row per
        replicate. ``bayes``: posterior draws, chain-major, with ``sigma`` (and ``nu``).
    bounds : dict
        Parameters at a bound of their range, each with its one-sided profile interval.
    bootstrap : BootstrapReport
        ``lsq``: replicates requested and the share that converged.
    bayes : BayesReport or None
        ``bayes`` only: the noise model, chains, R-hat/ESS/divergences and the priors.
    notes : tuple of str
        What the numbers mean and where they cannot be trusted, most consequential first.
    """

    law: Law
    target: str
    params: dict[str, float]
    value: float
    status: Convergence
    starts: StartsReport
    identifiability: Identifiability
    setup: Setup
    runs: FittedRuns
    draws: pd.DataFrame | None = None
    bounds: dict[str, dict] = field(default_factory=dict)
    bootstrap: BootstrapReport = field(default_factory=BootstrapReport)
    bayes: BayesReport | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_params(
        cls,
        law: Law | Term,
        params: Mapping[str, float],
        *,
        target: str | None = None,
        draws: pd.DataFrame | Mapping | None = None,
    ) -> Fit:
        """A "fit" holding given parameters (``method="given"``) — a published law, or a
        known truth — usable wherever a fit is: ``predict``, crossovers, boundaries.

        ``params`` needs a finite value for every parameter of the law, inside its range
        (constants >= 0, amplitudes and scales > 0; an exponent may be any finite number, as
        a fixed value of :func:`fit_law` may, so ``Fit.from_params(fit.law, fit.params)``
        works for every fit). ``draws`` (one column per parameter, finite values in the same
        ranges) stand in for bootstrap or posterior draws; the noise columns ``sigma``/``nu``
        of a Bayesian fit's draws are ignored.
        """
        law = as_law(law)
        names = law.parameters
        check.names(params, "params", names, what="parameter", example=f"{{{names[0]!r}: ...}}")
        missing = [n for n in names if n not in params]
        if missing:
            raise ScalefitError(
                f"params is missing {missing} for law {law.name!r} ({law.formula()}); "
                f"give a value for every parameter: {list(names)}"
            )
        values = {}
        for n in names:
            low, high, low_open, text = domain(law, n, explicit=True)
            v = check.number(params[n], f"params[{n!r}]")
            if not inside(v, low, high, low_open):
                raise ScalefitError(f"params[{n!r}] = {v!r} is outside its range ({text}); give a value in that range")
            values[n] = v
        if target is not None:
            check.text(target, "target")
        table = None if draws is None else _given_draws(law, draws)
        return cls(
            law=law,
            target=target or law.metric or "target",
            params=values,
            value=float("nan"),
            status=Convergence(0, 0, float("nan"), 0),
            starts=StartsReport(0, 0, 0, 0, [], {}),
            identifiability=Identifiability(float("nan"), []),
            setup=Setup(
                "given", Objective("huber", 1e-3), {v: v for v in law.variables}, Problem.build(law),
                source="given parameters",
            ),
            runs=FittedRuns(0, {}, np.zeros(1)),
            draws=table,
        )

    # -- tables ------------------------------------------------------------------------
    @property
    def sites(self) -> list[str]:
        """Parameters in the draws: the law's, then the noise model's (``sigma``, ``nu``)."""
        extra = [] if self.draws is None else [c for c in ("sigma", "nu") if c in self.draws.columns]
        return [*self.law.parameters, *extra]

    def summary(self, interval: float = 0.95) -> pd.DataFrame:
        """One row per parameter: estimate, interval and std, and how it was fitted.

        ``lsq``: best fit with case-bootstrap percentile intervals. ``bayes``: posterior
        median with central credible intervals, plus ``r_hat``, ``ess_bulk``, ``ess_tail``.

        A parameter at a bound of its range (a floor driven to 0, an exponent at 0, a
        user's bound) gets a one-sided interval from the bound to where its profile
        likelihood rises by the one-sided critical value (``[0, q]``), ``how`` says so, and
        ``std`` is NaN (the replicates pile up on the bound). Parameters the runs do not
        determine separately (a flat direction) get no interval (NaN, ``how`` = "not
        identified"); the combination that is determined gets a row of its own
        (``E1 + E2``, ``how`` = "determined combination"). Every interval contains its
        estimate. ``df.attrs`` holds the residual scale and any lack-of-fit flags.
        """
        from scalefit.display import whole_frame
        from scalefit.results.identify import combination_values
        from scalefit.results.intervals import parameter_interval

        interval = check.probability(interval, "interval")
        unidentified = set(self.identifiability.not_identified)
        undetermined = {u["name"] for u in self.identifiability.undetermined}
        rows = []
        bayes = self.setup.method == "bayes"
        tail = (1.0 - interval) / 2.0
        for name in self.sites:
            # a Bayesian summary reads bounds off the draws, never off the least-squares start
            bound = None if bayes else self.bounds.get(name)
            piled = bayes and name in self.setup.problem.free and _piled_at_zero(self.law, name, self.draws[name], tail)
            if name not in self.law.parameters:
                how = f"noise ({self.bayes.noise})"
            elif name in self.setup.problem.fixed:
                how = "fixed"
            elif name in self.setup.problem.tied:
                how = f"tied to {self.setup.problem.tied[name]}"
            elif bound is not None:
                how = f"at {bound['side']} bound {bound['value']:g}"
            elif piled:
                how = "posterior piled against its bound 0"
            elif name in unidentified:
                how = "not identified"
            elif name in undetermined:
                how = "not determined: interval too wide"
            else:
                how = "free"
            estimate = self.params[name] if name in self.params else float(np.median(self.draws[name]))
            row = {"parameter": name, "estimate": estimate, "how": how}
            if self.draws is not None:
                values = self.draws[name].to_numpy(dtype=float)
                role = self.law.specs[name].role if name in self.law.specs else "noise"
                lo, hi = parameter_interval(values, estimate, interval, bound, role)
                if how == "not identified":
                    lo = hi = float("nan")
                elif how == "fixed":
                    lo = hi = estimate
                # no std where there is no interval, or where replicates pile up on a bound
                spread = bound is None and how != "not identified"
                finite = values[np.isfinite(values)] if spread else values[:0]
                with np.errstate(over="ignore", invalid="ignore"):  # replicates at 1e200 give std inf
                    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else np.nan
                row.update(lower=lo, upper=hi, std=std)
            if self.bayes is not None:
                for key in ("r_hat", "ess_bulk", "ess_tail"):
                    row[key] = self.bayes.diagnostics[key].get(name, np.nan)
            rows.append(row)
        for combo in self.identifiability.combinations:
            estimate = float(combination_values(combo, self.params))
            row = {"parameter": combo["text"], "estimate": estimate, "how": "determined combination"}
            if self.draws is not None:
                values = combination_values(combo, {n: self.draws[n].to_numpy() for n in combo["members"]})
                lo, hi = parameter_interval(values, estimate, interval, None, "constant")
                with np.errstate(over="ignore", invalid="ignore"):
                    row.update(lower=lo, upper=hi, std=float(np.nanstd(values, ddof=1)))
            rows.append(row)
        df = whole_frame(pd.DataFrame(rows).set_index("parameter"))  # shown whole in a REPL or notebook
        df.attrs["interval"] = interval
        if self.runs.misfit is not None:
            df.attrs["residual_rms"] = self.runs.misfit["rms"]
            df.attrs["lack_of_fit"] = self.lack_of_fit
        if self.setup.method == "lsq" and self.draws is not None:
            mc = self.bootstrap_error(interval)
            df.attrs["bootstrap_replicates"] = len(self.draws)
            df.attrs["bootstrap_mc_error"] = {
                k: (float(r["lower_mc"]), float(r["upper_mc"])) for k, r in mc.iterrows()
            }  # Monte-Carlo standard error of each percentile endpoint (see bootstrap_error)
        return df

    def bootstrap_error(self, interval: float = 0.95) -> pd.DataFrame:
        """Monte-Carlo error of the bootstrap's percentile intervals: one row per free
        parameter with ``lower_mc`` and ``upper_mc``, the standard errors of the percentile
        endpoints from this many replicates (how far they would move with another seed;
        :func:`~scalefit.results.intervals.endpoint_mc_error`), ``width`` of the percentile interval
        and ``relative`` (the larger error over the width). A parameter at a bound takes its
        interval from the profile likelihood, which has no Monte-Carlo error (NaN here).
        Least-squares fits with a bootstrap only."""
        from scalefit.results.intervals import endpoint_mc_error

        interval = check.probability(interval, "interval")
        if self.setup.method != "lsq" or self.draws is None:
            raise ScalefitError("bootstrap_error() needs a least-squares fit with bootstrap replicates (bootstrap > 0)")
        rows = []
        for name in self.setup.problem.free:
            (lo, hi), width = endpoint_mc_error(self.draws[name].to_numpy(dtype=float), interval)
            if name in self.bounds:
                lo = hi = float("nan")
            rel = max(lo, hi) / width if width > 0 and np.isfinite(width) else float("nan")
            rows.append({"parameter": name, "lower_mc": lo, "upper_mc": hi, "width": width, "relative": rel})
        out = pd.DataFrame(rows).set_index("parameter")
        out.attrs["replicates"] = len(self.draws)
        return out

    def identify(self, max_ratio: float = 1e3, exponent_width: float = 1.0, interval: float = 0.95) -> Fit:
        """This fit with its identifiability verdict restated under another rule.

        A fit is "identified" only when the curvature at the optimum, the agreement of
        starts and every reported interval all say so; an interval passes when it is finite
        and at most ``max_ratio`` wide as a ratio upper/lower (exponents: at most
        ``exponent_width`` wide), at ``interval`` probability — see
        :class:`~scalefit.results.identify.IntervalRule`. :func:`fit_law` applies the defaults
        (1e3, 1.0, 0.95); e.g. ``fit.identify(max_ratio=10).identifiability`` asks for
        every parameter to within a factor of 10.
        """
        return _replace(self, identifiability=self._judged(IntervalRule(max_ratio, exponent_width, interval)))

    def _judged(self, rule: IntervalRule) -> Identifiability:
        """The identifiability verdict with the evidence of the intervals under ``rule``."""
        base = _replace(self.identifiability, undetermined=[], rule=None)
        if self.draws is None or len(self.draws) == 0:
            return base
        table = _replace(self, identifiability=base).summary(rule.interval)
        roles = {n: s.role for n, s in self.law.specs.items()}
        rows = []
        for name in table.index:
            how = str(table.loc[name, "how"])
            if how in ("fixed", "not identified") or how.startswith(("tied", "noise")):
                continue
            one_sided = how.startswith("at ")
            row = table.loc[name]
            rows.append((name, float(row["estimate"]), float(row["lower"]), float(row["upper"]), one_sided))
        y = np.asarray(self.runs.data["y"], dtype=float) if self.runs.data else np.ones(1)
        y_scale = float(np.median(np.abs(y))) or 1.0
        what = "posterior draws" if self.setup.method == "bayes" else "bootstrap replicates"
        problems = interval_problems(rows, roles, rule, y_scale)
        return with_intervals(base, problems, rule, f"{len(self.draws)} {what}")

    @property
    def lack_of_fit(self) -> list[str]:
        """Variables along which the residuals show a lack of fit (see :attr:`misfit`)."""
        return [] if self.runs.misfit is None else [v for v, d in self.runs.misfit["by"].items() if d["flag"]]

    def residuals_by(self, variable: str) -> pd.DataFrame:
        """Residuals of the fitted runs grouped by the levels of ``variable``: count, mean
        and rms at each level. A trend in ``mean`` is a lack of fit along that variable."""
        from scalefit.results.intervals import residuals_by

        variables = list(self.law.variables)
        if not isinstance(variable, str):
            raise TypeError(
                f"residuals_by(): variable must be the name of a law variable, one of {variables}, "
                f"got {variable!r} ({type(variable).__name__})"
            )
        if variable not in variables:
            by_column = {c: v for v, c in self.setup.mapping.items() if c != v}
            hint = (
                f" (it is the column mapped to {by_column[variable]!r}; use that name)"
                if variable in by_column
                else _near(variable, variables)
            )
            raise ScalefitError(
                f"residuals_by(): variable {variable!r} is not a variable of law {self.law.name!r}{hint}; "
                f"its variables are {variables}"
            )
        if self.runs.data is None:
            raise ScalefitError(
                "residuals_by(): this fit holds no runs (it was given parameters, or saved by an old version); "
                "refit the runs with fit_law to see residuals"
            )
        x = {v: np.asarray(a, dtype=float) for v, a in self.runs.data["x"].items()}
        return residuals_by(self._fitted_residuals(), x, variable)

    def _fitted_residuals(self) -> np.ndarray:
        """Residuals of the fitted runs at ``params`` (log-residuals for log objectives and
        for Bayesian fits with log-scale noise)."""
        if self.setup.method == "lsq":
            return np.asarray(self.runs.residuals, dtype=float)
        x = {v: np.asarray(a, dtype=float) for v, a in self.runs.data["x"].items()}
        y = np.asarray(self.runs.data["y"], dtype=float)
        pred = np.asarray(self.law.evaluate(self.params, x), dtype=float)
        return pred - y if self.bayes is not None and self.bayes.noise == "normal" else np.log(pred) - np.log(y)

    def _variables(self, data) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The law's variables from ``data`` of :meth:`predict`, checked: a column per variable
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
                f"{{{self.law.variables[0]!r}: [1e6]}}), got {type(data).__name__}"
            )
        if len(data) == 0:
            raise ScalefitError("predict(): data has no rows; give at least one configuration to predict")
        columns = list(data.columns)
        x = {}
        for v in self.law.variables:
            col = v if v in columns else self.setup.mapping.get(v)
            if col not in columns:
                alt = f" or {self.setup.mapping[v]!r}" if self.setup.mapping.get(v, v) != v else ""
                raise ScalefitError(
                    f"predict(): data needs a column {v!r}{alt} for law variable {v}"
                    f"{_near(v, columns)}; got columns {columns}"
                )
            if isinstance(data[col], pd.DataFrame):
                raise ScalefitError(f"predict(): data has more than one column named {col!r}; keep one")
            what = f"predict(): data column {col!r} (law variable {v})"
            arr = numeric_column(data[col], what, data.index)
            for bad, problem in (
                (np.isnan(arr), "missing (NaN) values"),
                (np.isinf(arr), "infinite values"),
                (arr < 0, "negative values")
                if v in getattr(self.law.expr, "zero_allowed", ())  # a general law may be defined at 0
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

    @property
    def log_residual_scale(self) -> float:
        """Root-mean-square log-residual of the fitted runs (for objectives on the raw
        target: the rms residual relative to the law's typical value over the runs)."""
        r = np.asarray(self._fitted_residuals(), dtype=float)
        r = r[np.isfinite(r)]
        if r.size == 0:
            return float("nan")
        rms = float(np.sqrt(np.mean(r**2)))
        log_scale = self.bayes.noise != "normal" if self.bayes is not None else self.setup.objective.log
        if log_scale:
            return rms
        mid = {v: np.atleast_1d(np.sqrt(lo * hi)) for v, (lo, hi) in self.runs.ranges.items()}
        with np.errstate(all="ignore"):
            typical = float(np.abs(np.asarray(self.law.evaluate(self.params, mid), dtype=float))[0])
        return rms / typical if typical > 0 else float("nan")

    def predict(
        self, data, interval: float | None = 0.9, *, seed: int = 0, extrapolation: object = "default"
    ) -> pd.DataFrame:
        """Predictions for new configurations, with intervals.

        Parameters
        ----------
        data : DataFrame or mapping
            Values of the law's variables (by variable name or by the column they were
            mapped from), e.g. ``{"Dp": [2e6], "M": [8.6e7], "Df": [5e4]}``; numbers,
            finite and > 0. Other columns are ignored.
        interval : float or None
            Central probability of the intervals, strictly between 0 and 1; ``None`` for the
            point estimate only.
        seed : int
            Seed (>= 0) of the residuals resampled for the prediction interval.
        extrapolation : "default", ExtrapolationModel or None
            How prediction intervals widen beyond the fitted runs: ``"default"`` uses the
            extrapolation-error model shipped with scalefit (errors real laws made on real
            curves at the same distance; :class:`~scalefit.ExtrapolationModel`), a model of
            your own, or ``None`` for the bootstrap/posterior interval alone (which assumes
            the law is exactly right however far it goes).

        Returns
        -------
        DataFrame
            The variables, ``mean`` (least squares: the law at the best fit; Bayes: the
            posterior median of the law at each configuration — not the law at the parameters'
            medians, which can fall outside the credible interval when extrapolating), ``ci_lower``/``ci_upper``
            (confidence interval of the mean law, from the bootstrap replicates),
            ``pi_lower``/``pi_upper`` (prediction interval of a new run: each replicate's
            mean plus a residual resampled from the fit; beyond the runs, widened by the
            extrapolation model), ``extrapolated`` (outside the range of the fitted runs in
            some variable), ``decades_beyond`` (how far outside: the log10-distance beyond
            the runs summed over variables) and ``supported`` (False where that is further
            than any curve the extrapolation model was calibrated on; a warning names them).

            When the target is an error rate (the law's ``metric="error_rate"``; or a law
            with no metric, a target named like ``error``/``err``/``error_rate`` and every
            fitted run in [0, 1]) also ``outside_0_1`` (the prediction is below 0 or above 1,
            or not a number: meaningless for an error rate) and, with intervals,
            ``interval_outside_0_1`` (an interval reaches beyond [0, 1]); a
            :class:`~scalefit.ScalingWarning` names those rows.
        """
        if interval is not None:
            interval = check.probability(interval, "interval")
        seed = check.integer(seed, "seed", minimum=0)
        model = _extrapolation_model(extrapolation)
        if interval is not None and self.draws is None and self.runs.extrapolation is None:
            raise ScalefitError(
                "predict(): this fit has no bootstrap replicates, so it has no intervals; refit with "
                "bootstrap=1000, or call predict(..., interval=None)"
            )
        frame, x = self._variables(data)
        out = pd.DataFrame({v: x[v] for v in self.law.variables}, index=frame.index)
        with np.errstate(over="ignore", under="ignore"):
            out["mean"] = np.asarray(self.law.evaluate(self.params, x), dtype=float)
        if self.setup.method == "bayes" and self.draws is not None:
            posterior = {n: self.draws[n].to_numpy()[:, None] for n in self.law.parameters}
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                out["mean"] = np.median(np.asarray(self.law.evaluate(posterior, x), dtype=float), axis=0)
        spread = np.full(len(out), np.nan)  # half the log-width of the fit's own 90% prediction interval
        if interval is not None and self.draws is None:  # calibrated by a backtest only: no confidence interval
            out["ci_lower"] = out["ci_upper"] = np.nan
            out["pi_lower"] = out["pi_upper"] = out["mean"]
        elif interval is not None:
            if len(self.draws) == 0:
                for c in ("ci_lower", "ci_upper", "pi_lower", "pi_upper"):
                    out[c] = np.nan
                warnings.warn(
                    "predict(): no bootstrap replicate of this fit converged, so its intervals are NaN "
                    "(see the fit's notes); refit with a larger max_steps, or call predict(..., interval=None)",
                    ScalingWarning,
                    stacklevel=2,
                )
            else:
                boot = {n: self.draws[n].to_numpy()[:, None] for n in self.law.parameters}
                with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                    means = np.asarray(self.law.evaluate(boot, x), dtype=float)  # (B, m)
                means = np.where(np.isfinite(means), means, np.nan)
                _warn_nonfinite(means, out.index)
                out["ci_lower"], out["ci_upper"] = _quantiles(means, interval)
                with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                    new = self._new_runs(means, np.random.default_rng(seed))
                out["pi_lower"], out["pi_upper"] = _quantiles(new.reshape(-1, means.shape[1]), interval)
                own = (out["pi_lower"], out["pi_upper"])
                if interval != SPREAD_LEVEL:
                    own = _quantiles(new.reshape(-1, means.shape[1]), SPREAD_LEVEL)
                with np.errstate(divide="ignore", invalid="ignore"):
                    spread = 0.5 * np.log(np.asarray(own[1], dtype=float) / np.asarray(own[0], dtype=float))
        if interval is not None and self.runs.extrapolation is not None:
            _widen_by_calibration(out, self.runs.extrapolation, x, self.runs.ranges, interval)
        if self.runs.ranges:
            feats = ExtrapolationModel.features(self.law, self.params, self.runs.ranges, self.log_residual_scale, x)
            feats["spread"] = np.where(np.isfinite(spread), spread, 0.0)
            if interval is not None and model is not None:
                self._widen_beyond_runs(out, model, feats, interval)
        if interval is not None:
            self._sweep_unidentified(out, x)
        out["extrapolated"] = np.any([(x[v] < lo) | (x[v] > hi) for v, (lo, hi) in self.runs.ranges.items()], axis=0)
        if self.runs.ranges:
            out["decades_beyond"] = feats["distance"] / np.log(10.0)
            if model is not None:
                out["supported"] = model.supported(feats)
                far = ~out["supported"].to_numpy(dtype=bool)
                if far.any():
                    warnings.warn(
                        f"predict(): {int(far.sum())} of {len(out)} predictions lie up to "
                        f"{out['decades_beyond'].max():.2g} decades beyond the fitted runs, further than any curve "
                        f"the extrapolation model was calibrated on ({model.max_distance / np.log(10):.2g} decades; "
                        "column supported). The runs do not support that extrapolation: its intervals are widened "
                        "in proportion, which is a guess. Run closer to where you predict",
                        ScalingWarning,
                        stacklevel=2,
                    )
        reason = error_rate_reason(self)
        if reason is not None:
            _flag_error_rates(self, out, reason, interval)
        out.attrs["interval"] = interval
        return out

    def _widen_beyond_runs(self, out: pd.DataFrame, model: ExtrapolationModel, feats: Mapping, interval: float) -> None:
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
        _widen_to(out, beyond, lo, hi)
        out.attrs["extrapolation_model"] = repr(model)

    def _sweep_unidentified(self, out: pd.DataFrame, x: Mapping[str, np.ndarray]) -> None:
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
        alone = [g[0] for g in self.identifiability.flat if len(g) == 1 and g[0] in self.setup.problem.free]
        if not alone:
            return
        theta = self.law.to_internal(self.params)
        lo_all = out["mean"].to_numpy(dtype=float).copy()
        hi_all = lo_all.copy()
        moved = np.zeros(len(out), dtype=bool)
        for name in dict.fromkeys(alone):
            i = self.setup.problem.free.index(name)
            t0 = float(theta[name])
            lo, hi = self.setup.problem.lo[i], self.setup.problem.hi[i]
            span = 7.0 if self.law.specs[name].role != "exponent" else 3.0
            grid = np.linspace(max(lo, t0 - span), min(hi, t0 + span), 41)
            paper = self.law.from_internal({**theta, name: grid[:, None]})
            with np.errstate(all="ignore"):
                vals = np.asarray(self.law.evaluate(paper, x), dtype=float)  # (grid, rows)
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
                stacklevel=3,
            )

    def _new_runs(self, means: np.ndarray, rng) -> np.ndarray:
        """Simulated targets of new runs around each draw's mean law, (reps, draws, configs).

        ``bayes``: the posterior predictive — each draw's noise model (its ``sigma``, ``nu``).
        ``lsq``: each replicate's mean plus a residual resampled from the fit.
        """
        reps = max(1, 10_000 // means.shape[0])
        shape = (reps,) + means.shape
        if self.bayes is None:
            r = rng.choice(self.runs.residuals, size=shape)  # log(pred) - log(y), or pred - y
            return means[None] * np.exp(-r) if self.setup.objective.log else means[None] - r
        if "sigma" not in self.draws:
            raise ScalefitError(
                "this fit used a known per-run noise_scale, which is unknown for new runs; "
                "use the credible interval of the mean (ci_lower/ci_upper)"
            )
        sigma = self.draws["sigma"].to_numpy()[None, :, None]
        if self.bayes.noise == "normal":
            return means[None] + sigma * rng.standard_normal(shape)
        if self.bayes.noise == "lognormal":
            return means[None] * np.exp(sigma * rng.standard_normal(shape))
        nu = self.draws["nu"].to_numpy()[None, :, None]
        return means[None] * np.exp(sigma * rng.standard_t(np.broadcast_to(nu, shape)))

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-density of each fitted run under each posterior draw (draws, runs)."""
        self._require_bayes("log_likelihood()")
        from scalefit.fitting.bayes import log_likelihood

        x = {v: np.asarray(a) for v, a in self.runs.data["x"].items()}
        scale = self.runs.data.get("noise_scale")
        frame = {c: self.draws[c].to_numpy() for c in self.draws.columns}
        return log_likelihood(self.law, self.setup.problem, self.bayes.noise, frame, x, np.asarray(self.runs.data["y"]), scale)

    def to_arviz(self):
        """ArviZ InferenceData: posterior (chain, draw) of every sampled site, the pointwise
        log-likelihood and the observed targets."""
        self._require_bayes("to_arviz()")
        from scalefit.results.diagnostics import to_inference_data

        names = [n for n in self.sites if n not in self.setup.problem.fixed and n not in self.setup.problem.tied]
        return to_inference_data(self.draws, self.bayes.chains, names, self.log_likelihood(), np.asarray(self.runs.data["y"]))

    def _require_bayes(self, what: str) -> None:
        if self.setup.method != "bayes":
            raise ScalefitError(f"{what} needs posterior draws; fit with method='bayes'")

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole fit as JSON-ready Python: ``json.dumps(fit.to_dict(), allow_nan=False)``
        works, non-finite numbers being the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
        :func:`scalefit.load_fit` reads it back."""
        return fit_dict(self)

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """Strict JSON text of the whole fit (draws included); also written to ``path`` if given.

        Non-finite numbers are written as the strings ``"NaN"``, ``"Infinity"`` and
        ``"-Infinity"`` (strict JSON has no NaN), and :func:`load_fit` reads them back
        exactly. ``path`` is checked before anything is built (its directory must exist; a
        directory or a device is refused); the file is written through a temporary file and
        a rename, so it is never left half-written, and a symlink is followed. ``"-"``
        writes to standard output.
        """
        return write_json(self.to_dict, path, indent)

    # -- display -----------------------------------------------------------------------
    def __repr__(self) -> str:
        if self.setup.method == "given":
            params = ", ".join(f"{n}={v:.6g}" for n, v in self.params.items())
            draws = "" if self.draws is None else f"; {len(self.draws)} draws"
            return f"Fit of law {self.law.name!r} with given parameters (not fitted to runs{draws}): {params}"
        bayes = self.setup.method == "bayes"
        how = (
            f"method bayes (NUTS), noise {self.bayes.noise}"
            if bayes
            else f"method {self.setup.method}, objective {self.setup.objective} = {self.value:.6g}"
        )
        lines = [
            f"Fit of law {self.law.name!r}: {self.target} = {self.law.formula()}",
            f"  {how}, {self.runs.n_runs} runs from {self.setup.source}",
        ]
        table = self.summary() if self.draws is not None else None
        label = "posterior median, 95% credible" if self.setup.method == "bayes" else "best fit, 95% bootstrap"
        if table is not None:
            lines.append(f"  parameters ({label}):")
        names = list(self.sites) if table is None else list(table.index)
        for name in names:
            value = table.loc[name, "estimate"] if table is not None else self.params[name]
            text = f"    {name:>16} = {value:.6g}"
            how = "free" if table is None else table.loc[name, "how"]
            if table is not None and how not in ("not identified", "fixed"):
                text += f"   [{table.loc[name, 'lower']:.4g}, {table.loc[name, 'upper']:.4g}]"
            if how != "free":
                text += f"   ({how})"
            lines.append(text)
        if self.runs.misfit is not None:
            from scalefit.results.intervals import misfit_text

            flags = self.lack_of_fit
            head = misfit_text(self.runs.misfit)[0]
            lines.append(
                f"  residuals: {head}; "
                + (f"LACK OF FIT along {', '.join(flags)} (see note)" if flags else "no lack of fit by level")
            )
        if not bayes:  # a Bayesian fit reports its sampling, not the least-squares start it began from
            lines.append(f"  status: {self.status.message}")
            lines.append(f"  starts: {self.starts}")
        if bayes:
            d = self.bayes.diagnostics
            lines.append(
                f"  NUTS: {d['chains']} chains x {d['draws_per_chain']} draws, noise {self.bayes.noise}; "
                f"max R-hat {_worst(d['r_hat'].values(), max):.3f}, "
                f"min bulk ESS {_worst(d['ess_bulk'].values(), min):.0f}, "
                f"{d['divergences']} divergences (chains initialised at the least-squares optimum)"
            )
            ok, problems = diagnostics_ok(d)
            lines.append("  sampling: converged" if ok else f"  sampling: NOT converged — {'; '.join(problems)}")
        elif self.draws is not None:
            asked = self.bootstrap.requested or len(self.draws)
            lsq = self.setup.method == "lsq" and len(self.draws) > 1
            rel = self.bootstrap_error()["relative"].to_numpy(dtype=float) if lsq else np.array([])
            mc = (
                f"; 95% endpoints within {np.max(rel[np.isfinite(rel)]):.1%} of their width (Monte-Carlo s.e.)"
                if np.isfinite(rel).any()
                else ""
            )
            lines.append(
                f"  bootstrap: {asked} case-resampling replicates, {self.bootstrap.converged:.0%} converged "
                f"({len(self.draws)} kept){mc}"
            )
        lines.append(f"  identifiability: {self.identifiability}")
        shown = "\n".join(lines)
        said = [] if bayes else [self.status.message]
        lines.extend(f"  note: {n}" for n in self.notes if n not in shown and not any(t in n for t in said))
        return "\n".join(lines)

    __str__ = __repr__
