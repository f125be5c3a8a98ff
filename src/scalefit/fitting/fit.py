"""``fit_law``: the one entry point from a runs table to a :class:`~scalefit.Fit`."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping

import jax
import numpy as np
import pandas as pd

from scalefit import progress
from scalefit import validate as check
from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.fitting.lsq import (
    CONVERGED_DISTANCE,
    LANES,
    OBJECTIVES,
    FitData,
    Objective,
    bucket,
    compiled,
    distance_to_optimum,
    fit_data,
    given_starts,
    random_starts,
    run_replicates,
)
from scalefit.fitting.methods import NUTS, LeastSquares, make_method
from scalefit.fitting.problem import Problem
from scalefit.fitting.solver import CONVERGED, Solution
from scalefit.laws.catalogue import as_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Term
from scalefit.results.fit import Fit
from scalefit.results.fits import Fits
from scalefit.results.identify import identifiability, structural_redundancy, with_unresolved
from scalefit.results.intervals import (
    MIN_CONVERGED,
    MIN_REPLICATES,
    at_bounds,
    endpoint_mc_error,
    interval_halfwidth,
    misfit,
    misfit_text,
    profile_bounds,
    released,
    robust_scale,
    term_shares,
    valid_replicates,
)
from scalefit.results.reports import BayesReport, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport
from scalefit.tables.runs import Runs, load_runs, per_run, read_table, require_fit_ready

TOP_STARTS = 10
#: Tables padded beyond this many rows have their starts screened on ``SCREEN_ROWS`` of their
#: rows (drawn with ``SCREEN_SEED``); the best ``FINAL_POLISH`` screen optima (distinct
#: ones first: objectives more than ``SCREEN_RTOL`` apart) are then polished on every row.
SCREEN_ABOVE, SCREEN_ROWS, SCREEN_SEED, FINAL_POLISH, SCREEN_RTOL = 2048, 1024, 0x5CA1E, 4, 1e-4
#: Bootstrap replicates per table per batch, between checks of the endpoints' Monte-Carlo error.
BOOT_BATCH = 250
#: ``starts="auto"``: batch size, polished per batch, most starts, polished starts that must agree.
AUTO_BATCH, AUTO_POLISH, AUTO_MAX, AUTO_AGREE = 64, 16, 1024, 8


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
        :class:`~scalefit.NUTS` for the default priors). The objects hold each method's
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

    Returns
    -------
    Fit

    See Also
    --------
    fit_groups : the same law fitted to every group of a table, in one vectorised pass.

    Examples
    --------
    >>> import scalefit
    >>> runs = scalefit.example_runs()
    >>> quick = scalefit.LeastSquares(starts=200, bootstrap=0)
    >>> fit = scalefit.fit_law(scalefit.paper_error, runs, target="error", method=quick)
    >>> fit.status.converged, round(fit.params["alpha"], 1)
    (True, 0.4)
    """
    law, fitter, obj, seed, fix, tie, bounds, units = _arguments(
        law, target, mapping, method, objective, delta, fix, tie, bounds, seed
    )
    if isinstance(runs, Runs) and runs.law == law and target in (None, runs.target) and mapping is None:
        data = runs
    else:
        if isinstance(runs, Runs) and runs.law is not None:
            target = runs.target if target is None else target
            mapping = runs.mapping if mapping is None else mapping
        data = load_runs(runs, law, target=target, mapping=mapping)
    problem = Problem.build(law, fix, tie, bounds, x=data.x, user_units=units)
    _warn_redundant(law, problem)
    table = _prepare(data, problem, fitter, obj, weights, np.random.default_rng(seed))
    fit = _fit_tables([table], fitter, obj, seed)[0]
    for note in fit.notes:
        warnings.warn(note, ScalingWarning, stacklevel=2)
    return fit


def fit_groups(
    law: Law | Term,
    runs: pd.DataFrame | str | os.PathLike | Runs,
    by: str | list[str],
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
) -> Fits:
    """Fit one law to every group of runs sharing the values of the ``by`` column(s).

    Each group gets its own parameters, all in one vectorised pass: every group's starts,
    and all their bootstrap replicates, are solved together. Every group is checked before
    any is fitted; an error names the group.

    Parameters
    ----------
    law, runs, target, mapping, method, objective, delta, fix, tie, bounds, weights, seed
        As for :func:`fit_law`.
    by : str or list of str
        The grouping column(s), e.g. ``"Task"``.

    Returns
    -------
    Fits
        A read-only mapping from group to :class:`Fit` whose ``summary()`` is one tidy table.
    """
    law, fitter, obj, seed, fix, tie, bounds, units = _arguments(
        law, target, mapping, method, objective, delta, fix, tie, bounds, seed
    )
    return _fit_groups(law, runs, by, target, mapping, fitter, obj, fix, tie, bounds, weights, seed, units)


