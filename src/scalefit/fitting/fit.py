"""``fit_law`` and ``fit_groups``: the entry points from a runs table to a :class:`~scalefit.Fit`.

Every argument is checked here, before any work; the least-squares search is
:mod:`scalefit.fitting.multistart`'s and the NUTS fit from its optimum :mod:`scalefit.fitting.posterior`'s.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from numbers import Number

import numpy as np
import pandas as pd

from scalefit import progress
from scalefit import validate as check
from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.fitting import memory
from scalefit.fitting.lsq_fit import Clusters, Table
from scalefit.fitting.methods import NUTS, LeastSquares, make_method
from scalefit.fitting.multistart import least_squares
from scalefit.fitting.objective import OBJECTIVES, Objective
from scalefit.fitting.posterior import bayesian_fit
from scalefit.fitting.problem import Problem
from scalefit.laws.catalogue import as_law
from scalefit.laws.law import Law
from scalefit.laws.terms import Term
from scalefit.results.fit import Fit
from scalefit.results.fits import Fits
from scalefit.results.identify import structural_redundancy
from scalefit.tables.runs import Runs, check_group_labels, load_runs, per_run, read_table, require_fit_ready


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
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    if isinstance(fitter, NUTS) and lsq.clusters is not None:
        raise ScalefitError(
            f"NUTS(init=LeastSquares(clusters={lsq.clusters!r})): clusters= sets how the least-squares bootstrap "
            "resamples, and NUTS takes only the optimum from its init (no bootstrap); drop clusters= from init"
        )
    mapped = {c: v for v, c in (mapping or {}).items() if isinstance(c, str)}
    if lsq.clusters is not None and lsq.clusters not in law.variables and lsq.clusters in mapped:
        raise ScalefitError(
            f"clusters={lsq.clusters!r} is the column mapped to law variable {mapped[lsq.clusters]!r}; clusters= "
            f"takes the law variable: clusters={mapped[lsq.clusters]!r}"
        )
    if lsq.clusters is not None and lsq.clusters not in law.variables:
        near = check.suggest(lsq.clusters, law.variables)
        raise ScalefitError(
            f"clusters={lsq.clusters!r} is not a variable of law {law.name!r}{near}; "
            f"name the law variable whose values the bootstrap resamples whole, one of {list(law.variables)} "
            "(e.g. the model size N when the runs are checkpoints of a few models)"
        )
    units = _user_priors(fitter)
    return law, fitter, obj, seed, fix, tie, bounds, units


def _prepare(data: Runs, problem: Problem, fitter, obj: Objective, weights, rng) -> Table:
    """Checks that need the validated table, before any work; the table to fit."""
    log_noise = isinstance(fitter, NUTS) and fitter.noise != "normal"
    require_fit_ready(data, len(problem.free), obj.log or log_noise, "objective" if obj.log else "noise")
    w = per_run(data, weights, "weights")
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    _check_memory(lsq, len(data), len(problem.free))
    noise_scale = per_run(data, fitter.noise_scale, "noise_scale") if isinstance(fitter, NUTS) else None
    clusters = None
    if lsq.clusters is not None and isinstance(fitter, LeastSquares) and fitter.bootstrap:
        values, index = np.unique(np.asarray(data.x[lsq.clusters], dtype=float), return_inverse=True)
        clusters = Clusters(lsq.clusters, index.ravel(), len(values))
        if len(values) < 3:
            raise ScalefitError(
                f"clusters={lsq.clusters!r}: the runs hold {lsq.clusters} at {len(values)} value(s) "
                f"({', '.join(f'{v:g}' for v in values)}); resampling so few whole gives at most 3 distinct tables, "
                f"half of them with {lsq.clusters} at one value — no interval; drop clusters= or fit runs at 3 or "
                "more values"
            )
    return Table(
        data, problem, np.ones(len(data)) if w is None else w, rng, weights=w, noise_scale=noise_scale,
        clusters=clusters,
    )  # fmt: skip


def _fit_tables(tables: list[Table], fitter, obj: Objective, seed: int) -> list[Fit]:
    """Least squares for every table in one vectorised pass; NUTS (from those optima) table by table."""
    memory.release_when_crowded()  # before compiling more: a long session stays within the OS's map limit
    lsq = fitter if isinstance(fitter, LeastSquares) else fitter.init
    bootstrap = lsq.bootstrap if isinstance(fitter, LeastSquares) else 0
    with progress.enabled(lsq.progress):
        fits = least_squares(tables, obj, lsq.starts, bootstrap, seed, lsq.search(), lsq.throw, lsq.bootstrap_rtol)
    if isinstance(fitter, LeastSquares):
        return fits
    run = dict(
        chains=fitter.chains, draws=fitter.draws, warmup=fitter.warmup, max_draws=fitter.max_draws,
        progress=fitter.progress,
    )
    return [
        bayesian_fit(init, t.data, t.problem, t.weights, seed, noise=fitter.noise, priors=fitter.priors,
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
    check_group_labels(runs, [c for c in columns if c in frame.columns], frame)  # before pandas' reading is trusted
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
        kinds = {"text" if isinstance(v, str) else "number" if isinstance(v, Number) else type(v).__name__
                 for v in frame[c].tolist()}  # fmt: skip
        if len(kinds) > 1:
            raise ScalefitError(
                f"by column {c!r} mixes {' and '.join(sorted(kinds))} values, so 1 and '1' would be two groups that "
                "print alike; make the column one type (e.g. frame[column].astype(str))"
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
        if c in law.parameters:
            raise ScalefitError(
                f"by={c!r} is also the name of a parameter of law {law.name!r}: the fits' table would hold the group "
                "and the fitted value in one column; rename the column (or the parameter, in a formula)"
            )
    if weights is not None and not isinstance(weights, str):
        raise TypeError("with by=, give weights as a column name (each group takes its own rows)")
    if isinstance(fitter, NUTS) and fitter.noise_scale is not None and not isinstance(fitter.noise_scale, str):
        raise TypeError("with by=, give noise_scale as a column name (each group takes its own rows)")
    tables, keys, loaded, passed = [], [], [], set()
    for key, part in frame.groupby(columns, sort=True):
        key = key if len(columns) > 1 else key[0] if isinstance(key, tuple) else key
        label = ", ".join(f"{c}={k!r}" for c, k in zip(columns, key if len(columns) > 1 else (key,), strict=True))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                data = load_runs(Runs(part, source=f"group {label} of {source}"), law, target=target, mapping=mapping)
            # a group's warnings about its runs become notes of its fit, reported with the others below
            loaded.append(tuple(str(w.message) for w in caught if issubclass(w.category, ScalingWarning)))
            for w in caught:  # others as they came, once each per call
                if not issubclass(w.category, ScalingWarning) and (w.category, str(w.message)) not in passed:
                    passed.add((w.category, str(w.message)))
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            problem = Problem.build(law, fix, tie, bounds, x=data.x, user_units=units)
            tables.append(_prepare(data, problem, fitter, obj, weights, np.random.default_rng(seed)))  # as if alone
        except ScalefitError as exc:
            raise ScalefitError(f"group {label} ({len(part)} runs): {exc}") from None
        keys.append(key)
    if not tables:
        raise ScalefitError("the runs table has no rows, so by= makes no groups")
    _warn_redundant(law, tables[0].problem)
    fitted = [
        dataclasses.replace(f, notes=(*notes, *f.notes)) if notes else f
        for f, notes in zip(_fit_tables(tables, fitter, obj, seed), loaded, strict=True)
    ]
    fits = Fits(dict(zip(keys, fitted, strict=True)), by=tuple(columns))
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
