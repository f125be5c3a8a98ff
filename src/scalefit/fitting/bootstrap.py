"""The case bootstrap of least-squares fits: replicates of every table refitted in batches until
the endpoints of each parameter's 95% interval settle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit import progress
from scalefit.fitting.convergence import CONVERGED
from scalefit.fitting.lsq import run_replicates
from scalefit.fitting.lsq_fit import Table
from scalefit.fitting.problem import Problem
from scalefit.fitting.solver import Solution
from scalefit.results.intervals import MIN_REPLICATES, endpoint_mc_error, released, valid_replicates
from scalefit.results.reports import MIN_CLUSTERS

#: Bootstrap replicates per table per batch, between checks of the endpoints' Monte-Carlo error.
BOOT_BATCH = 250


def resample_counts(t, bootstrap: int) -> np.ndarray:
    """How often each run of table ``t`` enters each of ``bootstrap`` resamples (replicates x
    runs): runs drawn one by one (``n`` of ``n``, with replacement), or, when ``t.clusters``
    gives each run's cluster, clusters drawn whole (``G`` of the ``G`` clusters) — every run
    of a cluster counted as often as its cluster was drawn."""
    n = len(t.data)
    if t.clusters is None:
        return t.rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(float)
    g = t.clusters.count
    return t.rng.multinomial(g, np.full(g, 1.0 / g), size=bootstrap).astype(float)[:, t.clusters.index]


def case_bootstrap(finish, tables: list[Table], found: list[dict], bootstrap: int, max_steps: int, rtol: float) -> list:
    """Case-bootstrap replicates of every table, in batches; per table the valid ones (paper
    form), the share that converged and the number made.

    Every replicate starts at its table's optimum; when a parameter sits at a bound it also
    starts from a released point (that parameter moved well inside its range, where its
    gradient is not ~0) and keeps the better of its two optima — so a replicate can leave
    the bound when its resample says so. Replicates start near their own optimum, so they
    are solved with Huber's own curvature (``finish``: a few steps each). Replicates that
    did not converge, or converged to non-finite values, are dropped (and counted).

    All ``bootstrap`` resamples are drawn up front; they are refitted ``BOOT_BATCH`` at a time
    (every table's batch in one call), and a table stops once the Monte-Carlo standard error
    of each endpoint of each free parameter's 95% percentile interval is at most ``rtol`` of
    that interval's width (:func:`_replicates_settled`), or when all ``bootstrap`` are made
    (``rtol=0``: always; and for a cluster bootstrap of fewer than ``MIN_CLUSTERS`` values, whose
    few distinct resamples make that error meaningless). The replicates made are the first ones of the full run.
    """
    plans = []  # per table: the bootstrap counts, the starts every replicate is refitted from
    for t, o in zip(tables, found, strict=True):
        counts = t.fd.pad(resample_counts(t, bootstrap) * t.case_w)
        starts = [o["u_best"]]
        if o["bounds"]:
            theta = t.problem.theta_from_u(o["u_best"])
            starts.append(t.problem.u_from_theta(released(t.problem, theta, o["share"], o["pred"], o["bounds"])))
        plans.append((counts, starts))
    made = np.zeros(len(tables), dtype=int)
    parts: list[list[list[Solution]]] = [[[] for _ in starts] for _, starts in plans]
    running = np.ones(len(tables), dtype=bool)
    step = BOOT_BATCH if rtol > 0 else bootstrap
    with progress.task("bootstrap (stops early once the intervals settle)" if rtol > 0 else "bootstrap",
                       total=bootstrap * len(tables), unit="replicates") as bar:  # fmt: skip
        while running.any():
            u0s, owners, W, slots = [], [], [], []
            for g in np.flatnonzero(running):
                counts, starts = plans[g]
                lo, hi = made[g], min(made[g] + step, bootstrap)
                for j, u0 in enumerate(starts):
                    u0s.append(np.broadcast_to(u0, (hi - lo, len(u0))))
                    owners.append(np.full(hi - lo, g))
                    W.append(counts[lo:hi])
                    slots.append((g, j, hi - lo))
                made[g] = hi
            sol = run_replicates(
                finish, np.concatenate(u0s), np.concatenate(owners), [t.fd for t in tables], np.concatenate(W),
                max_steps, shared=len(tables) == 1,
            )  # fmt: skip
            at = 0
            for g, j, k in slots:
                parts[g][j].append(Solution(*(a[at : at + k] for a in sol)))
                at += k
            for g in np.flatnonzero(running):
                coarse = tables[g].clusters is not None and tables[g].clusters.count < MIN_CLUSTERS
                done = made[g] >= bootstrap or (not coarse and _replicates_settled(
                    _replicate_draws(tables[g], parts[g])[0], tables[g].problem, found[g]["bounds"], rtol
                ))  # fmt: skip
                running[g] = not done
            bar.set(int(sum(made[g] if running[g] else bootstrap for g in range(len(tables)))))
    return [(*_replicate_draws(t, parts[g]), int(made[g])) for g, t in enumerate(tables)]


def _replicate_draws(t: Table, parts: list[list[Solution]]) -> tuple[pd.DataFrame, float]:
    """The valid replicates (paper form; each the better of its starts' optima) and the share
    of replicates that converged, from each start's solutions so far."""
    objectives, papers = [], []  # per start: objective (inf where invalid), paper-form replicates
    for chunks in parts:
        sol = Solution(*(np.concatenate(a) for a in zip(*chunks, strict=True)))
        paper = t.problem.paper(t.problem.theta_from_u(sol.u))
        ok = valid_replicates(paper, sol.f, np.isin(sol.status, CONVERGED))
        objectives.append(np.where(ok, sol.f, np.inf))
        papers.append(paper)
    f = np.stack(objectives)
    pick, ok = np.argmin(f, axis=0), np.isfinite(f.min(axis=0))
    draws = pd.DataFrame({n: np.choose(pick, [p[n] for p in papers]) for n in t.problem.law.parameters})
    return draws[ok].reset_index(drop=True), float(ok.mean())


def _replicates_settled(draws: pd.DataFrame, problem: Problem, bounds, rtol: float) -> bool:
    """Whether the 95% percentile interval of every free parameter (those at a bound take
    theirs from the profile) has endpoints whose Monte-Carlo standard error is at most
    ``rtol`` of its width; never with fewer than ``MIN_REPLICATES`` valid replicates."""
    if len(draws) < MIN_REPLICATES:
        return False
    for name in problem.free:
        if name in bounds:
            continue
        errors, width = endpoint_mc_error(draws[name].to_numpy(dtype=float), 0.95)
        if np.isfinite(width) and width > 0 and max(errors) > rtol * width:
            return False
    return True