def _arguments(law, target, mapping, method, objective, delta, fix, tie, bounds, seed):
    """The arguments :func:`fit_law` and :func:`fit_groups` share, checked before any work."""
    law = as_law(law)
    fitter = make_method(method)
    obj = _objective(objective, delta)
    seed = check.integer(seed, "seed", 0, 2**32 - 1)
    fix, tie, bounds = _constraints(law, fix, tie, bounds)
    if isinstance(fitter, NUTS) and bounds:
        raise ScalefitError("bounds= apply to least squares; with NUTS express them as priors= (e.g. a Uniform)")
    if isinstance(fitter, NUTS):
        from scalefit.fitting.bayes import check_site_names  # NumPyro loads only for a Bayesian fit

        check_site_names(law)
    if target is not None:
        check.text(target, "target")
    if mapping is not None:
        check.names(mapping, "mapping", law.variables, what="law variable", example="{'Dp': 'pretrain_images'}")
        check.each(mapping, "mapping", check.text)
    units = _user_priors(fitter)
    return law, fitter, obj, seed, fix, tie, bounds, units


def _prepare(data: Runs, problem: Problem, fitter, obj: Objective, weights, rng) -> _Table:
    """Checks that need the validated table, before any work; the table to fit."""
    require_fit_ready(data, len(problem.free), obj.log or (isinstance(fitter, NUTS) and fitter.noise != "normal"))
    w = per_run(data, weights, "weights")
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    _check_memory(lsq, len(data), len(problem.free))
    noise_scale = per_run(data, fitter.noise_scale, "noise_scale") if isinstance(fitter, NUTS) else None
    return _Table(data, problem, np.ones(len(data)) if w is None else w, rng, weights=w, noise_scale=noise_scale)


def _fit_tables(tables: list[_Table], fitter, obj: Objective, seed: int) -> list[Fit]:
    """Least squares for every table in one vectorised pass; NUTS (from those optima) table by table."""
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    bootstrap = lsq.bootstrap if isinstance(fitter, LeastSquares) else 0
    with progress.enabled(lsq.progress):
        fits = _least_squares(tables, obj, lsq.starts, bootstrap, seed, lsq.search(), lsq.throw, lsq.bootstrap_rtol)
    if isinstance(fitter, LeastSquares):
        return fits
    run = dict(
        chains=fitter.chains, draws=fitter.draws, warmup=fitter.warmup, max_draws=fitter.max_draws,
        progress=fitter.progress,
    )
    return [
        _bayesian(init, t.data, t.problem, t.weights, seed, noise=fitter.noise, priors=fitter.priors,
                  noise_scale=t.noise_scale, **run)
        for init, t in zip(fits, tables, strict=True)
    ]  # fmt: skip


