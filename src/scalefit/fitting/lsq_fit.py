"""The least-squares :class:`~scalefit.Fit` of one table: the table being fitted, its optimum
(the best polished start, its convergence, the starts report, identifiability and profile
bounds) and the Fit assembled from it with its notes."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from scalefit.errors import ScalefitError, format_rows
from scalefit.fitting.convergence import CONVERGED_DISTANCE, distances_to_optimum
from scalefit.fitting.lsq import FitData, bucket
from scalefit.fitting.problem import Problem
from scalefit.fitting.solver import Solution
from scalefit.results.fit import Fit
from scalefit.results.identify import identifiability, with_unresolved
from scalefit.results.intervals import (
    MIN_CONVERGED,
    MIN_REPLICATES,
    at_bounds,
    clear_of_bounds,
    interval_halfwidth,
    misfit,
    misfit_text,
    profile_bounds,
    robust_scale,
    term_shares,
)
from scalefit.results.reports import MIN_CLUSTERS, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport
from scalefit.tables.runs import Runs

TOP_STARTS = 10


class Clusters(NamedTuple):
    """A cluster bootstrap's clusters: the law ``variable`` whose values are resampled whole,
    each run's cluster (``index``, 0 to ``count - 1``) and the number of clusters."""

    variable: str
    index: np.ndarray
    count: int


@dataclasses.dataclass
class Table:
    """One table being fitted by least squares: the whole runs table, or one group of ``by=``."""

    data: Runs
    problem: Problem
    case_w: np.ndarray
    rng: np.random.Generator
    weights: np.ndarray | None = None  # the user's weights (None: none given)
    noise_scale: np.ndarray | None = None
    clusters: Clusters | None = None  # a cluster bootstrap's clusters (LeastSquares.clusters)
    fd: FitData | None = None


def optimum(t: Table, sol: Solution, n_starts: int, obj, lin, distances, profile_fn, max_steps) -> dict:
    """The best start of one table and everything computed at it (``distances``: of every
    polished start from its optimum, :func:`start_distances`)."""
    problem, data, law = t.problem, t.data, t.problem.law
    n = len(data)
    logx, tgt = t.fd.logx, t.fd.target
    f = np.where(np.isfinite(sol.f), sol.f, np.inf)
    if not np.isfinite(f).any():
        raise ScalefitError(
            f"{_label(t)}the objective is not finite at any starting point; {_undefined_rows(t, sol, obj.log)}"
        )
    best = int(np.argmin(f))
    u_best = np.asarray(sol.u[best])
    theta_best = problem.theta_from_u(u_best)
    params = {k: float(v) for k, v in problem.paper(theta_best).items()}
    R_starts, J_starts = lin  # residuals and Jacobians at every polished start
    J, residuals = J_starts[best], R_starts[best]
    pred = np.asarray(law.evaluate(params, data.x), dtype=float)
    share = term_shares(J, obj.log, pred)
    bounds = at_bounds(problem, theta_best, share)
    status = Convergence(
        int(sol.status[best]), int(sol.steps[best]), float(sol.grad_norm[best]), max_steps, float(distances[best])
    )
    starts_report = _starts_report(problem, sol, f, n_starts, float(np.median(np.abs(data.y))), distances)
    log_means = {v: float(np.mean(np.asarray(a)[:n])) for v, a in logx.items()}
    ident = identifiability(law, problem.free, J, log_means, skip=tuple(bounds), params=params, x=data.x)
    ident = with_unresolved(ident, {k: v for k, v in starts_report.spread.items() if k not in bounds})
    profiles = dict(
        profile_bounds(
            problem, profile_fn, u_best, float(f[best]), bounds, share, obj, pred, residuals,
            (logx, tgt, t.fd.pad(t.case_w)), max_steps,
        )
    )  # fmt: skip
    return dict(
        u_best=u_best, theta_best=theta_best, params=params, value=float(f[best]), status=status,
        starts=starts_report, residuals=residuals, pred=pred, share=share, bounds=bounds, ident=ident,
        profiles=profiles,
    )  # fmt: skip


