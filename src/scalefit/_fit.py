"""``fit_law``: the one entry point from a runs table to a :class:`~scalefit.Fit`."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping

import jax
import numpy as np
import pandas as pd

from . import _validate as check
from ._bayes import (
    CentredAmplitude,
    default_priors,
    describe,
    diagnostic_notes,
    diagnostics,
    noise_sites,
    resolve_priors,
    sample,
)
from ._data import Runs, load_runs, per_run, require_fit_ready
from ._errors import ScalefitError, ScalingWarning
from ._identify import identifiability, structural_redundancy, with_unresolved
from ._intervals import (
    MIN_CONVERGED,
    MIN_REPLICATES,
    at_bounds,
    misfit,
    misfit_text,
    profile_bounds,
    released,
    term_shares,
    valid_replicates,
)
from ._laws import Law, Term, as_law
from ._lsq import OBJECTIVES, Objective, compiled, fit_data, given_starts, random_starts
from ._methods import NUTS, LeastSquares, make_method
from ._optim import CONVERGED
from ._problem import Problem
from ._result import Convergence, Fit, StartsReport

TOP_STARTS = 10


def fit_law(
    law: Law | Term,
    runs: pd.DataFrame | str | os.PathLike | Runs,
    *,
    target: str | None = None,
    mapping: Mapping[str, str] | None = None,
    method: str | LeastSquares | NUTS = "lsq",
    objective: str = "huber",
    delta: float | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    weights: str | np.ndarray | None = None,
    seed: int = 0,
    **options,
) -> Fit:
    """Fit a law to a runs table.

    Every argument is checked before any work starts; a bad one raises
    :class:`~scalefit.ScalefitError` (or ``TypeError``) naming it, its value and the fix.

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
    method : "lsq", "bayes", LeastSquares(...) or NUTS(...)
        :class:`~scalefit.LeastSquares`: multi-start Levenberg-Marquardt, vectorised with
        JAX, case-bootstrap intervals. :class:`~scalefit.NUTS`: NumPyro NUTS from the
        least-squares optimum; the result holds posterior draws and diagnostics (see
        :mod:`scalefit._bayes` for the default priors). The objects hold each method's
        options (``LeastSquares(starts=200, bootstrap=2000)``); the strings are
        shorthands for the defaults.
    objective : {"huber", "squared_log", "squared"}
        ``"huber"``: Huber loss of log-residuals (threshold ``delta``, default 1e-3), as
        Hoffmann et al. / Besiroglu et al.; ``"squared_log"``: squared log-residuals;
        ``"squared"``: squared residuals. Summed over runs. Recorded in the result.
    delta : float, optional
        The Huber threshold (``objective="huber"`` only).
    fix : dict, optional
        Parameters held at a value (paper form), e.g. ``{"E_inf": 0.0}``.
    tie : dict, optional
        Parameters set equal to another, e.g. ``{"gamma_prime": "gamma"}``.
    bounds : dict, optional
        ``{name: (low, high)}`` in paper form, ``None`` for an open side. Exponents are
        bounded below by 0 unless given other bounds. Least squares only (with NUTS,
        use priors).
    weights : str or array, optional
        Per-run weights (a column name or an array): each run's term of the objective
        (least squares) or of the log-likelihood (NUTS) is multiplied by its weight.
    seed : int
        Seed of the random starts, the bootstrap resamples and the chains.
    **options
        Shorthand for the options of the method named by a string: ``starts``,
        ``bootstrap``, ``explore_steps``, ``polish``, ``max_steps``, ``gtol``, ``ftol``,
        ``xtol``, ``throw`` (see :class:`~scalefit.LeastSquares`) and, with
        ``method="bayes"``, ``chains``, ``draws``, ``warmup``, ``noise``, ``priors``,
        ``noise_scale``, ``progress`` (see :class:`~scalefit.NUTS`). An option of the
        other method is an error.

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
    fitter = make_method(method, options)
    obj = _objective(objective, delta)
    seed = check.integer(seed, "seed", 0, 2**32 - 1)
    fix, tie, bounds = _constraints(law, fix, tie, bounds)
    if isinstance(fitter, NUTS) and bounds:
        raise ScalefitError("bounds= apply to least squares; with NUTS express them as priors= (e.g. a Uniform)")
    if target is not None:
        check.text(target, "target")
    if mapping is not None:
        check.names(mapping, "mapping", law.variables, what="law variable", example="{'Dp': 'pretrain_images'}")
        check.each(mapping, "mapping", check.text)
    if isinstance(runs, Runs) and runs.law == law and target in (None, runs.target) and mapping is None:
        data = runs
    else:
        if isinstance(runs, Runs) and runs.law is not None:
            target = runs.target if target is None else target
            mapping = runs.mapping if mapping is None else mapping
        data = load_runs(runs, law, target=target, mapping=mapping)
    problem = Problem.build(law, fix, tie, bounds, x=data.x, user_units=tuple(_user_priors(fitter)))
    _warn_redundant(law, problem)
    require_fit_ready(data, len(problem.free), obj.log or isinstance(fitter, NUTS))
    w = per_run(data, weights, "weights")
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    _check_memory(lsq, len(data), len(problem.free))
    if isinstance(fitter, LeastSquares):
        fit = _least_squares(data, problem, obj, lsq.starts, lsq.bootstrap, seed, w, lsq.search(), lsq.throw)
    else:
        bayes = dict(
            noise=fitter.noise,
            priors=fitter.priors,
            noise_scale=per_run(data, fitter.noise_scale, "noise_scale"),
            chains=fitter.chains,
            draws=fitter.draws,
            warmup=fitter.warmup,
            progress=fitter.progress,
        )
        init = _least_squares(data, problem, obj, lsq.starts, 0, seed, w, lsq.search(), lsq.throw)
        fit = _bayesian(init, data, problem, w, seed, **bayes)
    for note in fit.notes:
        warnings.warn(note, ScalingWarning, stacklevel=2)
    return fit