def _fit_groups(law, runs, by, target, mapping, fitter, obj, fix, tie, bounds, weights, seed, units) -> Fits:
    """``fit_groups``: every group of the runs table, each checked before any is fitted."""
    frame, source = read_table(runs)
    if isinstance(runs, Runs) and runs.law is not None:
        target = runs.target if target is None else target
        mapping = runs.mapping if mapping is None else mapping
    columns = [by] if isinstance(by, str) else list(by) if isinstance(by, list | tuple) else None
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise TypeError(f"by must be a column name or a list of column names, got {by!r}")
    if len(set(columns)) != len(columns):
        raise ScalefitError(f"by={by!r} names a column twice; give each column once")
    for c in columns:
        if c not in frame.columns:
            raise ScalefitError(
                f"by={c!r} is not a column of the runs table{check.suggest(c, map(str, frame.columns))}; "
                f"columns: {list(frame.columns)}"
            )
        missing = frame[c].isna().to_numpy()
        if missing.any():
            raise ScalefitError(
                f"by column {c!r} has missing values in {format_rows(frame.index[missing])}; every run needs "
                "a group — fill them in or drop those rows"
            )
    variable_of = {(mapping or {}).get(v, v): v for v in law.variables}
    for c in columns:
        if c in variable_of:
            v = variable_of[c]
            raise ScalefitError(
                f"by={c!r} is the column of law variable {v!r}: within each group {v} would have one value, so no "
                f"group could determine how the law depends on {v}; group by a column the law does not use (a task, "
                "a lab, a stage), or fit without by="
            )
        if c == target:
            raise ScalefitError(f"by={c!r} is the target column; group by a column the law does not use")
    if weights is not None and not isinstance(weights, str):
        raise TypeError("with by=, give weights as a column name (each group takes its own rows)")
    if isinstance(fitter, NUTS) and fitter.noise_scale is not None and not isinstance(fitter.noise_scale, str):
        raise TypeError("with by=, give noise_scale as a column name (each group takes its own rows)")
    tables, keys = [], []
    for key, part in frame.groupby(columns, sort=True):
        key = key if len(columns) > 1 else key[0] if isinstance(key, tuple) else key
        label = ", ".join(f"{c}={k!r}" for c, k in zip(columns, key if len(columns) > 1 else (key,), strict=True))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalingWarning)  # reported once, for all groups, below
                data = load_runs(Runs(part, source=f"group {label} of {source}"), law, target=target, mapping=mapping)
            problem = Problem.build(law, fix, tie, bounds, x=data.x, user_units=units)
            tables.append(_prepare(data, problem, fitter, obj, weights, np.random.default_rng(seed)))  # as if alone
        except ScalefitError as exc:
            raise ScalefitError(f"group {label} ({len(part)} runs): {exc}") from None
        keys.append(key)
    if not tables:
        raise ScalefitError("the runs table has no rows, so by= makes no groups")
    _warn_redundant(law, tables[0].problem)
    fits = Fits(dict(zip(keys, _fit_tables(tables, fitter, obj, seed), strict=True)), by=tuple(columns))
    noted = {k: f.notes for k, f in fits.items() if f.notes}
    if noted:
        first = next(iter(noted))
        warnings.warn(
            f"{len(noted)} of {len(fits)} groups have notes (e.g. {first!r}: {noted[first][0]}); "
            "see fits.notes for all of them",
            ScalingWarning,
            stacklevel=3,
        )
    return fits


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


@dataclasses.dataclass
class _Table:
    """One table being fitted by least squares: the whole runs table, or one group of ``by=``."""

    data: Runs
    problem: Problem
    case_w: np.ndarray
    rng: np.random.Generator
    weights: np.ndarray | None = None  # the user's weights (None: none given)
    noise_scale: np.ndarray | None = None
    fd: FitData | None = None


