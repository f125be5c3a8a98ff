"""The solver of a crossover: stationary points and crossings of ``F = a - b`` along one axis.

For laws that are sums with one power term in the axis (the paper's plain and distilled
laws along ``Dp``) the stationary point has a closed form and the domain is split there;
for other shapes stationary points come from sign changes of ``dF/dlog x`` on a dense grid,
refined by Brent's method. Every crossing is bracketed in log space between splits, so none
is missed. Two laws that agree to within ``COINCIDE_RTOL`` (relative) coincide.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from scalefit.decide.paired import difference_along
from scalefit.decide.path import Path
from scalefit.laws.law import Law
from scalefit.laws.terms import Power, Sum

GRID = 2048
CHECK = 257  # log-spaced points where both laws must be finite, and where coincidence is tested
COINCIDE_RTOL = 1e-9  # laws closer than this (relative) at every check point coincide


def coincident(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Where two finite laws agree to within ``COINCIDE_RTOL`` (relative)."""
    with np.errstate(all="ignore"):
        return np.abs(va - vb) <= COINCIDE_RTOL * np.maximum(np.abs(va), np.abs(vb))


def single_power(law: Law, axis: str) -> Power | None:
    """The one power term in ``axis`` if the law is a sum with ``axis`` only there."""
    if not isinstance(law.expr, Sum) or isinstance(axis, Path):
        return None
    terms = [t for t in law.expr.terms if axis in t.variables()]
    if len(terms) == 1 and isinstance(terms[0], Power) and terms[0].coefficient is not None:
        return terms[0]
    return None


def _coefficient(p: Power, params) -> float:
    return 1.0 / params[p.scale] if p.scale is not None else params[p.amplitude]


def closed_form_stationary(pa: Power, params_a, pb: Power, params_b) -> float:
    """``[(a_a c_a) / (a_b c_b)]^(1 / (a_a - a_b))`` for ``F = ... + c_a x^-a_a - c_b x^-a_b``."""
    ea, eb = pa._exp(params_a), pb._exp(params_b)  # a fitted exponent's value, or a fixed one
    ca, cb = _coefficient(pa, params_a), _coefficient(pb, params_b)
    with np.errstate(all="ignore"):
        return np.exp((np.log(ea * ca) - np.log(eb * cb)) / (ea - eb))


def _roots(g, lo: float, hi: float, splits) -> list[float]:
    """Sign changes of ``g`` (a function of log x) inside (lo, hi); ``g`` must be monotone
    between splits. A zero without a change of sign, or on an end of the domain, is none."""
    edges = np.unique(np.concatenate([[lo], [u for u in splits if lo < u < hi], [hi]]))
    vals = np.array([g(u) for u in edges])
    roots = [edges[i] for i in range(1, len(edges) - 1) if vals[i] == 0.0 and vals[i - 1] * vals[i + 1] < 0]
    for i in range(len(edges) - 1):
        g0, g1 = vals[i], vals[i + 1]
        if np.isfinite(g0) and np.isfinite(g1) and g0 * g1 < 0:
            roots.append(brentq(g, edges[i], edges[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))
    return sorted(roots)


def solve_crossings(law_a, pa, law_b, pb, axis, at, domain, shapes) -> tuple[list[float], list[float], bool]:
    """Stationary points and crossings (in x) for one pair of parameter sets."""
    lo, hi = np.log(domain[0]), np.log(domain[1])

    def g(u):
        return float(difference_along(law_a, pa, law_b, pb, axis, at, np.exp(u)))

    if shapes is not None:
        # F = Delta + c_a x^-a_a - c_b x^-a_b, with Delta = F(inf) evaluated once: no cancellation
        # of the large x-independent terms, even where the power terms are tiny beside them.
        delta = float(difference_along(law_a, pa, law_b, pb, axis, at, np.inf))
        if not np.isfinite(delta):  # a term grows without bound in x: no finite Delta, solve numerically
            shapes = None
    if shapes is not None:
        ta, tb = shapes
        ea, eb, ca, cb = ta._exp(pa), tb._exp(pb), _coefficient(ta, pa), _coefficient(tb, pb)

        def g(u):
            return delta + ca * np.exp(-ea * u) - cb * np.exp(-eb * u)

        with np.errstate(divide="ignore", invalid="ignore"):  # no stationary point: 0, inf or nan, dropped below
            s = np.log(closed_form_stationary(ta, pa, tb, pb))
        stationary = [float(s)] if np.isfinite(s) and lo < s < hi else []
        splits = stationary
    else:
        grid = np.linspace(lo, hi, GRID)
        vals = difference_along(law_a, pa, law_b, pb, axis, at, np.exp(grid))

        def slope(u, h=1e-6):
            return (g(u + h) - g(u - h)) / (2 * h)

        turns = np.flatnonzero(np.diff(np.sign(np.gradient(vals, grid))) != 0)
        stationary = [
            brentq(slope, grid[i], grid[i + 1], xtol=1e-13) for i in turns if slope(grid[i]) * slope(grid[i + 1]) < 0
        ]
        # grid points on each side of a sign change of F bracket a crossing even if a turn was missed
        changes = np.flatnonzero(np.diff(np.sign(vals)) != 0)
        splits = [*stationary, *grid[changes], *grid[changes + 1]]
    crossings = _roots(g, lo, hi, splits)
    return [float(np.exp(u)) for u in stationary], [float(np.exp(u)) for u in crossings], shapes is not None
