"""Honest intervals: parameters at a bound, replicates that can leave the optimum, misfit.

Three things a percentile bootstrap gets wrong on real tables, and what scalefit does:

* **A parameter driven to a bound** (a floor ``E_inf -> 0``, a transfer gap ``G -> 0``, an
  exponent at 0, a user's bound). In log form its gradient is ~0 there, so replicates
  started at the optimum cannot leave it and the percentile interval has zero width; and
  even replicates that can move give an inconsistent percentile interval at a boundary
  (Andrews 2000). :func:`at_bounds` detects such parameters; the interval is reported
  one-sided, from the bound to where the profile likelihood (:func:`profile_bounds`) rises
  by the critical value of Self & Liang (1987) — at a boundary the likelihood-ratio
  statistic is a 50:50 mixture of chi2_0 and chi2_1. The bootstrap also restarts every
  replicate from a *released* point (:func:`released`, the parameter moved well inside its
  range) and keeps the better optimum of the two, so replicates can leave the bound.
* **Failed replicates** (not converged, non-finite, overflowing parameters) are dropped and
  counted, never averaged into NaN.
* **Misfit**: :func:`misfit` reports the residual scale and tests, variable by variable,
  whether the mean residual differs between the levels of that variable more than the
  scatter within levels allows (one-way analysis of variance) — a structured lack of fit
  that no parameter interval accounts for.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scalefit.fitting.problem import Problem, constant_places
from scalefit.results.distributions import chi2_1_quantile, f_survival, normal_cdf

NEGLIGIBLE = 1e-6  # a term contributing less than this share of every prediction is "at 0"
RELEASE_SHARE = 0.05  # a released term contributes about this share where it matters most
LACK_OF_FIT_P = 1e-3
LACK_OF_FIT_SHARE = 0.2
MIN_REPLICATES = 200
MIN_CONVERGED = 0.8


def term_shares(J: np.ndarray, log_objective: bool, pred: np.ndarray) -> np.ndarray:
    """Share of each prediction carried by each free log-amplitude or log-constant (runs x
    free parameters), from the residual Jacobian: for log objectives ``d log f / d theta``
    is that share; for squared residuals the Jacobian is divided by the prediction. Leading
    axes (points) may be stacked: ``J`` points x runs x parameters, ``pred`` points x runs."""
    return np.abs(J if log_objective else J / np.where(pred == 0, 1.0, pred)[..., None])


def _near_ends(lo, hi, t):
    """Whether internal values ``t`` sit at the lower / upper end ``lo`` / ``hi`` of their range
    (within :data:`NEGLIGIBLE`, relative; an infinite end is never reached), elementwise: the one
    rule of :func:`_range_end` and :func:`clear_of_bounds`."""
    with np.errstate(invalid="ignore"):
        near_lo = np.isfinite(lo) & (t - lo <= NEGLIGIBLE * (1.0 + np.abs(lo)))
        near_hi = np.isfinite(hi) & (hi - t <= NEGLIGIBLE * (1.0 + np.abs(hi)))
    return near_lo, near_hi


def _range_end(problem: Problem, i: int, t: float) -> str | None:
    """``"lo"``/``"hi"`` when internal value ``t`` of free parameter ``i`` sits at that end of
    its range (:func:`_near_ends`), else ``None``."""
    near_lo, near_hi = _near_ends(problem.lo[i], problem.hi[i], t)
    return "lo" if near_lo else "hi" if near_hi else None


@dataclass(frozen=True)
class Bound:
    """A parameter at a bound of its range: which side, the bound (paper form), and why."""

    name: str
    side: str  # "lower" or "upper"
    value: float
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def clear_of_bounds(problem: Problem, thetas: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """For a stack of points (``thetas``: points x free parameters; ``shares``: points x runs x
    free parameters), which have no parameter :func:`at_bounds` could report — none within
    :data:`NEGLIGIBLE` of an end of its range, none whose share is negligible in every run —
    checked for all points at once (a thousand-group fit checks 16,000 polished starts). A
    point marked False may still have none: :func:`at_bounds` decides."""
    lo, hi = np.asarray(problem.lo, dtype=float), np.asarray(problem.hi, dtype=float)
    near_lo, near_hi = _near_ends(lo, hi, np.asarray(thetas, dtype=float))
    negligible = ~np.any(np.asarray(shares) >= NEGLIGIBLE, axis=1)
    return ~np.any(near_lo | near_hi | negligible, axis=1)


def at_bounds(problem: Problem, theta: np.ndarray, share: np.ndarray):
    """Free parameters at a bound of their range at the optimum ``theta`` (normalised internal).

    ``share`` is :func:`term_shares`: a log-amplitude or log-constant whose share is below
    :data:`NEGLIGIBLE` in every run has had its term driven to 0 (a constant or amplitude at
    0, a scale ``lambda`` at infinity).
    """
    law = problem.law
    out: dict[str, Bound] = {}
    paper = functools.cache(lambda: problem.paper(theta))  # paper form only for a parameter at a bound
    place = constant_places(law)
    for i, name in enumerate(problem.free):
        role = law.specs[name].role
        lo, hi = problem.lo[i], problem.hi[i]
        end = _range_end(problem, i, float(theta[i]))
        if role == "exponent":
            if end == "lo":
                variable = law.specs[name].variable
                what = (
                    f"its lower bound {lo:g}"
                    if lo != 0
                    else "0: the runs show no dependence on "
                    + (str(variable) if variable is not None else "the term it raises to a power")
                )
                out[name] = Bound(name, "lower", float(lo), f"{name} at {what}")
            elif end == "hi":
                out[name] = Bound(name, "upper", float(hi), f"{name} at its upper bound {hi:g}")
            continue
        if role in ("location", "shape") or place.get(name) in ("ceiling", "count"):
            if end is not None:
                value = float(paper()[name])
                out[name] = Bound(name, "lower" if end == "lo" else "upper", value, f"{name} at its bound {value:.4g}")
            continue  # a small share says nothing about such a parameter's value
        if end is not None:  # internal bounds of a scale run the other way round
            value = float(paper()[name])
            lower = (end == "lo") != (role == "scale")
            out[name] = Bound(name, "lower" if lower else "upper", value, f"{name} at its bound {value:.4g}")
        elif not np.any(share[:, i] >= NEGLIGIBLE):
            if role == "scale":
                out[name] = Bound(
                    name, "upper", float("inf"), f"{name} at infinity: its term is negligible in every run"
                )
            else:
                # the term is ~0 in the runs, whatever the value: with a large exponent beside it an
                # amplitude can be 1e9 and its term still 1e-9 of every prediction — say both
                fitted = f"below {NEGLIGIBLE:g} of every prediction at the fitted {name} = {float(paper()[name]):.4g}"
                if role == "constant" and place.get(name) not in (None, "floor"):
                    text = f"{name} at its lower bound 0: its term is negligible in every run ({fitted})"
                else:
                    what = "no floor" if role == "constant" else f"no {law.specs[name].variable} term"
                    text = f"{name} at its lower bound 0: the runs show {what} (its term is {fitted})"
                out[name] = Bound(name, "lower", 0.0, text)
    return out


def released(problem: Problem, theta: np.ndarray, share: np.ndarray, pred: np.ndarray, bounds) -> np.ndarray:
    """``theta`` with every parameter at a bound moved well inside its range."""
    theta = np.array(theta, dtype=float)
    for i, name in enumerate(problem.free):
        if name not in bounds:
            continue
        lo, hi = problem.lo[i], problem.hi[i]
        both = np.isfinite(lo) and np.isfinite(hi)
        end = _range_end(problem, i, theta[i])
        if end == "lo":
            theta[i] = lo + (0.1 * (hi - lo) if both else 0.05 * (1.0 + abs(lo)))
        elif end == "hi":
            theta[i] = hi - (0.1 * (hi - lo) if both else 0.05 * (1.0 + abs(hi)))
        else:  # a term driven to 0: give it a small share of the predictions again
            top = float(np.max(share[:, i]))
            theta[i] = float(_toward_share(theta[i], top, np.array(RELEASE_SHARE), float(np.min(np.abs(pred)))))
    return theta


PROFILE_POINTS = 25


def _toward_share(theta_i, top_share, shares, scale: float):
    """Internal values giving a term about ``shares`` of the predictions. A log-amplitude
    moves the term's share in proportion to ``exp(theta)``; when the share has underflowed
    to ~0, the term is placed from ``scale`` instead (in normalised units a term at the
    reference point is ``exp(theta)`` times factors of order 1)."""
    if top_share > 1e-200:
        return theta_i + np.log(shares / top_share)
    return np.log(scale) + np.log(shares)


def _profile_grid(problem: Problem, i: int, theta_i: float, top_share: float, scale: float) -> np.ndarray:
    """Internal values of parameter ``i`` from its bound outward, for its profile."""
    lo, hi = problem.lo[i], problem.hi[i]
    steps = np.geomspace(1e-3, 1.0, PROFILE_POINTS)
    role = problem.law.specs[problem.free[i]].role
    end = _range_end(problem, i, theta_i)
    if role != "exponent" and end is None:  # a term driven to 0: from a negligible share of the predictions to most
        return _toward_share(theta_i, top_share, np.geomspace(1e-4, 0.9, PROFILE_POINTS), scale)
    span = hi - lo if np.isfinite(lo) and np.isfinite(hi) else (2.0 if role == "exponent" else 5.0)
    return lo + steps * span if end == "lo" else hi - steps * span


def robust_scale(residuals: np.ndarray, objective) -> float:
    """``c`` such that ``2 c (F(restricted) - F(best))`` is asymptotically chi-squared for the
    objective ``F = sum rho(r)``: ``c = E[psi'] / E[psi^2]`` with ``psi = rho'`` (the
    robust likelihood-ratio test of M-estimators; for squares it is ``Delta RSS / sigma^2``).
    ``E[psi']`` of the Huber loss is ``P(|r| < delta)``, estimated with a Gaussian kernel so
    that few residuals inside ``delta`` do not make it 0."""
    r = np.asarray(residuals, dtype=float)
    if objective.name != "huber":
        return 1.0 / (2.0 * max(float(np.mean(r**2)), 1e-300))
    delta = objective.delta
    psi2 = float(np.mean(np.clip(r, -delta, delta) ** 2))
    h = max(1.06 * float(np.std(r)) * len(r) ** -0.2, delta)
    dpsi = float(np.mean(normal_cdf((delta - r) / h) - normal_cdf((-delta - r) / h)))  # normal CDF
    return dpsi / max(psi2, 1e-300)


def profile_bounds(
    problem: Problem, profile_fn, u_best, f_best, bounds, share, objective, pred, residuals, data, max_steps
):
    """Profile likelihood of each parameter at a bound, from the bound outward.

    Each grid value holds the parameter fixed and refits the rest (one vectorised call);
    the statistic ``2 c (F(value) - F(best))`` (see :func:`robust_scale`) is stored with the
    parameter's value in the user's units, so intervals of any level read off it.
    """
    if not bounds:
        return
    logx, tgt, w = data
    theta = problem.theta_from_u(np.asarray(u_best))
    c = robust_scale(residuals, objective)
    for name in bounds:
        i = problem.free.index(name)
        grid = _profile_grid(problem, i, float(theta[i]), float(np.max(share[:, i])), float(np.min(np.abs(pred))))
        thetas = np.repeat(theta[None], len(grid), axis=0)
        thetas[:, i] = grid
        u0 = problem.u_from_theta(thetas)
        mask = np.ones_like(u0)
        mask[:, i] = 0.0
        sol = profile_fn(u0, mask, logx, tgt, w, max_steps=max_steps)
        f = np.asarray(sol.f)
        values = np.asarray(problem.paper(problem.theta_from_u(np.asarray(sol.u)))[name], dtype=float)
        stat = np.where(np.isfinite(f), 2.0 * c * np.maximum(f - f_best, 0.0), np.inf)
        yield name, {"values": values.tolist(), "stat": stat.tolist()}


def profile_end(profile: Mapping, interval: float) -> float:
    """Far end of a one-sided interval from a bound: where the profile statistic first
    reaches the chi2(1) quantile at ``2 * interval - 1`` (Self & Liang 1987: at a boundary
    the statistic is a 50:50 mixture of chi2_0 and chi2_1), or the last value scanned when
    it never does. For ``interval > 0.5`` (below, the mixture's quantile is 0: the interval is the
    bound itself, see :func:`parameter_interval`)."""
    crit = chi2_1_quantile(2.0 * interval - 1.0)
    values, stat = np.asarray(profile["values"], dtype=float), np.asarray(profile["stat"], dtype=float)
    above = np.flatnonzero(stat >= crit)
    if not len(above):
        return float(values[-1])
    k = int(above[0])
    if k == 0:
        return float(values[0])
    s0, s1 = stat[k - 1], stat[k]
    t = (crit - s0) / (s1 - s0) if s1 > s0 else 1.0
    v0, v1 = values[k - 1], values[k]
    if v0 > 0 and v1 > 0:
        return float(np.exp(np.log(v0) + t * (np.log(v1) - np.log(v0))))
    return float(v0 + t * (v1 - v0))


def parameter_interval(values: np.ndarray, estimate: float, interval: float, bound: Mapping | None, role: str):
    """``(lower, upper)`` of a parameter from its replicates or draws.

    At a bound: one-sided, from the bound to the profile's far end (:func:`profile_end`). A
    positive parameter whose lower percentile is negligible beside its upper one reaches
    its bound 0, and is reported so. The interval is widened to contain the estimate (the
    percentile interval of a skewed replicate distribution can miss it).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    if bound is not None:  # every bound a fit records carries its profile
        # at interval <= 0.5 the mixture's quantile is 0: the interval is the bound itself
        far = profile_end(bound["profile"], interval) if interval > 0.5 else bound["value"]
        lower, upper = sorted((bound["value"], far))
    else:
        tail = (1.0 - interval) / 2.0
        lower, upper = float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))
        if role in ("constant", "amplitude", "exponent") and lower >= 0 and lower < NEGLIGIBLE * upper:
            lower = 0.0
    return min(lower, estimate), max(upper, estimate)


