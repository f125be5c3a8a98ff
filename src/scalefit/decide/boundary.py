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

A crossing is a point where ``F`` changes sign inside the domain; a zero touched without a
change of sign, or lying exactly on an end of the domain, is not one. Where the two laws
agree to within ``COINCIDE_RTOL`` (relative) at every checked point of the domain they
*coincide*: there is no crossing and no winner, and the result says so. Pairs of draws
that coincide count as having no crossing.

Every argument is checked before any work: the fits (for :func:`distillation_boundary`,
the plain law first and the distilled one second), the axis, ``at``, ``domain`` and
``names``. A law that overflows or is undefined somewhere in the domain is an error that
names the fit and the inputs, never a NaN in the result.

With bootstrap or posterior fits, the same is done for every pair of draws, giving the
distribution of ``D*_p`` and of each crossing, the probability that a crossing exists in
the domain, and the probability that each side wins at any ``x``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from scalefit.decide.paired import difference_along, draw_columns, paired_draws, values_along
from scalefit.decide.path import Path, path_variables
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.laws.catalogue import paper_distilled, paper_error, paper_loss
from scalefit.laws.law import Law
from scalefit.laws.terms import Power, Sum
from scalefit.results.fit import Fit
from scalefit.validate import check_at, number, probability, shown_value, suggest, text

GRID = 2048
CHECK = 257  # log-spaced points where both laws must be finite, and where coincidence is tested
COINCIDE_RTOL = 1e-9  # laws closer than this (relative) at every check point coincide
TIE = "tie"  # the winner of a regime where the laws coincide
TEACHER = "Mt"  # the distilled law's teacher variable
MISFIT_Z = 2.0  # fitted minus observed difference of a cell beyond this many noise units: the laws misfit it


@dataclass(frozen=True)
class Regime:
    """An interval of the axis and which fit gives the lower target there (``"tie"`` where
    the laws coincide).

    Attributes
    ----------
    low, high : float
        The ends of the interval of the axis.
    winner : str
        The name of the fit with the lower target there, or ``"tie"``.
    """

    low: float
    high: float
    winner: str


