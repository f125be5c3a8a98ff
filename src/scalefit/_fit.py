"""``fit_law``: the one entry point from a runs table to a :class:`~scalefit.Fit`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import jax
import numpy as np
import pandas as pd

from ._data import Runs, load_runs, require_fit_ready
from ._errors import ScalefitError, ScalingWarning
from ._identify import identifiability
from ._laws import Law, Term, as_law
from ._lsq import Objective, compiled, fit_data, given_starts, random_starts
from ._optim import CONVERGED
from ._problem import Problem
from ._result import Convergence, Fit, StartsReport

METHODS = ("lsq",)
TOP_STARTS = 10


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ScalefitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def fit_law(
    law: Law | Term,
    runs: pd.DataFrame | str | os.PathLike | Runs,
    *,
    target: str | None = None,
    mapping: Mapping[str, str] | None = None,
    method: str = "lsq",
    objective: str = "huber",
    delta: float | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    starts: int | Mapping[str, object] | pd.DataFrame = 1000,
    bootstrap: int = 1000,
    seed: int = 0,
    explore_steps: int = 40,
    polish: int = 32,
    max_steps: int = 500,
    gtol: float = 1e-10,
    ftol: float = 1e-10,
    xtol: float = 1e-7,
    throw: bool = False,
) -> Fit:
    """Fit a law to a runs table.

    Parameters
    ----------
    law : Law or term
        A catalogue law (``scalefit.paper_error``) or one composed from terms.
    runs : DataFrame, path to .csv/.parquet, or Runs
        One row per training run.
    target : str
        Column to predict (e.g. ``"error"``). Taken from ``runs`` if it is a validated
        :class:`Runs`.
    mapping : dict, optional
        ``{law variable: column}``, e.g. ``{"Dp": "pretrain_images"}``.
    method : {"lsq"}
        Least squares (multi-start Levenberg-Marquardt, vectorised with JAX).
    objective : {"huber", "squared_log", "squared"}
        ``"huber"``: Huber loss of log-residuals (threshold ``delta``, default 1e-3), as
        Hoffmann et al. / Besiroglu et al.; ``"squared_log"``: squared log-residuals;
        ``"squared"``: squared residuals. Summed over runs. Recorded in the result.
    fix : dict, optional
        Parameters held at a value (paper form), e.g. ``{"E_inf": 0.0}``.
    tie : dict, optional
        Parameters set equal to another, e.g. ``{"gamma_prime": "gamma"}``.
    bounds : dict, optional
        ``{name: (low, high)}`` in paper form, ``None`` for an open side. Exponents are
        bounded below by 0 unless given other bounds.
    starts : int, dict or DataFrame
        Number of random starting points (default 1000); or a grid, ``{name: values}`` in
        paper form for every free parameter (their Cartesian product is used); or a
        DataFrame with one start per row and a column per free parameter. All starts
        are optimised in one compiled, vectorised call: each for ``explore_steps``
        Levenberg-Marquardt steps, then the ``polish`` best on to convergence.
    bootstrap : int
        Case-bootstrap replicates (default 1000; 0 for none), each refitted from the
        optimum, all in one compiled call. They give the parameter intervals and the
        confidence and prediction intervals of :meth:`Fit.predict`.
    seed : int
        Seed of the random starts and the bootstrap resamples.
    explore_steps, polish
        Steps every start takes (default 40) and how many of the best continue to
        convergence (default 32).
    max_steps, gtol, ftol, xtol
        Optimiser limits: steps per polished start or bootstrap replicate; stop when the largest gradient component is
        below ``gtol``, or when an accepted step changes the objective by less than
        ``ftol`` (relative) and the parameters by less than ``xtol``.
    throw : bool
        Raise if the best start did not converge (otherwise: a warning).

    Returns
    -------
    Fit

    Examples
    --------
    >>> import scalefit
    >>> runs = scalefit.example_runs()
    >>> fit = scalefit.fit_law(scalefit.paper_error, runs, target="error", starts=200, bootstrap=0)
    >>> fit.status.converged, round(fit.params["alpha"], 1)
    (True, 0.4)
    """
    law = as_law(law)
    if method not in METHODS:
        raise ScalefitError(f"method must be one of {list(METHODS)}, got {method!r}")
    obj = Objective.make(objective, delta)
    starts_n = None if isinstance(starts, Mapping | pd.DataFrame) else _positive_int(starts, "starts")
    bootstrap = _positive_int(bootstrap, "bootstrap", 0)
    seed = _positive_int(seed, "seed", 0)
    max_steps = _positive_int(max_steps, "max_steps")
    explore_steps = _positive_int(explore_steps, "explore_steps")
    polish = _positive_int(polish, "polish")
    if isinstance(runs, Runs) and runs.law == law and target in (None, runs.target) and mapping is None:
        data = runs
    else:
        if isinstance(runs, Runs) and runs.law is not None:
            target = runs.target if target is None else target
            mapping = runs.mapping if mapping is None else mapping
        data = load_runs(runs, law, target=target, mapping=mapping)
    problem = Problem.build(law, fix, tie, bounds)
    require_fit_ready(data, len(problem.free), obj.log)

    rng = np.random.default_rng(seed)
    theta0 = (
        given_starts(problem, starts) if starts_n is None else random_starts(problem, data.x, data.y, starts_n, rng)
    )
    u0 = problem.u_from_theta(theta0)
    n = len(data)
    with jax.enable_x64(True):
        multi_start, boot, jacobian, residual_fn = compiled(problem, obj, gtol, ftol, xtol)
        logx, tgt = fit_data(data.x, data.y, obj)
        sol = multi_start(
            u0, logx, tgt, np.ones(n), explore_steps=explore_steps, n_polish=min(polish, len(u0)), max_steps=max_steps
        )
        f = np.where(np.isfinite(np.asarray(sol.f)), np.asarray(sol.f), np.inf)
        if not np.isfinite(f).any():
            raise ScalefitError(
                "the objective is not finite at any starting point; check that the target and "
                "variables are on the scale the law expects, or pass starts= explicitly"
            )
        best = int(np.argmin(f))
        u_best = np.asarray(sol.u[best])
        theta_best = problem.theta_from_u(u_best)
        status = Convergence(int(sol.status[best]), int(sol.steps[best]), float(sol.grad_norm[best]), max_steps)
        starts_report = _starts_report(problem, sol, f, len(u0))

        J = np.asarray(jacobian(theta_best, logx, tgt))
        residuals = np.asarray(residual_fn(theta_best, logx, tgt))
        ident = identifiability(law, problem.free, J, {v: float(np.mean(np.log(a))) for v, a in data.x.items()})

        draws, boot_conv = None, None
        if bootstrap:
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(float)
            bsol = boot(u_best, logx, tgt, counts, max_steps=max_steps)
            boot_conv = float(np.isin(np.asarray(bsol.status), CONVERGED).mean())
            draws = pd.DataFrame(problem.paper(problem.theta_from_u(np.asarray(bsol.u))), columns=list(law.parameters))

    params = {k: float(v) for k, v in problem.paper(theta_best).items()}
    notes = []
    if not status.converged:
        notes.append(f"fit of law {law.name!r} did not converge: {status.message}")
        if throw:
            raise ScalefitError(notes[0])
    if not starts_report.unique:
        notes.append(str(starts_report))
    if boot_conv is not None and boot_conv < 0.9:
        notes.append(
            f"only {boot_conv:.0%} of bootstrap replicates converged; intervals may be too narrow — raise max_steps"
        )
    fit = Fit(
        law=law,
        method=method,
        objective=obj,
        target=data.target,
        mapping=dict(data.mapping),
        problem=problem,
        params=params,
        value=float(f[best]),
        status=status,
        starts=starts_report,
        identifiability=ident,
        residuals=residuals,
        ranges={v: (float(a.min()), float(a.max())) for v, a in data.x.items()},
        n_runs=n,
        draws=draws,
        bootstrap_converged=boot_conv,
        seed=seed,
        source=data.source,
        notes=tuple(notes),
    )
    for note in notes:
        warnings.warn(note, ScalingWarning, stacklevel=2)
    return fit


def _starts_report(problem: Problem, sol, f: np.ndarray, n_starts: int) -> StartsReport:
    """How many polished starts reached the best objective, and how much they disagree."""
    order = np.argsort(f, kind="stable")
    best = order[0]
    at_best = np.flatnonzero(f <= f[best] + StartsReport.rtol * abs(f[best]) + 1e-12)
    paper = problem.paper(problem.theta_from_u(np.asarray(sol.u)[at_best]))
    spread = {}
    for name in problem.free:
        vals = np.asarray(paper[name], dtype=float)
        spread[name] = float((vals.max() - vals.min()) / max(abs(float(vals[0])), 1e-300))
    return StartsReport(
        n_starts=n_starts,
        n_polished=len(f),
        n_converged=int(np.isin(np.asarray(sol.status), CONVERGED).sum()),
        n_at_best=len(at_best),
        best_values=[float(v) for v in f[order[:TOP_STARTS]]],
        spread=spread,
    )
