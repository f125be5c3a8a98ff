"""Least squares over tables: the multi-start search, vectorised across tables, and its compiled sizes.

:func:`least_squares` fits one law to every table (the whole runs table, or each group of
``by=``) in one pass: the starts of every table explored and polished together (large tables
screened on a subsample of their rows, ``starts="auto"`` in batches until each optimum is
confirmed), then each table's optimum checked (:mod:`scalefit.fitting.lsq_fit`), its bootstrap
run (:mod:`scalefit.fitting.bootstrap`) and its :class:`~scalefit.Fit` assembled. Tables are
padded to a few bucketed counts so that a few compiled programs serve any number of groups.
"""

from __future__ import annotations

import jax
import numpy as np

from scalefit import progress
from scalefit.fitting.bootstrap import case_bootstrap
from scalefit.fitting.lsq import (
    LANES,
    FitData,
    Objective,
    bucket,
    compiled,
    fit_data,
    given_starts,
    random_starts,
    run_replicates,
)
from scalefit.fitting.lsq_fit import Table, assemble, optimum, start_distances
from scalefit.fitting.solver import Solution
from scalefit.results.fit import Fit
from scalefit.results.reports import StartsReport

#: Tables padded beyond this many rows have their starts screened on ``SCREEN_ROWS`` of their
#: rows (drawn with ``SCREEN_SEED``); the best ``FINAL_POLISH`` screen optima (distinct
#: ones first: objectives more than ``SCREEN_RTOL`` apart) are then polished on every row.
SCREEN_ABOVE, SCREEN_ROWS, SCREEN_SEED, FINAL_POLISH, SCREEN_RTOL = 2048, 1024, 0x5CA1E, 4, 1e-4
#: ``starts="auto"``: batch size, polished per batch, most starts, polished starts that must agree.
AUTO_BATCH, AUTO_POLISH, AUTO_MAX, AUTO_AGREE = 64, 16, 1024, 8
#: Lane counts of the polish of tables padded to at most ``POLISH_PADDED_ROWS`` rows (or screens of
#: so many): the exploring ones but the smallest, so a fit's 16 polished starts run in the program
#: its 64 starts explored in (a few Newton steps each: padding them fourfold costs a 240-run fit
#: ~9 ms warm, and a fresh process reads, or a machine's first fit compiles, one program fewer).
#: Larger tables polish in lanes of every count: there the padding costs more than a program
#: (a 3,000-row table's 1,024-row screen: 0.14-0.21 s -> 0.27 s warm). Set by those costs.
POLISH_LANES, POLISH_PADDED_ROWS = LANES[1:], 256
#: Most points x padded rows in one call of the residuals and Jacobians at the polished starts.
LINEARISED_ROWS = 1 << 18