@dataclass(frozen=True)
class Condition:
    """One constraint of the paper's Eq. 6 evaluated on fitted parameters.

    Attributes
    ----------
    name : str
        The constraint, e.g. ``"E_inf < E_inf'"``.
    holds : bool
        Whether it holds at the best fits.
    detail : str
        The numbers compared.
    probability : float or None
        The share of pairs of draws where it holds (``None`` without draws).
    """

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
        Every ``x`` inside the domain where ``F`` changes sign, ascending.
    regimes : tuple of Regime
        The domain split at the crossings, each with the winner (lower target); one
        ``"tie"`` regime when the laws coincide.
    closed_form : bool
        Whether the stationary point came from the paper's closed form.
    draws : DataFrame or None
        Per pair of draws: ``stationary`` and ``crossing_1``, ``crossing_2``, ... (NaN where
        absent), ``n_crossings`` and ``coincide`` (the pair's laws coincide in the domain).
    conditions : tuple of Condition
        The paper's Eq. 6 on the fitted numbers (distillation boundaries of the paper's laws).
    coincide : bool
        The two best-fit laws agree to within ``COINCIDE_RTOL`` everywhere in the domain:
        no crossing, no winner.
    checked : DataFrame or None
        The fitted verdict checked against the runs, model-free: one row per cell of the
        runs (a configuration of the variables both laws share) where both fits have runs,
        with each side's observed mean and count, the observed and fitted differences
        ``a - b``, each side's winner, ``agree``, ``in_slice`` (the cell's other variables
        equal ``at``) and ``z`` (the observed difference over its noise, from the fits'
        residual scales), ``misfit_z`` (the fitted minus the observed difference, in the same
        units). ``None`` when a fit holds no runs or no cell has both.
    caveats : tuple of str
        Why the probabilities (``p_crossing``, ``probability_b_wins``, ``p_distill_wins``)
        should not be taken at face value: a condition of Eq. 6 fails, a fit did not
        converge, or the fitted winner disagrees with the runs in the ``at`` slice, or the
        laws' difference misses the observed one there by more than ``MISFIT_Z``. They
        are printed with the result and repeated in a warning when a probability is asked for.
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
    coincide: bool = False
    checked: pd.DataFrame | None = field(default=None, compare=False)
    caveats: tuple[str, ...] = field(default_factory=tuple)
    _fits: tuple[Fit, Fit] | None = field(default=None, repr=False, compare=False)

    @property
    def disagreements(self) -> pd.DataFrame | None:
        """The cells of :attr:`checked` where the runs' observed winner is not the fitted one."""
        return None if self.checked is None else self.checked[~self.checked["agree"]]

    def _warn_caveats(self, what: str) -> None:
        if self.caveats:
            warnings.warn(
                f"{what}: these probabilities are over the draws of two laws taken as right; here "
                + "; ".join(self.caveats)
                + " — read them as qualified (see .caveats and .disagreements)",
                ScalingWarning,
                stacklevel=3,
            )

    def _pair(self) -> tuple[Fit, Fit]:
        if self._fits is None:
            raise ScalefitError(
                f"this {type(self).__name__} holds no fits; build it with crossover() or distillation_boundary()"
            )
        return self._fits

    def _require_draws(self) -> None:
        if self.draws is None:
            raise ScalefitError(
                "these fits have no bootstrap or posterior draws; refit with bootstrap= or method='bayes'"
            )

    def difference(self, x) -> np.ndarray:
        """``F(x) = a(x) - b(x)`` at the best fits."""
        x = points_arg(x, "x", self.axis)
        a, b = self._pair()
        out = difference_along(a.law, a.params, b.law, b.params, self.axis, self.at, x)
        bad = ~np.isfinite(out)
        if bad.any():
            raise ScalefitError(
                f"x: the laws are not finite at {self.axis}={x[bad].flat[0]:.4g} (they overflow or are undefined "
                f"there); keep x where both laws are defined, e.g. inside the domain "
                f"({self.domain[0]:g}, {self.domain[1]:g})"
            )
        return out

    @property
    def p_crossing(self) -> float | None:
        """Probability (over draws) that at least one crossing lies in the domain; pairs of
        draws whose laws coincide have none."""
        if self.draws is None:
            return None
        self._warn_caveats("p_crossing")
        return float((self.draws["n_crossings"] > 0).mean())

    @property
    def p_coincide(self) -> float | None:
        """Share of pairs of draws whose laws coincide in the domain."""
        return None if self.draws is None else float(self.draws["coincide"].mean())

    def probability_b_wins(self, x) -> np.ndarray:
        """Probability over draws that fit ``b`` gives a strictly lower target at each ``x``
        (pairs that coincide there count as ``b`` not winning)."""
        self._warn_caveats("probability_b_wins()")
        return self._p_b_wins(x, "x")

    def _p_b_wins(self, x, name: str) -> np.ndarray:
        x = np.atleast_1d(points_arg(x, name, self.axis))
        if x.ndim != 1:
            raise ScalefitError(f"{name} must be a number or a 1-d array of values of {self.axis}, got shape {x.shape}")
        self._require_draws()
        a, b = self._pair()
        pa, pb = paired_draws(a, b)
        va = values_along(a.law, draw_columns(pa), self.axis, self.at, x[None, :])
        vb = values_along(b.law, draw_columns(pb), self.axis, self.at, x[None, :])
        finite = np.isfinite(va) & np.isfinite(vb)
        n = finite.sum(axis=0)
        if (n == 0).any():
            raise ScalefitError(
                f"{name}: no pair of draws gives finite laws at {self.axis}={x[n == 0][0]:.4g} (they overflow or are "
                f"undefined there); keep {name} where the laws are defined, e.g. inside the domain "
                f"({self.domain[0]:g}, {self.domain[1]:g})"
            )
        with np.errstate(invalid="ignore"):
            wins = finite & (va - vb > COINCIDE_RTOL * np.maximum(np.abs(va), np.abs(vb)))
        return wins.sum(axis=0) / n

    def intervals(self, interval: float = 0.9) -> pd.DataFrame:
        """Central intervals of the stationary point and each crossing over the draws, with
        the probability that each exists in the domain."""
        interval = probability(interval, "interval")
        self._require_draws()
        tail = (1 - interval) / 2
        rows = []
        for col in [c for c in self.draws.columns if c not in ("n_crossings", "coincide")]:
            v = self.draws[col].dropna().to_numpy()
            lo, hi = np.quantile(v, [tail, 1 - tail]) if len(v) else (np.nan, np.nan)
            rows.append({"quantity": col, "lower": lo, "median": np.median(v) if len(v) else np.nan,
                         "upper": hi, "p_exists": len(v) / len(self.draws)})  # fmt: skip
        return pd.DataFrame(rows).set_index("quantity")

    def __repr__(self) -> str:
        fmt = lambda v: f"{v:.4g}"  # noqa: E731
        lines = [
            f"{type(self).__name__} along {self.axis} in [{fmt(self.domain[0])}, {fmt(self.domain[1])}]"
            + (" at " + ", ".join(f"{k}={fmt(v)}" for k, v in self.at.items()) if self.at else ""),
        ]
        if self.coincide:
            lines.append(
                f"  no crossing: the laws coincide (they differ by less than {COINCIDE_RTOL:g} relative everywhere "
                "in the domain); neither gives a lower target"
            )
        else:
            lines += [
                f"  stationary point(s): {', '.join(map(fmt, self.stationary)) or 'none in the domain'}"
                + (" (closed form)" if self.closed_form else ""),
                f"  crossing(s): {', '.join(map(fmt, self.crossings)) or 'none in the domain'}",
            ]
            for r in self.regimes:
                lines.append(f"  {fmt(r.low)} .. {fmt(r.high)}: {r.winner} wins (lower target)")
        lines.append(f"  checked against the runs: {self._checked_text()}")
        if self.draws is not None:
            same = self.p_coincide
            p = float((self.draws["n_crossings"] > 0).mean())
            lines.append(
                f"  P(a crossing lies in the domain) = {p:.2f} over {len(self.draws)} draws"
                + (f" (the laws coincide in {same:.0%} of them)" if same else "")
                + (" — QUALIFIED, see caveats" if self.caveats else "")
            )
        lines.extend(
            f"  condition {'holds' if c.holds else 'FAILS'}: {c.name} ({c.detail}"
            + ("" if c.probability is None else f"; holds in {c.probability:.0%} of draws")
            + ")"
            for c in self.conditions
        )
        lines.extend(f"  caveat: {c}" for c in self.caveats)
        return "\n".join(lines)

    def _checked_text(self) -> str:
        if self.checked is None:
            return "not possible (a fit holds no runs, or no cell of the runs has both fits' runs)"
        t = self.checked
        bad = t[~t["agree"]]
        text = f"{len(t)} cells have runs of both; the observed winner differs from the fitted one in {len(bad)}"
        here = bad[bad["in_slice"]]
        if t["in_slice"].any():
            shown = ", ".join(
                f"{self.axis}={r[self.axis]:.4g} ({r['observed_winner']} lower by {abs(r['observed_difference']):.3g}, "
                f"z {abs(r['z']):.2g})"
                for _, r in here.iterrows()
            )
            text += f"; in this slice {len(here)} of {int(t['in_slice'].sum())}" + (f": {shown}" if shown else "")
        else:
            text += "; no cell lies in this slice (at=)"
        return text


