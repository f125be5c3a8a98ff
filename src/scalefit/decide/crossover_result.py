"""The result types of a crossover: :class:`Crossover`, :class:`DistillationBoundary`, and
the :class:`Regime` and :class:`Condition` they hold, with the probabilities over draws."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.decide.arguments import points_arg
from scalefit.decide.crossover_solver import COINCIDE_RTOL
from scalefit.decide.paired import difference_along, draw_columns, paired_draws, values_along
from scalefit.errors import ScalefitError, ScalingWarning
from scalefit.results.fit import Fit
from scalefit.validate import probability

TIE = "tie"  # the winner of a regime where the laws coincide


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
    fits : (Fit, Fit) or None
        The two fits compared (``fit_a, fit_b``, or plain and distilled), which figures and
        :func:`~scalefit.suggest_runs` read; :meth:`pair` returns them or says they are missing.
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
    fits: tuple[Fit, Fit] | None = field(default=None, repr=False, compare=False)

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

    def pair(self) -> tuple[Fit, Fit]:
        """The two fits compared, ``(fit_a, fit_b)``; an error when this result was built without them."""
        if self.fits is None:
            raise ScalefitError(
                f"this {type(self).__name__} holds no fits; build it with crossover() or distillation_boundary()"
            )
        return self.fits

    def _require_draws(self) -> None:
        if self.draws is None:
            raise ScalefitError(f"{self.without_draws()}; refit with bootstrap= or method='bayes'")

    def without_draws(self) -> str:
        """Which of the two fits has no bootstrap or posterior draws (intervals need both)."""
        if self.fits is not None:
            lacking = [n for n, f in zip(self.names, self.fits, strict=True) if f.draws is None]
            if len(lacking) == 1:
                return (
                    f"fit {lacking[0]!r} has no bootstrap or posterior draws (the other has; intervals pair the "
                    "draws of both)"
                )
        return "these fits have no bootstrap or posterior draws"

    def difference(self, x) -> np.ndarray:
        """``F(x) = a(x) - b(x)`` at the best fits."""
        x = points_arg(x, "x", self.axis)
        a, b = self.pair()
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
        a, b = self.pair()
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