def endpoint_mc_error(values: np.ndarray, interval: float = 0.95) -> tuple[tuple[float, float], float]:
    """Monte-Carlo standard errors of the two endpoints of a percentile interval from ``B``
    replicates, and the interval's width.

    Distribution-free, from order statistics: the number of replicates below the true
    ``p``-quantile is binomial with standard deviation ``sqrt(B p (1 - p))``, so the standard
    error of the sample quantile is about half the distance between the order statistics
    ``B p - sqrt(B p (1-p))`` and ``B p + sqrt(B p (1-p))``. It shrinks like ``1/sqrt(B)``: it is
    how far the endpoints would move if the bootstrap were run again with another seed.
    """
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    B = len(v)
    if B < 2:
        return (float("nan"), float("nan")), float("nan")
    tail = (1.0 - interval) / 2.0
    errors = []
    for p in (tail, 1.0 - tail):
        j, d = B * p, np.sqrt(B * p * (1.0 - p))
        lo, hi = int(np.clip(np.floor(j - d), 0, B - 1)), int(np.clip(np.ceil(j + d), 0, B - 1))
        errors.append(float(v[hi] - v[lo]) / 2.0)
    width = float(np.quantile(v, 1.0 - tail) - np.quantile(v, tail))
    return (errors[0], errors[1]), width


