"""The fit result: parameters, uncertainty, diagnostics; immutable; saves as JSON.

:class:`Fit` holds the fitted law's fields and its tables (``summary``, ``bootstrap_error``,
``identify``, ``residuals_by``) and persistence (``to_dict``/``to_json``). Its predictions are
computed in :mod:`scalefit.results.prediction` (:meth:`Fit.predict` calls
:func:`~scalefit.results.prediction.predict`) and its text display in
:mod:`scalefit.results.display_fit`.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Any

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError, format_rows
from scalefit.files import write_json
from scalefit.fitting.objective import Objective
from scalefit.fitting.problem import Problem
from scalefit.laws.catalogue import as_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Term
from scalefit.results.display_fit import fit_text
from scalefit.results.domain import domain, inside
from scalefit.results.identify import Identifiability, IntervalRule, interval_problems, with_intervals
from scalefit.results.prediction import near, numeric_column, predict
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
            f"draws has column {extra[0]!r}{near(extra[0], names)}, which is not a parameter of law "
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
                else near(variable, variables)
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
            than any curve the extrapolation model was calibrated on, or beyond the runs in a
            variable they hold at fewer than 4 distinct values; a warning names them).

            When the target is an error rate (the law's ``metric="error_rate"``; or a law
            with no metric, a target named like ``error``/``err``/``error_rate`` and every
            fitted run in [0, 1]) also ``outside_0_1`` (the prediction is below 0 or above 1,
            or not a number: meaningless for an error rate) and, with intervals,
            ``interval_outside_0_1`` (an interval reaches beyond [0, 1]); a
            :class:`~scalefit.ScalingWarning` names those rows.
        """
        return predict(self, data, interval, seed=seed, extrapolation=extrapolation)

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-density of each fitted run under each posterior draw (draws, runs)."""
        self._require_bayes("log_likelihood()")
        from scalefit.fitting.bayes import log_likelihood

        x = {v: np.asarray(a) for v, a in self.runs.data["x"].items()}
        scale = self.runs.data.get("noise_scale")
        frame = {c: self.draws[c].to_numpy() for c in self.draws.columns}
        y = np.asarray(self.runs.data["y"])
        return log_likelihood(self.law, self.setup.problem, self.bayes.noise, frame, x, y, scale)

    def to_arviz(self):
        """ArviZ InferenceData: posterior (chain, draw) of every sampled site, the pointwise
        log-likelihood and the observed targets."""
        self._require_bayes("to_arviz()")
        from scalefit.results.diagnostics import to_inference_data

        names = [n for n in self.sites if n not in self.setup.problem.fixed and n not in self.setup.problem.tied]
        y = np.asarray(self.runs.data["y"])
        return to_inference_data(self.draws, self.bayes.chains, names, self.log_likelihood(), y)

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
        return fit_text(self)

    __str__ = __repr__
