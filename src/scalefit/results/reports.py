"""The parts of a fit's record: how it was asked for (:class:`Setup`), the runs it saw
(:class:`FittedRuns`), how its optimiser stopped (:class:`Convergence`), what its starts found
(:class:`StartsReport`), and what its bootstrap (:class:`BootstrapReport`) or sampler
(:class:`BayesReport`) did. Each is small and immutable; :class:`~scalefit.results.fit.Fit`
holds one of each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.fitting.convergence import CONVERGED, CONVERGED_DISTANCE, STATUS_TEXT
from scalefit.fitting.objective import Objective
from scalefit.fitting.problem import Problem
from scalefit.results.identify import spread_text


@dataclass(frozen=True)
class Convergence:
    """Whether the chosen optimum is one, judged at the point itself.

    ``distance`` is how far the best point lies from the optimum that the local curvature
    predicts, in standard errors (:func:`scalefit.fitting.convergence.distance_to_optimum`); the fit has
    converged when it is at most ``CONVERGED_DISTANCE`` (0.01). The rule depends only on
    the point, so the same optimum gets the same verdict however it was reached (one fit,
    a group of ``by=``, the command line). ``code``, ``steps`` and ``grad_norm`` record how
    the optimiser stopped (shown only when the fit did not converge); files written before
    ``distance`` existed are judged by ``code``.
    """

    code: int
    steps: int
    grad_norm: float
    max_steps: int
    distance: float | None = None

    @property
    def converged(self) -> bool:
        if self.distance is None:
            return self.code in CONVERGED
        return bool(self.distance <= CONVERGED_DISTANCE)

    @property
    def message(self) -> str:
        if self.distance is None:
            text = f"{STATUS_TEXT[self.code]} after {self.steps} steps (gradient norm {self.grad_norm:.2g})"
        elif self.converged:
            return (
                f"converged: the best point lies within {CONVERGED_DISTANCE:g} standard errors of the optimum "
                "(a further Gauss-Newton step would move it less)"
            )
        else:
            text = (
                f"did not converge: the best point lies {self.distance:.2g} standard errors from the optimum the "
                f"local curvature predicts (the optimiser's own test after {self.steps} steps: "
                f"{STATUS_TEXT[self.code]})"
            )
        if not self.converged:
            text += (
                f"; increase max_steps (now {self.max_steps}), or check the identifiability "
                "report: a flat direction keeps the optimiser crawling"
            )
        return text

    def to_dict(self) -> dict:
        out = {"code": self.code, "steps": self.steps, "grad_norm": self.grad_norm, "max_steps": self.max_steps}
        if self.distance is not None:
            out["distance"] = self.distance
        return out


#: Starts that reach the best objective are "not unique" when a parameter differs among them
#: by more than this (relative to its best value).
UNIQUE_RTOL = 0.01


@dataclass(frozen=True)
class StartsReport:
    """What the multi-start search found: is the best optimum unique?

    Every start takes a few steps; the ``n_polished`` best continue to convergence.
    ``n_converged`` counts the polished starts that converged by the fit's one rule (within
    0.01 standard errors of their optimum, see :class:`Convergence`). ``best_values`` are
    the lowest objective values over distinct starts; ``spread`` is, for each parameter,
    the relative range ``(max - min) / |best|`` among the converged starts whose objective
    is within ``rtol`` of the best (all starts at the best objective when none converged).
    A spread above ``UNIQUE_RTOL`` (1%) at equal objective means the optimum is not unique
    (a flat valley), whatever the chosen point says; below it the starts agree.
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
        return all(v <= UNIQUE_RTOL for v in self.spread.values())

    def __str__(self) -> str:
        worst = max(self.spread, key=lambda k: np.nan_to_num(self.spread[k], nan=np.inf)) if self.spread else None
        text = (
            f"{self.n_starts} starts, the best {self.n_polished} polished: {self.n_converged} "
            f"converged, {self.n_at_best} reached the best objective (within rtol {self.rtol:g})"
        )
        if self.n_at_best < 2:  # one start cannot disagree with itself
            return text + "; uniqueness not checked: only one start reached the best objective (more starts test it)"
        if worst is None or self.unique:
            return text + f"; optimum unique (they agree on every parameter to within {UNIQUE_RTOL:.0%})"
        return text + (
            f"; NOT unique: at equal objective {worst} varies by {spread_text(self.spread[worst])} (more than the "
            f"{UNIQUE_RTOL:.0%} allowed) — see the identifiability report"
        )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Setup:
    """How the fit was asked for.

    ``method`` is ``"lsq"`` (least squares with a bootstrap), ``"bayes"`` (NUTS) or
    ``"given"`` (:meth:`~scalefit.results.fit.Fit.from_params`); ``objective`` what least
    squares minimised (recorded, so fits with different losses are not confused); ``mapping``
    the law's variables to the table's columns; ``problem`` the free and fixed parameters with
    their bounds and the units they were fitted in; ``seed`` the random seed; ``source`` where
    the runs came from (a file name, or ``"<DataFrame>"``).
    """

    method: str
    objective: Objective
    mapping: dict[str, str]
    problem: Problem
    seed: int = 0
    source: str = "<DataFrame>"


@dataclass(frozen=True)
class FittedRuns:
    """The runs a fit saw and what they say about it.

    ``n_runs`` and ``ranges`` (each variable's smallest and largest value) describe them;
    ``data`` holds them (``{"x": {variable: values}, "y": values, "noise_scale": ...}``; ``None``
    for given parameters); ``residuals`` are the residuals at the optimum (log-residuals for
    log objectives); ``misfit`` is the lack-of-fit test of those residuals; ``extrapolation``
    the calibrated widening of intervals beyond the runs, set by a backtest (``None`` when
    none was calibrated).
    """

    n_runs: int
    ranges: dict[str, tuple[float, float]]
    residuals: np.ndarray
    data: dict | None = None
    misfit: dict | None = None
    extrapolation: dict | None = None


#: A cluster bootstrap (``LeastSquares(clusters=...)``) of fewer distinct values than this is
#: coarse: 5 values give at most 126 distinct resamples, 6 give 462 — a 95% percentile interval
#: needs a few hundred, so below 6 the fit's notes say its intervals are coarse.
MIN_CLUSTERS = 6


@dataclass(frozen=True)
class BootstrapReport:
    """The least-squares fit's case bootstrap: ``requested`` replicates (``None`` when none
    was run), the share of them that ``converged``, and — for a cluster bootstrap
    (``LeastSquares(clusters=...)``) — the variable whose values were resampled whole and
    how many distinct values (clusters) it has."""

    requested: int | None = None
    converged: float | None = None
    clusters: str | None = None
    cluster_count: int | None = None


@dataclass(frozen=True)
class BayesReport:
    """What NUTS did: the ``noise`` model, the number of ``chains``, the convergence
    ``diagnostics`` (R-hat, ESS, divergences, with the verdict ``ok`` and its ``problems``)
    and the ``priors`` used, as text."""

    noise: str
    chains: int
    diagnostics: dict[str, Any] = field(default_factory=dict)
    priors: dict[str, str] = field(default_factory=dict)
