"""Compare Bayesian fits of different laws to the same runs by PSIS-LOO (ArviZ)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.errors import ScalefitError, ScalingWarning, format_rows
from scalefit.results.diagnostics import diagnostics_ok
from scalefit.results.fit import Fit

PARETO_K_LIMIT = 0.7


def compare_laws(fits: Mapping[str, Fit], *, force: bool = False) -> pd.DataFrame:
    """Rank laws by expected log predictive density, estimated by PSIS-LOO.

    LOO is only as good as the posterior draws it is computed from, so every fit must have
    converged (:func:`scalefit.results.diagnostics.diagnostics_ok`, recomputed from the stored numbers:
    at least 2 chains of at least 100 draws, R-hat <= 1.01 and bulk/tail ESS >=
    ``max(400, 100 * chains)`` for every site, no divergent transitions).

    Parameters
    ----------
    fits : dict
        ``{name: fit}`` — Bayesian fits (``method="bayes"``) of different laws (or noise
        models) to the same runs and target.
    force : bool
        Rank fits that did not converge anyway (with a warning) instead of raising.

    Returns
    -------
    DataFrame
        ArviZ's comparison table, best first: ``rank``, ``elpd_loo``, ``p_loo``,
        ``elpd_diff`` (to the best), ``weight``, ``se``, ``dse`` (standard error of the
        difference to the best), ``warning``; plus ``pareto_k_bad``, the number of runs
        whose Pareto k exceeds 0.7 (their LOO estimate is unreliable), and ``converged``,
        whether that fit's sampler diagnostics are all in bounds (always True unless
        ``force=True``). Log densities are of the target itself (not its log), so
        log-normal and normal noise compare fairly.

    Raises
    ------
    ScalefitError
        If a fit did not converge (and ``force`` is False), naming the fit and its problems.

    Warns
    -----
    ScalingWarning
        For each fit with runs whose Pareto k exceeds 0.7, naming the runs; with
        ``force=True``, once, naming every fit that did not converge and its problems.
    """
    import arviz as az

    force = check.boolean(force, "force")
    if not isinstance(fits, Mapping) or len(fits) < 2:
        raise ScalefitError("compare_laws() needs a dict of at least two fits, e.g. {'eq1': fit_a, 'gap': fit_b}")
    for name, fit in fits.items():
        if not isinstance(fit, Fit):
            raise TypeError(f"compare_laws(): {name!r} is a {type(fit).__name__}, not a scalefit Fit")
        if fit.setup.method != "bayes":
            raise ScalefitError(
                f"compare_laws(): fit {name!r} was fitted with method={fit.setup.method!r}; "
                "LOO needs posterior draws — refit it with method='bayes'"
            )
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        fit = fits[name]
        same = fit.target == first.target and np.array_equal(
            np.asarray(fit.runs.data["y"]), np.asarray(first.runs.data["y"])
        )
        if not same:
            raise ScalefitError(
                f"compare_laws(): fits {names[0]!r} and {name!r} were fitted to different runs or targets "
                f"({first.target!r} vs {fit.target!r}); compare laws only on the same runs table"
            )
    converged = {}
    failed = []
    for name, fit in fits.items():
        converged[name], problems = diagnostics_ok(fit.bayes.diagnostics)
        if not converged[name]:
            failed.append(f"fit {name!r} did not converge ({', '.join(problems)})")
    if failed:
        its = "its LOO is" if len(failed) == 1 else "their LOO estimates are"
        if not force:
            raise ScalefitError(
                f"compare_laws(): {'; '.join(failed)}: {its} not reliable; refit with more warmup/draws "
                "(and chains>=2), or pass force=True to compare anyway"
            )
        warnings.warn(
            f"compare_laws(force=True): {'; '.join(failed)}: {its} not reliable — the ranking may be wrong; "
            "see the 'converged' column",
            ScalingWarning,
            stacklevel=2,
        )
    idatas = {name: fit.to_arviz() for name, fit in fits.items()}
    bad = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own Pareto-k warning is replaced by ours, with the runs
        for name, idata in idatas.items():
            k = np.asarray(az.loo(idata, pointwise=True).pareto_k)
            bad[name] = np.flatnonzero(k > PARETO_K_LIMIT)
        table = az.compare(idatas, ic="loo")
    for name, rows in bad.items():
        if len(rows):
            warnings.warn(
                f"law {name!r}: Pareto k > {PARETO_K_LIMIT} for {len(rows)} runs ({format_rows(rows)}): their LOO "
                "estimates are unreliable — those runs are influential; check them, or compare by K-fold "
                "cross-validation",
                ScalingWarning,
                stacklevel=2,
            )
    table["pareto_k_bad"] = [len(bad[name]) for name in table.index]
    table["converged"] = [bool(converged[name]) for name in table.index]
    return table
