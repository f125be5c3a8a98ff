"""Where two fitted laws cross: the distillation boundary and general crossovers.

Along one variable ``x`` (everything else held at ``at``) the difference of two fitted
laws is ``F(x) = a(x) - b(x)``; ``F > 0`` means ``b`` gives the lower error. For the
paper's plain (Eq. 1) and distilled (Eq. 4) laws along ``Dp``,

    F(Dp) = Delta + Dp^-alpha / lambda_p - Dp^-alpha' / lambda'_p

has one stationary point, ``D*_p = [(alpha / lambda_p) / (alpha' / lambda'_p)]^(1 / (alpha -
alpha'))`` — the derivation's exponent; the paper prints ``1 / (alpha' - alpha)``, which is
not a stationary point — and so at most two crossings ``D**_p``, one on each side of it.
The solver splits the domain at each stationary point (where ``F`` is monotone between
them) and brackets every crossing in log space, so none is missed; for other law shapes
stationary points come from sign changes of ``dF/dlog x`` on a dense grid, refined by
Brent's method.

With bootstrap or posterior fits, the same is done for every pair of draws, giving the
distribution of ``D*_p`` and of each crossing, the probability that a crossing exists in
the domain, and the probability that each side wins at any ``x``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from ._errors import ScalefitError
from ._laws import Law, Power, Sum
from ._result import Fit

GRID = 2048
DRAWS_USED = 1000


@dataclass(frozen=True)
class Regime:
    """An interval of the axis and which fit gives the lower target there."""

    low: float
    high: float
    winner: str


@dataclass(frozen=True)
class Condition:
    """One constraint of the paper's Eq. 6 evaluated on fitted parameters."""

    name: str
    holds: bool
    detail: str
    probability: float | None = None  # share of pairs of draws where it holds


@dataclass(frozen=True)
class Crossover:
    """Crossings of two fitted laws along one variable, with their uncertainty.

    Attributes
    ----------
    axis : str
    at : dict
        Values of the other variables.
    domain : (float, float)
    names : (str, str)
        Labels of fit ``a`` and fit ``b`` (for a distillation boundary: ``plain``, ``distill``).
    stationary : tuple of float
        Stationary points of ``F = a - b`` inside the domain.
    crossings : tuple of float
        Every ``x`` in the domain where ``F = 0``, ascending.
    regimes : tuple of Regime
        The domain split at the crossings, each with the winner (lower target).
    closed_form : bool
        Whether the stationary point came from the paper's closed form.
    draws : DataFrame or None
        Per pair of draws: ``stationary`` and ``crossing_1``, ``crossing_2``, ... (NaN where
        absent), and ``n_crossings``.
    """

    axis: str
    at: dict[str, float]
    domain: tuple[float, float]
    names: tuple[str, str]
    stationary: tuple[float, ...]
    crossings: tuple[float, ...]
    regimes: tuple[Regime, ...]
    closed_form: bool
    draws: pd.DataFrame | None = None
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    _fits: tuple[Fit, Fit] | None = field(default=None, repr=False, compare=False)

    def difference(self, x) -> np.ndarray:
        """``F(x) = a(x) - b(x)`` at the best fits."""
        a, b = self._fits
        return _difference(a.law, a.params, b.law, b.params, self.axis, self.at, np.asarray(x, dtype=float))

    @property
    def p_crossing(self) -> float | None:
        """Probability (over draws) that at least one crossing lies in the domain."""
        return None if self.draws is None else float((self.draws["n_crossings"] > 0).mean())

    def probability_b_wins(self, x) -> np.ndarray:
        """Probability over draws that fit ``b`` gives the lower target at each ``x``."""
        if self.draws is None:
            raise ScalefitError(
                "these fits have no bootstrap or posterior draws; refit with bootstrap= or method='bayes'"
            )
        a, b = self._fits
        pa, pb = _paired_draws(a, b)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        diff = _difference(a.law, _col(pa), b.law, _col(pb), self.axis, self.at, x[None, :])
        return (diff > 0).mean(axis=0)

    def intervals(self, interval: float = 0.9) -> pd.DataFrame:
        """Central intervals of the stationary point and each crossing over the draws, with
        the probability that each exists in the domain."""
        if self.draws is None:
            raise ScalefitError(
                "these fits have no bootstrap or posterior draws; refit with bootstrap= or method='bayes'"
            )
        tail = (1 - interval) / 2
        rows = []
        for col in [c for c in self.draws.columns if c != "n_crossings"]:
            v = self.draws[col].dropna().to_numpy()
            lo, hi = np.quantile(v, [tail, 1 - tail]) if len(v) else (np.nan, np.nan)
            rows.append({"quantity": col, "lower": lo, "median": np.median(v) if len(v) else np.nan,
                         "upper": hi, "p_exists": len(v) / len(self.draws)})  # fmt: skip
        return pd.DataFrame(rows).set_index("quantity")

    def __repr__(self) -> str:
        fmt = lambda v: f"{v:.4g}"  # noqa: E731
        lines = [
            f"{type(self).__name__} along {self.axis} in [{fmt(self.domain[0])}, {fmt(self.domain[1])}] at "
            + ", ".join(f"{k}={fmt(v)}" for k, v in self.at.items()),
            f"  stationary point(s): {', '.join(map(fmt, self.stationary)) or 'none in the domain'}"
            + (" (closed form)" if self.closed_form else ""),
            f"  crossing(s): {', '.join(map(fmt, self.crossings)) or 'none in the domain'}",
        ]
        for r in self.regimes:
            lines.append(f"  {fmt(r.low)} .. {fmt(r.high)}: {r.winner} wins (lower target)")
        if self.draws is not None:
            lines.append(f"  P(a crossing lies in the domain) = {self.p_crossing:.2f} over {len(self.draws)} draws")
        lines.extend(
            f"  condition {'holds' if c.holds else 'FAILS'}: {c.name} ({c.detail}"
            + ("" if c.probability is None else f"; holds in {c.probability:.0%} of draws")
            + ")"
            for c in self.conditions
        )
        return "\n".join(lines)