def least_squares(tables: list[Table], obj, starts, bootstrap, seed, search, throw, rtol=0.0) -> list[Fit]:
    """Least-squares fits of one law to every table, vectorised across tables.

    The tables share one law structure and one padded size, so each stage is one compiled
    call for all of them: the multi-start search (tables x starts) and the bootstrap
    (tables x replicates, see :func:`run_replicates`). What depends on one table's optimum
    (shares, bounds, identifiability, profiles) is computed table by table.
    """
    problem0 = tables[0].problem
    max_steps = search["max_steps"]
    size = max(bucket(len(t.data)) for t in tables)
    theta0 = None  # starts="auto": drawn batch by batch
    if not isinstance(starts, str):
        theta0 = [
            random_starts(t.problem, t.data.x, t.data.y, starts, t.rng)
            if isinstance(starts, int)
            else given_starts(t.problem, starts)
            for t in tables
        ]
    what = f"fitting {problem0.law.name!r}" + (f" to {len(tables)} groups" if len(tables) > 1 else "")
    with jax.enable_x64(True), progress.task(f"{what}: multi-start search") as bar:
        advance, jacobian, residual_fn, profile_fn, finish, linearised = compiled(
            problem0, obj, search["gtol"], search["ftol"], search["xtol"]
        )
        for t in tables:
            t.fd = fit_data(t.problem, t.data.x, t.data.y, obj, size)
        w = np.stack([t.fd.pad(t.case_w) for t in tables])
        # large tables: the starts are explored and polished on a subsample of rows (the
        # screen), and only the best few polished on every row (see _screen and _final_polish)
        screened = size > SCREEN_ABOVE
        if screened:
            screens = [_screen(t, obj) for t in tables]
            fds, ws = [fd for fd, _ in screens], np.stack([sw for _, sw in screens])
        else:
            fds, ws = [t.fd for t in tables], w

        def run(u0s, rows=None, polish=search["polish"]):
            """Starts (tables, starts, parameters) of the tables ``rows`` (default: all): every
            start explored for ``explore_steps`` steps (IRLS curvature: robust from anywhere),
            the best ``polish`` of each table polished to convergence (the loss's own curvature:
            a few steps from near an optimum; the same program with another input); one
            Solution per table. Both stages run as lanes of :func:`run_replicates` (a lane that
            converges early frees its place for the next start), so a few compiled lane counts
            serve any number of tables and starts."""
            rows = np.arange(len(tables)) if rows is None else np.asarray(rows)
            n = u0s.shape[1]
            owner = np.repeat(np.arange(len(rows)), n)
            data = [fds[r] for r in rows]
            ex = run_replicates(
                advance, u0s.reshape(-1, u0s.shape[-1]), owner, data, ws[rows[owner]], search["explore_steps"],
                shared=len(tables) == 1,
            )  # fmt: skip
            f = np.where(np.isfinite(ex.f), ex.f, np.inf).reshape(len(rows), n)
            k = min(polish, n)
            best = np.argsort(f, axis=1, kind="stable")[:, :k]
            owner = np.repeat(np.arange(len(rows)), k)
            sol = run_replicates(
                finish, ex.u.reshape(len(rows), n, -1)[owner, best.ravel()], owner, data, ws[rows[owner]], max_steps,
                sizes=POLISH_LANES if fds[0].target.shape[-1] <= POLISH_PADDED_ROWS else LANES, shared=len(tables) == 1,
            )  # fmt: skip
            return [Solution(*(a[g * k : (g + 1) * k] for a in sol)) for g in range(len(rows))]

        if theta0 is None:
            sols, made = _adaptive_starts(run, tables)
        else:
            sols = run(np.stack([t.problem.u_from_theta(th) for t, th in zip(tables, theta0, strict=True)]))
            made = [len(theta0[0])] * len(tables)
        if screened:
            bar.label = f"{what}: polishing the best starts on all rows"
            sols = _final_polish(finish, tables, sols, w, max_steps)
        bar.label = f"{what}: checking the optimum"
        at_starts = _at_starts(linearised, tables, sols)
        distances = start_distances(tables, sols, at_starts, obj)
        found = [
            optimum(t, sol, n, obj, lin, d, profile_fn, max_steps)
            for t, sol, n, lin, d in zip(tables, sols, made, at_starts, distances, strict=True)
        ]
        bar.label = f"{what}: bootstrap"
        boots = (
            case_bootstrap(finish, tables, found, bootstrap, max_steps, rtol)
            if bootstrap
            else [(None, None, 0)] * len(tables)
        )
    return [assemble(t, o, d, obj, bootstrap, seed, throw) for t, o, d in zip(tables, found, boots, strict=True)]


def _screen(t: Table, obj: Objective) -> tuple[FitData, np.ndarray]:
    """The rows a large table's starts are screened on: all of them when there are at most
    ``SCREEN_ROWS``, else ``SCREEN_ROWS`` drawn without replacement (a fixed draw, so a fit
    is reproducible), their case weights scaled up to the table's total; padded to
    ``bucket(SCREEN_ROWS)`` rows."""
    n = len(t.data)
    if n <= SCREEN_ROWS:
        rows = np.arange(n)
    else:
        rows = np.sort(np.random.default_rng(SCREEN_SEED).choice(n, SCREEN_ROWS, replace=False))
    sw = t.case_w[rows]
    total = float(np.sum(sw))
    if total > 0:
        sw = sw * (float(np.sum(t.case_w)) / total)
    fd = fit_data(t.problem, {v: a[rows] for v, a in t.data.x.items()}, t.data.y[rows], obj, bucket(SCREEN_ROWS))
    return fd, fd.pad(sw)


def _final_polish(advance, tables: list[Table], sols: list[Solution], w: np.ndarray, max_steps: int) -> list[Solution]:
    """Each screened table's best few screen optima polished on every row.

    From the starts polished on the screen, ``FINAL_POLISH`` continue on all rows: first
    the best start of each distinct optimum (objective values further apart than
    ``SCREEN_RTOL``, best first), then the next best starts — so a second basin that the
    subsample ranked close behind the first is still compared on the whole table. A table
    small enough to be its own screen keeps its polished starts as they are.
    """
    picks, owners = [], []
    for g, (t, sol) in enumerate(zip(tables, sols, strict=True)):
        if len(t.data) <= SCREEN_ROWS:
            continue
        f = np.where(np.isfinite(sol.f), sol.f, np.inf)
        order = list(np.argsort(f, kind="stable"))
        distinct = []
        for i in order:
            if np.isfinite(f[i]) and all(abs(f[i] - f[j]) > SCREEN_RTOL * abs(f[j]) for j in distinct):
                distinct.append(i)
        chosen = distinct[:FINAL_POLISH]
        chosen += [i for i in order if i not in chosen][: FINAL_POLISH - len(chosen)]
        picks.append(np.asarray(sol.u)[chosen])
        owners.extend([g] * len(chosen))
    if not owners:
        return sols
    owners = np.asarray(owners)
    sizes = tuple(sorted({min(FINAL_POLISH * _count_bucket(len(set(owners.tolist()))), 16), *LANES}))
    polished = run_replicates(
        advance, np.concatenate(picks), owners, [t.fd for t in tables], w[owners], max_steps, sizes=sizes,
        shared=len(tables) == 1,
    )  # fmt: skip
    out = list(sols)
    for g in sorted(set(owners.tolist())):
        rows = owners == g
        out[g] = Solution(*(a[rows] for a in polished))
    return out


