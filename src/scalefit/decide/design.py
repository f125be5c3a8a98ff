"""Next-run design: which runs most reduce the uncertainty of a stated goal, per unit cost.

:func:`suggest_runs` scores candidate runs by **sequential c-optimal design**: the goal
``g`` is a scalar function of the fitted parameters — the location ``log x*`` of a crossing
of two fitted laws (:func:`~scalefit.crossover`), or the value of a law at a target
configuration — and a design is c-optimal when it minimises the variance of ``g`` (Atkinson,
Donev & Tobias 2007, *Optimum Experimental Designs, with SAS*, Oxford University Press;
in its Bayesian form, Chaloner & Verdinelli 1995, *Statistical Science* 10:273-304). Runs
are added one at a time, each the one with the largest expected fall of the goal's interval
width per unit cost, given the runs already picked (the sequential construction for
nonlinear models); with a ``budget``, the better of that plan and the plan by the largest
fall of the width is kept. Three ways to forecast the goal's uncertainty after a new run
``x`` with noise variance ``s2`` (the fit's residual variance; log scale for log objectives):

* ``method="draws"`` (the default when the fits have bootstrap or posterior draws): over the
  draws, the goal ``g_d`` and the prediction ``f_d(x)`` have a joint distribution; observing
  ``f(x)`` leaves the **Bayes linear adjusted variance** (Goldstein & Wooff 2007, *Bayes
  Linear Statistics*, Wiley)

      V(x) = Var(g) - Cov(g, f(x))^2 / (Var(f(x)) + s2),

  which sees the nonlinearity the draws carry (a crossing that moves a decade between
  draws), not just the slope at the best fit. The goal's draws are clipped to their 1% and
  99% quantiles so a few wild replicates do not decide the variance.
* ``method="reweight"``: preposterior Monte Carlo (Ryan, Drovandi, McGree & Pettitt 2016,
  *International Statistical Review* 84:128-154): draws play the truth in turn, simulate
  the new run's outcome, and the draws reweighted by its likelihood give the goal's interval
  after it; the expected width is the mean over the truths. Nothing is linearised, but the
  forecast is a Monte Carlo estimate and the weights are tempered to keep an effective
  sample of 30 draws.
* ``method="fisher"``: the delta method at the best fit. ``V = c^T I^-1 c`` with ``c = dg /
  dtheta`` (for a crossing, by the implicit function theorem), ``I = J^T J / s2`` the
  least-squares Fisher information of each fit's runs (blocks side by side for two fits;
  ``theta`` the free internal parameters: log-amplitudes and exponents), and a run adds the
  row ``j = df(x)/dtheta``: ``V(x) = V - (c^T I^-1 j)^2 / (s2 + j^T I^-1 j)`` (Sherman-Morrison).

``"draws"`` and ``"fisher"`` are the same update, in the space of draws or of parameters;
each pick updates it (so ``n > 1`` never counts the same information twice; a picked run
leaves the pool). Their expected interval after a run is the current one shrunk about its
median by ``sqrt(V(x) / V)`` (on the log scale of the axis for a crossing); the current interval comes
from the draws where the fits have them (``width_basis="draws"``), else from the delta
method (``"linearised"``).

What it does not see: a new run also moves the estimate (the design is local to what the
current fits believe), the Huber objective and run weights are treated as plain least
squares, and (``"fisher"``) a parameter at a bound of its range is held fixed. The expected
widths are forecasts to rank runs by, not promises; refit after running them and ask again.

Costs (``cost=``) are per-unit prices ``{"Dp": 1e-6, "M": ...}`` (cost = sum of price times
amount), a formula of the variables (``"6*M*Dp"``, ``"1e-6*Dp + 5"``), a callable whose
parameters are named after the variables it uses (given numpy arrays) returning the cost
of each run — all checked and evaluated by :mod:`scalefit.decide.cost`, as for
:func:`~scalefit.allocate` — or ``None`` (every run costs 1). For a crossing of two fits a
dict keyed by the two fits' names gives each its own cost (a distilled run also pays for
the teacher).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from scalefit.decide.boundary import (
    CHECK,
    check_domain,
    check_names,
    check_pair,
    crossover,
    distilled_marker,
    fit_arg,
    near,
)
from scalefit.decide.cost import parse_cost
from scalefit.decide.paired import difference_along, draw_columns, paired_draws, values_along
from scalefit.errors import ScalefitError, format_rows
from scalefit.files import jsonable
from scalefit.results.fit import Fit, numeric_column
from scalefit.validate import choice, integer, number, probability, shown_value, suggest

GOALS = ("crossing", "prediction")
METHODS = {
    "fisher": (
        "sequential c-optimal design: greedy expected reduction of the goal's linearised (delta-method) variance "
        "per unit cost, from the least-squares Fisher information J^T J / sigma^2 (Atkinson, Donev & Tobias 2007, "
        "Optimum Experimental Designs, with SAS, OUP)"
    ),
    "reweight": (
        "sequential Bayesian c-optimal design by preposterior Monte Carlo: greedy expected fall of the goal's "
        "central interval width per unit cost, the width measured over the fits' bootstrap/posterior draws "
        "importance-reweighted by the likelihood of each run's simulated outcome, with draws playing the truth in "
        "turn (Ryan, Drovandi, McGree & Pettitt 2016, Int. Stat. Rev. 84:128-154; Chaloner & Verdinelli 1995; "
        "sequential construction as in Atkinson, Donev & Tobias 2007)"
    ),
    "draws": (
        "sequential Bayesian c-optimal design: greedy expected reduction of the goal's variance per unit cost, "
        "the variance adjusted by the new run's observation under the joint distribution of the goal and the "
        "predictions over the fits' bootstrap/posterior draws (Bayes linear adjusted variance, Goldstein & Wooff "
        "2007; Bayesian c-optimality, Chaloner & Verdinelli 1995; sequential construction as in Atkinson, Donev & "
        "Tobias 2007)"
    ),
}
MIN_DRAWS = 50  # draws giving the goal needed for method="draws" (and for "auto" to choose it)
ENSEMBLE_BUDGET = 20_000_000  # most numbers in the matrix of draws x candidates
WINSOR = 0.01  # the goal's draws are clipped to these quantiles for the variance
TRUTHS = 64  # method="reweight": draws that play the truth in turn
MIN_ESS = 30.0  # method="reweight": weights are tempered to keep at least this effective sample size
TEMPER = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.0)
POINTS = 25  # log-spaced values per variable of bounds=
MAX_CANDIDATES = 50_000
STEP = 1e-5  # central finite-difference step in the internal parameters (log units, exponents)


# -- the result -------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSuggestions:
    """Candidate runs ranked by how much each reduces the goal's interval per unit cost.

    Attributes
    ----------
    table : DataFrame
        Every candidate, best first: the ``n`` picks in the order chosen (``pick`` 1..n),
        then the rest by ``reduction_per_cost``. Columns: ``fit`` (which fit the run is for,
        for a crossing of two fits), the law variables, ``cost``, ``expected_width`` (the
        goal's interval width expected after adding this run — for a pick, after it and the
        picks before it; for a run not picked, after the first ``n - 1`` picks and it, i.e.
        as an alternative to the last pick: with ``n=1``, each run on its own),
        ``reduction`` (the fall of the width from the run), ``reduction_per_cost``, ``cumulative_cost`` (picks) and
        ``pick`` (0 for a run not picked).
    goal : dict
        What the design targets: its ``kind``, the estimate and current interval
        (``estimate``, ``lower``, ``upper``, ``width``) and the goal's arguments.
    n : int
        How many runs were picked.
    interval : float
    width_basis : str
        ``"draws"`` (the current interval is from the fits' bootstrap/posterior draws,
        shrunk by the linearised variance ratio) or ``"linearised"`` (from the delta method).
    method : str
        The design criterion, with its citation.
    cost : str
        How the cost of each run was computed.
    notes : tuple of str
    budget : float or None
    rule : str
        ``"per_cost"`` (picked by the fall of the width per unit cost) or, with a budget,
        ``"largest_reduction"`` (by the fall of the width) when that plan ends narrower.
    """

    table: pd.DataFrame
    goal: dict[str, Any]
    n: int
    interval: float
    width_basis: str
    method: str = METHODS["fisher"]
    cost: str = "1 per run"
    notes: tuple[str, ...] = field(default_factory=tuple)
    budget: float | None = None
    rule: str = "per_cost"

    @property
    def runs(self) -> pd.DataFrame:
        """The ``n`` picked runs, in the order chosen."""
        return self.table[self.table["pick"] > 0]

    @property
    def expected_width(self) -> float:
        """The goal's interval width expected after all ``n`` picked runs."""
        return float(self.runs["expected_width"].iloc[-1])

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready form (``json.dumps(..., allow_nan=False)`` works; non-finite numbers are
        ``None``). ``limit`` keeps only the first rows of the ranked table."""
        rows = self.table if limit is None else self.table.head(integer(limit, "limit", 1))
        return {
            "method": self.method,
            "goal": jsonable(self.goal),
            "interval": self.interval,
            "n": self.n,
            "width_basis": self.width_basis,
            "cost": self.cost,
            "budget": self.budget,
            "rule": self.rule,
            "notes": list(self.notes),
            "runs": jsonable(self.runs.to_dict(orient="records")),
            "candidates": jsonable(rows.to_dict(orient="records")),
            "n_candidates": len(self.table),
        }

    def __repr__(self) -> str:
        g = self.goal
        what = (
            f"crossing ({g['which']}) of {g['names'][0]} and {g['names'][1]} along {g['axis']}"
            if g["kind"] == "crossing"
            else "prediction at " + ", ".join(f"{k}={v:.4g}" for k, v in g["at"].items())
        )
        lines = [
            f"RunSuggestions for the {what}",
            f"  now: {g['estimate']:.4g}, {self.interval:.0%} interval [{g['lower']:.4g}, {g['upper']:.4g}] "
            f"(width {g['width']:.4g}, from {self.width_basis})",
            f"  after the {self.n} suggested run(s): expected width {self.expected_width:.4g} "
            f"for cost {self.runs['cost'].sum():.4g}",
        ]
        show = self.table.head(max(self.n, 5))
        lines += ["  " + line for line in show.to_string(index=False, float_format=lambda v: f"{v:.4g}").splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- costs ----------------------------------------------------------------------------------
def _cost_function(spec: object, variables: list[str], name: str) -> tuple[Callable, str]:
    """``(f, description)`` with ``f(x) -> cost per run`` for one cost spec, checked (``None``: 1 per run)."""
    if spec is None:
        return (lambda x: np.ones(len(next(iter(x.values()))))), "1 per run"
    cost = parse_cost(spec, variables, owner="the candidate runs", name=name, free=True)
    return cost, cost.text


def _costs(cost: object, table: pd.DataFrame, variables: list[str], names: tuple[str, ...] | None):
    """The cost of every candidate (finite, > 0), and a description."""
    per_fit = (
        names is not None
        and isinstance(cost, Mapping)
        and bool(cost)
        and all(isinstance(k, str) and k in names for k in cost)
        and not any(k in variables for k in cost)
    )
    if per_fit:
        missing = [n for n in names if n not in cost]
        if missing:
            raise ScalefitError(
                f"cost= gives costs per fit but not for {missing}; give one for each of {list(names)}, e.g. "
                f"cost={{{names[0]!r}: 'Dp', {names[1]!r}: '1.5*Dp'}}"
            )
        specs = {n: _cost_function(cost[n], variables, f"cost[{n!r}]") for n in names}
    else:
        one = _cost_function(cost, variables, "cost")
        specs = {n: one for n in (names or ("",))}
    x_all = {v: table[v].to_numpy(dtype=float) for v in variables}
    out = np.empty(len(table))
    for n, (f, _) in specs.items():
        rows = np.flatnonzero(table["fit"].to_numpy() == n) if names is not None else np.arange(len(table))
        if not len(rows):
            continue
        x = {v: a[rows] for v, a in x_all.items()}
        where = f"cost[{n!r}]" if per_fit else "cost"
        try:
            with np.errstate(all="ignore"):
                values = f(x)
            values = np.broadcast_to(np.asarray(values, dtype=float), (len(rows),))
        except ScalefitError:
            raise
        except (TypeError, ValueError) as exc:
            raise ScalefitError(
                f"{where}: could not compute the cost of the candidate runs ({exc}); it must give one number per run"
            ) from None
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            i = rows[np.flatnonzero(bad)[0]]
            shown = ", ".join(f"{v}={table[v].iloc[i]:.4g}" for v in variables)
            raise ScalefitError(
                f"{where} gives {float(values[bad][0])!r} for candidate {table.index[i]} ({shown}); every run must "
                f"cost a finite amount > 0 ({int(bad.sum())} candidates do not)"
            )
        out[rows] = values
    if per_fit:
        return out, "; ".join(f"{n}: {d}" for n, (_, d) in specs.items())
    return out, next(iter(specs.values()))[1]


# -- argument checks ----------------------------------------------------------------------
def _with_runs(fit: Fit, name: str) -> Fit:
    fit_arg(fit, name)
    if not fit.data or "x" not in fit.data or fit.n_runs == 0:
        raise ScalefitError(
            f"{name} ({fit.law.name}) holds no runs (it was made with Fit.from_params); suggest_runs needs the runs "
            "a fit was made from to know what they already tell — pass a result of fit_law() or load_fit()"
        )
    return fit


def _fits_arg(fits: object, goal: str, names: object) -> tuple[list[Fit], tuple[str, ...] | None]:
    if goal == "prediction":
        if isinstance(fits, Fit):
            return [_with_runs(fits, "fits")], None
        raise TypeError(
            f"fits must be one Fit for goal='prediction' (the fit whose prediction to pin down), got "
            f"{shown_value(fits)} ({type(fits).__name__})"
        )
    example = "e.g. suggest_runs((plain_fit, distilled_fit), goal='crossing', axis='Dp', at=..., domain=...)"
    if isinstance(fits, Mapping):
        if len(fits) != 2:
            raise ScalefitError(f"fits: a crossing needs exactly two fits, got {len(fits)} ({list(fits)}); {example}")
        if names is not None:
            raise ScalefitError("give the fits' names once: either fits={name: fit, ...} or names=(..., ...)")
        pair = list(fits.values())
        names = tuple(fits)
    elif isinstance(fits, list | tuple):
        if len(fits) != 2:
            raise ScalefitError(f"fits: a crossing needs exactly two fits, got {len(fits)}; {example}")
        pair = list(fits)
    else:
        raise TypeError(f"fits must be a pair of Fits (or a dict of two) for goal='crossing', got "
                        f"{shown_value(fits)} ({type(fits).__name__}); {example}")  # fmt: skip
    for i, f in enumerate(pair):
        _with_runs(f, f"fits[{i}]")
    if names is None:
        distilled = [bool(distilled_marker(f.law)) for f in pair]
        names = ("plain", "distill") if distilled == [False, True] else ("a", "b")
    return pair, check_names(names)


def _at_all(at: object, variables: list[str]) -> dict[str, float]:
    example = "at={" + ", ".join(f"{v!r}: ..." for v in variables) + "}"
    if not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict {{variable: value}} giving the target configuration, {example}, got "
            f"{shown_value(at)} ({type(at).__name__})"
        )
    for k in at:
        if not isinstance(k, str) or k not in variables:
            raise ScalefitError(f"at names {k!r}, which is not a variable of the law{near(k, variables)}; {example}")
    missing = [v for v in variables if v not in at]
    if missing:
        raise ScalefitError(f"at is missing {missing}: the target configuration needs every variable, {example}")
    return {v: number(at[v], f"at[{v!r}]", low=0.0, low_open=True) for v in variables}


def _which(which: object) -> str | int:
    if isinstance(which, str):
        return choice(which, "which", ("upper", "lower"))
    return integer(which, "which", 1, fix="'upper', 'lower', or the crossing's number counting up along the axis")


def _candidates(candidates, bounds, points, variables, fixed, names, default_bounds) -> pd.DataFrame:
    """The candidate runs: one row per (fit, configuration), every variable a finite number > 0."""
    if candidates is not None and bounds is not None:
        raise ScalefitError("give candidates= (a table of runs) or bounds= (a range per variable), not both")
    if candidates is None and bounds is None:
        if default_bounds is None:
            raise ScalefitError(
                "give candidates= (a DataFrame of possible runs, a column per variable) or bounds= "
                "({variable: (low, high)}, searched on a log-spaced grid)"
            )
        bounds = default_bounds
    if bounds is not None:
        if not isinstance(bounds, Mapping) or not bounds:
            raise TypeError(
                f"bounds must be a non-empty dict {{variable: (low, high)}}, e.g. bounds={{{variables[0]!r}: "
                f"(1e4, 1e8)}}, got {shown_value(bounds)} ({type(bounds).__name__})"
            )
        for k in bounds:
            if not isinstance(k, str) or k not in variables:
                raise ScalefitError(f"bounds names {k!r}, which is not a variable of the law{near(k, variables)}; "
                                    f"variables: {', '.join(variables)}")  # fmt: skip
        pts = POINTS if points is None else integer(points, "points", 2, 10_000)
        size = float(pts) ** len(bounds)
        if size > MAX_CANDIDATES:
            raise ScalefitError(
                f"bounds with points={pts} make {size:.3g} candidates (points ** {len(bounds)} variables); at most "
                f"{MAX_CANDIDATES} — lower points= or give candidates= explicitly"
            )
        axes = {k: np.geomspace(*check_domain(b, f"bounds[{k!r}]"), pts) for k, b in bounds.items()}
        mesh = np.meshgrid(*axes.values(), indexing="ij")
        table = pd.DataFrame({k: m.ravel() for k, m in zip(axes, mesh, strict=True)})
    else:
        if points is not None:
            raise ScalefitError("points= sets the grid of bounds=; with candidates= drop it")
        if not isinstance(candidates, pd.DataFrame):
            if isinstance(candidates, Mapping):
                try:
                    candidates = pd.DataFrame({k: np.atleast_1d(v) for k, v in candidates.items()})
                except ValueError as exc:
                    raise ScalefitError(f"candidates: every column must have the same length ({exc})") from None
            else:
                raise TypeError(
                    f"candidates must be a DataFrame of possible runs (a column per variable), got "
                    f"{shown_value(candidates)} ({type(candidates).__name__})"
                )
        if len(candidates) == 0:
            raise ScalefitError("candidates has no rows; give at least one possible run")
        if len(candidates) > MAX_CANDIDATES:
            raise ScalefitError(f"candidates has {len(candidates)} rows; at most {MAX_CANDIDATES}")
        cols = [str(c) for c in candidates.columns]
        extra = [c for c in cols if c not in variables and c != "fit"]
        if extra:
            raise ScalefitError(
                f"candidates has column {extra[0]!r}{near(extra[0], variables)}, which is not a variable of the "
                f"law{'' if names is None else ' nor fit'}; variables: {', '.join(variables)}"
            )
        if "fit" in cols and names is None:
            raise ScalefitError("candidates has a 'fit' column, which only a crossing of two fits uses; drop it")
        table = pd.DataFrame(index=candidates.index)
        for v in variables:
            if v in cols:
                table[v] = numeric_column(candidates[v], f"candidates column {v!r}", candidates.index)
        if "fit" in cols:
            labels = candidates["fit"].to_numpy(dtype=object)
            bad = np.array([lab not in names for lab in labels])
            if bad.any():
                raise ScalefitError(
                    f"candidates column 'fit' has {labels[bad][0]!r} in {format_rows(candidates.index[bad])}; it "
                    f"must name one of the fits: {list(names)}{suggest(labels[bad][0], names)}"
                )
            table["fit"] = labels
    if candidates is not None:  # a table states its runs in full: nothing is filled in from at=
        missing = [v for v in variables if v not in table.columns]
        if missing:
            held = [f"{v}={fixed[v]:g}" for v in missing if v in fixed]
            hint = f" (to run every candidate at the goal's {', '.join(held)}, add that column)" if held else ""
            raise ScalefitError(
                f"candidates has no column for {missing}; a table of candidate runs must give every variable of the "
                f"law ({', '.join(variables)}) — scalefit does not fill one in from at={hint}"
            )
    missing = [v for v in variables if v not in table.columns and v not in fixed]
    if missing:
        source = "candidates" if candidates is not None else "bounds"
        raise ScalefitError(
            f"{source} gives no values of {missing} and the goal does not fix them; give a column (or a range) "
            f"for {missing}, or hold them with at="
        )
    for v in variables:
        if v not in table.columns:
            table[v] = fixed[v]
        arr = table[v].to_numpy(dtype=float)
        bad = ~(np.isfinite(arr) & (arr > 0))
        if bad.any():
            raise ScalefitError(
                f"candidates: {v!r} must be finite and > 0, got {float(arr[bad][0])!r} in "
                f"{format_rows(table.index[bad])}"
            )
    if names is not None and "fit" not in table.columns:
        table = pd.concat([table.assign(fit=n) for n in names], ignore_index=True)
    cols = (["fit"] if names is not None else []) + variables
    table = table[cols].reset_index(drop=True)
    dup = table.duplicated().to_numpy()
    if dup.any():
        raise ScalefitError(
            f"candidates repeats runs ({format_rows(np.flatnonzero(dup))} repeat earlier rows); give each "
            "candidate once — the design decides how often to run a configuration"
        )
    return table


# -- linearisation ------------------------------------------------------------------------
@dataclass
class _Block:
    """One fit's part of the linearisation: its free internal parameters and information."""

    fit: Fit
    free: np.ndarray  # indices into problem.free that are linearised (not at a bound)
    theta: np.ndarray  # all free internal parameters (normalised form)
    log: bool  # rows are of log f
    sigma2: float
    info: np.ndarray = field(default=None)

    def values(self, theta_batch: np.ndarray, x: Mapping[str, np.ndarray]) -> np.ndarray:
        """The law (K, m) at K parameter vectors and m configurations."""
        paper = self.fit.problem.paper(theta_batch)
        params = {k: np.asarray(v, dtype=float).reshape(-1, 1) for k, v in paper.items()}
        with np.errstate(all="ignore"):
            return np.asarray(self.fit.law.evaluate(params, x), dtype=float).reshape(len(theta_batch), -1)

    def gradient(self, x: Mapping[str, np.ndarray], log: bool) -> np.ndarray:
        """``d f / d theta`` (or of ``log f``) at m configurations: (m, k) for the linearised parameters."""
        k = len(self.free)
        steps = STEP * np.maximum(1.0, np.abs(self.theta[self.free]))
        batch = np.repeat(self.theta[None, :], 2 * k, axis=0)
        for i, (j, h) in enumerate(zip(self.free, steps, strict=True)):
            batch[2 * i, j] += h
            batch[2 * i + 1, j] -= h
        v = self.values(batch, x)
        if log:
            with np.errstate(all="ignore"):
                v = np.log(v)
        return ((v[0::2] - v[1::2]) / (2 * steps[:, None])).T