class DistillationBoundary(Crossover):
    """The crossover of a plain (Eq. 1) and a distilled (Eq. 4) fit along ``Dp``.

    ``F > 0`` (the ``distill`` regime) means distillation gives the lower error.
    """

    def p_distill_wins(self, dp) -> np.ndarray:
        """Probability over draws that distillation gives the lower error at each ``dp``
        (with a :class:`~scalefit.ScalingWarning` naming the :attr:`caveats`, if any)."""
        self._warn_caveats("p_distill_wins()")
        return self._p_b_wins(dp, "dp")


# -- evaluation -------------------------------------------------------------------------
def _same(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Where two finite laws agree to within ``COINCIDE_RTOL`` (relative)."""
    with np.errstate(all="ignore"):
        return np.abs(va - vb) <= COINCIDE_RTOL * np.maximum(np.abs(va), np.abs(vb))


def _single_power(law: Law, axis: str) -> Power | None:
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


def _solve(law_a, pa, law_b, pb, axis, at, domain, shapes) -> tuple[list[float], list[float], bool]:
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


# -- argument checks --------------------------------------------------------------------
def near(value: object, options) -> str:
    """``suggest`` that also catches a difference of case only (``'m'`` for ``'M'``)."""
    options = [str(o) for o in options]
    same = [o for o in options if o.lower() == str(value).lower()]
    return f" (did you mean {same[0]!r}?)" if same else suggest(value, options)


def fit_arg(value: object, name: str) -> Fit:
    if not isinstance(value, Fit):
        hint = "; load a saved fit with scalefit.load_fit(path)" if isinstance(value, str) else ""
        raise TypeError(
            f"{name} must be a scalefit Fit (from fit_law(), load_fit() or Fit.from_params()), "
            f"got {shown_value(value)} ({type(value).__name__}){hint}"
        )
    return value


def points_arg(x: object, name: str, axis: str) -> np.ndarray:
    """Values of the axis: a number or an array of finite numbers > 0."""
    kind = f"a number or an array of numbers (values of {axis} > 0)"
    if isinstance(x, str | bytes) or x is None:
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__})")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {kind}, got {shown_value(x)} ({type(x).__name__} of {arr.dtype})")
    arr = arr.astype(float)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        raise ScalefitError(f"{name} must hold finite values of {axis} > 0, got {float(arr[bad].flat[0])!r}")
    return arr


def check_domain(domain: object, name: str = "domain") -> tuple[float, float]:
    """``(low, high)``: two finite numbers with ``0 < low < high``."""
    example = f"e.g. {name}=(1e4, 1e8)"
    if isinstance(domain, str | bytes) or not isinstance(domain, Sequence | np.ndarray) or len(domain) != 2:
        raise TypeError(
            f"{name} must be a (low, high) pair of numbers with 0 < low < high, {example}, "
            f"got {shown_value(domain)} ({type(domain).__name__})"
        )
    lo = number(domain[0], f"{name} low", low=0.0, low_open=True, fix=example)
    hi = number(domain[1], f"{name} high", low=0.0, low_open=True, fix=example)
    if not lo < hi:
        fix = f"swap them: {name}=({hi:g}, {lo:g})" if lo > hi else example
        raise ScalefitError(f"{name} must satisfy 0 < low < high, got ({lo:g}, {hi:g}); {fix}")
    return lo, hi


def check_names(names: object) -> tuple[str, str]:
    if isinstance(names, str | bytes) or not isinstance(names, Sequence) or len(names) != 2:
        raise TypeError(
            f"names must be a pair of labels for fit_a and fit_b, e.g. names=('small', 'large'), "
            f"got {shown_value(names)} ({type(names).__name__})"
        )
    a, b = (text(n, f"names[{i}]") for i, n in enumerate(names))
    if a == b:
        raise ScalefitError(f"names must be two different labels, got ({a!r}, {b!r}); the regimes would not say "
                            "which fit wins")  # fmt: skip
    if TIE in (a, b):
        raise ScalefitError(f"names cannot use {TIE!r}, which marks a regime where the laws coincide; got {names!r}")
    return a, b


def check_pair(fit_a, fit_b, axis, at, domain, args=("fit_a", "fit_b"), hint="") -> tuple[dict, tuple[float, float]]:
    for name, f in zip(args, (fit_a, fit_b), strict=True):
        fit_arg(f, name)
    if not isinstance(axis, Path):
        axis = text(axis, "axis")
    ma, mb = fit_a.law.metric or fit_a.target, fit_b.law.metric or fit_b.target
    if ma != mb:
        raise ScalefitError(
            f"the fits predict different metrics ({args[0]}: {ma!r}, {args[1]}: {mb!r}); a crossover compares the "
            "same metric — fit both laws to the same kind of target (e.g. both error rates)"
        )
    va, vb = list(fit_a.law.variables), list(fit_b.law.variables)
    if isinstance(axis, Path):
        for arg, f, vs in ((args[0], fit_a, va), (args[1], fit_b, vb)):
            if not set(axis.variables) & set(vs):
                raise ScalefitError(
                    f"path {axis.axis!r} sets {list(axis.variables)}, none of which is a variable of {arg} "
                    f"({f.law.name}: {vs}); choose a path through the laws' variables{hint}"
                )
    elif axis not in va or axis not in vb:
        common = [v for v in va if v in vb]
        raise ScalefitError(
            f"axis {axis!r} must be a variable of both laws{near(axis, common)}; {args[0]} "
            f"({fit_a.law.name}) has {va} and {args[1]} ({fit_b.law.name}) has {vb}{hint}"
        )
    moving = path_variables(axis)
    needed = list(dict.fromkeys(v for v in va + vb if v not in moving))
    name = str(axis) if isinstance(axis, Path) else repr(axis)
    at = check_at(
        at,
        needed,
        role="holding every other variable fixed",
        fix="; hold every other variable fixed",
        unknown=f"at= names {{key!r}}, which neither law uses besides the axis {name}{{near}}; needed: {needed}",
        taken={v: f"at names {v!r}, which the axis {name} varies over the domain; remove it from at" for v in moving},
    )
    return at, check_domain(domain)


_DISTILLED_PARAMS = frozenset(paper_distilled.parameters) - frozenset(paper_error.parameters)


def distilled_marker(law: Law) -> str:
    """Why ``law`` looks like a distilled law, or ``""``."""
    if TEACHER in law.variables:
        return f"it has the teacher variable {TEACHER!r}"
    own = [p for p in law.parameters if p in _DISTILLED_PARAMS]
    return f"it has the distilled law's parameters {own}" if own else ""


def _is_plain(law: Law) -> bool:
    """``law`` is one of the catalogue's plain laws (Eq. 1 or 2), however named."""
    return any(law.expr == c.expr or set(law.parameters) == set(c.parameters) for c in (paper_error, paper_loss))


def _check_roles(plain_fit: Fit, distilled_fit: Fit) -> None:
    """Refuse a distilled law in the plain slot or the plain law in the distilled slot."""
    plain_mark, distilled_mark = distilled_marker(plain_fit.law), distilled_marker(distilled_fit.law)
    order = (
        "pass the plain fit first: distillation_boundary(plain_fit, distilled_fit, at=..., domain=...) "
        "(on the command line: scalefit boundary PLAIN.json DISTILLED.json)"
    )
    other = "or compare any two fits with crossover(fit_a, fit_b, axis='Dp', at=..., domain=..., names=...)"
    if plain_mark and not distilled_mark:
        raise ScalefitError(
            f"plain_fit and distilled_fit look swapped: plain_fit ({plain_fit.law.name}) looks like the distilled "
            f"law ({plain_mark}) and distilled_fit ({distilled_fit.law.name}) does not; {order}"
        )
    if plain_mark:
        raise ScalefitError(
            f"plain_fit ({plain_fit.law.name}) looks like a distilled law ({plain_mark}), and so does distilled_fit "
            f"({distilled_fit.law.name}); pass a fit of the plain law (e.g. paper_error) as plain_fit, {other}"
        )
    if _is_plain(distilled_fit.law):
        raise ScalefitError(
            f"distilled_fit ({distilled_fit.law.name}) is the plain law: it has no teacher variable {TEACHER!r} and "
            f"none of the distilled law's parameters; pass a fit of the distilled law (e.g. paper_distilled) as "
            f"distilled_fit — if the two are swapped, {order}; {other}"
        )


# -- public functions -------------------------------------------------------------------
def _build(cls, fit_a, fit_b, axis, at, domain, names, args, conditions=()):
    """The crossover of two checked fits; ``at`` and ``domain`` already checked."""
    lo, hi = domain
    check = np.geomspace(lo, hi, CHECK)
    va = values_along(fit_a.law, fit_a.params, axis, at, check)
    vb = values_along(fit_b.law, fit_b.params, axis, at, check)
    for arg, f, v in ((args[0], fit_a, va), (args[1], fit_b, vb)):
        bad = ~np.isfinite(v)
        if bad.any():
            held = ", ".join(f"{k}={x:g}" for k, x in at.items()) or "nothing else held"
            raise ScalefitError(
                f"{arg} ({f.law.name}) is not finite at {axis}={check[bad][0]:.4g} ({held}): its law overflows or "
                f"is undefined there at the fitted parameters; narrow domain=({lo:g}, {hi:g}) or change at="
            )
    pa_shape, pb_shape = _single_power(fit_a.law, axis), _single_power(fit_b.law, axis)
    shapes = (pa_shape, pb_shape) if pa_shape is not None and pb_shape is not None else None
    coincide = bool(np.all(_same(va, vb)))
    if coincide:
        stationary, crossings, closed = [], [], shapes is not None
        regimes = [Regime(lo, hi, TIE)]
    else:
        stationary, crossings, closed = _solve(
            fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, domain, shapes
        )
        edges = [lo, *crossings, hi]
        regimes = []
        for left, right in zip(edges[:-1], edges[1:], strict=True):
            if right <= left:
                continue
            f = float(
                difference_along(fit_a.law, fit_a.params, fit_b.law, fit_b.params, axis, at, np.sqrt(left * right))
            )
            regimes.append(Regime(left, right, names[1] if f > 0 else names[0]))
    draws = None
    if fit_a.draws is not None and fit_b.draws is not None:
        draws = _draw_table(fit_a, fit_b, axis, at, domain, shapes, args)
    checked = observed_cells(fit_a, fit_b, axis, at, names)
    caveats = _caveats(fit_a, fit_b, args, conditions, checked, axis)
    return cls(axis=axis, at=at, domain=domain, names=tuple(names), stationary=tuple(stationary),
               crossings=tuple(crossings), regimes=tuple(regimes), closed_form=closed, draws=draws,
               conditions=tuple(conditions), coincide=coincide, checked=checked, caveats=caveats,
               _fits=(fit_a, fit_b))  # fmt: skip


def _noise(fit: Fit) -> float:
    """A fit's rms log-residual (its runs' scatter about the law, misfit included)."""
    m = fit.misfit
    if m is None or not m.get("log", True):
        r = np.asarray(fit.data["y"], dtype=float)
        x = {v: np.asarray(a, dtype=float) for v, a in fit.data["x"].items()}
        with np.errstate(all="ignore"):
            pred = np.asarray(fit.law.evaluate(fit.params, x), dtype=float)
            lr = np.log(pred) - np.log(r)
        lr = lr[np.isfinite(lr)]
        return float(np.sqrt(np.mean(lr**2))) if lr.size else float("nan")
    return float(m["rms"])


def observed_cells(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], names) -> pd.DataFrame | None:
    """The fitted verdict against the runs, cell by cell (see :attr:`Crossover.checked`).

    A cell is a configuration of every variable of either law; fit ``a``'s runs are matched
    to fit ``b``'s on the variables both laws use (a variable only one law has, like the
    teacher ``Mt``, belongs to that side's cell). Observed means are compared with the
    laws at the same configuration: model-free evidence for or against the regimes.
    """
    if not fit_a.data or not fit_b.data or not fit_a.data.get("y") or not fit_b.data.get("y"):
        return None
    if isinstance(axis, Path):  # cells are not indexed by a coordinate along a path (yet)
        return None
    shared = [v for v in fit_a.law.variables if v in fit_b.law.variables]
    cells = []
    for fit in (fit_a, fit_b):
        frame = pd.DataFrame({v: np.asarray(a, dtype=float) for v, a in fit.data["x"].items()})
        frame["y"] = np.asarray(fit.data["y"], dtype=float)
        cells.append(frame.groupby(list(fit.law.variables), as_index=False)["y"].agg(["mean", "size"]))
    a, b = cells
    joined = a.merge(b, on=shared, suffixes=("_a", "_b"))
    if joined.empty:
        return None
    xa = {v: joined[v].to_numpy(dtype=float) for v in fit_a.law.variables}
    xb = {v: joined[v].to_numpy(dtype=float) for v in fit_b.law.variables}
    with np.errstate(all="ignore"):
        fitted = np.asarray(fit_a.law.evaluate(fit_a.params, xa), dtype=float) - np.asarray(
            fit_b.law.evaluate(fit_b.params, xb), dtype=float
        )
    observed = joined["mean_a"].to_numpy() - joined["mean_b"].to_numpy()
    sa, sb = _noise(fit_a), _noise(fit_b)
    se = np.sqrt((sa * joined["mean_a"]) ** 2 / joined["size_a"] + (sb * joined["mean_b"]) ** 2 / joined["size_b"])
    na, nb = names

    def winner(d):
        return np.where(d > 0, nb, np.where(d < 0, na, TIE))

    out = joined[list(dict.fromkeys([*fit_a.law.variables, *fit_b.law.variables]))].copy()
    out[f"{na}_runs"], out[f"{na}_observed"] = joined["size_a"].to_numpy(), joined["mean_a"].to_numpy()
    out[f"{nb}_runs"], out[f"{nb}_observed"] = joined["size_b"].to_numpy(), joined["mean_b"].to_numpy()
    out["observed_difference"], out["fitted_difference"] = observed, fitted
    out["observed_winner"], out["fitted_winner"] = winner(observed), winner(fitted)
    out["agree"] = (out["observed_winner"] == out["fitted_winner"]) | (observed == 0)
    slice_ = np.ones(len(out), dtype=bool)
    for v, value in at.items():
        if v in out.columns:
            slice_ &= np.isclose(out[v].to_numpy(dtype=float), value, rtol=1e-9, atol=0.0)
    out["in_slice"] = slice_
    with np.errstate(all="ignore"):
        out["z"] = observed / se.to_numpy()
        out["misfit_z"] = (fitted - observed) / se.to_numpy()
    return out.sort_values([*[v for v in out.columns if v in at], axis]).reset_index(drop=True)