class DistillationBoundary(Crossover):
    """The crossover of a plain (Eq. 1) and a distilled (Eq. 4) fit along ``Dp``.

    ``F > 0`` (the ``distill`` regime) means distillation gives the lower error.
    """

    def p_distill_wins(self, dp) -> np.ndarray:
        """Probability over draws that distillation gives the lower error at each ``dp``."""
        return self.probability_b_wins(dp)


# -- evaluation -------------------------------------------------------------------------
def _col(params: Mapping[str, np.ndarray]) -> dict:
    return {k: np.asarray(v)[:, None] for k, v in params.items()}


def _difference(law_a: Law, pa, law_b: Law, pb, axis: str, at: Mapping[str, float], x) -> np.ndarray:
    va = {v: (x if v == axis else at[v]) for v in law_a.variables}
    vb = {v: (x if v == axis else at[v]) for v in law_b.variables}
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(law_a.evaluate(pa, va), dtype=float) - np.asarray(law_b.evaluate(pb, vb), dtype=float)


def _single_power(law: Law, axis: str) -> Power | None:
    """The one power term in ``axis`` if the law is a sum with ``axis`` only there."""
    if not isinstance(law.expr, Sum):
        return None
    terms = [t for t in law.expr.terms if axis in t.variables()]
    if len(terms) == 1 and isinstance(terms[0], Power) and terms[0].coefficient is not None:
        return terms[0]
    return None


def _coefficient(p: Power, params) -> float:
    return 1.0 / params[p.scale] if p.scale is not None else params[p.amplitude]


def closed_form_stationary(pa: Power, params_a, pb: Power, params_b) -> float:
    """``[(a_a c_a) / (a_b c_b)]^(1 / (a_a - a_b))`` for ``F = ... + c_a x^-a_a - c_b x^-a_b``."""
    ea, eb = params_a[pa.exponent], params_b[pb.exponent]
    ca, cb = _coefficient(pa, params_a), _coefficient(pb, params_b)
    with np.errstate(all="ignore"):
        return np.exp((np.log(ea * ca) - np.log(eb * cb)) / (ea - eb))