def _block(fit: Fit, name: str, notes: list[str]) -> _Block:
    problem = fit.problem
    theta = problem.free_theta({n: fit.params[n] for n in problem.free})
    at_bound = set(fit.bounds or ())
    free = np.array([i for i, n in enumerate(problem.free) if n not in at_bound and np.isfinite(theta[i])], dtype=int)
    held = [n for i, n in enumerate(problem.free) if i not in free]
    if held:
        notes.append(f"{name}: {', '.join(held)} at a bound of the range, held fixed in the linearisation")
    if not len(free):
        raise ScalefitError(f"{name} ({fit.law.name}): every free parameter is at a bound; nothing to linearise")
    log = fit.noise != "normal" if fit.method == "bayes" else fit.objective.log
    x = {v: np.asarray(a, dtype=float) for v, a in fit.data["x"].items()}
    b = _Block(fit, free, theta, log, 1.0)
    J = b.gradient(x, log)
    if not np.isfinite(J).all():
        raise ScalefitError(f"{name} ({fit.law.name}): the law is not finite near the fitted parameters at its runs")
    r = np.asarray(fit._fitted_residuals(), dtype=float)
    dof = max(len(r) - len(free), 1)
    sigma2 = float(np.sum(r**2) / dof)
    scale = float(np.mean(np.abs(np.asarray(fit.data["y"], dtype=float)))) if not log else 1.0
    b.sigma2 = max(sigma2, (1e-6 * scale) ** 2)
    b.info = J.T @ J / b.sigma2
    return b