def _caveats(fit_a: Fit, fit_b: Fit, args, conditions, checked, axis: str) -> tuple[str, ...]:
    """Why the result's probabilities should not be read at face value (see :attr:`Crossover.caveats`)."""
    out = []
    failed = [c.name for c in conditions if not c.holds]
    if failed:
        out.append(f"{len(failed)} of the {len(conditions)} conditions of Eq. 6 fail ({'; '.join(failed)})")
    for arg, fit in zip(args, (fit_a, fit_b), strict=True):
        if fit.method != "given" and not fit.status.converged:
            out.append(f"{arg} did not converge")
    if checked is not None:
        here = checked[checked["in_slice"] & ~checked["agree"]]
        if len(here):
            values = ", ".join(f"{v:.4g}" for v in here[axis])
            out.append(
                f"in this slice the runs contradict the fitted winner at {axis} = {values} "
                f"({len(here)} of {int(checked['in_slice'].sum())} cells)"
            )
        off = checked[checked["in_slice"] & (np.abs(checked["misfit_z"]) > MISFIT_Z)]
        if len(off):
            values = ", ".join(f"{v:.4g}" for v in off[axis])
            out.append(
                f"in this slice the laws' difference misses the observed one by more than {MISFIT_Z:g} noise units "
                f"at {axis} = {values}"
            )
    return tuple(out)


