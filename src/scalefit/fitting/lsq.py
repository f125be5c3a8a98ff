"""Least-squares fitting: every start and every bootstrap replicate in one compiled call.

The objective is a sum over runs of a loss of the residuals, chosen explicitly:

* ``"huber"`` (default) — Huber loss (``delta = 1e-3``) of log-residuals
  ``log f(x) - log y``, as Hoffmann et al. 2022 and Besiroglu et al. 2024 fit Chinchilla;
* ``"squared_log"`` — sum of squared log-residuals;
* ``"squared"`` — sum of squared residuals ``f(x) - y`` (use for targets that can be 0).

The law is evaluated as a log-sum-exp of log-terms in its internal parameterisation
(log-amplitudes, positive exponents), and :mod:`scalefit.fitting.solver`'s Levenberg-Marquardt
solver is ``vmap``-ed over all starting points, then over the bootstrap's case weights.
Compiled solvers are cached per law, problem and shape, so a second fit is fast.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError
from scalefit.fitting import (
    exported,
    jaxcache,  # noqa: F401 - enables the persistent compilation cache
    memory,
)
from scalefit.fitting.convergence import MAX_STEPS
from scalefit.fitting.objective import Objective
from scalefit.fitting.problem import Problem
from scalefit.fitting.solver import Solution, huber_loss, make_solver, square_loss
from scalefit.laws.general import natural_value
from scalefit.laws.law import Law

#: Steps per round of :func:`run_replicates`.
ROUND_STEPS = 20
#: Batch sizes of :func:`run_replicates` (the largest while replicates wait for a lane).
LANES = (16, 64, 256)
#: Batches of lanes :func:`run_replicates` runs at once, each from its own thread (XLA runs a
#: batch on the thread that called it): two batches of 256 lanes in flight take 0.6x the time of
#: one after the other on 2 cores. Only for at least this many full batches of replicates.
STREAMS = 2
#: Most lanes x padded rows in one batch: beyond it a step's arrays outgrow the CPU caches and
#: each lane-step costs about twice as much (a 3,000-run table runs 16 lanes, not 256).
LANE_ROWS = 65536


def _residual(problem: Problem, objective: Objective):
    law = problem.law

    def residual(theta_free, logx, target):
        theta = problem.theta_dict(theta_free)
        return law.log_evaluate(theta, logx) - target if objective.log else natural_value(law, theta, logx) - target

    return residual


@functools.lru_cache(maxsize=32)
def _compiled(problem_key: str, objective: Objective, gtol: float, ftol: float, xtol: float):
    law_dict, problem_dict = json.loads(problem_key)
    problem = Problem.from_dict(Law.from_dict(law_dict), problem_dict)
    residual = _residual(problem, objective)
    loss = huber_loss(objective.delta) if objective.name == "huber" else square_loss()

    def solver(logx, target):
        options = dict(to_theta=problem.theta_and_slope, gtol=gtol, ftol=ftol, xtol=xtol)
        rows = target.shape[-1]
        if rows > CHUNK_ROWS and rows % CHUNK_ROWS == 0:  # a large table: blocks of rows, bounded memory
            blocks = rows // CHUNK_ROWS
            data = ({v: a.reshape(blocks, CHUNK_ROWS) for v, a in logx.items()}, target.reshape(blocks, CHUNK_ROWS))
            return make_solver(None, loss, chunks=(lambda theta, d: residual(theta, d[0], d[1]), data), **options)
        return make_solver(lambda theta: residual(theta, logx, target), loss, **options)

    @functools.partial(jax.jit, static_argnames=("steps", "shared"))
    def lanes(u0s, logx, target, W, newton, *, steps, shared=False):
        """Every lane — a start, its table's data and its case weights — for at most ``steps``
        steps (one round of :func:`run_replicates`), with the loss's IRLS curvature (``newton``
        0) or its own (1; see :func:`~scalefit.fitting.solver.huber_loss`): an input, so both
        are one compiled program. ``shared``: every lane fits the same table (``logx`` and
        ``target`` without the lane axis) — several times faster per step than a copy of the
        table per lane."""
        if shared:
            solve = solver(logx, target)
            return jax.vmap(lambda u, w: solve(u, w, steps, newton=newton))(u0s, W)
        return jax.vmap(lambda u, lx, t, w: solver(lx, t)(u, w, steps, newton=newton))(u0s, logx, target, W)

    @functools.partial(jax.jit, static_argnames=("max_steps",))
    def profile(u0s, masks, logx, target, w, *, max_steps):
        """Every ``(start, mask)`` pair to convergence, masked coordinates held fixed."""
        solve = solver(logx, target)
        return jax.vmap(lambda u, m: solve(u, w, max_steps, m))(u0s, masks)

    @jax.jit
    def jacobian(theta_free, logx, target):
        return jax.jacfwd(residual)(theta_free, logx, target)

    @jax.jit
    def residuals(theta_free, logx, target):
        return residual(theta_free, logx, target)

    @jax.jit
    def linearised(thetas, logx, target):
        """Residuals and Jacobians at many points, each with its own table's data (leading
        axis: points), in one call — not one call per point."""
        return jax.vmap(lambda t, lx, tg: (residual(t, lx, tg), jax.jacfwd(residual)(t, lx, tg)))(thetas, logx, target)

    stored = json.dumps([problem_key, repr(objective), gtol, ftol, xtol])  # what the programs were built for
    lanes_, jacobian, residuals, profile, linearised = (
        exported.Stored(f.__name__, f, stored) for f in (lanes, jacobian, residuals, profile, linearised)
    )
    advance, finish = Curvature(lanes_, 0.0), Curvature(lanes_, 1.0)
    return advance, jacobian, residuals, profile, finish, linearised


@dataclass(frozen=True)
class Curvature:
    """The lane program with one curvature: ``advance`` (IRLS, ``newton`` 0: exploring from
    random starts) or ``finish`` (the loss's own, ``newton`` 1: polishing from near an
    optimum). Called like the program without its ``newton`` input."""

    program: exported.Stored
    newton: float

    def __call__(self, u0s, logx, target, W, **static):
        return self.program(u0s, logx, target, W, np.float64(self.newton), **static)


memory.register(_compiled.cache_clear)  # programs of up to 32 law structures, dropped when crowded


def compiled(problem: Problem, objective: Objective, gtol: float, ftol: float, xtol: float):
    """Jitted (advance, jacobian, residuals, profile, finish, linearised) functions for
    this problem, cached."""
    key = json.dumps([problem.law.to_dict(), problem.to_dict(structure_only=True)], sort_keys=True)
    return _compiled(key, objective, gtol, ftol, xtol)


#: Tables are padded to the next power of two rows (at least this many), so one compiled
#: solver serves every table of a bucket: a process fitting thousands of tables of
#: different sizes compiles a handful of times, not once per size.
MIN_BUCKET = 16
#: Tables of more rows are solved in blocks of this many (see ``chunks`` in
#: :func:`scalefit.fitting.solver.make_solver`): a step's memory is one block's Jacobian per lane,
#: whatever the table's size. Such tables are padded to a whole number of blocks (not to a
#: power of two, which would waste up to half of the work on padding).
CHUNK_ROWS = 8192


def bucket(n: int) -> int:
    """Rows a table of ``n`` runs is padded to: the next power of two, at least ``MIN_BUCKET``;
    beyond ``CHUNK_ROWS``, the next multiple of ``CHUNK_ROWS``."""
    n = int(n)
    if n > CHUNK_ROWS:
        return -(-n // CHUNK_ROWS) * CHUNK_ROWS
    return max(MIN_BUCKET, 1 << (n - 1).bit_length())


class FitData(NamedTuple):
    """The arrays the compiled functions take, padded to ``bucket(n)`` rows.

    Padding rows repeat the first run (so every residual stays finite) and get weight 0
    in every objective, gradient and curvature: they change no result. ``pad`` extends
    per-run weights (or bootstrap counts, last axis) with those zeros; results per run
    (residuals, Jacobian rows) are cut back to the first ``n``. The arrays stay NumPy
    arrays: ``jnp.asarray`` would itself compile a small program per shape.
    """

    logx: dict[str, np.ndarray]
    target: np.ndarray
    n: int

    def pad(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        extra = self.target.shape[0] - self.n
        return np.concatenate([w, np.zeros(w.shape[:-1] + (extra,))], axis=-1)


def run_replicates(
    advance,
    u0s: np.ndarray,
    tables: np.ndarray,
    data: list,
    W: np.ndarray,
    max_steps: int,
    sizes=LANES,
    round_steps: int = ROUND_STEPS,
    shared: bool | None = None,
) -> Solution:
    """Refit every row of case weights ``W`` from its start, in rounds that keep every lane busy.

    Row ``i`` starts from ``u0s[i]`` and fits table ``tables[i]`` of ``data`` (a list of
    :class:`FitData` padded to one size) under case weights ``W[i]`` — so the replicates
    of many tables (the groups of ``by=``) share one batch. A vmapped solver runs until
    its slowest lane is done, so one batch of 1000 replicates costs 1000 times the slowest
    one's steps. Here a batch of lanes advances by at most ``ROUND_STEPS`` steps per round;
    replicates that finished (converged, failed, or took ``max_steps``, rounded up to a
    whole round) leave their lane and waiting replicates take it. When none wait, the
    stragglers go on in a smaller batch. Batches have one of the sizes in ``sizes`` (default
    ``LANES``), so three compiled programs serve every bootstrap. Replicates are independent, so this
    changes no result beyond the damping restarting each round. When every row fits the same
    table, the lanes share its data (``shared=True``) rather than each taking a copy, unless
    ``shared=False``. Many replicates (a bootstrap, the starts of many groups) run as
    :func:`streams`: fixed shares in concurrent threads, each share's batches in the same order
    whichever thread runs first, each thread with the caller's JAX settings; not for tables too
    large for full batches (two batches in flight would double the memory where it is largest).
    Returns NumPy arrays.
    """
    n = W.shape[0]
    u = np.array(u0s, dtype=float)
    tables = np.asarray(tables)
    one = tables.size > 0 and bool(np.all(tables == tables[0]))  # every lane fits one table: it is shared
    if shared is not None:  # the caller's choice (by=: never, so its groups use one set of programs)
        one = one and shared
    logx = {v: np.stack([d.logx[v] for d in data]) for v in data[0].logx}
    target = np.stack([d.target for d in data])
    f, grad = np.full(n, np.inf), np.full(n, np.inf)
    steps, status = np.zeros(n, dtype=int), np.full(n, MAX_STEPS)
    per_round = min(round_steps, max_steps)
    rows = data[0].target.shape[0]
    sizes = tuple(s for s in sizes if s * rows <= LANE_ROWS) or tuple(sizes[:1])

    stop = threading.Event()  # set when the caller stops waiting (an error, Ctrl-C): streams end their round

    def stream(todo: np.ndarray) -> None:
        """The replicates ``todo``, in order, through batches of lanes (results written in place)."""
        active, queued, m = np.zeros(0, dtype=int), 0, len(todo)
        while (active.size or queued < m) and not stop.is_set():
            size = min((s for s in sizes if s >= min(active.size + m - queued, sizes[-1])), default=sizes[-1])
            take = min(size - active.size, m - queued)
            active = np.concatenate([active, todo[queued : queued + take]])
            queued += take
            active = advance_round(active, size)

    def advance_round(active: np.ndarray, size: int) -> np.ndarray:
        """One round of the lanes ``active`` (padded to ``size``); the ones still going."""
        lanes = np.concatenate([active, np.full(size - active.size, active[0])])
        if one:
            g = int(tables[0])
            lx = {v: a[g] for v, a in logx.items()}
            sol = advance(u[lanes], lx, target[g], W[lanes], steps=per_round, shared=True)
        else:
            t = tables[lanes]
            sol = advance(u[lanes], {v: a[t] for v, a in logx.items()}, target[t], W[lanes], steps=per_round)
        sol = jax.tree.map(np.asarray, sol)
        real = slice(0, active.size)
        u[active], f[active], grad[active] = sol.u[real], sol.f[real], sol.grad_norm[real]
        steps[active] += sol.steps[real]
        status[active] = sol.status[real]
        return active[(status[active] == MAX_STEPS) & (steps[active] < max_steps)]

    # large tables (batches narrower than LANES' widest) keep one batch in memory at a time
    parts = streams(n, sizes[-1]) if sizes[-1] >= LANES[-1] else [np.arange(n)]
    if len(parts) == 1:
        stream(parts[0])
    else:  # each stream its own fixed share, so no result depends on which thread ran first
        settings = callers_settings()

        def as_the_caller(part):
            try:
                with contextlib.ExitStack() as within:
                    for name, value in settings.items():
                        within.enter_context(getattr(jax, name)(value))
                    stream(part)
            except BaseException:
                stop.set()  # whichever stream fails stops the other at its next round
                raise

        with ThreadPoolExecutor(len(parts), thread_name_prefix="scalefit-lanes") as pool:
            try:
                for done in [pool.submit(as_the_caller, part) for part in parts]:
                    done.result()
            except BaseException:
                stop.set()  # the caller stops waiting (Ctrl-C): so do the streams
                raise
    return Solution(u=u, f=f, grad_norm=grad, steps=steps, status=status)


#: JAX settings that a ``with`` block sets for its own thread only (``with jax.enable_x64(True)``
#: and the like): the caller's are set again in each stream's thread.
THREAD_SETTINGS = (
    "enable_x64", "debug_nans", "debug_infs", "disable_jit", "default_device", "default_matmul_precision",
    "numpy_rank_promotion", "numpy_dtype_promotion",
)  # fmt: skip


def callers_settings() -> dict:
    """The calling thread's value of each of :data:`THREAD_SETTINGS` this JAX has."""
    return {name: getattr(jax.config, f"jax_{name}") for name in THREAD_SETTINGS if hasattr(jax, name)}