def _inverse(info: np.ndarray) -> np.ndarray:
    """The information's inverse, with a tiny ridge where it is (near) singular."""
    ridge = 1e-12 * max(float(np.trace(info)) / len(info), 1e-300)
    return np.linalg.pinv(info + ridge * np.eye(len(info)), hermitian=True)


# -- the variance of the goal as runs are added ----------------------------------------------
class _Linear:
    """Variance of a goal ``c`` as observations ``X[:, j]`` (noise ``sig2[j]``) are added:
    ``V = c^T P c`` with ``P = base - U U^T``; a run ``x`` adds ``P x / sqrt(x^T P x + s2)`` to
    ``U`` (Sherman-Morrison). ``base`` is the inverse Fisher information (parameter space)
    or ``None`` for the identity (the space of draws)."""

    def __init__(self, base: np.ndarray | None, c: np.ndarray, X: np.ndarray, sig2: np.ndarray):
        self.base, self.c, self.X, self.sig2 = base, c, X, sig2
        self.U = np.zeros((len(c), 0))

    def apply(self, v: np.ndarray) -> np.ndarray:
        out = v if self.base is None else self.base @ v
        return out - self.U @ (self.U.T @ v)

    def variance(self) -> float:
        return float(self.c @ self.apply(self.c))

    def after_each(self) -> np.ndarray:
        """The goal's variance after adding each candidate on its own."""
        Pc = self.apply(self.c)
        PX = self.apply(self.X)
        cov = Pc @ self.X
        var = np.einsum("ij,ij->j", self.X, PX)
        return float(self.c @ Pc) - cov**2 / (var + self.sig2)

    def fresh(self) -> _Linear:
        """The same goal and candidates with no run added."""
        out = _Linear(self.base, self.c, self.X, self.sig2)
        out.to_width = self.to_width
        return out

    def widths(self) -> np.ndarray:
        """The goal's expected interval width after adding each candidate on its own."""
        return self.to_width(self.after_each())

    def add(self, j: int) -> None:
        x = self.X[:, j]
        Px = self.apply(x)
        self.U = np.column_stack([self.U, Px / np.sqrt(x @ Px + self.sig2[j])])