def _draw_table(fit_a, fit_b, axis, at, domain, shapes, args) -> pd.DataFrame | None:
    """Stationary point and crossings for every pair of draws whose laws are finite in the domain."""
    pa, pb = paired_draws(fit_a, fit_b)
    n = len(next(iter(pa.values())))
    if n == 0:
        return None
    check = np.geomspace(*domain, CHECK)
    va = values_along(fit_a.law, draw_columns(pa), axis, at, check[None, :])
    vb = values_along(fit_b.law, draw_columns(pb), axis, at, check[None, :])
    finite = np.all(np.isfinite(va) & np.isfinite(vb), axis=1)
    same = finite & np.all(_same(va, vb), axis=1)
    where = f"domain=({domain[0]:g}, {domain[1]:g})"
    if not finite.any():
        raise ScalefitError(
            f"no pair of draws of {args[0]} and {args[1]} gives laws that are finite over {where}; they overflow or "
            "are undefined there — narrow the domain"
        )
    if not finite.all():
        warnings.warn(
            f"{int((~finite).sum())} of {n} pairs of draws of {args[0]} and {args[1]} overflow or are undefined "
            f"somewhere in {where}; they are left out of draws, p_crossing and intervals() — narrow the domain "
            "to keep them",
            ScalingWarning,
            stacklevel=4,
        )
    rows = []
    for i in np.flatnonzero(finite):
        if same[i]:
            rows.append({"stationary": np.nan, "crossings": [], "coincide": True})
            continue
        da = {k: float(v[i]) for k, v in pa.items()}
        db = {k: float(v[i]) for k, v in pb.items()}
        s, c, _ = _solve(fit_a.law, da, fit_b.law, db, axis, at, domain, shapes)
        rows.append({"stationary": s[0] if s else np.nan, "crossings": c, "coincide": False})
    width = max([len(r["crossings"]) for r in rows] + [2 if shapes else 1])
    return pd.DataFrame(
        {
            "stationary": [r["stationary"] for r in rows],
            **{
                f"crossing_{j + 1}": [r["crossings"][j] if j < len(r["crossings"]) else np.nan for r in rows]
                for j in range(width)
            },  # fmt: skip
            "n_crossings": [len(r["crossings"]) for r in rows],
            "coincide": [r["coincide"] for r in rows],
        }
    )