def _roots(g, lo: float, hi: float, splits) -> list[float]:
    """Roots of ``g`` (a function of log x) in [lo, hi]; ``g`` must be monotone between splits."""
    edges = np.unique(np.concatenate([[lo], [u for u in splits if lo < u < hi], [hi]]))
    vals = np.array([g(u) for u in edges])
    roots = set(edges[vals == 0.0])
    for i in range(len(edges) - 1):
        g0, g1 = vals[i], vals[i + 1]
        if np.isfinite(g0) and np.isfinite(g1) and g0 * g1 < 0:
            roots.add(brentq(g, edges[i], edges[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))
    return sorted(roots)


def _solve(law_a, pa, law_b, pb, axis, at, domain, shapes) -> tuple[list[float], list[float], bool]:
    """Stationary points and crossings (in x) for one pair of parameter sets."""
    lo, hi = np.log(domain[0]), np.log(domain[1])

    def g(u):
        return float(_difference(law_a, pa, law_b, pb, axis, at, np.exp(u)))

    if shapes is not None:
        # F = Delta + c_a x^-a_a - c_b x^-a_b, with Delta = F(inf) evaluated once: no cancellation
        # of the large x-independent terms, even where the power terms are tiny beside them.
        (ta, tb), inf = shapes, np.inf
        delta = float(_difference(law_a, pa, law_b, pb, axis, at, inf))
        ea, eb, ca, cb = pa[ta.exponent], pb[tb.exponent], _coefficient(ta, pa), _coefficient(tb, pb)

        def g(u):
            return delta + ca * np.exp(-ea * u) - cb * np.exp(-eb * u)

        with np.errstate(divide="ignore", invalid="ignore"):  # no stationary point: 0, inf or nan, dropped below
            s = np.log(closed_form_stationary(ta, pa, tb, pb))
        stationary = [float(s)] if np.isfinite(s) and lo < s < hi else []
        splits = stationary
    else:
        grid = np.linspace(lo, hi, GRID)
        vals = _difference(law_a, pa, law_b, pb, axis, at, np.exp(grid))

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


def _paired_draws(a: Fit, b: Fit) -> tuple[dict, dict]:
    n = min(len(a.draws), len(b.draws), DRAWS_USED)
    pa = {k: a.draws[k].to_numpy()[:n] for k in a.law.parameters}
    pb = {k: b.draws[k].to_numpy()[:n] for k in b.law.parameters}
    return pa, pb


# -- public functions -------------------------------------------------------------------
def _check(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], domain) -> tuple[dict, tuple[float, float]]:
    for name, f in (("first", fit_a), ("second", fit_b)):
        if not isinstance(f, Fit):
            raise TypeError(f"the {name} fit must be a scalefit Fit, got {type(f).__name__}")
    ma, mb = fit_a.law.metric or fit_a.target, fit_b.law.metric or fit_b.target
    if ma != mb:
        raise ScalefitError(
            f"the fits predict different metrics ({ma!r} vs {mb!r}); a crossover compares the same metric — "
            "fit both laws to the same kind of target (e.g. both error rates)"
        )
    if axis not in fit_a.law.variables or axis not in fit_b.law.variables:
        raise ScalefitError(
            f"axis {axis!r} must be a variable of both laws; they have {list(fit_a.law.variables)} and "
            f"{list(fit_b.law.variables)}"
        )
    needed = sorted((set(fit_a.law.variables) | set(fit_b.law.variables)) - {axis})
    at = dict(at or {})
    missing = [v for v in needed if v not in at]
    if missing:
        example = ", ".join(f"{v!r}: ..." for v in needed)
        raise ScalefitError(f"at= is missing {missing}; hold every other variable fixed, e.g. at={{{example}}}")
    extra = [v for v in at if v not in needed]
    if extra:
        raise ScalefitError(f"at= has {extra}, which neither law uses besides the axis {axis!r}; needed: {needed}")
    for v in needed:
        val = float(at[v])
        if not np.isfinite(val) or val <= 0:
            raise ScalefitError(f"at[{v!r}] must be a finite value > 0, got {at[v]!r}")
        at[v] = val
    try:
        lo, hi = (float(d) for d in domain)
    except (TypeError, ValueError):
        raise ScalefitError(f"domain must be a (low, high) pair of numbers, got {domain!r}") from None
    if not (0 < lo < hi < np.inf):
        raise ScalefitError(f"domain must satisfy 0 < low < high, got ({lo:g}, {hi:g}); e.g. domain=(1e4, 1e8)")
    return at, (lo, hi)


def _build(cls, fit_a, fit_b, axis, at, domain, names, conditions=()):
    at, domain = _check(fit_a, fit_b, axis, at, domain)
    pa_shape, pb_shape = _single_power(fit_a.law, axis), _single_power(fit_b.law, axis)
    shapes = (pa_shape, pb_shape) if pa_shape is not None and pb_shape is not None else None
    stationary, crossings, closed = _solve(fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, domain, shapes)
    edges = [domain[0], *crossings, domain[1]]
    regimes = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        mid = np.sqrt(lo * hi)
        f = float(_difference(fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, mid))
        regimes.append(Regime(lo, hi, names[1] if f > 0 else names[0]))
    draws = None
    if fit_a.draws is not None and fit_b.draws is not None:
        pa, pb = _paired_draws(fit_a, fit_b)
        rows = []
        for i in range(len(next(iter(pa.values())))):
            da = {k: float(v[i]) for k, v in pa.items()}
            db = {k: float(v[i]) for k, v in pb.items()}
            s, c, _ = _solve(fit_a.law, da, fit_b.law, db, axis, at, domain, shapes)
            rows.append({"stationary": s[0] if s else np.nan, "crossings": c})
        width = max([len(r["crossings"]) for r in rows] + [2 if shapes else 1])
        draws = pd.DataFrame(
            {
                "stationary": [r["stationary"] for r in rows],
                **{
                    f"crossing_{j + 1}": [r["crossings"][j] if j < len(r["crossings"]) else np.nan for r in rows]
                    for j in range(width)
                },  # fmt: skip
                "n_crossings": [len(r["crossings"]) for r in rows],
            }
        )
    return cls(axis, at, domain, names, tuple(stationary), tuple(crossings), tuple(regimes), closed, draws,
               tuple(conditions), (fit_a, fit_b))  # fmt: skip


