"""The text display of a fit: what ``repr(fit)`` and ``print(fit)`` show.

One line per part of the fit (law and formula, method and objective, parameters with their
intervals, residuals, convergence or sampling, bootstrap, identifiability) followed by the
notes not already said. :meth:`scalefit.Fit.__repr__` calls :func:`fit_text`.
"""

from __future__ import annotations

import numpy as np

from scalefit.results.diagnostics import diagnostics_ok, stored_number
from scalefit.results.reports import MIN_CLUSTERS

#: Replicates in each tail of a 95% percentile interval below which its endpoints are noise that
#: more replicates settle (25: the default 1,000 replicates).
TAIL_REPLICATES = 25


def _worst(values, pick) -> float:
    """``max``/``min`` of diagnostics, NaN if any is NaN (a NaN R-hat is a failure, not skipped)."""
    values = [stored_number(v) for v in values]
    return float("nan") if any(np.isnan(values)) else pick(values)


def fit_text(fit) -> str:
    """The text of ``repr(fit)`` for a :class:`~scalefit.Fit`: the law, how it was fitted, its
    parameters with their intervals, residuals, convergence, identifiability and notes."""
    if fit.setup.method == "given":
        params = ", ".join(f"{n}={v:.6g}" for n, v in fit.params.items())
        draws = "" if fit.draws is None else f"; {len(fit.draws)} draws"
        return f"Fit of law {fit.law.name!r} with given parameters (not fitted to runs{draws}): {params}"
    bayes = fit.setup.method == "bayes"
    how = (
        f"method bayes (NUTS), noise {fit.bayes.noise}"
        if bayes
        else f"method {fit.setup.method}, objective {fit.setup.objective} = {fit.value:.6g}"
    )
    lines = [
        f"Fit of law {fit.law.name!r}: {fit.target} = {fit.law.formula()}",
        f"  {how}, {fit.runs.n_runs} runs from {fit.setup.source}",
    ]
    table = fit.summary() if fit.draws is not None else None
    label = "posterior median, 95% credible" if fit.setup.method == "bayes" else "best fit, 95% bootstrap"
    if table is not None:
        lines.append(f"  parameters ({label}):")
    names = list(fit.sites) if table is None else list(table.index)
    for name in names:
        value = table.loc[name, "estimate"] if table is not None else fit.params[name]
        text = f"    {name:>16} = {value:.6g}"
        how = "free" if table is None else table.loc[name, "how"]
        if table is not None and how not in ("not identified", "fixed"):
            text += f"   [{table.loc[name, 'lower']:.4g}, {table.loc[name, 'upper']:.4g}]"
        if how != "free":
            text += f"   ({how})"
        lines.append(text)
    if fit.runs.misfit is not None:
        from scalefit.results.intervals import misfit_text

        flags = fit.lack_of_fit
        head = misfit_text(fit.runs.misfit)[0]
        lines.append(
            f"  residuals: {head}; "
            + (f"LACK OF FIT along {', '.join(flags)} (see note)" if flags else "no lack of fit by level")
        )
    if not bayes:  # a Bayesian fit reports its sampling, not the least-squares start it began from
        lines.append(f"  status: {fit.status.message}")
        lines.append(f"  starts: {fit.starts}")
    if bayes:
        d = fit.bayes.diagnostics
        lines.append(
            f"  NUTS: {d['chains']} chains x {d['draws_per_chain']} draws, noise {fit.bayes.noise}; "
            f"max R-hat {_worst(d['r_hat'].values(), max):.3f}, "
            f"min bulk ESS {_worst(d['ess_bulk'].values(), min):.0f}, "
            f"{d['divergences']} divergences (chains initialised at the least-squares optimum)"
        )
        ok, problems = diagnostics_ok(d)
        lines.append("  sampling: converged" if ok else f"  sampling: NOT converged — {'; '.join(problems)}")
    elif fit.draws is not None:
        asked = fit.bootstrap.requested or len(fit.draws)
        lsq = fit.setup.method == "lsq" and len(fit.draws) > 1
        errors = fit.bootstrap_error()["relative"] if lsq else None
        rel = errors.to_numpy(dtype=float) if errors is not None else np.array([])
        mc = ""
        coarse = fit.bootstrap.clusters is not None and (fit.bootstrap.cluster_count or 0) < MIN_CLUSTERS
        if coarse:
            mc = f"; Monte-Carlo error not given: {fit.bootstrap.cluster_count} clusters give few distinct resamples"
        elif np.isfinite(rel).any():
            worst = float(np.max(rel[np.isfinite(rel)]))
            if worst <= 1.0:
                mc = f"; 95% endpoints within {worst:.1%} of their width (Monte-Carlo s.e.)"
            else:  # a percent of a width would read as a number; say why the endpoint is not settled
                name = str(errors.index[int(np.nanargmax(rel))])
                kept = len(fit.draws)
                values = fit.draws[name].to_numpy(dtype=float)
                lo, hi = np.nanquantile(values, [0.025, 0.975])
                with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                    decades = np.log10(hi / lo) if lo > 0 else np.nan  # a spread in decades (inf: diverged)
                if 0.025 * kept < TAIL_REPLICATES:  # few replicates in a tail: more of them do settle it
                    why = (
                        f"{kept} replicates leave {0.025 * kept:.3g} in each 2.5% tail; rerun with "
                        f"bootstrap={max(1000, 40 * TAIL_REPLICATES)} or more"
                    )
                elif decades > 2:  # NaN (a parameter that reaches 0 or below): not judged in decades
                    why = (
                        "its replicates spread over orders of magnitude: more replicates will not pin it; "
                        "see identifiability"
                    )
                else:
                    why = "rerun with more replicates"
                mc = (
                    f"; 95% endpoints NOT settled: the Monte-Carlo s.e. of {name}'s exceeds its interval's whole "
                    f"width ({why})"
                )
        b = fit.bootstrap
        how = (
            "case-resampling"
            if b.clusters is None
            else f"cluster-resampling (the {b.cluster_count} values of {b.clusters} drawn whole)"
        )
        lines.append(
            f"  bootstrap: {asked} {how} replicates, {fit.bootstrap.converged:.0%} converged "
            f"({len(fit.draws)} kept){mc}"
        )
    lines.append(f"  identifiability: {fit.identifiability}")
    shown = "\n".join(lines)
    said = [] if bayes else [fit.status.message]
    lines.extend(f"  note: {n}" for n in fit.notes if n not in shown and not any(t in n for t in said))
    return "\n".join(lines)