def _least_squares(tables: list[_Table], obj, starts, bootstrap, seed, search, throw, rtol=0.0) -> list[Fit]:
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
        explore, advance, jacobian, residual_fn, profile_fn, finish, linearised = compiled(
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
        logx = {v: np.stack([fd.logx[v] for fd in fds]) for v in fds[0].logx}
        target = np.stack([fd.target for fd in fds])

        def run(u0s, rows=None, polish=search["polish"]):
            """Starts (tables, starts, parameters) of the tables ``rows`` (default: all): every
            start explored, the best ``polish`` of each table polished to convergence (in
            rounds, as bootstrap replicates); one Solution per table. The tables are padded to
            a power-of-two count, so a few compiled sizes serve any number of them."""
            rows = np.arange(len(tables)) if rows is None else np.asarray(rows)
            if len(tables) > 1 and len(rows) < len(tables) and LATER_TABLES < len(rows) <= LATER_TABLES**2:
                # a later batch of a by= search: a few groups still searching, in calls of
                # LATER_TABLES groups, so that every number of groups reuses one compiled size
                parts = [run(u0s[i : i + LATER_TABLES], rows[i : i + LATER_TABLES], polish)
                         for i in range(0, len(rows), LATER_TABLES)]  # fmt: skip
                return [s for part in parts for s in part]
            count = _count_bucket(len(rows)) if len(rows) == len(tables) else _later_bucket(len(rows), len(tables))
            pad = np.concatenate([np.arange(len(rows)), np.zeros(count - len(rows), dtype=int)])
            ex = explore(u0s[pad], {v: a[rows[pad]] for v, a in logx.items()}, target[rows[pad]], ws[rows[pad]],
                         steps=search["explore_steps"])  # fmt: skip
            ex = jax.tree.map(lambda a: np.asarray(a)[: len(rows)], ex)
            k = min(polish, u0s.shape[1])
            best = np.argsort(np.where(np.isfinite(ex.f), ex.f, np.inf), axis=1, kind="stable")[:, :k]
            owner = np.repeat(np.arange(len(rows)), k)
            sol = run_replicates(
                advance, ex.u[owner, best.ravel()], owner, [fds[r] for r in rows], ws[rows[owner]], max_steps,
                shared=len(tables) == 1,
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
        found = [
            _optimum(t, sol, n, obj, lin, profile_fn, max_steps)
            for t, sol, n, lin in zip(tables, sols, made, at_starts, strict=True)
        ]
        bar.label = f"{what}: bootstrap"
        boots = (
            _bootstrap(finish, tables, found, bootstrap, max_steps, rtol)
            if bootstrap
            else [(None, None, 0)] * len(tables)
        )
    return [_assemble(t, o, d, obj, bootstrap, seed, throw) for t, o, d in zip(tables, found, boots, strict=True)]


def _screen(t: _Table, obj: Objective) -> tuple[FitData, np.ndarray]:
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


def _final_polish(advance, tables: list[_Table], sols: list[Solution], w: np.ndarray, max_steps: int) -> list[Solution]:
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


def _at_starts(linearised, tables: list[_Table], sols: list[Solution]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Residuals and Jacobians (every row) at every polished start of every table, in one
    compiled call: tables padded to a power-of-two count and starts to the most any table
    has, so the call's cost barely grows with the number of groups (one call per start
    cost a dispatch each: seconds for a thousand groups)."""
    k = max(len(s.f) for s in sols)
    count = _count_bucket(len(tables))
    pick = np.concatenate([np.arange(len(tables)), np.zeros(count - len(tables), dtype=int)])
    thetas = []
    for t, sol in zip(tables, sols, strict=True):
        th = t.problem.theta_from_u(np.asarray(sol.u, dtype=float))
        thetas.append(np.concatenate([th, np.repeat(th[:1], k - len(th), axis=0)]))
    thetas = np.stack(thetas)[pick]
    logx = {v: np.stack([t.fd.logx[v] for t in tables])[pick] for v in tables[0].fd.logx}
    target = np.stack([t.fd.target for t in tables])[pick]
    R, J = (np.asarray(a) for a in linearised(thetas, logx, target))
    return [
        (R[g, : len(s.f), : len(t.data)], J[g, : len(s.f), : len(t.data)])
        for g, (t, s) in enumerate(zip(tables, sols, strict=True))
    ]


def _optimum(t: _Table, sol: Solution, n_starts: int, obj, lin, profile_fn, max_steps) -> dict:
    """The best start of one table and everything computed at it."""
    problem, data, law = t.problem, t.data, t.problem.law
    n = len(data)
    logx, tgt = t.fd.logx, t.fd.target
    f = np.where(np.isfinite(sol.f), sol.f, np.inf)
    if not np.isfinite(f).any():
        raise ScalefitError(
            f"{_label(t)}the objective is not finite at any starting point; check that the target and "
            "variables are on the scale the law expects, or pass starts= explicitly"
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
    # residuals at rounding level (data drawn exactly from the law) are not noise: floor the scale at 1e-8
    floor = 1e-8 * (1.0 if obj.log else max(float(np.median(np.abs(data.y))), 1e-300))
    c = min(robust_scale(residuals, obj), 1.0 / floor**2)
    distances = _start_distances(t, sol, f, obj, lin, c)
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


def _start_distances(t: _Table, sol: Solution, f: np.ndarray, obj, lin, c: float) -> np.ndarray:
    """Distance of every polished start from its optimum, in standard errors
    (:func:`~scalefit.fitting.lsq.distance_to_optimum`), parameters at a bound at that start left
    out; ``inf`` where the objective is not finite. One rule for every start and path."""
    problem, n = t.problem, len(t.data)
    tgt = t.fd.target
    out = np.full(len(f), np.inf)
    thetas = problem.theta_from_u(np.asarray(sol.u, dtype=float))  # every start at once
    for i in np.flatnonzero(np.isfinite(f)):
        theta = thetas[i]
        J, r = lin[1][i], lin[0][i]
        pred = np.exp(r + tgt[:n]) if obj.log else r + tgt[:n]
        skip = at_bounds(problem, theta, term_shares(J, obj.log, pred))
        keep = [j for j, name in enumerate(problem.free) if name not in skip]
        out[i] = distance_to_optimum(J[:, keep], r, t.case_w, obj, c)
    return out


def _label(t: _Table) -> str:
    return f"{t.data.source}: " if t.data.source.startswith("group ") else ""


def _assemble(t: _Table, o: dict, boot, obj, bootstrap: int, seed: int, throw: bool) -> Fit:
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
    notes.extend(_bootstrap_notes(bootstrap, draws, boot_conv))
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
        bootstrap=BootstrapReport(bootstrap or None, boot_conv),
        notes=tuple(notes),
    )
    return fit.identify()  # the one verdict: curvature, starts and the intervals of the replicates


def _count_bucket(n: int) -> int:
    """Tables in one compiled call: the next power of two."""
    return 1 << (int(n) - 1).bit_length()


#: Groups per call in a later batch of a ``by=`` search (see ``run`` in :func:`_least_squares`).
LATER_TABLES = 8


def _later_bucket(n: int, total: int) -> int:
    """Tables in a later batch of starts (the groups still searching): the next power of 8, at
    least 8 and at most the first batch's count — a few compiled sizes whatever the number of
    groups (powers of two compiled up to ten more programs on the way from 1,024 groups down to 1)."""
    return min(max(8, 1 << (3 * -(-(int(n) - 1).bit_length() // 3))), _count_bucket(total))


def _adaptive_starts(run, tables: list[_Table]) -> tuple[list[Solution], list[int]]:
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


def _bootstrap(finish, tables: list[_Table], found: list[dict], bootstrap: int, max_steps: int, rtol: float) -> list:
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
    (``rtol=0``: always). The replicates made are the first ones of the full run.
    """
    plans = []  # per table: the bootstrap counts, the starts every replicate is refitted from
    for t, o in zip(tables, found, strict=True):
        n = len(t.data)
        counts = t.fd.pad(t.rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(float) * t.case_w)
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
                done = made[g] >= bootstrap or _replicates_settled(
                    _replicate_draws(tables[g], parts[g])[0], tables[g].problem, found[g]["bounds"], rtol
                )
                running[g] = not done
            bar.set(int(sum(made[g] if running[g] else bootstrap for g in range(len(tables)))))
    return [(*_replicate_draws(t, parts[g]), int(made[g])) for g, t in enumerate(tables)]


def _replicate_draws(t: _Table, parts: list[list[Solution]]) -> tuple[pd.DataFrame, float]:
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
    from scalefit.fitting.bayes import REPARAMETERISED, default_priors, describe, noise_sites, resolve_priors, sample
    from scalefit.results.diagnostics import diagnostic_notes, diagnostics

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
        if isinstance(resolved[name], REPARAMETERISED):
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
    # notes of the sampling and of the law's fit to the runs; the least-squares start's own
    # status (convergence, starts, profile bounds) is not the Bayesian fit's
    median = {n: float(np.median(frame[n])) for n in law.parameters}
    with np.errstate(all="ignore"):
        pred = np.asarray(law.evaluate(median, data.x), dtype=float)
        r = pred - data.y if noise == "normal" else np.log(pred) - np.log(data.y)
    fit_misfit = misfit(r, data.x, noise != "normal")  # of the posterior median, not of the start
    width = interval_halfwidth(law, frame, data.x, noise != "normal")
    notes = list(diagnostic_notes(diag)) + misfit_text(fit_misfit, width)[1:]
    ident = init.identifiability
    if ident.flat or any("does not affect" in m for m in ident.messages):
        notes.append(
            "some parameters are not identified by these runs — their posterior is their prior: "
            + "; ".join(ident.messages)
        )
    return dataclasses.replace(
        init,
        setup=dataclasses.replace(init.setup, method="bayes"),
        params=median,
        runs=dataclasses.replace(
            init.runs,
            misfit=fit_misfit,
            data={
                "x": {v: a.tolist() for v, a in data.x.items()},
                "y": data.y.tolist(),
                "noise_scale": None if noise_scale is None else noise_scale.tolist(),
            },
        ),
        draws=frame,
        bootstrap=BootstrapReport(),
        bayes=BayesReport(noise, run["chains"], diag, {n: describe(d) for n, d in resolved.items()}),
        notes=tuple(notes),
    ).identify()  # the one verdict, with the posterior's intervals


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
