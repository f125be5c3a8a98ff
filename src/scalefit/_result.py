"""The fit result: parameters, uncertainty, diagnostics, predictions; immutable; saves as JSON.

One parameter dictionary (the law's names, paper form) is the source of truth for
``.params``, ``.summary()``, ``.draws`` and JSON. Saved fits are plain JSON — no pickles —
and load into an equal :class:`Fit`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._bayes import _number, diagnostics_ok
from ._errors import ScalefitError, ScalingWarning
from ._identify import Identifiability, _ratio
from ._laws import Law
from ._lsq import Objective
from ._optim import CONVERGED, STATUS_TEXT
from ._problem import Problem

FORMAT = "scalefit.fit/1"


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


def _check_interval(interval: float) -> float:
    if not isinstance(interval, int | float) or not 0.0 < float(interval) < 1.0:
        raise ScalefitError(f"interval must be a probability in (0, 1) such as 0.9, got {interval!r}")
    return float(interval)


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
        cls, law: Law, params: Mapping[str, float], *, target: str | None = None, draws: pd.DataFrame | None = None
    ) -> Fit:
        """A "fit" holding given parameters (``method="given"``) — a published law, or a
        known truth — usable wherever a fit is: ``predict``, crossovers, boundaries.

        ``draws`` (one column per parameter) stand in for bootstrap or posterior draws.
        """
        law._check_params(params)
        problem = Problem.build(law)
        params = {n: float(params[n]) for n in law.parameters}
        return cls(
            law=law,
            method="given",
            objective=Objective("huber", 1e-3),
            target=target or law.metric or "target",
            mapping={v: v for v in law.variables},
            problem=problem,
            params=params,
            value=float("nan"),
            status=Convergence(0, 0, float("nan"), 0),
            starts=StartsReport(0, 0, 0, 0, [], {}),
            identifiability=Identifiability(float("nan"), []),
            residuals=np.zeros(1),
            ranges={},
            n_runs=0,
            draws=None if draws is None else pd.DataFrame(draws)[list(law.parameters)].reset_index(drop=True),
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

        interval = _check_interval(interval)
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

        if self.data is None:
            raise ScalefitError("this fit holds no runs (it was given parameters, or saved by an old version)")
        if variable not in self.law.variables:
            raise ScalefitError(
                f"residuals_by(): {variable!r} is not a variable of law {self.law.name!r}; "
                f"its variables are {list(self.law.variables)}"
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
        if isinstance(data, Mapping) and not isinstance(data, pd.DataFrame):
            data = pd.DataFrame({k: np.atleast_1d(v) for k, v in data.items()})
        if not isinstance(data, pd.DataFrame):
            raise TypeError(
                f"predict() takes a DataFrame or a mapping of variable -> values, got {type(data).__name__}"
            )
        x = {}
        for v in self.law.variables:
            col = v if v in data.columns else self.mapping.get(v)
            if col not in data.columns:
                alt = f" or {self.mapping[v]!r}" if self.mapping.get(v, v) != v else ""
                raise ScalefitError(
                    f"predict() needs a column {v!r}{alt} for law variable {v}; got columns {list(data.columns)}"
                )
            arr = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                raise ScalefitError(
                    f"predict(): column {col!r} has missing, non-numeric or non-positive values in "
                    f"rows {list(data.index[bad])[:8]}; law variables must be finite and > 0"
                )
            x[v] = arr
        return data, x

    def predict(self, data, interval: float | None = 0.9, *, seed: int = 0) -> pd.DataFrame:
        """Predictions for new configurations, with intervals.

        Parameters
        ----------
        data : DataFrame or mapping
            Values of the law's variables (by variable name or by the column they were
            mapped from), e.g. ``{"Dp": [2e6], "M": [8.6e7], "Df": [5e4]}``.
        interval : float or None
            Central probability of the intervals; ``None`` for the point estimate only.

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
        """
        frame, x = self._variables(data)
        out = pd.DataFrame({v: x[v] for v in self.law.variables}, index=frame.index)
        out["mean"] = np.asarray(self.law.evaluate(self.params, x), dtype=float)
        if self.method == "bayes" and self.draws is not None:
            posterior = {n: self.draws[n].to_numpy()[:, None] for n in self.law.parameters}
            with np.errstate(over="ignore", under="ignore"):
                out["mean"] = np.median(np.asarray(self.law.evaluate(posterior, x), dtype=float), axis=0)
        if interval is not None:
            interval = _check_interval(interval)
            if self.draws is None:
                raise ScalefitError(
                    "this fit has no bootstrap replicates, so it has no intervals; refit with "
                    "bootstrap=1000, or call predict(..., interval=None)"
                )
            boot = {n: self.draws[n].to_numpy()[:, None] for n in self.law.parameters}
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                means = np.asarray(self.law.evaluate(boot, x), dtype=float)  # (B, m)
            means = np.where(np.isfinite(means), means, np.nan)
            _warn_nonfinite(means, out.index)
            out["ci_lower"], out["ci_upper"] = _quantiles(means, interval)
            new = self._new_runs(means, np.random.default_rng(seed))
            out["pi_lower"], out["pi_upper"] = _quantiles(new.reshape(-1, means.shape[1]), interval)
        out["extrapolated"] = np.any([(x[v] < lo) | (x[v] > hi) for v, (lo, hi) in self.ranges.items()], axis=0)
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
        from . import __version__

        return {
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
            "residuals": self.residuals.tolist(),
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "n_runs": self.n_runs,
            "draws": None if self.draws is None else {k: v.tolist() for k, v in self.draws.items()},
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

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """JSON text of the whole fit (draws included); also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            path = Path(path)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fit:
        if d.get("format") != FORMAT:
            raise ScalefitError(f"not a scalefit fit file (format {d.get('format')!r}, expected {FORMAT!r})")
        law = Law.from_dict(d["law"])
        draws = d.get("draws")
        return cls(
            law=law,
            method=d["method"],
            objective=Objective(d["objective"]["name"], d["objective"]["delta"]),
            target=d["target"],
            mapping=dict(d["mapping"]),
            problem=Problem.from_dict(law, d["problem"]),
            params={k: float(v) for k, v in d["params"].items()},
            value=float(d["value"]),
            status=Convergence(**d["status"]),
            starts=StartsReport(**d["starts"]),
            identifiability=Identifiability.from_dict(d["identifiability"]),
            residuals=np.asarray(d["residuals"], dtype=float),
            ranges={k: (float(a), float(b)) for k, (a, b) in d["ranges"].items()},
            n_runs=int(d["n_runs"]),
            draws=None if draws is None else pd.DataFrame(draws),
            bootstrap_converged=d.get("bootstrap_converged"),
            seed=int(d.get("seed", 0)),
            source=d.get("source", ""),
            notes=tuple(d.get("notes", ())),
            chains=int(d.get("chains", 1)),
            noise=d.get("noise"),
            diagnostics=d.get("diagnostics"),
            data=d.get("data"),
            priors=d.get("priors"),
            bounds=dict(d.get("bounds") or {}),
            misfit=d.get("misfit"),
            bootstrap_requested=d.get("bootstrap_requested"),
        )

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
    """Load a fit saved by :meth:`Fit.to_json` (a path, or the JSON text itself)."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        path = Path(source)
        if not path.exists():
            raise ScalefitError(f"fit file {str(path)!r} does not exist; save one with fit.to_json(path)")
        text = path.read_text()
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScalefitError(f"fit file is not valid JSON ({exc}); was it written by fit.to_json()?") from exc
    if not isinstance(d, dict):
        raise ScalefitError("fit file holds JSON but not a fit; was it written by fit.to_json()?")
    try:
        return Fit.from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ScalefitError):
            raise
        raise ScalefitError(
            f"fit file is damaged or from an incompatible scalefit version ({type(exc).__name__}: {exc}); "
            "refit and save it again with fit.to_json()"
        ) from exc