def _at_starts(linearised, tables: list[Table], sols: list[Solution]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Residuals and Jacobians (every row) at every polished start of every table: the starts
    of all tables in a few compiled calls of a power-of-two count of points (at most
    ``LINEARISED_ROWS`` rows in all), each point with its table's data — so the cost grows with
    the starts polished, not with the most any one table polished times the tables (one call
    per start cost a dispatch each: seconds for a thousand groups)."""
    thetas = [t.problem.theta_from_u(np.asarray(sol.u, dtype=float)) for t, sol in zip(tables, sols, strict=True)]
    owner = np.concatenate([np.full(len(th), g) for g, th in enumerate(thetas)])
    flat = np.concatenate(thetas)
    logx = {v: np.stack([t.fd.logx[v] for t in tables]) for v in tables[0].fd.logx}
    target = np.stack([t.fd.target for t in tables])
    most = max(16, 1 << max((LINEARISED_ROWS // target.shape[1]).bit_length() - 1, 0))
    size = min(_count_bucket(len(flat)), most)
    R, J = [], []
    for start in range(0, len(flat), size):
        real = np.arange(start, min(start + size, len(flat)))
        pick = np.concatenate([real, np.full(size - len(real), real[0])])
        t = owner[pick]
        r, j = linearised(flat[pick], {v: a[t] for v, a in logx.items()}, target[t])
        R.append(np.asarray(r)[: len(real)])
        J.append(np.asarray(j)[: len(real)])
    R, J = np.concatenate(R), np.concatenate(J)
    return [(R[owner == g, : len(t.data)], J[owner == g, : len(t.data)]) for g, t in enumerate(tables)]


def _count_bucket(n: int) -> int:
    """Tables in one compiled call: the next power of two."""
    return 1 << (int(n) - 1).bit_length()


def _adaptive_starts(run, tables: list[Table]) -> tuple[list[Solution], list[int]]:
    """Random starts in batches of ``AUTO_BATCH`` until each table's best optimum is confirmed.

    Each batch explores its starts and polishes its best ``AUTO_POLISH``. A table's search
    stops when at least ``AUTO_AGREE`` polished starts, from independent random points,
    reached its best objective (within the report's ``rtol``) and either they are a
    majority of its first batch's polished starts or the latest batch found nothing better
    — the "found k times" stopping rule for multistart searches — or after ``AUTO_MAX``
    starts. Later batches run only for the tables still searching. Returns each table's
    polished solutions and the number of starts it used.
    """
    kept: list[list[Solution]] = [[] for _ in tables]
    best = np.full(len(tables), np.inf)
    done = np.zeros(len(tables), dtype=bool)
    for _ in range(AUTO_MAX // AUTO_BATCH):
        rows = np.flatnonzero(~done)
        starts = [random_starts(tables[r].problem, tables[r].data.x, tables[r].data.y, AUTO_BATCH, tables[r].rng)
                  for r in rows]  # fmt: skip
        u0s = np.stack([tables[r].problem.u_from_theta(th) for r, th in zip(rows, starts, strict=True)])
        for g, sol in zip(rows, run(u0s, rows, AUTO_POLISH), strict=True):
            kept[g].append(sol)
            f = np.concatenate([np.where(np.isfinite(s.f), s.f, np.inf) for s in kept[g]])
            new = float(f.min())
            improved = not np.isfinite(best[g]) or new < best[g] - StartsReport.rtol * abs(best[g]) - 1e-12
            best[g] = min(best[g], new)
            agree = int(np.sum(f <= best[g] + StartsReport.rtol * abs(best[g]) + 1e-12)) if np.isfinite(new) else 0
            majority = len(kept[g]) == 1 and 2 * agree > len(f)
            done[g] = agree >= AUTO_AGREE and (majority or (len(kept[g]) > 1 and not improved))
        if done.all():
            break
    sols = [Solution(*(np.concatenate(parts) for parts in zip(*k, strict=True))) for k in kept]
    return sols, [AUTO_BATCH * len(k) for k in kept]