def _fisher_inverse(blocks: list[_Block]) -> np.ndarray:
    sizes = [len(b.free) for b in blocks]
    offsets = np.cumsum([0, *sizes])
    info = np.zeros((offsets[-1], offsets[-1]))
    for b, o in zip(blocks, offsets, strict=False):
        info[o : o + len(b.free), o : o + len(b.free)] = b.info
    return _inverse(info)


def _finite_or_raise(values: np.ndarray, rows: np.ndarray, table: pd.DataFrame, block: _Block, label: str) -> None:
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        r = rows[np.flatnonzero(bad)[0]]
        shown = ", ".join(f"{v}={table[v].iloc[r]:.4g}" for v in block.fit.law.variables)
        raise ScalefitError(
            f"candidate {r} ({shown}): the law of {label} ({block.fit.law.name}) is not finite there at the fitted "
            "parameters (or their draws); leave such runs out of candidates/bounds"
        )


def _fisher_model(blocks, owners, table, c, sig2, labels) -> _Linear:
    """Parameter space: rows ``d f(x) / d theta`` of each candidate in its own fit's block."""
    offsets = np.cumsum([0, *[len(b.free) for b in blocks]])
    X = np.zeros((offsets[-1], len(table)))
    for i, (b, mine) in enumerate(zip(blocks, owners, strict=True)):
        if not len(mine):
            continue
        x = {v: table[v].to_numpy(dtype=float)[mine] for v in b.fit.law.variables}
        J = b.gradient(x, b.log).T
        _finite_or_raise(J, mine, table, b, labels[i])
        X[offsets[i] : offsets[i + 1], mine] = J
    return _Linear(_fisher_inverse(blocks), c, X, sig2)