def start_distances(tables: list[Table], sols: list[Solution], lins: list, obj) -> list[np.ndarray]:
    """Per table, the distance of every polished start from its optimum, in standard errors
    (:func:`~scalefit.fitting.convergence.distance_to_optimum`, with the robust scale of the table's best
    start), parameters at a bound at that start left out; ``inf`` where the objective is not
    finite. One rule for every start and path. The starts clear of every bound — nearly all —
    are measured in one batched call per row bucket (:func:`~scalefit.fitting.lsq.bucket`) for
    all the tables in it (their rows padded with rows of weight 0, which change nothing); the
    others table by table, grouped by the parameters that can move."""
    out = [np.full(len(sol.f), np.inf) for sol in sols]
    batch: list[tuple[int, np.ndarray, float]] = []  # (table, starts, scale) measured together
    for g, (t, sol, (R, J)) in enumerate(zip(tables, sols, lins, strict=True)):
        problem, n = t.problem, len(t.data)
        f = np.where(np.isfinite(sol.f), sol.f, np.inf)
        finite = np.flatnonzero(np.isfinite(f))
        if not len(finite):
            continue
        # residuals at rounding level (data drawn exactly from the law) are not noise: floor the scale at 1e-8
        floor = 1e-8 * (1.0 if obj.log else max(float(np.median(np.abs(t.data.y))), 1e-300))
        c = min(robust_scale(R[int(np.argmin(f))], obj), 1.0 / floor**2)
        thetas = problem.theta_from_u(np.asarray(sol.u, dtype=float)[finite])
        preds = np.exp(R[finite] + t.fd.target[:n]) if obj.log else R[finite] + t.fd.target[:n]
        shares = term_shares(J[finite], obj.log, preds)
        clear = clear_of_bounds(problem, thetas, shares)
        batch.append((g, finite[clear], c))
        movable: dict[tuple[int, ...], list[int]] = {}
        for i, theta, share in zip(finite[~clear], thetas[~clear], shares[~clear], strict=True):
            skip = at_bounds(problem, theta, share)  # starts by the parameters that can move at them
            movable.setdefault(tuple(j for j, name in enumerate(problem.free) if name not in skip), []).append(i)
        for keep, rows in movable.items():
            out[g][rows] = distances_to_optimum(J[rows][:, :, list(keep)], R[rows], t.case_w, obj, c)
    by_size: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    for entry in batch:  # tables of one row bucket together: a small table never pays for a large one's rows
        by_size.setdefault(bucket(len(tables[entry[0]].data)), []).append(entry)
    for part in by_size.values():
        most = max(len(tables[g].data) for g, _, _ in part)

        def padded(a, most=most):  # points x runs (x parameters) -> ``most`` runs, the added rows 0
            return np.concatenate([a, np.zeros((a.shape[0], most - a.shape[1], *a.shape[2:]))], axis=1)

        J = np.concatenate([padded(lins[g][1][rows]) for g, rows, _ in part])
        R = np.concatenate([padded(lins[g][0][rows]) for g, rows, _ in part])
        w = np.concatenate([padded(np.broadcast_to(tables[g].case_w, lins[g][0][rows].shape)) for g, rows, _ in part])
        c = np.concatenate([np.full(len(rows), scale) for _, rows, scale in part])
        d = distances_to_optimum(J, R, w, obj, c)
        at = 0
        for g, rows, _ in part:
            out[g][rows] = d[at : at + len(rows)]
            at += len(rows)
    return out


def _undefined_rows(t: Table, sol: Solution, log: bool) -> str:
    """Why no start gave a finite objective: the runs where the law is not finite (nor, for a
    log objective, > 0) at every start — a log or a negative power of a variable at 0 — or the
    generic advice."""
    problem, data = t.problem, t.data
    bad = np.ones(len(data), dtype=bool)
    with np.errstate(all="ignore"):
        for u in np.asarray(sol.u, dtype=float)[:8]:
            params = {k: float(v) for k, v in problem.paper(problem.theta_from_u(u)).items()}
            pred = np.asarray(t.problem.law.evaluate(params, data.x), dtype=float)
            bad &= ~np.isfinite(pred) | (log & (pred <= 0))
    if bad.any() and not bad.all():
        first = int(np.flatnonzero(bad)[0])
        at = ", ".join(f"{v}={data.x[v][first]:g}" for v in problem.law.variables)
        what = "finite and > 0 (the objective takes its log)" if log else "finite"
        return (
            f"the law is not {what} at any start in {format_rows(data.frame.index[bad])} (e.g. {at}): it is not "
            "defined there (a log or a negative power of 0?) — remove those rows or write a law defined there"
        )
    return "check that the target and variables are on the scale the law expects, or pass starts= explicitly"


def _label(t: Table) -> str:
    return f"{t.data.source}: " if t.data.source.startswith("group ") else ""


