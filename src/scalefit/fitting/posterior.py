"""The NUTS :class:`~scalefit.Fit`: NumPyro's posterior sampled from the least-squares optimum.

NumPyro (through :mod:`scalefit.fitting.bayes`) and the sampler's diagnostics are imported
inside :func:`bayesian_fit`, so a least-squares fit never loads them.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError
from scalefit.fitting.problem import Problem
from scalefit.results.fit import Fit
from scalefit.results.intervals import interval_halfwidth, misfit, misfit_text
from scalefit.results.reports import BayesReport, BootstrapReport
from scalefit.tables.runs import Runs


def bayesian_fit(
    init: Fit, data: Runs, problem: Problem, weights, seed: int, *, noise, priors, noise_scale, **run
) -> Fit:
    """The NUTS fit of one table, sampled from its least-squares fit ``init`` (whose other reports it keeps)."""
    from scalefit.fitting.bayes import CentredAmplitude, default_priors, describe, noise_sites, resolve_priors, sample
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
