"""The fit result: parameters, uncertainty, diagnostics, predictions; immutable; saves as JSON.

One parameter dictionary (the law's names, paper form) is the source of truth for
``.params``, ``.summary()``, ``.draws`` and JSON. Saved fits are plain JSON — no pickles —
and load into an equal :class:`Fit`.

Fit files are strict JSON (RFC 8259): a non-finite number — a NaN R-hat, an infinite
condition number, a scale at infinity, a NaN cell of the draws — is written as one of the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` wherever a number belongs, and read back
as that float. Strings in text fields (a target or source named ``"NaN"``) stay strings:
only fields that hold numbers are decoded. Files written by older versions, with bare
``NaN``/``Infinity`` tokens, still load. :func:`load_fit` checks every field before
building the fit, and names the file and the field of anything it refuses.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _validate as check
from ._bayes import NOISES, _number, diagnostics_ok
from ._errors import ScalefitError, ScalingWarning, format_rows
from ._identify import Identifiability, _ratio
from ._io import atomic_write, output_path
from ._laws import Law, Term, as_law
from ._lsq import OBJECTIVES, Objective
from ._optim import CONVERGED, STATUS_TEXT
from ._problem import Problem

FORMAT = "scalefit.fit/1"
METHODS = ("lsq", "bayes", "given")

#: How a non-finite number is written in a fit file (strict JSON has no NaN or Infinity).
NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


@dataclass(frozen=True)
class Convergence:
    """How the optimiser stopped for the chosen optimum, with advice when it did not converge."""

    code: int
    steps: int
    grad_norm: float
    max_steps: int

    @property
    def converged(self) -> bool:
        return self.code in CONVERGED

    @property
    def message(self) -> str:
        text = f"{STATUS_TEXT[self.code]} after {self.steps} steps (gradient norm {self.grad_norm:.2g})"
        if not self.converged:
            text += (
                f"; increase max_steps (now {self.max_steps}), or check the identifiability "
                "report: a flat direction keeps the optimiser crawling"
            )
        return text

    def to_dict(self) -> dict:
        return {"code": self.code, "steps": self.steps, "grad_norm": self.grad_norm, "max_steps": self.max_steps}


@dataclass(frozen=True)
class StartsReport:
    """What the multi-start search found: is the best optimum unique?

    Every start takes a few steps; the ``n_polished`` best continue to convergence.
    ``best_values`` are the lowest objective values over distinct starts; ``spread`` is,
    for each parameter, the relative range ``(max - min) / |best|`` among the starts whose
    objective is within ``rtol`` of the best. A large spread at equal objective means the
    optimum is not unique (a flat valley), whatever the chosen point says.
    """

    n_starts: int
    n_polished: int
    n_converged: int
    n_at_best: int
    best_values: list[float]
    spread: dict[str, float]
    rtol: float = 1e-6

    @property
    def unique(self) -> bool:
        return all(v < 1e-3 for v in self.spread.values())

    def __str__(self) -> str:
        worst = max(self.spread, key=self.spread.get) if self.spread else None
        text = (
            f"{self.n_starts} starts, the best {self.n_polished} polished: {self.n_converged} "
            f"converged, {self.n_at_best} reached the best objective (within rtol {self.rtol:g})"
        )
        if worst is None or self.unique:
            return text + "; optimum unique"
        return text + (
            f"; NOT unique: at equal objective {worst} varies by {_ratio(self.spread[worst])} — "
            "see the identifiability report"
        )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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
        arr = _numeric_column(draws[n], f"draws column {n!r}", draws.index)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ScalefitError(
                f"draws column {n!r} has NaN or infinite values in {format_rows(draws.index[bad])}; "
                "drop those draws (e.g. draws.dropna())"
            )
        low, high, low_open, text = _domain(law, n)
        bad = ~_inside(arr, low, high, low_open)
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


def _numeric_column(raw: pd.Series, what: str, index) -> np.ndarray:
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


def _quantiles(a: np.ndarray, interval: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Central quantiles over finite values only (NaN where there are none: the caller warns)."""
    tail = (1.0 - interval) / 2.0
    a = np.where(np.isfinite(a), a, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: reported by _warn_nonfinite
        return np.nanquantile(a, tail, axis=axis), np.nanquantile(a, 1.0 - tail, axis=axis)


def _worst(values, pick) -> float:
    """``max``/``min`` of diagnostics, NaN if any is NaN (a NaN R-hat is a failure, not skipped)."""
    values = [_number(v) for v in values]
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


# -- parameter domains ---------------------------------------------------------------------
_ROLE_DOMAIN = {  # paper form: (low, low_open); every parameter is below +inf
    "constant": (0.0, False),
    "amplitude": (0.0, True),
    "scale": (0.0, True),
    "exponent": (0.0, False),
}


def _domain(law: Law, name: str, problem: Problem | None = None) -> tuple[float, float, bool, str]:
    """``(low, high, low_open, text)`` of a parameter's paper-form values: its role's range
    (constants >= 0, amplitudes and scales > 0, exponents >= 0), narrowed to the fit's
    bounds for a free parameter of ``problem``."""
    role = law.specs[name].role
    low, low_open = _ROLE_DOMAIN[role]
    high = math.inf
    if problem is not None and name in problem.free:
        i = problem.free.index(name)
        lo, hi = float(problem.lo[i]), float(problem.hi[i])
        with np.errstate(over="ignore"):
            if role == "exponent":
                low, high = lo, hi
            elif role == "scale":  # internal -log(lambda): the order reverses
                low, high = float(np.exp(-hi)), float(np.exp(-lo))
            else:
                low, high = float(np.exp(lo)), float(np.exp(hi))
        low_open = low_open and low == 0.0
    parts = [] if low == -math.inf else [f"{'>' if low_open else '>='} {low:g}"]
    if high < math.inf:
        parts.append(f"<= {high:g}")
    what = {"exponent": "an exponent", "constant": "a constant", "amplitude": "an amplitude", "scale": "a scale"}
    return low, high, low_open, f"{' and '.join(parts) or 'any finite value'}; {name} is {what[role]}"


def _inside(value: np.ndarray | float, low: float, high: float, low_open: bool) -> np.ndarray:
    """Whether values lie in the domain, allowing rounding (1e-9 relative) at a finite end."""
    v = np.asarray(value, dtype=float)
    tol_lo = 1e-9 * max(1.0, abs(low)) if np.isfinite(low) else 0.0
    tol_hi = 1e-9 * max(1.0, abs(high)) if np.isfinite(high) else 0.0
    above = v > low if low_open else v >= low - (0.0 if low == 0.0 else tol_lo)
    return above & (v <= high + tol_hi)


def _shown(values) -> str:
    """A few values for a message: ``135.5, 4e+236`` (and a count if more)."""
    values = [float(v) for v in values]
    text = ", ".join(f"{v:.4g}" for v in values[:5])
    return text + (f" and {len(values) - 5} more" if len(values) > 5 else "")


# -- bounded targets (error rates) ---------------------------------------------------------
_ERROR_NAME = re.compile(r"^(top[-_]?\d+[-_]?)?(test[-_]|val[-_]|eval[-_])?(error|err)([-_]?rate)?$", re.IGNORECASE)


def _error_rate_reason(fit: Fit) -> str | None:
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
    y = None if fit.data is None else np.asarray(fit.data.get("y", []), dtype=float)
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
    where = "to the fitted runs (see column extrapolated)" if fit.ranges else "to where the law was measured"
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


# -- strict JSON ---------------------------------------------------------------------------
def _encode(obj: Any) -> Any:
    """``obj`` as strict-JSON-ready Python: non-finite floats as ``"NaN"``/``"Infinity"``/
    ``"-Infinity"``, numpy scalars and arrays as Python numbers and lists."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        if math.isfinite(v):
            return v
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(obj, np.ndarray):
        return [_encode(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"cannot write a fit with a non-string key {k!r} ({type(k).__name__})")
            out[k] = _encode(v)
        return out
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    raise TypeError(f"cannot write {type(obj).__name__} {obj!r} to a fit file")


@dataclass(frozen=True, repr=False)
class Fit:
    """A fitted law. Immutable; build one with :func:`scalefit.fit_law`.

    Attributes
    ----------
    law : Law
    params : dict
        Best-fit parameters, paper form (``lambda_p``, not ``log A``).
    value : float
        Objective at ``params``.
    objective : Objective
        What was minimised (recorded, so fits with different losses are not confused).
    status : Convergence
        How the optimiser stopped for the chosen optimum.
    starts : StartsReport
        Multi-start summary: how many starts reached the best objective, and whether the
        parameters agree among them.
    identifiability : Identifiability
        Condition number, trade-offs and flat directions at the optimum, in plain words.
    draws : DataFrame or None
        ``lsq``: bootstrap replicates of every parameter (paper form), one row per
        replicate. ``bayes``: posterior draws, chain-major, with ``sigma`` (and ``nu``).
    noise, chains, diagnostics, priors, data
        ``bayes`` only: the noise model, the number of chains, R-hat/ESS/divergences,
        the priors used (as text) and the runs fitted (for log-likelihoods and ArviZ).
    residuals : ndarray
        Residuals at the optimum (log-residuals for log objectives), per run.
    """

    law: Law
    method: str
    objective: Objective
    target: str
    mapping: dict[str, str]
    problem: Problem
    params: dict[str, float]
    value: float
    status: Convergence
    starts: StartsReport
    identifiability: Identifiability
    residuals: np.ndarray
    ranges: dict[str, tuple[float, float]]
    n_runs: int
    draws: pd.DataFrame | None = None
    bootstrap_converged: float | None = None
    seed: int = 0
    source: str = "<DataFrame>"
    notes: tuple[str, ...] = field(default_factory=tuple)
    chains: int = 1
    noise: str | None = None
    diagnostics: dict | None = None
    data: dict | None = None
    priors: dict | None = None
    bounds: dict[str, dict] = field(default_factory=dict)
    misfit: dict | None = None
    bootstrap_requested: int | None = None

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
        (constants >= 0, amplitudes and scales > 0, exponents >= 0). ``draws`` (one column
        per parameter, finite values in the same ranges) stand in for bootstrap or posterior
        draws; the noise columns ``sigma``/``nu`` of a Bayesian fit's draws are ignored.
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
            low, high, low_open, text = _domain(law, n)
            v = check.number(params[n], f"params[{n!r}]")
            if not _inside(v, low, high, low_open):
                raise ScalefitError(f"params[{n!r}] = {v!r} is outside its range ({text}); give a value in that range")
            values[n] = v
        if target is not None:
            check.text(target, "target")
        table = None if draws is None else _given_draws(law, draws)
        return cls(
            law=law,
            method="given",
            objective=Objective("huber", 1e-3),
            target=target or law.metric or "target",
            mapping={v: v for v in law.variables},
            problem=Problem.build(law),
            params=values,
            value=float("nan"),
            status=Convergence(0, 0, float("nan"), 0),
            starts=StartsReport(0, 0, 0, 0, [], {}),
            identifiability=Identifiability(float("nan"), []),
            residuals=np.zeros(1),
            ranges={},
            n_runs=0,
            draws=table,
            source="given parameters",
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
        from ._identify import combination_values
        from ._intervals import parameter_interval

        interval = check.probability(interval, "interval")
        unidentified = set(self.identifiability.not_identified)
        rows = []
        for name in self.sites:
            bound = self.bounds.get(name)
            if name not in self.law.parameters:
                how = f"noise ({self.noise})"
            elif name in self.problem.fixed:
                how = "fixed"
            elif name in self.problem.tied:
                how = f"tied to {self.problem.tied[name]}"
            elif bound is not None:
                how = f"at {bound['side']} bound {bound['value']:g}"
            elif name in unidentified:
                how = "not identified"
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
            if self.diagnostics is not None:
                for key in ("r_hat", "ess_bulk", "ess_tail"):
                    row[key] = self.diagnostics[key].get(name, np.nan)
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
        df = pd.DataFrame(rows).set_index("parameter")
        df.attrs["interval"] = interval
        if self.misfit is not None:
            df.attrs["residual_rms"] = self.misfit["rms"]
            df.attrs["lack_of_fit"] = self.lack_of_fit
        return df

    @property
    def lack_of_fit(self) -> list[str]:
        """Variables along which the residuals show a lack of fit (see :attr:`misfit`)."""
        return [] if self.misfit is None else [v for v, d in self.misfit["by"].items() if d["flag"]]

    def residuals_by(self, variable: str) -> pd.DataFrame:
        """Residuals of the fitted runs grouped by the levels of ``variable``: count, mean
        and rms at each level. A trend in ``mean`` is a lack of fit along that variable."""
        from ._intervals import residuals_by

        variables = list(self.law.variables)
        if not isinstance(variable, str):
            raise TypeError(
                f"residuals_by(): variable must be the name of a law variable, one of {variables}, "
                f"got {variable!r} ({type(variable).__name__})"
            )
        if variable not in variables:
            by_column = {c: v for v, c in self.mapping.items() if c != v}
            hint = (
                f" (it is the column mapped to {by_column[variable]!r}; use that name)"
                if variable in by_column
                else _near(variable, variables)
            )
            raise ScalefitError(
                f"residuals_by(): variable {variable!r} is not a variable of law {self.law.name!r}{hint}; "
                f"its variables are {variables}"
            )
        if self.data is None:
            raise ScalefitError(
                "residuals_by(): this fit holds no runs (it was given parameters, or saved by an old version); "
                "refit the runs with fit_law to see residuals"
            )
        x = {v: np.asarray(a, dtype=float) for v, a in self.data["x"].items()}
        return residuals_by(self._fitted_residuals(), x, variable)

    def _fitted_residuals(self) -> np.ndarray:
        """Residuals of the fitted runs at ``params`` (log-residuals for log objectives and
        for Bayesian fits with log-scale noise)."""
        if self.method == "lsq":
            return np.asarray(self.residuals, dtype=float)
        x = {v: np.asarray(a, dtype=float) for v, a in self.data["x"].items()}
        y = np.asarray(self.data["y"], dtype=float)
        pred = np.asarray(self.law.evaluate(self.params, x), dtype=float)
        return pred - y if self.noise == "normal" else np.log(pred) - np.log(y)

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
            col = v if v in columns else self.mapping.get(v)
            if col not in columns:
                alt = f" or {self.mapping[v]!r}" if self.mapping.get(v, v) != v else ""
                raise ScalefitError(
                    f"predict(): data needs a column {v!r}{alt} for law variable {v}"
                    f"{_near(v, columns)}; got columns {columns}"
                )
            if isinstance(data[col], pd.DataFrame):
                raise ScalefitError(f"predict(): data has more than one column named {col!r}; keep one")
            what = f"predict(): data column {col!r} (law variable {v})"
            arr = _numeric_column(data[col], what, data.index)
            for bad, problem in (
                (np.isnan(arr), "missing (NaN) values"),
                (np.isinf(arr), "infinite values"),
                (arr <= 0, "non-positive values"),
            ):
                if bad.any():
                    raise ScalefitError(
                        f"{what} has {problem} in {format_rows(data.index[bad])} (e.g. {arr[bad][0]:g}); "
                        "scaling-law variables must be finite and > 0 (a count of samples or parameters) — "
                        "fix or remove those rows"
                    )
            x[v] = arr
        return data, x

    def predict(self, data, interval: float | None = 0.9, *, seed: int = 0) -> pd.DataFrame:
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

        Returns
        -------
        DataFrame
            The variables, ``mean`` (least squares: the law at the best fit; Bayes: the
            posterior median of the law at each configuration — not the law at the parameters'
            medians, which can fall outside the credible interval when extrapolating), ``ci_lower``/``ci_upper``
            (confidence interval of the mean law, from the bootstrap replicates),
            ``pi_lower``/``pi_upper`` (prediction interval of a new run: each replicate's
            mean plus a residual resampled from the fit) and ``extrapolated`` (outside the
            range of the fitted runs in some variable).

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
        if interval is not None and self.draws is None:
            raise ScalefitError(
                "predict(): this fit has no bootstrap replicates, so it has no intervals; refit with "
                "bootstrap=1000, or call predict(..., interval=None)"
            )
        frame, x = self._variables(data)
        out = pd.DataFrame({v: x[v] for v in self.law.variables}, index=frame.index)
        with np.errstate(over="ignore", under="ignore"):
            out["mean"] = np.asarray(self.law.evaluate(self.params, x), dtype=float)
        if self.method == "bayes" and self.draws is not None:
            posterior = {n: self.draws[n].to_numpy()[:, None] for n in self.law.parameters}
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                out["mean"] = np.median(np.asarray(self.law.evaluate(posterior, x), dtype=float), axis=0)
        if interval is not None:
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
        out["extrapolated"] = np.any([(x[v] < lo) | (x[v] > hi) for v, (lo, hi) in self.ranges.items()], axis=0)
        reason = _error_rate_reason(self)
        if reason is not None:
            _flag_error_rates(self, out, reason, interval)
        out.attrs["interval"] = interval
        return out

    def _new_runs(self, means: np.ndarray, rng) -> np.ndarray:
        """Simulated targets of new runs around each draw's mean law, (reps, draws, configs).

        ``bayes``: the posterior predictive — each draw's noise model (its ``sigma``, ``nu``).
        ``lsq``: each replicate's mean plus a residual resampled from the fit.
        """
        reps = max(1, 10_000 // means.shape[0])
        shape = (reps,) + means.shape
        if self.noise is None:
            r = rng.choice(self.residuals, size=shape)  # log(pred) - log(y), or pred - y
            return means[None] * np.exp(-r) if self.objective.log else means[None] - r
        if "sigma" not in self.draws:
            raise ScalefitError(
                "this fit used a known per-run noise_scale, which is unknown for new runs; "
                "use the credible interval of the mean (ci_lower/ci_upper)"
            )
        sigma = self.draws["sigma"].to_numpy()[None, :, None]
        if self.noise == "normal":
            return means[None] + sigma * rng.standard_normal(shape)
        if self.noise == "lognormal":
            return means[None] * np.exp(sigma * rng.standard_normal(shape))
        nu = self.draws["nu"].to_numpy()[None, :, None]
        return means[None] * np.exp(sigma * rng.standard_t(np.broadcast_to(nu, shape)))

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-density of each fitted run under each posterior draw (draws, runs)."""
        self._require_bayes("log_likelihood()")
        from ._bayes import log_likelihood

        x = {v: np.asarray(a) for v, a in self.data["x"].items()}
        scale = self.data.get("noise_scale")
        frame = {c: self.draws[c].to_numpy() for c in self.draws.columns}
        return log_likelihood(self.law, self.problem, self.noise, frame, x, np.asarray(self.data["y"]), scale)

    def to_arviz(self):
        """ArviZ InferenceData: posterior (chain, draw) of every sampled site, the pointwise
        log-likelihood and the observed targets."""
        self._require_bayes("to_arviz()")
        from ._bayes import to_inference_data

        names = [n for n in self.sites if n not in self.problem.fixed and n not in self.problem.tied]
        return to_inference_data(self.draws, self.chains, names, self.log_likelihood(), np.asarray(self.data["y"]))

    def _require_bayes(self, what: str) -> None:
        if self.method != "bayes":
            raise ScalefitError(f"{what} needs posterior draws; fit with method='bayes'")

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole fit as JSON-ready Python: ``json.dumps(fit.to_dict(), allow_nan=False)``
        works, non-finite numbers being the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
        (see the module docstring); :meth:`from_dict` reads it back."""
        from . import __version__

        return _encode(
            {
                "format": FORMAT,
                "scalefit_version": __version__,
                "law": self.law.to_dict(),
                "method": self.method,
                "objective": {"name": self.objective.name, "delta": self.objective.delta},
                "target": self.target,
                "mapping": self.mapping,
                "problem": self.problem.to_dict(),
                "params": self.params,
                "value": self.value,
                "status": self.status.to_dict(),
                "starts": self.starts.to_dict(),
                "identifiability": self.identifiability.to_dict(),
                "residuals": np.asarray(self.residuals, dtype=float),
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "n_runs": self.n_runs,
                "draws": None
                if self.draws is None
                else {str(k): v.to_numpy(dtype=float) for k, v in self.draws.items()},
                "bootstrap_converged": self.bootstrap_converged,
                "seed": self.seed,
                "source": self.source,
                "notes": list(self.notes),
                "chains": self.chains,
                "noise": self.noise,
                "diagnostics": self.diagnostics,
                "data": self.data,
                "priors": self.priors,
                "bounds": self.bounds,
                "misfit": self.misfit,
                "bootstrap_requested": self.bootstrap_requested,
            }
        )

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """Strict JSON text of the whole fit (draws included); also written to ``path`` if given.

        Non-finite numbers are written as the strings ``"NaN"``, ``"Infinity"`` and
        ``"-Infinity"`` (strict JSON has no NaN), and :func:`load_fit` reads them back
        exactly. ``path`` is checked before anything is built (its directory must exist; a
        directory or a device is refused); the file is written through a temporary file and
        a rename, so it is never left half-written, and a symlink is followed. ``"-"``
        writes to standard output.
        """
        if indent is not None:
            indent = check.integer(indent, "indent", minimum=0, fix="or None for one line")
        if path is not None:
            output_path(path, "path", stdout=True)
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            atomic_write(path, text, "path")
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fit:
        """Rebuild a fit from :meth:`to_dict` output (or a parsed fit file), checking every
        field first; a field that is missing, of the wrong type, or impossible (a negative
        amplitude, a NaN parameter, a null in the draws) is a :class:`ScalefitError` naming it."""
        if not isinstance(d, Mapping):
            raise TypeError(f"Fit.from_dict() takes the dict of Fit.to_dict(), got {type(d).__name__}")
        return _Reader("fit dict").fit(d)

    # -- display -----------------------------------------------------------------------
    def __repr__(self) -> str:
        if self.method == "given":
            params = ", ".join(f"{n}={v:.6g}" for n, v in self.params.items())
            draws = "" if self.draws is None else f"; {len(self.draws)} draws"
            return f"Fit of law {self.law.name!r} with given parameters (not fitted to runs{draws}): {params}"
        lines = [
            f"Fit of law {self.law.name!r}: {self.target} = {self.law.formula()}",
            f"  method {self.method}, objective {self.objective} = {self.value:.6g}, "
            f"{self.n_runs} runs from {self.source}",
        ]
        table = self.summary() if self.draws is not None else None
        label = "posterior median, 95% credible" if self.method == "bayes" else "best fit, 95% bootstrap"
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
        if self.misfit is not None:
            from ._intervals import misfit_text

            flags = self.lack_of_fit
            head = misfit_text(self.misfit)[0]
            lines.append(
                f"  residuals: {head}; "
                + (f"LACK OF FIT along {', '.join(flags)} (see note)" if flags else "no lack of fit by level")
            )
        lines.append(f"  status: {self.status.message}")
        lines.append(f"  starts: {self.starts}")
        if self.method == "bayes":
            d = self.diagnostics
            lines.append(
                f"  NUTS: {d['chains']} chains x {d['draws_per_chain']} draws, noise {self.noise}; "
                f"max R-hat {_worst(d['r_hat'].values(), max):.3f}, "
                f"min bulk ESS {_worst(d['ess_bulk'].values(), min):.0f}, "
                f"{d['divergences']} divergences (initialised at the least-squares optimum below)"
            )
            ok, problems = diagnostics_ok(d)
            lines.append("  sampling: converged" if ok else f"  sampling: NOT converged — {'; '.join(problems)}")
        elif self.draws is not None:
            asked = self.bootstrap_requested or len(self.draws)
            lines.append(
                f"  bootstrap: {asked} case-resampling replicates, {self.bootstrap_converged:.0%} converged "
                f"({len(self.draws)} kept)"
            )
        lines.append(f"  identifiability: {self.identifiability}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = __repr__


def load_fit(source: str | os.PathLike) -> Fit:
    """Load a fit saved by :meth:`Fit.to_json` (a path, or the JSON text itself).

    Every field is checked before the fit is built: a file that is missing, a directory,
    empty, not UTF-8, not JSON, truncated, written by a newer scalefit, or edited into
    something impossible (a negative exponent, a NaN parameter, a null in the draws) is
    refused with a :class:`ScalefitError` naming the file and the field.
    """
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        return _parse(source, "fit JSON text")
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"load_fit() takes the path of a fit file (or its JSON text), got {type(source).__name__}; "
            "save a fit with fit.to_json(path)"
        )
    path = Path(source).expanduser()
    label = f"fit file {os.fspath(source)!r}"
    if not os.fspath(source):
        raise ScalefitError("load_fit(): the path is empty; give the path of a file written by fit.to_json(path)")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ScalefitError(f"{label} does not exist; check the path, or save a fit with fit.to_json(path)") from None
    except OSError as exc:
        raise ScalefitError(f"{label} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ScalefitError(f"{label} is a directory; give the path of a fit file inside it (e.g. fit.json)")
    if not stat.S_ISREG(mode):
        raise ScalefitError(
            f"{label} is not a regular file (a device, FIFO or socket); give a file written by fit.to_json(path)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScalefitError(f"{label} cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise ScalefitError(
            f"{label} is empty; it was truncated or never written — save the fit again with fit.to_json(path)"
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ScalefitError(
            f"{label} starts with a byte-order mark (an editor saved it as 'UTF-8 with BOM'); "
            "scalefit writes plain UTF-8 — save it again with fit.to_json(path)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScalefitError(
            f"{label} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); a fit file is the "
            "JSON text written by fit.to_json(path) — is this the right file?"
        ) from None
    return _parse(text, label)


def _parse(text: str, label: str) -> Fit:
    """Parse fit-file text (older files' bare NaN/Infinity tokens accepted) and check it."""

    def no_duplicates(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise ScalefitError(f"{label}: field {k!r} appears twice; the file was edited or damaged — {_REFIT}")
            out[k] = v
        return out

    try:
        d = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ScalefitError(
                f"{label} is not valid JSON: it ends early ({exc.msg} at {where}), so it was truncated "
                f"(an interrupted copy or write?) — {_REFIT}"
            ) from None
        raise ScalefitError(
            f"{label} is not valid JSON ({exc.msg} at {where}); was it written by fit.to_json()? — {_REFIT}"
        ) from None
    except RecursionError:
        raise ScalefitError(
            f"{label} is nested too deeply to be a fit file; was it written by fit.to_json()?"
        ) from None
    if not isinstance(d, dict):
        kind = {list: "a JSON list", str: "a JSON string", type(None): "null", bool: "a JSON boolean"}.get(
            type(d), "a JSON number"
        )
        raise ScalefitError(f"{label} holds {kind}, not a fit (a JSON object); was it written by fit.to_json()?")
    return _Reader(label).fit(d)


# -- reading fit files ---------------------------------------------------------------------
_REFIT = "refit and save it again with fit.to_json(path)"
_DAMAGED = f"the file was edited or damaged — {_REFIT}"
_REQUIRED = {
    "format": str,
    "law": dict,
    "method": str,
    "objective": dict,
    "target": str,
    "mapping": dict,
    "problem": dict,
    "params": dict,
    "value": (int, float, str),
    "status": dict,
    "starts": dict,
    "identifiability": dict,
    "residuals": list,
    "ranges": dict,
    "n_runs": int,
}
_OPTIONAL = (
    "scalefit_version",
    "draws",
    "bootstrap_converged",
    "seed",
    "source",
    "notes",
    "chains",
    "noise",
    "diagnostics",
    "data",
    "priors",
    "bounds",
    "misfit",
    "bootstrap_requested",
)
_JSON_TYPE = {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true or false"}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _newer(version: str, than: str) -> bool | None:
    """Whether scalefit ``version`` is newer than ``than`` by their release numbers
    (``0.2.0`` > ``0.1.3``); ``None`` when either has none (``0+unknown`` is a source tree)."""
    if than.startswith("0+"):  # this scalefit runs from an unversioned source tree
        return None
    parts = []
    for v in (version, than):
        m = re.match(r"^v?(\d+(?:\.\d+)*)", v.strip())
        if m is None:
            return None
        parts.append([int(x) for x in m.group(1).split(".")])
    a, b = parts
    width = max(len(a), len(b))
    return a + [0] * (width - len(a)) > b + [0] * (width - len(b))


class _Reader:
    """Checks a parsed fit file field by field and builds the :class:`Fit`.

    Every refusal names the file (``label``) and the field (``params['alpha']``), shows the
    value, says what is allowed and ends with the fix. Numbers are decoded where numbers
    belong: a JSON number, or one of the strings of :data:`NONFINITE`.
    """

    def __init__(self, label: str):
        self.label = label

    # -- primitives ---------------------------------------------------------------------
    def fail(self, where: str, text: str, fix: str = _DAMAGED) -> ScalefitError:
        return ScalefitError(f"{self.label}: {where} {text}; {fix}")

    def kind(self, value: object, where: str, want: type | tuple, what: str) -> Any:
        if isinstance(value, bool) and bool not in (want if isinstance(want, tuple) else (want,)):
            raise self.fail(where, f"must be {what}, got {value!r}")
        if not isinstance(value, want):
            shown = f"{value!r:.60}" if not isinstance(value, dict | list) else _json_kind(value)
            raise self.fail(where, f"must be {what}, got {shown}")
        return value

    def obj(self, value: object, where: str) -> dict:
        return self.kind(value, where, dict, "an object")

    def lst(self, value: object, where: str) -> list:
        return self.kind(value, where, list, "a list")

    def text(self, value: object, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        return self.kind(value, where, str, "a string")

    def number(self, value: object, where: str, *, finite: bool = False, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        allowed = "a finite number" if finite else "a number (or 'NaN', 'Infinity', '-Infinity')"
        if isinstance(value, str) and value in NONFINITE:
            out = NONFINITE[value]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:
                out = float(value)
            except OverflowError:
                raise self.fail(where, f"= {value:.20} is too large for a number") from None
        else:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be {allowed}, got {got}")
        if finite and not math.isfinite(out):
            raise self.fail(where, f"= {value!r} is not finite; it must be {allowed}")
        return out

    def integer(self, value: object, where: str, minimum: int = 0, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            got = "null" if value is None else f"{value!r:.60}"
            raise self.fail(where, f"must be an integer >= {minimum}, got {got}")
        return int(value)

    def numbers(self, value: object, where: str, *, finite: bool = False) -> np.ndarray:
        """A list of numbers (NaN/Infinity encoded as strings) as a float array."""
        items = self.lst(value, where)
        out = np.empty(len(items), dtype=float)
        for i, v in enumerate(items):
            if isinstance(v, float | int) and not isinstance(v, bool):
                out[i] = v
            elif isinstance(v, str) and v in NONFINITE:
                out[i] = NONFINITE[v]
            else:
                got = "null" if v is None else f"{v!r:.60}"
                raise self.fail(
                    f"{where}[{i}]",
                    f"must be a number, got {got} (non-finite numbers are written as 'NaN', 'Infinity', '-Infinity')",
                )
            if finite and not math.isfinite(out[i]):
                raise self.fail(f"{where}[{i}]", f"= {v!r} is not finite")
        return out

    def names(self, value: object, where: str, allowed, what: str) -> list[str]:
        items = self.lst(value, where)
        for i, v in enumerate(items):
            if not isinstance(v, str) or v not in allowed:
                raise self.fail(f"{where}[{i}]", f"= {v!r:.60} is not a {what} of the law ({', '.join(allowed)})")
        return items

    def keys(self, d: dict, where: str, required, optional=()) -> None:
        missing = [k for k in required if k not in d]
        if missing:
            raise self.fail(where, f"is missing {missing}")
        extra = [k for k in d if k not in required and k not in optional]
        if extra:
            raise self.fail(where, f"has unknown field {extra[0]!r}{check.suggest(extra[0], [*required, *optional])}")

    def tree(self, value: object, where: str) -> Any:
        """A nested object of numbers, booleans, strings and nulls, with encoded non-finite
        numbers decoded (for diagnostics, misfit, profiles: objects whose strings are not
        free text, except under ``problems``)."""
        if isinstance(value, dict):
            return {k: (v if k == "problems" else self.tree(v, f"{where}[{k!r}]")) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return NONFINITE.get(value, value)
        return value

    # -- the fit ------------------------------------------------------------------------
    def fit(self, d: Mapping[str, Any]) -> Fit:
        from . import __version__

        self.header(d, __version__)
        law = self.law(d["law"])
        method = self.text(d["method"], "method")
        if method not in METHODS:
            raise self.fail("method", f"= {method!r} is not one of {', '.join(map(repr, METHODS))}")
        objective = self.objective(d["objective"])
        target = self.text(d["target"], "target")
        mapping = self.mapping(d["mapping"], law)
        problem = self.problem(d["problem"], law)
        bounds = self.bounds(d.get("bounds"), law)
        params = self.params(d["params"], law, problem, bounds)
        n_runs = self.integer(d["n_runs"], "n_runs", 0 if method == "given" else 1)
        residuals = self.numbers(d["residuals"], "residuals", finite=True)
        if method != "given" and len(residuals) != n_runs:
            raise self.fail("residuals", f"has {len(residuals)} values but n_runs is {n_runs}")
        chains = self.integer(d.get("chains", 1), "chains", 1)
        noise = self.text(d.get("noise"), "noise", optional=True)
        if noise is not None and noise not in NOISES:
            raise self.fail("noise", f"= {noise!r} is not one of {', '.join(map(repr, NOISES))}")
        if (method == "bayes") != (noise is not None):
            raise self.fail("noise", f"= {noise!r} does not go with method {method!r} (only 'bayes' has a noise model)")
        diagnostics = self.diagnostics(d.get("diagnostics"), method)
        data = self.data(d.get("data"), law, n_runs)
        draws = self.draws(d.get("draws"), law, method, noise, diagnostics, d.get("bootstrap_requested"))
        notes = self.lst(d.get("notes", []), "notes")
        for i, n in enumerate(notes):
            self.text(n, f"notes[{i}]")
        priors = d.get("priors")
        if priors is not None:
            for k, v in self.obj(priors, "priors").items():
                self.text(v, f"priors[{k!r}]")
        return Fit(
            law=law,
            method=method,
            objective=objective,
            target=target,
            mapping=mapping,
            problem=problem,
            params=params,
            value=self.number(d["value"], "value"),
            status=self.status(d["status"]),
            starts=self.starts(d["starts"], law),
            identifiability=self.identifiability(d["identifiability"], law),
            residuals=residuals,
            ranges=self.ranges(d["ranges"], law, method),
            n_runs=n_runs,
            draws=draws,
            bootstrap_converged=self.share(d.get("bootstrap_converged")),
            seed=self.integer(d.get("seed", 0), "seed", 0),
            source=self.text(d.get("source", ""), "source"),
            notes=tuple(notes),
            chains=chains,
            noise=noise,
            diagnostics=diagnostics,
            data=data,
            priors=priors,
            bounds=bounds,
            misfit=self.misfit(d.get("misfit"), law),
            bootstrap_requested=self.integer(d.get("bootstrap_requested"), "bootstrap_requested", 1, optional=True),
        )

    def header(self, d: Mapping[str, Any], installed: str) -> None:
        fmt = d.get("format")
        if fmt != FORMAT:
            if isinstance(fmt, str) and fmt.startswith("scalefit.fit/"):
                raise ScalefitError(
                    f"{self.label}: format {fmt!r} is not one this scalefit ({installed}) reads (it reads "
                    f"{FORMAT!r}); the file was written by another scalefit version"
                    + (f" ({d['scalefit_version']})" if isinstance(d.get("scalefit_version"), str) else "")
                    + " — upgrade scalefit (pip install -U scalefit) to load it, or refit"
                )
            shown = "no 'format' field" if "format" not in d else f"format {fmt!r:.60}"
            raise ScalefitError(
                f"{self.label}: not a scalefit fit file ({shown}, expected {FORMAT!r}); give a file written by "
                "fit.to_json(path)"
            )
        version = d.get("scalefit_version")
        if version is not None and not isinstance(version, str):
            raise self.fail("scalefit_version", f"must be a string, got {version!r:.60}")
        unknown = [k for k in d if k not in _REQUIRED and k not in _OPTIONAL]
        if unknown:
            newer = None if version is None else _newer(version, installed)
            written = "an unknown scalefit version" if version is None else f"scalefit {version}"
            if newer:
                raise ScalefitError(
                    f"{self.label}: has fields {unknown} that this scalefit ({installed}) does not know; the file "
                    f"was written by {written}, which is newer — upgrade scalefit (pip install -U scalefit) to "
                    "load it"
                )
            raise ScalefitError(
                f"{self.label}: has unknown fields {unknown}{check.suggest(unknown[0], [*_REQUIRED, *_OPTIONAL])} "
                f"(written by {written}, read by scalefit {installed}): the file may come from a newer scalefit "
                f"— upgrade scalefit if so; otherwise {_DAMAGED}"
            )
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ScalefitError(
                f"{self.label}: missing fields {missing}; the file is damaged or from an incompatible "
                f"scalefit version — {_REFIT}"
            )
        for key, want in _REQUIRED.items():
            value = d[key]
            wants = want if isinstance(want, tuple) else (want,)
            if isinstance(value, bool) or not isinstance(value, wants):
                what = "a number" if key == "value" else _JSON_TYPE[want]
                raise self.fail(key, f"must be {what}, got {_json_kind(value)}")

    def law(self, d: dict) -> Law:
        try:
            self.obj(d.get("expr"), "law['expr']")
            law = Law.from_dict(d)
        except ScalefitError as exc:
            if str(exc).startswith(self.label):
                raise
            raise self.fail("law", f"cannot be rebuilt: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            what = f"has no field {exc}" if isinstance(exc, KeyError) else f"cannot be rebuilt ({exc})"
            raise self.fail("law", what) from None
        for key in ("name", "reference", "description"):
            self.text(d.get(key, ""), f"law[{key!r}]")
        return law

    def objective(self, d: dict) -> Objective:
        self.keys(d, "objective", ("name",), ("delta",))
        name = self.text(d["name"], "objective['name']")
        if name not in OBJECTIVES:
            raise self.fail("objective['name']", f"= {name!r} is not one of {', '.join(map(repr, OBJECTIVES))}")
        delta = d.get("delta")
        if name == "huber":
            delta = self.number(delta, "objective['delta']", finite=True)
            if not delta > 0:
                raise self.fail("objective['delta']", f"= {delta!r} must be > 0 (the Huber threshold)")
        elif delta is not None:
            raise self.fail("objective['delta']", f"= {delta!r}: only objective 'huber' has a delta (null otherwise)")
        return Objective(name, delta)

    def mapping(self, d: dict, law: Law) -> dict[str, str]:
        self.keys(d, "mapping", law.variables)
        return {v: self.text(d[v], f"mapping[{v!r}]") for v in law.variables}

    def problem(self, d: dict, law: Law) -> Problem:
        names = law.parameters
        self.keys(d, "problem", ("free", "fixed", "tied", "lo", "hi"), ("centres",))
        free = self.names(d["free"], "problem['free']", names, "parameter")
        fixed = {}
        for k, v in self.obj(d["fixed"], "problem['fixed']").items():
            if k not in names:
                raise self.fail("problem['fixed']", f"names {k!r}, which is not a parameter of the law")
            fixed[k] = self.number(v, f"problem['fixed'][{k!r}]", finite=True)
        tied = {}
        for k, v in self.obj(d["tied"], "problem['tied']").items():
            if k not in names or v not in names:
                raise self.fail("problem['tied']", f"ties {k!r} to {v!r}; both must be parameters of the law")
            tied[k] = v
        groups = [*free, *fixed, *tied]
        if sorted(groups) != sorted(names):
            raise self.fail(
                "problem", f"does not give every parameter exactly one of free/fixed/tied (free {free}, "
                f"fixed {list(fixed)}, tied {list(tied)})"
            )  # fmt: skip
        ends = []
        for key, infinite in (("lo", -math.inf), ("hi", math.inf)):
            values = self.lst(d[key], f"problem[{key!r}]")
            if len(values) != len(free):
                raise self.fail(f"problem[{key!r}]", f"has {len(values)} values for {len(free)} free parameters")
            ends.append(
                np.array(
                    [infinite if v is None else self.number(v, f"problem[{key!r}][{i}]") for i, v in enumerate(values)],
                    dtype=float,
                )
            )
        lo, hi = ends
        if np.any(np.isnan(lo) | np.isnan(hi) | (lo > hi)):
            raise self.fail("problem", "has a bound that is NaN or a low end above the high end")
        centres = {}
        for k, v in self.obj(d.get("centres", {}), "problem['centres']").items():
            if k not in law.variables:
                raise self.fail("problem['centres']", f"names {k!r}, which is not a variable of the law")
            centres[k] = self.number(v, f"problem['centres'][{k!r}]", finite=True)
        return Problem(law, tuple(free), fixed, tied, lo, hi, centres)

    def params(self, d: dict, law: Law, problem: Problem, bounds: dict) -> dict[str, float]:
        names = law.parameters
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("params", f"is missing {missing}; law {law.name!r} has {list(names)}")
        extra = [n for n in d if n not in names]
        if extra:
            raise self.fail(
                "params", f"has {extra[0]!r}{check.suggest(extra[0], names)}, which law {law.name!r} does not have"
            )
        out = {}
        for n in names:
            where = f"params[{n!r}]"
            v = self.number(d[n], where)
            recorded = bounds.get(n, {}).get("value")
            if not math.isfinite(v) and v != recorded:
                raise self.fail(where, f"= {d[n]!r} is not finite")
            if n in problem.fixed:
                if v != problem.fixed[n]:
                    raise self.fail(where, f"= {v!r} differs from the value it was fixed at ({problem.fixed[n]!r})")
            elif n in problem.tied:
                pass  # compared with its target below
            else:
                low, high, low_open, text = _domain(law, n, problem)
                if not _inside(v, low, high, low_open) and v != recorded:
                    raise self.fail(where, f"= {v!r} is outside its domain ({text})")
            out[n] = v
        for n, t in problem.tied.items():
            if out[n] != out[t]:
                raise self.fail(
                    f"params[{n!r}]", f"= {out[n]!r} differs from params[{t!r}] = {out[t]!r}, to which it is tied"
                )
        return out

    def status(self, d: dict) -> Convergence:
        self.keys(d, "status", ("code", "steps", "grad_norm", "max_steps"))
        code = self.integer(d["code"], "status['code']")
        if code not in STATUS_TEXT:
            raise self.fail("status['code']", f"= {code} is not a known optimiser status ({sorted(STATUS_TEXT)})")
        return Convergence(
            code,
            self.integer(d["steps"], "status['steps']"),
            self.number(d["grad_norm"], "status['grad_norm']"),
            self.integer(d["max_steps"], "status['max_steps']"),
        )

    def starts(self, d: dict, law: Law) -> StartsReport:
        counts = ("n_starts", "n_polished", "n_converged", "n_at_best")
        self.keys(d, "starts", (*counts, "best_values", "spread"), ("rtol",))
        spread = {}
        for k, v in self.obj(d["spread"], "starts['spread']").items():
            if k not in law.parameters:
                raise self.fail("starts['spread']", f"names {k!r}, which is not a parameter of the law")
            spread[k] = self.number(v, f"starts['spread'][{k!r}]")
        return StartsReport(
            *(self.integer(d[k], f"starts[{k!r}]") for k in counts),
            best_values=self.numbers(d["best_values"], "starts['best_values']").tolist(),
            spread=spread,
            rtol=self.number(d.get("rtol", 1e-6), "starts['rtol']", finite=True),
        )

    def identifiability(self, d: dict, law: Law) -> Identifiability:
        where = "identifiability"
        self.keys(d, where, ("condition_number", "eigenvalues", "correlated", "flat", "messages"), ("combinations",))
        names = law.parameters
        correlated = []
        for i, c in enumerate(self.lst(d["correlated"], f"{where}['correlated']")):
            w = f"{where}['correlated'][{i}]"
            if not isinstance(c, list) or len(c) != 3:
                raise self.fail(w, "must be a list [name, name, correlation]")
            a, b = self.names(c[:2], w, names, "parameter")
            correlated.append((a, b, self.number(c[2], f"{w}[2]")))
        flat = [
            self.names(g, f"{where}['flat'][{i}]", names, "parameter")
            for i, g in enumerate(self.lst(d["flat"], f"{where}['flat']"))
        ]
        messages = self.lst(d["messages"], f"{where}['messages']")
        for i, m in enumerate(messages):
            self.text(m, f"{where}['messages'][{i}]")
        combos = []
        for i, c in enumerate(self.lst(d.get("combinations", []), f"{where}['combinations']")):
            w = f"{where}['combinations'][{i}]"
            self.keys(self.obj(c, w), w, ("members", "kind", "text"), ("inverse",))
            self.names(c["members"], f"{w}['members']", names, "parameter")
            self.names(c.get("inverse", []), f"{w}['inverse']", names, "parameter")
            if c["kind"] not in ("sum", "product"):
                raise self.fail(f"{w}['kind']", f"= {c['kind']!r:.40} is not 'sum' or 'product'")
            self.text(c["text"], f"{w}['text']")
            combos.append(dict(c))
        return Identifiability(
            self.number(d["condition_number"], f"{where}['condition_number']"),
            self.numbers(d["eigenvalues"], f"{where}['eigenvalues']").tolist(),
            correlated,
            flat,
            messages,
            combos,
        )

    def ranges(self, d: dict, law: Law, method: str) -> dict[str, tuple[float, float]]:
        out = {}
        for v, pair in d.items():
            where = f"ranges[{v!r}]"
            if v not in law.variables:
                raise self.fail(
                    "ranges", f"names {v!r}{check.suggest(v, law.variables)}, which is not a variable of the law"
                )
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail(where, f"must be a pair [low, high], got {pair!r:.60}")
            lo, hi = (self.number(x, f"{where}[{i}]", finite=True) for i, x in enumerate(pair))
            if not 0 < lo <= hi:
                raise self.fail(where, f"= [{lo:g}, {hi:g}] must be positive with low <= high")
            out[v] = (lo, hi)
        missing = [v for v in law.variables if v not in out]
        if method != "given" and missing:
            raise self.fail("ranges", f"is missing {missing}; a fitted law has the range of every variable")
        return out

    def share(self, value: object) -> float | None:
        out = self.number(value, "bootstrap_converged", optional=True)
        if out is not None and not 0.0 <= out <= 1.0:
            raise self.fail("bootstrap_converged", f"= {value!r} must be a share in [0, 1]")
        return out

    def bounds(self, d: object, law: Law) -> dict[str, dict]:
        out = {}
        for name, b in self.obj(d if d is not None else {}, "bounds").items():
            where = f"bounds[{name!r}]"
            if name not in law.parameters:
                raise self.fail("bounds", f"names {name!r}, which is not a parameter of the law")
            self.keys(self.obj(b, where), where, ("name", "side", "value", "text", "profile"))
            if b["name"] != name or b["side"] not in ("lower", "upper"):
                raise self.fail(
                    where, f"has name {b['name']!r:.40} and side {b['side']!r:.40} (need {name!r}, 'lower' or 'upper')"
                )
            self.text(b["text"], f"{where}['text']")
            profile = self.obj(b["profile"], f"{where}['profile']")
            self.keys(profile, f"{where}['profile']", ("values", "stat"))
            values = self.numbers(profile["values"], f"{where}['profile']['values']")
            stat_ = self.numbers(profile["stat"], f"{where}['profile']['stat']")
            if len(values) != len(stat_) or not len(values):
                raise self.fail(f"{where}['profile']", "must have as many values as stat, at least one")
            out[name] = {
                **b,
                "value": self.number(b["value"], f"{where}['value']"),
                "profile": {"values": values.tolist(), "stat": stat_.tolist()},
            }
        return out

    def diagnostics(self, d: object, method: str) -> dict | None:
        if d is None:
            if method == "bayes":
                raise self.fail("diagnostics", "is missing; a Bayesian fit records its R-hat and ESS")
            return None
        d = self.tree(self.obj(d, "diagnostics"), "diagnostics")
        self.keys(d, "diagnostics", ("chains", "draws_per_chain", "r_hat", "ess_bulk", "ess_tail"), tuple(d))
        self.integer(d["chains"], "diagnostics['chains']", 1)
        self.integer(d["draws_per_chain"], "diagnostics['draws_per_chain']", 0)
        for key in ("r_hat", "ess_bulk", "ess_tail"):
            for k, v in self.obj(d[key], f"diagnostics[{key!r}]").items():
                if v is not None:  # older files wrote a NaN R-hat as null
                    self.number(v, f"diagnostics[{key!r}][{k!r}]")
        return d

    def data(self, d: object, law: Law, n_runs: int) -> dict | None:
        if d is None:
            return None
        d = self.obj(d, "data")
        self.keys(d, "data", ("x", "y"), ("noise_scale",))
        x = self.obj(d["x"], "data['x']")
        self.keys(x, "data['x']", law.variables)
        out_x = {}
        for v in law.variables:
            arr = self.numbers(x[v], f"data['x'][{v!r}]", finite=True)
            if len(arr) != n_runs or np.any(arr <= 0):
                raise self.fail(f"data['x'][{v!r}]", f"must hold {n_runs} values > 0 (one per run)")
            out_x[v] = arr.tolist()
        y = self.numbers(d["y"], "data['y']", finite=True)
        if len(y) != n_runs:
            raise self.fail("data['y']", f"holds {len(y)} values; n_runs is {n_runs}")
        scale = d.get("noise_scale")
        if scale is not None:
            scale = self.numbers(scale, "data['noise_scale']", finite=True)
            if len(scale) != n_runs or np.any(scale <= 0):
                raise self.fail("data['noise_scale']", f"must hold {n_runs} values > 0 (one per run)")
            scale = scale.tolist()
        return {"x": out_x, "y": y.tolist(), "noise_scale": scale}

    def draws(self, d: object, law: Law, method: str, noise, diagnostics, requested) -> pd.DataFrame | None:
        if d is None:
            if method == "bayes":
                raise self.fail("draws", "is missing; a Bayesian fit holds its posterior draws")
            return None
        d = self.obj(d, "draws")
        names = list(law.parameters)
        sites = names + (["sigma", "nu"] if method == "bayes" else [])
        extra = [c for c in d if c not in sites]
        if extra:
            raise self.fail(
                "draws", f"has column {extra[0]!r}{check.suggest(extra[0], sites)}, which is not a parameter of the law"
            )
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("draws", f"is missing columns {missing}; it needs one per parameter")
        columns = {c: self.numbers(d[c], f"draws[{c!r}]") for c in d}
        lengths = {len(a) for a in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{c}: {len(a)}" for c, a in columns.items())
            raise self.fail("draws", f"is not rectangular: its columns have different lengths ({shown})")
        rows = lengths.pop() if lengths else 0
        if method == "bayes":
            expected = diagnostics["chains"] * diagnostics["draws_per_chain"]
            if rows != expected:
                raise self.fail("draws", f"has {rows} rows, but the diagnostics record {expected} (chains x draws)")
        elif isinstance(requested, int) and not isinstance(requested, bool) and rows > requested:
            raise self.fail("draws", f"has {rows} rows, more than the {requested} bootstrap replicates requested")
        return pd.DataFrame({c: columns[c] for c in d}, dtype=float) if columns else None

    def misfit(self, d: object, law: Law) -> dict | None:
        if d is None:
            return None
        d = self.tree(self.obj(d, "misfit"), "misfit")
        self.keys(d, "misfit", ("rms", "log", "by"))
        self.number(d["rms"], "misfit['rms']")
        self.kind(d["log"], "misfit['log']", bool, "true or false")
        for v, entry in self.obj(d["by"], "misfit['by']").items():
            where = f"misfit['by'][{v!r}]"
            if v not in law.variables:
                raise self.fail("misfit['by']", f"names {v!r}, which is not a variable of the law")
            self.keys(self.obj(entry, where), where, ("flag",), tuple(entry))
            self.kind(entry["flag"], f"{where}['flag']", bool, "true or false")
            for k, x in entry.items():
                if k != "flag":
                    self.number(x, f"{where}[{k!r}]")
        return d