def streams(n: int, batch: int) -> list[np.ndarray]:
    """The replicates ``0..n-1`` split into the shares of :data:`STREAMS` concurrent streams
    (contiguous, in order), or one share when there are too few to keep every stream's
    batches full (fewer than ``STREAMS x batch``) or the machine has one CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    k = min(STREAMS, cpus)
    if k < 2 or n < k * batch:
        return [np.arange(n)]
    return np.array_split(np.arange(n), k)


def fit_data(
    problem: Problem, x: Mapping[str, np.ndarray], y: np.ndarray, objective: Objective, size: int | None = None
) -> FitData:
    """:class:`FitData` for the runs (variables normalised, target on the objective's scale),
    padded to ``size`` rows (default: ``bucket(len(y))``)."""
    n = len(y)
    size = bucket(n) if size is None else size

    def padded(a):
        a = np.asarray(a, dtype=float)
        return np.concatenate([a, np.full(size - n, a[0])])

    logx = {v: padded(a) for v, a in problem.log_variables(x).items()}
    return FitData(logx, padded(np.log(y) if objective.log else y), n)


def random_starts(problem: Problem, x: Mapping[str, np.ndarray], y: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` starting points (normalised internal form, free parameters) spread over plausible values.

    Exponents are drawn from U(0.02, 2.5). A power term's log-amplitude is drawn so that
    the term, at the median of its variable, lies between ``e^-4 * min(y)`` and
    ``e^2 * max(y)``; a constant added at the top level (or in a sum inside a product) has
    its log in ``[log min(y) - 6, log min(y)]``; a constant that multiplies (``b`` in
    ``b * (...)^-c``) is drawn like an amplitude; a constant inside the base of a power of a
    law (``g`` in ``(x^-1 + g)^-c``) is on the scale of its sibling terms, which
    normalised variables make O(1): its log is drawn from U(-6, 6). Draws are clipped inside
    the parameter's bounds (uniform between them when both are finite).
    """
    from scalefit.fitting.problem import constant_places

    law = problem.law
    if hasattr(law.expr, "random_starts"):  # a general expression law draws its starts by position
        return law.expr.random_starts(problem, x, y, n, rng)
    out = np.zeros((n, len(problem.free)))
    ylo = np.log(np.min(y[y > 0])) if np.any(y > 0) else -5.0
    yhi = np.log(np.max(np.abs(y)) + 1e-300)

    def draw(i, low, high, shift=0.0):
        lo, hi = problem.lo[i], problem.hi[i]
        if np.isfinite(lo) and np.isfinite(hi):
            out[:, i] = rng.uniform(lo, hi, n)
        else:
            out[:, i] = np.clip(rng.uniform(low, high, n) + shift, lo, hi)

    roles = [law.specs[name].role for name in problem.free]
    for i, role in enumerate(roles):
        if role == "exponent":
            draw(i, 0.02, 2.5)
    theta = problem.theta_dict(out)  # exponents of every term, fixed and tied ones included
    exponent_of = {p.coefficient: p.exponent for p in law.powers()}
    places = constant_places(law)
    logx = problem.log_variables(x)
    for i, (name, role) in enumerate(zip(problem.free, roles, strict=True)):
        if role == "constant":
            place = places.get(name)
            if place == "factor":
                draw(i, ylo - 4.0, yhi + 2.0)
            elif place == "power":
                draw(i, -6.0, 6.0)
            elif place == "ceiling":  # above every run: the law never reaches its ceiling
                draw(i, yhi + 0.01, yhi + 1.0)
            elif place == "count":
                draw(i, 0.0, np.log(100.0))
            else:
                draw(i, ylo - 6.0, ylo)
        elif role == "location":  # a break inside (or just beyond) the runs' range of its variable
            lv = np.asarray(logx[law.specs[name].variable], dtype=float)
            draw(i, float(np.min(lv)) - 0.5, float(np.max(lv)) + 0.5)
        elif role == "shape":
            draw(i, np.log(0.02), np.log(3.0))
        elif role in ("amplitude", "scale"):
            e = exponent_of[name]
            centre = (theta[e] if isinstance(e, str) else e) * np.median(logx[law.specs[name].variable])
            draw(i, ylo - 4.0, yhi + 2.0, shift=centre)
    return out


def given_starts(problem: Problem, starts: Mapping[str, object] | pd.DataFrame) -> np.ndarray:
    """Internal-form starts from paper-form values of every free parameter.

    A DataFrame gives one start per row; a mapping ``{name: values}`` gives the Cartesian
    product of the values (a grid).
    """
    names = list(starts.columns) if isinstance(starts, pd.DataFrame) else list(starts)
    missing = [n for n in problem.free if n not in names]
    extra = [n for n in names if n not in problem.free]
    if missing or extra:
        raise ScalefitError(
            f"starts= must give values for exactly the free parameters {list(problem.free)}; "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not free (unknown, fixed or tied): {extra}" if extra else "")
        )
    if isinstance(starts, pd.DataFrame):
        combos = starts[list(problem.free)].itertuples(index=False)
    else:
        combos = itertools.product(*(np.atleast_1d(np.asarray(starts[n], dtype=float)) for n in problem.free))
    rows = [problem.free_theta(dict(zip(problem.free, combo, strict=True))) for combo in combos]
    if not rows:
        raise ScalefitError("starts= gives no starting points; give at least one value per free parameter")
    theta = np.array(rows)
    outside = (theta < problem.lo) | (theta > problem.hi)
    if outside.any():
        i, j = (int(k[0]) for k in np.nonzero(outside))
        name = problem.free[j]
        value = problem.paper(theta[i : i + 1])[name][0]
        raise ScalefitError(
            f"starts= value {float(value):g} for {name!r} lies outside its bounds (exponents are >= 0 unless given "
            "other bounds); starts must lie inside the bounds — change the start or pass bounds="
        )
    return theta