def crossover(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], domain: tuple[float, float],
              names: tuple[str, str] = ("a", "b")) -> Crossover:  # fmt: skip
    """Every crossing of two fitted laws along ``axis`` inside ``domain``.

    E.g. at what fine-tuning set size does the 38M model overtake the 10M one:
    ``crossover(fit_38m, fit_10m, axis="Df", at={"Dp": 1.28e6}, domain=(1e3, 1e6))``.

    ``axis`` must be a variable of both laws and ``at`` must hold every other variable of
    either law (values > 0). Laws that coincide along the axis give a result with
    ``coincide=True``, no crossings and a single ``"tie"`` regime.

    ``axis`` may instead be a :class:`~scalefit.Path`: a coordinate that moves several
    variables at once, e.g. compute ``C`` with ``D = 20 N`` (:func:`~scalefit.compute_path`)
    or any mapping of your own; ``domain`` is then a range of that coordinate and ``at``
    holds the variables the path does not set. Crossings along a path are found numerically
    (no closed form), and :attr:`Crossover.checked` is ``None`` (runs are not indexed by a
    coordinate along a path).

    Parameters
    ----------
    fit_a, fit_b : Fit
        Two fits predicting the same metric; ``F = a - b > 0`` means ``b`` is lower.
    axis : str
        The variable along which to look for crossings (a variable of both laws).
    at : dict
        Values (> 0) of every other variable of either law.
    domain : (float, float)
        Range of ``axis`` to search.
    names : (str, str)
        Labels of the two fits in the regimes, tables and figures (default ``("a", "b")``).

    Returns
    -------
    Crossover
        ``stationary``, ``crossings``, ``regimes`` and, when both fits have bootstrap or
        posterior draws, ``draws``, :meth:`Crossover.intervals`, ``p_crossing`` and
        :meth:`Crossover.probability_b_wins`.
    """
    at, domain = check_pair(fit_a, fit_b, axis, at, domain)
    names = check_names(names)
    return _build(Crossover, fit_a, fit_b, axis, at, domain, names, ("fit_a", "fit_b"))


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
    draws = paired_draws(plain, distilled) if plain.draws is not None and distilled.draws is not None else None
    if draws is not None and not len(next(iter(draws[0].values()))):
        draws = None
    return [
        Condition(name, bool(test(p, d)), detail(p, d), None if draws is None else float(np.mean(test(*draws))))
        for name, test, detail in EQ6
    ]