def _draw_predictions(blocks, owners, table, params, keep, labels) -> np.ndarray:
    """Every candidate's prediction (log scale for log objectives) under each draw kept: (D, m)."""
    D = len(np.asarray(next(iter(params[0].values())))[keep])
    X = np.zeros((D, len(table)))
    for i, (b, mine) in enumerate(zip(blocks, owners, strict=True)):
        if not len(mine):
            continue
        p = {k: np.asarray(v, dtype=float)[keep].reshape(-1, 1) for k, v in params[i].items()}
        x = {v: table[v].to_numpy(dtype=float)[mine] for v in b.fit.law.variables}
        with np.errstate(all="ignore"):
            f = np.asarray(b.fit.law.evaluate(p, x), dtype=float).reshape(D, -1)
            f = np.log(f) if b.log else f
        _finite_or_raise(f, mine, table, b, labels[i])
        X[:, mine] = f
    return X


def _kept(n_draws: int, n_candidates: int, per_draw: int = 1) -> slice:
    """The draws to use so the arrays stay near ``ENSEMBLE_BUDGET`` numbers."""
    if n_draws * n_candidates * per_draw > ENSEMBLE_BUDGET:
        return slice(0, max(MIN_DRAWS, ENSEMBLE_BUDGET // (n_candidates * per_draw)))
    return slice(None)


def _ensemble_model(blocks, owners, table, ens_goal, sig2, labels) -> _Linear:
    """The space of draws: the goal and every candidate's prediction under each (pair of)
    draw(s), centred — their covariances are the Bayes linear ones (Goldstein & Wooff 2007)."""
    g, params = ens_goal
    keep = _kept(len(g), len(table))
    g = g[keep]
    lo, hi = np.quantile(g, [WINSOR, 1 - WINSOR])
    g = np.clip(g, lo, hi)  # a few wild draws must not decide the variance
    X = _draw_predictions(blocks, owners, table, params, keep, labels)
    scale = 1.0 / np.sqrt(len(g) - 1)
    return _Linear(None, (g - g.mean()) * scale, (X - X.mean(axis=0)) * scale, sig2)


class _Reweight:
    """Expected interval width after new runs by importance reweighting of the draws.

    Preposterior Monte Carlo: ``TRUTHS`` draws play the truth in turn; each simulates the
    outcome of every candidate run (its prediction plus noise of the fit's residual variance,
    the same noise for every candidate: common random numbers); the draws are reweighted by
    the likelihood of the outcomes of the runs picked so far and the candidate's, and the
    goal's weighted central interval is measured. The expected width is the mean over the
    truths. Weights are tempered (raised to a power <= 1) where their effective sample size
    would fall below ``MIN_ESS``, so a forecast never claims more than the draws can show.
    """

    def __init__(self, g, X, sig2, interval, log_axis, rng):
        order = np.argsort(g)
        self.g, self.X = g[order], X[order]
        self.sig2, self.interval, self.log_axis = sig2, interval, log_axis
        t = rng.choice(len(g), size=min(TRUTHS, len(g)), replace=False)
        self.Y = self.X[t] + np.sqrt(sig2)[None, :] * rng.standard_normal((len(t), X.shape[1]))
        self.lw = np.zeros((len(t), len(g)))

    def fresh(self) -> _Reweight:
        out = object.__new__(_Reweight)
        out.__dict__.update(self.__dict__)
        out.lw = np.zeros_like(self.lw)
        return out

    def _loglik(self, cols) -> np.ndarray:
        """(truths, draws, len(cols)) log-likelihood of each truth's simulated outcomes."""
        d = self.Y[:, None, cols] - self.X[None, :, cols]
        return -0.5 * d**2 / self.sig2[cols]

    def _width(self, lw: np.ndarray) -> np.ndarray:
        """Weighted central interval width of the goal for log-weights (..., draws)."""
        lw = lw - lw.max(axis=-1, keepdims=True)
        best = np.zeros_like(lw)
        done = np.zeros(lw.shape[:-1], dtype=bool)
        for tau in TEMPER:
            w = np.exp(tau * lw)
            w /= w.sum(axis=-1, keepdims=True)
            take = (1.0 / np.sum(w**2, axis=-1) >= MIN_ESS) & ~done
            best = np.where(take[..., None], w, best)
            done |= take
            if done.all():
                break
        cdf = np.cumsum(best, axis=-1)
        tail = (1 - self.interval) / 2
        lo = self.g[np.minimum(np.sum(cdf < tail, axis=-1), len(self.g) - 1)]
        hi = self.g[np.minimum(np.sum(cdf < 1 - tail, axis=-1), len(self.g) - 1)]
        return np.exp(hi) - np.exp(lo) if self.log_axis else hi - lo

    def width_now(self) -> float:
        return float(np.mean(self._width(self.lw)))

    def widths(self) -> np.ndarray:
        m = self.X.shape[1]
        out = np.empty(m)
        step = max(1, int(4e6 // (self.lw.size or 1)))
        for a in range(0, m, step):
            cols = np.arange(a, min(m, a + step))
            lw = self.lw[:, :, None] + self._loglik(cols)  # (truths, draws, cols)
            out[cols] = self._width(np.moveaxis(lw, 2, 1)).mean(axis=0)
        return out

    def add(self, j: int) -> None:
        self.lw = self.lw + self._loglik(np.array([j]))[:, :, 0]


# -- goals --------------------------------------------------------------------------------
def _crossing_goal(blocks, names, axis, at, domain, which, interval, notes):
    fa, fb = blocks[0].fit, blocks[1].fit
    cross = crossover(fa, fb, axis, at, domain, names)
    if cross.coincide or not cross.crossings:
        raise ScalefitError(
            f"the best fits of {names[0]} and {names[1]} do not cross along {axis} in domain=({domain[0]:g}, "
            f"{domain[1]:g}), so there is no crossing to locate; widen domain=, or use goal='prediction'"
        )
    k = {"upper": len(cross.crossings), "lower": 1}.get(which, which)
    if k > len(cross.crossings):
        raise ScalefitError(
            f"which={which}: the best fits cross {len(cross.crossings)} time(s) along {axis} in the domain "
            f"(at {', '.join(f'{c:.4g}' for c in cross.crossings)}); use which='upper', 'lower' or 1.."
            f"{len(cross.crossings)}"
        )
    xs = float(cross.crossings[k - 1])
    u = np.log(xs)
    h = 1e-4

    def F(uu):
        return float(difference_along(fa.law, fa.params, fb.law, fb.params, axis, at, np.exp(uu)))

    slope = (F(u + h) - F(u - h)) / (2 * h)
    point = {v: np.array([xs if v == axis else at[v]]) for v in {*fa.law.variables, *fb.law.variables}}
    ga = blocks[0].gradient({v: point[v] for v in fa.law.variables}, False)[0]
    gb = blocks[1].gradient({v: point[v] for v in fb.law.variables}, False)[0]
    c = np.concatenate([-ga / slope, gb / slope])  # d log x* / d theta, by the implicit function theorem
    goal = {"kind": "crossing", "names": list(names), "axis": axis, "at": dict(at), "domain": list(domain),
            "which": which, "estimate": xs}  # fmt: skip
    now, ens = None, None
    if cross.draws is not None:
        values, pairs = _matched_crossings(cross, xs, np.sign(slope))
        ok = np.isfinite(values)
        goal["p_exists"] = float(ok.mean()) if len(values) else 0.0
        if ok.sum() >= 20:
            tail = (1 - interval) / 2
            lo, med, hi = np.quantile(np.log(values[ok]), [tail, 0.5, 1 - tail])
            now = (med, lo, hi)
            pa, pb = paired_draws(fa, fb)
            idx = pairs[ok]
            ens = (np.log(values[ok]), [{k: v[idx] for k, v in pa.items()}, {k: v[idx] for k, v in pb.items()}])
            if goal["p_exists"] < 0.9:
                notes.append(
                    f"the crossing exists in the domain in only {goal['p_exists']:.0%} of the pairs of draws; the "
                    "interval is over those"
                )
        else:
            notes.append("too few pairs of draws have this crossing for an interval from draws; linearised instead")
    return c, now, goal, True, ens


def _matched_crossings(cross, xs: float, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of draws in ``cross.draws``, the crossing that matches the best fit's: the
    same direction of change of ``F = a - b`` (so the lower and upper of two crossings are
    never confused), nearest to it in log ``x``; NaN where a pair has none. Also the index
    of each row's pair in ``paired_draws`` (rows are the pairs finite over the domain)."""
    fa, fb = cross._pair()
    pa, pb = paired_draws(fa, fb)
    check = np.geomspace(*cross.domain, CHECK)
    va = values_along(fa.law, draw_columns(pa), cross.axis, cross.at, check[None, :])
    vb = values_along(fb.law, draw_columns(pb), cross.axis, cross.at, check[None, :])
    pairs = np.flatnonzero(np.all(np.isfinite(va) & np.isfinite(vb), axis=1))
    d = cross.draws
    if len(pairs) != len(d):  # pragma: no cover - the same test as crossover()'s
        raise ScalefitError("internal: the pairs of draws do not match the crossover's draws table")
    cols = [c for c in d.columns if c.startswith("crossing_")]
    table = d[cols].to_numpy(dtype=float)
    out = np.full(len(d), np.nan)
    for i, row in enumerate(table):
        row = row[np.isfinite(row)]
        if not len(row):
            continue
        da = {k: float(v[pairs[i]]) for k, v in pa.items()}
        db = {k: float(v[pairs[i]]) for k, v in pb.items()}
        up = difference_along(fa.law, da, fb.law, db, cross.axis, cross.at, row * np.exp(1e-4))
        down = difference_along(fa.law, da, fb.law, db, cross.axis, cross.at, row * np.exp(-1e-4))
        same = np.sign(up - down) == sign
        if same.any():
            cand = row[same]
            out[i] = cand[np.argmin(np.abs(np.log(cand) - np.log(xs)))]
    return out, pairs


def _prediction_goal(block, at, interval, notes):
    fit = block.fit
    point = {v: np.array([at[v]]) for v in fit.law.variables}
    c = block.gradient(point, False)[0]
    value = float(block.values(block.theta[None, :], point)[0, 0])
    goal = {"kind": "prediction", "at": dict(at), "estimate": value, "target": fit.target}
    now, ens = None, None
    if fit.draws is not None and len(fit.draws) >= 20:
        p = fit.predict({v: [a] for v, a in at.items()}, interval=interval)
        lo, hi = float(p["ci_lower"].iloc[0]), float(p["ci_upper"].iloc[0])
        if np.isfinite(lo) and np.isfinite(hi):
            now = (value, lo, hi)
        draws = {k: fit.draws[k].to_numpy(dtype=float) for k in fit.law.parameters}
        with np.errstate(all="ignore"):
            g = np.asarray(fit.law.evaluate(draw_columns(draws), point), dtype=float).reshape(-1)
        ok = np.isfinite(g)
        ens = (g[ok], [{k: v[ok] for k, v in draws.items()}])
    return c, now, goal, False, ens


# -- the design ---------------------------------------------------------------------------
def suggest_runs(
    fits: Fit | Sequence[Fit] | Mapping[str, Fit],
    candidates: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    points: int | None = None,
    cost: object = None,
    goal: str = "crossing",
    axis: str | None = None,
    at: Mapping[str, float] | None = None,
    domain: tuple[float, float] | None = None,
    which: str | int = "upper",
    names: tuple[str, str] | None = None,
    n: int | None = None,
    budget: float | None = None,
    interval: float = 0.9,
    method: str = "auto",
    seed: int = 0,
) -> RunSuggestions:
    """The runs that most reduce the uncertainty of a goal per unit cost (sequential c-optimal design).

    Sequential c-optimal design (Atkinson, Donev & Tobias 2007): each pick is the run with the
    largest expected fall of the goal's interval width per unit cost, the variance after a
    run being the Bayes linear adjusted variance over the fits' draws (``method="draws"``,
    Goldstein & Wooff 2007) or the delta method's from the Fisher information
    (``method="fisher"``); the methods and what they do not see are described in the
    user guide (*Allocation and design*).

    Parameters
    ----------
    fits : Fit, pair of Fits, or dict of two Fits
        ``goal="crossing"``: the two fits whose crossing to locate (e.g. ``(plain_fit,
        distilled_fit)``; a dict gives their names). ``goal="prediction"``: one fit. Each
        must hold its runs (a result of :func:`fit_law` or :func:`load_fit`).
    candidates : DataFrame or dict, optional
        Possible runs, one per row, a column per law variable (every one: a missing column
        is an error, never filled in from ``at``). For a crossing, an optional column
        ``fit`` names which fit each run is for; without it every row is a candidate for
        both fits.
    bounds : dict, optional
        ``{variable: (low, high)}`` instead of ``candidates``: a grid of ``points``
        log-spaced values per variable (default 25). For a crossing, the default is
        ``{axis: domain}``.
    cost : None, dict, str or callable
        The cost of a run: ``None`` (1 per run), prices per unit ``{"Dp": 1e-6}``, a formula
        ``"6*M*Dp"`` or a callable whose parameters are named after the variables (numpy arrays). For a
        crossing, ``{name: cost}`` gives each fit's runs their own cost.
    goal : {"crossing", "prediction"}
        ``"crossing"``: the location of a crossing of the two laws along ``axis``, with the
        other variables at ``at``, in ``domain`` (as :func:`crossover`); ``which`` picks
        ``"upper"`` (largest), ``"lower"`` (smallest) or the k-th crossing counting up.
        ``"prediction"``: the law's value at the configuration ``at`` (the interval of the
        mean law).
    names : (str, str), optional
        Labels of the two fits (default ``("plain", "distill")`` when the second is a
        distilled law, else ``("a", "b")``).
    n : int, optional
        How many runs to pick (greedily, without repeats); default 1, or with ``budget``
        as many as it buys.
    budget : float, optional
        Pick runs until their total cost would exceed this. Two greedy plans are made — by
        the fall of the width per unit cost, and by the fall of the width among the runs
        still affordable — and the one leaving the narrower interval is returned. Taking the
        better of the two greedy rules keeps a constant-factor guarantee when gains are
        submodular, where either rule alone can be arbitrarily bad (Khuller, Moss & Naor
        1999; Leskovec et al. 2007, KDD); a fall of variance is not always submodular, so here
        it is a safeguard, not a guarantee. ``rule`` says which plan won.
    interval : float
        Central probability of the goal's interval (default 0.9).
    method : {"auto", "draws", "fisher", "reweight"}
        How the goal's uncertainty after a run is forecast: the Bayes linear adjusted variance
        over the bootstrap/posterior draws (``"draws"``, what ``"auto"`` uses when at least 50
        draws give the goal), the delta method from the Fisher information at the best fit
        (``"fisher"``, ``"auto"`` otherwise), or the expected interval width over the draws
        importance-reweighted by simulated outcomes (``"reweight"``: fully nonlinear, but a
        Monte Carlo estimate — noisier, seeded by ``seed``).
    seed : int
        Seed of ``method="reweight"``'s simulated outcomes.

    Returns
    -------
    RunSuggestions
        ``table`` (every candidate ranked: fit, variables, cost, expected_width, reduction,
        reduction_per_cost, cumulative_cost, pick), ``runs`` (the picks), ``goal`` (the
        estimate and its current interval) and ``to_dict()`` for JSON.
    """
    goal = choice(goal, "goal", GOALS)
    given_names = names
    pair, names = _fits_arg(fits, goal, names)
    if budget is not None:
        budget = number(budget, "budget", low=0.0, low_open=True, fix="the most the picked runs may cost in all")
    n = (None if budget is not None else 1) if n is None else integer(n, "n", 1, MAX_CANDIDATES)
    interval = probability(interval, "interval")
    method = choice(method, "method", ("auto", *METHODS))
    seed = integer(seed, "seed", 0, 2**32 - 1)
    if goal == "crossing":
        if axis is None or domain is None:
            raise ScalefitError(
                "goal='crossing' needs axis= (the variable along which the laws cross), at= (the other variables) "
                "and domain= (low, high) to search, as crossover() does"
            )
        which = _which(which)
        at, domain = check_pair(pair[0], pair[1], axis, at, domain, ("fits[0]", "fits[1]"))
        fixed, default = at, {axis: domain}
        variables = list(dict.fromkeys([*pair[0].law.variables, *pair[1].law.variables]))
    else:
        for arg, value in (("axis", axis), ("domain", domain), ("names", given_names)):
            if value is not None:
                raise ScalefitError(f"{arg}= belongs to goal='crossing'; goal='prediction' takes at= only — drop it")
        if which != "upper":
            raise ScalefitError("which= belongs to goal='crossing'; drop it")
        variables = list(pair[0].law.variables)
        if at is None:
            raise ScalefitError(
                "goal='prediction' needs at= the target configuration, e.g. at={"
                + ", ".join(f"{v!r}: ..." for v in variables)
                + "}"
            )
        at = _at_all(at, variables)
        fixed, default = at, None
    table = _candidates(candidates, bounds, points, variables, fixed, names, default)
    if n is not None and n > len(table):
        raise ScalefitError(f"n={n} is more than the {len(table)} candidates; lower n or give more candidates")
    costs, cost_text = _costs(cost, table, variables, names)

    notes: list[str] = []
    labels = names or ("fit",)
    blocks = [_block(f, lab, notes) for f, lab in zip(pair, labels, strict=True)]
    if goal == "crossing":
        c, now, described, log_axis, ens_goal = _crossing_goal(blocks, names, axis, at, domain, which, interval, notes)
    else:
        c, now, described, log_axis, ens_goal = _prediction_goal(blocks[0], at, interval, notes)
    owners = [
        np.flatnonzero(table["fit"].to_numpy() == names[i]) if names is not None else np.arange(len(table))
        for i in range(len(blocks))
    ]
    sig2 = np.empty(len(table))
    for b, mine in zip(blocks, owners, strict=True):
        sig2[mine] = b.sigma2
    enough = ens_goal is not None and len(ens_goal[0]) >= MIN_DRAWS
    if method == "auto":
        method = "draws" if enough else "fisher"
    elif method in ("draws", "reweight") and not enough:
        have = 0 if ens_goal is None else len(ens_goal[0])
        raise ScalefitError(
            f"method={method!r} needs at least {MIN_DRAWS} bootstrap or posterior draws giving the goal; these fits "
            f"have {have} — refit with bootstrap=1000, or use method='fisher'"
        )
    z = norm.ppf(0.5 + interval / 2)
    if now is None:
        basis = "linearised"
        centre = np.log(described["estimate"]) if log_axis else described["estimate"]
        sd = np.sqrt(float(c @ _fisher_inverse(blocks) @ c))
        now = (centre, centre - z * sd, centre + z * sd)
    else:
        basis = "draws"  # for a crossing, already on the log scale of the axis
    med, lo, hi = now
    lo_now, hi_now = (np.exp(lo), np.exp(hi)) if log_axis else (lo, hi)
    if method == "reweight":
        g, params = ens_goal
        keep = _kept(len(g), len(table), TRUTHS)
        X = _draw_predictions(blocks, owners, table, params, keep, labels)
        model = _Reweight(g[keep], X, sig2, interval, log_axis, np.random.default_rng(seed))
        w_now = model.width_now()
    else:
        model = _ensemble_model(blocks, owners, table, ens_goal, sig2, labels) if method == "draws" else (
            _fisher_model(blocks, owners, table, c, sig2, labels))  # fmt: skip
        V0 = model.variance()
        if not (np.isfinite(V0) and V0 > 0):
            raise ScalefitError("the goal's variance is not a positive number; the fits do not constrain it")

        def width(V):
            r = np.sqrt(np.maximum(V, 0.0) / V0)
            a, b_ = med + r * (lo - med), med + r * (hi - med)
            return np.exp(b_) - np.exp(a) if log_axis else b_ - a

        model.to_width = width
        w_now = float(width(V0))
    described.update(lower=float(lo_now), upper=float(hi_now), width=w_now)

    plans = {"per_cost": _greedy(model, costs, w_now, n, budget, per_cost=True)}
    if budget is not None:  # the better of the cost-benefit and the plain greedy (Leskovec et al. 2007)
        plans["largest_reduction"] = _greedy(model, costs, w_now, n, budget, per_cost=False)
    rule = min(plans, key=lambda k: (plans[k][4], plans[k][5]))  # smallest final width, then cheapest
    pick, after, reduction, cumulative, _, _ = plans[rule]
    if not (pick > 0).any():
        raise ScalefitError(
            f"budget={budget:g} buys none of the candidates (the cheapest costs {costs.min():.4g}); raise the "
            "budget or give cheaper candidates"
        )
    out = table.copy()
    out["cost"] = costs
    out["expected_width"] = after
    out["reduction"] = reduction
    out["reduction_per_cost"] = reduction / costs
    out["cumulative_cost"] = cumulative
    out["pick"] = pick
    chosen = out[pick > 0].sort_values("pick")
    others = out[pick == 0].sort_values("reduction_per_cost", ascending=False, kind="stable")
    ranked = pd.concat([chosen, others]).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    if budget is not None:
        other = [k for k in plans if k != rule][0]
        notes.append(
            f"budget {budget:g}: picked by {RULES[rule]} (expected width {plans[rule][4]:.4g}); {RULES[other]} would "
            f"leave {plans[other][4]:.4g}"
        )
    return RunSuggestions(
        ranked, described, int((pick > 0).sum()), interval, basis, METHODS[method], cost_text, tuple(notes),
        budget=budget, rule=rule,
    )  # fmt: skip


RULES = {
    "per_cost": "the largest fall of the width per unit cost",
    "largest_reduction": "the largest fall of the width",
}


def _greedy(model, costs, w_now: float, n: int | None, budget: float | None, per_cost: bool):
    """Runs picked one at a time: the largest fall of the width (per unit cost, or not) among
    the runs not yet picked and, with a budget, still affordable; until ``n`` runs, the
    budget, or no run that narrows the interval. Returns per candidate its pick number (0
    for none), expected width, reduction and cumulative cost, and the plan's final width
    and cost."""
    model = model.fresh()
    m = len(costs)
    pick = np.zeros(m, dtype=int)
    after, reduction, cumulative = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    spent, w_prev, last = 0.0, w_now, None
    limit = m if n is None else n
    for step in range(1, limit + 1):
        w = model.widths()
        gain = (w_prev - w) / costs if per_cost else w_prev - w
        open_ = pick == 0
        if budget is not None:
            open_ &= costs <= budget - spent + 1e-12 * budget
        if not open_.any():
            break
        gain = np.where(open_, gain, -np.inf)
        best = int(np.argmax(gain))
        if budget is not None and not w[best] < w_prev:
            break  # nothing affordable narrows the interval further
        last = (w, w_prev)
        pick[best], after[best], reduction[best] = step, w[best], w_prev - w[best]
        spent += costs[best]
        cumulative[best] = spent
        model.add(best)
        w_prev = float(w[best])
    if last is not None:  # the runs not picked: as an alternative to the last pick
        w, prev = last
        rest = pick == 0
        after[rest], reduction[rest] = w[rest], prev - w[rest]
    return pick, after, reduction, cumulative, w_prev, spent