def valid_replicates(paper: Mapping[str, np.ndarray], f: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """Replicates that converged to a finite objective with finite parameters."""
    ok = np.asarray(converged, dtype=bool) & np.isfinite(np.asarray(f, dtype=float))
    for values in paper.values():
        ok &= np.isfinite(np.asarray(values, dtype=float))
    return ok


#: Log-residuals with an rms below this are double-precision rounding (1e-16 per operation,
#: grown by the law's evaluation and the solver's tolerances), never evidence of a misfit.
EXACT_RMS = 1e-9


def misfit(residuals: np.ndarray, x: Mapping[str, np.ndarray], log_objective: bool) -> dict:
    """Residual scale and a lack-of-fit test by level of each variable.

    For each variable with at least 3 levels and replicated levels, a one-way analysis of
    variance of the residuals by level: ``p`` is the chance of level means this different
    if the law fitted every level equally well. A variable is flagged when ``p`` is below
    :data:`LACK_OF_FIT_P` and the level means carry at least :data:`LACK_OF_FIT_SHARE` of the
    residuals' mean square (so small but significant structure — which data drawn from the
    law itself show by chance — is not flagged). Log-residuals whose rms is below
    :data:`EXACT_RMS` are the rounding of double precision, not a trend: an exact fit (a law
    fitted to its own noise-free values) is never flagged.
    """
    r = np.asarray(residuals, dtype=float)
    rms = float(np.sqrt(np.mean(r**2)))
    exact = bool(log_objective and rms < EXACT_RMS)
    by: dict[str, dict] = {}
    for v, a in x.items():
        levels, index = np.unique(np.asarray(a, dtype=float), return_inverse=True)
        k, n = len(levels), len(r)
        if k < 3 or n - k < 2:
            continue
        means = np.bincount(index, weights=r, minlength=k) / np.bincount(index, minlength=k)
        ssb = float(np.sum(np.bincount(index, minlength=k) * (means - r.mean()) ** 2))
        ssw = float(np.sum((r - means[index]) ** 2))
        if ssw <= 0:
            p = 0.0 if ssb > 0 else 1.0
        else:
            p = f_survival(k - 1, n - k, (ssb / (k - 1)) / (ssw / (n - k)))  # F(k-1, n-k) survival
        worst = int(np.argmax(np.abs(means)))
        spread = float(np.sqrt(np.mean(means[index] ** 2)))
        share = float(spread**2 / max(rms**2, 1e-300))
        by[v] = {
            "p": p,
            "level_rms": spread,
            "worst_level": float(levels[worst]),
            "worst_mean": float(means[worst]),
            "share": share,
            "flag": bool(p < LACK_OF_FIT_P and share >= LACK_OF_FIT_SHARE and not exact),
        }
    return {"rms": rms, "log": bool(log_objective), "by": by}


def misfit_text(m: Mapping, interval_halfwidth: float | None = None) -> list[str]:
    """Plain-language lines for :func:`misfit`'s report: the residual scale, then one line per
    flagged variable saying how large the misfit is against the intervals it affects —
    ``interval_halfwidth`` is the median half-width of the 95% interval of the fitted law at
    the runs (on the residuals' scale; ``None`` without replicates or draws: the misfit is
    then measured against the runs' scatter)."""
    unit = "log-residual" if m["log"] else "residual"
    lines = [f"rms {unit} {m['rms']:.3g}"]
    for v, d in m["by"].items():
        if not d["flag"]:
            continue
        size = abs(d["worst_mean"])
        if interval_halfwidth is not None and interval_halfwidth > 0:
            ratio = size / interval_halfwidth
            against = f"{ratio:.2g} times the half-width of the law's 95% interval there ({interval_halfwidth:.2g})"
        else:
            ratio = size / max(m["rms"], 1e-300)
            against = f"{ratio:.2g} times the rms {unit}"
        consequence = (
            "so intervals along it understate the error: predictions along it are less certain than they look"
            if ratio >= 1
            else "within the intervals: a minor misfit, but the law still misses a trend"
        )
        lines.append(
            f"lack of fit along {v}: mean {unit} differs by level (p = {d['p']:.2g}; worst {v} = "
            f"{d['worst_level']:.4g}, mean {d['worst_mean']:+.3g}, {against}) — the law misses a trend in {v}, "
            f"{consequence}"
        )
    return lines


def interval_halfwidth(law, draws: pd.DataFrame | None, x: Mapping[str, np.ndarray], log: bool) -> float | None:
    """Median over the runs of the half-width of the central 95% interval of the law at each
    run, from replicates or draws (log scale for log objectives); ``None`` without draws."""
    if draws is None or len(draws) < 2:
        return None
    params = {n: draws[n].to_numpy(dtype=float)[:, None] for n in law.parameters}
    with np.errstate(all="ignore"):
        values = np.asarray(law.evaluate(params, x), dtype=float)
        values = np.log(values) if log else values
    values = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(values, [0.025, 0.975], axis=0)
        half = float(np.nanmedian((hi - lo) / 2.0))
    return half if np.isfinite(half) else None


def residuals_by(residuals: np.ndarray, x: Mapping[str, np.ndarray], variable: str) -> pd.DataFrame:
    """Mean, rms and count of residuals at each level of ``variable``."""
    df = pd.DataFrame({variable: np.asarray(x[variable], dtype=float), "residual": np.asarray(residuals)})
    g = df.groupby(variable)["residual"]
    out = pd.DataFrame({"runs": g.size(), "mean": g.mean(), "rms": g.apply(lambda s: float(np.sqrt(np.mean(s**2))))})
    return out