def distillation_boundary(
    plain_fit: Fit,
    distilled_fit: Fit,
    at: Mapping[str, float],
    domain: tuple[float, float],
    along: str | Path = "Dp",
) -> DistillationBoundary:
    """Where distilling a small teacher into the model stops (or starts) paying, along ``Dp``.

    Parameters
    ----------
    plain_fit, distilled_fit : Fit
        Fits of the plain law (e.g. ``paper_error``) and the distilled law (e.g.
        ``paper_distilled``) to the same metric, in that order. A distilled law (one with
        the teacher variable ``Mt`` or the distilled law's parameters) as ``plain_fit``, or
        the catalogue's plain law as ``distilled_fit``, is refused: the regimes would be
        labelled the wrong way round. To compare other pairs, use :func:`crossover`.
    at : dict
        The other variables, e.g. ``{"M": 22e6, "Df": 5e4, "Mt": 10e6}``.
    domain : (float, float)
        Range of ``Dp`` (or of the ``along`` coordinate) to search.
    along : str or Path
        The coordinate searched: ``"Dp"`` (the paper's Eq. 1/4 question), another variable of
        both laws, or a :class:`~scalefit.Path` — e.g. student compute
        ``compute_path(tokens_per_parameter=20)`` for Busbridge et al.'s question "up to what
        student compute does distillation beat supervised training, for this teacher?".

    Returns
    -------
    DistillationBoundary
        ``stationary`` (``D*_p``, closed form for the paper's shapes), ``crossings``
        (every ``D**_p``), ``regimes`` (``"plain"`` / ``"distill"``), ``conditions`` (the
        paper's Eq. 6 on the fitted numbers) and, with bootstrap or posterior fits,
        ``draws``, ``intervals()``, ``p_crossing`` and ``p_distill_wins(Dp)``.
    """
    args = ("plain_fit", "distilled_fit")
    fit_arg(plain_fit, args[0])
    fit_arg(distilled_fit, args[1])
    _check_roles(plain_fit, distilled_fit)
    hint = " (distillation_boundary() searches along 'Dp' unless along= names another variable or a Path)"
    at, domain = check_pair(plain_fit, distilled_fit, along, at, domain, args, hint)
    conditions = _conditions(plain_fit, distilled_fit) if along == "Dp" else []
    return _build(DistillationBoundary, plain_fit, distilled_fit, along, at, domain, ("plain", "distill"), args,
                  conditions)  # fmt: skip