def crossover(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], domain: tuple[float, float],
              names: tuple[str, str] = ("a", "b")) -> Crossover:  # fmt: skip
    """Every crossing of two fitted laws along ``axis`` inside ``domain``.

    E.g. at what fine-tuning set size does the 38M model overtake the 10M one:
    ``crossover(fit_38m, fit_10m, axis="Df", at={"Dp": 1.28e6}, domain=(1e3, 1e6))``.
    """
    return _build(Crossover, fit_a, fit_b, axis, at, domain, names)


RATIO = 2.0  # "lambda ~ lambda'" is read as a ratio within this factor; the paper gives no tolerance
EQ6 = (
    ("E_inf < E_inf'", lambda p, d: p["E_inf"] < d["E_inf_prime"],
     lambda p, d: f"{p['E_inf']:.4g} vs {d['E_inf_prime']:.4g}"),
    ("gamma > gamma'", lambda p, d: p["gamma"] > d["gamma_prime"],
     lambda p, d: f"{p['gamma']:.4g} vs {d['gamma_prime']:.4g}"),
    ("beta < beta'", lambda p, d: p["beta"] < d["beta_prime"],
     lambda p, d: f"{p['beta']:.4g} vs {d['beta_prime']:.4g}"),
    ("alpha - alpha' in (-1, 0)", lambda p, d: np.abs(p["alpha"] - d["alpha_prime"] + 0.5) < 0.5,
     lambda p, d: f"alpha - alpha' = {p['alpha'] - d['alpha_prime']:.4g}"),
    *(
        (f"{n} ~ {n}'", lambda p, d, n=n: (p[n] / d[f"{n}_prime"] >= 1 / RATIO) & (p[n] / d[f"{n}_prime"] <= RATIO),
         lambda p, d, n=n: f"ratio {p[n] / d[f'{n}_prime']:.3g} (within x{RATIO:g})")
        for n in ("lambda_m", "lambda_f")
    ),
)  # fmt: skip


def _conditions(plain: Fit, distilled: Fit) -> list[Condition]:
    """The paper's Eq. 6 on the best fits, and how often each holds over pairs of draws."""
    p, d = plain.params, distilled.params
    need_p = {"E_inf", "alpha", "beta", "gamma", "lambda_m", "lambda_f"}
    if not need_p <= set(p) or not {f"{n}_prime" for n in need_p} <= set(d):
        return []
    draws = _paired_draws(plain, distilled) if plain.draws is not None and distilled.draws is not None else None
    return [
        Condition(name, bool(test(p, d)), detail(p, d), None if draws is None else float(np.mean(test(*draws))))
        for name, test, detail in EQ6
    ]


def distillation_boundary(
    plain_fit: Fit, distilled_fit: Fit, at: Mapping[str, float], domain: tuple[float, float]
) -> DistillationBoundary:
    """Where distilling a small teacher into the model stops (or starts) paying, along ``Dp``.

    Parameters
    ----------
    plain_fit, distilled_fit : Fit
        Fits of the plain law (e.g. ``paper_error``) and the distilled law (e.g.
        ``paper_distilled``) to the same metric.
    at : dict
        The other variables, e.g. ``{"M": 22e6, "Df": 5e4, "Mt": 10e6}``.
    domain : (float, float)
        Range of ``Dp`` to search.

    Returns
    -------
    DistillationBoundary
        ``stationary`` (``D*_p``, closed form for the paper's shapes), ``crossings``
        (every ``D**_p``), ``regimes`` (``"plain"`` / ``"distill"``), ``conditions`` (the
        paper's Eq. 6 on the fitted numbers) and, with bootstrap or posterior fits,
        ``draws``, ``intervals()``, ``p_crossing`` and ``p_distill_wins(Dp)``.
    """
    conditions = (
        _conditions(plain_fit, distilled_fit) if isinstance(plain_fit, Fit) and isinstance(distilled_fit, Fit) else []
    )
    return _build(DistillationBoundary, plain_fit, distilled_fit, "Dp", at, domain, ("plain", "distill"), conditions)