def assemble(t: Table, o: dict, boot, obj, bootstrap: int, seed: int, throw: bool) -> Fit:
    """The Fit of one table from its optimum ``o`` and bootstrap ``boot``, with its notes ranked by consequence."""
    data, law = t.data, t.problem.law
    draws, boot_conv, made = boot
    bootstrap = made or bootstrap  # replicates made: fewer than requested when the intervals settled early
    status, starts_report, ident, bounds = o["status"], o["starts"], o["ident"], o["bounds"]
    # notes ranked by consequence: no optimum, then intervals that cannot be trusted (too few or
    # failed replicates, a misfit larger than the intervals), then what the numbers mean (a
    # non-unique optimum, parameters at a bound), then a misfit the intervals already cover
    notes = []
    if not status.converged:
        notes.append(f"fit of law {law.name!r} did not converge: {status.message}")
        if throw:
            raise ScalefitError(_label(t) + notes[0])
    notes.extend(_bootstrap_notes(bootstrap, draws, boot_conv, t.clusters))
    if t.clusters is not None and bootstrap and bounds:
        notes.append(
            f"{', '.join(bounds)}: at a bound, so its interval comes from the profile likelihood, which treats the "
            f"runs as independent — clusters={t.clusters.variable!r} does not reach it, and it may be too narrow"
        )
    fit_misfit = misfit(o["residuals"], data.x, obj.log)
    lack = misfit_text(fit_misfit, interval_halfwidth(law, draws, data.x, obj.log))[1:]
    notes.extend(n for n in lack if "understate" in n)
    if not starts_report.unique and not ident.flat:
        notes.append(str(starts_report))
    notes.extend(
        f"{b.text}; its interval is one-sided, from the bound to where the profile likelihood rises by the "
        "chi2 one-sided critical value"
        for b in bounds.values()
    )
    notes.extend(n for n in lack if "understate" not in n)
    clustered = (t.clusters.variable, t.clusters.count) if t.clusters is not None and bootstrap else (None, None)
    fit = Fit(
        law=law,
        target=data.target,
        params=o["params"],
        value=o["value"],
        status=status,
        starts=starts_report,
        identifiability=ident,
        setup=Setup("lsq", obj, dict(data.mapping), t.problem, seed, data.source),
        runs=FittedRuns(
            n_runs=len(data),
            ranges={v: (float(a.min()), float(a.max())) for v, a in data.x.items()},
            residuals=o["residuals"],
            data={"x": {v: a.tolist() for v, a in data.x.items()}, "y": data.y.tolist(), "noise_scale": None},
            misfit=fit_misfit,
        ),
        draws=draws,
        bounds={k: {**b.to_dict(), "profile": o["profiles"][k]} for k, b in bounds.items()},
        bootstrap=BootstrapReport(bootstrap or None, boot_conv, *clustered),
        notes=tuple(notes),
    )
    return fit.identify()  # the one verdict: curvature, starts and the intervals of the replicates


def _bootstrap_notes(requested: int, draws, share, clusters: Clusters | None = None):
    if not requested:
        return
    if clusters is not None and clusters.count < MIN_CLUSTERS:
        yield (
            f"the bootstrap resampled {clusters.count} values of {clusters.variable} whole (clusters=): so few "
            "give a handful of distinct resamples, and percentile intervals from them are coarse — wide where "
            "a resample drops a value the law needs, and not a 95% interval in any exact sense (every requested "
            "replicate is made; no Monte-Carlo error is given)"
        )
    if clusters is not None:
        sizes = np.bincount(clusters.index, minlength=clusters.count)
        single = int(np.sum(sizes == 1))
        if 2 * single > clusters.count:
            yield (
                f"clusters={clusters.variable!r}: {single} of its {clusters.count} distinct values hold a single "
                "run, so the bootstrap is close to resampling runs one by one; values count as one cluster only "
                "when exactly equal — round the column first if near-equal values are one model"
            )
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


def _starts_report(
    problem: Problem, sol, f: np.ndarray, n_starts: int, y_scale: float, distances: np.ndarray
) -> StartsReport:
    """How many polished starts converged and reached the best objective, and how much they disagree.

    Convergence is the fit's one rule (``distances`` within ``CONVERGED_DISTANCE`` standard
    errors); the spread is over the converged starts at the best objective (over every
    start at the best objective when none converged), so a start still crawling along a
    valley does not make the optimum look non-unique. Spreads are relative to the best
    value, except for additive constants (``E_inf``), whose spread is also measured against
    ``y_scale`` (the target's median): a floor that every start drives to ~0 (1e-20 here,
    1e-60 there) changes no prediction and is not "non-unique".
    """
    order = np.argsort(f, kind="stable")
    best = order[0]
    converged = np.asarray(distances) <= CONVERGED_DISTANCE
    at_best = np.flatnonzero(f <= f[best] + StartsReport.rtol * abs(f[best]) + 1e-12)
    agreeing = at_best[converged[at_best]] if converged[at_best].any() else at_best
    agreeing = np.concatenate([[best], agreeing[agreeing != best]])  # the chosen optimum first: the reference
    paper = problem.paper(problem.theta_from_u(np.asarray(sol.u)[agreeing]))
    spread = {}
    for name in problem.free:
        vals = np.asarray(paper[name], dtype=float)
        ref = abs(float(vals[0]))
        if problem.law.specs[name].role == "constant":
            ref = max(ref, 1e-6 * y_scale)
        with np.errstate(all="ignore"):  # an overflowed start gives nan: "not unique", never a warning
            spread[name] = float((vals.max() - vals.min()) / max(ref, 1e-300))
    return StartsReport(
        n_starts=n_starts,
        n_polished=len(f),
        n_converged=int(converged.sum()),
        n_at_best=len(at_best),
        best_values=[float(v) for v in f[order[:TOP_STARTS]]],
        spread=spread,
    )