def _user_priors(fitter) -> tuple[str, ...]:
    return tuple(fitter.priors or ()) if isinstance(fitter, NUTS) else ()


def _objective(objective: object, delta: object) -> Objective:
    name = check.choice(objective, "objective", OBJECTIVES)
    if delta is not None:
        if name != "huber":
            raise ScalefitError(
                f"delta= is the Huber threshold and applies only to objective='huber', not {name!r}; "
                "drop delta= or use objective='huber'"
            )
        check.number(delta, "delta", low=0.0, low_open=True, fix="the Huber threshold on log-residuals, e.g. 1e-3")
    return Objective.make(name, None if delta is None else float(delta))


def _constraints(law: Law, fix, tie, bounds):
    """``fix``, ``tie`` and ``bounds`` checked for types, names, finiteness and conflicts."""
    names = law.parameters
    if fix is not None:
        check.names(fix, "fix", names, what="parameter", example="{'E_inf': 0.0}")
        fix = check.each(fix, "fix", lambda v, n: check.number(v, n))
    if tie is not None:
        check.names(tie, "tie", names, what="parameter", example="{'gamma_prime': 'gamma'}")
        for key, value in tie.items():
            if not isinstance(value, str):
                raise TypeError(f"tie[{key!r}] must be the name of another parameter, got {value!r}")
            if value == key:
                raise ScalefitError(f"tie[{key!r}] = {value!r} ties a parameter to itself; drop it")
    if bounds is not None:
        check.names(bounds, "bounds", names, what="parameter", example="{'alpha': (0.1, 2.0)}")
        out = {}
        for key, pair in bounds.items():
            where = f"bounds[{key!r}]"
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(f"{where} must be a pair (low, high), None for an open side, got {pair!r}")
            sides = []
            for side, value in zip(("low", "high"), pair, strict=True):
                if value is None:
                    sides.append(None)
                    continue
                v = check.number(value, f"{where} {side}", finite=False, fix="use None for an open side")
                if (side == "low" and v == -np.inf) or (side == "high" and v == np.inf):
                    v = None  # an infinite limit on its own side is an open side, as documented
                elif not np.isfinite(v):
                    raise ScalefitError(f"{where} {side} = {value!r} is not a usable limit; use None for an open side")
                sides.append(v)
            out[key] = tuple(sides)
        bounds = out
        conflict = sorted(set(bounds) & set(fix or {}))
        if conflict:
            n = conflict[0]
            lo, hi = bounds[n]
            inside = (lo is None or fix[n] >= lo) and (hi is None or fix[n] <= hi)
            raise ScalefitError(
                f"{n!r} is given both fix= ({fix[n]:g}) and bounds= ({lo}, {hi}); a fixed parameter has no "
                f"bounds — give one of them" + ("" if inside else " (and the fixed value lies outside the bounds)")
            )
    return fix, tie, bounds


