"""A crossover checked against the runs: the fitted verdict cell by cell against the observed
means (model-free evidence), and the caveats that qualify the result's probabilities."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalefit.decide.crossover_result import TIE
from scalefit.decide.path import Path
from scalefit.results.fit import Fit

MISFIT_Z = 2.0  # fitted minus observed difference of a cell beyond this many noise units: the laws misfit it


def _noise(fit: Fit) -> float:
    """A fit's rms log-residual (its runs' scatter about the law, misfit included)."""
    m = fit.runs.misfit
    if m is None or not m.get("log", True):
        r = np.asarray(fit.runs.data["y"], dtype=float)
        x = {v: np.asarray(a, dtype=float) for v, a in fit.runs.data["x"].items()}
        with np.errstate(all="ignore"):
            pred = np.asarray(fit.law.evaluate(fit.params, x), dtype=float)
            lr = np.log(pred) - np.log(r)
        lr = lr[np.isfinite(lr)]
        return float(np.sqrt(np.mean(lr**2))) if lr.size else float("nan")
    return float(m["rms"])


def observed_cells(fit_a: Fit, fit_b: Fit, axis: str, at: Mapping[str, float], names) -> pd.DataFrame | None:
    """The fitted verdict against the runs, cell by cell (see :attr:`Crossover.checked`).

    A cell is a configuration of every variable of either law; fit ``a``'s runs are matched
    to fit ``b``'s on the variables both laws use (a variable only one law has, like the
    teacher ``Mt``, belongs to that side's cell). Observed means are compared with the
    laws at the same configuration: model-free evidence for or against the regimes.
    """
    if not fit_a.runs.data or not fit_b.runs.data or not fit_a.runs.data.get("y") or not fit_b.runs.data.get("y"):
        return None
    if isinstance(axis, Path):  # cells are not indexed by a coordinate along a path (yet)
        return None
    shared = [v for v in fit_a.law.variables if v in fit_b.law.variables]
    cells = []
    for fit in (fit_a, fit_b):
        frame = pd.DataFrame({v: np.asarray(a, dtype=float) for v, a in fit.runs.data["x"].items()})
        frame["y"] = np.asarray(fit.runs.data["y"], dtype=float)
        cells.append(frame.groupby(list(fit.law.variables), as_index=False)["y"].agg(["mean", "size"]))
    a, b = cells
    joined = a.merge(b, on=shared, suffixes=("_a", "_b"))
    if joined.empty:
        return None
    xa = {v: joined[v].to_numpy(dtype=float) for v in fit_a.law.variables}
    xb = {v: joined[v].to_numpy(dtype=float) for v in fit_b.law.variables}
    with np.errstate(all="ignore"):
        fitted = np.asarray(fit_a.law.evaluate(fit_a.params, xa), dtype=float) - np.asarray(
            fit_b.law.evaluate(fit_b.params, xb), dtype=float
        )
    observed = joined["mean_a"].to_numpy() - joined["mean_b"].to_numpy()
    sa, sb = _noise(fit_a), _noise(fit_b)
    se = np.sqrt((sa * joined["mean_a"]) ** 2 / joined["size_a"] + (sb * joined["mean_b"]) ** 2 / joined["size_b"])
    na, nb = names

    def winner(d):
        return np.where(d > 0, nb, np.where(d < 0, na, TIE))

    out = joined[list(dict.fromkeys([*fit_a.law.variables, *fit_b.law.variables]))].copy()
    out[f"{na}_runs"], out[f"{na}_observed"] = joined["size_a"].to_numpy(), joined["mean_a"].to_numpy()
    out[f"{nb}_runs"], out[f"{nb}_observed"] = joined["size_b"].to_numpy(), joined["mean_b"].to_numpy()
    out["observed_difference"], out["fitted_difference"] = observed, fitted
    out["observed_winner"], out["fitted_winner"] = winner(observed), winner(fitted)
    out["agree"] = (out["observed_winner"] == out["fitted_winner"]) | (observed == 0)
    slice_ = np.ones(len(out), dtype=bool)
    for v, value in at.items():
        if v in out.columns:
            slice_ &= np.isclose(out[v].to_numpy(dtype=float), value, rtol=1e-9, atol=0.0)
    out["in_slice"] = slice_
    with np.errstate(all="ignore"):
        out["z"] = observed / se.to_numpy()
        out["misfit_z"] = (fitted - observed) / se.to_numpy()
    return out.sort_values([*[v for v in out.columns if v in at], axis]).reset_index(drop=True)


def crossing_caveats(fit_a: Fit, fit_b: Fit, args, conditions, checked, axis: str) -> tuple[str, ...]:
    """Why the result's probabilities should not be read at face value (see :attr:`Crossover.caveats`)."""
    out = []
    failed = [c.name for c in conditions if not c.holds]
    if failed:
        out.append(f"{len(failed)} of the {len(conditions)} conditions of Eq. 6 fail ({'; '.join(failed)})")
    for arg, fit in zip(args, (fit_a, fit_b), strict=True):
        if fit.setup.method != "given" and not fit.status.converged:
            out.append(f"{arg} did not converge")
    if checked is not None:
        here = checked[checked["in_slice"] & ~checked["agree"]]
        if len(here):
            values = ", ".join(f"{v:.4g}" for v in here[axis])
            out.append(
                f"in this slice the runs contradict the fitted winner at {axis} = {values} "
                f"({len(here)} of {int(checked['in_slice'].sum())} cells)"
            )
        off = checked[checked["in_slice"] & (np.abs(checked["misfit_z"]) > MISFIT_Z)]
        if len(off):
            values = ", ".join(f"{v:.4g}" for v in off[axis])
            out.append(
                f"in this slice the laws' difference misses the observed one by more than {MISFIT_Z:g} noise units "
                f"at {axis} = {values}"
            )
    return tuple(out)