def _check_memory(lsq: LeastSquares, n_runs: int, n_free: int) -> None:
    """Refuse, before any array is made, a number of starts or replicates that cannot fit in memory."""
    if isinstance(lsq.starts, int):
        check.array_budget(
            float(lsq.starts) * n_runs * (n_free + 2), "starts", f"{lsq.starts} starts x {n_runs} runs",
            "use fewer starts (the default 1000 finds the optimum of every catalogue law)",
        )  # fmt: skip
    check.array_budget(
        float(lsq.bootstrap) * n_runs * (n_free + 2), "bootstrap", f"{lsq.bootstrap} replicates x {n_runs} runs",
        "use fewer replicates (1000-4000 give stable 95% intervals)",
    )  # fmt: skip


def _least_squares(data, problem, obj, starts, bootstrap, seed, w, search, throw) -> Fit:
    law = problem.law
    max_steps = search["max_steps"]
    rng = np.random.default_rng(seed)
    theta0 = (
        random_starts(problem, data.x, data.y, starts, rng)
        if isinstance(starts, int)
        else given_starts(problem, starts)
    )
    u0 = problem.u_from_theta(theta0)
    n = len(data)
    case_w = np.ones(n) if w is None else w
    with jax.enable_x64(True):
        multi_start, boot, jacobian, residual_fn, profile_fn = compiled(
            problem, obj, search["gtol"], search["ftol"], search["xtol"]
        )
        logx, tgt = fit_data(problem, data.x, data.y, obj)
        sol = multi_start(
            u0,
            logx,
            tgt,
            case_w,
            explore_steps=search["explore_steps"],
            n_polish=min(search["polish"], len(u0)),
            max_steps=max_steps,
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
        params = {k: float(v) for k, v in problem.paper(theta_best).items()}
        status = Convergence(int(sol.status[best]), int(sol.steps[best]), float(sol.grad_norm[best]), max_steps)
        starts_report = _starts_report(problem, sol, f, len(u0), float(np.median(np.abs(data.y))))

        J = np.asarray(jacobian(theta_best, logx, tgt))
        residuals = np.asarray(residual_fn(theta_best, logx, tgt))
        pred = np.asarray(law.evaluate(params, data.x), dtype=float)
        share = term_shares(J, obj.log, pred)
        bounds = at_bounds(problem, theta_best, share)
        log_means = {v: float(np.mean(a)) for v, a in logx.items()}
        ident = identifiability(law, problem.free, J, log_means, skip=tuple(bounds), params=params, x=data.x)
        ident = with_unresolved(ident, {k: v for k, v in starts_report.spread.items() if k not in bounds})

        profiles = dict(
            profile_bounds(
                problem, profile_fn, u_best, float(f[best]), bounds, share, obj, pred, residuals,
                (logx, tgt, case_w), max_steps,
            )
        )  # fmt: skip
        draws, boot_conv = None, None
        if bootstrap:
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(float) * case_w
            draws, boot_conv = _bootstrap(boot, problem, u_best, logx, tgt, counts, max_steps, bounds, share, pred)

    notes = []
    if not status.converged:
        notes.append(f"fit of law {law.name!r} did not converge: {status.message}")
        if throw:
            raise ScalefitError(notes[0])
    if not starts_report.unique and not ident.flat:
        notes.append(str(starts_report))
    notes.extend(
        f"{b.text}; its interval is one-sided, from the bound to where the profile likelihood rises by the "
        "chi2 one-sided critical value"
        for b in bounds.values()
    )
    notes.extend(_bootstrap_notes(bootstrap, draws, boot_conv))
    fit_misfit = misfit(residuals, data.x, obj.log)
    notes.extend(misfit_text(fit_misfit)[1:])
    return Fit(
        law=law,
        method="lsq",
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
        data={"x": {v: a.tolist() for v, a in data.x.items()}, "y": data.y.tolist(), "noise_scale": None},
        bounds={k: {**b.to_dict(), "profile": profiles[k]} for k, b in bounds.items()},
        misfit=fit_misfit,
        bootstrap_requested=bootstrap or None,
    )


def _bootstrap(boot, problem, u_best, logx, tgt, counts, max_steps, bounds, share, pred):
    """Case-bootstrap replicates; the valid ones (paper form) and the share that converged.

    Every replicate starts at the optimum; when a parameter sits at a bound it also starts
    from a released point (that parameter moved well inside its range, where its gradient
    is not ~0) and keeps the better of its two optima — so a replicate can leave the bound
    when its resample says so. Replicates that did not converge, or converged to non-finite
    values, are dropped (and counted).
    """
    starts = [u_best]
    if bounds:
        theta = problem.theta_from_u(u_best)
        starts.append(problem.u_from_theta(released(problem, theta, share, pred, bounds)))
    objectives, papers = [], []  # per start: objective (inf where invalid), paper-form replicates
    for u0 in starts:
        bsol = boot(jax.numpy.asarray(u0), logx, tgt, counts, max_steps=max_steps)
        paper = problem.paper(problem.theta_from_u(np.asarray(bsol.u)))
        ok = valid_replicates(paper, np.asarray(bsol.f), np.isin(np.asarray(bsol.status), CONVERGED))
        objectives.append(np.where(ok, np.asarray(bsol.f), np.inf))
        papers.append(paper)
    f = np.stack(objectives)
    pick, ok = np.argmin(f, axis=0), np.isfinite(f.min(axis=0))
    draws = pd.DataFrame({n: np.choose(pick, [p[n] for p in papers]) for n in problem.law.parameters})
    return draws[ok].reset_index(drop=True), float(ok.mean())


def _bootstrap_notes(requested: int, draws, share):
    if not requested:
        return
    if requested < MIN_REPLICATES:
        yield (
            f"only {requested} bootstrap replicates: intervals from so few are noise (the 2.5% and 97.5% "
            f"points need hundreds); use bootstrap={max(1000, MIN_REPLICATES)}"
        )
    kept = 0 if draws is None else len(draws)
    if kept == 0:
        yield (
            "no bootstrap replicate converged, so the fit has no intervals (they are NaN): raise max_steps, "
            "or simplify the law (see the identifiability report)"
        )
    elif share < MIN_CONVERGED:
        yield (
            f"only {share:.0%} of bootstrap replicates converged ({kept} of {requested} kept; the others "
            "diverged or stopped early and are excluded): intervals from the rest may be too narrow — raise "
            "max_steps, or fix weakly identified parameters (see the identifiability report)"
        )


def _bayesian(init: Fit, data: Runs, problem: Problem, weights, seed: int, *, noise, priors, noise_scale, **run) -> Fit:
    law = problem.law
    known = noise_scale is not None
    defaults = default_priors(law, problem, data.x, data.y, noise, known)
    resolved = resolve_priors(defaults, priors, problem)
    start = {**init.params}
    if not known:
        mean = np.asarray(law.evaluate(init.params, data.x), dtype=float)
        r = data.y - mean if noise == "normal" else np.log(data.y) - np.log(mean)
        start["sigma"] = float(np.std(r)) or 1e-3
    if noise == "student_t":
        start["nu"] = 10.0
    for name in problem.free:
        if isinstance(resolved[name], CentredAmplitude):
            continue
        if not bool(resolved[name].support(start[name])):
            raise ScalefitError(
                f"the prior of {name!r} ({type(resolved[name]).__name__}) gives zero probability to the "
                f"least-squares value {start[name]:.4g}: the prior contradicts the data — widen it"
            )
    with jax.enable_x64(True):
        draws, stats = sample(
            law, problem, data.x, data.y, noise=noise, priors=resolved, init=start,
            weights=weights, noise_scale=noise_scale, seed=seed, **run,
        )  # fmt: skip
    # diagnostics of the sampled (normalised) sites; draws reported in the user's units
    diag = diagnostics(pd.DataFrame(draws), run["chains"], [*problem.free, *noise_sites(noise, known)], stats)
    user = problem.paper_from_normalised({n: draws[n] for n in law.parameters})
    user.update({n: np.full_like(draws[n], v) for n, v in problem.fixed.items()})
    frame = pd.DataFrame({**draws, **{n: np.asarray(user[n], dtype=float) for n in law.parameters}})
    notes = list(init.notes) + list(diagnostic_notes(diag))
    ident = init.identifiability
    if ident.flat or any("does not affect" in m for m in ident.messages):
        notes.append(
            "some parameters are not identified by these runs — their posterior is their prior: "
            + "; ".join(ident.messages)
        )
    return dataclasses.replace(
        init,
        method="bayes",
        params={n: float(np.median(frame[n])) for n in law.parameters},
        draws=frame,
        bootstrap_converged=None,
        bootstrap_requested=None,
        chains=run["chains"],
        noise=noise,
        diagnostics=diag,
        data={
            "x": {v: a.tolist() for v, a in data.x.items()},
            "y": data.y.tolist(),
            "noise_scale": None if noise_scale is None else noise_scale.tolist(),
        },
        priors={n: describe(d) for n, d in resolved.items()},
        notes=tuple(notes),
    )


def _warn_redundant(law: Law, problem: Problem) -> None:
    """Warn, before fitting, of parameters of which the law can only ever determine a combination."""
    for kind, group in structural_redundancy(law):
        free = [n for n in group if n in problem.free]
        if len(free) > 1:
            warnings.warn(
                f"law {law.name!r}: {', '.join(free)} are redundant — whatever the runs, only their "
                f"{kind} is determined; "
                f"fix all but one of them (fix={{{free[1]!r}: ...}}) or drop a term",
                ScalingWarning,
                stacklevel=3,
            )


def _starts_report(problem: Problem, sol, f: np.ndarray, n_starts: int, y_scale: float) -> StartsReport:
    """How many polished starts reached the best objective, and how much they disagree.

    Spreads are relative to the best value, except for additive constants (``E_inf``), whose
    spread is also measured against ``y_scale`` (the target's median): a floor that every
    start drives to ~0 (1e-20 here, 1e-60 there) changes no prediction and is not "non-unique".
    """
    order = np.argsort(f, kind="stable")
    best = order[0]
    at_best = np.flatnonzero(f <= f[best] + StartsReport.rtol * abs(f[best]) + 1e-12)
    paper = problem.paper(problem.theta_from_u(np.asarray(sol.u)[at_best]))
    spread = {}
    for name in problem.free:
        vals = np.asarray(paper[name], dtype=float)
        ref = abs(float(vals[0]))
        if problem.law.specs[name].role == "constant":
            ref = max(ref, 1e-6 * y_scale)
        spread[name] = float((vals.max() - vals.min()) / max(ref, 1e-300))
    return StartsReport(
        n_starts=n_starts,
        n_polished=len(f),
        n_converged=int(np.isin(np.asarray(sol.status), CONVERGED).sum()),
        n_at_best=len(at_best),
        best_values=[float(v) for v in f[order[:TOP_STARTS]]],
        spread=spread,
    )
